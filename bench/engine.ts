// Engine benchmarks: elementwise bandwidth, GEMM throughput, cost per dispatch.
import * as g from '../src/index.js';
import { currentBackend } from '../src/runtime.js';
import { gemmTuning } from '../src/ops/matmul.js';
import { mapTuning } from '../src/ops/elementwise.js';

export interface Row {
  name: string;
  value: number;
  unit: string;
  detail: string;
}

async function timeIt(iters: number, fn: () => void): Promise<number> {
  fn(); // warm-up: pipelines compiled, pool primed
  await g.sync();
  const t0 = performance.now();
  for (let i = 0; i < iters; i++) fn();
  await g.sync();
  return (performance.now() - t0) / iters;
}

export async function engineSuite(opts: { elemBytes: number; gemmN: number; quick: boolean; sweep?: boolean }): Promise<Row[]> {
  const rows: Row[] = [];
  const n = Math.floor(opts.elemBytes / 4);
  const a = g.rand([n]);
  const b = g.rand([n]);
  const it = opts.quick ? 3 : 20;
  const gib = (opts.elemBytes / 2 ** 30).toFixed(2);
  let ms = await timeIt(it, () => g.tidy(() => void g.add(a, b)));
  rows.push({ name: 'elementwise add', value: (3 * opts.elemBytes) / (ms * 1e-3) / 1e12, unit: 'TB/s', detail: `${gib} GiB operands, ${ms.toFixed(3)} ms (2 reads + 1 write)` });
  ms = await timeIt(it, () => g.tidy(() => void g.relu(a)));
  rows.push({ name: 'elementwise relu', value: (2 * opts.elemBytes) / (ms * 1e-3) / 1e12, unit: 'TB/s', detail: `${gib} GiB, ${ms.toFixed(3)} ms (1 read + 1 write)` });
  if (opts.sweep) {
    for (const u of [1, 2, 4, 8]) {
      mapTuning.unroll = u;
      ms = await timeIt(it, () => g.tidy(() => void g.add(a, b)));
      rows.push({ name: `elementwise add, ${u}/thread`, value: (3 * opts.elemBytes) / (ms * 1e-3) / 1e12, unit: 'TB/s', detail: `${ms.toFixed(3)} ms` });
      ms = await timeIt(it, () => g.tidy(() => void g.relu(a)));
      rows.push({ name: `elementwise relu, ${u}/thread`, value: (2 * opts.elemBytes) / (ms * 1e-3) / 1e12, unit: 'TB/s', detail: `${ms.toFixed(3)} ms` });
    }
    mapTuning.unroll = 4;
  }
  ms = await timeIt(it, () => g.tidy(() => void g.sum(a)));
  rows.push({ name: 'sum (full reduction)', value: opts.elemBytes / (ms * 1e-3) / 1e12, unit: 'TB/s', detail: `${gib} GiB, ${ms.toFixed(3)} ms` });
  a.dispose();
  b.dispose();
  g.emptyCache();

  const N = opts.gemmN;
  const x = g.randn([N, N]);
  const y = g.randn([N, N]);
  const git = opts.quick ? 2 : 10;
  ms = await timeIt(git, () => g.tidy(() => void g.matmul(x, y)));
  rows.push({ name: `matmul ${N}³ fp32`, value: (2 * N ** 3) / (ms * 1e-3) / 1e12, unit: 'TFLOP/s', detail: `${ms.toFixed(3)} ms` });
  const xt = g.randn([N, N], { requiresGrad: true });
  ms = await timeIt(git, () => g.tidy(() => { const o = g.matmul(xt, y); o.backward(o); }));
  rows.push({ name: `matmul ${N}³ fwd+bwd (dA only)`, value: (4 * N ** 3) / (ms * 1e-3) / 1e12, unit: 'TFLOP/s', detail: `${ms.toFixed(3)} ms` });
  if (opts.sweep) {
    for (const rm of [4, 8] as const) {
      for (const bk of [8, 16] as const) {
        gemmTuning.rm = rm;
        gemmTuning.bk = bk;
        ms = await timeIt(git, () => g.tidy(() => void g.matmul(x, y)));
        rows.push({ name: `matmul ${N}³ tile ${16 * rm} bk ${bk}`, value: (2 * N ** 3) / (ms * 1e-3) / 1e12, unit: 'TFLOP/s', detail: `${ms.toFixed(3)} ms` });
      }
    }
    gemmTuning.rm = null;
    gemmTuning.bk = 8;
  }
  x.dispose();
  y.dispose();
  xt.dispose();
  g.emptyCache();

  // Cost per dispatch: tiny adds, all recorded into one batch, then one per submit.
  const s = g.ones([4]);
  const d = 2000;
  {
    g.tidy(() => { for (let i = 0; i < d; i++) g.add(s, s); });
    await g.sync();
    const t0 = performance.now();
    g.tidy(() => { for (let i = 0; i < d; i++) g.add(s, s); });
    const rec = performance.now() - t0;
    await g.sync();
    rows.push({ name: 'dispatch, recording only', value: (rec * 1e3) / d, unit: 'µs', detail: `host time to record one tiny add (op + autograd bookkeeping + encoder calls)` });
  }
  ms = await timeIt(1, () => g.tidy(() => { for (let i = 0; i < d; i++) g.add(s, s); }));
  rows.push({ name: 'dispatch, batched', value: (ms * 1e3) / d, unit: 'µs', detail: `${d} tiny adds recorded into one encoder` });
  const be = currentBackend('bench');
  ms = await timeIt(1, () => g.tidy(() => { for (let i = 0; i < d; i++) { g.add(s, s); be.flush(); } }));
  rows.push({ name: 'dispatch, one submit each', value: (ms * 1e3) / d, unit: 'µs', detail: `${d} tiny adds, flushed after each` });
  s.dispose();
  return rows;
}
