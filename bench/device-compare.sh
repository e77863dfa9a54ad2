#!/usr/bin/env bash
# Issue 7's comparison, in one device call: grilly's SNN workloads and SpikingJelly's (every
# backend) on the same GPU, then the ratio table. Run on the GPU machine from the repo root:
#   source .device/enter.sh && COMMIT=<sha> bash bench/device-compare.sh $OUT [--quick]
# (pass COMMIT: the device's copy of the tree can carry stale git metadata, so rev-parse may lie)
# LAYOUTS="TN NN TT" also runs the ONB in 'fp16x3' and 'fp16' with the f16 operands in each of those layouts
# (GRILLY_F16X3_LAYOUT, GRILLY_F16_LAYOUT), rows labelled fp16x3-TN, fp16-TN, … in the same ratio table.
# Needs SpikingJelly master in vendor/spikingjelly (ignored; fetched, never committed).
set -uo pipefail
out=${1:?usage: device-compare.sh OUTDIR [--quick]}
quick=${2:-}
mkdir -p "$out"
commit=${COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)}
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee "$out/gpu.txt"
echo "== grilly fp32"
tsx bench/run.ts --suite snn $quick --commit "$commit" --out "$out/grilly.json" 2>&1 | grep -v '^Warning'
echo "== grilly fp16 (onb)"
GRILLY_MATMUL_PRECISION=fp16 tsx bench/run.ts --suite onb $quick --commit "$commit" --out "$out/grilly-fp16.json" 2>&1 | grep -v '^Warning'
echo "== grilly fp16x3 (onb)"
GRILLY_MATMUL_PRECISION=fp16x3 tsx bench/run.ts --suite onb $quick --commit "$commit" --out "$out/grilly-fp16x3.json" 2>&1 | grep -v '^Warning'
extra=()
for L in ${LAYOUTS:-}; do
  for P in fp16x3 fp16; do
    echo "== grilly $P, f16 operands in layout $L (onb)"
    env GRILLY_F16X3_LAYOUT=$L GRILLY_F16_LAYOUT=$L GRILLY_MATMUL_PRECISION=$P \
      tsx bench/run.ts --suite onb $quick --commit "$commit" --out "$out/grilly-$P-$L.json" 2>&1 | grep -v '^Warning'
    [ -s "$out/grilly-$P-$L.json" ] && extra+=(--rows "$P-$L=$out/grilly-$P-$L.json") # (a failed run loses its rows, not the table)
  done
done
echo "== SpikingJelly"
PYTHONPATH=vendor python3 bench/sj/bench_sj.py --out "$out/sj.json" $quick
echo "== ratios (grilly ÷ SpikingJelly's best backend)"
tsx bench/ratios.ts "$out/grilly.json" "$out/sj.json" "$out/grilly-fp16.json" "$out/grilly-fp16x3.json" ${extra[@]+"${extra[@]}"} --out "$out/ratios.json" | tee "$out/ratios.txt"
tsx bench/ratios.ts "$out/grilly.json" "$out/sj.json" "$out/grilly-fp16.json" "$out/grilly-fp16x3.json" ${extra[@]+"${extra[@]}"} --md > "$out/ratios.md"
