// setMatmulPrecision('fp16'): on an adapter with f16 subgroup matrices (the H200), matmul, linear
// and their gradients equal a float64 product of the f16-rounded operands (f16 × f16 is exact in
// f32, so only the f32 accumulation differs); elsewhere (lavapipe in CI, the cpu backend) the
// setting falls back to fp32, says so once, and changes no result.
import { afterEach, describe, expect, test, vi } from 'vitest';
import * as grilly from '../src/index.js';
import * as R from './ref.js';
import type { Ref } from './ref.js';
import { F16, castF16TKernel, roundF16, sgmatGemmWgsl, sgmatVariantKernel, type SgmatOpts } from '../src/ops/sgmat.js';
import { launch } from '../src/ops/kernel.js';
import { BACKENDS, T, expectClose, expectExact, half, mulberry32, nearestHalf, randArray, useBackend } from './helpers.js';

const f16 = (r: Ref): Ref => ({ ...r, data: Float64Array.from(r.data, roundF16) });
const tol = (K: number) => ({ atol: 3e-6 * K, rtol: 1e-5 });
const used = () => grilly.stats().kernels['gemm.f16'] ?? 0;

describe.each(BACKENDS)('matmul precision fp16 on %s', (backend) => {
  useBackend(backend);
  afterEach(() => grilly.setMatmulPrecision('fp32'));

  test('rejects other precisions', () => {
    expect(() => grilly.setMatmulPrecision('tf32' as 'fp16')).toThrow(/setMatmulPrecision: expected 'fp32', 'fp16' or 'fp16x3', got "tf32"/);
    expect(grilly.getMatmulPrecision()).toBe('fp32');
  });

  // First: the notice is once per backend for the whole process.
  test('says once when the adapter lacks f16 subgroup matrices', () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    try {
      grilly.setMatmulPrecision('fp16');
      grilly.tidy(() => void grilly.matmul(grilly.ones([16, 16]), grilly.ones([16, 16])));
      grilly.tidy(() => void grilly.matmul(grilly.ones([16, 16]), grilly.ones([16, 16])));
      const notices = warn.mock.calls.filter((c) => String(c[0]).includes("matmul precision 'fp16' needs f16 subgroup matrices"));
      expect(notices.length).toBe(grilly.backendInfo().f16Matmul ? 0 : 1);
    } finally {
      warn.mockRestore();
    }
  });

  const CASES: [string, number[], number[]][] = [
    ['square 256', [256, 256], [256, 256]],
    ['odd 129×200 @ 200×77', [129, 200], [200, 77]],
    ['batched 3×(40×48 @ 48×36)', [3, 40, 48], [3, 48, 36]],
    ['rows not a multiple of 8: 33×24 @ 24×40', [33, 24], [24, 40]],
    // whole tiles inside C but rows of C not 16-byte aligned: stores go through workgroup memory
    ['N not a multiple of 4: 300×40 @ 40×259', [300, 40], [40, 259]],
    // enough big tiles (≥ 264 of 128×256) to take the big-tile kernel, with a ragged edge
    ['big tiles: 2100×16 @ 16×4100', [2100, 16], [16, 4100]],
    // … and three K-slices (the last one ragged) through the prefetching loop
    ['big tiles, K = 72: 2100×72 @ 72×4100', [2100, 72], [72, 4100]],
  ];

  test('an output under 256 elements stays fp32 (the f16 kernel binds C in 1 KiB tiles)', async () => {
    const a = randArray([8, 8], 1), b = randArray([8, 8], 2);
    const fp32 = await grilly.matmul(T(a), T(b)).data();
    grilly.setMatmulPrecision('fp16');
    const before = used();
    expectExact(await grilly.matmul(T(a), T(b)).data(), fp32, '8×8');
    expect(used()).toBe(before);
  });

  test.each(CASES)('matmul %s', async (_label, sa, sb) => {
    const a = randArray(sa, sa[0]!), b = randArray(sb, sb[1]! + 7);
    const fp32 = await grilly.matmul(T(a), T(b)).data();
    const before = used();
    grilly.setMatmulPrecision('fp16');
    const out = await grilly.matmul(T(a), T(b)).data();
    const K = sa[sa.length - 1]!;
    if (grilly.backendInfo().f16Matmul) {
      expect(used()).toBeGreaterThan(before);
      expectClose(out, R.matmul(f16(a), f16(b)).data, tol(K), 'fp16 vs float64 of f16 operands');
      // and it is a different computation from fp32: the operands were rounded
      expect(Array.from(out).some((v, i) => v !== fp32[i])).toBe(true);
    } else {
      expect(used()).toBe(before);
      expectExact(out, fp32, 'fallback equals fp32');
    }
  });

  test('Linear forward and backward (A·Bᵀ, A·B, Aᵀ·B) in fp16', async () => {
    const x = randArray([96, 64], 3), w = randArray([48, 64], 4), bias = randArray([48], 5), gy = randArray([96, 48], 6);
    grilly.setMatmulPrecision('fp16');
    const xt = T(x, { requiresGrad: true }), wt = T(w, { requiresGrad: true }), bt = T(bias, { requiresGrad: true });
    const y = grilly.linear(xt, wt, bt);
    y.backward(T(gy));
    if (grilly.backendInfo().f16Matmul) {
      expectClose(await y.data(), R.add(R.matmul(f16(x), R.transpose(f16(w))), bias).data, tol(64), 'y');
      expectClose(await xt.grad!.data(), R.matmul(f16(gy), f16(w)).data, tol(48), 'dx');
      // dW = gᵀ·x has K = 96 rows: no split, so fp16 too
      expectClose(await wt.grad!.data(), R.matmul(R.transpose(f16(gy)), f16(x)).data, tol(96), 'dW');
    } else {
      expectClose(await y.data(), R.add(R.matmul(x, R.transpose(w)), bias).data, tol(64), 'y (fp32 fallback)');
      expectClose(await wt.grad!.data(), R.matmul(R.transpose(gy), x).data, tol(96), 'dW (fp32 fallback)');
    }
  });

  test('the cast that transposes: f32 [R][L] → f16 [L][R], each value rounded to the nearest f16', async () => {
    const [Rn, L] = [12, 20]; // L / 4 = 5: the last lane pair's second half is outside
    const rnd = mulberry32(31);
    // normal f16 magnitudes 2⁻¹¹…2¹¹, both signs
    const h = Float64Array.from({ length: Rn * L }, (_, i) => Math.fround((rnd() < 0.5 ? -1 : 1) * (0.5 + 0.5 * rnd()) * 2 ** ((i % 21) - 10)));
    const y = (await launch('test', castF16TKernel, [T({ shape: [Rn, L], data: h })], [(Rn * L) / 2], 'int32', { R: Rn, L }).data()) as Int32Array;
    const halves = new Uint16Array(y.buffer, y.byteOffset, Rn * L);
    for (let r = 0; r < Rn; r++) for (let c = 0; c < L; c++) {
      const got = half(halves[c * Rn + r]!), want = nearestHalf(h[r * L + c]!);
      if (got !== want) throw new Error(`cast.f16.t: [${r}][${c}] → [${c}][${r}]: ${got}, want ${want} (from ${h[r * L + c]})`);
    }
  });

  test('Linear forward and backward in fp16 with the casts writing every operand layout', async () => {
    if (!grilly.backendInfo().f16Matmul) return; // the cast kernel is tested above on every backend
    const x = randArray([96, 64], 3), w = randArray([48, 64], 4), gy = randArray([96, 48], 6);
    grilly.setMatmulPrecision('fp16');
    try {
      for (const layout of ['TN', 'NN', 'TT', 'NT', 'native'] as const) {
        F16.layout = layout;
        const before = grilly.stats().kernels['cast.f16.t'] ?? 0;
        const xt = T(x, { requiresGrad: true }), wt = T(w, { requiresGrad: true });
        const y = grilly.linear(xt, wt);
        y.backward(T(gy));
        expectClose(await y.data(), R.matmul(f16(x), R.transpose(f16(w))).data, tol(64), `y, ${layout}`);
        expectClose(await xt.grad!.data(), R.matmul(f16(gy), f16(w)).data, tol(48), `dx, ${layout}`);
        expectClose(await wt.grad!.data(), R.matmul(R.transpose(f16(gy)), f16(x)).data, tol(96), `dW, ${layout}`);
        // transposing casts: of the three GEMMs' operands (y NT, dx NN, dW TN), those whose flag the layout changes
        const flips = { TN: 2 + 1 + 0, NN: 1 + 0 + 1, TT: 1 + 2 + 1, NT: 0 + 1 + 2, native: 0 }[layout];
        expect((grilly.stats().kernels['cast.f16.t'] ?? 0) - before, layout).toBe(flips);
      }
    } finally {
      F16.layout = 'native';
    }
  });

  // The two gradient layouts through the big prefetching tiles (≥ 264 tiles of 128×256): dA = dC·Bᵀ
  // and dB = Aᵀ·dC with M = 2100, N = 4100 (ragged) and K = 72 (three K-slices, the last ragged).
  test('gradients A·Bᵀ and Aᵀ·B on big tiles in fp16', async () => {
    if (!grilly.backendInfo().f16Matmul) return; // the fp32 kernels are tested in ops.test.ts
    grilly.setMatmulPrecision('fp16');
    const a = randArray([2100, 4100], 21), b = randArray([4100, 72], 22), gy = randArray([2100, 72], 23);
    const at = T(a, { requiresGrad: true });
    grilly.matmul(at, T(b)).backward(T(gy));
    expectClose(await at.grad!.data(), R.matmul(f16(gy), R.transpose(f16(b))).data, tol(72), 'dA = dC·Bᵀ');
    const a2 = randArray([72, 2100], 24), b2 = randArray([2100, 4100], 25), gy2 = randArray([72, 4100], 26);
    const bt = T(b2, { requiresGrad: true });
    grilly.matmul(T(a2), bt).backward(T(gy2));
    expectClose(await bt.grad!.data(), R.matmul(R.transpose(f16(a2)), f16(gy2)).data, tol(72), 'dB = Aᵀ·dC');
  });

  // The generator's i8 → i32 GEMM (bench/sgmat/gemm-rate.ts): exact integer products, all four
  // layouts, one staging buffer with and without the register prefetch, ragged tile edges in M, N
  // and K. Without an i8 16×16×32 config only the generator's checks run.
  test('i8 subgroup-matrix GEMM equals the integer product', async () => {
    expect(() => sgmatGemmWgsl({ elem: 'i8', transA: false, transB: false, tileM: 128, tileN: 256, vecA: 8 })).toThrow(/16 bytes/);
    expect(() => sgmatGemmWgsl({ transA: false, transB: false, tileM: 128, tileN: 256, prefetch: true })).toThrow(/prefetch is for one staging buffer/);
    expect(() => sgmatGemmWgsl({ transA: false, transB: false, tileM: 128, tileN: 256, doubleBuffer: false, diag: 'nobar' })).toThrow(/needs prefetch/);
    expect(() => sgmatGemmWgsl({ transA: false, transB: false, tileM: 128, tileN: 256, vecB: 16 })).toThrow(/at most 8/);
    const i8 = (grilly.backendInfo().subgroupMatrixConfigs ?? []).some((c) => c.componentType === 'i8' && c.resultComponentType === 'i32' && c.M === 16 && c.N === 16 && c.K === 32);
    if (!i8) return;
    let seed = 99;
    const words = (n: number) => Int32Array.from({ length: n }, () => (seed = (Math.imul(seed, 1664525) + 1013904223) | 0));
    const byte = (a: Int32Array, e: number) => (a[e >> 2]! << (24 - 8 * (e & 3))) >> 24;
    const [M, N, K] = [208, 320, 224]; // ragged against 128×256 tiles and K-slices of 64 (3.5 of them)
    for (const prefetch of [false, true]) for (const [ta, tb] of [[false, true], [true, false], [false, false], [true, true]] as const) {
      const o: SgmatOpts = { elem: 'i8', transA: ta, transB: tb, tileM: 128, tileN: 256, doubleBuffer: false, prefetch };
      const a = words((M * K) / 4), b = words((N * K) / 4);
      const c = (await launch('i8', sgmatVariantKernel(o), [grilly.tensor(a, [a.length], { dtype: 'int32' }), grilly.tensor(b, [b.length], { dtype: 'int32' })], [M * N], 'int32', { M, N, K }).data()) as Int32Array;
      const want = new Int32Array(M * N);
      for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) {
        let s = 0;
        for (let q = 0; q < K; q++) s += byte(a, ta ? q * M + i : i * K + q) * byte(b, tb ? j * K + q : q * N + j);
        want[i * N + j] = s;
      }
      expectExact(c, want, `i8 ${ta ? 'T' : 'N'}${tb ? 'T' : 'N'} prefetch ${prefetch}`);
    }
  });

});
