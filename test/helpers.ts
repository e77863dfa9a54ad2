// Test plumbing: which backends to run, deterministic host data, closeness checks and a
// finite-difference gradient checker against the float64 reference in ref.ts.
import { beforeAll, beforeEach, expect } from 'vitest';
import * as grilly from '../src/index.js';
import type { Tensor } from '../src/index.js';
import * as R from './ref.js';
import type { Ref } from './ref.js';

export type BackendKind = 'cpu' | 'webgpu';

function parseBackends(): BackendKind[] {
  const raw = process.env.GRILLY_TEST_BACKENDS ?? 'cpu,webgpu';
  const names = raw.split(',').map((s) => s.trim()).filter(Boolean);
  for (const n of names) {
    if (n !== 'cpu' && n !== 'webgpu') throw new Error(`GRILLY_TEST_BACKENDS: unknown backend "${n}" (expected cpu and/or webgpu)`);
  }
  if (names.length === 0) throw new Error('GRILLY_TEST_BACKENDS is empty');
  return [...new Set(names)] as BackendKind[];
}

/** The backends under test: GRILLY_TEST_BACKENDS (comma-separated), default 'cpu,webgpu'. */
export const BACKENDS: BackendKind[] = parseBackends();

/** Starts (or re-activates) a backend; throws, failing the test, when it cannot start. */
export async function initBackend(name: BackendKind): Promise<void> {
  const info = await grilly.init({ backend: name });
  if (info.backend !== name) throw new Error(`init({ backend: '${name}' }) gave the ${info.backend} backend`);
}

/**
 * Registers hooks that make `name` the active backend for the enclosing describe block: once
 * before all its tests and again before each test, in case a test switched backends. When the
 * backend cannot start, every test of the block fails with the reason (vitest would only mark
 * them skipped if the beforeAll hook threw).
 */
export function useBackend(name: BackendKind): void {
  let startError: unknown = null;
  beforeAll(async () => {
    try {
      await initBackend(name);
    } catch (e) {
      startError = e;
    }
  });
  beforeEach(async () => {
    if (startError) throw startError;
    await initBackend(name);
  });
}

// ---- deterministic data -----------------------------------------------------------------------

/** mulberry32: a small seeded PRNG giving floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Uniform values in [lo, hi), rounded to float32 so grilly and the reference see the same inputs. */
export function randArray(shape: readonly number[], seed: number, lo = -1, hi = 1): Ref {
  const rng = mulberry32(seed);
  const r = R.make(shape);
  for (let i = 0; i < r.data.length; i++) r.data[i] = Math.fround(lo + (hi - lo) * rng());
  return r;
}

/** Uniform values in [lo, hi) whose magnitude is at least `gap` from each of `kinks` (e.g. 0 for relu/abs). */
export function randAway(shape: readonly number[], seed: number, lo: number, hi: number, kinks: readonly number[] = [0], gap = 0.05): Ref {
  const rng = mulberry32(seed);
  const r = R.make(shape);
  for (let i = 0; i < r.data.length; i++) {
    let v: number;
    let tries = 0;
    do {
      v = Math.fround(lo + (hi - lo) * rng());
      if (++tries > 10000) throw new Error('randAway: no value found away from the kinks');
    } while (kinks.some((k) => Math.abs(v - k) < gap));
    r.data[i] = v;
  }
  return r;
}

/** Distinct values spread over [lo, hi) in random order, adjacent values at least (hi-lo)/(2n) apart. */
export function randDistinct(shape: readonly number[], seed: number, lo = -1, hi = 1): Ref {
  const rng = mulberry32(seed);
  const n = R.numel(shape);
  const vals = Array.from({ length: n }, (_, i) => lo + ((hi - lo) * (i + 0.25 + 0.5 * rng())) / n);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [vals[i], vals[j]] = [vals[j]!, vals[i]!];
  }
  return R.make(shape, vals.map(Math.fround));
}

/** Integers uniform in [lo, hi). */
export function randInts(shape: readonly number[], seed: number, lo: number, hi: number): Ref {
  const rng = mulberry32(seed);
  const r = R.make(shape);
  for (let i = 0; i < r.data.length; i++) r.data[i] = lo + Math.floor((hi - lo) * rng());
  return r;
}

// ---- moving data between the reference and grilly ---------------------------------------------

/** A float32 grilly tensor with the reference's shape and values. */
export function T(r: Ref, opts: { requiresGrad?: boolean } = {}): Tensor {
  return grilly.tensor(Float32Array.from(r.data), r.shape, { requiresGrad: opts.requiresGrad ?? false });
}

/** An int32 grilly tensor with the reference's (integer) shape and values. */
export function TI(r: Ref): Tensor {
  return grilly.tensor(Int32Array.from(r.data), r.shape, { dtype: 'int32' });
}

// ---- closeness --------------------------------------------------------------------------------

export interface Tol {
  atol?: number;
  rtol?: number;
}

function fmt(v: number): string {
  return Number.isInteger(v) ? String(v) : v.toPrecision(9);
}

/**
 * Asserts |actual - expected| <= atol + rtol·|expected| elementwise. NaN must match NaN and
 * infinities must match exactly. On failure the message names the worst index.
 */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: Tol = {}, label = ''): void {
  const atol = tol.atol ?? 1e-6;
  const rtol = tol.rtol ?? 1e-5;
  const pre = label ? `${label}: ` : '';
  if (actual.length !== expected.length) {
    expect.fail(`${pre}length ${actual.length} differs from the expected ${expected.length}`);
  }
  let worst = -1;
  let worstExcess = 0;
  let bad = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    let excess: number;
    if (Number.isNaN(e) || Number.isNaN(a)) excess = Number.isNaN(e) && Number.isNaN(a) ? 0 : Infinity;
    else if (!Number.isFinite(e) || !Number.isFinite(a)) excess = a === e ? 0 : Infinity;
    else excess = Math.abs(a - e) - (atol + rtol * Math.abs(e));
    if (excess > 0) {
      bad++;
      if (worst < 0 || excess > worstExcess) {
        worst = i;
        worstExcess = excess;
      }
    }
  }
  if (bad > 0) {
    const a = actual[worst]!, e = expected[worst]!;
    const lo = Math.max(0, worst - 2), hi = Math.min(expected.length, worst + 3);
    const near = [];
    for (let i = lo; i < hi; i++) near.push(`[${i}] ${fmt(actual[i]!)} vs ${fmt(expected[i]!)}`);
    expect.fail(
      `${pre}${bad} of ${expected.length} values differ (atol ${fmt(atol)}, rtol ${fmt(rtol)}); worst at index ${worst}: ` +
        `actual ${fmt(a)}, expected ${fmt(e)}` +
        (Number.isFinite(e) ? `, |diff| ${fmt(Math.abs(a - e))}, allowed ${fmt(atol + rtol * Math.abs(e))}` : ' (must match exactly)') +
        `\n  near: ${near.join(', ')}`,
    );
  }
}

/** Exact equality of integer-valued arrays with the same failure message format. */
export function expectExact(actual: ArrayLike<number>, expected: ArrayLike<number>, label = ''): void {
  expectClose(actual, expected, { atol: 0, rtol: 0 }, label);
}

export function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) if (Math.abs(a[i]!) > m) m = Math.abs(a[i]!);
  return m;
}

/** Asserts the tensor's shape, dtype and values against a reference. */
export async function expectTensor(t: Tensor, ref: Ref, tol: Tol & { dtype?: 'float32' | 'int32' } = {}, label = ''): Promise<void> {
  const pre = label ? `${label}: ` : '';
  expect([...t.shape], `${pre}shape`).toEqual(ref.shape);
  expect(t.dtype, `${pre}dtype`).toBe(tol.dtype ?? 'float32');
  const got = await t.data();
  if (t.dtype === 'int32') expectExact(got, ref.data, label);
  else expectClose(got, ref.data, tol, label);
}

// ---- gradient checking ------------------------------------------------------------------------

export interface GradcheckOptions {
  /** Forward tolerance: |y - ref| <= fwdAtol·scale + fwdRtol·|ref| with scale = max(1, max|ref|). */
  fwdAtol?: number;
  fwdRtol?: number;
  /** Gradient tolerance: |g - fd| <= gradAtol·gscale + gradRtol·|fd| with gscale = max(1, max|fd|). */
  gradAtol?: number;
  gradRtol?: number;
  /** Relative finite-difference step. */
  eps?: number;
  /** Seed of the output weights W. */
  seed?: number;
  /** Per input: whether it requires grad (default all). */
  requiresGrad?: boolean[];
  label?: string;
}

/**
 * Checks a differentiable op against the float64 reference: the forward values, then the
 * gradient of L = Σ op(x)⊙W (W fixed random) from backward() against central differences of
 * L computed in float64 with `ref`.
 */
export async function gradcheck(
  op: (...xs: Tensor[]) => Tensor,
  ref: (...xs: Ref[]) => Ref,
  inputs: readonly { shape: readonly number[]; data: ArrayLike<number> }[],
  opts: GradcheckOptions = {},
): Promise<void> {
  const label = opts.label ?? 'gradcheck';
  const fwdAtol = opts.fwdAtol ?? 1e-5;
  const fwdRtol = opts.fwdRtol ?? 1e-4;
  const gradAtol = opts.gradAtol ?? 2e-5;
  const gradRtol = opts.gradRtol ?? 1e-4;
  const eps = opts.eps ?? 1e-6;
  const xs: Ref[] = inputs.map((i) => R.make(i.shape, Array.from(i.data, Math.fround)));
  const needs = xs.map((_, k) => opts.requiresGrad?.[k] ?? true);
  const ts = xs.map((x, k) => T(x, { requiresGrad: needs[k] }));

  // (a) forward
  const out = op(...ts);
  const expected = ref(...xs.map(R.clone));
  expect([...out.shape], `${label}: output shape`).toEqual(expected.shape);
  expect(out.requiresGrad, `${label}: output requires grad`).toBe(true);
  const fwd = await out.data();
  const scale = Math.max(1, maxAbs(expected.data));
  expectClose(fwd, expected.data, { atol: fwdAtol * scale, rtol: fwdRtol }, `${label}: forward`);

  // (b) backward with a fixed weight
  const W = randArray(expected.shape, opts.seed ?? 12345, -1, 1);
  out.backward(T(W));

  // (c) central differences of L(x) = Σ ref(x)⊙W in float64
  const L = (): number => {
    const y = ref(...xs);
    let s = 0;
    for (let i = 0; i < y.data.length; i++) s += y.data[i]! * W.data[i]!;
    return s;
  };
  for (let k = 0; k < xs.length; k++) {
    const t = ts[k]!;
    if (!needs[k]) {
      expect(t.grad, `${label}: input ${k} does not require grad`).toBeNull();
      continue;
    }
    const g = t.grad;
    expect(g, `${label}: input ${k} has no .grad after backward`).not.toBeNull();
    expect([...g!.shape], `${label}: grad ${k} shape`).toEqual(xs[k]!.shape);
    const got = await g!.data();
    const x = xs[k]!.data;
    const fd = new Float64Array(x.length);
    for (let i = 0; i < x.length; i++) {
      const x0 = x[i]!;
      const h = eps * Math.max(1, Math.abs(x0));
      x[i] = x0 + h;
      const lp = L();
      x[i] = x0 - h;
      const lm = L();
      x[i] = x0;
      fd[i] = (lp - lm) / (2 * h);
    }
    const gscale = Math.max(1, maxAbs(fd));
    expectClose(got, fd, { atol: gradAtol * gscale, rtol: gradRtol }, `${label}: grad of input ${k}`);
  }
}

// ---- f16, by arithmetic (references for the f16 kernels) ----
/** IEEE half → number (the test's own decoder). */
export const half = (w: number) => {
  const e = (w >> 10) & 31, m = w & 1023;
  const v = e === 31 ? (m ? NaN : Infinity) : e ? 2 ** (e - 15) * (1 + m / 1024) : 2 ** -14 * (m / 1024);
  return w & 0x8000 ? -v : v;
};
/** floor(log2 |v|), exactly (Math.log2 may round across a power of two). */
export const ilog2 = (a: number) => {
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  else if (2 ** (e + 1) <= a) e++;
  return e;
};
/** The f16 nearest to v, ties to even (v a float32: a/q below is exact). */
export const nearestHalf = (v: number) => {
  if (v === 0) return 0;
  const a = Math.abs(v), q = 2 ** (Math.max(ilog2(a), -14) - 10);
  const n = a / q, fl = Math.floor(n), d = n - fl;
  return Math.sign(v) * (d > 0.5 || (d === 0.5 && fl % 2 === 1) ? fl + 1 : fl) * q;
};
