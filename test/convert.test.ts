// ANN → SNN conversion: BatchNorm fusion, calibration statistics, rate-coding convergence,
// and the errors that say what to change.
import { describe, expect, it, vi } from 'vitest';
import * as g from '../src/index.js';
import * as nn from '../src/nn/index.js';
import { quantile } from '../src/snn/convert.js';
import { BACKENDS, T, expectClose, randArray, useBackend } from './helpers.js';

async function trainedBN<B extends nn.BatchNorm1d | nn.BatchNorm2d>(bn: B, shape: number[]): Promise<B> {
  nn.init.uniform_(bn.weight!, 0.5, 1.5);
  nn.init.uniform_(bn.bias!, -0.5, 0.5);
  for (let i = 0; i < 3; i++) bn.forward(g.randn(shape).mul(2).add(1)); // running statistics away from 0/1
  bn.eval();
  return bn;
}

describe.each(BACKENDS)('conversion [%s]', (backend) => {
  useBackend(backend);

  it('a fused Conv2d+BatchNorm2d (and Linear+BatchNorm1d) equals the pair in eval mode', async () => {
    g.manualSeed(1);
    for (const bias of [true, false]) {
      const conv = new nn.Conv2d(3, 4, 3, { padding: 1, bias });
      const bn = await trainedBN(new nn.BatchNorm2d(4), [6, 4, 5, 5]);
      const x = g.randn([2, 3, 5, 5]);
      const ref = await g.noGrad(() => bn.forward(conv.forward(x))).data();
      const fused = nn.fuseBatchNorm(conv, bn);
      expectClose(await g.noGrad(() => fused.forward(x)).data(), ref, { atol: 1e-5, rtol: 1e-5 }, `conv bias=${bias}`);
    }
    const lin = new nn.Linear(5, 3);
    const bn1 = await trainedBN(new nn.BatchNorm1d(3), [8, 3]);
    const x = g.randn([4, 5]);
    expectClose(await g.noGrad(() => nn.fuseBatchNorm(lin, bn1).forward(x)).data(), await g.noGrad(() => bn1.forward(lin.forward(x))).data(), { atol: 1e-5, rtol: 1e-5 });
  });

  it("a one-layer network's firing rate converges to its ReLU output (error ≤ s/T)", async () => {
    g.manualSeed(2);
    const ann = new nn.Sequential(new nn.Linear(5, 6), new nn.ReLU());
    const x = T(randArray([4, 5], 3, -1, 2));
    const relu = await g.noGrad(() => ann.forward(x)).data();
    const s = Math.max(...relu);
    const snn = await new nn.Converter(ann, { mode: 'max' }).convert([x]);
    let prev = Infinity;
    for (const steps of [8, 32, 128, 512]) {
      const out = await nn.snnInference(snn, x, steps).data();
      const err = Math.max(...Array.from(out, (v, i) => Math.abs(v - relu[i]!)));
      expect(err, `T=${steps}`).toBeLessThanOrEqual(s / steps + 1e-4);
      expect(err).toBeLessThanOrEqual(prev + 1e-6);
      prev = err;
    }
  });

  it('scales are the max, a percentile or a fraction of the max over all calibration batches', async () => {
    g.manualSeed(4);
    const ann = new nn.Sequential(new nn.Linear(8, 16), new nn.ReLU(), new nn.Linear(16, 4));
    const batches = [g.randn([32, 8]), g.randn([32, 8]).mul(2)];
    const h = [...(await g.noGrad(() => g.relu((ann.at(0) as nn.Linear).forward(batches[0]!))).data()), ...(await g.noGrad(() => g.relu((ann.at(0) as nn.Linear).forward(batches[1]!))).data())];
    const mx = Math.max(...h);
    const sorted = [...h].sort((a, b) => a - b);
    const pos = 0.999 * (sorted.length - 1);
    const q = sorted[Math.floor(pos)]! + (sorted[Math.ceil(pos)]! - sorted[Math.floor(pos)]!) * (pos - Math.floor(pos));
    const scaleOf = async (snn: nn.Sequential) => await ((snn.at(1) as nn.Sequential).at(2) as nn.VoltageScaler).scale.item();
    expectClose([await scaleOf(await new nn.Converter(ann, { mode: 'max' }).convert(batches))], [mx], { rtol: 1e-6 });
    expectClose([await scaleOf(await new nn.Converter(ann, { mode: '99.9%' }).convert(batches))], [q], { rtol: 1e-5 });
    expectClose([await scaleOf(await new nn.Converter(ann, { mode: 0.5 }).convert(batches))], [0.5 * mx], { rtol: 1e-6 });
    expect(quantile(new Float32Array([1, 2, 3, 4]), 0.5)).toBe(2.5);
  });

  it('leaves the ANN untouched and builds VoltageScaler → IFNode(soft reset) → VoltageScaler', async () => {
    const ann = new nn.Sequential(new nn.Conv2d(1, 2, 3), new nn.BatchNorm2d(2), new nn.ReLU(), new nn.Flatten(), new nn.Dropout(0.5), new nn.Linear(8, 3));
    const before = await Promise.all(ann.parameters().map((p) => p.data()));
    const snn = await new nn.Converter(ann).convert([g.rand([2, 1, 4, 4])]);
    const after = await Promise.all(ann.parameters().map((p) => p.data()));
    before.forEach((b, i) => expect(Array.from(after[i]!)).toEqual(Array.from(b)));
    expect(String(snn)).toMatch(/\(1\): Sequential\(\n\s+\(0\): VoltageScaler\(.*\)\n\s+\(1\): IFNode\(v_threshold=1\.0, v_reset=None/);
    expect(snn.parameters().some((p) => ann.parameters().includes(p))).toBe(false);
    expect(snn.children().some((m) => m instanceof nn.BatchNorm2d)).toBe(false); // fused
    const ps = new nn.VoltageScaler([1, 2]);
    expect(Array.from(await ps.forward(g.ones([1, 2, 2])).data())).toEqual([1, 1, 2, 2]);
  });

  it('without calibration every scale is 1 and a warning says so; the seed call runs as written', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const ann = new nn.Sequential(new nn.Linear(3, 2), new nn.ReLU());
    const snn = new nn.Converter(ann, { mode: 'max' }).convert();
    expect(warn).toHaveBeenCalledWith(expect.stringMatching(/no calibration data; every scale is 1/));
    warn.mockRestore();
    expect(await ((snn.at(1) as nn.Sequential).at(0) as nn.VoltageScaler).scale.item()).toBe(1);
  });

  it('bad input says what to change', async () => {
    class Net extends nn.Module {
      fc = new nn.Linear(3, 2);
      forward(x: g.Tensor) {
        return this.fc.forward(x).relu();
      }
    }
    expect(() => new nn.Converter(new Net())).toThrow(/a ReLU used as a function inside it .* cannot be found and replaced/);
    expect(() => new nn.Converter(new nn.Sequential(new nn.Linear(3, 2), new nn.Sequential(new nn.Tanh())))).toThrow("Converter: the layer '1.0' (Tanh) is not supported");
    expect(() => new nn.Converter(new nn.Sequential(new nn.ReLU()), { mode: '120%' })).toThrow('Converter: a percentile must be in (0, 100], got 120%');
    expect(() => new nn.Converter(new nn.Sequential(new nn.ReLU()), { mode: 1.5 })).toThrow(/fraction mode must be in \(0, 1\]/);
    await expect(new nn.Converter(new nn.Sequential(new nn.ReLU())).convert([])).rejects.toThrow(/calibration iterable gave no batches/);
    expect(() => nn.snnInference(new nn.Sequential(new nn.ReLU()), g.ones([1]), 0)).toThrow('snnInference: T must be a positive integer, got 0');
  });

  it('accuracyVsT reads the running mean at each T in one pass', async () => {
    const ann = new nn.Sequential(new nn.Linear(4, 3), new nn.ReLU());
    const x = g.rand([16, 4]);
    const y = g.noGrad(() => ann.forward(x).argmax(1));
    const snn = await new nn.Converter(ann).convert([x]);
    const acc = await nn.accuracyVsT(snn, [{ x, y }], [4, 64, 256]);
    expect([...acc.keys()]).toEqual([4, 64, 256]);
    expect(acc.get(256)!).toBeGreaterThanOrEqual(acc.get(4)!);
    expect(acc.get(256)!).toBeGreaterThan(0.8);
  });
});
