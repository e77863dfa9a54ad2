// Reduced-precision matmul (grilly.setMatmulPrecision('fp16')): f16 inputs, f32 accumulation on
// tensor cores through Dawn's experimental subgroup matrices (chromium-experimental-subgroup-matrix,
// Vulkan cooperative matrices on NVIDIA). The operands are cast to f16 (packed two per u32 word)
// by one kernel each, then a GEMM whose subgroups each multiply-accumulate a block of 16×16 result
// tiles from K-slices staged in workgroup memory (big tiles: one buffer, the next slice prefetched
// into registers; small tiles: two buffers). Where the adapter lacks the feature (lavapipe, most
// browsers today), matmuls stay fp32 and setMatmulPrecision says so. The generator also writes
// i8 → i32 GEMMs (exact integer products), which only bench/sgmat/gemm-rate.ts uses.
//
// WGSL surface (Dawn/Tint of the webgpu npm package 0.6.2):
//   subgroup_matrix_left<f16, K, M>, subgroup_matrix_right<f16, N, K>, subgroup_matrix_result<f32, N, M>
//   (template arguments are columns, rows); subgroupMatrixLoad<T, row_major|col_major>(&arr, offset,
//   stride); subgroupMatrixStore<…>(&arr, offset, value, stride); subgroupMatrixMultiplyAccumulate.
// The matrix builtins need subgroup-uniform control flow and arguments: per-subgroup offsets come
// from @builtin(subgroup_id).
import type { Kernel } from '../backend/types.js';
import type { GemmParams } from './matmul.js';
import { PRELUDE, bindings, grid1d, main1d } from './kernel.js';

export type SmemType = 'f16' | 'vec4<f16>' | 'vec4<u32>' | 'u32';

export interface SgmatOpts {
  /**
   * Operand element type: 'f16' (f32 accumulation) or 'i8' (signed bytes packed four per u32,
   * exact i32 accumulation; C is array<i32>). Default 'f16'.
   */
  elem?: 'f16' | 'i8';
  transA: boolean;
  transB: boolean;
  /** Workgroup tile of C (rows × columns). */
  tileM: number;
  tileN: number;
  /** K-slice staged in workgroup memory per step (multiple of mmaK and of 8). Default 32. */
  tileK?: number;
  /** Subgroups along M and N (workgroup = sgM·sgN subgroups). Default 2 × 4. */
  sgM?: number;
  sgN?: number;
  /** Subgroup size the kernel is laid out for (NVIDIA: 32). */
  subgroupSize?: number;
  /** Subgroup-matrix shape (must be a config of the element type in adapter.info.subgroupMatrixConfigs). */
  mmaM?: number;
  mmaN?: number;
  mmaK?: number;
  /**
   * f16 elements per global load of A / B: 8 (vec4<u32>), 4 (vec2<u32>), 2 (u32) or 1 (f16).
   * Needs the stored row length (K for A, M for Aᵀ, N for B, K for Bᵀ) and the batch stride to be
   * multiples of it; sgmatVec picks the widest that fits. Default 8.
   */
  vecA?: 1 | 2 | 4 | 8 | 16;
  vecB?: 1 | 2 | 4 | 8 | 16;
  /** Element type of the workgroup staging arrays (the matrix loads read them). Default vec4<f16> (i8: vec4<u32>). */
  smem?: SmemType;
  /** Elements of padding per staged row (a multiple of 16 bytes keeps rows aligned). Default 8 f16 (i8: 16). */
  pad?: number;
  /** Two staging buffers (one barrier per K step) instead of one (two barriers). Default true. */
  doubleBuffer?: boolean;
  /**
   * With one staging buffer: fetch the next slice from global memory into registers before the
   * multiply-accumulates on the current one (its latency hides behind them). Default false.
   */
  prefetch?: boolean;
  /**
   * Diagnostics for bench/sgmat/gemm-rate.ts (wrong results): 'compute' runs only the matrix loads
   * and multiply-accumulates in the K loop; with prefetch, 'nofetch' drops the global loads,
   * 'noput' the stores to workgroup memory (the loads stay live), 'nobar' the barriers.
   */
  diag?: '' | 'compute' | 'nofetch' | 'noput' | 'nobar';
  /** Group-M tile swizzle (rows of workgroup tiles per group; 0 = plain raster order). Default 0. */
  swizzle?: number;
  /** Builtin spelling: 'template' (current) or 'bool' (deprecated col_major argument). */
  syntax?: 'template' | 'bool';
  /** Workgroup-memory budget in bytes (throws when exceeded). Default 49152. */
  maxWorkgroupStorage?: number;
}

interface Resolved extends Required<SgmatOpts> {
  nsg: number;
  wgSize: number;
  tm: number; // result tiles per subgroup along M
  tn: number; // … along N
  wsM: number; // rows of C per subgroup
  wsN: number;
  ldA: number; // staged row length of the A slice in f16 (incl. padding)
  ldB: number;
  aRows: number; // staged rows of the A slice
  bRows: number;
  aSize: number; // operand elements of one A staging buffer
  bSize: number;
  V: number; // operand elements per smem element
  E: number; // operand elements per 16-byte unit (8 f16, 16 i8)
  bytes: number;
}

function resolve(o: SgmatOpts): Resolved {
  const i8 = o.elem === 'i8';
  const r = {
    elem: 'f16', tileK: i8 ? 64 : 32, sgM: 2, sgN: 4, subgroupSize: 32, mmaM: 16, mmaN: 16, mmaK: i8 ? 32 : 16,
    vecA: i8 ? 16 : 8, vecB: i8 ? 16 : 8, smem: i8 ? 'vec4<u32>' : 'vec4<f16>', pad: i8 ? 16 : 8,
    doubleBuffer: true, prefetch: false, diag: '', swizzle: 0, syntax: 'template', maxWorkgroupStorage: 49152,
    ...o,
  } as Required<SgmatOpts>;
  const fail = (m: string): never => { throw new Error(`sgmatGemmWgsl: ${m} (${JSON.stringify(o)})`); };
  const E = i8 ? 16 : 8;
  const V = i8 ? (r.smem === 'u32' ? 4 : r.smem === 'vec4<u32>' ? 16 : fail("i8 needs smem 'vec4<u32>' or 'u32'"))
    : r.smem === 'f16' ? 1 : r.smem === 'vec4<f16>' ? 4 : r.smem === 'vec4<u32>' ? 8 : fail("f16 needs smem 'f16', 'vec4<f16>' or 'vec4<u32>'");
  if (i8 && (r.vecA !== 16 || r.vecB !== 16)) fail('i8 operands need rows (and batch strides) in multiples of 16 bytes (vec 16)');
  if (!i8 && (r.vecA > 8 || r.vecB > 8)) fail('f16 loads are at most 8 elements (vec 8)');
  if (r.syntax === 'bool' && r.smem !== 'f16') fail("syntax 'bool' needs smem 'f16'");
  const nsg = r.sgM * r.sgN;
  const wsM = r.tileM / r.sgM, wsN = r.tileN / r.sgN;
  const tm = wsM / r.mmaM, tn = wsN / r.mmaN;
  if (!Number.isInteger(tm) || !Number.isInteger(tn) || tm < 1 || tn < 1) fail('tileM/tileN must split into sgM×sgN subgroups of whole mma tiles');
  if (r.tileK % r.mmaK !== 0 || r.tileK % E !== 0) fail(`tileK must be a multiple of mmaK and of ${E}`);
  if (r.pad % E !== 0) fail(`pad must be a multiple of ${E}`);
  // Staged layouts copy global memory without transposing: the contiguous dimension stays
  // contiguous in workgroup memory and the matrix loads pick row/column-major to match.
  //   A:  [m][k] (ld = tileK+pad)  or, transA, [k][m] (ld = tileM+pad)
  //   B:  [k][n] (ld = tileN+pad)  or, transB, [n][k] (ld = tileK+pad)
  const ldA = (r.transA ? r.tileM : r.tileK) + r.pad;
  const ldB = (r.transB ? r.tileK : r.tileN) + r.pad;
  const aRows = r.transA ? r.tileK : r.tileM;
  const bRows = r.transB ? r.tileN : r.tileK;
  if ((r.transA ? r.tileM : r.tileK) % E !== 0 || (r.transB ? r.tileK : r.tileN) % E !== 0) fail(`staged rows must be multiples of ${E} elements (16 bytes)`);
  if (r.doubleBuffer && r.prefetch) fail('prefetch is for one staging buffer (double buffering always prefetches)');
  if (r.diag !== '' && r.diag !== 'compute' && !r.prefetch) fail(`diag '${r.diag}' needs prefetch`);
  const aSize = aRows * ldA, bSize = bRows * ldB;
  const nbuf = r.doubleBuffer ? 2 : 1;
  const bytes = nbuf * (aSize + bSize) * (i8 ? 1 : 2) + nsg * r.mmaM * r.mmaN * 4;
  if (bytes > r.maxWorkgroupStorage) fail(`needs ${bytes} bytes of workgroup memory (> ${r.maxWorkgroupStorage})`);
  return { ...r, nsg, wgSize: nsg * r.subgroupSize, tm, tn, wsM, wsN, ldA, ldB, aRows, bRows, aSize, bSize, V, E, bytes };
}

/** Workgroup-memory bytes the variant uses (staging buffers + epilogue scratch). */
export function sgmatWorkgroupBytes(o: SgmatOpts): number {
  return resolve(o).bytes;
}

/** Invocations per workgroup. */
export function sgmatWorkgroupSize(o: SgmatOpts): number {
  return resolve(o).wgSize;
}

/** Dispatch size for C = M×N over `batch` matrices. */
export function sgmatGrid(o: SgmatOpts, M: number, N: number, batch = 1): [number, number, number] {
  return [Math.ceil(N / o.tileN), Math.ceil(M / o.tileM), batch];
}

/** Widest global load (in f16) that the stored row length and batch stride allow. */
export function sgmatVec(rowLen: number, batchStride: number): 1 | 2 | 4 | 8 {
  for (const v of [8, 4, 2] as const) if (rowLen % v === 0 && batchStride % v === 0) return v;
  return 1;
}

const GTYPE: Record<number, string> = { 16: 'vec4<u32>', 8: 'vec4<u32>', 4: 'vec2<u32>', 2: 'u32', 1: 'f16' };

export function sgmatGemmWgsl(opts: SgmatOpts): string {
  const r = resolve(opts);
  const { tm, tn, V, E } = r;
  const i8 = r.elem === 'i8';
  const L = r.syntax === 'template';
  const ct = i8 ? 'i8' : 'f16', rt = i8 ? 'i32' : 'f32';
  const left = `subgroup_matrix_left<${ct}, ${r.mmaK}, ${r.mmaM}>`;
  const right = `subgroup_matrix_right<${ct}, ${r.mmaN}, ${r.mmaK}>`;
  const result = `subgroup_matrix_result<${rt}, ${r.mmaN}, ${r.mmaM}>`;
  const lgE = Math.log2(E);
  const load = (ty: string, arr: string, off: string, colMajor: boolean, stride: string) =>
    L ? `subgroupMatrixLoad<${ty}, ${colMajor ? 'col_major' : 'row_major'}>(&${arr}, ${off}, ${stride})`
      : `subgroupMatrixLoad<${ty}>(&${arr}, ${off}, ${colMajor}, ${stride})`;
  const store = (arr: string, off: string, val: string, colMajor: boolean, stride: string) =>
    L ? `subgroupMatrixStore<${colMajor ? 'col_major' : 'row_major'}>(&${arr}, ${off}, ${val}, ${stride})`
      : `subgroupMatrixStore(&${arr}, ${off}, ${val}, ${colMajor}, ${stride})`;
  const nbuf = r.doubleBuffer ? 2 : 1;

  // ---- global → registers → workgroup memory, in units of 16 bytes (8 f16 or 16 i8: one vec4<u32>) ----
  interface Side {
    name: 'A' | 'B';
    smem: string;
    G: number; // elements per global load
    rows: number; // staged rows
    perRow: number; // 16-byte units per staged row
    ld: number;
    size: number;
    rowLim: string; // bound of the stored row index
    colLim: string; // bound of the contiguous index (= stored row length)
    rowLen: string;
    row0: string; // first stored row of the slice
    col0: string; // first contiguous index of the slice
    base: string;
  }
  const sideA: Side = r.transA
    ? { name: 'A', smem: 'As', G: r.vecA, rows: r.tileK, perRow: r.tileM / E, ld: r.ldA, size: r.aSize, rowLim: 'K', colLim: 'M', rowLen: 'M', row0: 'k0', col0: 'm0', base: 'aBase' }
    : { name: 'A', smem: 'As', G: r.vecA, rows: r.tileM, perRow: r.tileK / E, ld: r.ldA, size: r.aSize, rowLim: 'M', colLim: 'K', rowLen: 'K', row0: 'm0', col0: 'k0', base: 'aBase' };
  const sideB: Side = r.transB
    ? { name: 'B', smem: 'Bs', G: r.vecB, rows: r.tileN, perRow: r.tileK / E, ld: r.ldB, size: r.bSize, rowLim: 'N', colLim: 'K', rowLen: 'K', row0: 'n0', col0: 'k0', base: 'bBase' }
    : { name: 'B', smem: 'Bs', G: r.vecB, rows: r.tileK, perRow: r.tileN / E, ld: r.ldB, size: r.bSize, rowLim: 'K', colLim: 'N', rowLen: 'N', row0: 'k0', col0: 'n0', base: 'bBase' };
  const unitsOf = (s: Side) => s.rows * s.perRow;
  const loadsOf = (s: Side) => Math.ceil(unitsOf(s) / r.wgSize);

  /** WGSL statements computing `reg` (vec4<u32>) = unit q of this thread for the slice at k0. */
  const fetch = (s: Side, q: number, reg: string): string => {
    const units = unitsOf(s);
    const guardUnit = q * r.wgSize + r.wgSize > units;
    let body = `{
      let l = li + ${q * r.wgSize}u;
      let rr = ${s.row0} + l / ${s.perRow}u;
      let cc = ${s.col0} + (l % ${s.perRow}u) * ${E}u;
      let o = ${s.base} + rr * ${s.rowLen} + cc;
      var u = vec4<u32>(0u);
      let rowOk = rr < ${s.rowLim}${guardUnit ? ` && l < ${units}u` : ''};\n`;
    if (s.G === E) {
      body += `      if (rowOk && cc < ${s.colLim}) { u = ${s.name}[o >> ${lgE}u]; }\n`;
    } else if (s.G === 4) {
      body += `      if (rowOk && cc < ${s.colLim}) { let v = ${s.name}[o >> 2u]; u.x = v.x; u.y = v.y; }
      if (rowOk && cc + 4u < ${s.colLim}) { let v = ${s.name}[(o >> 2u) + 1u]; u.z = v.x; u.w = v.y; }\n`;
    } else if (s.G === 2) {
      for (let j = 0; j < 4; j++) body += `      if (rowOk && cc + ${2 * j}u < ${s.colLim}) { u[${j}] = ${s.name}[(o >> 1u) + ${j}u]; }\n`;
    } else {
      // Explicit initializer: Tint (webgpu 0.6.2) emits `var h: T;` as an OpVariable with a null
      // initializer at function entry, so inside a loop it is NOT re-zeroed on each iteration.
      body += `      var h = array<f16, 8>();\n`;
      for (let j = 0; j < 8; j++) body += `      if (rowOk && cc + ${j}u < ${s.colLim}) { h[${j}] = ${s.name}[o + ${j}u]; }\n`;
      body += `      u = vec4<u32>(bitcast<u32>(vec2<f16>(h[0], h[1])), bitcast<u32>(vec2<f16>(h[2], h[3])), bitcast<u32>(vec2<f16>(h[4], h[5])), bitcast<u32>(vec2<f16>(h[6], h[7])));\n`;
    }
    body += `      ${reg} = u;\n    }`;
    return body;
  };
  /** WGSL statements writing register unit q into staging buffer `buf` (an expression). */
  const put = (s: Side, q: number, reg: string, buf: string): string => {
    const units = unitsOf(s);
    const guardUnit = q * r.wgSize + r.wgSize > units;
    const idx = `(${buf}) * ${s.size}u + (l / ${s.perRow}u) * ${s.ld}u + (l % ${s.perRow}u) * ${E}u`; // in elements
    let st: string;
    if (V === E) st = `${s.smem}[(${idx}) >> ${lgE}u] = ${reg};`;
    else if (i8) st = `let e = (${idx}) >> 2u; ${s.smem}[e] = ${reg}.x; ${s.smem}[e + 1u] = ${reg}.y; ${s.smem}[e + 2u] = ${reg}.z; ${s.smem}[e + 3u] = ${reg}.w;`;
    else if (V === 4) st = `let e = (${idx}) >> 2u; ${s.smem}[e] = bitcast<vec4<f16>>(${reg}.xy); ${s.smem}[e + 1u] = bitcast<vec4<f16>>(${reg}.zw);`;
    else {
      st = `let e = ${idx};`;
      for (let j = 0; j < 4; j++) st += ` let p${j} = bitcast<vec2<f16>>(${reg}[${j}]); ${s.smem}[e + ${2 * j}u] = p${j}.x; ${s.smem}[e + ${2 * j + 1}u] = p${j}.y;`;
    }
    return `{ let l = li + ${q * r.wgSize}u;${guardUnit ? ` if (l < ${units}u)` : ''} { ${st} } }`;
  };
  const nA = loadsOf(sideA), nB = loadsOf(sideB);
  const regDecl = [...Array(nA).keys()].map((q) => `var ra${q}: vec4<u32>;`).concat([...Array(nB).keys()].map((q) => `var rb${q}: vec4<u32>;`)).join(' ');
  const fetchAll = () => [...Array(nA).keys()].map((q) => fetch(sideA, q, `ra${q}`)).concat([...Array(nB).keys()].map((q) => fetch(sideB, q, `rb${q}`))).join('\n    ');
  const putAll = (buf: string) => [...Array(nA).keys()].map((q) => put(sideA, q, `ra${q}`, buf)).concat([...Array(nB).keys()].map((q) => put(sideB, q, `rb${q}`, buf))).join('\n    ');

  // ---- subgroup-matrix compute on one staged slice ----
  // Offsets/strides of the matrix loads are in units of the staging element (V operand elements).
  const u = (f16s: string) => (V === 1 ? f16s : `(${f16s}) / ${V}u`);
  const aOff = (i: number, kk: number) => r.transA
    ? `cur * ${r.aSize}u + ${kk * r.mmaK * r.ldA}u + wm + ${i * r.mmaM}u` // [k][m], col-major left
    : `cur * ${r.aSize}u + (wm + ${i * r.mmaM}u) * ${r.ldA}u + ${kk * r.mmaK}u`; // [m][k], row-major left
  const bOff = (j: number, kk: number) => r.transB
    ? `cur * ${r.bSize}u + (wn + ${j * r.mmaN}u) * ${r.ldB}u + ${kk * r.mmaK}u` // [n][k], col-major right
    : `cur * ${r.bSize}u + ${kk * r.mmaK * r.ldB}u + wn + ${j * r.mmaN}u`; // [k][n], row-major right
  let compute = '';
  for (let kk = 0; kk < r.tileK / r.mmaK; kk++) {
    for (let i = 0; i < tm; i++) compute += `      let a${kk}_${i} = ${load(left, 'As', u(aOff(i, kk)), r.transA, `${r.ldA / V}u`)};\n`;
    for (let j = 0; j < tn; j++) compute += `      let b${kk}_${j} = ${load(right, 'Bs', u(bOff(j, kk)), r.transB, `${r.ldB / V}u`)};\n`;
    for (let i = 0; i < tm; i++) for (let j = 0; j < tn; j++) compute += `      c${i}_${j} = subgroupMatrixMultiplyAccumulate(a${kk}_${i}, b${kk}_${j}, c${i}_${j});\n`;
  }
  let accDecl = '';
  for (let i = 0; i < tm; i++) for (let j = 0; j < tn; j++) accDecl += `  var c${i}_${j} = ${result}();\n`;

  // ---- epilogue: direct stores when the workgroup tile is inside C (and N % 4 == 0), else via scratch ----
  let direct = '';
  let guarded = '';
  const S = r.mmaM * r.mmaN;
  for (let i = 0; i < tm; i++) {
    for (let j = 0; j < tn; j++) {
      direct += `    ${store('C', `cBase + (m0 + wm + ${i * r.mmaM}u) * N + n0 + wn + ${j * r.mmaN}u`, `c${i}_${j}`, false, 'N')};\n`;
      guarded += `    ${store('Cs', `sg * ${S}u`, `c${i}_${j}`, false, `${r.mmaN}u`)};
    workgroupBarrier();
    for (var e = li; e < ${r.nsg * S}u; e += ${r.wgSize}u) {
      let s = e / ${S}u; let w = e % ${S}u;
      let m = m0 + (s / ${r.sgN}u) * ${r.wsM}u + ${i * r.mmaM}u + w / ${r.mmaN}u;
      let n = n0 + (s % ${r.sgN}u) * ${r.wsN}u + ${j * r.mmaN}u + w % ${r.mmaN}u;
      if (m < M && n < N) { C[cBase + m * N + n] = Cs[e]; }
    }
    workgroupBarrier();\n`;
    }
  }

  const tileOrder = r.swizzle > 0
    ? `  // Group-M swizzle: ${r.swizzle} rows of tiles are walked column by column.
  let nx = nwg.x; let ny = nwg.y;
  let pid = wid.y * nx + wid.x;
  let gsz = ${r.swizzle}u * nx;
  let g0 = (pid / gsz) * ${r.swizzle}u;
  let gm = min(ny - g0, ${r.swizzle}u);
  let tyi = g0 + (pid % gsz) % gm;
  let txi = (pid % gsz) / gm;`
    : `  let tyi = wid.y; let txi = wid.x;`;

  const kLoop = r.diag === 'compute'
    ? `  for (var t = 0u; t < tiles; t++) {
    let cur = 0u;
${compute}  }`
    : r.prefetch
    ? `  ${r.diag === 'nofetch' ? '' : fetchAll()}
  for (var t = 0u; t < tiles; t++) {
    let cur = 0u;
    ${r.diag === 'noput' ? `if (K == 0xffffffffu) { ${putAll('0u')} }` : putAll('0u')}
    ${r.diag === 'nobar' ? '' : 'workgroupBarrier();'}
    if (t + 1u < tiles) {
    k0 = (t + 1u) * ${r.tileK}u;
    ${r.diag === 'nofetch' ? '' : fetchAll()}
    }
${compute}    ${r.diag === 'nobar' ? '' : 'workgroupBarrier();'}
  }`
    : r.doubleBuffer
    ? `  ${fetchAll()}
  ${putAll('0u')}
  workgroupBarrier();
  for (var t = 0u; t < tiles; t++) {
    let cur = t & 1u;
    let more = t + 1u < tiles;
    k0 = (t + 1u) * ${r.tileK}u;
    if (more) {
    ${fetchAll()}
    }
${compute}    if (more) {
    ${putAll('cur ^ 1u')}
    }
    workgroupBarrier();
  }`
    : `  for (var t = 0u; t < tiles; t++) {
    let cur = 0u;
    k0 = t * ${r.tileK}u;
    ${fetchAll()}
    ${putAll('0u')}
    workgroupBarrier();
${compute}    workgroupBarrier();
  }`;

  return `${i8 ? '' : 'enable f16;\n'}enable chromium_experimental_subgroup_matrix;
// sgmat ${ct} gemm ${r.transA ? 'T' : 'N'}${r.transB ? 'T' : 'N'} tile ${r.tileM}x${r.tileN}x${r.tileK}, ${r.sgM}x${r.sgN} subgroups of ${tm}x${tn} ${r.mmaM}x${r.mmaN}x${r.mmaK} tiles, vec ${r.vecA}/${r.vecB}, smem ${r.smem}, ${nbuf} buffer(s)${r.prefetch ? ' + register prefetch' : ''}, ${r.bytes} B
${PRELUDE}
@group(0) @binding(1) var<storage, read> A: array<${GTYPE[r.vecA]}>;
@group(0) @binding(2) var<storage, read> B: array<${GTYPE[r.vecB]}>;
@group(0) @binding(3) var<storage, read_write> C: array<${rt}>;
var<workgroup> As: array<${r.smem}, ${(nbuf * r.aSize) / V}>;
var<workgroup> Bs: array<${r.smem}, ${(nbuf * r.bSize) / V}>;
var<workgroup> Cs: array<${rt}, ${r.nsg * S}>;

@compute @workgroup_size(${r.wgSize})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32, @builtin(subgroup_id) sg: u32) {
  let M = pu(0u); let N = pu(1u); let K = pu(2u);
  let bz = wid.z + pu(5u);
  let aBase = bz * pu(3u); let bBase = bz * pu(4u); let cBase = bz * M * N;
${tileOrder}
  let m0 = tyi * ${r.tileM}u; let n0 = txi * ${r.tileN}u;
  // This subgroup's block of C inside the workgroup tile (subgroup-uniform).
  let wm = (sg / ${r.sgN}u) * ${r.wsM}u;
  let wn = (sg % ${r.sgN}u) * ${r.wsN}u;
${accDecl}  ${regDecl}
  let tiles = (K + ${r.tileK - 1}u) / ${r.tileK}u;
  var k0 = 0u;
${kLoop}
  // Direct stores need the whole tile inside C and a 16-byte-aligned row stride (Vulkan requires
  // cooperative-matrix pointers and strides aligned to min(16 bytes, one row/column)).
  if ((N & 3u) == 0u && m0 + ${r.tileM}u <= M && n0 + ${r.tileN}u <= N) {
${direct}  } else {
${guarded}  }
}
`;
}

/**
 * f32 → f16 cast: uniforms word 0 = n (elements); binding 1 = array<f32> (n), binding 2 =
 * array<u32> (ceil(n/2) words, i.e. n f16 in memory order; an odd tail gets a zero upper half).
 * Each invocation writes `per` words; 2-D grid folding as main1d in src/ops/kernel.ts: dispatch
 * [min(w, 65535), ceil(w / 65535), 1] workgroups for w = ceil(ceil(n/2) / (wg·per)).
 * Rounding is pack2x16float's (round-to-nearest-even on NVIDIA; WGSL leaves it to the device).
 */
export function castF16Wgsl(wg = 256, per = 1): string {
  let body = '';
  for (let q = 0; q < per; q++) {
    body += `  { let w = idx * ${per}u + ${q}u;
    let i = w * 2u;
    if (i + 1u < n) { Y[w] = pack2x16float(vec2<f32>(X[i], X[i + 1u])); }
    else if (i < n) { Y[w] = pack2x16float(vec2<f32>(X[i], 0.0)); } }\n`;
  }
  return `${PRELUDE}
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> Y: array<u32>;
@compute @workgroup_size(${wg})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let idx = gid.x + gid.y * nwg.x * ${wg}u;
  let n = pu(0u);
${body}}
`;
}

/** Workgroups for castF16Wgsl(wg, per) over n elements. */
export function castF16Grid(n: number, wg = 256, per = 1): [number, number, number] {
  return grid1d(Math.ceil(n / 2), wg * per);
}

// ---- the ops --------------------------------------------------------------------------------

/**
 * Tile configurations (measured on the H200, ONB shapes 8000×16384×16384, casts included, by
 * bench/gemm-f16.ts): big 128×256 tiles of 2×4 subgroups, K-slices of 32 in one staging buffer —
 * 152 TFLOP/s for A·Bᵀ, 173 for Aᵀ·B (double-buffered 256×128/K16: 92 and 100; 64×128 of 2×2
 * subgroups: 43 and 41) — when there are enough of them to fill the device; 64×128 otherwise.
 * Fetching the next slice into registers before the multiply-accumulates (prefetch) took the
 * GEMMs alone from 138–148 / 166–176 to 156–162 / 196–198 TFLOP/s (bench/sgmat/gemm-rate.ts).
 */
export const SGMAT_TILE: Omit<SgmatOpts, 'transA' | 'transB'> = { tileM: 128, tileN: 256, tileK: 32, sgM: 2, sgN: 4, doubleBuffer: false, prefetch: true };
export const SGMAT_TILE_SMALL: Omit<SgmatOpts, 'transA' | 'transB'> = { tileM: 64, tileN: 128, tileK: 32, sgM: 2, sgN: 2 };
{
  // GRILLY_SGMAT_TILE=tileM,tileN,tileK,sgM,sgN[,doubleBuffer 0|1[,swizzle[,prefetch 0|1]]] overrides the big tile (bench/gemm-f16.ts sweeps it)
  const env = typeof process !== 'undefined' ? process.env?.GRILLY_SGMAT_TILE : undefined;
  if (env) {
    const [tileM, tileN, tileK, sgM, sgN, db = 1, swizzle = 0, pf = 0] = env.split(',').map(Number);
    Object.assign(SGMAT_TILE, { tileM, tileN, tileK, sgM, sgN, doubleBuffer: db !== 0, swizzle, prefetch: pf !== 0 && db === 0 });
  }
}

interface CastParams {
  n: number;
}

/** f32 → f16 (round to nearest even), packed two per 32-bit word (an odd tail pads with 0). */
export const castF16Kernel: Kernel<CastParams> = {
  name: 'cast.f16',
  key: () => '',
  cpu: (ins, outs, p) => {
    const x = ins[0]!.f32, y = outs[0]!.i32;
    for (let w = 0; w < Math.ceil(p.n / 2); w++) {
      const lo = f16Bits(x[2 * w]!), hi = 2 * w + 1 < p.n ? f16Bits(x[2 * w + 1]!) : 0;
      y[w] = lo | (hi << 16);
    }
  },
  wgsl: () => castF16Wgsl(256, 1),
  grid: (p) => castF16Grid(p.n, 256, 1),
  uniforms: (p, u) => void u.u32(p.n),
};

/**
 * The layout of the f16 operands a path writes for the f16 GEMM: op(A) 'N' = [m][k] or 'T' = [k][m],
 * then B 'N' = [k][n] or 'T' = [n][k]; 'native' keeps the inputs' own layouts.
 */
export type OperandLayout = 'NN' | 'NT' | 'TN' | 'TT' | 'native';
const OPERAND_LAYOUTS: readonly OperandLayout[] = ['NN', 'NT', 'TN', 'TT', 'native'];
/** The layout env variable `name` asks for, if it names one (else a notice, and undefined). */
export function layoutFromEnv(name: string): OperandLayout | undefined {
  const v = typeof process !== 'undefined' ? process.env?.[name] : undefined;
  if (!v) return undefined;
  if ((OPERAND_LAYOUTS as readonly string[]).includes(v)) return v as OperandLayout;
  console.warn(`grilly: ${name}=${JSON.stringify(v)} is not one of ${OPERAND_LAYOUTS.join(', ')}; ignored`);
  return undefined;
}
/** The GEMM's transposition flags for operands written in layout L (inputs' flags for 'native'). */
export function layoutFlags(L: OperandLayout, transA: boolean, transB: boolean): { transA: boolean; transB: boolean } {
  return L === 'native' ? { transA, transB } : { transA: L[0] === 'T', transB: L[1] === 'T' };
}

/**
 * Tuning of precision 'fp16' (one batch, dims multiples of 4). `layout`: how the casts write the
 * operands; 'native' (the inputs' layouts) is what was measured; GRILLY_F16_LAYOUT picks another
 * (the casts then transpose where needed) for bench/sgmat/layouts.ts's comparison.
 */
export const F16 = { layout: layoutFromEnv('GRILLY_F16_LAYOUT') ?? ('native' as OperandLayout) };

/**
 * WGSL for transposing 4×4 blocks of a stored matrix with R rows (uniform R): invocation i takes
 * rows r..r+3 and columns col..col+3; lane pairs take the two 16-byte halves of a row's 32-byte
 * sector (reads), consecutive pairs consecutive r (8-byte pieces of a row of the transposed output).
 */
export const pairedBlock = (col: string) =>
  `let pr = i & 1u; let i2 = i >> 1u; let r = (i2 % (R / 4u)) * 4u; let ${col} = ((i2 / (R / 4u)) * 2u + pr) * 4u;`;

/** f32 [R][L] → f16 [L][R] (packed two a word), R and L multiples of 4: a cast that transposes (pairedBlock). */
export const castF16TKernel: Kernel<{ R: number; L: number }> = {
  name: 'cast.f16.t',
  key: () => '',
  cpu: (ins, outs, p) => {
    const x = ins[0]!.f32, half = new Uint16Array(outs[0]!.i32.buffer, outs[0]!.i32.byteOffset, p.R * p.L);
    for (let r = 0; r < p.R; r++) for (let c = 0; c < p.L; c++) half[c * p.R + r] = f16Bits(x[r * p.L + c]!);
  },
  wgsl: () => `enable f16;
${PRELUDE}${bindings([['X', 'vec4<f32>']], [['Y', 'vec2<u32>']])}${main1d(`  let i = idx;
  let R = pu(0u); let L = pu(1u);
  ${pairedBlock('c')}
  if (c >= L || r >= R) { return; }
  let ys = transpose(mat4x4<f32>(${[0, 1, 2, 3].map((q) => `X[((r + ${q}u) * L + c) / 4u]`).join(', ')}));
  ${[0, 1, 2, 3].map((j) => `Y[((c + ${j}u) * R + r) / 4u] = bitcast<vec2<u32>>(vec4<f16>(ys[${j}]));`).join('\n  ')}`)}`,
  grid: (p) => grid1d((p.R / 4) * Math.ceil(p.L / 8) * 2),
  uniforms: (p, u) => void u.u32(p.R).u32(p.L),
};

/** The GEMM's shape and layout (the same parameters as the fp32 kernel's; batch ≤ 65535). */
export type SgmatParams = Pick<GemmParams, 'M' | 'N' | 'K' | 'batch' | 'strideA' | 'strideB' | 'transA' | 'transB'>;

function sgmatOpts(p: SgmatParams): SgmatOpts {
  const big = Math.ceil(p.M / SGMAT_TILE.tileM) * Math.ceil(p.N / SGMAT_TILE.tileN) * p.batch >= 264;
  return {
    ...(big ? SGMAT_TILE : SGMAT_TILE_SMALL),
    transA: p.transA,
    transB: p.transB,
    vecA: sgmatVec(p.transA ? p.M : p.K, p.strideA),
    vecB: sgmatVec(p.transB ? p.K : p.N, p.strideB),
  };
}

/**
 * One generated variant run as given, batch 1 (benches and tests: bench/sgmat, the i8 test).
 * A and B are packed operands (f16 or i8 words); C is f32, or i32 for i8.
 */
export function sgmatVariantKernel(o: SgmatOpts): Kernel<{ M: number; N: number; K: number }> {
  return {
    name: `gemm.${o.elem ?? 'f16'}.variant`,
    key: () => JSON.stringify(o),
    cpu: () => { throw new Error(`gemm.${o.elem ?? 'f16'}.variant: no cpu kernel (subgroup matrices only)`); },
    wgsl: () => sgmatGemmWgsl(o),
    grid: (p) => sgmatGrid(o, p.M, p.N, 1),
    uniforms: (p, u) => void u.u32(p.M).u32(p.N).u32(p.K).u32(0).u32(0).u32(0),
  };
}

/** C (f32) = op(A)·op(B) with A and B already f16 (packed). */
export const sgmatKernel: Kernel<SgmatParams> = {
  name: 'gemm.f16',
  key: (p) => {
    const o = sgmatOpts(p);
    return `${p.transA ? 'T' : 'N'}${p.transB ? 'T' : 'N'}|${o.vecA}${o.vecB}|${o.tileM}x${o.tileN}x${o.tileK}/${o.sgM}x${o.sgN}/${o.doubleBuffer === false ? (o.prefetch ? 'p' : 1) : 2}/${o.swizzle ?? 0}`;
  },
  cpu: () => {
    throw new Error('gemm.f16: the cpu backend has no f16 matmul (precision fp16 falls back to fp32 there)');
  },
  wgsl: (p) => sgmatGemmWgsl(sgmatOpts(p)),
  grid: (p) => sgmatGrid(sgmatOpts(p), p.M, p.N, p.batch),
  uniforms: (p, u) => void u.u32(p.M).u32(p.N).u32(p.K).u32(p.strideA).u32(p.strideB).u32(0),
};

const f32b = new Float32Array(1);
const u32b = new Uint32Array(f32b.buffer);
/** IEEE half bits of x, rounded to nearest even (as pack2x16float on the GPU). */
export function f16Bits(x: number): number {
  f32b[0] = x;
  const b = u32b[0]!;
  const s = (b >>> 16) & 0x8000;
  const e = (b >>> 23) & 0xff;
  let m = b & 0x7fffff;
  if (e === 0xff) return s | 0x7c00 | (m ? 0x200 : 0);
  const ne = e - 127 + 15;
  if (ne >= 0x1f) return s | 0x7c00;
  if (ne <= 0) {
    if (ne < -10) return s;
    m |= 0x800000;
    const shift = 14 - ne;
    let h = m >>> shift;
    const rem = m & ((1 << shift) - 1), half = 1 << (shift - 1);
    if (rem > half || (rem === half && h & 1)) h++;
    return s | h;
  }
  let h = (ne << 10) | (m >>> 13);
  const rem = m & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++;
  return s | h;
}

/** x rounded to the nearest f16 value (for references in tests). */
export function roundF16(x: number): number {
  const h = f16Bits(x);
  const s = h & 0x8000 ? -1 : 1, e = (h >>> 10) & 0x1f, m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 0x1f) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}
