// 2-D convolution (NCHW, PyTorch semantics) as GEMMs. The input's im2col matrix has rows = output
// pixels of the batch (n, oh, ow) and columns = (ci, kh, kw), zeros for padding; the GEMM
// multiplies it by the group's weight (Og × Cg·KH·KW, transB); a tiled-transpose kernel moves the
// (group, pixel, filter) rows to NCHW and adds the bias.
//   forward   Y_g   = cols_g · W_gᵀ                      (M = pixels, N = Og, K = Cg·KH·KW)
//   dW        dW_g  = dY_gᵀ · cols_g                      (transA; K = pixels, split over images)
//   dX        dcols = dY_g · W_g, then col2im as a gather (each input pixel sums the column
//             entries of the windows that cover it: no atomics)
//   db        Σ over N, OH, OW
// Three ways to get the columns, by layer:
// - one group (the usual case): the GEMMs gather them from x as they load their tiles (implicit
//   GEMM, see matmul's Im2colOperand), and with stride 1 the input gradient is a convolution of
//   dY with the flipped weight, so no column matrix is ever written;
// - few columns (Cg·KH·KW ≤ 16, one group: a one-channel first layer): direct kernels, no GEMM;
// - groups > 1: im2col writes the columns and groups go through the GEMM's batch dimension
//   (depthwise is groups = C); rows are processed in chunks when the column buffer of the whole
//   batch would pass a byte limit.
// 1×1 convolutions (stride 1, no padding, one group) skip im2col: W·X_n per image is already NCHW.
import type { Kernel } from '../backend/types.js';
import { BackendError, DTypeError, ShapeError, ValueError, fmtShape } from '../errors.js';
import { attach, needsGrad } from '../autograd/node.js';
import { Tensor } from '../tensor/tensor.js';
import { PRELUDE, backendOf, bindings, grid1d, launch, launchInto, main1d } from './kernel.js';
import { addInPlace, fillInto } from './elementwise.js';
import { gemmKernel, type GemmParams, type Im2colOperand } from './matmul.js';
import { sum } from './reduce.js';
import { reshape } from './view.js';
import { MAX_Z, convTuning, geoKey, geoWgsl, geoUniforms, type Chunk, type ChunkParams, type Geo } from './conv-geo.js';
import { directForward, directSmall, directWeightGrad } from './conv-direct.js';

export { convTuning };

// ---- argument parsing (shared with pool.ts) ---------------------------------------------------

export type IntPair = number | readonly [number, number];

/** A scalar or [h, w] pair of integers ≥ min, validated with the op's name in errors. */
export function pair(v: IntPair, what: string, op: string, min: number): [number, number] {
  if (typeof v !== 'number' && !(Array.isArray(v) && v.length === 2)) {
    throw new ValueError(`${op}: ${what} must be an integer or an [h, w] pair, got ${JSON.stringify(v)}`);
  }
  const p: [number, number] = typeof v === 'number' ? [v, v] : [v[0], v[1]];
  for (const x of p) {
    if (!Number.isInteger(x)) throw new ValueError(`${op}: ${what} must be integers, got ${JSON.stringify(v)}`);
    if (x < min) throw new ValueError(`${op}: ${what} must be ${min === 0 ? 'non-negative' : 'positive'}, got ${JSON.stringify(v)}`);
  }
  return p;
}

/** Checks a float32 NCHW (or CHW) input; returns it as 4-D and whether it was 3-D. */
export function input4d(x: Tensor, op: string): [Tensor, boolean] {
  if (!(x instanceof Tensor)) throw new DTypeError(`${op}: expected a Tensor input, got ${x === null ? 'null' : typeof x}`);
  if (x.dtype !== 'float32') throw new DTypeError(`${op}: expected a float32 input, got ${x.dtype}; cast with .float()`);
  if (x.ndim === 4) return [x, false];
  if (x.ndim === 3) return [reshape(x, [1, ...x.shape]), true];
  throw new ShapeError(`${op}: expected a 4-D (N, C, H, W) or 3-D (C, H, W) input, got ${x.ndim}-D ${fmtShape(x.shape)}`);
}

/** Back to 3-D when the input was. */
export function output3d(y: Tensor, was3d: boolean): Tensor {
  return was3d ? reshape(y, y.shape.slice(1)) : y;
}

// ---- kernels ----------------------------------------------------------------------------------

const im2colQuad = (g: Geo): boolean => convTuning.im2colQuad && g.Kc % 4 === 0;

// cols[g, rl, (ci, kh, kw)] = x[n, g·Cg + ci, oh·sh − ph + kh·dh, ow·sw − pw + kw·dw] (0 outside),
// for the chunk's rows r = r0 + rl = n·P + oh·OW + ow. One element per invocation, or four adjacent
// columns of a row when Kc % 4 == 0, so writes are coalesced (one invocation per (g, rl, ci) writing
// its KH·KW columns measured 1.3–1.7× slower).
const im2colKernel: Kernel<ChunkParams> = {
  name: 'conv2d.im2col',
  // (with the geometry read from uniforms, geoKey is the same for every layer: the quad choice
  // must be in the key itself)
  key: (p) => geoKey(p.g) + (im2colQuad(p.g) ? '|q' : ''),
  cpu: (ins, outs, { g, c }) => {
    const x = ins[0]!.f32, o = outs[0]!.f32;
    let i = 0;
    for (let gi = 0; gi < g.G; gi++) {
      for (let rl = 0; rl < c.RB; rl++) {
        const r = c.r0 + rl, n = Math.floor(r / g.P), p = r - n * g.P;
        const oh = Math.floor(p / g.OW), ow = p - oh * g.OW;
        for (let ci = 0; ci < g.Cg; ci++) {
          const plane = (n * g.C + gi * g.Cg + ci) * g.H;
          for (let kh = 0; kh < g.KH; kh++) {
            const ih = oh * g.sh - g.ph + kh * g.dh;
            const rowOk = ih >= 0 && ih < g.H;
            for (let kw = 0; kw < g.KW; kw++) {
              const iw = ow * g.sw - g.pw + kw * g.dw;
              o[i++] = rowOk && iw >= 0 && iw < g.W ? x[(plane + ih) * g.W + iw]! : 0;
            }
          }
        }
      }
    }
  },
  wgsl: (p) => {
    // Quads: with Kc % 4 == 0 an invocation writes four adjacent columns of one row (one vec4
    // store; the row's index arithmetic done once). One group (known when the geometry is
    // compiled in) skips the division by the chunk's row count.
    const quad = im2colQuad(p.g);
    const oneGroup = convTuning.specialize && p.g.G === 1;
    const col = (c: string, v: string) => `{
    let ci = ${c} / KK; let k = ${c} - ci * KK;
    let kh = k / gKW(); let kw = k - kh * gKW();
    let ih = i32(oh * gSH() + kh * gDH()) - gPH();
    let iw = i32(ow * gSW() + kw * gDW()) - gPW();
    if (ih >= 0 && ih < i32(gH()) && iw >= 0 && iw < i32(gW())) {
      ${v} = X[((n * gC() + g * gCg() + ci) * gH() + u32(ih)) * gW() + u32(iw)];
    }
  }`;
    return PRELUDE + geoWgsl(p.g) + bindings([['X', 'f32']], [['O', quad ? 'vec4<f32>' : 'f32']]) +
      main1d(`
  if (idx >= pu(0u)) { return; }
  let RB = pu(1u); let Kc = gKc(); let KK = gKH() * gKW();
  let t = ${quad ? '(idx * 4u) / Kc; let c0 = idx * 4u - t * Kc' : 'idx / Kc; let c0 = idx - t * Kc'};
  ${oneGroup ? 'let g = 0u; let rl = t;' : 'let g = t / RB; let rl = t - g * RB;'}
  let r = pu(2u) + rl; let n = r / gP(); let p = r - n * gP();
  let oh = p / gOW(); let ow = p - oh * gOW();
  ${quad ? `var v = vec4<f32>(0.0);
  ${[0, 1, 2, 3].map((e) => col(`(c0 + ${e}u)`, `v[${e}]`)).join('\n  ')}
  O[idx] = v;` : `var v = 0.0;
  ${col('c0', 'v')}
  O[idx] = v;`}`);
  },
  grid: ({ g, c }) => grid1d((g.G * c.RB * g.Kc) / (im2colQuad(g) ? 4 : 1)),
  uniforms: ({ g, c }, u) => {
    u.u32((g.G * c.RB * g.Kc) / (im2colQuad(g) ? 4 : 1)).u32(c.RB).u32(c.r0);
    geoUniforms(g, u);
  },
};

// The (group, row, filter) ↔ NCHW shuffles are tiled transposes: a workgroup moves a 32 (filters)
// × 32 (rows) tile through workgroup memory, so reads and writes are both coalesced.
const TT = 32;

function transposeGrid(g: Geo, c: Chunk): [number, number, number] {
  const rt = Math.ceil(c.RB / TT);
  const y = Math.min(rt, 65535);
  return [Math.ceil(g.O / TT), y, Math.ceil(rt / y)];
}

/**
 * 'out': O[n, o, p] = Y[g, rl, og] (+ B[o]); 'rows': D[g, rl, og] = G[n, o, p] — with o = g·Og + og
 * and r0 + rl = n·P + p.
 */
function transposeWgsl(g: Geo, dir: 'out' | 'rows', bias: boolean): string {
  const ins: [string, string][] = dir === 'out' ? (bias ? [['Y', 'f32'], ['B', 'f32']] : [['Y', 'f32']]) : [['G', 'f32']];
  const rowsIdx = '(gg * RB + rl) * gOg() + og';
  const nchwIdx = '(n * gO() + o) * gP() + p';
  const at = (oExpr: string, rExpr: string) => `let o = ${oExpr}; let rl = ${rExpr};
      let gg = o / gOg(); let og = o - gg * gOg(); let r = r0 + rl; let n = r / gP(); let p = r - n * gP();`;
  // phase 1 reads along the source's contiguous dim, phase 2 writes along the destination's
  const load = dir === 'out'
    ? `{ ${at('o0 + lid.x', 'rb0 + lid.y + k * 8u')} if (o < gO() && rl < RB) { tile[(lid.y + k * 8u) * 33u + lid.x] = Y[${rowsIdx}]; } }`
    : `{ ${at('o0 + lid.y + k * 8u', 'rb0 + lid.x')} if (o < gO() && rl < RB) { tile[lid.x * 33u + lid.y + k * 8u] = G[${nchwIdx}]; } }`;
  const store = dir === 'out'
    ? `{ ${at('o0 + lid.y + k * 8u', 'rb0 + lid.x')} if (o < gO() && rl < RB) { O[${nchwIdx}] = tile[lid.x * 33u + lid.y + k * 8u]${bias ? ' + B[o]' : ''}; } }`
    : `{ ${at('o0 + lid.x', 'rb0 + lid.y + k * 8u')} if (o < gO() && rl < RB) { D[${rowsIdx}] = tile[(lid.y + k * 8u) * 33u + lid.x]; } }`;
  return PRELUDE + geoWgsl(g) + bindings(ins, [[dir === 'out' ? 'O' : 'D', 'f32']]) + `
var<workgroup> tile: array<f32, ${TT * 33}>;
@compute @workgroup_size(32, 8)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let RB = pu(1u); let r0 = pu(2u);
  let o0 = wid.x * 32u; let rb0 = (wid.y + wid.z * nwg.y) * 32u;
  for (var k = 0u; k < 4u; k++) ${load}
  workgroupBarrier();
  for (var k = 0u; k < 4u; k++) ${store}
}
`;
}

interface OutParams extends ChunkParams { bias: boolean }

// out[n, o, p] = Y[g, rl, og] (+ bias[o]) with o = g·Og + og, for the chunk's rows.
const outKernel: Kernel<OutParams> = {
  name: 'conv2d.output',
  readsOutputs: true, // each chunk fills part of the output
  key: (p) => `${p.bias ? 'b' : ''}|${geoKey(p.g)}`,
  cpu: (ins, outs, { g, c, bias }) => {
    const y = ins[0]!.f32, b = bias ? ins[1]!.f32 : null, out = outs[0]!.f32;
    for (let o = 0; o < g.O; o++) {
      const gi = Math.floor(o / g.Og), og = o - gi * g.Og;
      const bo = b ? b[o]! : 0;
      for (let rl = 0; rl < c.RB; rl++) {
        const r = c.r0 + rl, n = Math.floor(r / g.P), p = r - n * g.P;
        out[(n * g.O + o) * g.P + p] = y[(gi * c.RB + rl) * g.Og + og]! + bo;
      }
    }
  },
  wgsl: (p) => transposeWgsl(p.g, 'out', p.bias),
  grid: ({ g, c }) => transposeGrid(g, c),
  uniforms: ({ g, c }, u) => {
    u.u32(0).u32(c.RB).u32(c.r0);
    geoUniforms(g, u);
  },
};

// D[g, rl, og] = dY[n, g·Og + og, p]: the output gradient as the GEMM's row layout.
const rowsKernel: Kernel<ChunkParams> = {
  name: 'conv2d.rows',
  key: (p) => geoKey(p.g),
  cpu: (ins, outs, { g, c }) => {
    const dy = ins[0]!.f32, d = outs[0]!.f32;
    let i = 0;
    for (let gi = 0; gi < g.G; gi++) {
      for (let rl = 0; rl < c.RB; rl++) {
        const r = c.r0 + rl, n = Math.floor(r / g.P), p = r - n * g.P;
        for (let og = 0; og < g.Og; og++) d[i++] = dy[(n * g.O + gi * g.Og + og) * g.P + p]!;
      }
    }
  },
  wgsl: (p) => transposeWgsl(p.g, 'rows', false),
  grid: ({ g, c }) => transposeGrid(g, c),
  uniforms: ({ g, c }, u) => {
    u.u32(0).u32(c.RB).u32(c.r0);
    geoUniforms(g, u);
  },
};

const unitStride = (g: Geo) => g.sh === 1 && g.sw === 1;

interface Col2imParams extends ChunkParams {
  /** First image touched by the chunk, images touched, and whether the first one was begun by an earlier chunk. */
  n0: number;
  nImg: number;
  accFirst: boolean;
  /** dcols stored transposed, (g, column, row): adjacent output pixels read adjacent rows (coalesced). */
  colMajor: boolean;
}

// dx[n, c, h, w] = Σ over (kh, kw) with h = oh·sh − ph + kh·dh, w = ow·sw − pw + kw·dw, and the row
// n·P + oh·OW + ow inside the chunk, of dcols[g, row − r0, (ci, kh, kw)].
const col2imKernel: Kernel<Col2imParams> = {
  name: 'conv2d.col2im',
  readsOutputs: true,
  key: (p) => `${geoKey(p.g)}|${unitStride(p.g) ? 's1' : ''}${p.colMajor ? '|t' : ''}`,
  cpu: (ins, outs, { g, c, n0, nImg, accFirst, colMajor }) => {
    const d = ins[0]!.f32, dx = outs[0]!.f32;
    const HW = g.H * g.W, CHW = g.C * HW;
    const rEnd = c.r0 + c.RB;
    for (let nl = 0; nl < nImg; nl++) {
      const n = n0 + nl;
      const acc = accFirst && nl === 0;
      for (let ch = 0; ch < g.C; ch++) {
        const gi = Math.floor(ch / g.Cg), ci = ch - gi * g.Cg;
        for (let h = 0; h < g.H; h++) {
          for (let w = 0; w < g.W; w++) {
            let s = 0;
            for (let kh = 0; kh < g.KH; kh++) {
              const th = h + g.ph - kh * g.dh;
              if (th < 0 || th % g.sh !== 0) continue;
              const oh = th / g.sh;
              if (oh >= g.OH) continue;
              for (let kw = 0; kw < g.KW; kw++) {
                const tw = w + g.pw - kw * g.dw;
                if (tw < 0 || tw % g.sw !== 0) continue;
                const ow = tw / g.sw;
                if (ow >= g.OW) continue;
                const r = n * g.P + oh * g.OW + ow;
                if (r < c.r0 || r >= rEnd) continue;
                const kc = (ci * g.KH + kh) * g.KW + kw;
                s += d[colMajor ? (gi * g.Kc + kc) * c.RB + r - c.r0 : (gi * c.RB + r - c.r0) * g.Kc + kc]!;
              }
            }
            const o = n * CHW + (ch * g.H + h) * g.W + w;
            dx[o] = acc ? dx[o]! + s : s;
          }
        }
      }
    }
  },
  wgsl: (p) => {
    const s1 = unitStride(p.g); // no stride test or division
    return PRELUDE + geoWgsl(p.g) + bindings([['D', 'f32']], [['DX', 'f32']]) + main1d(`
  if (idx >= pu(0u)) { return; }
  let RB = pu(1u); let r0 = pu(2u); let n0 = pu(3u);
  let W = gW(); let H = gH(); let C = gC();
  let t1 = idx / W; let w = idx - t1 * W;
  let t2 = t1 / H; let h = t1 - t2 * H;
  let nl = t2 / C; let ch = t2 - nl * C;
  let n = n0 + nl;
  let g = ch / gCg(); let ci = ch - g * gCg();
  let KH = gKH(); let KW = gKW(); let sh = gSH(); let sw = gSW();
  var s = 0.0;
  for (var kh = 0u; kh < KH; kh++) {
    let th = i32(h) + gPH() - i32(kh * gDH());
    if (th < 0) { break; }
    ${s1 ? '' : 'if (u32(th) % sh != 0u) { continue; }'}
    let oh = u32(th)${s1 ? '' : ' / sh'};
    if (oh >= gOH()) { continue; }
    for (var kw = 0u; kw < KW; kw++) {
      let tw = i32(w) + gPW() - i32(kw * gDW());
      if (tw < 0) { break; }
      ${s1 ? '' : 'if (u32(tw) % sw != 0u) { continue; }'}
      let ow = u32(tw)${s1 ? '' : ' / sw'};
      if (ow >= gOW()) { continue; }
      let r = n * gP() + oh * gOW() + ow;
      if (r < r0 || r >= r0 + RB) { continue; }
      ${p.colMajor ? 's += D[(g * gKc() + (ci * KH + kh) * KW + kw) * RB + r - r0];' : 's += D[(g * RB + r - r0) * gKc() + (ci * KH + kh) * KW + kw];'}
    }
  }
  let o = n0 * C * H * W + idx;
  if (pu(4u) != 0u && nl == 0u) { DX[o] = DX[o] + s; } else { DX[o] = s; }`);
  },
  grid: (p) => grid1d(p.nImg * p.g.C * p.g.H * p.g.W),
  uniforms: (p, u) => {
    u.u32(p.nImg * p.g.C * p.g.H * p.g.W).u32(p.c.RB).u32(p.c.r0).u32(p.n0).u32(p.accFirst ? 1 : 0);
    geoUniforms(p.g, u);
  },
};

interface BiasParams { n: number; O: number; P: number }

// y[n, o, p] += bias[o], in place.
const biasKernel: Kernel<BiasParams> = {
  name: 'conv2d.bias',
  readsOutputs: true,
  key: () => '',
  cpu: (ins, outs, p) => {
    const b = ins[0]!.f32, y = outs[0]!.f32;
    for (let i = 0; i < p.n; i++) y[i] = y[i]! + b[Math.floor(i / p.P) % p.O]!;
  },
  wgsl: () =>
    PRELUDE + bindings([['B', 'f32']], [['Y', 'f32']]) +
    main1d(`
  if (idx >= pu(0u)) { return; }
  Y[idx] = Y[idx] + B[(idx / pu(2u)) % pu(1u)];`),
  grid: (p) => grid1d(p.n),
  uniforms: (p, u) => void u.u32(p.n).u32(p.O).u32(p.P),
};

// ---- GEMM helper ------------------------------------------------------------------------------


/**
 * C = op(A)·op(B) into a new tensor kept out of the slabs of `avoid` (the tensor the result is
 * later written into), so that the following kernel needs no copy-around.
 */
function gemmNew(op: string, a: Tensor, b: Tensor, p: GemmParams, avoid: readonly Tensor[]): Tensor {
  const out = Tensor.empty([p.batch * p.M * p.N], 'float32', op, a.backend, [a, b, ...avoid]);
  for (let off = 0; off < p.batch; off += MAX_Z) {
    launchInto(op, gemmKernel, [a, b], [out], { ...p, batchOffset: off, batchCount: Math.min(MAX_Z, p.batch - off), wgBytes: a.backend.info.limits.maxComputeWorkgroupStorageSize ?? 0 });
  }
  return out;
}

// ---- chunking ---------------------------------------------------------------------------------

/** Row ranges whose buffers (`cols` columns a row: the column matrix and the GEMM result) stay under the limits. */
function chunks(g: Geo, x: Tensor, op: string, cols = Math.max(g.Kc, g.Og)): Chunk[] {
  const lim = x.backend.info.limits;
  const limit = Math.min(convTuning.maxColumnBytes, lim.maxStorageBufferBindingSize ?? Infinity, lim.maxBufferSize ?? Infinity);
  const perRow = 4 * g.G * cols;
  let RB = Math.floor(limit / perRow);
  if (RB < 1) {
    throw new BackendError(
      `${op}: one output pixel needs ${perRow} bytes of columns (groups ${g.G} × ${cols === g.Og && cols !== g.Kc ? `${g.Og} filters` : `max(${g.Kc} columns, ${g.Og} filters)`} × 4), over the limit of ${limit} bytes`,
    );
  }
  const total = g.N * g.P;
  if (RB >= total) RB = total;
  else if (RB >= g.P) RB = Math.floor(RB / g.P) * g.P; // whole images when they fit
  const out: Chunk[] = [];
  for (let r0 = 0; r0 < total; r0 += RB) out.push({ r0, RB: Math.min(RB, total - r0) });
  return out;
}

/** Splits of the weight-gradient reduction (a divisor of RB). */
function splitK(g: Geo, RB: number, tile = 64): number {
  const tiles = Math.ceil(g.Og / tile) * Math.ceil(g.Kc / tile) * g.G;
  const bytesCap = Math.floor(convTuning.maxColumnBytes / (4 * g.O * g.Kc));
  const maxS = Math.min(Math.ceil(convTuning.splitTarget / tiles), Math.floor(RB / convTuning.minSplitK), bytesCap, Math.floor(MAX_Z / g.G));
  for (let s = maxS; s > 1; s--) if (RB % s === 0) return s;
  return 1;
}

// ---- the op -----------------------------------------------------------------------------------

export interface Conv2dOptions {
  stride?: IntPair;
  padding?: IntPair;
  dilation?: IntPair;
  groups?: number;
}

/** Output size along one dim, PyTorch's formula: ⌊(in + 2p − d·(k − 1) − 1) / s⌋ + 1. */
export function convOutSize(inSize: number, k: number, s: number, p: number, d: number): number {
  return Math.floor((inSize + 2 * p - d * (k - 1) - 1) / s) + 1;
}

/** The GEMMs gather the columns themselves (one group; not the direct or 1×1 paths). */
const implicitGemm = (g: Geo): boolean => convTuning.implicit && g.G === 1;

const im2colOperand = (operand: 'A' | 'B', g: Geo, c: Chunk): Im2colOperand => ({ operand, geo: g, r0: c.r0 });

function im2col(x: Tensor, g: Geo, c: Chunk, op: string): Tensor {
  return launch(op, im2colKernel, [x], [g.G * c.RB * g.Kc], 'float32', { g, c });
}

/**
 * 2-D convolution over an NCHW (or CHW) float32 input, as torch.nn.functional.conv2d: weight is
 * (O, C/groups, KH, KW), bias (O) or null; stride, padding and dilation are an integer or an
 * [h, w] pair.
 */
export function conv2d(x: Tensor, weight: Tensor, bias: Tensor | null = null, opts: Conv2dOptions = {}): Tensor {
  const op = 'conv2d';
  if (!(weight instanceof Tensor)) throw new DTypeError(`${op}: expected a weight Tensor, got ${weight === null ? 'null' : typeof weight}`);
  if (weight.dtype !== 'float32') throw new DTypeError(`${op}: expected a float32 weight, got ${weight.dtype}`);
  if (weight.ndim !== 4) throw new ShapeError(`${op}: expected a 4-D weight (out_channels, in_channels/groups, KH, KW), got ${fmtShape(weight.shape)}`);
  if (bias !== null && bias !== undefined) {
    if (!(bias instanceof Tensor)) throw new DTypeError(`${op}: expected a bias Tensor or null, got ${typeof bias}`);
    if (bias.dtype !== 'float32') throw new DTypeError(`${op}: expected a float32 bias, got ${bias.dtype}`);
  }
  if (x instanceof Tensor) backendOf(op, bias ? [x, weight, bias] : [x, weight]);
  const [x4, was3d] = input4d(x, op);
  const [sh, sw] = pair(opts.stride ?? 1, 'stride', op, 1);
  const [ph, pw] = pair(opts.padding ?? 0, 'padding', op, 0);
  const [dh, dw] = pair(opts.dilation ?? 1, 'dilation', op, 1);
  const G = opts.groups ?? 1;
  if (!Number.isInteger(G) || G < 1) throw new ValueError(`${op}: groups must be a positive integer, got ${G}`);
  const [N, C, H, W] = x4.shape as [number, number, number, number];
  const [O, Cg, KH, KW] = weight.shape as [number, number, number, number];
  if (C % G !== 0) throw new ShapeError(`${op}: input channels ${C} are not divisible by groups ${G} (input ${fmtShape(x.shape)})`);
  if (O % G !== 0) throw new ShapeError(`${op}: output channels ${O} are not divisible by groups ${G} (weight ${fmtShape(weight.shape)})`);
  if (Cg * G !== C) {
    throw new ShapeError(`${op}: expected input with ${Cg * G} channels (weight ${fmtShape(weight.shape)}, groups ${G}), got ${fmtShape(x.shape)}`);
  }
  if (KH < 1 || KW < 1 || Cg < 1) throw new ShapeError(`${op}: the weight ${fmtShape(weight.shape)} is empty`);
  if (bias && (bias.ndim !== 1 || bias.shape[0] !== O)) throw new ShapeError(`${op}: expected a bias of shape [${O}] (one per output channel), got ${fmtShape(bias.shape)}`);
  const ekh = dh * (KH - 1) + 1, ekw = dw * (KW - 1) + 1;
  if (ekh > H + 2 * ph || ekw > W + 2 * pw) {
    throw new ShapeError(
      `${op}: the kernel ${ekh}×${ekw}${dh > 1 || dw > 1 ? ` (dilated from ${KH}×${KW})` : ''} is larger than the padded input ` +
        `${H + 2 * ph}×${W + 2 * pw} (input ${fmtShape(x.shape)}, padding [${ph}, ${pw}])`,
    );
  }
  const OH = convOutSize(H, KH, sh, ph, dh), OW = convOutSize(W, KW, sw, pw, dw);
  if (OH < 1 || OW < 1) throw new ShapeError(`${op}: the output size ${OH}×${OW} is not positive (input ${fmtShape(x.shape)}, kernel ${KH}×${KW})`);
  const g: Geo = { N, C, H, W, O, G, Cg, Og: O / G, KH, KW, sh, sw, ph, pw, dh, dw, OH, OW, P: OH * OW, Kc: Cg * KH * KW };
  const b = bias ?? null;

  const out = convForward(x4, weight, b, g, op);
  if (needsGrad(x4, weight, b)) {
    const inputs = b ? [x4, weight, b] : [x4, weight];
    const wShape = weight.shape;
    attach(out, op, inputs, (gy, saved, need) => convBackward(gy, saved[0]!, saved[1]!, g, wShape, need), [x4, weight]);
  }
  if (!was3d) return out;
  const y = output3d(out, true);
  out.dispose();
  x4.dispose();
  return y;
}

/**
 * 1×1 convolutions (stride 1, no padding, one group) need no im2col: per image, Y_n (O × P) =
 * W (O × C) · X_n (C × P) is already NCHW. Used while the per-image weight-gradient partials
 * (N × O × C) stay under the column limit.
 */
function direct1x1(g: Geo): boolean {
  return convTuning.direct1x1 && g.KH === 1 && g.KW === 1 && g.sh === 1 && g.sw === 1 && g.ph === 0 && g.pw === 0 && g.G === 1 &&
    4 * g.N * g.O * g.C <= convTuning.maxColumnBytes;
}

function conv1x1Forward(x: Tensor, w: Tensor, bias: Tensor | null, g: Geo, op: string): Tensor {
  const y = gemmNew(op, w, x, { M: g.O, N: g.P, K: g.C, batch: g.N, strideA: 0, strideB: g.C * g.P, transA: false, transB: false }, bias ? [bias] : []);
  if (bias && y.size) launchInto(op, biasKernel, [bias], [y], { n: y.size, O: g.O, P: g.P });
  const out = reshape(y, [g.N, g.O, g.OH, g.OW]);
  y.dispose();
  return out;
}

function conv1x1Backward(gy: Tensor, x: Tensor, w: Tensor, g: Geo, wShape: readonly number[], need: readonly boolean[]): (Tensor | null)[] {
  const op = 'conv2d.backward';
  let dx: Tensor | null = null, dw: Tensor | null = null;
  if (need[0]) {
    // dX_n (C × P) = Wᵀ · dY_n
    dx = reshape(gemmNew(op, w, gy, { M: g.C, N: g.P, K: g.O, batch: g.N, strideA: 0, strideB: g.O * g.P, transA: true, transB: false }, []), [g.N, g.C, g.H, g.W]);
  }
  if (need[1]) {
    if (g.N === 0) {
      dw = Tensor.empty(wShape, 'float32', op, x.backend);
      fillInto(dw, 0, op);
    } else {
      // dW = Σ_n dY_n (O × P) · X_nᵀ
      const part = gemmNew(op, gy, x, { M: g.O, N: g.C, K: g.P, batch: g.N, strideA: g.O * g.P, strideB: g.C * g.P, transA: false, transB: true }, []);
      dw = g.N === 1 ? reshape(part, wShape) : reshape(sum(reshape(part, [g.N, g.O * g.C]), 0), wShape);
    }
  }
  const db = need[2] ? sum(reshape(gy, [g.N, g.O, g.P]), [0, 2]) : null;
  return [dx, dw, db];
}

/**
 * With stride 1 (one group, implicit GEMMs) the input gradient is a convolution of dY with the
 * weight transposed and flipped, dX[n, c, h, w] = Σ_{o,kh,kw} dY[n, o, h + ph' − kh·dh, w + pw' − kw·dw]
 * · W[o, c, KH−1−kh, KW−1−kw] with padding ph' = dh·(KH−1) − ph: the forward's implicit GEMM
 * computes it, with no column matrix and no col2im. (A padding wider than the dilated kernel would
 * make ph' negative: those take the column path.) That GEMM's N is the input's channel count: below
 * `dxConvMinC` its tiles are mostly empty (H200, fwd + bwd of a 1→128 conv on 512 28×28 images: 2.71 ms
 * this way, 0.94 ms through the columns; 16→16: 0.66 against 0.73).
 */
function dxByConv(g: Geo): boolean {
  return convTuning.implicit && convTuning.dxConv && g.G === 1 && g.C >= convTuning.dxConvMinC && g.sh === 1 && g.sw === 1 &&
    g.dh * (g.KH - 1) >= g.ph && g.dw * (g.KW - 1) >= g.pw;
}

interface FlipParams { O: number; C: number; KH: number; KW: number }

// F[c, o, kh, kw] = W[o, c, KH−1−kh, KW−1−kw]
const flipKernel: Kernel<FlipParams> = {
  name: 'conv2d.flip',
  key: () => '',
  cpu: (ins, outs, { O, C, KH, KW }) => {
    const w = ins[0]!.f32, f = outs[0]!.f32;
    for (let c = 0; c < C; c++) {
      for (let o = 0; o < O; o++) {
        for (let kh = 0; kh < KH; kh++) {
          for (let kw = 0; kw < KW; kw++) f[((c * O + o) * KH + kh) * KW + kw] = w[((o * C + c) * KH + KH - 1 - kh) * KW + KW - 1 - kw]!;
        }
      }
    }
  },
  wgsl: () => PRELUDE + bindings([['Wt', 'f32']], [['F', 'f32']]) + main1d(`
  if (idx >= pu(0u)) { return; }
  let O = pu(1u); let C = pu(2u); let KH = pu(3u); let KW = pu(4u);
  let kw = idx % KW; let t1 = idx / KW; let kh = t1 % KH; let t2 = t1 / KH; let o = t2 % O; let c = t2 / O;
  F[idx] = Wt[((o * C + c) * KH + KH - 1u - kh) * KW + KW - 1u - kw];`),
  grid: (p) => grid1d(p.O * p.C * p.KH * p.KW),
  uniforms: (p, u) => void u.u32(p.O * p.C * p.KH * p.KW).u32(p.O).u32(p.C).u32(p.KH).u32(p.KW),
};

function inputGradByConv(gy: Tensor, w: Tensor, g: Geo, op: string): Tensor {
  const f = launch(op, flipKernel, [w], [g.C, g.O, g.KH, g.KW], 'float32', { O: g.O, C: g.C, KH: g.KH, KW: g.KW });
  const ph = g.dh * (g.KH - 1) - g.ph, pw = g.dw * (g.KW - 1) - g.pw;
  const gt: Geo = {
    N: g.N, C: g.O, H: g.OH, W: g.OW, O: g.C, G: 1, Cg: g.O, Og: g.C, KH: g.KH, KW: g.KW,
    sh: 1, sw: 1, ph, pw, dh: g.dh, dw: g.dw, OH: g.H, OW: g.W, P: g.H * g.W, Kc: g.O * g.KH * g.KW,
  };
  const dx = convForward(gy, f, null, gt, op);
  f.dispose();
  return dx;
}

function convForward(x: Tensor, w: Tensor, bias: Tensor | null, g: Geo, op: string): Tensor {
  if (direct1x1(g)) return conv1x1Forward(x, w, bias, g, op);
  if (directSmall(g)) return directForward(x, w, bias, g, op);
  const implicit = implicitGemm(g);
  const list = implicit ? chunks(g, x, op, g.Og) : chunks(g, x, op);
  let out: Tensor | null = null;
  const extra = bias ? [bias] : [];
  for (const c of list) {
    const cols = implicit ? x : im2col(x, g, c, op);
    const y = gemmNew(op, cols, w, {
      M: c.RB, N: g.Og, K: g.Kc, batch: g.G, strideA: c.RB * g.Kc, strideB: g.Og * g.Kc, transA: false, transB: true,
      ...(implicit ? { strideA: 0, im2col: im2colOperand('A', g, c) } : {}),
    }, out ? [out] : []);
    if (!implicit) cols.dispose();
    // Allocated after the first GEMM so it can keep clear of its result's slab.
    out ??= Tensor.empty([g.N, g.O, g.OH, g.OW], 'float32', op, x.backend, [x, w, y, ...extra]);
    launchInto(op, outKernel, [y, ...extra], [out], { g, c, bias: !!bias });
    y.dispose();
  }
  return out ?? Tensor.empty([g.N, g.O, g.OH, g.OW], 'float32', op, x.backend, [x, w, ...extra]);
}

function convBackward(gy: Tensor, x: Tensor, w: Tensor, g: Geo, wShape: readonly number[], need: readonly boolean[]): (Tensor | null)[] {
  if (direct1x1(g)) return conv1x1Backward(gy, x, w, g, wShape, need);
  const op = 'conv2d.backward';
  const [needX, needW, needB] = [need[0] ?? false, need[1] ?? false, need[2] ?? false];
  // stride 1: the input gradient is itself a convolution (see dxByConv)
  const xConv = needX && g.N > 0 && dxByConv(g);
  let dx = xConv ? inputGradByConv(gy, w, g, op) : null;
  if (needX && !xConv) dx = Tensor.empty([g.N, g.C, g.H, g.W], 'float32', op, x.backend, [gy, x, w]);
  // few columns: the weight gradient straight from NCHW
  const wDirect = needW && g.N > 0 && directSmall(g);
  let dw: Tensor | null = wDirect ? directWeightGrad(gy, x, g, op) : null;
  const xCols = needX && !xConv, wGemm = needW && !wDirect;
  if (xCols || wGemm) {
    // the rows (and, without implicit GEMMs, the columns) of a chunk; only the output's columns
    // when the weight gradient alone is left and gathers its columns itself
    const chunkCols = xCols || !implicitGemm(g) ? Math.max(g.Kc, g.Og) : g.Og;
    for (const c of chunks(g, x, op, chunkCols)) {
      const rows = launch(op, rowsKernel, [gy], [g.G * c.RB * g.Og], 'float32', { g, c });
      if (wGemm) {
        const implicit = implicitGemm(g);
        const cols = implicit ? x : im2col(x, g, c, op);
        const tile = convTuning.dwTile || (g.Og >= 128 && g.Kc >= 128 ? 8 : undefined);
        const S = splitK(g, c.RB, tile === 8 ? 128 : 64);
        const K = c.RB / S;
        let part = gemmNew(op, rows, cols, {
          M: g.Og, N: g.Kc, K, batch: g.G * S, strideA: K * g.Og, strideB: K * g.Kc, transA: true, transB: false, tile,
          ...(implicit ? { strideB: K, im2col: im2colOperand('B', g, c) } : {}),
        }, dw ? [dw] : []);
        if (!implicit) cols.dispose();
        if (S > 1) {
          const p3 = reshape(part, [g.G, S, g.Og * g.Kc]);
          const summed = sum(p3, 1);
          part.dispose();
          p3.dispose();
          part = summed;
        }
        if (dw) {
          addInPlace(dw, reshape(part, dw.shape));
          part.dispose();
        } else dw = reshape(part, [g.G * g.Og * g.Kc]);
      }
      if (xCols && dx) {
        // dcols = rows · W, or its transpose Wᵀ · rowsᵀ (column-major dcols: col2im's gathers coalesce)
        const colMajor = convTuning.col2imColMajor;
        const dcols = colMajor
          ? gemmNew(op, w, rows, { M: g.Kc, N: c.RB, K: g.Og, batch: g.G, strideA: g.Og * g.Kc, strideB: c.RB * g.Og, transA: true, transB: true }, [dx])
          : gemmNew(op, rows, w, { M: c.RB, N: g.Kc, K: g.Og, batch: g.G, strideA: c.RB * g.Og, strideB: g.Og * g.Kc, transA: false, transB: false }, [dx]);
        const n0 = Math.floor(c.r0 / g.P);
        const n1 = Math.floor((c.r0 + c.RB - 1) / g.P);
        launchInto(op, col2imKernel, [dcols], [dx], { g, c, n0, nImg: n1 - n0 + 1, accFirst: c.r0 > n0 * g.P, colMajor });
        dcols.dispose();
      }
      rows.dispose();
    }
  }
  if (needW && !dw) {
    dw = Tensor.empty([g.G * g.Og * g.Kc], 'float32', op, x.backend);
    fillInto(dw, 0, op);
  }
  if (dx && g.N === 0) fillInto(dx, 0, op);
  const db = needB ? sum(reshape(gy, [g.N, g.O, g.P]), [0, 2]) : null;
  return [dx, dw ? reshape(dw, wShape) : null, db];
}

