// Can f16 tensor cores give an fp32 product? Each operand is split into hi (its f32 mantissa cut to
// 11 bits, exact in f16) and lo = v − hi (rounded to f16), after a power-of-two scale that puts the
// largest |v| at 2¹⁴; one subgroup-matrix GEMM over 3K then sums hi·hi + hi·lo + lo·hi (the K blocks
// of A are [hi, hi, lo], of B [hi, lo, hi]) and the result is scaled back. The split alone is
// accurate to ≈ 2⁻²² (checked first, on any adapter); what the product reaches is measured against
// float64, next to grilly's fp32 GEMM and a single f16 product, then its speed on the ONB shapes.
// Usage: tsx bench/sgmat/f16x3.ts [--out file.json]   (exits 0 saying so without the feature)
import { writeFileSync } from 'node:fs';
import * as g from '../../src/index.js';
import { launch, launchInto, PRELUDE } from '../../src/ops/kernel.js';
import { gemm } from '../../src/ops/matmul.js';
import { abs } from '../../src/ops/elementwise.js';
import { max } from '../../src/ops/reduce.js';
import type { Kernel } from '../../src/backend/types.js';
import { SGMAT_TILE, sgmatVariantKernel } from '../../src/ops/sgmat.js';
import { timeSteps } from '../snn.js';
import { errStats, lcg, onbCases, onbFp32 } from './onb-operands.js';

const EXP = 14; // the largest |v| is scaled to [2¹³, 2¹⁴]
const grid = (words: number): [number, number, number] => {
  const w = Math.ceil(words / 256), x = Math.min(w, 65535);
  return [x, Math.ceil(w / x), 1];
};
/** src f32 [R][L] → f16 blocks along K: dst [R][b·L] when K is the row (L), else [b·R][L]; pat: 0 = hi, 1 = lo. */
interface SplitP { R: number; L: number; kContig: boolean; pat: string }
const split: Kernel<SplitP> = {
  name: 'split.f16x3', key: (p) => `${p.kContig}|${p.pat}`,
  cpu: () => { throw new Error('f16x3: no cpu kernel'); },
  wgsl: (p) => `${PRELUDE}
@group(0) @binding(1) var<storage, read> X: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read> AM: array<f32>;
@group(0) @binding(3) var<storage, read_write> Y: array<u32>;
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  let R = pu(0u); let L = pu(1u);
  if (i >= R * L / 2u) { return; }
  let v = X[i] * exp2(${EXP}.0 - ceil(log2(max(AM[0], 1e-30))));
  // bit mask, not unpack2x16float(pack2x16float(v)): that round trip came back as v unchanged
  // on both lavapipe and the H200, which leaves lo = 0
  let hv = bitcast<vec2<f32>>(bitcast<vec2<u32>>(v) & vec2<u32>(0xffffe000u));
  let ph = pack2x16float(hv);
  let pl = pack2x16float(v - hv);
  let r = (2u * i) / L; let c = (2u * i) % L;
  ${[...p.pat].map((ch, b) => {
    const w = ch === '0' ? 'ph' : 'pl';
    return p.kContig ? `Y[(r * ${p.pat.length}u * L + ${b}u * L + c) / 2u] = ${w};` : `Y[((${b}u * R + r) * L + c) / 2u] = ${w};`;
  }).join('\n  ')}
}`,
  grid: (p) => grid((p.R * p.L) / 2),
  uniforms: (p, u) => void u.u32(p.R).u32(p.L),
};
/** C ·= 2^(e_A + e_B − 2·EXP): undoes both scales. */
const unscale: Kernel<{ n: number }> = {
  name: 'unscale.f16x3', key: () => '', readsOutputs: true,
  cpu: () => { throw new Error('f16x3: no cpu kernel'); },
  wgsl: () => `${PRELUDE}
@group(0) @binding(1) var<storage, read> A1: array<f32>;
@group(0) @binding(2) var<storage, read> A2: array<f32>;
@group(0) @binding(3) var<storage, read_write> C: array<vec4<f32>>;
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= pu(0u) / 4u) { return; }
  C[i] = C[i] * exp2(ceil(log2(max(A1[0], 1e-30))) + ceil(log2(max(A2[0], 1e-30))) - ${2 * EXP}.0);
}`,
  grid: (p) => grid(p.n / 4),
  uniforms: (p, u) => void u.u32(p.n),
};
/** op(A)·op(B) from f16 blocks: a is [M][K] or, transA, [K][M]; b is [N][K] (transB) or [K][N]. */
function product(a: g.Tensor, b: g.Tensor, M: number, N: number, K: number, transA: boolean, transB: boolean, patA: string, patB: string): g.Tensor {
  const nb = patA.length;
  const am = max(abs(a)), bm = max(abs(b));
  const ac = launch('f16x3', split, [a, am], [(nb * M * K) / 2], 'int32', transA ? { R: K, L: M, kContig: false, pat: patA } : { R: M, L: K, kContig: true, pat: patA });
  const bc = launch('f16x3', split, [b, bm], [(nb * N * K) / 2], 'int32', transB ? { R: N, L: K, kContig: true, pat: patB } : { R: K, L: N, kContig: false, pat: patB });
  const c = launch('f16x3', sgmatVariantKernel({ ...SGMAT_TILE, transA, transB, vecA: 8, vecB: 8 }), [ac, bc], [M, N], 'float32', { M, N, K: nb * K });
  ac.dispose(); bc.dispose();
  launchInto('f16x3', unscale, [am, bm], [c], { n: M * N });
  am.dispose(); bm.dispose();
  return c;
}

const info = await g.init({ backend: 'webgpu' });
const result: Record<string, unknown> = { date: new Date().toISOString(), device: info.summary };
{
  // The split alone (any adapter): hi + lo against v, relative.
  const n = 1 << 16;
  const xs = Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898) * 0.5 + (i % 7) * 1e-3);
  const X = g.tensor(xs, [1, n]);
  const am = max(abs(X));
  const y = (await launch('f16x3', split, [X, am], [n], 'int32', { R: 1, L: n, kContig: true, pat: '01' }).data()) as Int32Array;
  const half = (w: number) => {
    const e = (w >> 10) & 31, m = w & 1023, v = e ? 2 ** (e - 15) * (1 + m / 1024) : 2 ** -14 * (m / 1024);
    return w & 0x8000 ? -v : v;
  };
  const s = 2 ** (EXP - Math.ceil(Math.log2(Math.max(...xs.map(Math.abs)))));
  let worst = 0;
  for (let i = 0; i < n; i++) {
    const hw = (y[i >> 1]! >>> (16 * (i & 1))) & 0xffff, lw = (y[(n + i) >> 1]! >>> (16 * (i & 1))) & 0xffff;
    const v = xs[i]! * s;
    if (v !== 0) worst = Math.max(worst, Math.abs(half(hw) + half(lw) - v) / Math.abs(v));
  }
  result.split = { worstRelative: worst };
  console.log(`split: |hi + lo − v| / |v| ≤ ${worst.toExponential(2)} over ${n} values (2⁻²² = ${(2 ** -22).toExponential(2)})`);
  X.dispose();
  am.dispose();
}
if (!g.backendInfo().f16Matmul) {
  console.log(`f16x3: ${info.summary} has no f16 subgroup matrices; nothing to measure`);
  g.shutdown();
  process.exit(0);
}
const rng = lcg(7);
const { uni } = rng;
// ---- accuracy: errors relative to the rms of C ----
for (const { label, M, N, K, transA, transB, aH, bH, ref } of onbCases(rng)) {
  const A = g.tensor(aH, transA ? [K, M] : [M, K]), B = g.tensor(bH, transB ? [N, K] : [K, N]);
  const outs: Record<string, ArrayLike<number>> = {
    'fp32 GEMM': await onbFp32(A, B, { M, N, K, transA, transB }),
    'three f16 products': (await g.tidy(() => product(A, B, M, N, K, transA, transB, '001', '010')).data()) as Float32Array,
    'one f16 product': (await g.tidy(() => product(A, B, M, N, K, transA, transB, '0', '0')).data()) as Float32Array,
    'exact, rounded to f32': Float32Array.from(ref),
  };
  const errs: Record<string, { max: number; rms: number }> = {};
  for (const [k, v] of Object.entries(outs)) { const e = errStats(ref, v); errs[k] = { max: e.max, rms: e.rms }; }
  const name = label === 'xWt' ? 'x·Wᵀ' : 'gᵀ·x';
  result[`accuracy ${name} ${M}×${N}×${K}`] = errs;
  console.log(`${name} ${M}×${N}×${K}, error / rms(C), max and rms: ${Object.entries(errs).map(([k, e]) => `${k} ${e.max.toExponential(2)} ${e.rms.toExponential(2)}`).join(' | ')}`);
  A.dispose(); B.dispose();
}
// ---- where the error comes from: operands exact in f16 (so every product is exact), growing K ----
for (const K of [1024, 4096, 16384]) {
  const M = 256, N = 512;
  const aH = Float32Array.from({ length: M * K }, () => Math.floor(uni() * 1024) / 1024);
  const bH = Float32Array.from({ length: N * K }, () => (Math.floor(uni() * 2048) - 1024) / 2 ** 17);
  const A = g.tensor(aH, [M, K]), B = g.tensor(bH, [N, K]);
  const ref = new Float64Array(M * N);
  for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) {
    let s = 0;
    for (let k = 0; k < K; k++) s += aH[i * K + k]! * bH[j * K + k]!;
    ref[i * N + j] = s;
  }
  const fp32 = await onbFp32(A, B, { M, N, K, transA: false, transB: true });
  const one = (await g.tidy(() => product(A, B, M, N, K, false, true, '0', '0')).data()) as Float32Array;
  const err = (v: Float32Array) => { const e = errStats(ref, v); return { rms: e.rms, bias: e.bias }; };
  const e32 = err(fp32), e16 = err(one);
  result[`accumulation K=${K}`] = { 'fp32 GEMM': e32, 'f16 product of f16-exact operands': e16 };
  console.log(`operands exact in f16, x·Wᵀ ${M}×${N}×${K}: error / rms(C) fp32 GEMM ${e32.rms.toExponential(2)} (mean toward |C| ${e32.bias.toExponential(2)}), f16 tensor cores ${e16.rms.toExponential(2)} (${e16.bias.toExponential(2)})`);
  A.dispose(); B.dispose();
}
// ---- speed on the ONB shapes (splits, GEMM over 3K and scaling included) ----
const n = 16384, T = 8000;
const X = g.rand([T, n]), W = g.rand([n, n]);
for (const [label, M, N, K, a, b, ta, tb] of [['x·Wᵀ', T, n, n, X, W, false, true], ['gᵀ·x', n, n, T, X, X, true, false]] as const) {
  const ms3 = await timeSteps(2, 3, () => g.tidy(() => void product(a, b, M, N, K, ta, tb, '001', '010')));
  const ms32 = await timeSteps(1, 3, () => g.tidy(() => void gemm('f16x3', a, b, { M, N, K, batch: 1, strideA: 0, strideB: 0, transA: ta, transB: tb }, [M, N])));
  result[`ms ${label} ${M}×${N}×${K}`] = { 'three f16 products': ms3, 'fp32 GEMM': ms32 };
  console.log(`${label} ${M}×${N}×${K}: three f16 products ${ms3.toFixed(2)} ms (${((2 * M * N * K) / ms3 / 1e9).toFixed(1)} TFLOP/s of fp32 work), fp32 GEMM ${ms32.toFixed(2)} ms`);
}
const oi = process.argv.indexOf('--out');
if (oi > 0) writeFileSync(process.argv[oi + 1]!, JSON.stringify(result, null, 2));
g.shutdown();
process.exit(0);
