// grilly/nn: Module mechanics, Linear, BatchNorm, Dropout, activations and losses against float64
// references and finite differences, on both backends; the seed's explicit backward style
// against loss.backward().
import { describe, expect, it } from 'vitest';
import * as g from '../src/index.js';
import * as nn from '../src/nn/index.js';
import { linear } from '../src/ops/linear.js';
import { MSE_FUSED_MAX } from '../src/ops/mse.js';
import { bnTuning } from '../src/ops/batchnorm.js';
import * as R from './ref.js';
import type { Ref } from './ref.js';
import { BACKENDS, T, expectClose, gradcheck, maxAbs, randArray, useBackend } from './helpers.js';

const host = async (t: g.Tensor): Promise<Ref> => R.make([...t.shape], Array.from(await t.data()));

/** Finite differences over the input and every named parameter of a module, on a float64 reference. */
async function moduleGradcheck(m: nn.Module, x: Ref, ref: (x: Ref, p: Record<string, Ref>) => Ref, label: string, tol = { fwd: 1e-5, grad: 1e-4 }): Promise<void> {
  const params: Record<string, Ref> = {};
  for (const [k, p] of m.namedParameters()) params[k] = await host(p);
  const xt = T(x, { requiresGrad: true });
  const out = m.forward(xt);
  const y = ref(x, params);
  expectClose(await out.data(), y.data, { atol: tol.fwd * Math.max(1, maxAbs(y.data)), rtol: 1e-4 }, `${label}: forward`);
  const W = randArray(y.shape, 99);
  out.backward(T(W));
  const L = () => {
    const r = ref(x, params);
    let s = 0;
    for (let i = 0; i < r.data.length; i++) s += r.data[i]! * W.data[i]!;
    return s;
  };
  const check = async (name: string, target: Ref, got: g.Tensor | null) => {
    expect(got, `${label}: ${name} has a gradient`).not.toBeNull();
    const fd = new Float64Array(target.data.length);
    for (let i = 0; i < fd.length; i++) {
      const v = target.data[i]!;
      const h = 1e-6 * Math.max(1, Math.abs(v));
      target.data[i] = v + h;
      const lp = L();
      target.data[i] = v - h;
      const lm = L();
      target.data[i] = v;
      fd[i] = (lp - lm) / (2 * h);
    }
    expectClose(await got!.data(), fd, { atol: tol.grad * Math.max(1, maxAbs(fd)), rtol: tol.grad }, `${label}: d/d${name}`);
  };
  await check('x', x, xt.grad);
  for (const [k, p] of m.namedParameters()) await check(k, params[k]!, p.grad);
}

// float64 references
function refLinear(x: Ref, w: Ref, b: Ref | null): Ref {
  const y = R.matmul(x, R.transpose(w));
  return b ? R.map((u, v) => u + v, y, b) : y;
}
function refBatchNorm(x: Ref, w: Ref | null, b: Ref | null, eps: number): Ref {
  const axes = [0, ...Array.from({ length: x.shape.length - 2 }, (_, i) => i + 2)];
  const m = R.reduce('mean', x, axes, true);
  const xc = R.map((u, v) => u - v, x, m);
  const v = R.reduce('mean', R.map((u) => u * u, xc), axes, true);
  let y = R.map((u, s) => u / Math.sqrt(s + eps), xc, v);
  const bs = x.shape.map((d, i) => (i === 1 ? d : 1));
  if (w) y = R.map((u, a) => u * a, y, R.reshape(w, bs));
  if (b) y = R.map((u, a) => u + a, y, R.reshape(b, bs));
  return y;
}
function refCrossEntropy(logits: Ref, target: number[], o: { ignore?: number; eps?: number; reduction?: string } = {}): Ref {
  const [N, C] = logits.shape as [number, number];
  const per: number[] = [];
  let count = 0;
  for (let i = 0; i < N; i++) {
    const row = Array.from({ length: C }, (_, c) => logits.data[i * C + c]!);
    const mx = Math.max(...row);
    const lse = mx + Math.log(row.reduce((s, v) => s + Math.exp(v - mx), 0));
    const logp = row.map((v) => v - lse);
    if (target[i] === (o.ignore ?? -100)) {
      per.push(0);
      continue;
    }
    count++;
    const eps = o.eps ?? 0;
    per.push(-(1 - eps) * logp[target[i]!]! - (eps / C) * logp.reduce((s, v) => s + v, 0));
  }
  if (o.reduction === 'none') return R.make([N], per);
  const s = per.reduce((a, v) => a + v, 0);
  return R.make([], [o.reduction === 'sum' ? s : s / count]);
}

describe.each(BACKENDS)('nn [%s]', (backend) => {
  useBackend(backend);

  describe('Module', () => {
    class Block extends nn.Module {
      fc1 = new nn.Linear(4, 3);
      headLayer = new nn.Linear(3, 2, { bias: false });
      norm = new nn.BatchNorm1d(3);
      extras = [new nn.ReLU(), new nn.Tanh()];
      scale = 2; // plain values are not state
      forward(x: g.Tensor): g.Tensor {
        return this.headLayer.forward(this.extras[1]!.forward(this.norm.forward(this.fc1.forward(x))));
      }
    }

    it('registers parameters, buffers and submodules by assignment, with PyTorch names', () => {
      const b = new Block();
      expect([...b.namedParameters()].map(([k]) => k)).toEqual(['fc1.weight', 'fc1.bias', 'head_layer.weight', 'norm.weight', 'norm.bias']);
      expect(Object.keys(b.stateDict())).toEqual([
        'fc1.weight', 'fc1.bias', 'head_layer.weight', 'norm.weight', 'norm.bias', 'norm.running_mean', 'norm.running_var', 'norm.num_batches_tracked',
      ]);
      expect([...b.namedChildren()].map(([k]) => k)).toEqual(['fc1', 'head_layer', 'norm', 'extras.0', 'extras.1']);
      expect(b.modules()).toHaveLength(6);
      expect(b.parameters().every((p) => p.requiresGrad)).toBe(true);
    });

    it('train/eval reach every submodule; apply visits children first', () => {
      const b = new Block();
      b.eval();
      expect(b.modules().every((m) => !m.training)).toBe(true);
      b.train();
      expect(b.norm.training).toBe(true);
      const seen: string[] = [];
      b.apply((m) => seen.push(m.constructor.name));
      expect(seen).toEqual(['Linear', 'Linear', 'BatchNorm1d', 'ReLU', 'Tanh', 'Block']);
    });

    it('prints like PyTorch, with the parameter count', () => {
      const s = new nn.Sequential(new nn.Linear(784, 256), new nn.ReLU(), new nn.Linear(256, 10));
      expect(String(s)).toBe(
        'Sequential(\n  (0): Linear(in_features=784, out_features=256, bias=True)\n  (1): ReLU()\n  (2): Linear(in_features=256, out_features=10, bias=True)\n)\nparameters: 203,530 (203,530 trainable)',
      );
      expect(String(new nn.BatchNorm2d(8))).toContain('BatchNorm2d(8, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)');
    });

    it('zeroGrad clears or zeroes gradients', async () => {
      const l = new nn.Linear(3, 2);
      l.forward(g.ones([1, 3])).sum().backward();
      expect(l.weight.grad).not.toBeNull();
      l.zeroGrad(false);
      expect(Array.from(await l.weight.grad!.data())).toEqual([0, 0, 0, 0, 0, 0]);
      l.zeroGrad();
      expect(l.weight.grad).toBeNull();
    });

    it('loadStateDict copies in place, and lists missing, unexpected and mis-shaped keys', async () => {
      const a = new nn.Sequential(new nn.Linear(3, 2), new nn.BatchNorm1d(2));
      const b = new nn.Sequential(new nn.Linear(3, 2), new nn.BatchNorm1d(2));
      const w = b.at(0).parameters()[0]!;
      b.loadStateDict(a.stateDict());
      expect(b.at(0).parameters()[0]).toBe(w); // same tensor object: optimizers keep working
      expect(Array.from(await w.data())).toEqual(Array.from(await a.at(0).parameters()[0]!.data()));
      const sd = { ...a.stateDict(), extra: g.ones([1]) } as Record<string, g.Tensor>;
      delete sd['0.bias'];
      expect(() => b.loadStateDict(sd)).toThrow(/missing keys: 0\.bias; unexpected keys: extra/);
      const report = b.loadStateDict(sd, { strict: false });
      expect(report).toEqual({ missingKeys: ['0.bias'], unexpectedKeys: ['extra'] });
      const bad = { ...a.stateDict(), '0.weight': g.ones([2, 4]) };
      expect(() => b.loadStateDict(bad)).toThrow(/0\.weight: expected \[2, 3\], got \[2, 4\]/);
      expect(() => b.loadStateDict(bad, { strict: false })).toThrow(/shape mismatch/);
      // A source that cannot be copied fails the load before anything is copied.
      const lin = new nn.Linear(2, 2);
      const before = Array.from(await lin.weight.data());
      const gone = g.ones([2]);
      gone.dispose();
      expect(() => lin.loadStateDict({ weight: g.full([2, 2], 7), bias: gone })).toThrow('Linear.loadStateDict: bias: the tensor was disposed');
      expect(Array.from(await lin.weight.data())).toEqual(before);
      expect(() => lin.loadStateDict(null as never)).toThrow('Linear.loadStateDict: expected an object of tensors by name, got null');
    });
  });

  describe('Linear', () => {
    it('matches y = x·Wᵀ + b with exact gradients', async () => {
      const x = randArray([5, 7], 1), w = randArray([4, 7], 2), b = randArray([4], 3);
      await gradcheck((a, ww, bb) => linear(a!, ww!, bb!), refLinear, [x, w, b], { label: 'linear' });
      await gradcheck((a, ww) => linear(a!, ww!), (a, ww) => refLinear(a!, ww!, null), [randArray([2, 3, 7], 4), w], { label: 'linear 3-D, no bias' });
    });

    it('initialises as PyTorch: U(±1/√in) for weight and bias', async () => {
      g.manualSeed(3);
      const l = new nn.Linear(100, 50);
      const wv = await l.weight.data(), bv = await l.bias!.data();
      const bound = 1 / Math.sqrt(100);
      expect(Math.max(...Array.from(wv, Math.abs))).toBeLessThanOrEqual(bound);
      expect(Math.max(...Array.from(wv, Math.abs))).toBeGreaterThan(0.9 * bound);
      expect(Math.max(...Array.from(bv, Math.abs))).toBeLessThanOrEqual(bound);
      const m = Array.from(wv).reduce((s, v) => s + v, 0) / wv.length;
      expect(Math.abs(m)).toBeLessThan(0.01);
    });

    it('init functions and small layers refuse values that would fill NaN or a wrong range', () => {
      const t = g.zeros([4]);
      expect(() => nn.init.normal_(t, 0, -1)).toThrow('normal_: expected a finite mean and a finite std >= 0, got mean = 0, std = -1');
      expect(() => nn.init.normal_(t, 0, NaN)).toThrow(g.ValueError);
      expect(() => nn.init.uniform_(t, 1, 0)).toThrow('uniform_: expected finite bounds with a <= b, got a = 1, b = 0');
      expect(() => nn.init.normal_(g.zeros([2], { dtype: 'int32' }))).toThrow('normal_: expected a float32 tensor, got int32');
      expect(() => new nn.LeakyReLU(NaN)).toThrow('LeakyReLU: negativeSlope must be a finite number, got NaN');
      expect(() => new nn.VoltageScaler(NaN)).toThrow('VoltageScaler: scale must be finite, got NaN');
      expect(() => new nn.VoltageScaler([1, Infinity])).toThrow('VoltageScaler: scale must be finite, got [1, Infinity]');
      nn.init.normal_(t, 0, 0); // std 0 is a constant fill, as in PyTorch
    });

    it('names itself in errors', () => {
      const l = new nn.Linear(784, 256);
      expect(() => l.forward(g.zeros([32, 780]))).toThrow('Linear(784→256): expected last dim 784, got [32, 780]');
      expect(() => new nn.Linear(0, 3)).toThrow(/inFeatures must be a positive integer/);
    });
  });

  describe('BatchNorm', () => {
    it('normalises with batch statistics in training, with exact gradients (1d and 2d)', async () => {
      g.manualSeed(5);
      const bn1 = new nn.BatchNorm1d(3);
      nn.init.uniform_(bn1.weight!, 0.5, 1.5);
      nn.init.uniform_(bn1.bias!, -0.5, 0.5);
      await moduleGradcheck(bn1, randArray([6, 3], 7, -2, 2), (x, p) => refBatchNorm(x, p.weight!, p.bias!, 1e-5), 'BatchNorm1d (N, C)');
      const bn1l = new nn.BatchNorm1d(2, { affine: false });
      await moduleGradcheck(bn1l, randArray([3, 2, 4], 8, -2, 2), (x) => refBatchNorm(x, null, null, 1e-5), 'BatchNorm1d (N, C, L), no affine');
      const bn2 = new nn.BatchNorm2d(2, { eps: 1e-3 });
      nn.init.uniform_(bn2.weight!, 0.5, 1.5);
      await moduleGradcheck(bn2, randArray([2, 2, 3, 3], 9, -2, 2), (x, p) => refBatchNorm(x, p.weight!, p.bias!, 1e-3), 'BatchNorm2d');
    });

    // BatchNorm2d's forward and input gradient against float64, on x ~ U(lo, hi).
    const bnAgainstFloat64 = async ([N, C, H, W]: number[], lo: number, hi: number) => {
      const S = H! * W!, L = N! * S;
      const x = randArray([N!, C!, H!, W!], 21, lo, hi);
      const r = randArray([N!, C!, H!, W!], 22, -1, 1);
      const bn = new nn.BatchNorm2d(C);
      nn.init.uniform_(bn.weight!, 0.5, 1.5);
      const wv = await bn.weight!.data();
      const xt = T(x);
      xt.requiresGrad = true;
      const y = bn.forward(xt);
      y.mul(T(r)).sum().backward();
      const want = new Float64Array(x.data.length), dx = new Float64Array(x.data.length);
      for (let c = 0; c < C; c++) {
        const at = (n: number, s: number) => (n * C + c) * S + s;
        let m = 0;
        for (let n = 0; n < N; n++) for (let s = 0; s < S; s++) m += x.data[at(n, s)]!;
        m /= L;
        let v = 0;
        for (let n = 0; n < N; n++) for (let s = 0; s < S; s++) v += (x.data[at(n, s)]! - m) ** 2;
        const inv = 1 / Math.sqrt(v / L + 1e-5);
        let sr = 0, srx = 0;
        for (let n = 0; n < N; n++) for (let s = 0; s < S; s++) {
          const xh = (x.data[at(n, s)]! - m) * inv;
          want[at(n, s)] = xh * wv[c]!;
          sr += r.data[at(n, s)]!;
          srx += r.data[at(n, s)]! * xh;
        }
        for (let n = 0; n < N; n++) for (let s = 0; s < S; s++) {
          const i = at(n, s), xh = (x.data[i]! - m) * inv;
          dx[i] = wv[c]! * inv * (r.data[i]! - sr / L - xh * (srx / L));
        }
      }
      expectClose(await y.data(), Array.from(want), { atol: 2e-4, rtol: 1e-4 });
      expectClose(await xt.grad!.data(), Array.from(dx), { atol: 2e-4, rtol: 1e-3 });
    };

    it('the fused kernels on a large batch (many slices per channel, mean far from 0) match float64', async () => {
      await bnAgainstFloat64([64, 3, 32, 32], 99, 101); // mean ≈ 100, σ ≈ 0.6: cancellation bait
    });

    it('more channels than a grid dimension holds (65535): the partial sums fold channels into z', async () => {
      await bnAgainstFloat64([3, 65537, 1, 1], -2, 2);
    });

    it('the quad kernels (H·W % 4 == 0) equal the one-element ones, forward and backward', async () => {
      const x = randArray([4, 3, 6, 2], 31, -2, 2), r = randArray([4, 3, 6, 2], 32, -1, 1);
      const run = async () => {
        g.manualSeed(3);
        const bn = new nn.BatchNorm2d(3);
        nn.init.uniform_(bn.weight!, 0.5, 1.5);
        const xt = T(x, { requiresGrad: true });
        const y = bn.forward(xt);
        y.mul(T(r)).sum().backward();
        return [await y.data(), await xt.grad!.data(), await bn.weight!.grad!.data(), await bn.bias!.grad!.data()];
      };
      const quad = await run();
      bnTuning.vec4 = false;
      try {
        const plain = await run();
        quad.forEach((q, i) => expectClose(q, plain[i]!, { atol: 1e-5, rtol: 1e-5 }, `output ${i}`));
      } finally {
        bnTuning.vec4 = true;
      }
    });

    it('updates running statistics (unbiased variance) and uses them in eval', async () => {
      const bn = new nn.BatchNorm2d(2, { momentum: 0.3 });
      const xs = [randArray([3, 2, 2, 2], 11, -1, 3), randArray([3, 2, 2, 2], 12, 0, 2)];
      let rm = [0, 0], rv = [1, 1];
      for (const x of xs) {
        bn.forward(T(x));
        const m = R.reduce('mean', x, [0, 2, 3]);
        const xc = R.map((u, v) => u - v, x, R.reshape(m, [1, 2, 1, 1]));
        const n = 12;
        const v = R.map((s) => s / (n - 1), R.reduce('sum', R.map((u) => u * u, xc), [0, 2, 3]));
        rm = rm.map((r, c) => 0.7 * r + 0.3 * m.data[c]!);
        rv = rv.map((r, c) => 0.7 * r + 0.3 * v.data[c]!);
      }
      expectClose(await bn.runningMean!.data(), rm, { atol: 1e-6 });
      expectClose(await bn.runningVar!.data(), rv, { atol: 1e-5 });
      expect(await bn.numBatchesTracked!.item()).toBe(2);
      bn.eval();
      const x = randArray([1, 2, 2, 2], 13);
      const y = await bn.forward(T(x)).data();
      const want = x.data.map((v, i) => (v - rm[Math.floor(i / 4) % 2]!) / Math.sqrt(rv[Math.floor(i / 4) % 2]! + 1e-5));
      expectClose(y, want, { atol: 1e-5 });
    });

    it('with momentum null keeps a cumulative average', async () => {
      const bn = new nn.BatchNorm1d(1, { momentum: null });
      bn.forward(g.tensor([[1], [3]]));
      bn.forward(g.tensor([[5], [9]]));
      expectClose(await bn.runningMean!.data(), [(2 + 7) / 2], { atol: 1e-6 });
      // unbiased batch variances 2 and 8, averaged
      expectClose(await bn.runningVar!.data(), [(2 + 8) / 2], { atol: 1e-5 });
    });

    it('checks its input', () => {
      expect(() => new nn.BatchNorm2d(3).forward(g.zeros([2, 4, 5, 5]))).toThrow('BatchNorm2d(3): expected 3 channels in dim 1, got [2, 4, 5, 5]');
      expect(() => new nn.BatchNorm2d(3).forward(g.zeros([2, 3, 5]))).toThrow(/expected a 4-D input/);
      expect(() => new nn.BatchNorm1d(3).forward(g.zeros([1, 3]))).toThrow(/more than 1 value per channel/);
    });
  });

  describe('Dropout and activations', () => {
    it('Dropout zeroes a fraction p in training, rescales the rest, and is the identity in eval', async () => {
      g.manualSeed(1);
      const d = new nn.Dropout(0.3);
      const y = await d.forward(g.ones([20000])).data();
      const zeros = Array.from(y).filter((v) => v === 0).length / y.length;
      expect(Math.abs(zeros - 0.3)).toBeLessThan(0.015);
      expect(Array.from(y).every((v) => v === 0 || Math.abs(v - 1 / 0.7) < 1e-6)).toBe(true);
      d.eval();
      expect(Array.from(await d.forward(g.tensor([1, 2])).data())).toEqual([1, 2]);
      expect(() => new nn.Dropout(1.5)).toThrow(/p must be in \[0, 1\]/);
    });

    it('activations, Flatten and Identity', async () => {
      const x = randArray([2, 3, 4], 21, -3, 3);
      await gradcheck((a) => new nn.LeakyReLU(0.2).forward(a!), (a) => R.map((v) => (v > 0 ? v : 0.2 * v), a!), [x], { label: 'LeakyReLU' });
      await gradcheck((a) => new nn.Sigmoid().forward(a!), (a) => R.map((v) => 1 / (1 + Math.exp(-v)), a!), [x], { label: 'Sigmoid' });
      await gradcheck((a) => new nn.Tanh().forward(a!), (a) => R.map(Math.tanh, a!), [x], { label: 'Tanh' });
      await gradcheck((a) => new nn.ReLU().forward(a!), (a) => R.map((v) => Math.max(v, 0), a!), [x], { label: 'ReLU' });
      expect(new nn.Flatten().forward(T(x)).shape).toEqual([2, 12]);
      expect(new nn.Flatten(0, 1).forward(T(x)).shape).toEqual([6, 4]);
      const t = T(x);
      expect(new nn.Identity().forward(t)).toBe(t);
    });
  });

  describe('losses', () => {
    const target = [2, 0, 4, 4, 1, 3];
    it('CrossEntropyLoss matches the reference: reductions, ignoreIndex, labelSmoothing', async () => {
      const logits = randArray([6, 5], 31, -3, 3);
      const y = g.tensor(new Int32Array(target));
      for (const reduction of ['mean', 'sum', 'none'] as const) {
        const fn = new nn.CrossEntropyLoss({ reduction });
        await gradcheck((a) => fn.forward(a!, y), (a) => refCrossEntropy(a!, target, { reduction }), [logits], { label: `CE ${reduction}` });
      }
      const t2 = [2, -1, 4, -1, 1, 3];
      const fn = new nn.CrossEntropyLoss({ ignoreIndex: -1, labelSmoothing: 0.1 });
      await gradcheck((a) => fn.forward(a!, g.tensor(new Int32Array(t2))), (a) => refCrossEntropy(a!, t2, { ignore: -1, eps: 0.1 }), [logits], { label: 'CE ignore + smoothing' });
    });

    it('CrossEntropyLoss takes (N, C, d) logits and names its errors', async () => {
      const logits = randArray([2, 3, 4], 32);
      const tgt = [0, 1, 2, 1, 2, 2, 0, 0];
      const ref = (a: Ref) => {
        const flat = R.reshape(R.permute(a, [0, 2, 1]), [8, 3]);
        return refCrossEntropy(flat, tgt);
      };
      await gradcheck((a) => new nn.CrossEntropyLoss().forward(a!, g.tensor(new Int32Array(tgt), [2, 4])), ref, [logits], { label: 'CE (N, C, d)' });
      const fn = new nn.CrossEntropyLoss();
      expect(() => fn.forward(g.zeros([4, 3]), g.zeros([4]))).toThrow('CrossEntropyLoss: expected int32 class indices as target, got float32; convert labels with .int()');
      expect(() => fn.forward(g.zeros([4, 3]), g.zeros([4, 1], { dtype: 'int32' }))).toThrow(/need a target of shape \[4\], got \[4, 1\]/);
    });

    it('MSELoss and BCEWithLogitsLoss (stable at large logits, with posWeight)', async () => {
      const a = randArray([3, 4], 41, -2, 2), b = randArray([3, 4], 42, 0, 1);
      await gradcheck((x, y) => new nn.MSELoss().forward(x!, y!), (x, y) => R.make([], [R.reduce('mean', R.map((u, v) => (u - v) ** 2, x!, y!)).data[0]!]), [a, b], { label: 'MSE', requiresGrad: [true, true] });
      // 'sum' (fused too), and the composite form past the fused kernel's size (one value each way)
      await gradcheck((x, y) => new nn.MSELoss({ reduction: 'sum' }).forward(x!, y!), (x, y) => R.make([], [R.map((u, v) => (u - v) ** 2, x!, y!).data.reduce((q, v) => q + v, 0)]), [a, b], { label: 'MSE sum', requiresGrad: [true, true] });
      const n = MSE_FUSED_MAX + 7;
      const big1 = randArray([n], 43, -1, 1), big2 = randArray([n], 44, -1, 1);
      for (const m of [n - 7, n]) {
        const x = T(R.make([m], big1.data.slice(0, m)), { requiresGrad: true });
        const loss = new nn.MSELoss().forward(x, T(R.make([m], big2.data.slice(0, m))));
        let w = 0;
        for (let i = 0; i < m; i++) w += (big1.data[i]! - big2.data[i]!) ** 2;
        expectClose([await loss.item()], [w / m], { rtol: 1e-5 }, `MSE n=${m}`);
        loss.backward();
        const gx = await x.grad!.data();
        for (const i of [0, 1, m - 1]) expectClose([gx[i]!], [(2 * (big1.data[i]! - big2.data[i]!)) / m], { rtol: 1e-4, atol: 1e-12 }, `MSE grad n=${m} [${i}]`);
      }
      const bce = (x: number, y: number, pw = 1) => -(pw * y * Math.log(1 / (1 + Math.exp(-x))) + (1 - y) * Math.log(1 - 1 / (1 + Math.exp(-x))));
      await gradcheck((x) => new nn.BCEWithLogitsLoss({ reduction: 'sum' }).forward(x!, T(b)), (x) => R.make([], [R.map((u, v) => bce(u, v), x!, b).data.reduce((s, v) => s + v, 0)]), [a], { label: 'BCE' });
      const pw = g.tensor([1, 2, 3, 0.5]);
      await gradcheck((x) => new nn.BCEWithLogitsLoss({ posWeight: pw }).forward(x!, T(b)), (x) => R.make([], [R.map((u, v, p) => bce(u, v, p), x!, b, R.make([4], [1, 2, 3, 0.5])).data.reduce((s, v) => s + v, 0) / 12]), [a], { label: 'BCE posWeight' });
      const big = await new nn.BCEWithLogitsLoss({ reduction: 'none' }).forward(g.tensor([100, -100]), g.tensor([0, 1])).data();
      expectClose(big, [100, 100], { rtol: 1e-6 });
    });

    it("the seed's lossFn.backward(gradOutput, logits, labels) is dLoss/dlogits scaled by gradOutput", async () => {
      const logits = T(randArray([4, 3], 51), { requiresGrad: true });
      const y = g.tensor(new Int32Array([0, 2, 1, 1]));
      const fn = new nn.CrossEntropyLoss();
      fn.forward(logits, y).backward();
      const viaAutograd = Array.from(await logits.grad!.data());
      const viaSeed = Array.from(await fn.backward(2.5, logits, y).data());
      expectClose(viaSeed, viaAutograd.map((v) => 2.5 * v), { atol: 1e-7 });
    });
  });

  describe("the seed's explicit backward", () => {
    it('module.backward gives the same parameter gradients as loss.backward and returns the input gradient', async () => {
      g.manualSeed(7);
      const net = new nn.Sequential(new nn.Linear(6, 8), new nn.ReLU(), new nn.Linear(8, 4));
      const x = T(randArray([5, 6], 61));
      const y = g.tensor(new Int32Array([0, 3, 1, 2, 3]));
      const fn = new nn.CrossEntropyLoss();
      fn.forward(net.forward(x), y).backward();
      const auto = await Promise.all(net.parameters().map((p) => p.grad!.data()));
      expect(x.grad).toBeNull();
      net.zeroGrad();
      const out = net.forward(x);
      const gin = net.backward(fn.backward(1, out, y))!;
      const seed = await Promise.all(net.parameters().map((p) => p.grad!.data()));
      auto.forEach((a, i) => expectClose(seed[i]!, a, { atol: 0, rtol: 0 }, `param ${i}`));
      // dLoss/dx by autograd on a leaf input
      const xl = T(randArray([5, 6], 61), { requiresGrad: true });
      fn.forward(net.forward(xl), y).backward();
      expectClose(await gin.data(), await xl.grad!.data(), { atol: 1e-7 });
    });

    it('a gradient of shape (…rest) for an output (T, …rest) is the gradient of the mean over T', async () => {
      const lin = new nn.Linear(3, 2);
      const xs = T(randArray([4, 5, 3], 71)); // (T, N, C)
      const out = lin.forward(xs);
      const gr = T(randArray([5, 2], 72));
      lin.backward(gr);
      const viaSeed = await lin.weight.grad!.data();
      lin.zeroGrad();
      lin.forward(xs).mean(0).backward(gr);
      expectClose(viaSeed, await lin.weight.grad!.data(), { atol: 1e-6 });
      void out;
      expect(() => lin.backward(gr)).toThrow(/already used by a backward pass; run forward again/);
      expect(() => new nn.Linear(3, 2).backward(gr)).toThrow(/no forward output/);
      lin.forward(xs);
      expect(() => lin.backward(g.ones([7]))).toThrow(/gradOutput must have the output's shape \[4, 5, 2\]/);
    });

    it('an ordinary backward computes no gradient for the data input', () => {
      const lin = new nn.Linear(3, 2);
      const x = g.ones([4, 3]);
      lin.forward(x).sum().backward(); // the first backward on a backend also fills the shared 1.0 seed
      lin.zeroGrad();
      const before = g.stats().dispatches;
      lin.forward(x).sum().backward();
      const used = g.stats().dispatches - before;
      // forward: gemm with the bias fused, sum; backward: sum's broadcast, dW gemm, db sum (no dX gemm, no seed fill)
      expect(x.grad).toBeNull();
      expect(used).toBe(5);
    });
  });
});
