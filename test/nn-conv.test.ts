// Conv2d and the pooling layers as modules (the ops themselves are tested in conv-pool.test.ts),
// and the CNN example end to end at reduced size.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import * as g from '../src/index.js';
import * as nn from '../src/nn/index.js';
import { BACKENDS, useBackend } from './helpers.js';

describe.each(BACKENDS)('conv layers [%s]', (backend) => {
  useBackend(backend);

  it('Conv2d: PyTorch init bounds, names, printout and errors', async () => {
    g.manualSeed(2);
    const c = new nn.Conv2d(4, 6, 3, { padding: 1, stride: 2 });
    expect([...c.namedParameters()].map(([k, t]) => `${k} ${t.shape.join('x')}`)).toEqual(['weight 6x4x3x3', 'bias 6']);
    const bound = 1 / Math.sqrt(4 * 9);
    const w = await c.weight.data();
    expect(Math.max(...Array.from(w, Math.abs))).toBeLessThanOrEqual(bound);
    expect(Math.max(...Array.from(w, Math.abs))).toBeGreaterThan(0.8 * bound);
    expect(c.extraRepr()).toBe('4, 6, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1)');
    expect(new nn.Conv2d(8, 8, [1, 3], { groups: 8, bias: false }).extraRepr()).toBe('8, 8, kernel_size=(1, 3), stride=(1, 1), groups=8, bias=False');
    expect(() => c.forward(g.zeros([2, 3, 8, 8]))).toThrow('Conv2d(4, 6): expected input (N, 4, H, W), got [2, 3, 8, 8]');
    expect(() => new nn.Conv2d(3, 4, 3, { groups: 2 })).toThrow(/divisible by groups/);
    expect(c.forward(g.zeros([2, 4, 8, 8])).shape).toEqual([2, 6, 4, 4]);
  });

  it('pooling layers and a small CNN: shapes, gradients for every parameter, explicit backward', async () => {
    g.manualSeed(3);
    const net = new nn.Sequential(
      new nn.Conv2d(1, 4, 3, { padding: 1 }), new nn.BatchNorm2d(4), new nn.ReLU(), new nn.MaxPool2d(2),
      new nn.Conv2d(4, 8, 3), new nn.AvgPool2d(2, 1), new nn.AdaptiveAvgPool2d([2, 2]), new nn.Flatten(), new nn.Linear(32, 5),
    );
    const x = g.randn([3, 1, 12, 12]);
    const y = g.tensor(new Int32Array([0, 4, 2]));
    const out = net.forward(x);
    expect(out.shape).toEqual([3, 5]);
    const lossFn = new nn.CrossEntropyLoss();
    lossFn.forward(out, y).backward();
    const auto = await Promise.all(net.parameters().map((p) => p.grad!.data()));
    expect(auto.every((a) => a.some((v) => v !== 0))).toBe(true);
    net.zeroGrad();
    const out2 = net.forward(x);
    const gin = net.backward(lossFn.backward(1, out2, y))!;
    expect(gin.shape).toEqual([3, 1, 12, 12]);
    const seed = await Promise.all(net.parameters().map((p) => p.grad!.data()));
    seed.forEach((s, i) => s.forEach((v, j) => expect(Math.abs(v - auto[i]![j]!)).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(auto[i]![j]!)))));
    expect(String(net)).toContain('(3): MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)');
  });
});

describe('examples/ann-mnist.ts', () => {
  it('trains at reduced size, saves a checkpoint and exits by itself', () => {
    const root = new URL('..', import.meta.url).pathname;
    const out = `/tmp/grilly-ann-${process.pid}.safetensors`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'examples/ann-mnist.ts', '--backend', 'cpu', '--epochs', '1', '--limit', '640', '--save', out], {
      cwd: root, encoding: 'utf8', timeout: 240_000,
    });
    expect(r.error, 'did not exit in time').toBeUndefined();
    expect(r.status, r.stderr).toBe(0);
    const m = /Epoch 1: loss=([\d.]+) test_acc=([\d.]+)%/.exec(r.stdout);
    expect(m, r.stdout).not.toBeNull();
    expect(Number(m![2])).toBeGreaterThan(50); // 640 digits, one epoch
    expect(r.stdout).toContain(`saved ${out}`);
  });
});
