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

/** Milliseconds per call: the median of 5 batches of `iters` calls, after a warm-up batch. */
async function timeIt(iters: number, fn: () => void): Promise<number> {
  const batches: number[] = [];
  for (let b = 0; b < 6; b++) {
    await g.sync();
    const t0 = performance.now();
    for (let i = 0; i < iters; i++) fn();
    await g.sync();
    if (b > 0) batches.push((performance.now() - t0) / iters);
  }
  return batches.sort((x, y) => x - y)[2]!;
}

export async function engineSuite(opts: { elemBytes: number; gemmN: number; quick: boolean; sweep?: boolean }): Promise<Row[]> {
  const rows: Row[] = [];
  const n = Math.floor(opts.elemBytes / 4);
  const a = g.rand([n]);
  const b = g.rand([n]);
  const it = opts.quick ? 2 : 10;
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
  const git = opts.quick ? 1 : 5;
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

  // Cost per dispatch: tiny adds, recorded into one batch (host time alone, then with the GPU's
  // execution), and one submit each. Medians of 5 runs after 3 warm-ups (JIT, pipelines, slabs).
  const s = g.ones([4]);
  const d = 2000;
  const be = currentBackend('bench');
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const measure = async (flushEach: boolean): Promise<{ rec: number; total: number }> => {
    const recs: number[] = [];
    const totals: number[] = [];
    for (let rep = 0; rep < 8; rep++) {
      const t0 = performance.now();
      g.tidy(() => {
        for (let i = 0; i < d; i++) {
          g.add(s, s);
          if (flushEach) be.flush();
        }
      });
      const t1 = performance.now();
      await g.sync();
      const t2 = performance.now();
      if (rep >= 3) {
        recs.push(((t1 - t0) * 1e3) / d);
        totals.push(((t2 - t0) * 1e3) / d);
      }
    }
    return { rec: median(recs), total: median(totals) };
  };
  const batched = await measure(false);
  rows.push({ name: 'dispatch, recording only', value: batched.rec, unit: 'µs', detail: 'host time to record one tiny add (op, autograd bookkeeping, encoder calls)' });
  rows.push({ name: 'dispatch, batched', value: batched.total, unit: 'µs', detail: `${d} tiny adds in one encoder, until the GPU is done` });
  const each = await measure(true);
  rows.push({ name: 'dispatch, one submit each', value: each.total, unit: 'µs', detail: `${d} tiny adds, submitted one by one` });
  s.dispose();
  return rows;
}
