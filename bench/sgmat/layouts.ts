// Which layout the 'fp16x3' split should write (F16X3.layout, src/ops/sgmat3.ts), on the Open
// Neuromorphic benchmark's shapes at n = 16384:
//   1. grilly's f16 GEMM (sgmatKernel, as the library runs it) on one chunk's product, K = 3·1024,
//      in the four operand layouts: x·Wᵀ's rows (8000×16384) and a weight-gradient row block
//      (8192×16384, P ≤ 512 MiB);
//   2. the split of one chunk (kc = 1024) of the 16384×16384 weight, for each input → output layout;
//   3. the whole product, x·Wᵀ and gᵀ·x, in precision 'fp16x3' per F16X3.layout and in 'fp16' per
//      F16.layout, and whether each layout's result has the same bits as 'native' (same K order: it
//      should).
// Prints a line per measurement; exits 0 saying so on an adapter without f16 subgroup matrices.
// Usage: tsx bench/sgmat/layouts.ts [--out file.json] [--layouts native,TN,NN,TT,NT]
import * as g from '../../src/index.js';
import { launch, launchInto } from '../../src/ops/kernel.js';
import { gemm } from '../../src/ops/matmul.js';
import { F16, sgmatKernel, type OperandLayout } from '../../src/ops/sgmat.js';
import { F16X3, gemmF16x3, splitF16x3Kernel, absMaxKernel } from '../../src/ops/sgmat3.js';
import { fillInto } from '../../src/ops/elementwise.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { finish, onbSpeedCases } from './onb-operands.js';
import { timeSteps } from '../snn.js';

const argv = process.argv.slice(2);
const arg = (k: string) => (argv.includes(k) ? argv[argv.indexOf(k) + 1] : undefined);
const info = await g.init({ backend: 'webgpu' });
if (!g.backendInfo().f16Matmul) {
  console.log(`layouts: ${info.summary} has no f16 subgroup matrices; nothing to measure`);
  g.shutdown();
  process.exit(0);
}
const result: Record<string, unknown> = { date: new Date().toISOString(), device: info.summary, command: process.argv.slice(1).join(' ') };
const n = 16384, T = 8000, kc = F16X3.chunk;

// 1. the f16 GEMM alone on one chunk's product (random f16 words with |v| < 1)
let seed = 12345;
const words = (len: number) => {
  const a = new Int32Array(len);
  for (let i = 0; i < len; i++) { seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0; a[i] = seed & 0xbbffbbff; }
  return g.tensor(a, [len], { dtype: 'int32' });
};
const gemmRate: Record<string, number> = {};
for (const [label, M] of [['x·Wᵀ chunk', T], ['gᵀ·x block', 8192]] as const) {
  const A = words((M * 3 * kc) / 2), B = words((n * 3 * kc) / 2);
  for (const [transA, transB] of [[false, false], [false, true], [true, false], [true, true]] as const) {
    const name = `${label} ${transA ? 'T' : 'N'}${transB ? 'T' : 'N'}`;
    const p = { M, N: n, K: 3 * kc, batch: 1, strideA: 0, strideB: 0, transA, transB };
    const ms = await timeSteps(4, 5, () => g.tidy(() => void launch('layouts', sgmatKernel, [A, B], [M, n], 'float32', p)));
    gemmRate[name] = (2 * M * n * 3 * kc) / ms / 1e9;
    console.log(`f16 GEMM ${M}×${n}×${3 * kc} ${name.padEnd(18)} ${ms.toFixed(3)} ms  ${gemmRate[name]!.toFixed(1)} TFLOP/s`);
  }
  A.dispose(); B.dispose();
}
result['f16 GEMM TFLOP/s'] = gemmRate;

// 2. the split of one chunk of the weight (16384 rows or columns, K = 16384)
const W = g.rand([n, n]);
const mx = Tensor.empty([n], 'int32', 'layouts');
fillInto(mx, 0, 'layouts');
launchInto('layouts', absMaxKernel, [W], [mx], { R: n, L: n, rows: true });
const splitMs: Record<string, number> = {};
for (const kContig of [true, false]) for (const kMajor of [true, false]) {
  const name = `${kContig ? '[r][k]' : '[k][r]'} → ${kMajor ? '[k][r]' : '[r][k]'}`;
  const ms = await timeSteps(8, 5, () => g.tidy(() => void launch('layouts', splitF16x3Kernel, [W, mx], [(3 * kc * n) / 2], 'int32', { R: n, r0: 0, stride: n, K: n, k0: 0, kc, kContig, kMajor, pat: 'B' })));
  splitMs[name] = ms;
  console.log(`split ${n}×${kc} ${name.padEnd(18)} ${ms.toFixed(3)} ms  ${((n * kc * 10) / ms / 1e9).toFixed(2)} TB/s (4 B read, 6 B written a value)`);
}
W.dispose(); mx.dispose();
result['split ms'] = splitMs;

// 3. the whole product per layout, in 'fp16x3' (F16X3.layout) and 'fp16' (F16.layout), and its bits against 'native'
const layouts = (arg('--layouts') ?? 'native,TN,NN,TT,NT').split(',') as OperandLayout[];
for (const mode of ['fp16x3', 'fp16'] as const) {
  g.setMatmulPrecision(mode);
  const whole: Record<string, { ms: number; sameBitsAsNative?: boolean; differ?: number }> = {};
  const cases = onbSpeedCases();
  for (const c of cases) {
    const { label, M, N, K, a, b, transA, transB } = c;
    let ref: Float32Array | undefined;
    for (const L of layouts) {
      if (mode === 'fp16x3') F16X3.layout = L;
      else F16.layout = L;
      const run = () => mode === 'fp16x3'
        ? gemmF16x3('layouts', a, b, { M, N, K, batch: 1, transA, transB }, [M, N])
        : gemm('layouts', a, b, { M, N, K, batch: 1, strideA: 0, strideB: 0, transA, transB }, [M, N]);
      const ms = await timeSteps(1, 3, () => g.tidy(() => void run()));
      const t = g.tidy(run);
      const out = (await t.data()) as Float32Array;
      t.dispose();
      let differ: number | undefined;
      if (L === 'native') ref = out;
      else if (ref) {
        differ = 0;
        for (let i = 0; i < out.length; i++) if (!Object.is(out[i], ref[i])) differ++;
      }
      whole[`${label} ${L}`] = { ms, ...(differ === undefined ? {} : { sameBitsAsNative: differ === 0, differ }) };
      console.log(`${mode} ${label} ${M}×${N}×${K} layout ${L.padEnd(6)} ${ms.toFixed(2)} ms${differ === undefined ? '' : differ === 0 ? ', same bits as native' : `, ${differ} values differ from native`}`);
    }
  }
  for (const t of new Set(cases.flatMap((c) => [c.a, c.b]))) t.dispose();
  result[`${mode} product`] = whole;
}
g.setMatmulPrecision('fp32');
finish(result, arg('--out'));
