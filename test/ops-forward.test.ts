// Forward values of every op against the float64 reference, on each backend under test.
import { describe, expect, test } from 'vitest';
import * as grilly from '../src/index.js';
import type { Tensor } from '../src/index.js';
import * as R from './ref.js';
import { gemm, gemmKernel, gemmSplitK, gemmTuning } from '../src/ops/matmul.js';
import { linear } from '../src/ops/linear.js';
import type { Ref } from './ref.js';
import {
  BACKENDS, T, TI, expectClose, expectExact, expectTensor, initBackend, randArray, randAway, randInts, useBackend,
} from './helpers.js';

type Operand = Tensor | number;
type BinOp = (a: Operand, b: Operand) => Tensor;

/** Broadcasting patterns for binary ops (lhs shape, rhs shape). */
const PATTERNS: [number[], number[]][] = [
  [[7], [7]],
  [[8], [8]],
  [[1000], [1000]],
  [[2, 3, 5], [2, 3, 5]],
  [[2, 3], [1]], // one-element tensor on the right
  [[1], [3, 5]], // ... on the left
  [[], [4, 3]], // 0-d tensor
  [[4, 4], [1, 1]],
  [[3, 1], [1, 4]],
  [[2, 3, 4], [4]],
  [[4], [2, 3, 4]],
  [[2, 3, 4], [3, 1]],
  [[5, 1, 3], [1, 6, 1]],
  [[2, 1, 3, 1], [4, 1, 5]],
  [[1, 1, 7], [3, 2, 1]],
];
const SCALAR_SHAPES: number[][] = [[7], [8], [2, 3], []];

interface BinCase {
  name: string;
  fn: BinOp;
  ref: (a: R.RefOperand, b: R.RefOperand) => Ref;
  lhs: (shape: number[], seed: number) => Ref;
  rhs: (shape: number[], seed: number) => Ref;
  scalars: [number, number];
  tol?: { atol?: number; rtol?: number };
}

const wide = (shape: number[], seed: number) => randArray(shape, seed, -3, 3);
const intish = (shape: number[], seed: number) => randInts(shape, seed, -2, 3);
const cmpCase = (name: string, fn: BinOp, ref: BinCase['ref']): BinCase => ({ name, fn, ref, lhs: intish, rhs: intish, scalars: [1, 0] });

const BIN_CASES: BinCase[] = [
  { name: 'add', fn: grilly.add, ref: R.add, lhs: wide, rhs: wide, scalars: [1.5, -0.75] },
  { name: 'sub', fn: grilly.sub, ref: R.sub, lhs: wide, rhs: wide, scalars: [2, -0.75] },
  { name: 'mul', fn: grilly.mul, ref: R.mul, lhs: wide, rhs: wide, scalars: [1.5, -0.75] },
  { name: 'div', fn: grilly.div, ref: R.div, lhs: wide, rhs: (s, seed) => randAway(s, seed, -2, 2, [0], 0.25), scalars: [1.5, -0.75] },
  {
    name: 'pow', fn: grilly.pow, ref: R.pow,
    lhs: (s, seed) => randArray(s, seed, 0.1, 3), rhs: (s, seed) => randArray(s, seed, -2.5, 2.5), scalars: [1.75, 2.5],
    tol: { atol: 1e-6, rtol: 2e-5 },
  },
  { name: 'maximum', fn: grilly.maximum, ref: R.maximum, lhs: wide, rhs: wide, scalars: [0.5, -0.25] },
  { name: 'minimum', fn: grilly.minimum, ref: R.minimum, lhs: wide, rhs: wide, scalars: [0.5, -0.25] },
  cmpCase('eq', grilly.eq, R.eq),
  cmpCase('ne', grilly.ne, R.ne),
  cmpCase('lt', grilly.lt, R.lt),
  cmpCase('le', grilly.le, R.le),
  cmpCase('gt', grilly.gt, R.gt),
  cmpCase('ge', grilly.ge, R.ge),
];

/** Integer-valued data as a float32 tensor, for the comparisons (so ties occur). */
interface UnCase {
  name: string;
  fn: (x: Tensor) => Tensor;
  ref: (x: Ref) => Ref;
  data: (shape: number[], seed: number) => Ref;
  tol?: { atol?: number; rtol?: number };
}

const withZeros = (r: Ref): Ref => {
  for (let i = 0; i < r.data.length; i += 3) r.data[i] = 0;
  return r;
};

const UN_CASES: UnCase[] = [
  { name: 'neg', fn: grilly.neg, ref: R.neg, data: wide },
  { name: 'exp', fn: grilly.exp, ref: R.exp, data: (s, seed) => randArray(s, seed, -20, 20), tol: { atol: 1e-6, rtol: 1e-5 } },
  { name: 'log', fn: grilly.log, ref: R.log, data: (s, seed) => randArray(s, seed, 0.01, 50) },
  { name: 'sqrt', fn: grilly.sqrt, ref: R.sqrt, data: (s, seed) => withZeros(randArray(s, seed, 0, 50)) },
  { name: 'abs', fn: grilly.abs, ref: R.abs, data: wide },
  { name: 'sign', fn: grilly.sign, ref: R.sign, data: (s, seed) => withZeros(wide(s, seed)) },
  { name: 'relu', fn: grilly.relu, ref: R.relu, data: (s, seed) => withZeros(wide(s, seed)) },
  { name: 'sigmoid', fn: grilly.sigmoid, ref: R.sigmoid, data: (s, seed) => randArray(s, seed, -8, 8) },
  { name: 'tanh', fn: grilly.tanh, ref: R.tanh, data: (s, seed) => randArray(s, seed, -5, 5) },
];
const UN_SHAPES: number[][] = [[7], [8], [1000], [2, 3, 5], []];

function fround(v: number): number {
  return Math.fround(v);
}

describe.each(BACKENDS)('ops forward [%s]', (backend) => {
  useBackend(backend);

  describe('float binary ops with broadcasting', () => {
    test.each(BIN_CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
      let seed = 100;
      for (const [sa, sb] of PATTERNS) {
        const a = c.lhs(sa, seed++), b = c.rhs(sb, seed++);
        const out = c.fn(T(a), T(b));
        await expectTensor(out, c.ref(a, b), c.tol, `${c.name} ${JSON.stringify(sa)} x ${JSON.stringify(sb)}`);
      }
      // a scalar number on either side
      for (const s of SCALAR_SHAPES) {
        const x = c.lhs(s, seed++);
        const y = c.rhs(s, seed++);
        const [k1, k2] = c.scalars.map(fround) as [number, number];
        await expectTensor(c.fn(T(x), k2), c.ref(x, k2), c.tol, `${c.name}(x${JSON.stringify(s)}, ${k2})`);
        await expectTensor(c.fn(k1, T(y)), c.ref(k1, y), c.tol, `${c.name}(${k1}, y${JSON.stringify(s)})`);
      }
    });

    test('methods match the functions', async () => {
      const a = randArray([3, 4], 1), b = randAway([4], 2, -2, 2, [0], 0.25);
      await expectTensor(T(a).add(T(b)), R.add(a, b));
      await expectTensor(T(a).sub(2), R.sub(a, 2));
      await expectTensor(T(a).mul(T(b)), R.mul(a, b));
      await expectTensor(T(a).div(T(b)), R.div(a, b));
      await expectTensor(T(a).maximum(0.25), R.maximum(a, 0.25));
      await expectTensor(T(a).lt(T(b)), R.lt(a, b));
    });

    test('pow: a negative-zero base with odd negative exponents gives -Infinity, as Math.pow', async () => {
      const x = R.make([4], [-0, -0, -0, 0]);
      const y = R.make([4], [-1, -3, -2, -1]);
      expectExact(await grilly.pow(T(x), T(y)).data(), [-Infinity, -Infinity, Infinity, Infinity], 'pow(-0, y)');
      expectExact(await grilly.pow(grilly.neg(grilly.zeros([3])), -1).data(), [-Infinity, -Infinity, -Infinity], 'pow(-0, -1)');
    });

    test('pow: negative bases with integer exponents, and zero bases, match Math.pow', async () => {
      const bases = R.make([9, 1], [-3, -2, -1.5, -1, -0.5, 0, 0.5, 1, 2]);
      const exps = R.make([1, 12], [-3, -2, -1, 0, 1, 2, 3, 4, 0.5, -0.5, 2.5, 1.5]);
      const out = grilly.pow(T(bases), T(exps));
      const ref = R.map((x, y) => Math.pow(x, y), bases, exps);
      await expectTensor(out, ref, { atol: 1e-6, rtol: 2e-5 }, 'pow table');
      // scalar exponents
      const x = R.make([8], [-3, -2, -1.5, -1, -0.5, 0, 0.5, 2]);
      for (const e of [0, 1, 2, 3, -1, -2, 0.5, -0.5]) {
        await expectTensor(grilly.pow(T(x), e), R.map((v) => Math.pow(v, e), x), { atol: 1e-6, rtol: 2e-5 }, `x^${e}`);
      }
      // odd length (scalar path) and a scalar base
      const x7 = R.make([7], [-3, -2, -1, 0, 1, 2, 3]);
      await expectTensor(grilly.pow(T(x7), 3), R.map((v) => Math.pow(v, 3), x7), {}, 'x7^3');
      await expectTensor(grilly.pow(T(x7), -2), R.map((v) => Math.pow(v, -2), x7), {}, 'x7^-2');
      await expectTensor(grilly.pow(2, T(x7)), R.map((v) => Math.pow(2, v), x7), {}, '2^x7');
      await expectTensor(grilly.pow(0, T(x7)), R.map((v) => Math.pow(0, v), x7), {}, '0^x7');
      await expectTensor(grilly.pow(-2, T(x7)), R.map((v) => Math.pow(-2, v), x7), {}, '(-2)^x7');
    });
  });

  describe('float unary ops', () => {
    test.each(UN_CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
      let seed = 500;
      for (const s of UN_SHAPES) {
        const x = c.data(s, seed++);
        await expectTensor(c.fn(T(x)), c.ref(x), c.tol, `${c.name} ${JSON.stringify(s)}`);
      }
    });

    test('sigmoid, tanh and exp stay finite for large |x|', async () => {
      const big = [-1e4, -100, -89, -88, -50, -20, -15.5, -15, -1e-3, 0, 1e-3, 15, 15.5, 20, 50, 88, 89, 100, 1e4];
      const x = R.make([big.length], big);
      for (const [name, fn, ref] of [
        ['sigmoid', grilly.sigmoid, R.sigmoid],
        ['tanh', grilly.tanh, R.tanh],
      ] as const) {
        const out = await fn(T(x)).data();
        for (let i = 0; i < out.length; i++) expect(Number.isNaN(out[i]), `${name}(${big[i]}) is NaN`).toBe(false);
        expectClose(out, ref(x).data, { atol: 1e-6, rtol: 1e-5 }, name);
      }
      // also through the vec4 path (length divisible by 4)
      const x8 = R.make([8], [-100, -50, -20, 0, 20, 50, 100, 1e4]);
      expectClose(await grilly.sigmoid(T(x8)).data(), R.sigmoid(x8).data, { atol: 1e-6, rtol: 1e-5 }, 'sigmoid vec4');
      expectClose(await grilly.tanh(T(x8)).data(), R.tanh(x8).data, { atol: 1e-6, rtol: 1e-5 }, 'tanh vec4');
      const e = await grilly.exp(T(R.make([4], [-100, -50, 50, 80]))).data();
      expectClose(e, [Math.exp(-100), Math.exp(-50), Math.exp(50), Math.exp(80)], { atol: 1e-30, rtol: 2e-5 }, 'exp big');
    });

    test('clamp: both bounds, one bound, tensor bounds', async () => {
      for (const s of [[7], [8], [3, 4]]) {
        const x = randArray(s, 77, -2, 2);
        await expectTensor(grilly.clamp(T(x), -0.5, 0.75), R.clamp(x, -0.5, 0.75), {}, `clamp ${s}`);
        await expectTensor(grilly.clamp(T(x), -0.5), R.clamp(x, -0.5, null), {}, `clamp min ${s}`);
        await expectTensor(grilly.clamp(T(x), null, 0.75), R.clamp(x, null, 0.75), {}, `clamp max ${s}`);
        await expectTensor(T(x).clamp(-0.25, null), R.clamp(x, -0.25, null), {}, `method clamp min ${s}`);
      }
      const x = randArray([3, 4], 78, -2, 2);
      const lo = randArray([3, 1], 79, -1, 0), hi = randArray([1, 4], 80, 0, 1);
      await expectTensor(grilly.clamp(T(x), T(lo), T(hi)), R.clamp(x, lo, hi), {}, 'clamp tensor bounds');
      await expectTensor(grilly.clamp(T(x), T(lo), 0.5), R.clamp(x, lo, 0.5), {}, 'clamp tensor lo, number hi');
      await expectTensor(grilly.clamp(T(x), -0.5, T(hi)), R.clamp(x, -0.5, hi), {}, 'clamp number lo, tensor hi');
      await expectTensor(grilly.clamp(T(x), T(lo)), R.clamp(x, lo, null), {}, 'clamp tensor lo only');
      await expectTensor(grilly.clamp(T(x), null, T(hi)), R.clamp(x, null, hi), {}, 'clamp tensor hi only');
      const x3 = randArray([5, 1, 3], 81, -2, 2), lo3 = randArray([1, 6, 1], 82, -1, 0), hi3 = randArray([3], 83, 0, 1);
      await expectTensor(grilly.clamp(T(x3), T(lo3), T(hi3)), R.clamp(x3, lo3, hi3), {}, 'clamp 3-way broadcast');
      expect(() => grilly.clamp(T(x))).toThrow();
    });

    test('where: tensor and scalar branches, float and int conditions, broadcasting', async () => {
      for (const n of [7, 8, 1000]) {
        const c = randInts([n], n, 0, 2), a = randArray([n], n + 1), b = randArray([n], n + 2);
        await expectTensor(grilly.where(T(c), T(a), T(b)), R.where(c, a, b), {}, `where float cond ${n}`);
        await expectTensor(grilly.where(TI(c), T(a), T(b)), R.where(c, a, b), {}, `where int cond ${n}`);
        await expectTensor(grilly.where(T(c), 2.5, T(b)), R.where(c, 2.5, b), {}, `where scalar a ${n}`);
        await expectTensor(grilly.where(T(c), T(a), -1.5), R.where(c, a, -1.5), {}, `where scalar b ${n}`);
        await expectTensor(grilly.where(T(c), 3, -4), R.where(c, 3, -4), {}, `where both scalars ${n}`);
      }
      const c = randInts([5, 1, 3], 9, 0, 2), a = randArray([1, 6, 1], 10), b = randArray([6, 3], 11);
      await expectTensor(grilly.where(T(c), T(a), T(b)), R.where(c, a, b), {}, 'where 3-way broadcast');
      const x = randArray([3, 4], 12);
      const cond = grilly.gt(T(x), 0);
      await expectTensor(grilly.where(cond, T(x), T(x).neg()), R.abs(x), {}, 'where(x>0, x, -x)');
      // int32 branches
      const ia = randInts([2, 4], 13, -100, 100), ib = randInts([4], 14, -100, 100), ic = randInts([2, 4], 15, 0, 2);
      await expectTensor(grilly.where(TI(ic), TI(ia), TI(ib)), R.where(ic, ia, ib), { dtype: 'int32' }, 'where int32 branches');
      // A NaN condition is true (as bool(NaN) in PyTorch), ±0 false; vectorized (8) and not (7).
      for (const n of [7, 8]) {
        const cn = Array.from({ length: n }, (_, i) => [NaN, 0, -0, 1, -Infinity][i % 5]!);
        const got = Array.from(await grilly.where(grilly.tensor(cn), 1, 2).data());
        expect(got).toEqual(cn.map((v) => (v !== 0 ? 1 : 2)));
      }
    });
  });

  describe('NaN propagation (as the cpu kernels define it for maximum/minimum)', () => {
    const x = R.make([7], [NaN, 1, 2, NaN, 5, -1, 0]);
    const y = R.make([7], [1, NaN, 3, NaN, 0, 0, 0]);
    const nanIfAny = (f: (a: number, b: number) => number) => (a: number, b: number) => (Number.isNaN(a) || Number.isNaN(b) ? NaN : f(a, b));

    test('maximum and minimum return NaN where either operand is NaN', async () => {
      expectClose(await grilly.maximum(T(x), T(y)).data(), R.map(nanIfAny(Math.max), x, y).data, {}, 'maximum');
      expectClose(await grilly.minimum(T(x), T(y)).data(), R.map(nanIfAny(Math.min), x, y).data, {}, 'minimum');
      const x8 = R.make([8], [NaN, 1, 2, NaN, 5, -1, 0, NaN]);
      expectClose(await grilly.maximum(T(x8), 0.5).data(), R.map((a) => nanIfAny(Math.max)(a, 0.5), x8).data, {}, 'maximum(x8, 0.5)');
    });

    test('clamp and tanh keep NaN', async () => {
      expectClose(await grilly.clamp(T(x), 0, 1).data(), R.map((a) => (Number.isNaN(a) ? NaN : Math.min(Math.max(a, 0), 1)), x).data, {}, 'clamp');
      expectClose(await grilly.tanh(T(x)).data(), R.map(Math.tanh, x).data, {}, 'tanh');
    });

    test('max/min reductions return NaN when the reduced values contain NaN, wherever it sits', async () => {
      const z = R.make([2, 4], [1, NaN, 3, 2, NaN, 1, 3, 2]);
      expectClose(await grilly.max(T(z), 1).data(), [NaN, NaN], {}, 'max rows');
      expectClose(await grilly.min(T(z), 1).data(), [NaN, NaN], {}, 'min rows');
      expectClose(await grilly.max(T(z)).data(), [NaN], {}, 'max all');
    });
  });

  describe('int32', () => {
    const I32_EDGE = [2 ** 31 - 1, -(2 ** 31), 1, -1, 0, 46341, -46341, 65536, 123456789, -987654321, 2 ** 30, 7];
    const wrapRef = (f: (a: number, b: number) => number) => (a: R.RefOperand, b: R.RefOperand) => R.map(f, a, b);

    test('add, sub, mul wrap like int32 (Math.imul, |0)', async () => {
      const a = R.make([12], I32_EDGE);
      const b = R.make([12], [1, -1, 2 ** 31 - 1, -(2 ** 31), 5, 46341, 46341, 65536, 987654321, -123456789, 4, -9]);
      const cases: [string, BinOp, (x: number, y: number) => number][] = [
        ['add', grilly.add, (x, y) => (x + y) | 0],
        ['sub', grilly.sub, (x, y) => (x - y) | 0],
        ['mul', grilly.mul, (x, y) => Math.imul(x, y)],
      ];
      for (const [name, fn, f] of cases) {
        await expectTensor(fn(TI(a), TI(b)), wrapRef(f)(a, b), { dtype: 'int32' }, `${name} edge`);
        // odd length (non-vec4 path)
        const a7 = R.make([7], I32_EDGE.slice(0, 7)), b7 = R.make([7], [1, -1, 2 ** 31 - 1, 3, 46341, 46341, 65536]);
        await expectTensor(fn(TI(a7), TI(b7)), wrapRef(f)(a7, b7), { dtype: 'int32' }, `${name} edge odd`);
        // large random values
        const ra = randInts([1000], 31, -(2 ** 31), 2 ** 31), rb = randInts([1000], 32, -(2 ** 31), 2 ** 31);
        await expectTensor(fn(TI(ra), TI(rb)), wrapRef(f)(ra, rb), { dtype: 'int32' }, `${name} random`);
        // broadcasting and scalars on either side
        const c = randInts([3, 1], 33, -(2 ** 31), 2 ** 31), d = randInts([1, 4], 34, -(2 ** 31), 2 ** 31);
        await expectTensor(fn(TI(c), TI(d)), wrapRef(f)(c, d), { dtype: 'int32' }, `${name} [3,1]x[1,4]`);
        const e = randInts([2, 3, 4], 35, -1000, 1000), g = randInts([4], 36, -1000, 1000);
        await expectTensor(fn(TI(e), TI(g)), wrapRef(f)(e, g), { dtype: 'int32' }, `${name} [2,3,4]x[4]`);
        await expectTensor(fn(TI(a), 2 ** 31 - 1), wrapRef(f)(a, 2 ** 31 - 1), { dtype: 'int32' }, `${name}(x, 2^31-1)`);
        await expectTensor(fn(5, TI(a)), wrapRef(f)(5, a), { dtype: 'int32' }, `${name}(5, x)`);
        await expectTensor(fn(TI(a7), -3), wrapRef(f)(a7, -3), { dtype: 'int32' }, `${name}(x7, -3)`);
      }
      // the classic overflow
      expect([...(await grilly.add(grilly.tensor([2 ** 31 - 1], [1], { dtype: 'int32' }), 1).data())]).toEqual([-(2 ** 31)]);
    });

    test('neg, abs, sign, maximum, minimum', async () => {
      for (const n of [12, 7]) {
        const a = R.make([n], I32_EDGE.slice(0, n));
        await expectTensor(grilly.neg(TI(a)), R.map((x) => -x | 0, a), { dtype: 'int32' }, `neg ${n}`);
        await expectTensor(grilly.abs(TI(a)), R.map((x) => Math.abs(x) | 0, a), { dtype: 'int32' }, `abs ${n}`);
        await expectTensor(grilly.sign(TI(a)), R.sign(a), { dtype: 'int32' }, `sign ${n}`);
        const b = randInts([n], n, -(2 ** 31), 2 ** 31);
        await expectTensor(grilly.maximum(TI(a), TI(b)), R.maximum(a, b), { dtype: 'int32' }, `maximum ${n}`);
        await expectTensor(grilly.minimum(TI(a), TI(b)), R.minimum(a, b), { dtype: 'int32' }, `minimum ${n}`);
        await expectTensor(grilly.maximum(TI(a), 0), R.maximum(a, 0), { dtype: 'int32' }, `maximum(x, 0) ${n}`);
        await expectTensor(grilly.minimum(-5, TI(a)), R.minimum(-5, a), { dtype: 'int32' }, `minimum(-5, x) ${n}`);
        await expectTensor(grilly.clamp(TI(a), -100, 100), R.clamp(a, -100, 100), { dtype: 'int32' }, `clamp ${n}`);
      }
      const c = randInts([3, 1], 40, -50, 50), d = randInts([1, 4], 41, -50, 50);
      await expectTensor(grilly.maximum(TI(c), TI(d)), R.maximum(c, d), { dtype: 'int32' }, 'maximum broadcast');
    });

    test('comparisons give float32 0/1', async () => {
      for (const [sa, sb] of [[[8], [8]], [[7], [7]], [[3, 1], [1, 4]], [[2, 3, 4], [4]]] as [number[], number[]][]) {
        // big values that differ by 1 (a float32 round trip would merge them)
        const a = randInts(sa, 50, -3, 3), b = randInts(sb, 51, -3, 3);
        const big = (r: Ref) => R.map((v) => 2 ** 30 + v, r);
        for (const [name, fn, ref] of [
          ['eq', grilly.eq, R.eq], ['ne', grilly.ne, R.ne], ['lt', grilly.lt, R.lt],
          ['le', grilly.le, R.le], ['gt', grilly.gt, R.gt], ['ge', grilly.ge, R.ge],
        ] as const) {
          await expectTensor(fn(TI(a), TI(b)), ref(a, b), {}, `${name} int ${sa}x${sb}`);
          await expectTensor(fn(TI(big(a)), TI(big(b))), ref(a, b), {}, `${name} int near 2^30 ${sa}x${sb}`);
          await expectTensor(fn(TI(a), 1), ref(a, 1), {}, `${name}(int x, 1)`);
          await expectTensor(fn(0, TI(b)), ref(0, b), {}, `${name}(0, int y)`);
        }
      }
    });

    test('int() truncates toward zero, float() converts', async () => {
      const vals = [-2.7, 2.7, -0.5, 0.5, -0, 3, -3, 1e6 + 0.5, -1e6 - 0.5, 123.999, -123.999, 16777215];
      for (const n of [vals.length, 7]) {
        const x = R.make([n], vals.slice(0, n).map(fround));
        const t = grilly.int(T(x));
        expect(t.dtype).toBe('int32');
        expectExact(await t.data(), x.data.map((v) => Math.trunc(v) | 0), `int ${n}`);
        expectExact(await T(x).int().data(), x.data.map((v) => Math.trunc(v) | 0), `.int() ${n}`);
      }
      const ints = R.make([8], [0, 1, -1, 2 ** 24 + 1, -(2 ** 31), 2 ** 31 - 1, 123456789, -7]);
      const f = grilly.float(TI(ints));
      expect(f.dtype).toBe('float32');
      expectExact(await f.data(), ints.data.map(fround), 'float');
      expectExact(await TI(ints).float().data(), ints.data.map(fround), '.float()');
      const round = grilly.int(grilly.float(TI(randInts([7], 3, -1000, 1000))));
      expect(round.dtype).toBe('int32');
      // casts to the same dtype are identities
      const xf = T(randArray([3], 4));
      expectExact(await grilly.float(xf).data(), await xf.data(), 'float(float)');
    });

    test('int() saturates out-of-range values to the int32 range (NaN -> 0), as the cpu kernel defines', async () => {
      const x = R.make([7], [3e9, -3e9, 2147483648, -2147483904, Infinity, -Infinity, NaN]);
      expectExact(await grilly.int(T(x)).data(), [2147483647, -2147483648, 2147483647, -2147483648, 2147483647, -2147483648, 0], 'saturate');
    });

    test('int32 reductions', async () => {
      const x = randInts([3, 4, 5], 60, -1000, 1000);
      await expectTensor(grilly.sum(TI(x)), R.sum(x), { dtype: 'int32' }, 'sum all');
      await expectTensor(grilly.sum(TI(x), 1), R.sum(x, 1), { dtype: 'int32' }, 'sum 1');
      await expectTensor(grilly.sum(TI(x), [0, 2], true), R.sum(x, [0, 2], true), { dtype: 'int32' }, 'sum [0,2]');
      await expectTensor(grilly.max(TI(x), 2), R.max(x, 2), { dtype: 'int32' }, 'max 2');
      await expectTensor(grilly.min(TI(x), 0), R.min(x, 0), { dtype: 'int32' }, 'min 0');
      await expectTensor(grilly.argmax(TI(x), 1), R.argmax(x, 1), { dtype: 'int32' }, 'argmax 1');
      await expectTensor(grilly.argmin(TI(x)), R.argmin(x), { dtype: 'int32' }, 'argmin all');
      const edge = R.make([4], [-(2 ** 31), -(2 ** 31), 5, -7]);
      await expectTensor(grilly.max(TI(edge)), R.scalar(5), { dtype: 'int32' }, 'max with int min');
      await expectTensor(grilly.min(TI(edge)), R.scalar(-(2 ** 31)), { dtype: 'int32' }, 'min = int min');
      const long = randInts([300000], 61, -1000, 1000);
      await expectTensor(grilly.sum(TI(long)), R.sum(long), { dtype: 'int32' }, 'long int sum');
    });

    test('mixing dtypes and fractional scalars on int tensors throw', () => {
      const xi = grilly.tensor([1, 2, 3], [3], { dtype: 'int32' });
      const xf = grilly.tensor([1, 2, 3]);
      expect(() => grilly.add(xi, xf)).toThrow(grilly.DTypeError);
      expect(() => grilly.add(xi, 0.5)).toThrow(grilly.DTypeError);
      expect(() => grilly.exp(xi)).toThrow(grilly.DTypeError);
    });
  });

  describe('reductions', () => {
    const SHAPES = [[3, 4, 5], [3, 5, 7]];
    const AXIS_LISTS: (number | number[] | undefined)[] = [undefined, 0, 1, 2, -1, -2, -3, [0, 2], [0, 1], [1, 2], [-1, 0], [0, 1, 2]];

    test.each(['sum', 'mean'] as const)('%s over all, single axes and axis lists, keepdim', async (name) => {
      const fn = name === 'sum' ? grilly.sum : grilly.mean;
      const ref = name === 'sum' ? R.sum : R.mean;
      let seed = 900;
      for (const shape of SHAPES) {
        const x = randArray(shape, seed++, -2, 2);
        for (const axes of AXIS_LISTS) {
          for (const keep of [false, true]) {
            await expectTensor(fn(T(x), axes, keep), ref(x, axes, keep), { atol: 1e-5, rtol: 1e-5 }, `${name}(${shape}, ${JSON.stringify(axes)}, ${keep})`);
          }
        }
      }
      const x = randArray([2, 3], 3);
      await expectTensor(name === 'sum' ? T(x).sum() : T(x).mean(), ref(x), { atol: 1e-6 }, `.${name}()`);
      await expectTensor(name === 'sum' ? T(x).sum(-1, true) : T(x).mean(-1, true), ref(x, -1, true), { atol: 1e-6 }, `.${name}(-1, true)`);
    });

    test.each(['max', 'min', 'argmax', 'argmin'] as const)('%s over all and each axis, keepdim', async (name) => {
      const fn = grilly[name];
      const ref = R[name];
      const dtype = name.startsWith('arg') ? 'int32' : 'float32';
      let seed = 950;
      for (const shape of SHAPES) {
        const x = randArray(shape, seed++, -2, 2);
        for (const axis of [undefined, 0, 1, 2, -1, -2, -3]) {
          for (const keep of [false, true]) {
            await expectTensor(fn(T(x), axis, keep), ref(x, axis, keep), { dtype }, `${name}(${shape}, ${axis}, ${keep})`);
          }
        }
      }
      // a 1-D tensor and a 0-d tensor
      const v = randArray([1000], 3);
      await expectTensor(fn(T(v)), ref(v), { dtype }, `${name} 1000`);
      await expectTensor(fn(T(v), 0, true), ref(v, 0, true), { dtype }, `${name} 1000 keepdim`);
      await expectTensor(fn(T(R.scalar(2.5))), ref(R.scalar(2.5)), { dtype }, `${name} 0-d`);
    });

    test('argmax/argmin ties go to the first index', async () => {
      const x = R.make([3, 4], [1, 3, 3, 2, 5, 5, 5, 5, 0, -1, 0, -1]);
      expectExact(await grilly.argmax(T(x), 1).data(), [1, 0, 0], 'argmax rows');
      expectExact(await grilly.argmin(T(x), 1).data(), [0, 0, 1], 'argmin rows');
      expectExact(await grilly.argmax(T(x), 0).data(), [1, 1, 1, 1], 'argmax cols');
      expectExact(await grilly.argmin(T(x), 0).data(), [2, 2, 2, 2], 'argmin cols');
      expectExact(await grilly.argmax(T(x)).data(), [4], 'argmax all');
      expectExact(await grilly.argmin(T(x)).data(), [9], 'argmin all');
      // ties far apart in a long row (different threads of a workgroup, later ones first in a tree)
      for (const [n, at] of [[1000, [700, 300, 999]], [5000, [4999, 257, 1]], [300000, [299999, 123457, 70000]]] as [number, number[]][]) {
        const d = randArray([n], n, -1, 1);
        for (const i of at) d.data[i] = 2;
        const first = Math.min(...at);
        expectExact(await grilly.argmax(T(d)).data(), [first], `argmax ties ${n}`);
        const neg = R.neg(d);
        expectExact(await grilly.argmin(T(neg)).data(), [first], `argmin ties ${n}`);
        expectExact(await grilly.argmax(T(d).reshape([1, n]), 1).data(), [first], `argmax ties rows ${n}`);
      }
      // column reduction (inner > 1) with ties
      const c = randArray([1000, 3], 5, -1, 1);
      for (const r of [900, 100, 600]) for (let j = 0; j < 3; j++) c.data[r * 3 + j] = 2;
      expectExact(await grilly.argmax(T(c), 0).data(), [100, 100, 100], 'argmax column ties');
      expectExact(await grilly.argmax(T(R.make([5], [1, 1, 1, 1, 1]))).data(), [0], 'all equal');
    });

    test('more rows than one grid dimension holds (> 65535 workgroups)', async () => {
      const x = randArray([70000, 3], 4646, -1, 1);
      await expectTensor(grilly.sum(T(x), 1), R.sum(x, 1), { atol: 1e-6 }, 'row sums (70000, 3)');
      await expectTensor(grilly.max(T(x), -1), R.max(x, -1), {}, 'row max (70000, 3)');
      await expectTensor(grilly.argmax(T(x), 1), R.argmax(x, 1), { dtype: 'int32' }, 'row argmax (70000, 3)');
      await expectTensor(grilly.softmax(T(x), 1), R.softmax(x, 1), { atol: 1e-6, rtol: 1e-5 }, 'row softmax (70000, 3)');
      const c = randArray([2, 100000, 3], 4747, 0, 1);
      await expectTensor(grilly.sum(T(c), 1), R.sum(c, 1), { atol: 1e-3, rtol: 2e-5 }, 'middle-axis sum (2, 100000, 3)');
    });

    test('long reductions (two-pass path)', async () => {
      const n = 300000;
      const x = randArray([n], 4242, 0, 1);
      const tol = { atol: 1e-3, rtol: 2e-5 };
      await expectTensor(grilly.sum(T(x)), R.sum(x), tol, 'sum 300000');
      await expectTensor(grilly.mean(T(x)), R.mean(x), { atol: 1e-6, rtol: 2e-5 }, 'mean 300000');
      await expectTensor(grilly.max(T(x)), R.max(x), {}, 'max 300000');
      await expectTensor(grilly.min(T(x)), R.min(x), {}, 'min 300000');
      await expectTensor(grilly.argmax(T(x)), R.argmax(x), { dtype: 'int32' }, 'argmax 300000');
      const rows = randArray([3, 100000], 4343, 0, 1);
      await expectTensor(grilly.sum(T(rows), 1), R.sum(rows, 1), tol, 'row sums (3, 100000)');
      await expectTensor(grilly.mean(T(rows), -1, true), R.mean(rows, -1, true), { atol: 1e-6, rtol: 2e-5 }, 'row means (3, 100000)');
      await expectTensor(grilly.max(T(rows), 1), R.max(rows, 1), {}, 'row max (3, 100000)');
      await expectTensor(grilly.min(T(rows), 1), R.min(rows, 1), {}, 'row min (3, 100000)');
      const cols = randArray([100000, 3], 4444, 0, 1);
      await expectTensor(grilly.sum(T(cols), 0), R.sum(cols, 0), tol, 'column sums (100000, 3)');
      await expectTensor(grilly.mean(T(cols), 0, true), R.mean(cols, 0, true), { atol: 1e-6, rtol: 2e-5 }, 'column means (100000, 3)');
      await expectTensor(grilly.max(T(cols), 0), R.max(cols, 0), {}, 'column max (100000, 3)');
      await expectTensor(grilly.argmin(T(cols), 0), R.argmin(cols, 0), { dtype: 'int32' }, 'column argmin (100000, 3)');
      // long columns reduce by workgroup (32 columns × 8 row lanes, R ≥ 65): ragged column blocks,
      // several outer slices, chunks whose partials are reduced again, int32, NaN in max/min
      const bias = randArray([4096, 10], 4646, -1, 1);
      await expectTensor(grilly.sum(T(bias), 0), R.sum(bias, 0), tol, 'column sums (4096, 10)');
      const mid = randArray([3, 5000, 70], 4747, 0, 1);
      await expectTensor(grilly.sum(T(mid), 1), R.sum(mid, 1), tol, 'middle-axis sums (3, 5000, 70)');
      await expectTensor(grilly.mean(T(mid), 1, true), R.mean(mid, 1, true), { atol: 1e-6, rtol: 2e-5 }, 'middle-axis means (3, 5000, 70)');
      await expectTensor(grilly.max(T(mid), 1), R.max(mid, 1), {}, 'middle-axis max (3, 5000, 70)');
      await expectTensor(grilly.min(T(mid), 1), R.min(mid, 1), {}, 'middle-axis min (3, 5000, 70)');
      const short = randArray([65, 33], 4848, -1, 1);
      await expectTensor(grilly.sum(T(short), 0), R.sum(short, 0), tol, 'column sums (65, 33)');
      const nan = randArray([300, 40], 4949, -1, 1);
      nan.data[17 * 40 + 5] = NaN;
      nan.data[299 * 40 + 39] = NaN;
      const withNan = (r: ReturnType<typeof R.max>) => ((r.data[5] = NaN), (r.data[39] = NaN), r); // PyTorch: NaN wins
      await expectTensor(grilly.max(T(nan), 0), withNan(R.max(nan, 0)), {}, 'column max with NaN (300, 40)');
      await expectTensor(grilly.min(T(nan), 0), withNan(R.min(nan, 0)), {}, 'column min with NaN (300, 40)');
      const ints = R.map((v) => Math.round(v * 1000), randArray([700, 33], 5050, -1, 1));
      await expectTensor(grilly.sum(TI(ints), 0), R.sum(ints, 0), { dtype: 'int32' }, 'int32 column sums (700, 33)');
      await expectTensor(grilly.max(TI(ints), 0), R.max(ints, 0), { dtype: 'int32' }, 'int32 column max (700, 33)');
      // all axes of a rank-3 tensor whose leading run is long
      const r3 = randArray([50, 40, 30], 4545, 0, 1);
      await expectTensor(grilly.sum(T(r3), [0, 1]), R.sum(r3, [0, 1]), tol, 'sum [0,1] of (50,40,30)');
      await expectTensor(grilly.sum(T(r3), [0, 2]), R.sum(r3, [0, 2]), tol, 'sum [0,2] of (50,40,30)');
    });
  });

  describe('shape ops', () => {
    test('reshape (with -1), view, flatten, squeeze, unsqueeze', async () => {
      const x = randArray([2, 3, 4], 1);
      await expectTensor(T(x).reshape([4, -1]), R.reshape(x, [4, 6]), {}, 'reshape [4,-1]');
      await expectTensor(grilly.reshape(T(x), [-1]), R.reshape(x, [24]), {}, 'reshape [-1]');
      await expectTensor(T(x).view([2, 12]), R.reshape(x, [2, 12]), {}, 'view');
      await expectTensor(grilly.reshape(T(x), [1, 2, -1, 3]), R.reshape(x, [1, 2, 4, 3]), {}, 'reshape [1,2,-1,3]');
      expect(() => grilly.reshape(T(x), [5, -1])).toThrow(grilly.ShapeError);
      const y = randArray([2, 3, 4, 5], 2);
      await expectTensor(grilly.flatten(T(y)), R.reshape(y, [120]), {}, 'flatten');
      await expectTensor(T(y).flatten(1), R.reshape(y, [2, 60]), {}, 'flatten(1)');
      await expectTensor(T(y).flatten(1, 2), R.reshape(y, [2, 12, 5]), {}, 'flatten(1,2)');
      await expectTensor(T(y).flatten(0, -2), R.reshape(y, [24, 5]), {}, 'flatten(0,-2)');
      const z = randArray([1, 3, 1, 4], 3);
      await expectTensor(grilly.squeeze(T(z)), R.reshape(z, [3, 4]), {}, 'squeeze()');
      await expectTensor(T(z).squeeze(0), R.reshape(z, [3, 1, 4]), {}, 'squeeze(0)');
      await expectTensor(T(z).squeeze(-2), R.reshape(z, [1, 3, 4]), {}, 'squeeze(-2)');
      await expectTensor(T(z).squeeze(1), z, {}, 'squeeze(1) of size 3 is a no-op');
      const w = randArray([3, 4], 4);
      await expectTensor(grilly.unsqueeze(T(w), 0), R.reshape(w, [1, 3, 4]), {}, 'unsqueeze(0)');
      await expectTensor(T(w).unsqueeze(1), R.reshape(w, [3, 1, 4]), {}, 'unsqueeze(1)');
      await expectTensor(T(w).unsqueeze(-1), R.reshape(w, [3, 4, 1]), {}, 'unsqueeze(-1)');
      await expectTensor(T(w).unsqueeze(2), R.reshape(w, [3, 4, 1]), {}, 'unsqueeze(2)');
    });

    test('transpose and permute', async () => {
      const x = randArray([2, 3, 4], 5);
      await expectTensor(T(x).transpose(), R.transpose(x), {}, 'transpose()');
      await expectTensor(grilly.transpose(T(x), 0, 2), R.transpose(x, 0, 2), {}, 'transpose(0,2)');
      await expectTensor(grilly.transpose(T(x), -3, 1), R.transpose(x, 0, 1), {}, 'transpose(-3,1)');
      const m = randArray([5, 7], 6);
      await expectTensor(T(m).transpose(), R.transpose(m), {}, 'transpose 2-D');
      for (const p of [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0], [-1, 0, 1]]) {
        await expectTensor(grilly.permute(T(x), p), R.permute(x, p), {}, `permute ${p}`);
      }
      const y = randArray([2, 3, 4, 5], 7);
      for (const p of [[3, 1, 2, 0], [1, 3, 0, 2], [0, 2, 3, 1]]) {
        await expectTensor(T(y).permute(p), R.permute(y, p), {}, `permute4 ${p}`);
      }
      const yi = randInts([2, 3, 4], 8, -(2 ** 31), 2 ** 31);
      await expectTensor(grilly.permute(TI(yi), [2, 0, 1]), R.permute(yi, [2, 0, 1]), { dtype: 'int32' }, 'permute int32');
      expect(() => grilly.permute(T(x), [0, 0, 1])).toThrow(grilly.ShapeError);
    });

    test('expand', async () => {
      const a = randArray([3, 1], 9);
      await expectTensor(grilly.expand(T(a), [3, 4]), R.expand(a, [3, 4]), {}, 'expand [3,1]->[3,4]');
      const b = randArray([4], 10);
      await expectTensor(T(b).expand([2, 3, 4]), R.expand(b, [2, 3, 4]), {}, 'expand [4]->[2,3,4]');
      const c = randArray([1, 3, 1], 11);
      await expectTensor(T(c).expand([2, -1, 5]), R.expand(c, [2, 3, 5]), {}, 'expand [1,3,1]->[2,-1,5]');
      const s = R.scalar(1.25);
      await expectTensor(T(s).expand([2, 2]), R.expand(s, [2, 2]), {}, 'expand 0-d');
      expect(() => T(a).expand([3, 4, 2])).toThrow(grilly.ShapeError);
    });

    test('slice (negative indices, steps) and narrow', async () => {
      const x = randArray([5, 6, 7], 12);
      const cases: [number, number | undefined, number | undefined, number | undefined][] = [
        [0, 1, 4, undefined], [1, -4, -1, undefined], [2, 0, undefined, 2], [2, 1, 7, 3], [-1, -5, undefined, 2],
        [0, -100, 100, undefined], [1, 2, 3, undefined], [0, 4, undefined, 5], [1, undefined, undefined, 4],
      ];
      for (const [axis, s, e, st] of cases) {
        await expectTensor(T(x).slice(axis, s, e, st), R.slice(x, axis, s, e, st), {}, `slice(${axis}, ${s}, ${e}, ${st})`);
      }
      await expectTensor(grilly.slice(T(x), 1, 4, 2), R.slice(x, 1, 4, 2), {}, 'empty slice');
      await expectTensor(grilly.narrow(T(x), 1, 2, 3), R.slice(x, 1, 2, 5), {}, 'narrow(1,2,3)');
      await expectTensor(T(x).narrow(-1, -3, 2), R.slice(x, 2, 4, 6), {}, 'narrow(-1,-3,2)');
      expect(() => grilly.narrow(T(x), 0, 3, 3)).toThrow(grilly.ShapeError);
    });

    test('cat, stack, split', async () => {
      for (const axis of [0, 1, 2, -1, -3]) {
        const shapes = [[2, 3, 4], [2, 3, 4], [2, 3, 4]].map((s, k) => {
          const a = axis < 0 ? axis + 3 : axis;
          const t = [...s];
          t[a] = k + 1;
          return t;
        });
        const xs = shapes.map((s, k) => randArray(s, 20 + k));
        await expectTensor(grilly.cat(xs.map((x) => T(x)), axis), R.cat(xs, axis), {}, `cat axis ${axis}`);
      }
      const xi = [randInts([2, 3], 30, -9, 9), randInts([1, 3], 31, -9, 9)];
      await expectTensor(grilly.cat(xi.map(TI)), R.cat(xi, 0), { dtype: 'int32' }, 'cat int32');
      const ys = [0, 1, 2].map((k) => randArray([2, 3], 40 + k));
      for (const axis of [0, 1, 2, -1, -2]) {
        await expectTensor(grilly.stack(ys.map((y) => T(y)), axis), R.stack(ys, axis), {}, `stack axis ${axis}`);
      }
      const z = randArray([7, 4], 50);
      const checkSplit = async (got: Tensor[], want: Ref[], label: string) => {
        expect(got.length, `${label}: pieces`).toBe(want.length);
        for (let i = 0; i < want.length; i++) await expectTensor(got[i]!, want[i]!, {}, `${label} piece ${i}`);
      };
      await checkSplit(grilly.split(T(z), 3), R.split(z, 3, 0), 'split(3)');
      await checkSplit(T(z).split([2, 5]), R.split(z, [2, 5], 0), 'split([2,5])');
      await checkSplit(T(z).split(2, 1), R.split(z, 2, 1), 'split(2, 1)');
      await checkSplit(T(z).split([1, 0, 3], -1), R.split(z, [1, 0, 3], 1), 'split([1,0,3], -1)');
      expect(() => T(z).split([2, 2])).toThrow(grilly.ShapeError);
    });
  });

  describe('matmul', () => {
    const mmTol = (K: number) => ({ atol: 3e-6 * K, rtol: 1e-5 });
    /** The device's workgroup memory (the cpu backend has no limit). */
    const wgLimit = () => grilly.backendInfo().limits.maxComputeWorkgroupStorageSize ?? Infinity;

    test.each([
      [3, 5, 7], [33, 65, 17], [130, 70, 260], [32, 64, 16], [8, 12, 20], [1, 1, 1], [17, 4, 9], [4, 9, 4], [129, 3, 2],
    ])('2-D %i×%i @ %i-col', async (M, K, N) => {
      const a = randArray([M, K], M * 1000 + K), b = randArray([K, N], K * 1000 + N);
      await expectTensor(grilly.matmul(T(a), T(b)), R.matmul(a, b), mmTol(K), `matmul ${M}x${K}@${K}x${N}`);
    });

    test('large tiles: enough 128-tiles to pick the 8×8-per-thread variant', async () => {
      const a = randArray([256, 9, 7], 1), b = randArray([256, 7, 11], 2);
      await expectTensor(grilly.matmul(T(a), T(b)), R.matmul(a, b), mmTol(7), 'batched 256x(9x7@7x11)');
      const c = randArray([64, 130, 20], 3), d = randArray([20, 132], 4);
      await expectTensor(T(c).matmul(T(d)), R.matmul(c, d), mmTol(20), '[64,130,20]@[20,132]');
    });

    test.each([
      ['Aᵀ·B (weight gradient)', true, false, 1, 10, 70, 2048],
      ['A·Bᵀ (a narrow Linear)', false, true, 1, 24, 10, 3000],
      ['A·B batched, K not a multiple of the chunk', false, false, 3, 9, 13, 1234],
    ] as const)('split-K: %s equals the reference and the unsplit path', async (_l, transA, transB, batch, M, N, K) => {
      const p = { M, N, K, batch, strideA: M * K, strideB: K * N, transA, transB };
      expect(gemmSplitK(p).S).toBeGreaterThan(1);
      const a = randArray(transA ? [batch, K, M] : [batch, M, K], 90 + M), b = randArray(transB ? [batch, N, K] : [batch, K, N], 91 + N);
      const ref = R.matmul(transA ? R.transpose(a) : a, transB ? R.transpose(b) : b);
      await expectTensor(gemm('test', T(a), T(b), p, [batch, M, N]), ref, mmTol(K), 'split-K');
      const saved = gemmTuning.splitTiles;
      gemmTuning.splitTiles = 0;
      try {
        expect(gemmSplitK(p).S).toBe(1);
        await expectTensor(gemm('test', T(a), T(b), p, [batch, M, N]), ref, mmTol(K), 'unsplit');
      } finally {
        gemmTuning.splitTiles = saved;
      }
    });

    test.each([
      [4, 4, 8, false, false, false], [8, 8, 8, false, false, false], [8, 8, 8, true, true, true],
      [16, 8, 8, false, true, false], [8, 4, 16, false, false, true], [16, 8, 16, false, false, false],
    ] as const)('GEMM kernel variant %i×%i per thread, BK=%i, unrolled=%s, double-buffered=%s, 8×4 subgroups=%s: every layout, edges, vec4/scalar loads', async (rm, rn, bk, unroll, db, wl) => {
      // a forced variant skips the library's workgroup-memory check: skip what this device cannot hold
      if ((16 * (rm + rn)) * bk * 4 * (db ? 2 : 1) > wgLimit()) return;
      const saved = { ...gemmTuning };
      Object.assign(gemmTuning, { rm, rn, bk, unroll, db, wl });
      try {
        // K spans several staged slices with a ragged end; M, N cross tile edges; odd sizes force scalar loads
        for (const [M, N, K] of [[260, 136, 72], [67, 33, 45]] as const) {
          for (const [transA, transB] of [[false, false], [false, true], [true, false], [true, true]] as const) {
            const p = { M, N, K, batch: 1, strideA: 0, strideB: 0, transA, transB };
            const a = randArray(transA ? [K, M] : [M, K], M + K), b = randArray(transB ? [N, K] : [K, N], N + K);
            const ref = R.matmul(transA ? R.transpose(a) : a, transB ? R.transpose(b) : b);
            await expectTensor(gemm('test', T(a), T(b), p, [M, N]), ref, mmTol(K), `${M}x${N}x${K} ${transA ? 'T' : 'N'}${transB ? 'T' : 'N'}`);
          }
        }
      } finally {
        Object.assign(gemmTuning, saved);
      }
    });

    test('the wide variant large products get (16×8 per thread, BK=16, k-loop written out): the layouts of a Linear forward and weight gradient', async () => {
      // the heuristic: large products on a device with 24 KiB of workgroup memory, not small ones
      const big = { M: 8000, N: 4096, K: 4096, batch: 1, strideA: 0, strideB: 0, transA: false, transB: true };
      expect(gemmKernel.key({ ...big, wgBytes: 32768 })).toContain('|16x8|16|100|');
      expect(gemmKernel.key({ ...big, wgBytes: 16384 })).toContain('|8x8|8|');
      expect(gemmKernel.key({ ...big, M: 512, wgBytes: 32768 })).not.toContain('16x8');
      if (24 * 1024 > wgLimit()) return; // the library does not pick it there either (checked above)
      // lavapipe takes ~13 s to compile each of these: two layouts; the loads are the variants' above
      const saved = { ...gemmTuning };
      Object.assign(gemmTuning, { rm: 16, rn: 8, bk: 16, unroll: true, db: false, wl: false });
      try {
        const [M, N, K] = [260, 136, 40];
        for (const [transA, transB] of [[false, true], [true, false]] as const) {
          const p = { M, N, K, batch: 1, strideA: 0, strideB: 0, transA, transB };
          const a = randArray(transA ? [K, M] : [M, K], M + K), b = randArray(transB ? [N, K] : [K, N], N + K);
          const ref = R.matmul(transA ? R.transpose(a) : a, transB ? R.transpose(b) : b);
          await expectTensor(gemm('test', T(a), T(b), p, [M, N]), ref, mmTol(K), `${transA ? 'T' : 'N'}${transB ? 'T' : 'N'}`);
        }
      } finally {
        Object.assign(gemmTuning, saved);
      }
    }, 120_000);

    test('linear with the bias fused into the GEMM (vec4 and scalar stores) equals x·Wᵀ + b', async () => {
      // the last one is narrow with a long K: split-K, then the bias after the sum
      for (const [rows, inF, outF] of [[37, 20, 8], [130, 33, 7], [5, 4, 132], [40, 3000, 10]] as const) {
        const x = randArray([rows, inF], rows), w = randArray([outF, inF], inF), b = randArray([outF], outF);
        const ref = R.add(R.matmul(x, R.transpose(w, 0, 1)), b);
        await expectTensor(linear(T(x), T(w), T(b)), ref, mmTol(inF), `linear ${rows}x${inF}→${outF}`);
      }
    });

    test('batch larger than one grid dimension (70000 small products)', async () => {
      const a = randArray([70000, 2, 3], 5, -1, 1), b = randArray([3, 2], 6, -1, 1);
      await expectTensor(grilly.matmul(T(a), T(b)), R.matmul(a, b), mmTol(3), '[70000,2,3]@[3,2]');
    });

    test('batched with broadcast batch dims', async () => {
      const cases: [number[], number[]][] = [
        [[2, 3, 4, 5], [5, 6]],
        [[4, 1, 3, 5], [1, 2, 5, 6]],
        [[3, 4, 5], [3, 5, 2]],
        [[5, 6], [2, 6, 3]],
        [[2, 1, 4, 8], [3, 8, 4]],
      ];
      let seed = 60;
      for (const [sa, sb] of cases) {
        const a = randArray(sa, seed++), b = randArray(sb, seed++);
        await expectTensor(grilly.matmul(T(a), T(b)), R.matmul(a, b), mmTol(sa[sa.length - 1]!), `${JSON.stringify(sa)}@${JSON.stringify(sb)}`);
      }
    });

    test('1-D operands (vec@mat, mat@vec, vec@vec, vec@batched, batched@vec)', async () => {
      const cases: [number[], number[]][] = [[[5], [5, 7]], [[7, 5], [5]], [[5], [5]], [[8], [8]], [[3], [2, 3, 4]], [[2, 4, 3], [3]], [[64], [64, 3]]];
      let seed = 70;
      for (const [sa, sb] of cases) {
        const a = randArray(sa, seed++), b = randArray(sb, seed++);
        const K = sa[sa.length - 1]!;
        await expectTensor(grilly.matmul(T(a), T(b)), R.matmul(a, b), mmTol(K), `${JSON.stringify(sa)}@${JSON.stringify(sb)}`);
      }
      expect(() => grilly.matmul(T(randArray([3, 4], 1)), T(randArray([5, 2], 2)))).toThrow(grilly.ShapeError);
    });
  });

  describe('softmax and logSoftmax', () => {
    test('over each axis', async () => {
      const x = randArray([3, 4, 5], 80, -3, 3);
      for (const axis of [0, 1, 2, -1, -2, -3]) {
        await expectTensor(grilly.softmax(T(x), axis), R.softmax(x, axis), { atol: 1e-6, rtol: 1e-5 }, `softmax axis ${axis}`);
        await expectTensor(grilly.logSoftmax(T(x), axis), R.logSoftmax(x, axis), { atol: 1e-5, rtol: 1e-5 }, `logSoftmax axis ${axis}`);
      }
      await expectTensor(T(x).softmax(), R.softmax(x, -1), { atol: 1e-6, rtol: 1e-5 }, '.softmax()');
      await expectTensor(T(x).logSoftmax(), R.logSoftmax(x, -1), { atol: 1e-5, rtol: 1e-5 }, '.logSoftmax()');
      const v = randArray([1000], 81, -3, 3);
      await expectTensor(grilly.softmax(T(v)), R.softmax(v), { atol: 1e-7, rtol: 1e-5 }, 'softmax 1000');
    });

    test('large logits (±100) give no NaN', async () => {
      const x = randArray([4, 6], 82, -100, 100);
      // a row of equal huge values, a row mixing +100 and -100
      for (let j = 0; j < 6; j++) x.data[j] = 100;
      for (let j = 0; j < 6; j++) x.data[6 + j] = j % 2 ? 100 : -100;
      for (const axis of [0, 1]) {
        const s = await grilly.softmax(T(x), axis).data();
        const l = await grilly.logSoftmax(T(x), axis).data();
        expect([...s].some(Number.isNaN), 'softmax NaN').toBe(false);
        expect([...l].some(Number.isNaN), 'logSoftmax NaN').toBe(false);
        expectClose(s, R.softmax(x, axis).data, { atol: 1e-6, rtol: 1e-5 }, `softmax large axis ${axis}`);
        expectClose(l, R.logSoftmax(x, axis).data, { atol: 2e-5, rtol: 1e-5 }, `logSoftmax large axis ${axis}`);
      }
      const neg = R.make([2, 3], [-100, -100, -100, -1e4, 0, 1e4]);
      expectClose(await grilly.softmax(T(neg)).data(), R.softmax(neg).data, { atol: 1e-6 }, 'softmax extreme rows');
    });
  });

  describe('gather and oneHot', () => {
    test('gather along each axis, index smaller than the input in other dims', async () => {
      const x = randArray([4, 5, 6], 90);
      const cases: [number, number[]][] = [[0, [3, 4, 5]], [1, [3, 7, 5]], [2, [2, 3, 9]], [-1, [4, 5, 2]], [-3, [1, 1, 1]]];
      let seed = 91;
      for (const [axis, ishape] of cases) {
        const size = x.shape[axis < 0 ? axis + 3 : axis]!;
        const idx = randInts(ishape, seed++, 0, size);
        await expectTensor(grilly.gather(T(x), axis, TI(idx)), R.gather(x, axis, idx), {}, `gather axis ${axis} index ${ishape}`);
      }
      const m = randArray([3, 5], 99);
      const idx = R.make([3, 2], [4, 0, 1, 1, 2, 3]);
      await expectTensor(T(m).gather(1, TI(idx)), R.gather(m, 1, idx), {}, '.gather rows');
      const xi = randInts([3, 4], 98, -(2 ** 31), 2 ** 31);
      await expectTensor(grilly.gather(TI(xi), 0, TI(R.make([2, 4], [2, 0, 1, 2, 0, 0, 2, 1]))), R.gather(xi, 0, R.make([2, 4], [2, 0, 1, 2, 0, 0, 2, 1])), { dtype: 'int32' }, 'gather int32');
      expect(() => grilly.gather(T(m), 1, T(idx))).toThrow(grilly.DTypeError);
      expect(() => grilly.gather(T(m), 1, TI(R.make([4, 1], [0, 0, 0, 0])))).toThrow(grilly.ShapeError);
    });

    test('oneHot', async () => {
      const idx = randInts([2, 3], 100, 0, 5);
      await expectTensor(grilly.oneHot(TI(idx), 5), R.oneHot(idx, 5), {}, 'oneHot [2,3] x5');
      const v = R.make([7], [0, 9, 3, 3, 1, 8, 0]);
      await expectTensor(TI(v).oneHot(10), R.oneHot(v, 10), {}, 'oneHot [7] x10');
      await expectTensor(TI(R.scalar(2)).oneHot(3), R.make([3], [0, 0, 1]), {}, 'oneHot 0-d');
    });
  });

  describe('batching', () => {
    test('a long chain of ops and many uploads before one read', async () => {
      // more dispatches than one submitted batch holds, and more staged upload bytes than one arena
      let t = T(R.make([5], [0, 1, 2, 3, 4]));
      for (let i = 0; i < 1500; i++) t = t.add(1);
      expectClose(await t.data(), [1500, 1501, 1502, 1503, 1504], { atol: 0, rtol: 0 }, 'add chain');
      const parts = [0, 1, 2, 3, 4, 5].map((k) => randArray([230000], 700 + k, -1, 1));
      let acc = T(parts[0]!);
      for (let k = 1; k < parts.length; k++) acc = acc.add(T(parts[k]!).mul(k + 1));
      let want: Ref = parts[0]!;
      for (let k = 1; k < parts.length; k++) want = R.add(want, R.mul(parts[k]!, k + 1));
      await expectTensor(acc, want, { atol: 1e-5, rtol: 1e-6 }, 'uploads');
    });
  });

  describe('random', () => {
    test('same seed gives the same values; new calls and seeds differ', async () => {
      for (const make of [() => grilly.rand([1001]), () => grilly.randn([1001]), () => grilly.randint(-50, 50, [1001])]) {
        grilly.manualSeed(42);
        const a = await make().data();
        const a2 = await make().data();
        grilly.manualSeed(42);
        const b = await make().data();
        grilly.manualSeed(43);
        const c = await make().data();
        expectExact(b, a, 'same seed');
        expect([...a2].filter((v, i) => v !== a[i]!).length, 'successive calls differ').toBeGreaterThan(900);
        expect([...c].filter((v, i) => v !== a[i]!).length, 'other seed differs').toBeGreaterThan(900);
      }
      grilly.manualSeed(1);
      const r = grilly.rand([2, 3]);
      expect([...r.shape]).toEqual([2, 3]);
      expect(r.dtype).toBe('float32');
      const ri = grilly.randint(0, 3, [4, 1]);
      expect([...ri.shape]).toEqual([4, 1]);
      expect(ri.dtype).toBe('int32');
    });

    test('statistics of 100k samples', async () => {
      grilly.manualSeed(2024);
      const n = 100000;
      const stats = (v: ArrayLike<number>) => {
        let m = 0;
        for (let i = 0; i < v.length; i++) m += v[i]!;
        m /= v.length;
        let s = 0;
        for (let i = 0; i < v.length; i++) s += (v[i]! - m) ** 2;
        return [m, s / (v.length - 1)] as const;
      };
      const u = await grilly.rand([n]).data();
      expect(Math.min(...u)).toBeGreaterThanOrEqual(0);
      expect(Math.max(...u)).toBeLessThan(1);
      const [um, uv] = stats(u);
      expect(Math.abs(um - 0.5)).toBeLessThan(0.01);
      expect(Math.abs(uv - 1 / 12)).toBeLessThan(0.004);
      const z = await grilly.randn([n]).data();
      expect([...z].every(Number.isFinite)).toBe(true);
      const [zm, zv] = stats(z);
      expect(Math.abs(zm)).toBeLessThan(0.02);
      expect(Math.abs(zv - 1)).toBeLessThan(0.03);
      let tail = 0;
      for (const v of z) if (Math.abs(v) > 1.96) tail++;
      expect(Math.abs(tail / n - 0.05)).toBeLessThan(0.005);
      const k = await grilly.randint(-5, 7, [n]).data();
      const counts = new Map<number, number>();
      for (const v of k) counts.set(v, (counts.get(v) ?? 0) + 1);
      expect([...counts.keys()].sort((p, q) => p - q)).toEqual([-5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6]);
      for (const c of counts.values()) expect(Math.abs(c / n - 1 / 12)).toBeLessThan(0.006);
      const one = await grilly.randint(10, 11, [100]).data();
      expect([...one].every((v) => v === 10)).toBe(true);
      const wide = await grilly.randint(-(2 ** 31), 2 ** 31 - 1, [n]).data();
      let negs = 0;
      for (const v of wide) {
        if (v === 2 ** 31 - 1) throw new Error('randint returned high');
        if (v < 0) negs++;
      }
      expect(Math.abs(negs / n - 0.5)).toBeLessThan(0.01);
      const pos = await grilly.randint(2 ** 31 - 10, 2 ** 31 - 1, [1000]).data();
      expect([...pos].every((v) => v >= 2 ** 31 - 10 && v < 2 ** 31 - 1)).toBe(true);
    });
  });
});

describe.runIf(BACKENDS.includes('cpu') && BACKENDS.includes('webgpu'))('random across backends', () => {
  test('rand and randint are bit-identical on cpu and webgpu, randn within 1e-5', async () => {
    const draw = async (kind: 'cpu' | 'webgpu') => {
      await initBackend(kind);
      grilly.manualSeed(987654321);
      const u = grilly.rand([4099]);
      const z = grilly.randn([4099]);
      const k = grilly.randint(-1000, 1000, [4099]);
      const w = grilly.randint(-(2 ** 31), 2 ** 31 - 1, [1024]);
      return { u, z, k, w };
    };
    const c = await draw('cpu');
    const g = await draw('webgpu');
    const bitsOf = async (t: Tensor) => new Uint32Array((await t.data()).buffer.slice(0));
    expectExact(await bitsOf(g.u), await bitsOf(c.u), 'rand bits');
    expectExact(await g.k.data(), await c.k.data(), 'randint');
    expectExact(await g.w.data(), await c.w.data(), 'randint full range');
    expectClose(await g.z.data(), await c.z.data(), { atol: 1e-5, rtol: 0 }, 'randn');
    // the cpu tensors stay usable while webgpu is active, and move across
    const cu = await c.u.data();
    expectClose(await c.u.add(1).data(), Array.from(cu, (v) => Math.fround(v + 1)), { atol: 0, rtol: 0 }, 'cpu tensor op after switching');
    const moved = await c.u.to('webgpu');
    expectExact(await bitsOf(moved), await bitsOf(g.u), 'moved to webgpu');
    await initBackend('cpu');
    expectExact(await bitsOf(g.u), await bitsOf(c.u), 'webgpu tensor read while cpu is active');
  });
});
