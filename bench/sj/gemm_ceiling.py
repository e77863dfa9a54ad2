"""fp32 ceilings on the GPU machine, for issue 7's ONB fp32 diagnosis (reference side; grilly's side is
bench/gemm-f32.ts). Prints a table and writes JSON:
  - cuBLAS fp32 (TF32 off) on the Open Neuromorphic benchmark's two GEMM shapes, as PyTorch runs them in
    SpikingJelly's step: y = x·Wᵀ (8000×n×n) and dW = gᵀ·x (n×n×8000);
  - a CUDA loop of bare FMAs (32 independent accumulators a thread, operands in registers): the card's
    sustained fp32 FMA rate, the ceiling any GEMM (cuBLAS, or grilly's WGSL) can approach;
  - the SM clock while each runs (nvidia-smi, sampled in the middle of the work).
Usage: python3 bench/sj/gemm_ceiling.py [--n 16384,4096] [--out ceiling.json]
"""
import argparse
import json
import statistics
import subprocess
import time

import torch

FMA_SRC = r"""
extern "C" __global__ void fma_loop(float* out, int iters, float a, float b) {
  float acc[32];
  #pragma unroll
  for (int i = 0; i < 32; i++) acc[i] = (threadIdx.x + i) * 1e-9f;
  for (int it = 0; it < iters; it++) {
    #pragma unroll
    for (int i = 0; i < 32; i++) acc[i] = fmaf(acc[i], a, b);
  }
  float s = 0.f;
  #pragma unroll
  for (int i = 0; i < 32; i++) s += acc[i];
  if (s == 1234.5f) out[blockIdx.x] = s;  // keeps the loop; never true
}
"""


def clock_now():
    try:
        r = subprocess.run(["nvidia-smi", "--query-gpu=clocks.sm,power.draw", "--format=csv,noheader,nounits"],
                           capture_output=True, text=True, timeout=10)
        mhz, watts = r.stdout.strip().split(",")[:2]
        return {"sm_mhz": float(mhz), "watts": float(watts)}
    except Exception as e:  # no nvidia-smi: leave it out
        return {"error": str(e)}


def timed(fn, reps, queue_s=0.6):
    """Median ms of fn over reps CUDA-event timings, and the clock sampled while a queue of calls runs."""
    fn()
    torch.cuda.synchronize()
    ms = []
    for _ in range(reps):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        fn()
        e.record()
        torch.cuda.synchronize()
        ms.append(s.elapsed_time(e))
    med = statistics.median(ms)
    for _ in range(max(2, int(queue_s * 1e3 / med))):
        fn()
    time.sleep(queue_s / 2)
    clk = clock_now()
    torch.cuda.synchronize()
    return med, clk


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", default="16384,4096")
    ap.add_argument("--out", default="gemm_ceiling.json")
    args = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    dev = torch.device("cuda")
    rows = []
    M = 8000
    for n in [int(v) for v in args.n.split(",")]:
        x = torch.rand(M, n, device=dev)
        w = torch.rand(n, n, device=dev)
        g = torch.rand(M, n, device=dev)
        for name, fn in (("x·Wᵀ (forward)", lambda: x @ w.t()), ("gᵀ·x (weight gradient)", lambda: g.t() @ x)):
            ms, clk = timed(fn, 10)
            tf = 2 * M * n * n / (ms * 1e-3) / 1e12
            rows.append({"what": f"cuBLAS fp32 {name}", "n": n, "ms": round(ms, 3), "tflops": round(tf, 2), **clk})
        del x, w, g
        torch.cuda.empty_cache()

    import cupy as cp
    k = cp.RawKernel(FMA_SRC, "fma_loop")
    sms = torch.cuda.get_device_properties(0).multi_processor_count
    out = cp.zeros(65536, dtype=cp.float32)
    iters = 20000
    for blocks_per_sm in (4, 8):
        blocks, threads = sms * blocks_per_sm, 256

        def run():
            k((blocks,), (threads,), (out, cp.int32(iters), cp.float32(0.999), cp.float32(1e-6)))

        ms, clk = timed(run, 10)
        tf = 2 * 32 * iters * blocks * threads / (ms * 1e-3) / 1e12
        rows.append({"what": f"CUDA FMA-only loop, {blocks_per_sm}×256 threads an SM", "n": None, "ms": round(ms, 3), "tflops": round(tf, 2), **clk})

    name = torch.cuda.get_device_name(0)
    for r in rows:
        clk = f"{r['sm_mhz']:.0f} MHz, {r['watts']:.0f} W" if "sm_mhz" in r else "clock n/a"
        print(f"{r['what']:<46} {'' if r['n'] is None else 'n=' + str(r['n']):<8} {r['ms']:>9.3f} ms {r['tflops']:>7.2f} TFLOP/s  ({clk})")
    with open(args.out, "w") as f:
        json.dump({"device": name, "torch": torch.__version__, "rows": rows}, f, indent=2)


if __name__ == "__main__":
    main()
