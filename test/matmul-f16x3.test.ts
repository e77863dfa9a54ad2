// setMatmulPrecision('fp16x3') (src/ops/sgmat3.ts): its three kernels (row/column max |·|, the
// hi/lo split of one K-chunk, the scaled add of a partial product) against independent JS
// references on both backends; on an adapter with f16 subgroup matrices (the H200) the whole
// product, all four layouts and every layout of the f16 blocks, several chunks and row blocks, against float64, with the error bound
// of an fp32 GEMM; elsewhere the setting falls back to fp32, says so once, and changes no result.
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import * as grilly from '../src/index.js';
import { launch, launchInto } from '../src/ops/kernel.js';
import { fillInto } from '../src/ops/elementwise.js';
import { gemm } from '../src/ops/matmul.js';
import { F16X3, absMaxKernel, addScaledKernel, splitF16x3Kernel } from '../src/ops/sgmat3.js';
import { Tensor } from '../src/tensor/tensor.js';
import * as R from './ref.js';
import { BACKENDS, T, expectClose, expectExact, half, ilog2, mulberry32, nearestHalf, randArray, useBackend } from './helpers.js';

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
const bitsOf = (v: number) => { f32[0] = v; return u32[0]! | 0; };
const ofBits = (w: number) => { u32[0] = w >>> 0; return f32[0]!; };
/** v with its significand cut to 11 bits (toward zero), by arithmetic. */
const cut11 = (v: number) => {
  if (v === 0) return 0;
  const q = 2 ** (ilog2(Math.abs(v)) - 10);
  return Math.sign(v) * Math.floor(Math.abs(v) / q) * q;
};
/** The power of two the split scales a row by: max |v| lands in [2¹³, 2¹⁴). */
const scaleOf = (mx: number) => (mx > 0 && Number.isFinite(mx) ? 2 ** (13 - ilog2(mx)) : 1);
const zeros32 = (n: number) => {
  const t = Tensor.empty([n], 'int32', 'test');
  fillInto(t, 0, 'test');
  return t;
};

describe.each(BACKENDS)('matmul precision fp16x3 on %s', (backend) => {
  useBackend(backend);
  const saved = { ...F16X3 };
  beforeEach(() => Object.assign(F16X3, saved));
  afterEach(() => { grilly.setMatmulPrecision('fp32'); Object.assign(F16X3, saved); });

  test('max |·| along rows and columns, NaN wins', async () => {
    const [Rr, L] = [70, 8200]; // two row segments; 70 rows < one column block
    const h = randArray([Rr, L], 5, -3, 3).data;
    h[3 * L + 17] = -40; h[5 * L + 9] = NaN;
    const X = T({ shape: [Rr, L], data: h });
    for (const rows of [true, false]) {
      const o = zeros32(rows ? Rr : L);
      launchInto('absmax', absMaxKernel, [X], [o], { R: Rr, L, rows });
      const got = Array.from((await o.data()) as Int32Array, ofBits);
      const want = Array.from({ length: rows ? Rr : L }, (_, k) => {
        let m = 0;
        for (let t = 0; t < (rows ? L : Rr); t++) {
          const v = Math.abs(h[rows ? k * L + t : t * L + k]!);
          if (Number.isNaN(v)) return NaN;
          m = Math.max(m, Math.fround(v));
        }
        return m;
      });
      expect(got.map((v) => (Number.isNaN(v) ? 'NaN' : v))).toEqual(want.map((v) => (Number.isNaN(v) ? 'NaN' : v)));
    }
  });

  test('the split of a K-chunk: scaled hi (11 bits, exact) and lo = rest rounded to f16, in [lo|hi|hi] / [hi|lo|hi] blocks, either layout in and out', async () => {
    const rnd = mulberry32(9);
    for (const kContig of [true, false]) for (const kMajor of [true, false]) for (const pat of ['A', 'B'] as const) {
      const [rowsAll, K, r0, Rn, k0, kc] = [24, 100, 8, 12, 64, 64]; // the chunk runs past K: zeros
      // rows (or columns) of very different scales, one all zero
      const h = new Float32Array(rowsAll * K);
      for (let r = 0; r < rowsAll; r++) for (let k = 0; k < K; k++) {
        h[kContig ? r * K + k : k * rowsAll + r] = r === 10 ? 0 : (rnd() * 2 - 1) * 2 ** (r - 12);
      }
      const X = T({ shape: kContig ? [rowsAll, K] : [K, rowsAll], data: Float64Array.from(h) });
      const mx = zeros32(rowsAll);
      launchInto('split', absMaxKernel, [X], [mx], kContig ? { R: rowsAll, L: K, rows: true } : { R: K, L: rowsAll, rows: false });
      const y = (await launch('split', splitF16x3Kernel, [X, mx], [(3 * kc * Rn) / 2], 'int32', { R: Rn, r0, stride: rowsAll, K, k0, kc, kContig, kMajor, pat }).data()) as Int32Array;
      const halves = new Uint16Array(y.buffer, y.byteOffset, 3 * kc * Rn);
      const order = pat === 'A' ? ['lo', 'hi', 'hi'] : ['hi', 'lo', 'hi'];
      for (let r = 0; r < Rn; r++) {
        let mxr = 0;
        for (let k = 0; k < K; k++) mxr = Math.max(mxr, Math.abs(h[kContig ? (r0 + r) * K + k : k * rowsAll + r0 + r]!));
        const s = scaleOf(mxr);
        for (let kk = 0; kk < kc; kk++) {
          const k = k0 + kk;
          const v = k < K ? h[kContig ? (r0 + r) * K + k : k * rowsAll + r0 + r]! * s : 0;
          const hi = cut11(v), lo = nearestHalf(v - hi);
          for (let b = 0; b < 3; b++) {
            const got = half(halves[kMajor ? (b * kc + kk) * Rn + r : r * 3 * kc + b * kc + kk]!);
            const want = order[b] === 'hi' ? hi : lo;
            if (got !== want && !(got === 0 && want === 0)) throw new Error(`split ${kContig ? 'K-contiguous' : 'K-rows'} → ${kMajor ? 'K-major' : 'row-major'} ${pat}: row ${r} k ${k} block ${b}: ${got} vs ${want} (v = ${v})`);
          }
          if (v !== 0) expect(Math.abs(hi + lo - v) / Math.abs(v)).toBeLessThanOrEqual(2 ** -22);
        }
      }
    }
  });

  test('adds a partial product into rows of C, undoing both scales', async () => {
    const [M, N, m0, rows] = [12, 8, 4, 6];
    const P = randArray([rows, N], 3, -100, 100);
    const ma = Array.from({ length: M }, (_, i) => 2 ** (i - 6) * 1.5), mb = Array.from({ length: N }, (_, j) => 3 * 2 ** (2 - j));
    const tma = grilly.tensor(Int32Array.from(ma, bitsOf), [M], { dtype: 'int32' }), tmb = grilly.tensor(Int32Array.from(mb, bitsOf), [N], { dtype: 'int32' });
    const C0 = randArray([M, N], 4);
    const C = T(C0);
    launchInto('add', addScaledKernel, [T(P), tma, tmb], [C], { M: rows, N, m0, first: true });
    launchInto('add', addScaledKernel, [T(P), tma, tmb], [C], { M: rows, N, m0, first: false });
    const got = (await C.data()) as Float32Array;
    for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) {
      const inBlock = i >= m0 && i < m0 + rows;
      const want = inBlock ? (2 * Math.fround(P.data[(i - m0) * N + j]!)) / (scaleOf(ma[i]!) * scaleOf(mb[j]!)) : Math.fround(C0.data[i * N + j]!);
      expect(got[i * N + j]).toBe(Math.fround(want)); // powers of two and a doubling: exact
    }
  });

  test('says once when the adapter lacks f16 subgroup matrices, and then computes fp32', async () => {
    F16X3.minMacs = 0;
    const a = randArray([64, 96], 1), b = randArray([96, 128], 2);
    const fp32 = await grilly.matmul(T(a), T(b)).data();
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const before = grilly.stats().kernels['split.f16x3'] ?? 0;
    try {
      grilly.setMatmulPrecision('fp16x3');
      const out = await grilly.matmul(T(a), T(b)).data();
      const notices = warn.mock.calls.filter((c) => String(c[0]).includes("matmul precision 'fp16x3' needs f16 subgroup matrices"));
      if (grilly.backendInfo().f16Matmul) {
        expect(notices.length).toBe(0);
        expect((grilly.stats().kernels['split.f16x3'] ?? 0) - before).toBeGreaterThan(0);
        expectClose(out, R.matmul(a, b).data, { atol: 1e-5, rtol: 1e-5 }, 'fp16x3');
      } else {
        expect(notices.length).toBe(1); // once per backend for the whole process (this file's first use)
        expect((grilly.stats().kernels['split.f16x3'] ?? 0) - before).toBe(0);
        expectExact(out, fp32, 'fallback equals fp32');
      }
    } finally {
      warn.mockRestore();
    }
  });

  // The whole product on tensor cores: |C − C₆₄| ≤ 1e-6 · Σ|a·b| (a float32 GEMM's own bound is
  // K·2⁻²⁴·Σ|a·b|), for every layout of the inputs and of the split's f16 blocks (F16X3.layout), K in several chunks (the last ragged),
  // C in several row blocks, rows and columns scaled 2⁻²⁰…2²⁰, one row zero, a NaN row.
  test('the product on tensor cores, four layouts in, every f16 block layout, against float64', async () => {
    if (!grilly.backendInfo().f16Matmul) return; // its kernels are tested above on every backend
    Object.assign(F16X3, { minMacs: 0, chunk: 96, partialBytes: 128 * 260 * 4 });
    grilly.setMatmulPrecision('fp16x3');
    const [M, N, K] = [300, 260, 520];
    const rnd = mulberry32(17);
    const sc = (i: number) => (i === 3 ? 0 : 2 ** ((i % 41) - 20));
    for (const [transA, transB] of [[false, true], [true, false], [false, false], [true, true]] as const) for (const layout of ['TN', 'native', 'NT', 'NN', 'TT'] as const) {
      F16X3.layout = layout;
      const a = new Float64Array(M * K), b = new Float64Array(N * K);
      for (let i = 0; i < M; i++) for (let k = 0; k < K; k++) a[transA ? k * M + i : i * K + k] = Math.fround((rnd() * 2 - 1) * sc(i));
      for (let j = 0; j < N; j++) for (let k = 0; k < K; k++) b[transB ? j * K + k : k * N + j] = Math.fround((rnd() * 2 - 1) * sc(j + 5));
      a[transA ? 7 * M + 11 : 11 * K + 7] = NaN; // row 11 of op(A)
      const A = T({ shape: transA ? [K, M] : [M, K], data: a }), B = T({ shape: transB ? [N, K] : [K, N], data: b });
      const before = grilly.stats().kernels['split.f16x3'] ?? 0;
      const c = (await grilly.tidy(() => gemm('test', A, B, { M, N, K, batch: 1, strideA: 0, strideB: 0, transA, transB }, [M, N])).data()) as Float32Array;
      expect((grilly.stats().kernels['split.f16x3'] ?? 0) - before).toBe(Math.ceil(K / 96) * (1 + Math.ceil(M / 128)));
      let worst = 0;
      for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) {
        const got = c[i * N + j]!;
        if (i === 11) { expect(Number.isNaN(got)).toBe(true); continue; }
        let s = 0, sa = 0;
        for (let k = 0; k < K; k++) {
          const p = a[transA ? k * M + i : i * K + k]! * b[transB ? j * K + k : k * N + j]!;
          s += p; sa += Math.abs(p);
        }
        if (sa === 0) expect(got).toBe(0);
        else worst = Math.max(worst, Math.abs(got - s) / sa);
      }
      expect(worst, `${transA ? 'T' : 'N'}${transB ? 'T' : 'N'}, f16 layout ${layout}`).toBeLessThan(1e-6);
    }
  });

  test('Linear forward and backward in fp16x3 match float64', async () => {
    if (!grilly.backendInfo().f16Matmul) return;
    Object.assign(F16X3, { minMacs: 0, chunk: 64 });
    grilly.setMatmulPrecision('fp16x3');
    const x = randArray([96, 160], 3), w = randArray([80, 160], 4), bias = randArray([80], 5), gy = randArray([96, 80], 6);
    const xt = T(x, { requiresGrad: true }), wt = T(w, { requiresGrad: true }), bt = T(bias, { requiresGrad: true });
    const before = grilly.stats().kernels['split.f16x3'] ?? 0;
    const y = grilly.linear(xt, wt, bt);
    y.backward(T(gy));
    // all three GEMMs on the fp16x3 path: K = 160 / 80 / 96 in chunks of 64 → 3 / 2 / 2 chunks, two splits each
    expect((grilly.stats().kernels['split.f16x3'] ?? 0) - before).toBe(14);
    const tol = { atol: 2e-5, rtol: 1e-5 };
    expectClose(await y.data(), R.add(R.matmul(x, R.transpose(w)), bias).data, tol, 'y');
    expectClose(await xt.grad!.data(), R.matmul(gy, w).data, tol, 'dx');
    expectClose(await wt.grad!.data(), R.matmul(R.transpose(gy), x).data, tol, 'dW');
  });
});
