// 2-D pooling over NCHW (or CHW) float32 inputs, PyTorch semantics: max pooling (with argmax
// indices into each input plane, -inf padding, NaN propagation), average pooling (ceil mode,
// count_include_pad, divisor_override) and adaptive average pooling. Every backward pass is a
// gather: each input pixel sums the output gradients of the windows that can cover it (no atomics).
import type { Kernel, UniformWriter } from '../backend/types.js';
import { ShapeError, ValueError, fmtShape } from '../errors.js';
import { attach, needsGrad } from '../autograd/node.js';
import { Tensor } from '../tensor/tensor.js';
import { PRELUDE, bindings, grid1d, launch, launchInto, main1d } from './kernel.js';
import { input4d, output3d, pair, type IntPair } from './conv.js';

interface PoolGeo {
  /** Planes (N·C). */
  NC: number;
  H: number; W: number; OH: number; OW: number;
  KH: number; KW: number; sh: number; sw: number; ph: number; pw: number; dh: number; dw: number;
  /** avgPool2d: count padding in the divisor; a fixed divisor (0 = none). */
  countIncludePad: boolean;
  divisor: number;
}

function poolUniforms(total: number, g: PoolGeo, u: UniformWriter): void {
  u.u32(total).u32(g.NC).u32(g.H).u32(g.W).u32(g.OH).u32(g.OW).u32(g.KH).u32(g.KW);
  u.u32(g.sh).u32(g.sw).i32(g.ph).i32(g.pw).u32(g.dh).u32(g.dw).u32(g.countIncludePad ? 1 : 0).u32(g.divisor);
  u.n = 63;
  u.u32(0xff800000); // -inf (WGSL has no literal for it)
}

const POOL_WGSL = `
fn gH() -> u32 { return pu(2u); } fn gW() -> u32 { return pu(3u); } fn gOH() -> u32 { return pu(4u); } fn gOW() -> u32 { return pu(5u); }
fn gKH() -> u32 { return pu(6u); } fn gKW() -> u32 { return pu(7u); } fn gSH() -> u32 { return pu(8u); } fn gSW() -> u32 { return pu(9u); }
fn gPH() -> i32 { return pi(10u); } fn gPW() -> i32 { return pi(11u); } fn gDH() -> u32 { return pu(12u); } fn gDW() -> u32 { return pu(13u); }
fn gCountPad() -> u32 { return pu(14u); } fn gDivisor() -> u32 { return pu(15u); }
fn isnan_(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u; }
`;

// ---- max pooling ------------------------------------------------------------------------------

// out = max over the window (padding never wins; NaN does), idx = h·W + w of the max: the first
// of tied maxima, the last NaN, as PyTorch's kernels pick them.
const maxFwdKernel: Kernel<PoolGeo> = {
  name: 'maxPool2d',
  key: () => '',
  cpu: (ins, outs, g) => {
    const x = ins[0]!.f32, out = outs[0]!.f32, ix = outs[1]!.i32;
    let o = 0;
    for (let pl = 0; pl < g.NC; pl++) {
      const base = pl * g.H * g.W;
      for (let oh = 0; oh < g.OH; oh++) {
        for (let ow = 0; ow < g.OW; ow++) {
          let m = -Infinity, mi = -1;
          for (let kh = 0; kh < g.KH; kh++) {
            const ih = oh * g.sh - g.ph + kh * g.dh;
            if (ih < 0 || ih >= g.H) continue;
            for (let kw = 0; kw < g.KW; kw++) {
              const iw = ow * g.sw - g.pw + kw * g.dw;
              if (iw < 0 || iw >= g.W) continue;
              const j = ih * g.W + iw;
              const v = x[base + j]!;
              if (mi < 0 || v > m || v !== v) {
                m = v;
                mi = j;
              }
            }
          }
          out[o] = m;
          ix[o++] = mi;
        }
      }
    }
  },
  wgsl: () =>
    PRELUDE + POOL_WGSL + bindings([['X', 'f32']], [['O', 'f32'], ['I', 'i32']]) +
    main1d(`
  if (idx >= pu(0u)) { return; }
  let OW = gOW(); let OH = gOH(); let H = gH(); let W = gW();
  let t = idx / OW; let ow = idx - t * OW;
  let pl = t / OH; let oh = t - pl * OH;
  let base = pl * H * W;
  var m = pf(63u);
  var mi = -1;
  for (var kh = 0u; kh < gKH(); kh++) {
    let ih = i32(oh * gSH() + kh * gDH()) - gPH();
    if (ih < 0 || ih >= i32(H)) { continue; }
    for (var kw = 0u; kw < gKW(); kw++) {
      let iw = i32(ow * gSW() + kw * gDW()) - gPW();
      if (iw < 0 || iw >= i32(W)) { continue; }
      let j = ih * i32(W) + iw;
      let v = X[base + u32(j)];
      if (mi < 0 || v > m || isnan_(v)) { m = v; mi = j; }
    }
  }
  O[idx] = m;
  I[idx] = mi;`),
  grid: (g) => grid1d(g.NC * g.OH * g.OW),
  uniforms: (g, u) => poolUniforms(g.NC * g.OH * g.OW, g, u),
};

// dx[h, w] = Σ over the windows (oh, ow) that cover (h, w) and whose argmax is h·W + w of dy[oh, ow].
const maxBackKernel: Kernel<PoolGeo> = {
  name: 'maxPool2d.backward',
  key: () => '',
  cpu: (ins, outs, g) => {
    const gy = ins[0]!.f32, ix = ins[1]!.i32, dx = outs[0]!.f32;
    let i = 0;
    for (let pl = 0; pl < g.NC; pl++) {
      const ob = pl * g.OH * g.OW;
      for (let h = 0; h < g.H; h++) {
        for (let w = 0; w < g.W; w++) {
          const j = h * g.W + w;
          let s = 0;
          for (let kh = 0; kh < g.KH; kh++) {
            const th = h + g.ph - kh * g.dh;
            if (th < 0 || th % g.sh !== 0 || th / g.sh >= g.OH) continue;
            const oh = th / g.sh;
            for (let kw = 0; kw < g.KW; kw++) {
              const tw = w + g.pw - kw * g.dw;
              if (tw < 0 || tw % g.sw !== 0 || tw / g.sw >= g.OW) continue;
              const o = ob + oh * g.OW + tw / g.sw;
              if (ix[o] === j) s += gy[o]!;
            }
          }
          dx[i++] = s;
        }
      }
    }
  },
  wgsl: () =>
    PRELUDE + POOL_WGSL + bindings([['G', 'f32'], ['I', 'i32']], [['DX', 'f32']]) +
    main1d(`
  if (idx >= pu(0u)) { return; }
  let OW = gOW(); let OH = gOH(); let H = gH(); let W = gW();
  let pl = idx / (H * W); let j = idx - pl * H * W;
  let h = j / W; let w = j - h * W;
  let ob = pl * OH * OW;
  var s = 0.0;
  for (var kh = 0u; kh < gKH(); kh++) {
    let th = i32(h) + gPH() - i32(kh * gDH());
    if (th < 0) { break; }
    if (u32(th) % gSH() != 0u) { continue; }
    let oh = u32(th) / gSH();
    if (oh >= OH) { continue; }
    for (var kw = 0u; kw < gKW(); kw++) {
      let tw = i32(w) + gPW() - i32(kw * gDW());
      if (tw < 0) { break; }
      if (u32(tw) % gSW() != 0u) { continue; }
      let ow = u32(tw) / gSW();
      if (ow >= OW) { continue; }
      let o = ob + oh * OW + ow;
      if (I[o] == i32(j)) { s += G[o]; }
    }
  }
  DX[idx] = s;`),
  grid: (g) => grid1d(g.NC * g.H * g.W),
  uniforms: (g, u) => poolUniforms(g.NC * g.H * g.W, g, u),
};

// Windows that tile the plane exactly (kernel = stride, no padding or dilation, H and W
// multiples of the window: the common 2×2 pool): each invocation owns one window and writes its
// KH·KW inputs, dy at the argmax and 0 elsewhere — no search over covering windows, no divisions
// per input pixel.
const tiles = (g: PoolGeo) => g.KH === g.sh && g.KW === g.sw && g.ph === 0 && g.pw === 0 && g.dh === 1 && g.dw === 1 && g.OH * g.KH === g.H && g.OW * g.KW === g.W;
const maxBackTiledKernel: Kernel<PoolGeo> = {
  name: 'maxPool2d.backward',
  key: () => 'tiled',
  cpu: (ins, outs, g) => {
    const gy = ins[0]!.f32, ix = ins[1]!.i32, dx = outs[0]!.f32;
    for (let o = 0; o < g.NC * g.OH * g.OW; o++) {
      const pl = Math.floor(o / (g.OH * g.OW)), r = o - pl * g.OH * g.OW;
      const oh = Math.floor(r / g.OW), ow = r - oh * g.OW;
      for (let kh = 0; kh < g.KH; kh++) {
        for (let kw = 0; kw < g.KW; kw++) {
          const j = (oh * g.KH + kh) * g.W + ow * g.KW + kw;
          dx[pl * g.H * g.W + j] = ix[o] === j ? gy[o]! : 0;
        }
      }
    }
  },
  wgsl: () =>
    PRELUDE + POOL_WGSL + bindings([['G', 'f32'], ['I', 'i32']], [['DX', 'f32']]) +
    main1d(`
  if (idx >= pu(0u)) { return; }
  let OW = gOW(); let OH = gOH(); let W = gW(); let KH = gKH(); let KW = gKW();
  let t = idx / OW; let ow = idx - t * OW;
  let pl = t / OH; let oh = t - pl * OH;
  let at = I[idx]; let gv = G[idx];
  let base = pl * gH() * W;
  for (var kh = 0u; kh < KH; kh++) {
    let row = (oh * KH + kh) * W + ow * KW;
    for (var kw = 0u; kw < KW; kw++) {
      DX[base + row + kw] = select(0.0, gv, i32(row + kw) == at);
    }
  }`),
  grid: (g) => grid1d(g.NC * g.OH * g.OW),
  uniforms: (g, u) => poolUniforms(g.NC * g.OH * g.OW, g, u),
};

// ---- average pooling --------------------------------------------------------------------------

/** PyTorch's divisor for window (oh, ow), or 0 for a window with no input pixel (never here). */
function avgDivisor(g: PoolGeo, oh: number, ow: number): number {
  let hs = oh * g.sh - g.ph, ws = ow * g.sw - g.pw;
  let he = Math.min(hs + g.KH, g.H + g.ph), we = Math.min(ws + g.KW, g.W + g.pw);
  const poolSize = (he - hs) * (we - ws);
  hs = Math.max(hs, 0);
  ws = Math.max(ws, 0);
  he = Math.min(he, g.H);
  we = Math.min(we, g.W);
  if (hs >= he || ws >= we) return 0;
  if (g.divisor) return g.divisor;
  return g.countIncludePad ? poolSize : (he - hs) * (we - ws);
}

const AVG_WGSL = `
fn divisor(oh: u32, ow: u32) -> f32 {
  var hs = i32(oh * gSH()) - gPH(); var ws = i32(ow * gSW()) - gPW();
  var he = min(hs + i32(gKH()), i32(gH()) + gPH()); var we = min(ws + i32(gKW()), i32(gW()) + gPW());
  let poolSize = (he - hs) * (we - ws);
  hs = max(hs, 0); ws = max(ws, 0); he = min(he, i32(gH())); we = min(we, i32(gW()));
  if (hs >= he || ws >= we) { return 0.0; }
  if (gDivisor() != 0u) { return f32(gDivisor()); }
  if (gCountPad() != 0u) { return f32(poolSize); }
  return f32((he - hs) * (we - ws));
}
`;

const avgFwdKernel: Kernel<PoolGeo> = {
  name: 'avgPool2d',
  key: () => '',
  cpu: (ins, outs, g) => {
    const x = ins[0]!.f32, out = outs[0]!.f32;
    let o = 0;
    for (let pl = 0; pl < g.NC; pl++) {
      const base = pl * g.H * g.W;
      for (let oh = 0; oh < g.OH; oh++) {
        for (let ow = 0; ow < g.OW; ow++) {
          const d = avgDivisor(g, oh, ow);
          const hs = Math.max(oh * g.sh - g.ph, 0), he = Math.min(oh * g.sh - g.ph + g.KH, g.H);
          const ws = Math.max(ow * g.sw - g.pw, 0), we = Math.min(ow * g.sw - g.pw + g.KW, g.W);
          let s = 0;
          for (let h = hs; h < he; h++) for (let w = ws; w < we; w++) s += x[base + h * g.W + w]!;
          out[o++] = d === 0 ? 0 : s / d;
        }
      }
    }
  },
  wgsl: () =>
    PRELUDE + POOL_WGSL + AVG_WGSL + bindings([['X', 'f32']], [['O', 'f32']]) +
    main1d(`
  if (idx >= pu(0u)) { return; }
  let OW = gOW(); let OH = gOH(); let H = gH(); let W = gW();
  let t = idx / OW; let ow = idx - t * OW;
  let pl = t / OH; let oh = t - pl * OH;
  let base = pl * H * W;
  let d = divisor(oh, ow);
  let h0 = i32(oh * gSH()) - gPH(); let w0 = i32(ow * gSW()) - gPW();
  let hs = u32(max(h0, 0)); let he = u32(min(h0 + i32(gKH()), i32(H)));
  let ws = u32(max(w0, 0)); let we = u32(min(w0 + i32(gKW()), i32(W)));
  var s = 0.0;
  for (var h = hs; h < he; h++) { for (var w = ws; w < we; w++) { s += X[base + h * W + w]; } }
  O[idx] = select(s / d, 0.0, d == 0.0);`),
  grid: (g) => grid1d(g.NC * g.OH * g.OW),
  uniforms: (g, u) => poolUniforms(g.NC * g.OH * g.OW, g, u),
};

const avgBackKernel: Kernel<PoolGeo> = {
  name: 'avgPool2d.backward',
  key: () => '',
  cpu: (ins, outs, g) => {
    const gy = ins[0]!.f32, dx = outs[0]!.f32;
    let i = 0;
    for (let pl = 0; pl < g.NC; pl++) {
      const ob = pl * g.OH * g.OW;
      for (let h = 0; h < g.H; h++) {
        for (let w = 0; w < g.W; w++) {
          let s = 0;
          for (let kh = 0; kh < g.KH; kh++) {
            const th = h + g.ph - kh;
            if (th < 0 || th % g.sh !== 0 || th / g.sh >= g.OH) continue;
            const oh = th / g.sh;
            for (let kw = 0; kw < g.KW; kw++) {
              const tw = w + g.pw - kw;
              if (tw < 0 || tw % g.sw !== 0 || tw / g.sw >= g.OW) continue;
              const ow = tw / g.sw;
              const d = avgDivisor(g, oh, ow);
              if (d !== 0) s += gy[ob + oh * g.OW + ow]! / d;
            }
          }
          dx[i++] = s;
        }
      }
    }
  },
  wgsl: () =>
    PRELUDE + POOL_WGSL + AVG_WGSL + bindings([['G', 'f32']], [['DX', 'f32']]) +
    main1d(`
  if (idx >= pu(0u)) { return; }
  let OW = gOW(); let OH = gOH(); let H = gH(); let W = gW();
  let pl = idx / (H * W); let j = idx - pl * H * W;
  let h = j / W; let w = j - h * W;
  let ob = pl * OH * OW;
  var s = 0.0;
  for (var kh = 0u; kh < gKH(); kh++) {
    let th = i32(h) + gPH() - i32(kh);
    if (th < 0) { break; }
    if (u32(th) % gSH() != 0u) { continue; }
    let oh = u32(th) / gSH();
    if (oh >= OH) { continue; }
    for (var kw = 0u; kw < gKW(); kw++) {
      let tw = i32(w) + gPW() - i32(kw);
      if (tw < 0) { break; }
      if (u32(tw) % gSW() != 0u) { continue; }
      let ow = u32(tw) / gSW();
      if (ow >= OW) { continue; }
      let d = divisor(oh, ow);
      if (d != 0.0) { s += G[ob + oh * OW + ow] / d; }
    }
  }
  DX[idx] = s;`),
  grid: (g) => grid1d(g.NC * g.H * g.W),
  uniforms: (g, u) => poolUniforms(g.NC * g.H * g.W, g, u),
};

// ---- adaptive average pooling -----------------------------------------------------------------

// Window i along a dim of `n` inputs and `m` outputs: [⌊i·n/m⌋, ⌈(i+1)·n/m⌉).
const aStart = (i: number, n: number, m: number) => Math.floor((i * n) / m);
const aEnd = (i: number, n: number, m: number) => Math.ceil(((i + 1) * n) / m);

const ADAPT_WGSL = `
fn aStart(i: u32, n: u32, m: u32) -> u32 { return (i * n) / m; }
fn aEnd(i: u32, n: u32, m: u32) -> u32 { return ((i + 1u) * n + m - 1u) / m; }
`;

const adaptFwdKernel: Kernel<PoolGeo> = {
  name: 'adaptiveAvgPool2d',
  key: () => '',
  cpu: (ins, outs, g) => {
    const x = ins[0]!.f32, out = outs[0]!.f32;
    let o = 0;
    for (let pl = 0; pl < g.NC; pl++) {
      const base = pl * g.H * g.W;
      for (let oh = 0; oh < g.OH; oh++) {
        const hs = aStart(oh, g.H, g.OH), he = aEnd(oh, g.H, g.OH);
        for (let ow = 0; ow < g.OW; ow++) {
          const ws = aStart(ow, g.W, g.OW), we = aEnd(ow, g.W, g.OW);
          let s = 0;
          for (let h = hs; h < he; h++) for (let w = ws; w < we; w++) s += x[base + h * g.W + w]!;
          out[o++] = s / ((he - hs) * (we - ws));
        }
      }
    }
  },
  wgsl: () =>
    PRELUDE + POOL_WGSL + ADAPT_WGSL + bindings([['X', 'f32']], [['O', 'f32']]) +
    main1d(`
  if (idx >= pu(0u)) { return; }
  let OW = gOW(); let OH = gOH(); let H = gH(); let W = gW();
  let t = idx / OW; let ow = idx - t * OW;
  let pl = t / OH; let oh = t - pl * OH;
  let base = pl * H * W;
  let hs = aStart(oh, H, OH); let he = aEnd(oh, H, OH);
  let ws = aStart(ow, W, OW); let we = aEnd(ow, W, OW);
  var s = 0.0;
  for (var h = hs; h < he; h++) { for (var w = ws; w < we; w++) { s += X[base + h * W + w]; } }
  O[idx] = s / f32((he - hs) * (we - ws));`),
  grid: (g) => grid1d(g.NC * g.OH * g.OW),
  uniforms: (g, u) => poolUniforms(g.NC * g.OH * g.OW, g, u),
};

// dx[h, w] = Σ over oh ∈ [⌊h·OH/H⌋, ⌈(h+1)·OH/H⌉), ow likewise, of dy[oh, ow] / window size.
const adaptBackKernel: Kernel<PoolGeo> = {
  name: 'adaptiveAvgPool2d.backward',
  key: () => '',
  cpu: (ins, outs, g) => {
    const gy = ins[0]!.f32, dx = outs[0]!.f32;
    let i = 0;
    for (let pl = 0; pl < g.NC; pl++) {
      const ob = pl * g.OH * g.OW;
      for (let h = 0; h < g.H; h++) {
        const o0 = aStart(h, g.OH, g.H), o1 = aEnd(h, g.OH, g.H);
        for (let w = 0; w < g.W; w++) {
          const q0 = aStart(w, g.OW, g.W), q1 = aEnd(w, g.OW, g.W);
          let s = 0;
          for (let oh = o0; oh < o1; oh++) {
            const kh = aEnd(oh, g.H, g.OH) - aStart(oh, g.H, g.OH);
            for (let ow = q0; ow < q1; ow++) {
              const kw = aEnd(ow, g.W, g.OW) - aStart(ow, g.W, g.OW);
              s += gy[ob + oh * g.OW + ow]! / (kh * kw);
            }
          }
          dx[i++] = s;
        }
      }
    }
  },
  wgsl: () =>
    PRELUDE + POOL_WGSL + ADAPT_WGSL + bindings([['G', 'f32']], [['DX', 'f32']]) +
    main1d(`
  if (idx >= pu(0u)) { return; }
  let OW = gOW(); let OH = gOH(); let H = gH(); let W = gW();
  let pl = idx / (H * W); let j = idx - pl * H * W;
  let h = j / W; let w = j - h * W;
  let ob = pl * OH * OW;
  var s = 0.0;
  for (var oh = aStart(h, OH, H); oh < aEnd(h, OH, H); oh++) {
    let kh = aEnd(oh, H, OH) - aStart(oh, H, OH);
    for (var ow = aStart(w, OW, W); ow < aEnd(w, OW, W); ow++) {
      let kw = aEnd(ow, W, OW) - aStart(ow, W, OW);
      s += G[ob + oh * OW + ow] / f32(kh * kw);
    }
  }
  DX[idx] = s;`),
  grid: (g) => grid1d(g.NC * g.H * g.W),
  uniforms: (g, u) => poolUniforms(g.NC * g.H * g.W, g, u),
};

// ---- shapes -----------------------------------------------------------------------------------

/** PyTorch's pooling output size, with ceil mode's rule that the last window starts inside the input or its left padding. */
export function poolOutSize(inSize: number, k: number, s: number, p: number, d: number, ceilMode: boolean): number {
  let out = Math.floor((inSize + 2 * p - d * (k - 1) - 1 + (ceilMode ? s - 1 : 0)) / s) + 1;
  if (ceilMode && (out - 1) * s >= inSize + p) out--;
  return out;
}

function poolGeo(
  op: string, x4: Tensor, xShape: readonly number[], kernelSize: IntPair, stride: IntPair | null | undefined, padding: IntPair,
  dilation: IntPair, ceilMode: boolean,
): PoolGeo {
  const [KH, KW] = pair(kernelSize, 'kernelSize', op, 1);
  const [sh, sw] = stride === undefined || stride === null ? [KH, KW] : pair(stride, 'stride', op, 1);
  const [ph, pw] = pair(padding, 'padding', op, 0);
  const [dh, dw] = pair(dilation, 'dilation', op, 1);
  if (ph > Math.floor(KH / 2) || pw > Math.floor(KW / 2)) {
    throw new ValueError(`${op}: padding [${ph}, ${pw}] must be at most half the kernel size [${KH}, ${KW}]`);
  }
  const [N, C, H, W] = x4.shape as [number, number, number, number];
  const ekh = dh * (KH - 1) + 1, ekw = dw * (KW - 1) + 1;
  if (ekh > H + 2 * ph || ekw > W + 2 * pw) {
    throw new ShapeError(
      `${op}: the window ${ekh}×${ekw}${dh > 1 || dw > 1 ? ` (dilated from ${KH}×${KW})` : ''} is larger than the padded input ` +
        `${H + 2 * ph}×${W + 2 * pw} (input ${fmtShape(xShape)}, padding [${ph}, ${pw}])`,
    );
  }
  const OH = poolOutSize(H, KH, sh, ph, dh, ceilMode), OW = poolOutSize(W, KW, sw, pw, dw, ceilMode);
  if (OH < 1 || OW < 1) throw new ShapeError(`${op}: the output size ${OH}×${OW} is not positive (input ${fmtShape(xShape)}, kernel ${KH}×${KW})`);
  return { NC: N * C, H, W, OH, OW, KH, KW, sh, sw, ph, pw, dh, dw, countIncludePad: true, divisor: 0 };
}

function finish(out: Tensor, x4: Tensor, was3d: boolean): Tensor {
  if (!was3d) return out;
  const y = output3d(out, true);
  out.dispose();
  x4.dispose();
  return y;
}

// ---- the ops ----------------------------------------------------------------------------------

export interface MaxPool2dOptions {
  /** Defaults to kernelSize. */
  stride?: IntPair | null;
  padding?: IntPair;
  dilation?: IntPair;
  ceilMode?: boolean;
}

/**
 * Max pooling with the argmax of each window as an int32 flat index h·W + w into its input plane
 * (torch.nn.functional.max_pool2d(..., return_indices=True)). Output and indices are (N, C, OH, OW),
 * or (C, OH, OW) for a 3-D input.
 */
export function maxPool2dWithIndices(x: Tensor, kernelSize: IntPair, opts: MaxPool2dOptions = {}): { output: Tensor; indices: Tensor } {
  const op = 'maxPool2d';
  const [x4, was3d] = input4d(x, op);
  const g = poolGeo(op, x4, x.shape, kernelSize, opts.stride, opts.padding ?? 0, opts.dilation ?? 1, opts.ceilMode ?? false);
  const shape = [x4.shape[0]!, x4.shape[1]!, g.OH, g.OW];
  const out = Tensor.empty(shape, 'float32', op, x4.backend, [x4]);
  const idx = Tensor.empty(shape, 'int32', op, x4.backend, [x4]);
  launchInto(op, maxFwdKernel, [x4], [out, idx], g);
  if (needsGrad(x4)) {
    const inShape = x4.shape;
    // The indices live in this call's node: a module may pool many times before one backward.
    const back = tiles(g) ? maxBackTiledKernel : maxBackKernel;
    attach(out, op, [x4], (gy, s) => [launch('maxPool2d.backward', back, [gy, s[0]!], inShape, 'float32', g)], [idx]);
  }
  if (!was3d) return { output: out, indices: idx };
  const indices = idx.view_(idx.shape.slice(1));
  idx.dispose();
  return { output: finish(out, x4, true), indices };
}

/** Max pooling, as torch.nn.functional.max_pool2d: -inf padding, NaN propagates, stride defaults to kernelSize. */
export function maxPool2d(x: Tensor, kernelSize: IntPair, opts: MaxPool2dOptions = {}): Tensor {
  const { output, indices } = maxPool2dWithIndices(x, kernelSize, opts);
  indices.dispose();
  return output;
}

export interface AvgPool2dOptions {
  /** Defaults to kernelSize. */
  stride?: IntPair | null;
  padding?: IntPair;
  ceilMode?: boolean;
  countIncludePad?: boolean;
  divisorOverride?: number | null;
}

/** Average pooling, as torch.nn.functional.avg_pool2d. */
export function avgPool2d(x: Tensor, kernelSize: IntPair, opts: AvgPool2dOptions = {}): Tensor {
  const op = 'avgPool2d';
  const [x4, was3d] = input4d(x, op);
  const g = poolGeo(op, x4, x.shape, kernelSize, opts.stride, opts.padding ?? 0, 1, opts.ceilMode ?? false);
  g.countIncludePad = opts.countIncludePad ?? true;
  const dv = opts.divisorOverride ?? 0;
  if (opts.divisorOverride !== undefined && opts.divisorOverride !== null && (!Number.isInteger(dv) || dv < 1)) {
    throw new ValueError(`${op}: divisorOverride must be a positive integer, got ${opts.divisorOverride}`);
  }
  g.divisor = dv;
  const out = launch(op, avgFwdKernel, [x4], [x4.shape[0]!, x4.shape[1]!, g.OH, g.OW], 'float32', g);
  if (needsGrad(x4)) {
    const inShape = x4.shape;
    attach(out, op, [x4], (gy) => [launch('avgPool2d.backward', avgBackKernel, [gy], inShape, 'float32', g)]);
  }
  return finish(out, x4, was3d);
}

/**
 * Adaptive average pooling to `outputSize` (an integer or [h, w]; null in a pair keeps that input
 * size), as torch.nn.functional.adaptive_avg_pool2d: window i spans [⌊i·H/OH⌋, ⌈(i+1)·H/OH⌉).
 */
export function adaptiveAvgPool2d(x: Tensor, outputSize: number | readonly [number | null, number | null]): Tensor {
  const op = 'adaptiveAvgPool2d';
  const [x4, was3d] = input4d(x, op);
  const [N, C, H, W] = x4.shape as [number, number, number, number];
  let os: [number, number];
  if (typeof outputSize === 'number') os = [outputSize, outputSize];
  else if (Array.isArray(outputSize) && outputSize.length === 2) os = [outputSize[0] ?? H, outputSize[1] ?? W];
  else throw new ValueError(`${op}: outputSize must be an integer or an [h, w] pair, got ${JSON.stringify(outputSize)}`);
  const [OH, OW] = pair(os, 'outputSize', op, 1);
  if (H < 1 || W < 1) throw new ShapeError(`${op}: expected a non-empty input plane, got ${fmtShape(x.shape)}`);
  const g: PoolGeo = { NC: N * C, H, W, OH, OW, KH: 0, KW: 0, sh: 1, sw: 1, ph: 0, pw: 0, dh: 1, dw: 1, countIncludePad: true, divisor: 0 };
  const out = launch(op, adaptFwdKernel, [x4], [N, C, OH, OW], 'float32', g);
  if (needsGrad(x4)) {
    const inShape = x4.shape;
    attach(out, op, [x4], (gy) => [launch('adaptiveAvgPool2d.backward', adaptBackKernel, [gy], inShape, 'float32', g)]);
  }
  return finish(out, x4, was3d);
}
