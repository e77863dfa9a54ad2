#!/usr/bin/env bash
# Register count, code size and workgroup memory of grilly's GEMM variants as the device's driver compiles
# them (on the GPU machine: source .device/enter.sh first; carry bench/vkstats/out with vkstats and a
# spirv-as built for that machine's glibc). Usage: bash bench/vkstats/gemm-registers.sh OUTDIR
set -u
out=${1:?usage: gemm-registers.sh OUTDIR}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out/spv"
tsx "$here/dump-gemm.ts" > "$out/dump.log" 2> "$out/dump.err"
SPIRV_AS=${SPIRV_AS:-$here/out/spirv-as} python3 "$here/spv-from-dump.py" "$out/dump.log" "$out/spv" > "$out/spv.txt" 2>&1
# the shaders each variant created: the GEMM ones declare workgroup tiles (`var<workgroup> As`)
python3 - "$out" "$here/out/vkstats" <<'PY'
import re, subprocess, sys
out, tool = sys.argv[1], sys.argv[2]
log = open(f"{out}/dump.log").read().split("\n")
names, count = [], -1
for line in log:
    if line.startswith("/* Dumped SPIRV disassembly */"):
        count += 1
    m = re.match(r"// VARIANT (.*)", line)
    if m:
        names.append((count, m.group(1)))
hints = dict(re.findall(r"^\[(\d+)\].*\n\s+wgsl: (.*)$", open(f"{out}/spv.txt").read(), re.M))
last = -1
for upto, name in names:
    for i in range(last + 1, upto + 1):
        if "var<workgroup> As" not in hints.get(str(i), ""):
            continue
        r = subprocess.run([tool, "--bindings", "auto", f"{out}/spv/shader-{i}.spv"], capture_output=True, text=True)
        stats = dict(re.findall(r"^\s+(Register Count|Binary Size|Shared Memory Size) = (\d+)", r.stdout, re.M))
        print(f"{name:<48} registers {stats.get('Register Count', '?'):>4}  code {stats.get('Binary Size', '?'):>6} B  workgroup memory {stats.get('Shared Memory Size', '?'):>6} B" + ("" if stats else "  (" + (r.stderr.strip().splitlines() or ["no output"])[-1] + ")"))
    last = upto
PY
