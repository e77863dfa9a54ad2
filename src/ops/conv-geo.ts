// The convolution's geometry and tuning knobs, shared by conv.ts (the op, its GEMM paths) and
// conv-direct.ts (the direct kernels for few columns).
import type { UniformWriter } from '../backend/types.js';
import { MAX_GRID } from './kernel.js';

/**
 * @internal Tuning knobs. `maxColumnBytes`: the largest im2col buffer (and GEMM result) one chunk
 * may use — the device's maxStorageBufferBindingSize caps it too; tests lower it to force chunks.
 * `splitTarget`: workgroups the weight-gradient GEMM aims for, reached by splitting its long
 * reduction over pixels into `S` partial products (each at least `minSplitK` pixels long) that are
 * summed afterwards. `direct1x1`: 1×1 convolutions with stride 1, no padding and one group skip
 * im2col (see conv1x1). `specialize`: compile the layer geometry into the kernels (see geoWgsl).
 * `im2colQuad`: im2col writes four columns an invocation when Kc % 4 == 0. `col2imColMajor`: the
 * input gradient's column matrix is computed transposed, so col2im reads it coalesced.
 * `directMaxKc`: one-group convolutions with at most this many columns (Cg·KH·KW, ≤ 32) run the
 * direct kernels (no im2col, no GEMM; 0 turns them off). H200, fwd + bwd: 1→128 channels (Kc = 9)
 * 0.78 ms direct against 0.91 implicit; 3→64 (Kc = 27) 0.48 against 0.40. `directSliceRows`: pixel
 * rows in one slice of their weight-gradient reduction (one workgroup each). `directPixels`: output
 * pixels per forward invocation (each weight load then serves more; 2 and 4 made lavapipe's compile
 * 2–5× slower, and the H200 figures above are with 1). `implicit`: one-group convolutions gather the im2col
 * operand inside the forward and weight-gradient GEMMs instead of writing the column matrix.
 * `dxConv`: with implicit GEMMs and stride 1, the input gradient as a convolution (see dxByConv),
 * for inputs of at least `dxConvMinC` channels.
 * `dwTile`: force the weight-gradient GEMM's outputs a thread (4×4 or 8×8); 0: 8×8 when the
 * weight has ≥ 128 filters and ≥ 128 columns, else the GEMM's heuristic (CSNN's second layer on the
 * H200: 4.98 ms a step with 8×8, 5.15 with 4×4).
 */
export const convTuning = {
  maxColumnBytes: 256 * 2 ** 20, splitTarget: 512, minSplitK: 64, direct1x1: true, im2colQuad: true, col2imColMajor: true,
  directMaxKc: 16, directSliceRows: 1024, directPixels: 1 as 1 | 2 | 4, implicit: true, dxConv: true, dxConvMinC: 16, dwTile: 0 as 0 | 4 | 8,
  specialize: typeof process === 'undefined' || process.env?.GRILLY_CONV_SPECIALIZE !== '0',
};

/** Batches per GEMM launch: the grid's z dimension is capped (WebGPU's default limit). */
export const MAX_Z = MAX_GRID;

// ---- geometry ---------------------------------------------------------------------------------

export interface Geo {
  N: number; C: number; H: number; W: number;
  O: number; G: number; Cg: number; Og: number;
  KH: number; KW: number;
  sh: number; sw: number; ph: number; pw: number; dh: number; dw: number;
  OH: number; OW: number;
  /** Output pixels per image (OH·OW) and columns per group (Cg·KH·KW). */
  P: number; Kc: number;
}

/** A range of rows (global output pixels n·P + p) processed at once. */
export interface Chunk { r0: number; RB: number }

/**
 * With `convTuning.specialize` the geometry is compiled into each conv kernel as constants (one
 * pipeline per layer shape, the batch size excepted), so the compiler can turn the index
 * arithmetic's divisions into multiplies; otherwise it is read from uniform words 16.. .
 */
export const geoKey = (g: Geo): string => (convTuning.specialize ? fullGeoKey(g) : 'u');
/** Every geometry field a kernel may compile in (the batch size excepted). */
export const fullGeoKey = (g: Geo): string => [g.C, g.H, g.W, g.O, g.G, g.KH, g.KW, g.sh, g.sw, g.ph, g.pw, g.dh, g.dw].join(',');

const GEO_FIELDS = ['C', 'H', 'W', 'O', 'Cg', 'Og', 'KH', 'KW', 'sh', 'sw', 'ph', 'pw', 'dh', 'dw', 'OH', 'OW', 'P', 'Kc'] as const;
const GEO_FN: Record<(typeof GEO_FIELDS)[number], string> = {
  C: 'gC', H: 'gH', W: 'gW', O: 'gO', Cg: 'gCg', Og: 'gOg', KH: 'gKH', KW: 'gKW', sh: 'gSH', sw: 'gSW', ph: 'gPH', pw: 'gPW',
  dh: 'gDH', dw: 'gDW', OH: 'gOH', OW: 'gOW', P: 'gP', Kc: 'gKc',
};

export function geoWgsl(g: Geo): string {
  let s = '\n';
  GEO_FIELDS.forEach((f, k) => {
    const signed = f === 'ph' || f === 'pw';
    const ty = signed ? 'i32' : 'u32';
    const v = convTuning.specialize ? `${g[f]}${signed ? 'i' : 'u'}` : `p${signed ? 'i' : 'u'}(${16 + k}u)`;
    s += `fn ${GEO_FN[f]}() -> ${ty} { return ${v}; }\n`;
  });
  return s;
}

export function geoUniforms(g: Geo, u: UniformWriter): void {
  if (convTuning.specialize) return;
  u.n = 16;
  for (const f of GEO_FIELDS) {
    if (f === 'ph' || f === 'pw') u.i32(g[f]);
    else u.u32(g[f]);
  }
}

export interface ChunkParams { g: Geo; c: Chunk }
