// Spike encoders: turn data (N, …) into spike trains (T, N, …), each in one kernel written once for
// the cpu backend and once in WGSL.
//
// PoissonEncoder (rate coding): spike[t, i] = [u(t, i) < x[i]] with u drawn by the engine's
// counter-based generator (ops/random.ts), so a seed gives the same spikes on both backends, and
// poissonEncode(x, T) after manualSeed(s) equals rand([T, ...x.shape]).lt(x) after manualSeed(s).
// u lies in [0, 1 − 2⁻²⁴] on a 2⁻²⁴ grid, so x ≤ 0 never spikes, x ≥ 1 always does (the clamp
// to [0, 1] is built in) and P(spike) = ⌈x·2²⁴⌉/2²⁴ otherwise.
//
// LatencyEncoder (time to first spike): one spike per input, at
//   'linear': t = round((T − 1)(1 − x))
//   'log':    t = round((T − 1) − ln(αx + 1)), α = e^(T−1) − 1
// as SpikingJelly's LatencyEncoder, with x clamped to [0, 1] and round() rounding halves to even
// (torch.round). The times are decided in exact arithmetic on the float32 input: the host works out,
// for each k, the largest float32 x whose time is later than k, and the kernel only compares x
// with those T − 1 thresholds, so both backends agree bit for bit whatever their exp/log accuracy.
import type { Backend, Kernel } from '../backend/types.js';
import { DTypeError, ValueError } from '../errors.js';
import { nextRandomKey } from '../runtime.js';
import { Tensor } from '../tensor/tensor.js';
import { Module } from '../nn/module.js';
import { PRELUDE, backendOf, bindings, grid1d, handles, main1d } from '../ops/kernel.js';
import { RNG_WGSL, bits, streamKey } from '../ops/random.js';

// ---- argument checks --------------------------------------------------------------------------
function checkT(T: unknown, op: string): number {
  if (typeof T !== 'number' || !Number.isInteger(T) || T < 1) throw new ValueError(`${op}: T must be a positive integer, got ${String(T)}`);
  if (T > 2 ** 24) throw new ValueError(`${op}: T must be at most 2^24, got ${T}`);
  return T;
}

function checkInput(x: unknown, op: string): Tensor {
  if (!(x instanceof Tensor)) throw new DTypeError(`${op}: expected a float32 Tensor input, got ${x === null ? 'null' : typeof x}`);
  if (x.dtype !== 'float32') throw new DTypeError(`${op}: expected a float32 input (intensities), got ${x.dtype}; cast it with .float()`);
  return x;
}

export type LatencyMode = 'linear' | 'log';

function checkMode(mode: unknown, op: string): LatencyMode {
  if (mode !== 'linear' && mode !== 'log') throw new ValueError(`${op}: mode must be 'linear' or 'log', got ${JSON.stringify(mode)}`);
  return mode;
}

// ---- Poisson ----------------------------------------------------------------------------------
interface PoissonParams { n: number; T: number; seed: number; stream: number }

const U24 = 1 / 16777216;

// The draws use ops/random.ts's hash, so they equal rand()'s.
const WGSL_BITS = RNG_WGSL;

const poissonKernel: Kernel<PoissonParams> = {
  name: 'encode.poisson',
  key: () => '',
  cpu: (ins, outs, p) => {
    const x = ins[0]!.f32, o = outs[0]!.f32;
    const k = streamKey(p.seed, p.stream);
    let i = 0;
    for (let t = 0; t < p.T; t++) {
      for (let j = 0; j < p.n; j++, i++) o[i] = (bits(k, i) >>> 8) * U24 < x[j]! ? 1 : 0;
    }
  },
  wgsl: () =>
    PRELUDE +
    WGSL_BITS +
    bindings([['X', 'f32']], [['O', 'f32']]) +
    main1d(`
  if (idx >= pu(0u)) { return; }
  let u = f32(bits(pu(2u), idx) >> 8u) * (1.0 / 16777216.0);
  O[idx] = select(0.0, 1.0, u < X[idx % pu(1u)]);`),
  grid: (p) => grid1d(p.n * p.T),
  uniforms: (p, u) => void u.u32(p.n * p.T).u32(p.n).u32(streamKey(p.seed, p.stream)),
};

function poisson(x: unknown, T: unknown, op: string): Tensor {
  const steps = checkT(T, op);
  const xt = checkInput(x, op);
  const b = backendOf(op, [xt]);
  const out = Tensor.empty([steps, ...xt.shape], 'float32', op, b, [xt]);
  const [seed, stream] = nextRandomKey();
  const n = xt.size;
  if (n > 0) b.run(poissonKernel, handles(op, [xt]), handles(op, [out]), { n, T: steps, seed, stream });
  return out;
}

/**
 * Rate coding: (N, …) intensities → (T, N, …) float32 spikes, each 1 with probability x clamped to
 * [0, 1], independently. Draws one random stream (as one rand() call); manualSeed makes it
 * reproducible and the cpu and WebGPU backends give identical spikes. No gradient.
 */
export function poissonEncode(x: Tensor, T: number): Tensor {
  return poisson(x, T, 'poissonEncode');
}

export interface PoissonEncoderOptions {
  /** Time steps to generate. */
  T: number;
}

/** Rate coding as a module: forward(x (N, …)) → (T, N, …) spikes, P(spike) = clamp(x, 0, 1). */
export class PoissonEncoder extends Module {
  readonly T: number;
  constructor(opts: PoissonEncoderOptions) {
    super();
    this.T = checkT(opts?.T, 'PoissonEncoder');
  }
  forward(x: Tensor): Tensor {
    return poisson(x, this.T, 'PoissonEncoder');
  }
  override extraRepr(): string {
    return `T=${this.T}`;
  }
}

// ---- Latency ----------------------------------------------------------------------------------
interface LatencyParams { n: number; T: number }

const latencyKernel: Kernel<LatencyParams> = {
  name: 'encode.latency',
  key: () => '',
  cpu: (ins, outs, p) => {
    const x = ins[0]!.f32, L = ins[1]!.f32, o = outs[0]!.f32;
    const { n, T } = p;
    for (let j = 0; j < n; j++) {
      const v = x[j]!;
      for (let t = 0, i = j; t < T; t++, i += n) {
        // spike at t ⇔ time > t − 1 and not time > t; time > k ⇔ x ≤ L[k]
        o[i] = (t === 0 || v <= L[t - 1]!) && (t === T - 1 || v > L[t]!) ? 1 : 0;
      }
    }
  },
  wgsl: () =>
    PRELUDE +
    bindings([['X', 'f32'], ['L', 'f32']], [['O', 'f32']]) +
    main1d(`
  if (idx >= pu(0u)) { return; }
  let n = pu(1u);
  let T = pu(2u);
  let t = idx / n;
  let v = X[idx % n];
  var s = true;
  if (t > 0u) { s = v <= L[t - 1u]; }
  if (t + 1u < T) { s = s && (v > L[t]); }
  O[idx] = select(0.0, 1.0, s);`),
  grid: (p) => grid1d(p.n * p.T),
  uniforms: (p, u) => void u.u32(p.n * p.T).u32(p.n).u32(p.T),
};

const F32 = new Float32Array(1);
const U32 = new Uint32Array(F32.buffer);
/** The float32 just below a positive float32 c (0 stays 0). */
function prevF32(c: number): number {
  if (c <= 0) return 0;
  F32[0] = c;
  U32[0] = U32[0]! - 1;
  return F32[0]!;
}

/**
 * Thresholds L[k], k = 0 … T − 2: the largest float32 x whose spike time is later than k, i.e.
 * time(x) > k ⇔ x ≤ L[k]. The time is decreasing in x, so L is non-increasing in k.
 */
export function latencyThresholds(T: number, mode: LatencyMode): Float32Array {
  const L = new Float32Array(Math.max(T - 1, 1));
  for (let k = 0; k <= T - 2; k++) {
    if (mode === 'linear') {
      // (T − 1)(1 − x) = k + ½ at x = θ = p/q; a tie (x = θ) rounds half to even: to k + 1 when k is odd.
      const p = 2 * T - 3 - 2 * k, q = 2 * T - 2;
      const c = Math.fround(p / q);
      const cq = c * q; // exact: c has 24 significant bits and q < 2^26
      L[k] = cq === p ? (k % 2 === 1 ? c : prevF32(c)) : cq < p ? c : prevF32(c);
    } else {
      // (T − 1) − ln(αx + 1) = k + ½ at θ = (e^(T−1.5−k) − 1)/(e^(T−1) − 1), written so that it neither
      // overflows nor cancels for any T: θ = e^−(k+½)·(1 − e^−a)/(1 − e^−(T−1)), a = T − 1.5 − k. θ is
      // transcendental, so no float32 x ties with it.
      const a = T - 1.5 - k;
      const theta = (Math.exp(-(k + 0.5)) * -Math.expm1(-a)) / -Math.expm1(-(T - 1));
      const c = Math.fround(theta);
      L[k] = c < theta ? c : prevF32(c);
    }
  }
  return L;
}

const thresholdCache = new Map<string, Float32Array>();
function thresholds(T: number, mode: LatencyMode): Float32Array {
  const key = `${mode}:${T}`;
  let L = thresholdCache.get(key);
  if (!L) {
    L = latencyThresholds(T, mode);
    if (thresholdCache.size >= 64) thresholdCache.delete(thresholdCache.keys().next().value!);
    thresholdCache.set(key, L);
  }
  return L;
}

function uploadThresholds(b: Backend, T: number, mode: LatencyMode, op: string): Tensor {
  const host = thresholds(T, mode);
  const t = Tensor.empty([host.length], 'float32', op, b);
  b.write(t.storage(op).handle, host);
  return t;
}

function latency(x: unknown, T: unknown, mode: unknown, op: string): Tensor {
  const steps = checkT(T, op);
  const m = checkMode(mode, op);
  const xt = checkInput(x, op);
  const b = backendOf(op, [xt]);
  const n = xt.size;
  if (n === 0) return Tensor.empty([steps, ...xt.shape], 'float32', op, b);
  // The thresholds first, so the output is placed apart from both of its inputs.
  const L = uploadThresholds(b, steps, m, op);
  const out = Tensor.empty([steps, ...xt.shape], 'float32', op, b, [xt, L]);
  b.run(latencyKernel, handles(op, [xt, L]), handles(op, [out]), { n, T: steps });
  L.dispose(); // uploads and dispatches are ordered: the kernel reads it before the memory is reused
  return out;
}

/**
 * Latency (time-to-first-spike) coding: (N, …) intensities → (T, N, …) float32, exactly one spike
 * per input, earlier for larger x: at round((T − 1)(1 − x)) ('linear') or
 * round((T − 1) − ln(αx + 1)), α = e^(T−1) − 1 ('log'), with x clamped to [0, 1] (x ≥ 1 spikes at
 * t = 0, x ≤ 0 at t = T − 1) and halves rounded to even. No gradient. NaN inputs give no spike on
 * the cpu backend and are unspecified on WebGPU.
 */
export function latencyEncode(x: Tensor, T: number, mode: LatencyMode = 'linear'): Tensor {
  return latency(x, T, mode, 'latencyEncode');
}

export interface LatencyEncoderOptions {
  /** Time steps; spike times are 0 … T − 1. */
  T: number;
  /** How intensity maps to time: 'linear' (default) or 'log', as SpikingJelly's enc_function. */
  mode?: LatencyMode;
}

/** Latency coding as a module: forward(x (N, …) in [0, 1]) → (T, N, …), one spike per input. */
export class LatencyEncoder extends Module {
  readonly T: number;
  readonly mode: LatencyMode;
  constructor(opts: LatencyEncoderOptions) {
    super();
    this.T = checkT(opts?.T, 'LatencyEncoder');
    this.mode = checkMode(opts.mode ?? 'linear', 'LatencyEncoder');
  }
  forward(x: Tensor): Tensor {
    return latency(x, this.T, this.mode, 'LatencyEncoder');
  }
  override extraRepr(): string {
    return `T=${this.T}, mode=${this.mode}`;
  }
}
