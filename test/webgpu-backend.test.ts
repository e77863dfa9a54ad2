// WebGPU backend internals that the op tests reach only by chance: tensors sharing a slab as
// input and output of one dispatch (in-place updates), partial writes, bind-group reuse, limits.
import { describe, expect, it } from 'vitest';
import * as g from '../src/index.js';
import { addInPlace, copyInto } from '../src/ops/elementwise.js';
import { slice } from '../src/ops/view.js';
import { SGD } from '../src/optim/index.js';
import { BACKWARD_FLUSH_BYTES } from '../src/autograd/engine.js';
import { initBackend } from './helpers.js';

const slabOf = (t: g.Tensor) => (t.storage('test').handle as unknown as { buffer: unknown }).buffer;

describe('webgpu backend', () => {
  it('updates in place correctly when target and source share a slab', async () => {
    await initBackend('webgpu');
    const a = g.tensor([1, 2, 3, 4]);
    const b = g.tensor([10, 20, 30, 40]);
    expect(slabOf(a)).toBe(slabOf(b)); // same size class, allocated back to back
    addInPlace(a, b); // reads and writes a: the backend must keep a's old values
    expect(Array.from(await a.data())).toEqual([11, 22, 33, 44]);
    copyInto(b, a);
    expect(Array.from(await b.data())).toEqual([11, 22, 33, 44]);
  });

  it('keeps the untouched part of a partially written output', async () => {
    await initBackend('webgpu');
    const x = g.tensor([[1, 2, 3], [4, 5, 6]], undefined, { requiresGrad: true });
    slice(x, 1, 1, 3).sum().backward(); // slice's backward writes a window into a zeroed tensor
    expect(Array.from(await x.grad!.data())).toEqual([0, 1, 1, 0, 1, 1]);
  });

  it('reuses bind groups: a repeated step creates none after the first', async () => {
    await initBackend('webgpu');
    const w = g.randn([32, 32], { requiresGrad: true });
    const x = g.randn([8, 32]);
    const step = () => g.tidy(() => { x.matmul(w).relu().sum().backward(); });
    for (let i = 0; i < 5; i++) step(); // slabs grow to the step's working set, then stay
    const be = (await import('../src/runtime.js')).currentBackend('test') as unknown as { bindCache: Map<string, unknown> };
    const before = be.bindCache.size;
    for (let i = 0; i < 10; i++) step();
    expect(be.bindCache.size).toBe(before);
    await g.sync();
  });

  it('backward submits its work at once only when it is big; optimizer.step always does', async () => {
    await initBackend('webgpu');
    await g.sync();
    const submits = () => g.stats().submits;
    const be = (await import('../src/runtime.js')).currentBackend('test') as unknown as { pendingBytes: number };
    const step = (n: number) => g.tidy(() => {
      const x = g.rand([n], { requiresGrad: true });
      const loss = x.mul(2).mul(3).mul(4).mul(5).sum();
      // the forward alone stays under the threshold: a submit must come from backward's own work
      expect(be.pendingBytes).toBeLessThan(BACKWARD_FLUSH_BYTES);
      loss.backward();
      return submits();
    });
    const s0 = submits();
    expect(step(1000)).toBe(s0); // a few KiB bound, a few dispatches: recorded, not submitted
    // many small dispatches (a training loop without optimizer.step()) are submitted too
    const s01 = submits();
    g.tidy(() => {
      const x = g.rand([1000], { requiresGrad: true });
      let y = x;
      for (let i = 0; i < 40; i++) y = y.mul(1.01);
      y.sum().backward();
    });
    expect(submits()).toBe(s01 + 1);
    const s1 = submits();
    expect(step(1 << 22)).toBe(s1 + 1); // 16 MiB tensors, ~160 MiB bound forward, ~300 MiB with backward
    const w = g.rand([4], { requiresGrad: true });
    const opt = new SGD([w], { lr: 0.1 });
    w.mul(2).sum().backward();
    const s2 = submits();
    opt.step();
    expect(submits()).toBe(s2 + 1);
    await g.sync();
  });

  it('keeps persistent tensors (parameters, optimizer state) apart from transient ones', async () => {
    await initBackend('webgpu');
    const w = g.tensor([1, 2, 3, 4]).persist_();
    const gr = g.tensor([10, 20, 30, 40]);
    expect(slabOf(w)).not.toBe(slabOf(gr));
    expect(Array.from(await w.data())).toEqual([1, 2, 3, 4]);
    const view = w.reshape([2, 2]); // views follow the move
    addInPlace(w, gr);
    expect(Array.from(await view.data())).toEqual([11, 22, 33, 44]);
  });

  it('asks the adapter for its real limits', async () => {
    const info = await g.init({ backend: 'webgpu' });
    expect(info.limits.maxStorageBufferBindingSize).toBeGreaterThan(2 ** 27 - 1); // above WebGPU's 128 MiB default or equal on lavapipe
    expect(info.limits.maxBufferSize).toBeGreaterThan(2 ** 28); // the default is 256 MiB
    expect(info.limits.maxDynamicStorageBuffersPerPipelineLayout).toBeGreaterThanOrEqual(4);
  });
});
