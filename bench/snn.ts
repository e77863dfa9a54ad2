// SNN workloads, the same as bench/sj/bench_sj.py runs on SpikingJelly (issue 7):
//   lif   LIF multi-step fwd+bwd on (T, 2^20) neurons (ATan, decay_input, hard reset)
//   onb   Open Neuromorphic benchmark: Linear(n, n) + LIF(τ=5, ATan), T=500, batch 16, loss = Σ spikes
//   mlp   training step, 784-256-10 LIF MLP, T=16, batch 256, Poisson input, AdamW
//   csnn  training step, 2×[Conv3×3-BN-LIF-MaxPool2]-Linear-LIF, T=4, batch 128, AdamW
// Time per iteration = wall time of a batch of iterations recorded back to back, until the GPU is
// done, divided by the count (the median of several batches). Peak memory = the highest bytes held
// by live tensors during one iteration (comparable to torch.cuda.max_memory_allocated).
import * as g from '../src/index.js';
import * as nn from '../src/nn/index.js';
import { AdamW } from '../src/optim/index.js';
import { resetNet } from '../src/functional/index.js';
import { currentBackend } from '../src/runtime.js';
import type { Row } from './engine.js';

export interface SnnRow extends Row {
  workload: string;
  size: string;
  ms: number;
  peakBytes: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** ms per call: median over `reps` batches of `iters` calls, after one warm-up batch. */
export async function timeSteps(iters: number, reps: number, step: () => void): Promise<number> {
  const ts: number[] = [];
  for (let r = 0; r <= reps; r++) {
    await g.sync();
    const t0 = performance.now();
    for (let i = 0; i < iters; i++) step();
    await g.sync();
    if (r > 0) ts.push((performance.now() - t0) / iters);
  }
  return median(ts);
}

/** Peak bytes held by live tensors during one call of step, above what was held before. */
async function peakOf(step: () => void): Promise<number> {
  await g.sync();
  const be = currentBackend('bench');
  be.resetPeak();
  step();
  await g.sync();
  return be.memory().peakBytesInUse;
}

function row(workload: string, size: string, ms: number, peakBytes: number, detail: string): SnnRow {
  return { workload, size, ms, peakBytes, name: `${workload} ${size}`, value: ms, unit: 'ms', detail: `${detail}; peak ${(peakBytes / 2 ** 20).toFixed(0)} MiB` };
}

const atan = () => new nn.ATan();

export async function lifSuite(Ts: number[], quick: boolean): Promise<SnnRow[]> {
  const rows: SnnRow[] = [];
  const N = quick ? 2 ** 16 : 2 ** 20;
  for (const T of Ts) {
    const node = new nn.LIFNode({ tau: 2, decayInput: true, vReset: 0, surrogateFunction: atan(), stepMode: 'm' });
    const x = g.tidy(() => g.rand([T, N]).mul(2));
    x.requiresGrad = true;
    const gy = g.rand([T, N]);
    const step = () =>
      g.tidy(() => {
        node.reset();
        x.grad = null;
        node.forward(x).backward(gy);
      });
    const ms = await timeSteps(quick ? 3 : 20, 5, step);
    const peak = await peakOf(step);
    rows.push(row('lif', `T=${T}`, ms, peak, `N=${N}, ${((5 * T * N * 4) / (ms * 1e-3) / 1e12).toFixed(2)} TB/s at 5 passes`));
    x.dispose();
    gy.dispose();
    node.reset();
    g.emptyCache();
  }
  return rows;
}

export async function onbSuite(ns: number[], quick: boolean, T = 500, B = 16): Promise<SnnRow[]> {
  const rows: SnnRow[] = [];
  for (const n of ns) {
    g.manualSeed(0);
    const model = new nn.Sequential(new nn.Linear(n, n), new nn.LIFNode({ tau: 5, surrogateFunction: atan(), stepMode: 'm' }));
    const x = g.rand([T, B, n]);
    const step = () =>
      g.tidy(() => {
        resetNet(model);
        for (const p of model.parameters()) p.grad = null;
        model.forward(x).sum().backward();
      });
    const ms = await timeSteps(quick ? 1 : n >= 16384 ? 3 : 5, quick ? 2 : 5, step);
    const peak = await peakOf(step);
    const tflops = (2 * 2 * T * B * n * n) / (ms * 1e-3) / 1e12;
    rows.push(row('onb', `n=${n}`, ms, peak, `T=${T}, batch ${B}, GEMMs at ${tflops.toFixed(1)} TFLOP/s`));
    x.dispose();
    resetNet(model);
    for (const p of model.parameters()) {
      p.grad = null;
      p.dispose();
    }
    g.emptyCache();
  }
  return rows;
}

function oneHotTargets(B: number): g.Tensor {
  return g.randint(0, 10, [B]).oneHot(10);
}

export async function mlpSuite(quick: boolean, T = 16, B = 256): Promise<SnnRow[]> {
  g.manualSeed(0);
  const lif = () => new nn.LIFNode({ tau: 2, surrogateFunction: atan(), detachReset: true, stepMode: 'm' });
  const model = new nn.Sequential(new nn.Linear(784, 256), lif(), new nn.Linear(256, 10), lif());
  const opt = new AdamW(model.parameters(), { lr: 1e-3 });
  const img = g.rand([B, 784]);
  const target = oneHotTargets(B);
  const lossFn = new nn.MSELoss();
  const step = () =>
    g.tidy(() => {
      const x = g.rand([T, B, 784]).lt(img);
      const out = model.forward(x).mean(0);
      const loss = lossFn.forward(out, target);
      opt.zeroGrad();
      loss.backward();
      opt.step();
      resetNet(model);
    });
  const ms = await timeSteps(quick ? 3 : 50, 5, step);
  const peak = await peakOf(step);
  const kernels = dispatchesPer(step);
  return [row('mlp', `T=${T} B=${B}`, ms, peak, `${kernels} dispatches per step`)];
}

export async function csnnSuite(quick: boolean, T = 4, B = 128): Promise<SnnRow[]> {
  g.manualSeed(0);
  const lif = () => new nn.LIFNode({ tau: 2, surrogateFunction: atan(), detachReset: true, stepMode: 'm' });
  const ch = 128;
  const model = new nn.Sequential(
    new nn.SeqToANNContainer(new nn.Conv2d(1, ch, 3, { padding: 1, bias: false }), new nn.BatchNorm2d(ch)),
    lif(),
    new nn.SeqToANNContainer(new nn.MaxPool2d(2), new nn.Conv2d(ch, ch, 3, { padding: 1, bias: false }), new nn.BatchNorm2d(ch)),
    lif(),
    new nn.SeqToANNContainer(new nn.MaxPool2d(2), new nn.Flatten(), new nn.Linear(ch * 7 * 7, 10)),
    lif(),
  );
  const opt = new AdamW(model.parameters(), { lr: 1e-3 });
  const img = g.rand([B, 1, 28, 28]);
  const target = oneHotTargets(B);
  const lossFn = new nn.MSELoss();
  const step = () =>
    g.tidy(() => {
      const x = img.unsqueeze(0).expand([T, B, 1, 28, 28]);
      const out = model.forward(x).mean(0);
      const loss = lossFn.forward(out, target);
      opt.zeroGrad();
      loss.backward();
      opt.step();
      resetNet(model);
    });
  const ms = await timeSteps(quick ? 2 : 20, 5, step);
  const peak = await peakOf(step);
  const kernels = dispatchesPer(step);
  return [row('csnn', `T=${T} B=${B}`, ms, peak, `${kernels} dispatches per step`)];
}

function dispatchesPer(step: () => void): number {
  const before = g.stats().dispatches;
  step();
  return g.stats().dispatches - before;
}
