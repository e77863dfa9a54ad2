// Matrix products: 2-D, batched (with broadcast batch dims) and 1-D operands as in NumPy.
// One GEMM kernel, generated per (transA, transB, tile, vector-width) variant: a workgroup of
// 16×16 threads computes a (16·rm)×(16·rn) block of C, each thread rm×rn outputs, staging BK-deep
// slices of A and B in workgroup memory while the next slice is fetched into registers (options: the
// k-loop written out, double-buffered slices, another subgroup layout; see variant()). The backward
// pass uses the transposition flags instead of materialising transposes.
import type { CpuView, Kernel } from '../backend/types.js';
import { DTypeError, ShapeError, fmtShape } from '../errors.js';
import { attach, needsGrad } from '../autograd/node.js';
import { broadcastShapes, numel } from '../shape.js';
import { Tensor } from '../tensor/tensor.js';
import { MAX_GRID, PRELUDE, launch, launchInto } from './kernel.js';
import { sum, sumTo } from './reduce.js';
import { add } from './elementwise.js';
import { matmulMode } from '../runtime.js';
import { F16, castF16Kernel, castF16TKernel, layoutFlags, sgmatKernel } from './sgmat.js';
import { gemmF16x3, gemmF16x3Fits } from './sgmat3.js';
import { expandTo, reshape } from './view.js';

export interface GemmParams {
  M: number;
  N: number;
  K: number;
  batch: number;
  /** Elements between consecutive batch matrices of A and B (0 = shared). */
  strideA: number;
  strideB: number;
  /** A is stored K×M (so C = Aᵀ·B); B is stored N×K. */
  transA: boolean;
  transB: boolean;
  /** The batches this dispatch computes: [batchOffset, batchOffset + batchCount). */
  batchOffset?: number;
  batchCount?: number;
  /** A third input, a row vector of N added to every row of C (Linear's bias). */
  bias?: boolean;
  /** Split K in `splits` ranges of `kChunk` (a multiple of 16): C gets one slice per split. */
  splits?: number;
  kChunk?: number;
  /** The device's workgroup memory (maxComputeWorkgroupStorageSize): whether the wide tiles fit. */
  wgBytes?: number;
  /** One operand gathered from an image batch instead of read from a matrix (conv2d's implicit GEMM). */
  im2col?: Im2colOperand;
  /** Force 4×4 or 8×8 outputs a thread (not the wide tiles), instead of the heuristic. */
  tile?: 4 | 8;
}

/** A one-group convolution's geometry, as conv2d's im2col sees it (columns Kc = C·KH·KW). */
export interface ConvGeo {
  C: number; H: number; W: number; KH: number; KW: number;
  sh: number; sw: number; ph: number; pw: number; dh: number; dw: number;
  OW: number; P: number; Kc: number;
}

/**
 * Operand A (stored M×K, transA false) or B (stored K×N, transB false) as the im2col matrix of an
 * NCHW batch: row i of batch entry z is the pixel row r0 + z·stride + i (r = n·P + oh·OW + ow; the
 * operand's batch stride counts pixel rows), column c = (ci·KH + kh)·KW + kw holds
 * x[n, ci, oh·sh − ph + kh·dh, ow·sw − pw + kw·dw], zero in the padding. The tensor bound is x.
 */
export interface Im2colOperand {
  operand: 'A' | 'B';
  geo: ConvGeo;
  r0: number;
}

/** Writes pixel row r's Kc im2col columns of x (one group) at out[off..]. */
export function im2colRowCpu(x: Float32Array, g: ConvGeo, r: number, out: Float32Array, off: number): void {
  const n = Math.floor(r / g.P), p = r - n * g.P;
  const oh = Math.floor(p / g.OW), ow = p - oh * g.OW;
  let c = off;
  for (let ci = 0; ci < g.C; ci++) {
    for (let kh = 0; kh < g.KH; kh++) {
      const ih = oh * g.sh - g.ph + kh * g.dh;
      for (let kw = 0; kw < g.KW; kw++) {
        const iw = ow * g.sw - g.pw + kw * g.dw;
        out[c++] = ih >= 0 && ih < g.H && iw >= 0 && iw < g.W ? x[((n * g.C + ci) * g.H + ih) * g.W + iw]! : 0;
      }
    }
  }
}

const convGeoKey = (g: ConvGeo): string => [g.C, g.H, g.W, g.KH, g.KW, g.sh, g.sw, g.ph, g.pw, g.dh, g.dw, g.OW, g.P].join(',');

/** Batches per dispatch: the grid's z dimension is capped at 65535. */
const MAX_Z = MAX_GRID;

interface Variant extends GemmParams {
  /** Rows of C per thread (the workgroup tile is 16·rm tall) and columns per thread (16·rn wide). */
  rm: 4 | 8 | 16;
  rn: 4 | 8;
  bk: number;
  /** The k-loop written out, each step's fragments read from workgroup memory a step ahead. */
  unroll: boolean;
  /** Two workgroup tiles: the next slice is stored while this one is read, one barrier a slice. */
  db: boolean;
  /** Each 32-lane subgroup covers 8×4 threads of the 16×16 grid instead of 16×2 (fewer distinct B fragments per load). */
  wl: boolean;
  vecA: boolean;
  vecB: boolean;
  vecC: boolean;
}

function gemmCpu(ins: CpuView[], outs: CpuView[], p: GemmParams): void {
  if (p.im2col) {
    // the gathered operand, materialized for the pixel rows of the batch entries this dispatch
    // computes (entry z at element z·stride·Kc, as a stored operand would be)
    const { operand, geo, r0 } = p.im2col;
    const isA = operand === 'A';
    const stride = isA ? p.strideA : p.strideB, rows = isA ? p.M : p.K;
    const b0 = p.batchOffset ?? 0, b1 = b0 + (p.batchCount ?? p.batch);
    const first = b0 * stride, end = (b1 - 1) * stride + rows;
    const dense = new Float32Array(end * geo.Kc);
    for (let i = first; i < end; i++) im2colRowCpu(ins[isA ? 0 : 1]!.f32, geo, r0 + i, dense, i * geo.Kc);
    const dv: CpuView = { f32: dense, i32: new Int32Array(dense.buffer), u32: new Uint32Array(dense.buffer) };
    const q: GemmParams = { ...p, im2col: undefined, ...(isA ? { strideA: stride * geo.Kc } : { strideB: stride * geo.Kc }) };
    gemmCpu(isA ? [dv, ins[1]!, ...ins.slice(2)] : [ins[0]!, dv, ...ins.slice(2)], outs, q);
    return;
  }
  const A = ins[0]!.f32, B = ins[1]!.f32, C = outs[0]!.f32;
  const bias = p.bias ? ins[2]!.f32 : null;
  const { M, N, K } = p;
  const row = new Float64Array(N);
  const b0 = p.batchOffset ?? 0;
  const S = p.splits ?? 1;
  for (let z = b0 * S; z < (b0 + (p.batchCount ?? p.batch)) * S; z++) {
    const b = Math.floor(z / S), sk = z % S;
    const k0 = S > 1 ? sk * p.kChunk! : 0, k1 = S > 1 ? Math.min(K, k0 + p.kChunk!) : K;
    const ao = b * p.strideA, bo = b * p.strideB, co = z * M * N;
    for (let i = 0; i < M; i++) {
      if (p.transB) {
        for (let j = 0; j < N; j++) {
          let s = 0;
          const bj = bo + j * K;
          if (p.transA) for (let k = k0; k < k1; k++) s += A[ao + k * M + i]! * B[bj + k]!;
          else {
            const ai = ao + i * K;
            for (let k = k0; k < k1; k++) s += A[ai + k]! * B[bj + k]!;
          }
          C[co + i * N + j] = bias ? Math.fround(s) + bias[j]! : s;
        }
      } else {
        row.fill(0);
        for (let k = k0; k < k1; k++) {
          const a = p.transA ? A[ao + k * M + i]! : A[ao + i * K + k]!;
          if (a === 0) continue;
          const bk = bo + k * N;
          for (let j = 0; j < N; j++) row[j]! += a * B[bk + j]!;
        }
        for (let j = 0; j < N; j++) C[co + i * N + j] = bias ? Math.fround(row[j]!) + bias[j]! : row[j]!;
      }
    }
  }
}

/**
 * WGSL for an im2col operand's load: `r` = columns cc..cc+3 of pixel row rr (rows of the matrix the
 * GEMM sees are pixel rows; `base` is the batch entry's first pixel row, uniform word 8 the dispatch's).
 */
function im2colFetch(name: string, g: ConvGeo, base: string, rowE: string, colE: string, rowLim: string, colLim: string): string {
  const KK = g.KH * g.KW;
  return `{ let rr = ${rowE}; let cc = ${colE};
        r = vec4<f32>(0.0);
        if (rr < ${rowLim}) {
          let px = pu(8u) + ${base} + rr;
          let n = px / ${g.P}u; let pp = px - n * ${g.P}u; let oh = pp / ${g.OW}u; let ow = pp - oh * ${g.OW}u;
          let ihb = i32(oh * ${g.sh}u) - ${g.ph}; let iwb = i32(ow * ${g.sw}u) - ${g.pw}; let xb = n * ${g.C}u;
          for (var e = 0u; e < 4u; e++) {
            let c = cc + e;
            let ci = c / ${KK}u; let kk = c - ci * ${KK}u; let kh = kk / ${g.KW}u; let kw = kk - kh * ${g.KW}u;
            let ih = ihb + i32(kh * ${g.dh}u); let iw = iwb + i32(kw * ${g.dw}u);
            if (c < ${colLim} && ih >= 0 && ih < ${g.H} && iw >= 0 && iw < ${g.W}) { r[e] = ${name}[((xb + ci) * ${g.H}u + u32(ih)) * ${g.W}u + u32(iw)]; }
          }
        } }`;
}

function gemmWgsl(v: Variant): string {
  const GM = v.rm / 4, GN = v.rn / 4, TILEM = 16 * v.rm, TILEN = 16 * v.rn, TVM = TILEM / 4, TVN = TILEN / 4, BK = v.bk;
  const LOADSA = Math.max(1, (TILEM * BK) / 4 / 256), LOADSB = Math.max(1, (TILEN * BK) / 4 / 256);
  // A's tile goes to As[k*TVM + m/4] (vec4 over m); B's to Bs[k*TVN + n/4].
  // Each load l (a vec4 of consecutive elements along the stored row) maps to (outer, inner):
  const loadA = v.transA
    ? // stored K×M: rows are k, contiguous along m
      { contiguous: 'm', rowLen: 'M', rows: BK, perRow: TVM }
    : { contiguous: 'k', rowLen: 'K', rows: TILEM, perRow: BK / 4 };
  const loadB = v.transB ? { contiguous: 'k', rowLen: 'K', rows: TILEN, perRow: BK / 4 } : { contiguous: 'n', rowLen: 'N', rows: BK, perRow: TVN };
  const fetch = (name: 'A' | 'B', L: typeof loadA, vec: boolean, base: string, o0: string) => {
    // Returns WGSL computing vec4 `r` for load index l at k-offset k0.
    const isK = L.contiguous === 'k';
    const outerIdx = `(l / ${L.perRow}u)`;
    const innerIdx = `(l % ${L.perRow}u) * 4u`;
    // element (row, col) in stored matrix:
    const rowE = isK ? `${o0} + ${outerIdx}` : `k0 + ${outerIdx}`;
    const colE = isK ? `k0 + ${innerIdx}` : `${o0} + ${innerIdx}`;
    const rowLim = isK ? (name === 'A' ? 'M' : 'N') : 'kEnd';
    const colLim = isK ? 'kEnd' : name === 'A' ? 'M' : 'N';
    if (v.im2col?.operand === name) return im2colFetch(name, v.im2col.geo, base, rowE, colE, rowLim, colLim);
    if (vec) {
      return `{ let rr = ${rowE}; let cc = ${colE};
        if (rr < ${rowLim} && cc < ${colLim}) { r = ${name}[(${base} + rr * ${L.rowLen} + cc) / 4u]; } else { r = vec4<f32>(0.0); } }`;
    }
    return `{ let rr = ${rowE}; let cc = ${colE};
        for (var e = 0u; e < 4u; e++) { if (rr < ${rowLim} && cc + e < ${colLim}) { r[e] = ${name}[${base} + rr * ${L.rowLen} + cc + e]; } } }`;
  };
  const store = (name: 'As' | 'Bs', L: typeof loadA) => {
    const isK = L.contiguous === 'k';
    const TV = name === 'As' ? TVM : TVN;
    if (!isK) return `${name}[(l / ${L.perRow}u) * ${TV}u + (l % ${L.perRow}u)] = r;`;
    // transpose into k-major: element e of r is k = kq*4+e at position (row/4, row%4)
    return `{ let rr = l / ${L.perRow}u; let kq = (l % ${L.perRow}u) * 4u;
        for (var e = 0u; e < 4u; e++) { ${name}[(kq + e) * ${TV}u + rr / 4u][rr % 4u] = r[e]; } }`;
  };
  const aT = v.vecA ? 'vec4<f32>' : 'f32';
  const bT = v.vecB ? 'vec4<f32>' : 'f32';
  const cT = v.vecC ? 'vec4<f32>' : 'f32';
  let storeC = '';
  for (let gi = 0; gi < GM; gi++) {
    for (let e = 0; e < 4; e++) {
      for (let gj = 0; gj < GN; gj++) {
        const accI = (gi * 4 + e) * GN + gj;
        storeC += `  { let m = m0 + ${gi * 64}u + ty * 4u + ${e}u; let n = n0 + ${gj * 64}u + tx * 4u;
    if (m < M) {\n`;
        if (v.vecC) storeC += `      if (n < N) { C[(cBase + m * N + n) / 4u] = acc[${accI}]${v.bias ? ' + Bias[n / 4u]' : ''}; }\n`;
        else storeC += `      for (var q = 0u; q < 4u; q++) { if (n + q < N) { C[cBase + m * N + n + q] = acc[${accI}][q]${v.bias ? ' + Bias[n + q]' : ''}; } }\n`;
        storeC += `    } }\n`;
      }
    }
  }
  const fragOf = (k: number | string, sfx: string, db: boolean) => {
    let f = '';
    for (let g = 0; g < GM; g++) f += `      let a${g}${sfx} = As[${db ? 'roA + ' : ''}${k} * ${TVM}u + ${g * 16}u + ty];\n`;
    for (let g = 0; g < GN; g++) f += `      let b${g}${sfx} = Bs[${db ? 'roB + ' : ''}${k} * ${TVN}u + ${g * 16}u + tx];\n`;
    return f;
  };
  const fmaOf = (sfx: string) => {
    let f = '';
    for (let gi = 0; gi < GM; gi++) {
      for (let e = 0; e < 4; e++) {
        for (let gj = 0; gj < GN; gj++) f += `      acc[${(gi * 4 + e) * GN + gj}] = fma(vec4<f32>(a${gi}${sfx}[${e}]), b${gj}${sfx}, acc[${(gi * 4 + e) * GN + gj}]);\n`;
      }
    }
    return f;
  };
  // (gemmTuning.diag, for bench/gemm-f32.ts only, drops parts of the loop to time the rest, with wrong
  // results: 'noglobal' the global loads; 'nosync' also the tile stores and barriers; 'fma' keeps only
  // the FMAs, on fragments read once before the loop.)
  const diag = gemmTuning.diag;
  // The product of one staged slice: a loop, or written out with step k+1's fragments read
  // before step k's FMAs (registers double-buffered, so the loads' latency hides behind them).
  const compute = (db: boolean) => {
    if (diag === 'fma') return `    {\n${Array.from({ length: BK }, () => fmaOf('_f')).join('')}    }\n`;
    if (!v.unroll) return `    for (var k = 0u; k < ${BK}u; k++) {\n${fragOf('k', '', db)}${fmaOf('')}    }\n`;
    let c = `    {\n${fragOf(0, '_0', db)}`;
    for (let k = 0; k < BK; k++) {
      if (k + 1 < BK) c += fragOf(k + 1, `_${k + 1}`, db);
      c += fmaOf(`_${k}`);
    }
    return c + '    }\n';
  };
  const TSA = BK * TVM, TSB = BK * TVN; // vec4s in one staged slice of A, of B
  const loadsOf = (which: 'A' | 'B') => (which === 'A' ? [LOADSA, (TILEM * BK) / 4] : [LOADSB, (TILEN * BK) / 4]);
  const loadLoop = (which: 'A' | 'B', regs: string) => `
    for (var q = 0u; q < ${loadsOf(which)[0]}u; q++) {
      let l = li + q * 256u;
      var r = vec4<f32>(0.0);
      if (l < ${loadsOf(which)[1]}u) ${which === 'A' ? fetch('A', loadA, v.vecA, 'aBase', 'm0') : fetch('B', loadB, v.vecB, 'bBase', 'n0')}
      ${regs}[q] = r;
    }`;
  const storeLoop = (which: 'A' | 'B', regs: string) => `
    for (var q = 0u; q < ${loadsOf(which)[0]}u; q++) {
      let l = li + q * 256u;
      if (l < ${loadsOf(which)[1]}u) { let r = ${regs}[q]; ${store(which === 'A' ? 'As' : 'Bs', which === 'A' ? loadA : loadB)} }
    }`;
  // With db, the store helpers write at `so* + …` (the slice being filled).
  const storeAt = (code: string) => (v.db ? code.replace(/As\[/g, 'As[soA + ').replace(/Bs\[/g, 'Bs[soB + ') : code);
  // Single-buffered: compute, barrier, store the next slice, barrier. Double-buffered: store the
  // next slice into the other half while this one is read, one barrier a slice.
  const stores = `${storeAt(storeLoop('A', 'ra'))}
      ${storeAt(storeLoop('B', 'rb'))}`;
  const afterCompute = v.db
    ? `    if (more) {
      soA = ((t + 1u) & 1u) * ${TSA}u;
      soB = ((t + 1u) & 1u) * ${TSB}u;
      ${stores}
    }
    workgroupBarrier();`
    : `    workgroupBarrier();
    if (more) {
      ${stores}
    }
    workgroupBarrier();`;
  const mainLoop = `
  ${v.db ? 'var soA = 0u;\n  var soB = 0u;' : ''}
  ${stores}
  workgroupBarrier();
  let tiles = (kEnd - kBeg + ${BK - 1}u) / ${BK}u;
${diag === 'fma' ? fragOf(0, '_f', false) : ''}  for (var t = 0u; t < tiles; t++) {
    k0 = kBeg + (t + 1u) * ${BK}u;
    let more = t + 1u < tiles;
    if (more${diag ? ' && false' : ''}) {
      ${loadLoop('A', 'ra')}
      ${loadLoop('B', 'rb')}
    }
    ${v.db ? `let roA = (t & 1u) * ${TSA}u;\n    let roB = (t & 1u) * ${TSB}u;` : ''}
    ${diag === 'nosync' && !v.db ? 'let roA = (t & 1u) * (pu(7u) >> 16u); let roB = roA; // 0, but opaque: the reads stay in the loop' : ''}
${compute(v.db || diag === 'nosync')}${diag === 'nosync' || diag === 'fma' ? '' : afterCompute}
  }`;
  return `${PRELUDE}
@group(0) @binding(1) var<storage, read> A: array<${aT}>;
@group(0) @binding(2) var<storage, read> B: array<${bT}>;
${v.bias ? `@group(0) @binding(3) var<storage, read> Bias: array<${cT}>;\n` : ''}@group(0) @binding(${v.bias ? 4 : 3}) var<storage, read_write> C: array<${cT}>;
var<workgroup> As: array<vec4<f32>, ${(v.db ? 2 : 1) * TSA}>;
var<workgroup> Bs: array<vec4<f32>, ${(v.db ? 2 : 1) * TSB}>;

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let M = pu(0u); let N = pu(1u); let K = pu(2u);
  // z = batch × splits of K: split sk covers k in [kBeg, kEnd) and writes its own C slice.
  let S = max(pu(7u), 1u);
  let sk = wid.z % S;
  let bz = wid.z / S + pu(5u);
  let kBeg = sk * pu(6u);
  let kEnd = select(K, min(K, kBeg + pu(6u)), pu(7u) > 1u);
  let aBase = bz * pu(3u); let bBase = bz * pu(4u); let cBase = (bz * S + sk) * M * N;
  let m0 = wid.y * ${TILEM}u; let n0 = wid.x * ${TILEN}u;
  ${v.wl ? 'let tx = (li & 7u) | ((li >> 2u) & 8u); let ty = ((li >> 3u) & 3u) | ((li >> 4u) & 12u);' : 'let tx = lid.x; let ty = lid.y;'}
  var acc: array<vec4<f32>, ${v.rm * GN}>;
  for (var i = 0u; i < ${v.rm * GN}u; i++) { acc[i] = vec4<f32>(0.0); }
  var ra: array<vec4<f32>, ${LOADSA}>;
  var rb: array<vec4<f32>, ${LOADSB}>;
  var k0 = kBeg;
  ${loadLoop('A', 'ra')}
  ${loadLoop('B', 'rb')}
${mainLoop}
${storeC}}
`;
}

/**
 * @internal Tuning knobs for benchmarks (bench/ sweeps them). With rm null the heuristic picks
 * the tile (and for wide tiles BK and unroll too); set rm to force a variant with these fields.
 */
export const gemmTuning: { rm: 4 | 8 | 16 | null; rn: 4 | 8 | null; bk: 8 | 16; unroll: boolean; db: boolean; wl: boolean; wide: boolean; wideMin: number; splitTiles: number; splitBytes: number; diag: '' | 'noglobal' | 'nosync' | 'fma' } = {
  rm: null, rn: null, bk: 8, unroll: false, db: false, wl: false, wide: true, wideMin: 1024, splitTiles: 528, splitBytes: 256 * 2 ** 20, diag: '',
};

/** Workgroup memory the wide variant stages: 256×16 of A and 128×16 of B. */
const WIDE_BYTES = (256 + 128) * 16 * 4;

function variant(p: GemmParams): Variant {
  // vec4 loads where rows are whole quads; a forced variant (gemmTuning.rm set) for sweeps and tests.
  const vecA = (p.transA ? p.M : p.K) % 4 === 0 && p.strideA % 4 === 0 && p.im2col?.operand !== 'A';
  const vecB = (p.transB ? p.K : p.N) % 4 === 0 && p.strideB % 4 === 0 && p.im2col?.operand !== 'B';
  const layout = { vecA, vecB, vecC: p.N % 4 === 0 };
  const t = gemmTuning;
  if (t.rm !== null) return { ...p, ...layout, rm: t.rm, rn: t.rn ?? (t.rm === 16 ? 8 : t.rm), bk: t.bk, unroll: t.unroll, db: t.db, wl: t.wl };
  if (p.tile) return { ...p, ...layout, rm: p.tile, rn: p.tile, bk: t.bk, unroll: t.unroll, db: t.db, wl: t.wl };
  // Large products: 256×128 tiles, 16×8 outputs a thread, K-slices of 16, the k-loop written out
  // (on the H200, 8000×16384×16384: 38.6–43.1 TFLOP/s for Aᵀ·B and 35.6–39.2 for A·Bᵀ, against
  // 31–35 and 31–34 for 8×8 — bench/gemm-f32.ts). They need 24 KiB of workgroup memory and a grid of ≥ 2 tiles an SM.
  const tilesWide = Math.ceil(p.M / 256) * Math.ceil(p.N / 128) * p.batch;
  if (t.wide && (p.wgBytes ?? 0) >= WIDE_BYTES && Math.min(p.M, p.N) >= t.wideMin && tilesWide >= 264) {
    return { ...p, ...layout, rm: 16, rn: 8, bk: 16, unroll: true, db: false, wl: false };
  }
  // Big tiles when there are enough of them to fill the device; smaller ones otherwise.
  const tiles128 = Math.ceil(p.M / 128) * Math.ceil(p.N / 128) * p.batch;
  const r = tiles128 >= 256 && Math.min(p.M, p.N) > 64 ? 8 : 4;
  return { ...p, ...layout, rm: r, rn: r, bk: t.bk, unroll: t.unroll, db: t.db, wl: t.wl };
}

export const gemmKernel: Kernel<GemmParams> = {
  name: 'gemm',
  readsOutputs: true, // batch chunks fill part of the output
  key: (p) => {
    const v = variant(p);
    return `${v.transA ? 'T' : 'N'}${v.transB ? 'T' : 'N'}|${v.rm}x${v.rn}|${v.bk}|${+v.unroll}${+v.db}${+v.wl}|${+v.vecA}${+v.vecB}${+v.vecC}${v.bias ? '|b' : ''}${gemmTuning.diag}${v.im2col ? `|i${v.im2col.operand}${convGeoKey(v.im2col.geo)}` : ''}`;
  },
  cpu: gemmCpu,
  wgsl: (p) => gemmWgsl(variant(p)),
  grid: (p) => {
    const v = variant(p);
    return [Math.ceil(p.N / (16 * v.rn)), Math.ceil(p.M / (16 * v.rm)), (p.batchCount ?? p.batch) * (p.splits ?? 1)];
  },
  uniforms: (p, u) => void u.u32(p.M).u32(p.N).u32(p.K).u32(p.strideA).u32(p.strideB).u32(p.batchOffset ?? 0).u32(p.kChunk ?? 0).u32(p.splits ?? 1).u32(p.im2col?.r0 ?? 0),
};

/**
 * Splits of K for Aᵀ·B with a long K and few output tiles (weight gradients: M, N = features,
 * K = batch × time): the K-chunks are contiguous row blocks of both operands, so each split is a
 * batch entry, and a sum over the splits finishes. Returns 1 when it does not pay.
 */
export function gemmSplitK(p: GemmParams): { S: number; kChunk: number } {
  const none = { S: 1, kChunk: 0 };
  if (p.K < 512) return none;
  const tiles = Math.ceil(p.M / 64) * Math.ceil(p.N / 64) * p.batch;
  // Split only a grid too small to give every SM (132 on the H200) a tile: the extra partial
  // sums and dispatches cost more than they win above it (a 4096×256 Linear forward runs 256 tiles).
  if (tiles >= gemmTuning.splitTiles / 4) return none;
  const maxS = Math.min(Math.ceil(gemmTuning.splitTiles / tiles), Math.floor(p.K / 128), Math.floor(gemmTuning.splitBytes / (4 * p.M * p.N * p.batch)), 64);
  if (maxS < 2 || p.batch * maxS > MAX_Z) return none;
  const kChunk = Math.ceil(p.K / maxS / 16) * 16;
  return { S: Math.ceil(p.K / kChunk), kChunk };
}

/** C = op(A)·op(B) for tensors already laid out as GEMM operands (no autograd). */
export function gemm(op: string, a: Tensor, b: Tensor, params: GemmParams, outShape: readonly number[], bias?: Tensor): Tensor {
  if (bias && params.batch !== 1) throw new ShapeError(`${op}: a fused bias needs batch 1, got ${params.batch}`);
  const p: GemmParams = { ...params, wgBytes: a.backend.info.limits.maxComputeWorkgroupStorageSize ?? 0 };
  const { S, kChunk } = gemmSplitK(p);
  // (The f16 kernel stores 16×16 f32 tiles straight into C: Dawn wants C bound ≥ 1 KiB.)
  const mode = matmulMode(a.backend);
  if (S === 1 && p.batch <= MAX_Z && p.M * p.N * p.batch >= 256 && mode === 'fp16') return gemmF16(op, a, b, p, outShape, bias);
  if (mode === 'fp16x3' && !p.im2col && gemmF16x3Fits(p)) {
    const out = gemmF16x3(op, a, b, p, outShape);
    return bias ? addBias(out, bias) : out;
  }
  if (S > 1) {
    // Few output tiles and a long K: each split sums a range of K into its own slice of C.
    const part = launch(op, gemmKernel, [a, b], [p.batch, S, p.M * p.N], 'float32', { ...p, splits: S, kChunk });
    const out = sum(part, 1);
    part.dispose();
    const shaped = out.view_(outShape);
    out.dispose();
    return bias ? addBias(shaped, bias) : shaped;
  }
  if (bias) return launch(op, gemmKernel, [a, b, bias], outShape, 'float32', { ...p, bias: true });
  if (p.batch <= MAX_Z) return launch(op, gemmKernel, [a, b], outShape, 'float32', p);
  const out = Tensor.empty(outShape, 'float32', op, a.backend, [a, b]);
  for (let off = 0; off < p.batch; off += MAX_Z) {
    launchInto(op, gemmKernel, [a, b], [out], { ...p, batchOffset: off, batchCount: Math.min(MAX_Z, p.batch - off) });
  }
  return out;
}

/**
 * The fp16 path: both operands cast to f16, multiplied on subgroup matrices into f32. With
 * F16.layout other than 'native' (one batch, dims multiples of 4) a cast that changes an operand's
 * layout also transposes it.
 */
function gemmF16(op: string, a: Tensor, b: Tensor, p: GemmParams, outShape: readonly number[], bias?: Tensor): Tensor {
  const relayout = F16.layout !== 'native' && p.batch === 1 && !p.im2col && p.M % 4 === 0 && p.N % 4 === 0 && p.K % 4 === 0;
  const f = relayout ? layoutFlags(F16.layout, p.transA, p.transB) : p;
  // stored R×L, transposed when the layout's flag differs from the input's
  const cast = (t: Tensor, R: number, L: number, flip: boolean) => flip
    ? launch(`${op}.cast`, castF16TKernel, [t], [(R * L) / 2], 'int32', { R, L })
    : launch(`${op}.cast`, castF16Kernel, [t], [Math.ceil(t.size / 2)], 'int32', { n: t.size });
  const ah = cast(a, p.transA ? p.K : p.M, p.transA ? p.M : p.K, f.transA !== p.transA);
  const bh = cast(b, p.transB ? p.N : p.K, p.transB ? p.K : p.N, f.transB !== p.transB);
  const out = launch(op, sgmatKernel, [ah, bh], outShape, 'float32', { ...p, transA: f.transA, transB: f.transB });
  ah.dispose();
  bh.dispose();
  return bias ? addBias(out, bias) : out;
}

/** out + bias over the last dim, for the paths that cannot add it in the GEMM's epilogue; consumes out. */
function addBias(out: Tensor, bias: Tensor): Tensor {
  const bd = bias.detach(); // linear() attaches the gradient itself
  const y = add(out, bd);
  bd.dispose();
  out.dispose();
  return y;
}

/** Matrix product with NumPy's rules: 1-D operands are promoted, batch dims broadcast. */
export function matmul(a: Tensor, b: Tensor): Tensor {
  if (!(a instanceof Tensor) || !(b instanceof Tensor)) throw new DTypeError('matmul: expected two Tensors');
  if (a.dtype !== 'float32' || b.dtype !== 'float32') throw new DTypeError(`matmul: expected float32 tensors, got ${a.dtype} and ${b.dtype}`);
  if (a.ndim === 0 || b.ndim === 0) throw new ShapeError(`matmul: both operands need at least 1 dim, got ${fmtShape(a.shape)} and ${fmtShape(b.shape)}`);
  const a2 = a.ndim === 1 ? reshape(a, [1, a.shape[0]!]) : a;
  const b2 = b.ndim === 1 ? reshape(b, [b.shape[0]!, 1]) : b;
  const M = a2.shape[a2.ndim - 2]!, K = a2.shape[a2.ndim - 1]!;
  const K2 = b2.shape[b2.ndim - 2]!, N = b2.shape[b2.ndim - 1]!;
  if (K !== K2) throw new ShapeError(`matmul: inner dims differ: ${fmtShape(a.shape)} @ ${fmtShape(b.shape)} (${K} vs ${K2})`);
  const batchShape = broadcastShapes(a2.shape.slice(0, -2), b2.shape.slice(0, -2), 'matmul');
  const batch = numel(batchShape);
  const prep = (t: Tensor, rows: number, cols: number): [Tensor, number] => {
    const tb = numel(t.shape.slice(0, -2));
    if (tb === batch) return [t, rows * cols];
    if (tb === 1) return [t, 0];
    return [expandTo(t, [...batchShape, rows, cols]), rows * cols];
  };
  const [ea, sa] = prep(a2, M, K);
  const [eb, sb] = prep(b2, K, N);
  let out = gemm('matmul', ea, eb, {
    M, N, K, batch, strideA: sa, strideB: sb, transA: false, transB: false,
  }, [...batchShape, M, N]);
  if (ea !== a2) ea.dispose();
  if (eb !== b2) eb.dispose();
  const finalShape = [...batchShape, ...(a.ndim === 1 ? [] : [M]), ...(b.ndim === 1 ? [] : [N])];
  if (finalShape.length !== out.ndim || a.ndim === 1 || b.ndim === 1) {
    const o2 = out.view_(finalShape);
    out.dispose();
    out = o2;
  }
  if (needsGrad(a, b)) {
    const aShape = a.shape, bShape = b.shape;
    const a2Shape = a2.shape, b2Shape = b2.shape;
    attach(out, 'matmul', [a, b], (g, s, need) => {
      const [needA, needB] = need;
      const G = reshape(g, [...batchShape, M, N]);
      const gA = needA ? reshape(sumTo(matmulT(G, reshape(s[1]!, b2Shape), false, true, batchShape), a2Shape), aShape) : null;
      const gB = needB ? reshape(sumTo(matmulT(reshape(s[0]!, a2Shape), G, true, false, batchShape), b2Shape), bShape) : null;
      return [gA, gB];
    }, [a, b]);
  }
  return out;
}

/** op(x)·op(y) over broadcast batch dims, for the backward pass (x, y have ≥ 2 dims). */
function matmulT(x: Tensor, y: Tensor, transA: boolean, transB: boolean, batchShape: number[]): Tensor {
  const xr = x.shape[x.ndim - 2]!, xc = x.shape[x.ndim - 1]!;
  const yr = y.shape[y.ndim - 2]!, yc = y.shape[y.ndim - 1]!;
  const M = transA ? xc : xr, K = transA ? xr : xc, N = transB ? yr : yc;
  const batch = numel(batchShape);
  const prep = (t: Tensor, rows: number, cols: number): [Tensor, number] => {
    const tb = numel(t.shape.slice(0, -2));
    if (tb === batch) return [t, rows * cols];
    if (tb === 1) return [t, 0];
    return [expandTo(t, [...batchShape, rows, cols]), rows * cols];
  };
  const [ex, sx] = prep(x, xr, xc);
  const [ey, sy] = prep(y, yr, yc);
  const out = gemm('matmul.backward', ex, ey, { M, N, K, batch, strideA: sx, strideB: sy, transA, transB }, [...batchShape, M, N]);
  if (ex !== x) ex.dispose();
  if (ey !== y) ey.dispose();
  return out;
}
