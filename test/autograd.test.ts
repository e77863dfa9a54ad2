// Autograd semantics beyond per-op gradients: accumulation, graph lifetime, noGrad, detach,
// assignable .grad, shared subexpressions and independence of gradients that share storage.
import { describe, expect, it } from 'vitest';
import * as g from '../src/index.js';
import * as nn from '../src/nn/index.js';
import { attach } from '../src/autograd/node.js';
import { addInPlace } from '../src/ops/elementwise.js';
import { BACKENDS, useBackend } from './helpers.js';

const arr = async (t: g.Tensor) => Array.from(await t.data());

describe.each(BACKENDS)('autograd on %s', (backend) => {
  useBackend(backend);

  it("shares one 1.0 as the seed of every scalar loss's backward, and nothing writes into it", async () => {
    // a scalar leaf as the loss: its .grad must be a private copy of the seed, free to mutate
    const a = g.tensor(2, undefined, { requiresGrad: true });
    a.backward();
    expect(await arr(a.grad!)).toEqual([1]);
    addInPlace(a.grad!, g.tensor(41));
    a.backward(); // accumulates into the private grad
    expect(await arr(a.grad!)).toEqual([43]);
    // the seed is still 1: every later loss starts from it
    const x = g.tensor([1, 2, 3], { requiresGrad: true }); // (options second, as torch.tensor's keywords)
    expect([x.requiresGrad, x.shape, g.tensor([[1, 2]], { dtype: 'int32' }).dtype]).toEqual([true, [3], 'int32']);
    x.mul(3).sum().backward();
    expect(await arr(x.grad!)).toEqual([3, 3, 3]);
    x.sum().backward();
    expect(await arr(x.grad!)).toEqual([4, 4, 4]);
    // sum's backward hands a leaf a broadcast view of the seed: the leaf must get its own copy
    const z = g.tensor([5, 6], undefined, { requiresGrad: true });
    z.sum().backward();
    addInPlace(z.grad!, g.tensor([10, 20]));
    expect(await arr(z.grad!)).toEqual([11, 21]);
    const u = g.tensor([7], undefined, { requiresGrad: true });
    u.sum().backward();
    expect(await arr(u.grad!)).toEqual([1]);
    // a non-scalar root still gets its own ones
    const y = g.tensor([1, 2], undefined, { requiresGrad: true });
    y.mul(2).backward(g.tensor([1, 1]));
    expect(await arr(y.grad!)).toEqual([2, 2]);
  });

  it("asks an op for an input's gradient only when a path from it reaches a leaf that wants one", async () => {
    // A module's data input becomes a stand-in leaf (for module.backward()); an op fed by a
    // reshape of it must not be asked for that input's gradient by loss.backward().
    const w = g.tensor([1, 2, 3], undefined, { requiresGrad: true });
    let seen: readonly boolean[] = [];
    class Probe extends nn.Module {
      forward(inp: g.Tensor): g.Tensor {
        const r = inp.reshape([3]);
        const out = r.detach().mul(w.detach());
        attach(out, 'probe', [r, w], (gy, s, need) => {
          seen = [...need];
          return [need[0] ? gy.mul(s[1]!) : null, need[1] ? gy.mul(s[0]!) : null];
        }, [r, w]);
        return out;
      }
    }
    const probe = new Probe();
    const x = g.tensor([[4, 5, 6]]);
    probe.forward(x).sum().backward();
    expect(seen).toEqual([false, true]);
    expect(await arr(w.grad!)).toEqual([4, 5, 6]);
    // module.backward() does want the input's gradient: the path is live then
    const out = probe.forward(x);
    const gx = probe.backward(g.onesLike(out));
    expect(seen).toEqual([true, true]);
    expect(await arr(gx!)).toEqual([1, 2, 3]);
  });

  it('accumulates into .grad across backward calls (retainGraph)', async () => {
    const x = g.tensor([1, 2, 3], undefined, { requiresGrad: true });
    const y = x.mul(x).sum();
    y.backward(undefined, { retainGraph: true });
    expect(await arr(x.grad!)).toEqual([2, 4, 6]);
    y.backward();
    expect(await arr(x.grad!)).toEqual([4, 8, 12]);
  });

  it('refuses a second backward through a freed graph', () => {
    const x = g.tensor([1, 2], undefined, { requiresGrad: true });
    const y = x.exp().sum();
    y.backward();
    expect(() => y.backward()).toThrow(/second time/);
  });

  it('sums gradients of a shared subexpression (diamond)', async () => {
    const x = g.tensor([0.5, -1.5, 2], undefined, { requiresGrad: true });
    const h = x.mul(2);
    const y = h.mul(h).add(h.mul(3)).sum(); // 4x² + 6x → 8x + 6
    y.backward();
    expect(await arr(x.grad!)).toEqual([10, -6, 22]);
  });

  it('keeps gradients independent when one op sends the same tensor to two inputs', async () => {
    const a = g.tensor([1, 2], undefined, { requiresGrad: true });
    const b = g.tensor([3, 4], undefined, { requiresGrad: true });
    a.add(b).sum().backward();
    a.grad!.assign([7, 7]);
    expect(await arr(b.grad!)).toEqual([1, 1]);
    const x = g.tensor([1, 2], undefined, { requiresGrad: true });
    x.add(x).sum().backward();
    expect(await arr(x.grad!)).toEqual([2, 2]);
  });

  it('records nothing under noGrad and cuts the graph at detach', async () => {
    const x = g.tensor([1, 2], undefined, { requiresGrad: true });
    const y = g.noGrad(() => x.mul(3));
    expect(y.requiresGrad).toBe(false);
    expect(y.gradFn).toBeNull();
    const d = x.detach();
    expect(d.requiresGrad).toBe(false);
    x.assign([5, 6]);
    expect(await arr(d)).toEqual([5, 6]); // detach shares memory, as in PyTorch
    const z = x.mul(d).sum();
    z.backward();
    expect(await arr(x.grad!)).toEqual([5, 6]); // d is a constant
  });

  it('lets .grad be read, replaced and cleared, checking the shape', async () => {
    const w = g.zeros([2, 2], { requiresGrad: true });
    expect(w.grad).toBeNull();
    w.grad = g.ones([2, 2]);
    w.mul(2).sum().backward();
    expect(await arr(w.grad!)).toEqual([3, 3, 3, 3]);
    w.grad = null;
    expect(w.grad).toBeNull();
    expect(() => (w.grad = g.ones([3]))).toThrow(g.ShapeError);
  });

  it('needs an explicit gradient for non-scalars and uses it', async () => {
    const x = g.tensor([1, 2, 3], undefined, { requiresGrad: true });
    const y = x.mul(2);
    expect(() => y.backward()).toThrow(g.ShapeError);
    y.backward(g.tensor([1, 10, 100]));
    expect(await arr(x.grad!)).toEqual([2, 20, 200]);
    expect(() => x.mul(2).backward(g.ones([2]))).toThrow(/grad has shape \[2\], expected \[3\]/);
  });

  it('explains backward on a tensor that does not require grad', () => {
    expect(() => g.ones([1]).backward()).toThrow(/does not require grad/);
  });

  it('back-propagates into a leaf root and refuses int tensors that require grad', async () => {
    const x = g.tensor([4], undefined, { requiresGrad: true });
    x.backward();
    expect(await arr(x.grad!)).toEqual([1]);
    expect(() => g.tensor([1, 2], undefined, { dtype: 'int32', requiresGrad: true })).toThrow(g.DTypeError);
  });

  it('frees what backward used: only leaves and their grads remain', () => {
    const w = g.rand([64, 64], { requiresGrad: true });
    const x = g.rand([16, 64]);
    const before = g.memory().buffers;
    g.tidy(() => {
      const loss = x.matmul(w).sigmoid().mul(x.matmul(w).tanh()).mean();
      loss.backward();
    });
    // w.grad is the one new allocation that outlives the step.
    expect(g.memory().buffers).toBe(before + 1);
  });

  it('clone stays in the graph; requiresGrad_ refuses non-leaves', async () => {
    const x = g.tensor([1, 2], undefined, { requiresGrad: true });
    const c = x.clone();
    c.mul(c).sum().backward();
    expect(await arr(x.grad!)).toEqual([2, 4]);
    expect(() => x.mul(2).requiresGrad_(false)).toThrow(/non-leaf/);
  });
});

describe.each(BACKENDS)('multi-output nodes on %s', (backend) => {
  useBackend(backend);
  it('routes each output gradient (or null) to one backward call', async () => {
    const { attachMulti } = await import('../src/autograd/node.js');
    const x = g.tensor([1, 2, 3], undefined, { requiresGrad: true });
    // y0 = 2x, y1 = x², as one recorded op
    const y0 = g.noGrad(() => x.mul(2));
    const y1 = g.noGrad(() => x.mul(x));
    let calls = 0;
    attachMulti([y0, y1], 'twoOut', [x], (gs, s) => {
      calls++;
      const parts = [gs[0] ? gs[0].mul(2) : null, gs[1] ? gs[1].mul(s[0]!).mul(2) : null].filter((t): t is g.Tensor => t !== null);
      return [parts.length === 2 ? parts[0]!.add(parts[1]!) : parts[0] ?? null];
    }, [x]);
    y0.sum().add(y1.mul(10).sum()).backward();
    expect(calls).toBe(1);
    expect(Array.from(await x.grad!.data())).toEqual([22, 42, 62]);
  });
  it('backward reaches a leaf disposed meanwhile (a tidy scope ended): its gradient is still set', async () => {
    const w = g.tensor([[1, 2, 3]], { requiresGrad: true });
    const loss = g.tidy(() => g.tensor([[1], [1]], { requiresGrad: true }).matmul(w).sum());
    loss.backward();
    expect(await arr(w.grad!)).toEqual([2, 2, 2]);
  });
});
