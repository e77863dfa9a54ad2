// SNN workloads, the same as bench/sj/bench_sj.py runs on SpikingJelly (issue 7):
//   lif   LIF multi-step fwd+bwd on (T, 2^20) neurons (ATan, decay_input, hard reset)
//   onb   Open Neuromorphic benchmark: Linear(n, n) + LIF(τ=5, ATan), T=500, batch 16, loss = Σ spikes
//   mlp   training step, 784-256-10 LIF MLP, T=16, batch 256, Poisson input, AdamW
//   csnn  training step, 2×[Conv3×3-BN-LIF-MaxPool2]-Linear-LIF, T=4, batch 128, AdamW
// Time per iteration = wall time of a batch of iterations recorded back to back, until the GPU is
// done, divided by the count (the median of several batches, after ≥ 1 s of warm-up). Peak memory =
// the highest bytes held by live tensors during one iteration (comparable to
// torch.cuda.max_memory_allocated).
import * as g from '../src/index.js';
import * as nn from '../src/nn/index.js';
import { AdamW } from '../src/optim/index.js';
import { resetNet } from '../src/functional/index.js';
import { poissonEncode } from '../src/snn/encoding.js';
import { currentBackend } from '../src/runtime.js';
import type { Row } from './engine.js';

export interface SnnRow extends Row {
  workload: string;
  size: string;
  ms: number;
  peakBytes: number;
}

/** One workload at one size: a step to repeat, and what frees its tensors. */
export interface Workload {
  workload: string;
  size: string;
  step: () => void;
  dispose: () => void;
  /** Timing: iterations per batch and batches. */
  iters: number;
  reps: number;
  detail: (ms: number) => string;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/**
 * ms per call: median over `reps` batches of `iters` calls, after warm-up batches that last at least
 * `warmMs` in all (at least one). A host-bound step needs the time: V8's optimizing compiler takes a few
 * hundred MLP steps to settle (on the H200's host, batches of 50 went 1.07 → 0.64 → 0.57 → 0.52 ms a step).
 */
export async function timeSteps(iters: number, reps: number, step: () => void, warmMs = 1000): Promise<number> {
  const batch = async () => {
    await g.sync();
    const t0 = performance.now();
    for (let i = 0; i < iters; i++) step();
    await g.sync();
    return performance.now() - t0;
  };
  for (let warm = 0; warm < warmMs; ) warm += await batch();
  const ts: number[] = [];
  for (let r = 0; r < reps; r++) ts.push((await batch()) / iters);
  return median(ts);
}

/** Peak bytes held by live tensors during one call of step (what was held before included). */
async function peakOf(step: () => void): Promise<number> {
  await g.sync();
  const be = currentBackend('bench');
  be.resetPeak();
  step();
  await g.sync();
  return be.memory().peakBytesInUse;
}

const atan = () => new nn.ATan();
const freeParams = (m: nn.Module) => {
  resetNet(m);
  for (const p of m.parameters()) {
    p.grad = null;
    p.dispose();
  }
};

export function lifWorkload(T: number, quick: boolean): Workload {
  const N = quick ? 2 ** 16 : 2 ** 20;
  const node = new nn.LIFNode({ tau: 2, decayInput: true, vReset: 0, surrogateFunction: atan(), stepMode: 'm' });
  const x = g.tidy(() => g.rand([T, N]).mul(2));
  x.requiresGrad = true;
  const gy = g.rand([T, N]);
  return {
    workload: 'lif', size: `T=${T}`, iters: quick ? 3 : 20, reps: 5,
    step: () =>
      g.tidy(() => {
        node.reset();
        x.grad = null;
        node.forward(x).backward(gy);
      }),
    dispose: () => {
      x.grad = null;
      x.dispose();
      gy.dispose();
      node.reset();
    },
    detail: (ms) => `N=${N}, ${((5 * T * N * 4) / (ms * 1e-3) / 1e12).toFixed(2)} TB/s at 5 passes`,
  };
}

export function onbWorkload(n: number, quick: boolean, T = 500, B = 16): Workload {
  g.manualSeed(0);
  const model = new nn.Sequential(new nn.Linear(n, n), new nn.LIFNode({ tau: 5, surrogateFunction: atan(), stepMode: 'm' }));
  const x = g.rand([T, B, n]);
  return {
    workload: 'onb', size: `n=${n}`, iters: quick ? 1 : n >= 16384 ? 3 : 5, reps: quick ? 2 : 5,
    step: () =>
      g.tidy(() => {
        resetNet(model);
        for (const p of model.parameters()) p.grad = null;
        // The forward in its own tidy, as PyTorch frees model(x).sum()'s intermediates once the
        // loss exists: the graph keeps what backward needs (LIF's H), the rest goes now.
        const loss = g.tidy(() => model.forward(x).sum());
        loss.backward();
      }),
    dispose: () => {
      x.dispose();
      freeParams(model);
    },
    detail: (ms) => `T=${T}, batch ${B}, GEMMs at ${((2 * 2 * T * B * n * n) / (ms * 1e-3) / 1e12).toFixed(1)} TFLOP/s`,
  };
}

function trainingStep(model: nn.Module, x: () => g.Tensor, B: number): { step: () => void; dispose: () => void } {
  const opt = new AdamW(model.parameters(), { lr: 1e-3 });
  const target = g.randint(0, 10, [B]).oneHot(10);
  const lossFn = new nn.MSELoss();
  return {
    step: () =>
      g.tidy(() => {
        const loss = g.tidy(() => lossFn.forward(model.forward(x()).mean(0), target));
        opt.zeroGrad();
        loss.backward();
        opt.step();
        resetNet(model);
      }),
    dispose: () => {
      target.dispose();
      opt.zeroGrad();
      freeParams(model);
    },
  };
}

const lif2 = () => new nn.LIFNode({ tau: 2, surrogateFunction: atan(), detachReset: true, stepMode: 'm' });

export function mlpWorkload(quick: boolean, T = 16, B = 256): Workload {
  g.manualSeed(0);
  const model = new nn.Sequential(new nn.Linear(784, 256), lif2(), new nn.Linear(256, 10), lif2());
  const img = g.rand([B, 784]);
  // Poisson spikes, one kernel (the same values as g.rand([T, B, 784]).lt(img))
  const { step, dispose } = trainingStep(model, () => poissonEncode(img, T), B);
  return { workload: 'mlp', size: `T=${T},B=${B}`, iters: quick ? 3 : 50, reps: 5, step, dispose: () => (img.dispose(), dispose()), detail: () => '' };
}

export function csnnWorkload(quick: boolean, T = 4, B = 128): Workload {
  g.manualSeed(0);
  const ch = 128;
  const model = new nn.Sequential(
    new nn.SeqToANNContainer(new nn.Conv2d(1, ch, 3, { padding: 1, bias: false }), new nn.BatchNorm2d(ch)),
    lif2(),
    new nn.SeqToANNContainer(new nn.MaxPool2d(2), new nn.Conv2d(ch, ch, 3, { padding: 1, bias: false }), new nn.BatchNorm2d(ch)),
    lif2(),
    new nn.SeqToANNContainer(new nn.MaxPool2d(2), new nn.Flatten(), new nn.Linear(ch * 7 * 7, 10)),
    lif2(),
  );
  const img = g.rand([B, 1, 28, 28]);
  const { step, dispose } = trainingStep(model, () => img.unsqueeze(0).expand([T, B, 1, 28, 28]), B);
  return { workload: 'csnn', size: `T=${T},B=${B}`, iters: quick ? 2 : 20, reps: 5, step, dispose: () => (img.dispose(), dispose()), detail: () => '' };
}

function dispatchesPer(step: () => void): number {
  const before = g.stats().dispatches;
  step();
  return g.stats().dispatches - before;
}

/** Times a workload, measures its peak memory, frees it. */
export async function measure(w: Workload): Promise<SnnRow> {
  const ms = await timeSteps(w.iters, w.reps, w.step);
  const peakBytes = await peakOf(w.step);
  const kernels = dispatchesPer(w.step);
  await g.sync();
  w.dispose();
  g.emptyCache();
  const detail = [w.detail(ms), `${kernels} dispatches per step`, `peak ${(peakBytes / 2 ** 20).toFixed(0)} MiB`].filter(Boolean).join('; ');
  return { workload: w.workload, size: w.size, ms, peakBytes, name: `${w.workload} ${w.size}`, value: ms, unit: 'ms', detail };
}

/** The workloads named (lif, onb, mlp, csnn) at the sizes of issue 7 (small ones with quick). */
export function* workloads(names: string[], quick: boolean, opts: { T?: number[]; n?: number[] } = {}): Generator<() => Workload> {
  for (const s of names) {
    if (s === 'lif') for (const T of opts.T ?? [8, 32, 128]) yield () => lifWorkload(T, quick);
    else if (s === 'onb') for (const n of opts.n ?? (quick ? [1024] : [4096, 8192, 16384])) yield () => onbWorkload(n, quick, quick ? 50 : 500);
    else if (s === 'mlp') yield () => mlpWorkload(quick);
    else if (s === 'csnn') yield () => csnnWorkload(quick, 4, quick ? 32 : 128);
    else throw new Error(`unknown workload ${s} (lif, onb, mlp, csnn)`);
  }
}
