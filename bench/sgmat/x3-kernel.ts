// fp32 products from f16 tensor cores: three f16 products per element pair (hi·hi + hi·lo + lo·hi,
// the scheme of CUTLASS's 3xTF32), split inside the GEMM. Each workgroup reads its f32 operand
// slices once, scales every row of op(A) and every column of op(B) by a power of two that puts its
// largest |v| in [2¹³, 2¹⁴) (so hi and lo stay in f16's normal range), splits each value into
// hi = v with its mantissa cut to 11 bits (exact in f16) and lo = v − hi rounded to f16 (together
// good to 2⁻²² of |v|), and stages both halves in workgroup memory. The tensor cores accumulate in
// f32 with truncation (Fasi et al., PeerJ CS 7:e330, 2021): the error of one long accumulation
// chain grows with K and leans toward zero, so K is cut into chunks of `chunk` elements, each
// accumulated from zero and added to C in f32 (round to nearest) after undoing the scales.
//
// Bindings: 1 A, 2 B (f32, read as vec4<f32>: stored row lengths multiples of 4), 3 MA (M words:
// max |row| of op(A), as f32 bits), 4 MB (N words: max |column| of op(B)), 5 C (f32, M×N).
// Uniforms: M, N, K, chunk (a multiple of tileK).
//
// A bench-only experiment (bench/sgmat/x3.ts; the library does not use it): exact to 2.5e-7 of
// Σ|a·b| and, with chunks of 512, as accurate as grilly's fp32 GEMM, but on the H200 no faster than
// it (BENCHMARKS.md, "three f16 products, split inside the GEMM").
import type { Kernel } from '../../src/backend/types.js';
import { PRELUDE, launch, launchInto } from '../../src/ops/kernel.js';
import { fillInto } from '../../src/ops/elementwise.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { UP_EXP, absMaxKernel } from '../../src/ops/sgmat3.js';

export interface Sgmat3Opts {
  transA: boolean;
  transB: boolean;
  tileM: number;
  tileN: number;
  /** K-slice staged per step (a multiple of 16). */
  tileK: number;
  sgM: number;
  sgN: number;
  /** Padding of each staged row in f16 (a multiple of 8 keeps rows 16-byte aligned). Default 8. */
  pad?: number;
  /** Workgroup-memory budget in bytes. Default 49152. */
  maxWorkgroupStorage?: number;
}

const SG = 32; // subgroup size (NVIDIA)
const MM = 16; // f16 16×16×16 subgroup matrices

function resolve(o: Sgmat3Opts) {
  const pad = o.pad ?? 8;
  const fail = (m: string): never => { throw new Error(`sgmat3Wgsl: ${m} (${JSON.stringify(o)})`); };
  const nsg = o.sgM * o.sgN;
  const wsM = o.tileM / o.sgM, wsN = o.tileN / o.sgN;
  const tm = wsM / MM, tn = wsN / MM;
  if (!Number.isInteger(tm) || !Number.isInteger(tn) || tm < 1 || tn < 1) fail('tileM/tileN must split into sgM×sgN subgroups of whole 16×16 tiles');
  if (o.tileK % MM !== 0) fail('tileK must be a multiple of 16');
  if (pad % 8 !== 0) fail('pad must be a multiple of 8');
  const ldA = (o.transA ? o.tileM : o.tileK) + pad;
  const ldB = (o.transB ? o.tileK : o.tileN) + pad;
  const aRows = o.transA ? o.tileK : o.tileM;
  const bRows = o.transB ? o.tileN : o.tileK;
  const aSize = aRows * ldA, bSize = bRows * ldB;
  // one u32 array: the four staged halves, reused by the epilogue for the 16×16 f32 results
  const words = Math.max(aSize + bSize, nsg * MM * MM);
  const bytes = 4 * words + 4 * (o.tileM + o.tileN);
  if (bytes > (o.maxWorkgroupStorage ?? 49152)) fail(`needs ${bytes} bytes of workgroup memory (> ${o.maxWorkgroupStorage ?? 49152})`);
  return { ...o, pad, words, nsg, wgSize: nsg * SG, wsM, wsN, tm, tn, ldA, ldB, aRows, bRows, aSize, bSize, bytes };
}

export function sgmat3WorkgroupBytes(o: Sgmat3Opts): number {
  return resolve(o).bytes;
}

export function sgmat3Grid(o: Sgmat3Opts, M: number, N: number): [number, number, number] {
  return [Math.ceil(N / o.tileN), Math.ceil(M / o.tileM), 1];
}

export function sgmat3Wgsl(opts: Sgmat3Opts): string {
  const r = resolve(opts);
  const { tm, tn } = r;
  const left = `subgroup_matrix_left<f16, ${MM}, ${MM}>`;
  const right = `subgroup_matrix_right<f16, ${MM}, ${MM}>`;
  const result = `subgroup_matrix_result<f32, ${MM}, ${MM}>`;
  // Staged halves in Sm (offsets in f16): Ah at 0, Al at aSize, Bh at 2·aSize, Bl at 2·aSize + bSize.
  const base = { Ah: 0, Al: r.aSize, Bh: 2 * r.aSize, Bl: 2 * r.aSize + r.bSize } as const;
  const load = (arr: keyof typeof base, off: string, colMajor: boolean, stride: number) =>
    `subgroupMatrixLoad<${arr.startsWith('A') ? left : right}, ${colMajor ? 'col_major' : 'row_major'}>(&Sm, (${base[arr]}u + ${off}) / 2u, ${stride / 2}u)`;

  // Staging in units of 4 f32 (one vec4<f32> load, one vec4<f16> store per half).
  interface Side {
    name: 'A' | 'B'; rows: number; perRow: number; ld: number; rowLim: string; colLim: string; rowLen: string;
    row0: string; col0: string;
    /** The scale of a unit: along its stored row (one value) or across it (four values). */
    scaleAlongRow: boolean; sc: string; scBase: string;
  }
  const A: Side = r.transA
    ? { name: 'A', rows: r.tileK, perRow: r.tileM / 4, ld: r.ldA, rowLim: 'K', colLim: 'M', rowLen: 'M', row0: 'k0', col0: 'm0', scaleAlongRow: false, sc: 'Ea', scBase: 'm0' }
    : { name: 'A', rows: r.tileM, perRow: r.tileK / 4, ld: r.ldA, rowLim: 'M', colLim: 'K', rowLen: 'K', row0: 'm0', col0: 'k0', scaleAlongRow: true, sc: 'Ea', scBase: 'm0' };
  const B: Side = r.transB
    ? { name: 'B', rows: r.tileN, perRow: r.tileK / 4, ld: r.ldB, rowLim: 'N', colLim: 'K', rowLen: 'K', row0: 'n0', col0: 'k0', scaleAlongRow: true, sc: 'Eb', scBase: 'n0' }
    : { name: 'B', rows: r.tileK, perRow: r.tileN / 4, ld: r.ldB, rowLim: 'K', colLim: 'N', rowLen: 'N', row0: 'k0', col0: 'n0', scaleAlongRow: false, sc: 'Eb', scBase: 'n0' };
  const units = (s: Side) => s.rows * s.perRow;
  const loads = (s: Side) => Math.ceil(units(s) / r.wgSize);
  const guard = (s: Side, q: number) => q * r.wgSize + r.wgSize > units(s);
  const fetch = (s: Side, q: number) => `{
      let l = li + ${q * r.wgSize}u;
      let rr = ${s.row0} + l / ${s.perRow}u;
      let cc = ${s.col0} + (l % ${s.perRow}u) * 4u;
      var u = vec4<f32>(0.0);
      if (rr < ${s.rowLim} && cc < ${s.colLim}${guard(s, q) ? ` && l < ${units(s)}u` : ''}) { u = ${s.name}[(rr * ${s.rowLen} + cc) >> 2u]; }
      r${s.name}${q} = u;
    }`;
  // Scaled, split, stored: the staged element index is the unit's row × ld + column (in f16).
  const put = (s: Side, q: number) => {
    const scale = s.scaleAlongRow
      ? `vec4<i32>(${s.sc}[l / ${s.perRow}u])`
      : `vec4<i32>(${s.sc}[(l % ${s.perRow}u) * 4u], ${s.sc}[(l % ${s.perRow}u) * 4u + 1u], ${s.sc}[(l % ${s.perRow}u) * 4u + 2u], ${s.sc}[(l % ${s.perRow}u) * 4u + 3u])`;
    return `{ let l = li + ${q * r.wgSize}u;${guard(s, q) ? ` if (l < ${units(s)}u)` : ''} {
      let v = ldexp(r${s.name}${q}, ${scale});
      let hv = bitcast<vec4<f32>>(bitcast<vec4<u32>>(v) & vec4<u32>(0xffffe000u));
      let e = ((l / ${s.perRow}u) * ${s.ld}u + (l % ${s.perRow}u) * 4u) >> 1u;
      let h = bitcast<vec2<u32>>(vec4<f16>(hv));
      let o = bitcast<vec2<u32>>(vec4<f16>(v - hv));
      Sm[${base[`${s.name}h` as keyof typeof base] / 2}u + e] = h.x; Sm[${base[`${s.name}h` as keyof typeof base] / 2}u + e + 1u] = h.y;
      Sm[${base[`${s.name}l` as keyof typeof base] / 2}u + e] = o.x; Sm[${base[`${s.name}l` as keyof typeof base] / 2}u + e + 1u] = o.y;
    } }`;
  };
  const nA = loads(A), nB = loads(B);
  const regs = [...Array(nA).keys()].map((q) => `var rA${q}: vec4<f32>;`).concat([...Array(nB).keys()].map((q) => `var rB${q}: vec4<f32>;`)).join(' ');
  const fetchAll = [...Array(nA).keys()].map((q) => fetch(A, q)).concat([...Array(nB).keys()].map((q) => fetch(B, q))).join('\n    ');
  const putAll = [...Array(nA).keys()].map((q) => put(A, q)).concat([...Array(nB).keys()].map((q) => put(B, q))).join('\n    ');

  const aOff = (i: number, kk: number) => r.transA
    ? `${kk * MM * r.ldA}u + wm + ${i * MM}u` // [k][m]: col-major left
    : `(wm + ${i * MM}u) * ${r.ldA}u + ${kk * MM}u`; // [m][k]: row-major left
  const bOff = (j: number, kk: number) => r.transB
    ? `(wn + ${j * MM}u) * ${r.ldB}u + ${kk * MM}u` // [n][k]: col-major right
    : `${kk * MM * r.ldB}u + wn + ${j * MM}u`; // [k][n]: row-major right
  let compute = '';
  for (let kk = 0; kk < r.tileK / MM; kk++) {
    for (let i = 0; i < tm; i++) {
      compute += `      let ah${kk}_${i} = ${load('Ah', aOff(i, kk), r.transA, r.ldA)};\n`;
      compute += `      let al${kk}_${i} = ${load('Al', aOff(i, kk), r.transA, r.ldA)};\n`;
    }
    for (let j = 0; j < tn; j++) {
      compute += `      let bh${kk}_${j} = ${load('Bh', bOff(j, kk), r.transB, r.ldB)};\n`;
      compute += `      let bl${kk}_${j} = ${load('Bl', bOff(j, kk), r.transB, r.ldB)};\n`;
    }
    // the small products first: they are truncated against a smaller running sum
    for (let i = 0; i < tm; i++) for (let j = 0; j < tn; j++) {
      compute += `      c${i}_${j} = subgroupMatrixMultiplyAccumulate(al${kk}_${i}, bh${kk}_${j}, c${i}_${j});\n`;
      compute += `      c${i}_${j} = subgroupMatrixMultiplyAccumulate(ah${kk}_${i}, bl${kk}_${j}, c${i}_${j});\n`;
      compute += `      c${i}_${j} = subgroupMatrixMultiplyAccumulate(ah${kk}_${i}, bh${kk}_${j}, c${i}_${j});\n`;
    }
  }
  let zero = '';
  let decl = '';
  let epi = '';
  const S = MM * MM;
  for (let i = 0; i < tm; i++) for (let j = 0; j < tn; j++) {
    decl += `  var c${i}_${j}: ${result};\n`;
    zero += `    c${i}_${j} = ${result}();\n`;
    epi += `    subgroupMatrixStore<row_major>(&Sm, sg * ${S}u, c${i}_${j}, ${MM}u);
    workgroupBarrier();
    for (var e = li; e < ${r.nsg * S}u; e += ${r.wgSize}u) {
      let s = e / ${S}u; let w = e % ${S}u;
      let ml = (s / ${r.sgN}u) * ${r.wsM}u + ${i * MM}u + w / ${MM}u;
      let nl = (s % ${r.sgN}u) * ${r.wsN}u + ${j * MM}u + w % ${MM}u;
      let m = m0 + ml; let n = n0 + nl;
      if (m < M && n < N) {
        let v = ldexp(bitcast<f32>(Sm[e]), -(Ea[ml] + Eb[nl]));
        C[m * N + n] = select(C[m * N + n] + v, v, first);
      }
    }
    workgroupBarrier();\n`;
  }
  return `enable f16;
enable chromium_experimental_subgroup_matrix;
// sgmat3 fp32-from-3×f16 gemm ${r.transA ? 'T' : 'N'}${r.transB ? 'T' : 'N'} tile ${r.tileM}x${r.tileN}x${r.tileK}, ${r.sgM}x${r.sgN} subgroups of ${tm}x${tn} tiles, ${r.bytes} B
${PRELUDE}
@group(0) @binding(1) var<storage, read> A: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> B: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> MA: array<f32>;
@group(0) @binding(4) var<storage, read> MB: array<f32>;
@group(0) @binding(5) var<storage, read_write> C: array<f32>;
var<workgroup> Sm: array<u32, ${r.words}>;
var<workgroup> Ea: array<i32, ${r.tileM}>; // scale exponents of the tile's rows of op(A)
var<workgroup> Eb: array<i32, ${r.tileN}>; // … and columns of op(B)

${UP_EXP}

@compute @workgroup_size(${r.wgSize})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32, @builtin(subgroup_id) sg: u32) {
  let M = pu(0u); let N = pu(1u); let K = pu(2u); let chunk = pu(3u);
  let m0 = wid.y * ${r.tileM}u; let n0 = wid.x * ${r.tileN}u;
  let wm = (sg / ${r.sgN}u) * ${r.wsM}u;
  let wn = (sg % ${r.sgN}u) * ${r.wsN}u;
  for (var i = li; i < ${r.tileM}u; i += ${r.wgSize}u) {
    Ea[i] = select(0, upExp(MA[min(m0 + i, M - 1u)]), m0 + i < M);
  }
  for (var i = li; i < ${r.tileN}u; i += ${r.wgSize}u) {
    Eb[i] = select(0, upExp(MB[min(n0 + i, N - 1u)]), n0 + i < N);
  }
  workgroupBarrier();
${decl}  ${regs}
  let tiles = (K + ${r.tileK - 1}u) / ${r.tileK}u;
  let perChunk = max(chunk / ${r.tileK}u, 1u);
  var k0 = 0u;
  ${fetchAll}
  var t = 0u;
  var first = true;
  loop {
    let tEnd = min(tiles, t + perChunk);
${zero}    for (; t < tEnd; t++) {
    ${putAll}
    workgroupBarrier();
    if (t + 1u < tiles) {
    k0 = (t + 1u) * ${r.tileK}u;
    ${fetchAll}
    }
${compute}    workgroupBarrier();
    }
${epi}    first = false;
    if (t >= tiles) { break; }
  }
}
`;
}

export interface Sgmat3Params {
  M: number;
  N: number;
  K: number;
  transA: boolean;
  transB: boolean;
  /** K elements per accumulation chunk (rounded up to a multiple of tileK). */
  chunk: number;
}

/** The fastest tile measured (bench/sgmat/x3.ts): 4×4 subgroups of 2×4 result tiles each. */
export const SGMAT3_TILE: Omit<Sgmat3Opts, 'transA' | 'transB'> = { tileM: 128, tileN: 256, tileK: 16, sgM: 4, sgN: 4 };

export function sgmat3Kernel(tile: Omit<Sgmat3Opts, 'transA' | 'transB'> = SGMAT3_TILE): Kernel<Sgmat3Params> {
  return {
    name: 'gemm.f16x3',
    key: (p) => `${p.transA ? 'T' : 'N'}${p.transB ? 'T' : 'N'}|${tile.tileM}x${tile.tileN}x${tile.tileK}/${tile.sgM}x${tile.sgN}/${tile.pad ?? 8}`,
    readsOutputs: true,
    cpu: () => { throw new Error('gemm.f16x3: the cpu backend has no subgroup matrices'); },
    wgsl: (p) => sgmat3Wgsl({ ...tile, transA: p.transA, transB: p.transB }),
    grid: (p) => sgmat3Grid({ ...tile, transA: p.transA, transB: p.transB }, p.M, p.N),
    uniforms: (p, u) => void u.u32(p.M).u32(p.N).u32(p.K).u32(Math.ceil(p.chunk / tile.tileK) * tile.tileK),
  };
}


/** Whether the f32 operands suit gemmF16x3 (vec4 rows, one batch). */
export function gemmF16x3Fits(p: { M: number; N: number; K: number; batch: number; transA: boolean; transB: boolean }): boolean {
  return p.batch === 1 && (p.transA ? p.M : p.K) % 4 === 0 && (p.transB ? p.K : p.N) % 4 === 0 && p.M * p.N > 0 && p.K > 0;
}

/** Default accumulation chunk (K elements): 512 matches the fp32 GEMM's error (bench/sgmat/x3.ts). */
export const F16X3_CHUNK = { value: 512 };

/** C (f32, M×N) = op(A)·op(B) from three f16 products per pair (see the top of this file). */
export function gemmF16x3(op: string, a: Tensor, b: Tensor, p: { M: number; N: number; K: number; transA: boolean; transB: boolean }, outShape: readonly number[], chunk = F16X3_CHUNK.value, tile = SGMAT3_TILE): Tensor {
  const { M, N, K, transA, transB } = p;
  const zeroed = (n: number) => {
    const t = Tensor.empty([n], 'int32', op, a.backend, [a, b]);
    fillInto(t, 0, op);
    return t;
  };
  const ma = zeroed(M), mb = zeroed(N);
  launchInto(op, absMaxKernel, [a], [ma], transA ? { R: K, L: M, rows: false } : { R: M, L: K, rows: true });
  launchInto(op, absMaxKernel, [b], [mb], transB ? { R: N, L: K, rows: true } : { R: K, L: N, rows: false });
  const out = launch(op, sgmat3Kernel(tile), [a, b, ma, mb], outShape, 'float32', { M, N, K, transA, transB, chunk });
  ma.dispose();
  mb.dispose();
  return out;
}
