// Float64 references for convolution and pooling: plain loops from the definitions (PyTorch
// semantics), sharing no code with src/. Inputs are NCHW Refs (see ref.ts).
import * as R from './ref.js';
import type { Ref } from './ref.js';

export type Pair = number | [number, number];
const two = (v: Pair): [number, number] => (typeof v === 'number' ? [v, v] : v);

export interface ConvRefOpts {
  stride?: Pair;
  padding?: Pair;
  dilation?: Pair;
  groups?: number;
}

/** y[n, o, i, j] = b[o] + Σ_{c ∈ group(o), kh, kw} x[n, c, i·sh − ph + kh·dh, j·sw − pw + kw·dw] · w[o, c − g·Cg, kh, kw]. */
export function conv2d(x: Ref, w: Ref, b: Ref | null, opts: ConvRefOpts = {}): Ref {
  const [sh, sw] = two(opts.stride ?? 1);
  const [ph, pw] = two(opts.padding ?? 0);
  const [dh, dw] = two(opts.dilation ?? 1);
  const groups = opts.groups ?? 1;
  const [N, C, H, W] = x.shape as [number, number, number, number];
  const [O, Cg, KH, KW] = w.shape as [number, number, number, number];
  if (Cg * groups !== C) throw new Error('ref.conv2d: channel mismatch');
  const OH = Math.floor((H + 2 * ph - dh * (KH - 1) - 1) / sh) + 1;
  const OW = Math.floor((W + 2 * pw - dw * (KW - 1) - 1) / sw) + 1;
  const Og = O / groups;
  const y = R.make([N, O, OH, OW]);
  const at = (n: number, c: number, h: number, v: number) => (h < 0 || h >= H || v < 0 || v >= W ? 0 : x.data[((n * C + c) * H + h) * W + v]!);
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < O; o++) {
      const g = Math.floor(o / Og);
      for (let i = 0; i < OH; i++) {
        for (let j = 0; j < OW; j++) {
          let s = b ? b.data[o]! : 0;
          for (let c = 0; c < Cg; c++) {
            for (let kh = 0; kh < KH; kh++) {
              for (let kw = 0; kw < KW; kw++) {
                s += at(n, g * Cg + c, i * sh - ph + kh * dh, j * sw - pw + kw * dw) * w.data[((o * Cg + c) * KH + kh) * KW + kw]!;
              }
            }
          }
          y.data[((n * O + o) * OH + i) * OW + j] = s;
        }
      }
    }
  }
  return y;
}

export interface PoolRefOpts {
  stride?: Pair | null;
  padding?: Pair;
  dilation?: Pair;
  ceilMode?: boolean;
}

/** PyTorch's pooling output length (ceil mode drops a last window starting in the right padding). */
export function poolLen(n: number, k: number, s: number, p: number, d: number, ceil: boolean): number {
  const span = n + 2 * p - d * (k - 1) - 1;
  let out = (ceil ? Math.ceil(span / s) : Math.floor(span / s)) + 1;
  if (ceil && (out - 1) * s >= n + p) out -= 1;
  return out;
}

function poolShape(x: Ref, k: Pair, opts: PoolRefOpts) {
  const [KH, KW] = two(k);
  const [sh, sw] = opts.stride === undefined || opts.stride === null ? [KH, KW] : two(opts.stride);
  const [ph, pw] = two(opts.padding ?? 0);
  const [dh, dw] = two(opts.dilation ?? 1);
  const [N, C, H, W] = x.shape as [number, number, number, number];
  const ceil = opts.ceilMode ?? false;
  return { N, C, H, W, KH, KW, sh, sw, ph, pw, dh, dw, OH: poolLen(H, KH, sh, ph, dh, ceil), OW: poolLen(W, KW, sw, pw, dw, ceil) };
}

/** Max over each window of the in-bounds pixels: the first of equal maxima, NaN beats everything (the last NaN's index). */
export function maxPool2d(x: Ref, k: Pair, opts: PoolRefOpts = {}): { out: Ref; idx: Ref } {
  const s = poolShape(x, k, opts);
  const out = R.make([s.N, s.C, s.OH, s.OW]);
  const idx = R.make([s.N, s.C, s.OH, s.OW]);
  let o = 0;
  for (let pl = 0; pl < s.N * s.C; pl++) {
    for (let i = 0; i < s.OH; i++) {
      for (let j = 0; j < s.OW; j++) {
        let best = -Infinity, bi = -1, sawNaN = false;
        for (let kh = 0; kh < s.KH; kh++) {
          for (let kw = 0; kw < s.KW; kw++) {
            const h = i * s.sh - s.ph + kh * s.dh, v = j * s.sw - s.pw + kw * s.dw;
            if (h < 0 || h >= s.H || v < 0 || v >= s.W) continue;
            const val = x.data[pl * s.H * s.W + h * s.W + v]!;
            if (Number.isNaN(val)) {
              sawNaN = true;
              best = NaN;
              bi = h * s.W + v;
            } else if (!sawNaN && (bi < 0 || val > best)) {
              best = val;
              bi = h * s.W + v;
            }
          }
        }
        out.data[o] = best;
        idx.data[o++] = bi;
      }
    }
  }
  return { out, idx };
}

export interface AvgRefOpts {
  stride?: Pair | null;
  padding?: Pair;
  ceilMode?: boolean;
  countIncludePad?: boolean;
  divisorOverride?: number;
}

/** Mean over each window; the divisor counts the padded window (clipped at the padded edge) or only the real pixels, or is fixed. */
export function avgPool2d(x: Ref, k: Pair, opts: AvgRefOpts = {}): Ref {
  const s = poolShape(x, k, { stride: opts.stride ?? null, padding: opts.padding ?? 0, ceilMode: opts.ceilMode ?? false });
  const out = R.make([s.N, s.C, s.OH, s.OW]);
  let o = 0;
  for (let pl = 0; pl < s.N * s.C; pl++) {
    for (let i = 0; i < s.OH; i++) {
      for (let j = 0; j < s.OW; j++) {
        let sum = 0, real = 0, padded = 0;
        for (let kh = 0; kh < s.KH; kh++) {
          for (let kw = 0; kw < s.KW; kw++) {
            const h = i * s.sh - s.ph + kh, v = j * s.sw - s.pw + kw;
            // positions beyond the padded input (ceil mode) count for nothing
            if (h >= s.H + s.ph || v >= s.W + s.pw) continue;
            padded++;
            if (h < 0 || h >= s.H || v < 0 || v >= s.W) continue;
            real++;
            sum += x.data[pl * s.H * s.W + h * s.W + v]!;
          }
        }
        const d = opts.divisorOverride ?? ((opts.countIncludePad ?? true) ? padded : real);
        out.data[o++] = sum / d;
      }
    }
  }
  return out;
}

/** Window i of n inputs for m outputs: [⌊i·n/m⌋, ⌈(i+1)·n/m⌉). */
export function adaptiveAvgPool2d(x: Ref, size: Pair): Ref {
  const [OH, OW] = two(size);
  const [N, C, H, W] = x.shape as [number, number, number, number];
  const out = R.make([N, C, OH, OW]);
  let o = 0;
  for (let pl = 0; pl < N * C; pl++) {
    for (let i = 0; i < OH; i++) {
      const h0 = Math.floor((i * H) / OH), h1 = Math.ceil(((i + 1) * H) / OH);
      for (let j = 0; j < OW; j++) {
        const w0 = Math.floor((j * W) / OW), w1 = Math.ceil(((j + 1) * W) / OW);
        let sum = 0;
        for (let h = h0; h < h1; h++) for (let v = w0; v < w1; v++) sum += x.data[pl * H * W + h * W + v]!;
        out.data[o++] = sum / ((h1 - h0) * (w1 - w0));
      }
    }
  }
  return out;
}
