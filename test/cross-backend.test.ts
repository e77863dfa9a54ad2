// WebGPU equals the cpu backend on random inputs, forward and backward, to float32 tolerance.
// Inputs come from grilly's own generator, which draws the same numbers on both backends.
import { describe, expect, it } from 'vitest';
import * as g from '../src/index.js';
import { expectClose } from './helpers.js';

type Case = [name: string, run: () => g.Tensor[]];

const withGrads = (xs: g.Tensor[], out: g.Tensor): g.Tensor[] => {
  out.backward(g.randn(out.shape as number[]));
  return [out, ...xs.map((x) => x.grad!)];
};
const leaf = (shape: number[], lo = -2, hi = 2) => g.rand(shape).mul(hi - lo).add(lo).requiresGrad_();

const CASES: Case[] = [
  ['unary chain', () => { const x = leaf([37, 29]); return withGrads([x], x.sigmoid().mul(x.tanh()).add(x.exp().mul(0.1)).sub(x.abs().sqrt())); }],
  ['broadcast binary', () => { const a = leaf([5, 1, 7]); const b = leaf([4, 1]); return withGrads([a, b], a.mul(b).div(b.abs().add(0.5)).pow(2)); }],
  ['clamp / maximum / where', () => { const a = leaf([64, 33]); const b = leaf([33]); return withGrads([a, b], g.where(a.gt(0), a.maximum(b), a.clamp(-0.5, 0.5))); }],
  ['reductions', () => { const x = leaf([6, 50, 7]); return withGrads([x], x.sum(1).add(x.mean(1)).add(x.max(2).sum(1, true)).add(x.mean([0, 2]).min())); }],
  ['softmax / logSoftmax', () => { const x = leaf([20, 130], -8, 8); return withGrads([x], x.softmax(1).add(x.logSoftmax(0).mul(0.01))); }],
  ['matmul batched + broadcast', () => { const a = leaf([3, 45, 70]); const b = leaf([70, 129]); return withGrads([a, b], g.matmul(a, b).relu()); }],
  ['matmul 200x300x150', () => { const a = leaf([200, 300]); const b = leaf([300, 150]); return withGrads([a, b], a.matmul(b)); }],
  ['shape ops', () => { const x = leaf([4, 6, 5]); return withGrads([x], g.cat([x.permute([2, 0, 1]).slice(1, 1, 4).reshape([5, 18]), x.transpose(0, 2).flatten(1).narrow(1, 2, 18)], 0).expand([3, 10, 18])); }],
  ['gather + oneHot + int ops', () => {
    const x = leaf([8, 12]);
    const idx = g.randint(0, 12, [8, 5]);
    const cls = g.randint(0, 12, [8]);
    return withGrads([x], x.gather(1, idx).add(cls.oneHot(12).matmul(x.transpose()).slice(1, 0, 5)).add(idx.mul(3).sub(7).float()));
  }],
  ['random', () => [g.rand([1000]), g.randn([1000]), g.randint(-5, 1000, [1000]).float(), g.arange(0, 20, 0.5)]],
  ['argmax / argmin', () => { const x = g.randn([30, 40]); return [x.argmax(1).float(), x.argmin(0).float(), x.argmax().float()]; }],
];

describe('webgpu equals cpu', () => {
  it.each(CASES)('%s', async (_name, run) => {
    const results: Float32Array[][] = [];
    for (const backend of ['cpu', 'webgpu'] as const) {
      await g.init({ backend });
      g.manualSeed(1234);
      const outs = run();
      const host: Float32Array[] = [];
      for (const o of outs) host.push(Float32Array.from(await o.data()));
      results.push(host);
    }
    const [cpu, gpu] = results as [Float32Array[], Float32Array[]];
    expect(gpu.length).toBe(cpu.length);
    cpu.forEach((c, i) => {
      let scale = 0;
      for (const v of c) scale = Math.max(scale, Math.abs(v));
      expectClose(gpu[i]!, c, { atol: 2e-6 * Math.max(1, scale), rtol: 1e-4 });
    });
  });
});
