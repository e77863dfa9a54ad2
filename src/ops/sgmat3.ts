// Matmul precision 'fp16x3': fp32 products from three f16 products on tensor cores, at the accuracy
// of grilly's fp32 GEMM (the analogue of CUTLASS's 3xTF32 or PyTorch's bf16x3 'high' precision).
//
// Each operand value v is scaled by a power of two per row of op(A) / column of op(B) (putting the
// row's largest |v| in [2¹³, 2¹⁴), so both halves stay in f16's normal range) and split into
// hi = v with its mantissa cut to 11 bits (exact in f16) and lo = v − hi rounded to f16: hi + lo
// is v to 2⁻²². A·B ≈ lo_A·hi_B + hi_A·lo_B + hi_A·hi_B (lo·lo, 2⁻²² of the product, is dropped).
// The tensor cores accumulate in f32 with truncation (Fasi et al., PeerJ CS 7:e330, 2021), whose
// error grows linearly with the length of an accumulation chain and leans toward zero, so K is cut
// into chunks: for each chunk the two operands' slices are split into f16 blocks along K — A as
// [lo | hi | hi], B as [hi | lo | hi] — one f16 GEMM over 3·chunk (src/ops/sgmat.ts) sums the three
// products from a zero accumulator into P, and a pass adds P, unscaled, to C in f32 (round to
// nearest). Rows of C are done in blocks so that P stays small.
// Non-finite inputs: a NaN gives NaN as in fp32; an infinity also gives NaN (hi = ∞, lo = ∞ − ∞),
// where an fp32 product would give ±∞.
// Measured on the H200 (bench/sgmat/x3c.ts; BENCHMARKS.md): with chunks of 1024 the error on the
// Open Neuromorphic benchmark's GEMMs is 0.6–0.85× that of grilly's fp32 GEMM (2–5× cuBLAS's), and
// its step runs about as fast as SpikingJelly's (the fp32 GEMM's step: 1.23–1.36×).
import type { Kernel } from '../backend/types.js';
import { Tensor } from '../tensor/tensor.js';
import { fillInto } from './elementwise.js';
import { PRELUDE, bindings, grid1d, launch, launchInto, main1d } from './kernel.js';
import { f16Bits, layoutFlags, layoutFromEnv, pairedBlock, sgmatKernel, type OperandLayout } from './sgmat.js';

/** Tuning of the 'fp16x3' path (tests lower minMacs to reach it with small shapes). */
export const F16X3 = {
  /** K values per accumulation chunk (a multiple of 32). */
  chunk: 1024,
  /** Products smaller than this many multiply-adds stay on the fp32 GEMM (as accurate, and the splits would cost more than they win). */
  minMacs: 2 ** 31,
  /**
   * Bytes of the partial product P of one row block. On the ONB at n = 16384 (H200), 256 / 512 /
   * 1024 MiB gave 171.8 / 163.4 / 162.1 ms a step at peaks of 3449 / 3729 / 4289 MiB.
   */
  partialBytes: 512 * 2 ** 20,
  /**
   * How the split writes the f16 blocks (see OperandLayout in src/ops/sgmat.ts); 'native' (as the
   * inputs are stored) is what every measurement so far ran. The split can transpose while it
   * splits, and the f16 GEMM ran the ONB's TN product (gᵀ·x) at 197 TFLOP/s and its NT one (x·Wᵀ)
   * at 161, so 'TN' for every product may be faster: not yet measured, hence not the default.
   */
  layout: 'native' as OperandLayout,
};
{
  // GRILLY_F16X3_CHUNK (K values, rounded to a multiple of 32) and GRILLY_F16X3_PARTIAL_MB override
  // these for benchmark sweeps; anything but a positive number is ignored, with a notice
  const env = typeof process !== 'undefined' ? process.env : undefined;
  const num = (name: string): number | undefined => {
    const v = env?.[name];
    if (v === undefined || v === '') return undefined;
    const x = Number(v);
    if (Number.isFinite(x) && x > 0) return x;
    console.warn(`grilly: ${name}=${JSON.stringify(v)} is not a positive number; ignored`);
    return undefined;
  };
  const chunk = num('GRILLY_F16X3_CHUNK'), mb = num('GRILLY_F16X3_PARTIAL_MB');
  F16X3.layout = layoutFromEnv('GRILLY_F16X3_LAYOUT') ?? F16X3.layout;
  if (chunk !== undefined) F16X3.chunk = Math.max(32, Math.round(chunk / 32) * 32);
  if (mb !== undefined) F16X3.partialBytes = mb * 2 ** 20;
}

// e such that 2^e puts max |v| = mx in [2¹³, 2¹⁴); 0 for 0, ∞ and NaN (those pass through unscaled)
export const UP_EXP = `fn upExp(mx: f32) -> i32 {
  if (!(mx > 0.0 && mx <= 0x1.fffffep+127f)) { return 0; }
  return clamp(14 - frexp(mx).exp, -126, 126);
}`;
function upExp(mx: number): number {
  if (!(mx > 0 && mx < Infinity)) return 0;
  let e = Math.floor(Math.log2(mx)) + 1; // frexp's exponent: mx = f·2^e, f ∈ [0.5, 1)
  if (2 ** (e - 1) > mx) e--;
  else if (2 ** e <= mx) e++;
  return Math.max(-126, Math.min(126, 14 - e));
}
const bitsF32 = new Float32Array(1);
const bitsU32 = new Uint32Array(bitsF32.buffer);
const f32OfBits = (w: number) => { bitsU32[0] = w >>> 0; return bitsF32[0]!; };

export interface AbsMaxParams { R: number; L: number; rows: boolean }
const COL_ROWS = 128; // rows an invocation reads (columns)
const ROW_SEG = 2048; // vec4 a workgroup reads along a row (rows)
/**
 * max |x| along the rows (rows: R words) or the columns (L words) of a stored R×L f32 matrix
 * (L a multiple of 4), as f32 bits in u32 words: absolute values order as their bits do, and NaN's
 * bits exceed ∞'s, so a NaN wins. The output must be zeroed first (atomic max).
 */
export const absMaxKernel: Kernel<AbsMaxParams> = {
  name: 'absmax',
  key: (p) => (p.rows ? 'rows' : 'cols'),
  readsOutputs: true,
  cpu: (ins, outs, p) => {
    const x = ins[0]!.f32, o = outs[0]!.f32;
    for (let i = 0; i < p.R; i++) for (let j = 0; j < p.L; j++) {
      const k = p.rows ? i : j, v = Math.abs(x[i * p.L + j]!);
      if (v > o[k]! || (v !== v && o[k] === o[k])) o[k] = v; // NaN wins
    }
  },
  wgsl: (p) => p.rows
    ? `${PRELUDE}
@group(0) @binding(1) var<storage, read> X: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> O: array<atomic<u32>>;
var<workgroup> part: array<u32, 256>;
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let R = pu(0u); let L4 = pu(1u) / 4u;
  let r = wid.y + wid.z * 65535u;
  var m = 0u;
  if (r < R) {
    for (var c = wid.x * ${ROW_SEG}u + li; c < min(L4, (wid.x + 1u) * ${ROW_SEG}u); c += 256u) {
      let v = bitcast<vec4<u32>>(abs(X[r * L4 + c]));
      m = max(m, max(max(v.x, v.y), max(v.z, v.w)));
    }
  }
  part[li] = m;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s >>= 1u) {
    if (li < s) { part[li] = max(part[li], part[li + s]); }
    workgroupBarrier();
  }
  if (li == 0u && r < R) { atomicMax(&O[r], part[0]); }
}`
    : `${PRELUDE}
@group(0) @binding(1) var<storage, read> X: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> O: array<atomic<u32>>;
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let R = pu(0u); let L4 = pu(1u) / 4u;
  let c = gid.x;
  let r0 = (gid.y + gid.z * nwg.y) * ${COL_ROWS}u;
  if (c >= L4 || r0 >= R) { return; }
  var m = vec4<u32>(0u);
  for (var r = r0; r < min(R, r0 + ${COL_ROWS}u); r++) { m = max(m, bitcast<vec4<u32>>(abs(X[r * L4 + c]))); }
  atomicMax(&O[c * 4u], m.x); atomicMax(&O[c * 4u + 1u], m.y); atomicMax(&O[c * 4u + 2u], m.z); atomicMax(&O[c * 4u + 3u], m.w);
}`,
  grid: (p) => {
    const ys = p.rows ? p.R : Math.ceil(p.R / COL_ROWS);
    const y = Math.min(ys, 65535);
    return [Math.ceil(p.L / 4 / (p.rows ? ROW_SEG : 256)), y, Math.ceil(ys / y)];
  },
  uniforms: (p, u) => void u.u32(p.R).u32(p.L),
};

/**
 * One K-chunk [k0, k0 + kc) of the rows [r0, r0 + R) of op(A) (pat 'A': blocks [lo|hi|hi]) or the
 * columns of op(B) (pat 'B': [hi|lo|hi]), scaled by 2^upExp(MX[r]) and split into f16, packed two
 * a word. kContig: X is stored [·][K] (row r at (r0 + r)·K), else [K][stride] (column r0 + r).
 * kMajor: Y is [3·kc][R] (r contiguous), else [R][3·kc]: the split also transposes where the two
 * differ, so the f16 GEMM can read both operands in its fastest layout. K values past K are zero.
 * R, r0, stride, K multiples of 4; kc of 32. An invocation does a 4×4 block (4 rows, 4 K values).
 */
export interface SplitParams { R: number; r0: number; stride: number; K: number; k0: number; kc: number; kContig: boolean; kMajor: boolean; pat: 'A' | 'B' }
export const splitF16x3Kernel: Kernel<SplitParams> = {
  name: 'split.f16x3',
  key: (p) => `${p.kContig ? 'k' : 'r'}${p.kMajor ? 'K' : 'R'}${p.pat}`,
  cpu: (ins, outs, p) => {
    const x = ins[0]!.f32, mx = ins[1]!.i32, y = outs[0]!.i32;
    const blocks = p.pat === 'A' ? [1, 0, 0] : [0, 1, 0]; // 1 = lo
    const half = new Uint16Array(3 * p.kc * p.R);
    for (let r = 0; r < p.R; r++) {
      const s = 2 ** upExp(f32OfBits(mx[p.r0 + r]!));
      for (let kk = 0; kk < p.kc; kk++) {
        const k = p.k0 + kk;
        const v = k < p.K ? Math.fround(x[p.kContig ? (p.r0 + r) * p.K + k : k * p.stride + p.r0 + r]! * s) : 0;
        bitsF32[0] = v;
        bitsU32[0] = bitsU32[0]! & 0xffffe000;
        const hi = bitsF32[0]!;
        const hw = f16Bits(hi), lw = f16Bits(Math.fround(v - hi));
        for (let b = 0; b < 3; b++) half[p.kMajor ? (b * p.kc + kk) * p.R + r : r * 3 * p.kc + b * p.kc + kk] = blocks[b] ? lw : hw;
      }
    }
    y.set(new Int32Array(half.buffer));
  },
  wgsl: (p) => {
    const blocks = p.pat === 'A' ? ['o', 'h', 'h'] : ['h', 'o', 'h'];
    const loads = p.kContig
      ? `if (k < K) { xs = mat4x4<f32>(${[0, 1, 2, 3].map((q) => `X[((r0 + r + ${q}u) * K + k) / 4u]`).join(', ')}); }`
      : `if (k < K) { xs = transpose(mat4x4<f32>(${[0, 1, 2, 3].map((j) => `X[((k + ${j}u) * stride + r0 + r) / 4u]`).join(', ')})); }`;
    // xs[q] = row r + q at k..k+3; v for one output vec4 (4 values contiguous in Y)
    const out = p.kMajor
      ? `let ys = transpose(xs);\n${[0, 1, 2, 3].map((j) => `  {
    let v = ldexp(ys[${j}], e);
    ${split()}
    ${blocks.map((w, b) => `Y[((${b}u * kc + kk + ${j}u) * R + r) / 4u] = ${w};`).join('\n    ')}
  }`).join('\n')}`
      : [0, 1, 2, 3].map((q) => `  {
    let v = ldexp(xs[${q}], vec4<i32>(e[${q}]));
    ${split()}
    ${blocks.map((w, b) => `Y[((r + ${q}u) * 3u * kc + ${b}u * kc + kk) / 4u] = ${w};`).join('\n    ')}
  }`).join('\n');
    function split() {
      // hi: the mantissa cut to 11 bits by a mask (exact in f16); lo: the rest, rounded to f16
      return `let hv = bitcast<vec4<f32>>(bitcast<vec4<u32>>(v) & vec4<u32>(0xffffe000u));
    let h = bitcast<vec2<u32>>(vec4<f16>(hv));
    let o = bitcast<vec2<u32>>(vec4<f16>(v - hv));`;
    }
    return `enable f16;
${PRELUDE}${bindings([['X', 'vec4<f32>'], ['MX', 'f32']], [['Y', 'vec2<u32>']])}${UP_EXP}${main1d(`  let i = idx;
  let R = pu(0u); let r0 = pu(1u); let stride = pu(2u); let K = pu(3u); let k0 = pu(4u); let kc = pu(5u);
  if (i >= (R / 4u) * (kc / 4u)) { return; }
  // consecutive invocations take consecutive 4×4 blocks along Y's contiguous dimension
  ${p.kMajor && p.kContig
    ? pairedBlock('kk')
    : p.kMajor
    ? 'let r = (i % (R / 4u)) * 4u; let kk = (i / (R / 4u)) * 4u;'
    : 'let kk = (i % (kc / 4u)) * 4u; let r = (i / (kc / 4u)) * 4u;'}
  let k = k0 + kk;
  var xs = mat4x4<f32>();
  ${loads}
  let c = r0 + r;
  let e = vec4<i32>(upExp(MX[c]), upExp(MX[c + 1u]), upExp(MX[c + 2u]), upExp(MX[c + 3u]));
  ${out}`)}`;
  },
  grid: (p) => grid1d((p.R * p.kc) / 16),
  uniforms: (p, u) => void u.u32(p.R).u32(p.r0).u32(p.stride).u32(p.K).u32(p.k0).u32(p.kc),
};

/** Rows [m0, m0 + M) of C (N columns, N % 4 = 0) = (first ? 0 : C) + P · 2^−(e_A[m] + e_B[n]). */
export interface AddParams { M: number; N: number; m0: number; first: boolean }
export const addScaledKernel: Kernel<AddParams> = {
  name: 'add.f16x3',
  key: (p) => (p.first ? 'set' : 'add'),
  readsOutputs: true,
  cpu: (ins, outs, p) => {
    const P = ins[0]!.f32, ma = ins[1]!.i32, mb = ins[2]!.i32, c = outs[0]!.f32;
    for (let i = 0; i < p.M; i++) {
      const ea = upExp(f32OfBits(ma[p.m0 + i]!));
      for (let n = 0; n < p.N; n++) {
        const v = Math.fround(P[i * p.N + n]! * 2 ** -(ea + upExp(f32OfBits(mb[n]!))));
        const o = (p.m0 + i) * p.N + n;
        c[o] = p.first ? v : Math.fround(c[o]! + v);
      }
    }
  },
  wgsl: (p) => `${PRELUDE}${bindings([['Pp', 'vec4<f32>'], ['MA', 'f32'], ['MB', 'f32']], [['C', 'vec4<f32>']])}${UP_EXP}${main1d(`  let i = idx;
  let M = pu(0u); let N = pu(1u); let m0 = pu(2u);
  if (i >= M * N / 4u) { return; }
  let m = (4u * i) / N; let n = (4u * i) % N;
  let e = -(vec4<i32>(upExp(MA[m0 + m])) + vec4<i32>(upExp(MB[n]), upExp(MB[n + 1u]), upExp(MB[n + 2u]), upExp(MB[n + 3u])));
  let v = ldexp(Pp[i], e);
  let o = m0 * N / 4u + i;
  C[o] = ${p.first ? 'v' : 'C[o] + v'};`)}`,
  grid: (p) => grid1d((p.M * p.N) / 4),
  uniforms: (p, u) => void u.u32(p.M).u32(p.N).u32(p.m0),
};

export interface F16x3Params { M: number; N: number; K: number; batch: number; transA: boolean; transB: boolean }

/**
 * Whether a GEMM takes the 'fp16x3' path: one batch, stored rows in whole vec4s, big enough, and
 * N ≥ 64 (so that every row block of P, ≥ 4 rows, binds the ≥ 1 KiB the f16 kernel's stores need).
 */
export function gemmF16x3Fits(p: F16x3Params): boolean {
  return p.batch === 1 && p.M % 4 === 0 && p.N % 4 === 0 && p.K % 4 === 0 && p.N >= 64 && p.M * p.N * p.K >= F16X3.minMacs;
}

/** C (f32, M×N) = op(A)·op(B) from three f16 products a pair (see the top of this file). */
export function gemmF16x3(op: string, a: Tensor, b: Tensor, p: F16x3Params, outShape: readonly number[]): Tensor {
  const { M, N, K, transA, transB } = p;
  const be = a.backend;
  const zeroed = (n: number) => {
    const t = Tensor.empty([n], 'int32', op, be, [a, b]);
    fillInto(t, 0, op);
    return t;
  };
  const ma = zeroed(M), mb = zeroed(N);
  launchInto(op, absMaxKernel, [a], [ma], transA ? { R: K, L: M, rows: false } : { R: M, L: K, rows: true });
  launchInto(op, absMaxKernel, [b], [mb], transB ? { R: N, L: K, rows: true } : { R: K, L: N, rows: false });
  const c = Tensor.empty(outShape, 'float32', op, be, [a, b]);
  // The f16 blocks' layout: the split writes op(A) k-major iff tA, op(B) k-major iff !tB.
  const { transA: tA, transB: tB } = layoutFlags(F16X3.layout, transA, transB);
  // Row blocks of C, multiples of 128 rows (the GEMM's tile), P at most partialBytes.
  const blocks = Math.max(1, Math.ceil((M * N * 4) / F16X3.partialBytes));
  const mb0 = Math.min(M, Math.ceil(M / blocks / 128) * 128);
  for (let k0 = 0; k0 < K; k0 += F16X3.chunk) {
    const kc = Math.min(F16X3.chunk, Math.ceil((K - k0) / 32) * 32);
    const b3 = launch(op, splitF16x3Kernel, [b, mb], [(3 * kc * N) / 2], 'int32', { R: N, r0: 0, stride: N, K, k0, kc, kContig: transB, kMajor: !tB, pat: 'B' });
    for (let m0 = 0; m0 < M; m0 += mb0) {
      const rows = Math.min(mb0, M - m0);
      const a3 = launch(op, splitF16x3Kernel, [a, ma], [(3 * kc * rows) / 2], 'int32', { R: rows, r0: m0, stride: M, K, k0, kc, kContig: !transA, kMajor: tA, pat: 'A' });
      const part = launch(op, sgmatKernel, [a3, b3], [rows, N], 'float32', { M: rows, N, K: 3 * kc, batch: 1, strideA: 0, strideB: 0, transA: tA, transB: tB });
      a3.dispose();
      launchInto(op, addScaledKernel, [part, ma, mb], [c], { M: rows, N, m0, first: k0 === 0 });
      part.dispose();
    }
    b3.dispose();
  }
  ma.dispose();
  mb.dispose();
  return c;
}
