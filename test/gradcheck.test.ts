// Gradients of every differentiable op against float64 central differences of the reference.
import { describe, expect, test } from 'vitest';
import * as grilly from '../src/index.js';
import type { Tensor } from '../src/index.js';
import * as R from './ref.js';
import type { Ref } from './ref.js';
import { BACKENDS, T, TI, expectTensor, gradcheck, randArray, randAway, randDistinct, randInts, useBackend } from './helpers.js';

/** y = x + offsets with |offset| ≥ gap, so maximum/minimum have no ties near the data. */
function apart(x: Ref, seed: number, gap = 0.1): Ref {
  const off = randAway(x.shape, seed, -1, 1, [0], gap);
  return R.map((a, b) => Math.fround(a + b), x, off);
}

describe.each(BACKENDS)('gradcheck [%s]', (backend) => {
  useBackend(backend);

  describe('binary elementwise', () => {
    test('add (same shape, broadcast, scalars)', async () => {
      await gradcheck((a, b) => grilly.add(a!, b!), R.add, [randArray([3, 4], 1), randArray([3, 4], 2)], { label: 'add' });
      await gradcheck((a, b) => a!.add(b!), R.add, [randArray([3, 1], 3), randArray([1, 4], 4)], { label: 'add [3,1]+[1,4]' });
      await gradcheck((a, b) => grilly.add(a!, b!), R.add, [randArray([4], 5), randArray([2, 3, 4], 6)], { label: 'add [4]+[2,3,4]' });
      await gradcheck((a, b) => grilly.add(a!, b!), R.add, [randArray([2, 3], 5), randArray([], 6)], { label: 'add 0-d' });
      await gradcheck((a) => grilly.add(a!, 2), (a) => R.add(a!, 2), [randArray([7], 7)], { label: 'x+2' });
      await gradcheck((a) => grilly.add(-1.5, a!), (a) => R.add(-1.5, a!), [randArray([8], 8)], { label: '-1.5+x' });
    });

    test('sub', async () => {
      await gradcheck((a, b) => grilly.sub(a!, b!), R.sub, [randArray([3, 4], 11), randArray([3, 4], 12)], { label: 'sub' });
      await gradcheck((a, b) => a!.sub(b!), R.sub, [randArray([3, 1], 13), randArray([1, 4], 14)], { label: 'sub [3,1]-[1,4]' });
      await gradcheck((a, b) => grilly.sub(a!, b!), R.sub, [randArray([2, 3, 4], 15), randArray([4], 16)], { label: 'sub [2,3,4]-[4]' });
      await gradcheck((a) => grilly.sub(2, a!), (a) => R.sub(2, a!), [randArray([7], 17)], { label: '2-x' });
      await gradcheck((a) => grilly.sub(a!, 0.5), (a) => R.sub(a!, 0.5), [randArray([7], 18)], { label: 'x-0.5' });
      // only the second operand requires grad
      await gradcheck((a, b) => grilly.sub(a!, b!), R.sub, [randArray([3, 4], 19), randArray([4], 20)], { label: 'sub, b only', requiresGrad: [false, true] });
    });

    test('mul', async () => {
      await gradcheck((a, b) => grilly.mul(a!, b!), R.mul, [randArray([3, 4], 21), randArray([3, 4], 22)], { label: 'mul' });
      await gradcheck((a, b) => a!.mul(b!), R.mul, [randArray([2, 3, 4], 23), randArray([4], 24)], { label: 'mul [2,3,4]*[4]' });
      await gradcheck((a, b) => grilly.mul(a!, b!), R.mul, [randArray([5, 1, 3], 25), randArray([1, 6, 1], 26)], { label: 'mul [5,1,3]*[1,6,1]' });
      await gradcheck((a) => grilly.mul(a!, 2.5), (a) => R.mul(a!, 2.5), [randArray([7], 27)], { label: 'x*2.5' });
      await gradcheck((a) => grilly.mul(-3, a!), (a) => R.mul(-3, a!), [randArray([8], 28)], { label: '-3*x' });
      await gradcheck((a, b) => grilly.mul(a!, b!), R.mul, [randArray([3, 4], 29), randArray([3, 1], 30)], { label: 'mul, a only', requiresGrad: [true, false] });
    });

    test('div', async () => {
      const den = (shape: number[], seed: number) => randAway(shape, seed, -2, 2, [0], 0.5);
      await gradcheck((a, b) => grilly.div(a!, b!), R.div, [randArray([3, 4], 31), den([3, 4], 32)], { label: 'div' });
      await gradcheck((a, b) => a!.div(b!), R.div, [randArray([3, 1], 33), den([1, 4], 34)], { label: 'div [3,1]/[1,4]' });
      await gradcheck((a, b) => grilly.div(a!, b!), R.div, [randArray([2, 3, 4], 35), den([4], 36)], { label: 'div [2,3,4]/[4]' });
      await gradcheck((a) => grilly.div(2, a!), (a) => R.div(2, a!), [den([7], 37)], { label: '2/x' });
      await gradcheck((a) => grilly.div(a!, 3), (a) => R.div(a!, 3), [randArray([7], 38)], { label: 'x/3' });
    });

    test('pow (tensor and scalar exponents)', async () => {
      const pos = (shape: number[], seed: number) => randArray(shape, seed, 0.5, 2.5);
      await gradcheck((a, b) => grilly.pow(a!, b!), R.pow, [pos([3, 4], 41), randArray([3, 4], 42, -2, 2)], { label: 'pow tensor^tensor' });
      await gradcheck((a, b) => a!.pow(b!), R.pow, [pos([3, 1], 43), randArray([1, 4], 44, -2, 2)], { label: 'pow [3,1]^[1,4]' });
      await gradcheck((a) => grilly.pow(a!, 2.5), (a) => R.pow(a!, 2.5), [pos([7], 45)], { label: 'x^2.5' });
      await gradcheck((a) => grilly.pow(a!, -1.5), (a) => R.pow(a!, -1.5), [pos([8], 46)], { label: 'x^-1.5' });
      // integer exponents on negative bases
      await gradcheck((a) => grilly.pow(a!, 3), (a) => R.pow(a!, 3), [randAway([7], 47, -2, 2, [0], 0.1)], { label: 'x^3 signed' });
      await gradcheck((a) => grilly.pow(a!, 2), (a) => R.pow(a!, 2), [randAway([8], 48, -2, 2, [0], 0.1)], { label: 'x^2 signed' });
      await gradcheck((a) => grilly.pow(a!, -2), (a) => R.pow(a!, -2), [randAway([5], 49, -2, 2, [0], 0.5)], { label: 'x^-2 signed' });
      // scalar base, tensor exponent
      await gradcheck((b) => grilly.pow(2, b!), (b) => R.pow(2, b!), [randArray([7], 50, -2, 2)], { label: '2^x' });
      await gradcheck((b) => grilly.pow(0.5, b!), (b) => R.pow(0.5, b!), [randArray([8], 51, -2, 2)], { label: '0.5^x' });
      // exponent 0: d/dx x^0 = 0 everywhere, x = 0 included (PyTorch), not 0·0^−1 = NaN
      const x0 = grilly.tensor([0, 1, -2], undefined, { requiresGrad: true });
      x0.pow(0).sum().backward();
      expect(Array.from(await x0.grad!.data())).toEqual([0, 0, 0]);
      const x1 = grilly.tensor([0, 0, 3], undefined, { requiresGrad: true });
      x1.pow(grilly.tensor([0, 2, 0])).sum().backward();
      expect(Array.from(await x1.grad!.data())).toEqual([0, 0, 0]);
    });

    test('maximum and minimum', async () => {
      const x = randArray([3, 4], 61, -2, 2);
      const y = apart(x, 62);
      await gradcheck((a, b) => grilly.maximum(a!, b!), R.maximum, [x, y], { label: 'maximum' });
      await gradcheck((a, b) => grilly.minimum(a!, b!), R.minimum, [x, y], { label: 'minimum' });
      const c = randDistinct([3, 1], 63, -2, 2);
      const d = randAway([1, 4], 64, -2, 2, [...c.data], 0.1);
      await gradcheck((a, b) => a!.maximum(b!), R.maximum, [c, d], { label: 'maximum [3,1],[1,4]' });
      await gradcheck((a, b) => a!.minimum(b!), R.minimum, [c, d], { label: 'minimum [3,1],[1,4]' });
      await gradcheck((a) => grilly.maximum(a!, 0.25), (a) => R.maximum(a!, 0.25), [randAway([7], 65, -2, 2, [0.25], 0.1)], { label: 'maximum(x, 0.25)' });
      await gradcheck((a) => grilly.minimum(0.25, a!), (a) => R.minimum(0.25, a!), [randAway([8], 66, -2, 2, [0.25], 0.1)], { label: 'minimum(0.25, x)' });
    });

    test('where (grads to both branches)', async () => {
      const c = randInts([3, 4], 71, 0, 2);
      await gradcheck((a, b) => grilly.where(TI(c), a!, b!), (a, b) => R.where(c, a!, b!), [randArray([3, 4], 72), randArray([3, 4], 73)], { label: 'where' });
      const cb = randInts([3, 1], 74, 0, 2);
      cb.data[0] = 1;
      cb.data[1] = 0;
      const cbT = () => grilly.tensor(Float32Array.from(cb.data), cb.shape);
      await gradcheck((a, b) => grilly.where(cbT(), a!, b!), (a, b) => R.where(cb, a!, b!), [randArray([1, 4], 75), randArray([3, 4], 76)], { label: 'where broadcast' });
      await gradcheck((a) => grilly.where(TI(c), a!, 0.5), (a) => R.where(c, a!, 0.5), [randArray([3, 4], 77)], { label: 'where(c, x, 0.5)' });
      await gradcheck((b) => grilly.where(TI(c), -1, b!), (b) => R.where(c, -1, b!), [randArray([4], 78)], { label: 'where(c, -1, y[4])' });
    });
  });

  describe('unary elementwise', () => {
    const cases: [string, (x: Tensor) => Tensor, (x: Ref) => Ref, (shape: number[], seed: number) => Ref][] = [
      ['neg', grilly.neg, R.neg, (s, k) => randArray(s, k)],
      ['exp', grilly.exp, R.exp, (s, k) => randArray(s, k, -3, 3)],
      ['log', grilly.log, R.log, (s, k) => randArray(s, k, 0.2, 5)],
      ['sqrt', grilly.sqrt, R.sqrt, (s, k) => randArray(s, k, 0.2, 5)],
      ['abs', grilly.abs, R.abs, (s, k) => randAway(s, k, -2, 2, [0], 0.05)],
      ['relu', grilly.relu, R.relu, (s, k) => randAway(s, k, -2, 2, [0], 0.05)],
      ['sigmoid', grilly.sigmoid, R.sigmoid, (s, k) => randArray(s, k, -6, 6)],
      ['tanh', grilly.tanh, R.tanh, (s, k) => randArray(s, k, -3, 3)],
    ];
    test.each(cases.map((c) => [c[0], c] as const))('%s', async (name, [, fn, ref, data]) => {
      await gradcheck((x) => fn(x!), (x) => ref(x!), [data([7], 81)], { label: `${name} [7]` });
      await gradcheck((x) => fn(x!), (x) => ref(x!), [data([2, 4], 82)], { label: `${name} [2,4]` });
    });

    test('sign has a zero gradient', async () => {
      await gradcheck((x) => grilly.sign(x!), R.sign, [randAway([7], 83, -2, 2, [0], 0.05)], { label: 'sign' });
    });

    test('clamp (number bounds, one bound, tensor bounds)', async () => {
      const x = randAway([3, 4], 91, -2, 2, [-0.5, 0.75], 0.05);
      await gradcheck((a) => grilly.clamp(a!, -0.5, 0.75), (a) => R.clamp(a!, -0.5, 0.75), [x], { label: 'clamp(-0.5, 0.75)' });
      await gradcheck((a) => grilly.clamp(a!, -0.5), (a) => R.clamp(a!, -0.5, null), [x], { label: 'clamp(-0.5)' });
      await gradcheck((a) => a!.clamp(null, 0.75), (a) => R.clamp(a!, null, 0.75), [x], { label: 'clamp(null, 0.75)' });
      const lo = randArray([3, 1], 92, -1.5, -0.5), hi = randArray([1, 4], 93, 0.5, 1.5);
      const xb = randAway([3, 4], 94, -2, 2, [...lo.data, ...hi.data], 0.05);
      await gradcheck((a, l, h) => grilly.clamp(a!, l!, h!), (a, l, h) => R.clamp(a!, l!, h!), [xb, lo, hi], { label: 'clamp tensor bounds' });
      await gradcheck((a, l) => grilly.clamp(a!, l!, 1.0), (a, l) => R.clamp(a!, l!, 1.0), [randAway([3, 4], 95, -2, 2, [...lo.data, 1], 0.05), lo], { label: 'clamp tensor lo' });
      await gradcheck((a, l) => grilly.clamp(a!, l!), (a, l) => R.clamp(a!, l!, null), [xb, lo], { label: 'clamp tensor lo only' });
      await gradcheck((a, h) => grilly.clamp(a!, null, h!), (a, h) => R.clamp(a!, null, h!), [xb, hi], { label: 'clamp tensor hi only' });
    });
  });

  describe('reductions', () => {
    const x = randArray([3, 4, 5], 101);
    test.each(['sum', 'mean'] as const)('%s', async (name) => {
      const fn = grilly[name];
      const ref = R[name];
      for (const [axes, keep] of [[undefined, false], [undefined, true], [1, false], [-1, true], [[0, 2], false], [[0, 1], true]] as [number | number[] | undefined, boolean][]) {
        await gradcheck((a) => fn(a!, axes, keep), (a) => ref(a!, axes, keep), [x], { label: `${name}(${JSON.stringify(axes)}, ${keep})` });
      }
    });
    test.each(['max', 'min'] as const)('%s', async (name) => {
      const fn = grilly[name];
      const ref = R[name];
      const d = randDistinct([3, 4, 5], 102, -2, 2);
      for (const [axis, keep] of [[undefined, false], [undefined, true], [0, false], [1, true], [-1, false]] as [number | undefined, boolean][]) {
        await gradcheck((a) => fn(a!, axis, keep), (a) => ref(a!, axis, keep), [d], { label: `${name}(${axis}, ${keep})` });
      }
    });
  });

  describe('shape ops', () => {
    const x = randArray([2, 3, 4], 111);
    test('reshape, flatten, squeeze, unsqueeze, clone', async () => {
      await gradcheck((a) => a!.reshape([4, -1]), (a) => R.reshape(a!, [4, 6]), [x], { label: 'reshape' });
      await gradcheck((a) => grilly.flatten(a!, 1), (a) => R.reshape(a!, [2, 12]), [x], { label: 'flatten(1)' });
      const z = randArray([1, 3, 1, 4], 112);
      await gradcheck((a) => grilly.squeeze(a!), (a) => R.reshape(a!, [3, 4]), [z], { label: 'squeeze()' });
      await gradcheck((a) => a!.squeeze(2), (a) => R.reshape(a!, [1, 3, 4]), [z], { label: 'squeeze(2)' });
      await gradcheck((a) => grilly.unsqueeze(a!, -1), (a) => R.reshape(a!, [2, 3, 4, 1]), [x], { label: 'unsqueeze(-1)' });
      await gradcheck((a) => a!.clone(), (a) => R.clone(a!), [x], { label: 'clone' });
      // a reshaped tensor used in a further op
      await gradcheck((a) => a!.reshape([6, 4]).mul(a!.reshape([6, 4])), (a) => R.mul(R.reshape(a!, [6, 4]), R.reshape(a!, [6, 4])), [x], { label: 'reshape twice' });
    });

    test('transpose, permute, expand', async () => {
      await gradcheck((a) => a!.transpose(), (a) => R.transpose(a!), [x], { label: 'transpose()' });
      await gradcheck((a) => grilly.transpose(a!, 0, 2), (a) => R.transpose(a!, 0, 2), [x], { label: 'transpose(0,2)' });
      for (const p of [[1, 2, 0], [2, 0, 1], [0, 2, 1]]) {
        await gradcheck((a) => grilly.permute(a!, p), (a) => R.permute(a!, p), [x], { label: `permute ${p}` });
      }
      await gradcheck((a) => grilly.expand(a!, [2, 3, 4]), (a) => R.expand(a!, [2, 3, 4]), [randArray([3, 1], 113)], { label: 'expand [3,1]->[2,3,4]' });
      await gradcheck((a) => a!.expand([3, -1, 5]), (a) => R.expand(a!, [3, 4, 5]), [randArray([1, 4, 1], 114)], { label: 'expand [1,4,1]->[3,-1,5]' });
    });

    test('slice (with step) and narrow', async () => {
      const y = randArray([5, 7], 115);
      await gradcheck((a) => grilly.slice(a!, 1, 1, 6, 2), (a) => R.slice(a!, 1, 1, 6, 2), [y], { label: 'slice(1,1,6,2)' });
      await gradcheck((a) => a!.slice(0, -3), (a) => R.slice(a!, 0, -3), [y], { label: 'slice(0,-3)' });
      await gradcheck((a) => a!.slice(-1, 0, undefined, 3), (a) => R.slice(a!, 1, 0, undefined, 3), [y], { label: 'slice(-1,0,,3)' });
      await gradcheck((a) => grilly.narrow(a!, 0, 1, 3), (a) => R.slice(a!, 0, 1, 4), [y], { label: 'narrow(0,1,3)' });
    });

    test('cat, stack, split', async () => {
      await gradcheck((a, b, c) => grilly.cat([a!, b!, c!], 1), (a, b, c) => R.cat([a!, b!, c!], 1), [randArray([2, 1, 3], 121), randArray([2, 2, 3], 122), randArray([2, 3, 3], 123)], { label: 'cat axis 1' });
      await gradcheck((a, b) => grilly.cat([a!, b!], -1), (a, b) => R.cat([a!, b!], -1), [randArray([2, 3], 124), randArray([2, 2], 125)], { label: 'cat axis -1' });
      await gradcheck((a, b) => grilly.cat([a!, b!], 0), (a, b) => R.cat([a!, b!], 0), [randArray([2, 3], 124), randArray([1, 3], 125)], { label: 'cat axis 0, one input', requiresGrad: [true, false] });
      await gradcheck((a, b, c) => grilly.stack([a!, b!, c!], 1), (a, b, c) => R.stack([a!, b!, c!], 1), [randArray([2, 3], 126), randArray([2, 3], 127), randArray([2, 3], 128)], { label: 'stack axis 1' });
      await gradcheck((a, b) => grilly.stack([a!, b!], -1), (a, b) => R.stack([a!, b!], -1), [randArray([2, 3], 129), randArray([2, 3], 130)], { label: 'stack axis -1' });
      const w = randArray([3, 7], 131);
      await gradcheck((a) => grilly.split(a!, [2, 3, 2], 1)[1]!, (a) => R.split(a!, [2, 3, 2], 1)[1]!, [w], { label: 'split piece 1' });
      await gradcheck((a) => a!.split(2, 0)[1]!, (a) => R.split(a!, 2, 0)[1]!, [w], { label: 'split(2)[1]' });
    });
  });

  describe('matmul', () => {
    const cases: [number[], number[]][] = [
      [[3, 5], [5, 4]],
      [[4, 8], [8, 12]],
      [[2, 3, 4], [4, 5]],
      [[4, 5], [2, 5, 3]],
      [[2, 1, 3, 4], [3, 4, 2]],
      [[2, 3, 4], [2, 4, 5]],
      [[5], [5, 3]],
      [[3, 5], [5]],
      [[5], [5]],
      [[3], [2, 3, 4]],
      [[2, 4, 3], [3]],
    ];
    test.each(cases)('%j @ %j', async (sa, sb) => {
      await gradcheck((a, b) => grilly.matmul(a!, b!), R.matmul, [randArray(sa, 141), randArray(sb, 142)], { label: `matmul ${JSON.stringify(sa)}@${JSON.stringify(sb)}` });
    });
    test('one operand without grad', async () => {
      await gradcheck((a, b) => a!.matmul(b!), R.matmul, [randArray([3, 5], 143), randArray([5, 4], 144)], { label: 'matmul b only', requiresGrad: [false, true] });
      await gradcheck((a, b) => a!.matmul(b!), R.matmul, [randArray([2, 3, 5], 145), randArray([5, 4], 146)], { label: 'matmul a only', requiresGrad: [true, false] });
    });
  });

  describe('matmul backward at larger sizes (analytic, float64)', () => {
    // For L = Σ (A@B)⊙W: dL/dA = sumTo(W @ Bᵀ), dL/dB = sumTo(Aᵀ @ W). These sizes exercise the
    // transposed GEMM variants with edge tiles, both vector widths and the large-tile variant.
    const cases: [number[], number[]][] = [
      [[33, 65], [65, 17]],
      [[130, 70], [70, 260]],
      [[32, 64], [64, 16]],
      [[4, 1, 33, 20], [1, 3, 20, 17]],
      [[256, 9, 7], [256, 7, 11]],
    ];
    test.each(cases)('%j @ %j', async (sa, sb) => {
      const a = randArray(sa, 181), b = randArray(sb, 182);
      const ta = T(a, { requiresGrad: true }), tb = T(b, { requiresGrad: true });
      const out = grilly.matmul(ta, tb);
      const W = randArray([...out.shape], 183);
      out.backward(T(W));
      const dA = R.sumTo(R.matmul(W, R.transpose(b)), sa);
      const dB = R.sumTo(R.matmul(R.transpose(a), W), sb);
      const N = sb[sb.length - 1]!;
      const Msum = R.numel(sa) / sa[sa.length - 1]!;
      await expectTensor(ta.grad!, dA, { atol: 5e-6 * N, rtol: 1e-5 }, 'dA');
      await expectTensor(tb.grad!, dB, { atol: 5e-6 * Msum, rtol: 1e-5 }, 'dB');
    });
  });

  describe('softmax, logSoftmax, gather', () => {
    const x = randArray([3, 4, 5], 151, -2, 2);
    test.each([0, 1, -1])('softmax and logSoftmax, axis %i', async (axis) => {
      await gradcheck((a) => grilly.softmax(a!, axis), (a) => R.softmax(a!, axis), [x], { label: `softmax ${axis}` });
      await gradcheck((a) => a!.logSoftmax(axis), (a) => R.logSoftmax(a!, axis), [x], { label: `logSoftmax ${axis}` });
    });

    test('gather with repeated indices (backward sums)', async () => {
      const m = randArray([4, 5], 161);
      const i1 = R.make([3, 6], [0, 0, 0, 4, 4, 1, 2, 2, 3, 3, 3, 3, 1, 0, 1, 0, 1, 0]);
      await gradcheck((a) => grilly.gather(a!, 1, TI(i1)), (a) => R.gather(a!, 1, i1), [m], { label: 'gather axis 1' });
      const i0 = randInts([7, 3], 162, 0, 4);
      await gradcheck((a) => a!.gather(0, TI(i0)), (a) => R.gather(a!, 0, i0), [m], { label: 'gather axis 0' });
      const c = randArray([3, 4, 5], 163);
      const i2 = randInts([2, 3, 8], 164, 0, 5);
      await gradcheck((a) => grilly.gather(a!, -1, TI(i2)), (a) => R.gather(a!, -1, i2), [c], { label: 'gather axis -1 (3-D, smaller index)' });
    });
  });

  describe('composites', () => {
    test('sigmoid(x@W+b).mul(x2).sum(1).mean()', async () => {
      await gradcheck(
        (x, W, b, x2) => grilly.sigmoid(x!.matmul(W!).add(b!)).mul(x2!).sum(1).mean(),
        (x, W, b, x2) => R.mean(R.sum(R.mul(R.sigmoid(R.add(R.matmul(x!, W!), b!)), x2!), 1)),
        [randArray([4, 3], 171), randArray([3, 5], 172), randArray([5], 173), randArray([4, 5], 174)],
        { label: 'composite' },
      );
    });

    test('a tensor used several times accumulates its gradient', async () => {
      await gradcheck((x) => x!.mul(x!).add(x!).sub(x!.exp()), (x) => R.sub(R.add(R.mul(x!, x!), x!), R.exp(x!)), [randArray([2, 3], 175)], { label: 'x*x + x - exp(x)' });
      await gradcheck(
        (x, y) => grilly.logSoftmax(x!.matmul(y!), 1).mul(x!.sum(1, true)).tanh(),
        (x, y) => R.tanh(R.mul(R.logSoftmax(R.matmul(x!, y!), 1), R.sum(x!, 1, true))),
        [randArray([3, 4], 176), randArray([4, 5], 177)],
        { label: 'tanh(logSoftmax(x@y) * rowsum(x))' },
      );
    });
  });
});
