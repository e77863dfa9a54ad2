// Bad input gets a typed error that names the op, what was expected and what came.
import { describe, expect, it } from 'vitest';
import * as g from '../src/index.js';
import * as nn from '../src/nn/index.js';
import { BACKENDS, useBackend } from './helpers.js';

describe.each(BACKENDS)('errors on %s', (backend) => {
  useBackend(backend);

  it('shape mismatch and failed broadcasts', () => {
    expect(() => g.matmul(g.ones([2, 3]), g.ones([4, 5]))).toThrow(/matmul: inner dims differ: \[2, 3\] @ \[4, 5\]/);
    expect(() => g.add(g.ones([2, 3]), g.ones([4]))).toThrow(g.ShapeError);
    expect(() => g.add(g.ones([2, 3]), g.ones([4]))).toThrow(/add: shapes \[2, 3\] and \[4\] cannot be broadcast/);
    expect(() => g.ones([6]).reshape([4, 2])).toThrow(/reshape: cannot reshape \[6\]/);
    expect(() => g.cat([g.ones([2, 2]), g.ones([3, 3])], 0)).toThrow(/cat: shapes must match/);
    expect(() => g.tensor([[1, 2], [3]])).toThrow(/ragged/);
    expect(() => g.tensor([1, 2, 3], [2, 2])).toThrow(/3 values do not fill shape \[2, 2\]/);
    expect(() => g.tensor([1, 2], 2 as never)).toThrow(g.GrillyError);
  });

  it('wrong dtypes', () => {
    const f = g.ones([2, 3]);
    expect(() => f.gather(1, g.zeros([2, 1]))).toThrow(/gather: index must be int32, got float32/);
    expect(() => g.oneHot(g.ones([3]), 4)).toThrow(g.DTypeError);
    expect(() => g.add(f, g.ones([2, 3], { dtype: 'int32' }))).toThrow(/add: operands must share a dtype/);
    expect(() => g.ones([2], { dtype: 'int32' }).div(2)).toThrow(/div: expected float32 tensors, got int32/);
    expect(() => g.tensor([1.5], undefined, { dtype: 'int32' })).toThrow(/int32 tensors need integers/);
    expect(() => g.ones([2], { dtype: 'int32' }).mul(0.5)).toThrow(/non-integer scalar 0.5/);
  });

  it('axes out of range', () => {
    expect(() => g.ones([2, 3]).sum(2)).toThrow(/sum: axis 2 is out of range for a tensor of 2 dims/);
    expect(() => g.ones([2, 3]).softmax(-3)).toThrow(g.ShapeError);
    expect(() => g.ones([2, 3]).transpose(0, 5)).toThrow(g.ShapeError);
    expect(() => g.ones([2, 3]).permute([0, 0])).toThrow(/repeated/);
  });

  it('bad randint ranges and values', () => {
    expect(() => g.randint(5, 5, [3])).toThrow(/randint: the range \[5, 5\) is empty/);
    expect(() => g.randint(0, 2.5, [3])).toThrow(g.ValueError);
    expect(() => g.arange(0, 10, 0)).toThrow(g.ValueError);
    expect(() => g.ones([2]).slice(0, 0, 2, 0)).toThrow(/step must be a positive integer/);
  });

  it('disposed tensors', () => {
    const t = g.ones([2]);
    t.dispose();
    expect(() => t.mul(2)).toThrow(/disposed/);
    expect(() => t.mul(2)).toThrow(g.StateError);
    // Named by the op or layer the user called, not an internal step.
    expect(() => g.add(g.ones([2]), t)).toThrow('add: the tensor [2] was disposed');
    expect(() => t.sum()).toThrow('sum: the tensor [2] was disposed');
    expect(() => t.argmax()).toThrow('argmax: the tensor [2] was disposed');
    expect(() => new nn.Linear(2, 1).forward(t)).toThrow('Linear: the input [2] was disposed');
    expect(() => new nn.LIFNode().forward(t)).toThrow('LIFNode: the input [2] was disposed');
  });

  it('tensors of two backends mixed', async () => {
    const other = backend === 'cpu' ? 'webgpu' : 'cpu';
    const a = g.ones([2]);
    const lin = new nn.Linear(2, 2);
    const w0 = Array.from(await lin.weight.data());
    await g.init({ backend: other });
    const b = g.ones([2]);
    expect(() => a.add(b)).toThrow(g.BackendError);
    expect(() => a.add(b)).toThrow(/live on different backends/);
    // A state dict from the other backend: refused whole, naming the key (the weight is untouched).
    const sd = { weight: (await lin.weight.to(backend)).mul(0), bias: g.ones([2]) };
    expect(() => lin.loadStateDict(sd)).toThrow(`Linear.loadStateDict: bias lives on the ${other} backend and the module on ${backend}`);
    expect(Array.from(await lin.weight.data())).toEqual(w0);
    expect(() => { lin.bias!.grad = g.ones([2]); }).toThrow(`grad: the gradient lives on the ${other} backend and the tensor on ${backend}`);
    expect(() => lin.bias!.assign(g.ones([2]))).toThrow('assign: tensors live on different backends');
    expect(() => g.stack([a, b])).toThrow('stack: tensors live on different backends');
    const moved = await b.to(backend);
    await g.init({ backend });
    expect(Array.from(await a.add(moved).data())).toEqual([2, 2]);
  });

  it('a buffer over the device limits', () => {
    const limit = g.backendInfo().limits.maxStorageBufferBindingSize ?? g.backendInfo().limits.maxBufferSize!;
    const n = Math.floor(limit / 4) + 16;
    expect(() => g.zeros([n])).toThrow(g.BackendError);
    expect(() => g.zeros([n])).toThrow(/full: a tensor of \d+ bytes exceeds|full: needs \d+ bytes/);
  });

  it('class and gather indices out of range: a ValueError naming the op (on WebGPU at the next read)', async () => {
    const i32 = (a: number[], shape?: number[]) => g.tensor(a, shape, { dtype: 'int32' });
    // Rejects (webgpu) or throws (cpu) with `msg`, whichever this backend does.
    const bad = async (f: () => g.Tensor, msg: string) => {
      if (backend === 'cpu') expect(f).toThrow(msg);
      else await expect(f().data()).rejects.toThrow(msg);
    };
    const ce = new nn.CrossEntropyLoss();
    await bad(() => ce.forward(g.zeros([2, 3]), i32([5, 0])), 'CrossEntropyLoss: target class 5 is out of range for 3 classes');
    await bad(() => ce.forward(g.zeros([2, 3]), i32([0, 3])), 'CrossEntropyLoss: target class 3 is out of range for 3 classes');
    await bad(() => g.oneHot(i32([1, -1]), 3), 'oneHot: class index -1 is out of range for 3 classes');
    await bad(() => g.ones([2, 3]).gather(1, i32([0, 3], [2, 1])), 'gather: index 3 is out of range for dim 1 of size 3');
    // In range (ignoreIndex included): values, and no report at this or the next read.
    expect(Array.from(await ce.forward(g.zeros([2, 3]), i32([-100, 2])).data())[0]).toBeCloseTo(Math.log(3), 6);
    expect(Array.from(await g.oneHot(i32([1, 2]), 3).data())).toEqual([0, 1, 0, 0, 0, 1]);
    expect(Array.from(await g.ones([2, 3]).gather(1, i32([2, 0], [2, 1])).data())).toEqual([1, 1]);
    await g.sync();
    // More checks than one flag buffer holds before a read: the bad one (the 40th) is still named.
    let last: g.Tensor | null = null;
    const many = () => {
      for (let i = 0; i < 45; i++) last = g.oneHot(i32([i === 39 ? 7 : i % 3]), 3);
      return last!;
    };
    await bad(many, 'oneHot: class index 7 is out of range for 3 classes');
    await g.sync();
    // Reads issued together: none returns the unchecked values.
    if (backend === 'webgpu') {
      const o = g.oneHot(i32([5]), 3);
      const r = await Promise.allSettled([o.sum().data(), o.data()]);
      expect(r.map((x) => x.status)).toEqual(['rejected', 'rejected']);
      // The checks are reported in the order they were made: a NaN found first wins over a later bad index.
      g.setDebug({ checkFinite: true });
      try {
        new nn.LIFNode().forward(g.tensor([NaN]));
        const later = g.oneHot(i32([9]), 3);
        await expect(later.data()).rejects.toThrow('LIFNode: the input [1] has 1 NaN or infinite values');
      } finally {
        g.setDebug({ checkFinite: false });
      }
      await g.sync();
    }
    // A disposed index is named by the op.
    const gone = i32([1]);
    gone.dispose();
    expect(() => g.oneHot(gone, 3)).toThrow('oneHot: the tensor [1] was disposed');
  });

  it('misused API objects: a typed error naming the call, not a TypeError from inside', async () => {
    const optim = await import('../src/optim/index.js');
    const F = await import('../src/functional/index.js');
    const opt = new optim.SGD(new nn.Linear(2, 2).parameters(), { lr: 0.1 });
    expect(() => new nn.MultiStepContainer(null as never)).toThrow('MultiStepContainer: expected a Module, got null');
    expect(() => new nn.SeqToANNContainer(new nn.Flatten(), {} as never)).toThrow('SeqToANNContainer: argument 1 is not a Module');
    expect(() => F.resetNet(null as never)).toThrow('resetNet: expected a Module, got null');
    expect(() => new optim.StepLR(opt, undefined as never)).toThrow('StepLR: stepSize must be a positive integer, got undefined');
    expect(() => new optim.StepLR(opt, { stepSize: 1, gamma: Infinity })).toThrow('StepLR: gamma must be a finite number, got Infinity');
    expect(() => new optim.StepLR(null as never, { stepSize: 1 })).toThrow('StepLR: expected an optimizer (SGD, Adam, AdamW, …), got null');
    expect(() => new optim.CosineAnnealingLR(opt, { tMax: 5, etaMin: Infinity })).toThrow('CosineAnnealingLR: etaMin must be a finite number');
    expect(() => optim.optimizerStateFromTensors({}, { 'optimizer.optimizer': 'null' })).toThrow('optimizerStateFromTensors: "optimizer.optimizer" should hold an object with paramGroups');
    expect(() => optim.optimizerStateFromTensors({}, { 'optimizer.optimizer': '{"paramGroups":{}}' })).toThrow(g.ValueError);
  });

  it('empty and ill-typed inputs to layers and losses: the layer named, or an empty result where PyTorch gives one', async () => {
    expect(g.zeros([3, 0]).softmax(-1).shape).toEqual([3, 0]);
    expect(g.zeros([0, 4]).logSoftmax(-1).shape).toEqual([0, 4]);
    expect(() => new nn.BatchNorm1d(2).forward(g.ones([3, 2], { dtype: 'int32' }))).toThrow('BatchNorm1d(2): expected a float32 input, got int32');
    expect(() => new nn.MSELoss().forward(g.zeros([0]), g.zeros([0]))).toThrow('MSELoss: the input [0] is empty, so its mean is undefined');
    expect(() => new nn.BCEWithLogitsLoss().forward(g.zeros([0, 2]), g.zeros([0, 2]))).toThrow('BCEWithLogitsLoss: the input [0, 2] is empty');
    expect(Array.from(await new nn.MSELoss({ reduction: 'sum' }).forward(g.zeros([0]), g.zeros([0])).data())).toEqual([0]);
    const bce = new nn.BCEWithLogitsLoss({ posWeight: g.ones([3]) });
    expect(() => bce.forward(g.zeros([2, 2]), g.zeros([2, 2]))).toThrow('BCEWithLogitsLoss: posWeight [3] does not broadcast to the input [2, 2]');
    expect(() => new nn.MaxPool2d(0)).toThrow('MaxPool2d: kernelSize must be positive, got 0');
    expect(() => new nn.AvgPool2d(2, 2, { padding: -1 })).toThrow('AvgPool2d: padding must be non-negative, got -1');
    expect(() => new nn.MultiStepContainer(new nn.Flatten()).forward(g.zeros([0, 2, 3]))).toThrow('multiStepForward: the input [0, 2, 3] has no time steps (T = 0)');
  });

  it('item() on more than one element', async () => {
    await expect(g.ones([2]).item()).rejects.toThrow(/item: expected a tensor with one element/);
  });
});
