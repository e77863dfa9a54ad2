#!/usr/bin/env python3
"""Extract SPIR-V from a Dawn `dump_shaders` log.

Dawn (toggle dump_shaders) logs, per shader module, an `info:` line followed by
`// Dumped WGSL:` and the WGSL source, then another `info:` line followed by
`/* Dumped SPIRV disassembly */` and the SPIR-V assembly. A block runs until the
next `info:` line (or a line that is not SPIR-V assembly, or end of file).

Writes OUTDIR/shader-<n>.spvasm for each SPIR-V block and, if spirv-as is on
PATH, assembles it to OUTDIR/shader-<n>.spv. For each block prints its index,
the OpEntryPoint name, set-0 bindings (u=uniform, s=storage; ready for
`vkstats --bindings`) and a WGSL hint line (first `var<workgroup>` declaration,
else first comment, else `@compute` line) from the WGSL dumped before it.

usage: spv-from-dump.py LOGFILE [OUTDIR]   (OUTDIR defaults to ./spv-dump)
       SPIRV_AS=/path/to/spirv-as overrides the assembler found on PATH.
"""
import os
import re
import shutil
import subprocess
import sys

WGSL_MARK = "// Dumped WGSL:"
SPV_MARK = "/* Dumped SPIRV disassembly */"
# lines that may appear inside SPIR-V assembly text: blank, comment, instruction
ASM_LINE = re.compile(r"^\s*($|;|%[\w.\-]+\s*=|Op[A-Z]\w*)")
# Enumerants newer than old SPIRV-Tools (e.g. Debian bookworm's 2023.1) know.
# If assembling fails, these names are replaced by raw words (`!N`), which any
# spirv-as emits verbatim. (Cooperative-matrix *opcodes* cannot be patched this
# way; use a newer spirv-as via $SPIRV_AS for such shaders.)
NEW_ENUMS = [
    (re.compile(r"^(\s*OpExecutionMode\s+%\S+\s+)MaximallyReconvergesKHR\b"), r"\g<1>!6023"),
    (re.compile(r"^(\s*OpCapability\s+)CooperativeMatrixKHR\b"), r"\g<1>!6022"),
]


def is_info(line):
    return line.strip() == "info:" or line.startswith("info:")


def parse(lines):
    """Return [(wgsl_lines or None, spv_lines)] in dump order."""
    out = []
    last_wgsl = None
    i, n = 0, len(lines)
    while i < n:
        s = lines[i].rstrip("\n")
        if s.strip() == WGSL_MARK:
            j = i + 1
            while j < n and not is_info(lines[j]):
                j += 1
            last_wgsl = [l.rstrip("\n") for l in lines[i + 1:j]]
            i = j
            continue
        if s.strip().startswith("/* Failed to disassemble SPIRV"):
            sys.stderr.write("note: line %d: Dawn could not disassemble a SPIR-V module; skipped\n" % (i + 1))
            last_wgsl = None
        if s.strip() == SPV_MARK:
            j = i + 1
            body = []
            while j < n and not is_info(lines[j]):
                l = lines[j].rstrip("\n")
                if not ASM_LINE.match(l):
                    sys.stderr.write("note: SPIR-V block at line %d ends at non-assembly line %d: %r\n"
                                     % (i + 1, j + 1, l[:80]))
                    break
                body.append(l)
                j += 1
            while body and not body[-1].strip():
                body.pop()
            out.append((last_wgsl, body))
            last_wgsl = None  # each WGSL dump belongs to the next SPIR-V dump only
            i = j
            continue
        i += 1
    return out


def wgsl_hint(wgsl):
    if not wgsl:
        return "(no WGSL dumped before this block)"
    for pat in (r"^\s*var<workgroup>", r"^\s*//", r"@compute"):
        for l in wgsl:
            if re.search(pat, l):
                return l.strip()
    for l in wgsl:
        if l.strip():
            return l.strip()
    return "(empty WGSL)"


def spv_summary(body):
    entry = None
    for l in body:
        m = re.search(r'OpEntryPoint\s+\w+\s+%\S+\s+"([^"]*)"', l)
        if m:
            entry = m.group(1)
            break
    # %id -> set/binding, %id -> (pointer type, storage class)
    sets, binds, var = {}, {}, {}
    ptr, blocks = {}, {}
    for l in body:
        m = re.match(r"\s*OpDecorate\s+(%\S+)\s+(DescriptorSet|Binding)\s+(\d+)", l)
        if m:
            (sets if m.group(2) == "DescriptorSet" else binds)[m.group(1)] = int(m.group(3))
            continue
        m = re.match(r"\s*OpDecorate\s+(%\S+)\s+(Block|BufferBlock)\s*$", l)
        if m:
            blocks[m.group(1)] = m.group(2)
            continue
        m = re.match(r"\s*(%\S+)\s*=\s*OpTypePointer\s+(\w+)\s+(%\S+)", l)
        if m:
            ptr[m.group(1)] = (m.group(2), m.group(3))
            continue
        m = re.match(r"\s*(%\S+)\s*=\s*OpVariable\s+(%\S+)\s+(\w+)", l)
        if m:
            var[m.group(1)] = (m.group(2), m.group(3))
    types = {}
    for vid, b in binds.items():
        if sets.get(vid, 0) != 0 or vid not in var:
            continue
        pty, sc = var[vid]
        pointee = ptr.get(pty, (None, None))[1]
        if sc == "StorageBuffer":
            t = "s"
        elif sc == "Uniform":
            t = "s" if blocks.get(pointee) == "BufferBlock" else "u"
        else:
            t = "?"
        types[b] = t
    blist = ",".join(types.get(b, "-") for b in range(max(types) + 1)) if types else ""
    return entry, blist


def patch_line(l):
    for pat, rep in NEW_ENUMS:
        l = pat.sub(rep, l)
    return l


def assemble(spirv_as, src, dst):
    """Try target envs newest first; return (ok, env-or-error)."""
    err = ""
    for env in ("vulkan1.3", "vulkan1.2", "spv1.6", "spv1.5", "spv1.4", None):
        cmd = [spirv_as] + (["--target-env", env] if env else []) + ["-o", dst, src]
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True)
        if r.returncode == 0:
            return True, "--target-env " + env if env else "default target env"
        out = (r.stderr or r.stdout).strip().splitlines()
        err = out[0] if out else "rc %d" % r.returncode
    if os.path.exists(dst):
        os.remove(dst)
    return False, err


def main():
    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help"):
        sys.stderr.write(__doc__)
        return 2
    log = sys.argv[1]
    outdir = sys.argv[2] if len(sys.argv) > 2 else "spv-dump"
    with open(log, encoding="utf-8", errors="replace") as f:
        lines = f.readlines()
    blocks = parse(lines)
    if not blocks:
        sys.stderr.write("no '%s' blocks found in %s (was Dawn created with the dump_shaders toggle?)\n"
                         % (SPV_MARK, log))
        return 1
    os.makedirs(outdir, exist_ok=True)
    spirv_as = os.environ.get("SPIRV_AS") or shutil.which("spirv-as")
    if not spirv_as:
        sys.stderr.write("note: spirv-as not on PATH; writing .spvasm only\n")
    failed = 0
    for n, (wgsl, body) in enumerate(blocks):
        asm_path = os.path.join(outdir, "shader-%d.spvasm" % n)
        with open(asm_path, "w", encoding="utf-8") as f:
            f.write("\n".join(body) + "\n")
        entry, blist = spv_summary(body)
        status = ""
        if spirv_as:
            spv_path = os.path.join(outdir, "shader-%d.spv" % n)
            ok, msg = assemble(spirv_as, asm_path, spv_path)
            if not ok:
                patched = [patch_line(l) for l in body]
                if patched != body:
                    tmp = os.path.join(outdir, "shader-%d.patched.spvasm" % n)
                    with open(tmp, "w", encoding="utf-8") as f:
                        f.write("\n".join(patched) + "\n")
                    ok, msg2 = assemble(spirv_as, tmp, spv_path)
                    msg = msg2 + ", new enumerants written as raw words" if ok else msg
            if ok:
                status = " -> %s (%s)" % (spv_path, msg)
            else:
                status = " -> spirv-as FAILED: %s" % msg
                failed += 1
        print("[%d] %s  %d lines, entry %s, bindings %s%s" %
              (n, asm_path, len(body), entry or "?", blist or "(none)", status))
        print("     wgsl: %s" % wgsl_hint(wgsl))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
