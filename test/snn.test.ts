// Spiking neurons, surrogates, containers and the functional API: against SpikingJelly (fixtures
// made by test/fixtures/spikingjelly/make_fixtures.py on the GPU machine), against float64
// references with finite differences, and single-step against multi-step — on both backends.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import * as g from '../src/index.js';
import * as nn from '../src/nn/index.js';
import * as F from '../src/functional/index.js';
import { BACKENDS, expectClose, randArray, T, useBackend } from './helpers.js';

interface TJ { shape: number[]; data: number[] }
interface Case {
  kind: 'IFNode' | 'LIFNode' | 'ParametricLIFNode';
  decay_input: boolean; v_reset: number | null; v_threshold: number; detach_reset: boolean; surrogate: 'ATan' | 'Sigmoid' | 'FastSigmoid'; tau: number;
  x: TJ; gs: TJ; gv: TJ; spikes: TJ; v_seq: TJ; v: TJ; dx: TJ; dw?: number;
}
const SJ = JSON.parse(readFileSync(new URL('./fixtures/spikingjelly/neurons.json', import.meta.url), 'utf8')) as {
  torch: string; cases: Case[]; surrogates: { name: string; alpha: number; x: number[]; grad: number[] }[];
  mlp: { x: TJ; labels: number[]; params: Record<string, TJ>; scale: number; out: TJ; loss: number; grads: Record<string, TJ> };
};
const t = (j: TJ, requiresGrad = false) => g.tensor(Float32Array.from(j.data), j.shape, { requiresGrad });
const surrogates = { ATan: () => new nn.ATan(), Sigmoid: () => new nn.surrogate.Sigmoid(), FastSigmoid: () => new nn.FastSigmoid() };

function nodeFor(c: Case): nn.BaseNode {
  const common = { vThreshold: c.v_threshold, vReset: c.v_reset, detachReset: c.detach_reset, surrogateFunction: surrogates[c.surrogate](), stepMode: 'm' as const, storeVSeq: true };
  if (c.kind === 'IFNode') return new nn.IFNode(common);
  if (c.kind === 'LIFNode') return new nn.LIFNode({ ...common, tau: c.tau, decayInput: c.decay_input });
  return new nn.ParametricLIFNode({ ...common, initTau: c.tau, decayInput: c.decay_input });
}

const caseName = (c: Case) => `${c.kind}${c.kind === 'IFNode' ? '' : c.decay_input ? ' decayInput' : ''} ${c.v_reset === null ? 'soft' : `hard(${c.v_reset})`}${c.detach_reset ? ' detachReset' : ''} ${c.surrogate}`;

describe.each(BACKENDS)(`neurons against SpikingJelly (torch ${SJ.torch}) [%s]`, (backend) => {
  useBackend(backend);
  it.each(SJ.cases.map((c) => [caseName(c), c] as const))('%s', async (_n, c) => {
    const node = nodeFor(c);
    const x = t(c.x, true);
    const s = node.forward(x);
    const loss = s.mul(t(c.gs)).sum().add(node.vSeq!.mul(t(c.gv)).sum());
    loss.backward();
    expect(Array.from(await s.data())).toEqual(c.spikes.data);
    expectClose(await node.vSeq!.data(), c.v_seq.data, { atol: 1e-5 }, 'v_seq');
    expectClose(await node.v!.data(), c.v.data, { atol: 1e-5 }, 'v');
    expectClose(await x.grad!.data(), c.dx.data, { atol: 1e-5, rtol: 1e-5 }, 'dx');
    if (c.dw !== undefined) expectClose([await (node as nn.ParametricLIFNode).w.grad!.item()], [c.dw], { atol: 1e-5, rtol: 1e-5 }, 'dw');
  });

  // The fixtures have 10 neurons per step; tiled 4× along the last dim (40, a multiple of 4) they
  // take the kernels' vec4 path, whose answers must be the fixtures' again, copy by copy.
  // (every other case: the fixtures cycle through three surrogates, so all of them come up)
  it.each(SJ.cases.filter((_c, i) => i % 2 === 0).map((c) => [caseName(c), c] as const))('%s, tiled to 40 neurons (the vec4 kernels)', async (_n, c) => {
    const tile = (j: TJ): TJ => {
      const last = j.shape[j.shape.length - 1]!;
      const data: number[] = [];
      for (let r = 0; r < j.data.length; r += last) for (let k = 0; k < 4; k++) data.push(...j.data.slice(r, r + last));
      return { shape: [...j.shape.slice(0, -1), last * 4], data };
    };
    const node = nodeFor(c);
    const x = t(tile(c.x), true);
    const s = node.forward(x);
    s.mul(t(tile(c.gs))).sum().add(node.vSeq!.mul(t(tile(c.gv))).sum()).backward();
    expect(Array.from(await s.data())).toEqual(tile(c.spikes).data);
    expectClose(await node.vSeq!.data(), tile(c.v_seq).data, { atol: 1e-5 }, 'v_seq');
    expectClose(await node.v!.data(), tile(c.v).data, { atol: 1e-5 }, 'v');
    expectClose(await x.grad!.data(), tile(c.dx).data, { atol: 1e-5, rtol: 1e-5 }, 'dx');
    if (c.dw !== undefined) expectClose([await (node as nn.ParametricLIFNode).w.grad!.item()], [4 * c.dw], { atol: 4e-5, rtol: 1e-5 }, 'dw');
  });

  it('a two-layer LIF MLP (SeqToANNContainer, mean over T, CrossEntropyLoss): both backward styles give SpikingJelly\'s gradients', async () => {
    const m = SJ.mlp;
    const lif = () => new nn.LIFNode({ tau: 2, decayInput: false, stepMode: 'm' });
    const net = new nn.Sequential(new nn.SeqToANNContainer(new nn.Linear(6, 8)), lif(), new nn.SeqToANNContainer(new nn.Linear(8, 3)), lif());
    net.loadStateDict(Object.fromEntries(Object.entries(m.params).map(([k, v]) => [k, t(v)])));
    const labels = g.tensor(Int32Array.from(m.labels));
    const lossFn = new nn.CrossEntropyLoss();
    const out = net.forward(t(m.x));
    expect(Array.from(await out.data())).toEqual(m.out.data);
    const loss = lossFn.forward(out.mean(0).mul(m.scale), labels);
    expectClose([await loss.item()], [m.loss], { atol: 1e-6 });
    loss.backward();
    for (const [k, p] of net.namedParameters()) expectClose(await p.grad!.data(), m.grads[k]!.data, { atol: 1e-6, rtol: 1e-5 }, `loss.backward ${k}`);
    // The seed's style: gradient of the firing rate (N, C) handed to snn.backward, output (T, N, C).
    net.zeroGrad();
    F.resetNet(net);
    const out2 = net.forward(t(m.x));
    const rate = out2.mean(0);
    const gRate = lossFn.backward(1, rate.mul(m.scale), labels).mul(m.scale);
    net.backward(gRate);
    for (const [k, p] of net.namedParameters()) expectClose(await p.grad!.data(), m.grads[k]!.data, { atol: 1e-6, rtol: 1e-5 }, `snn.backward ${k}`);
  });

  // Against a float64 BPTT written here: thresholds other than 1 (soft reset subtracts vth), every
  // surrogate at an α other than its default, and layers wider than a workgroup on both kernel paths
  // (4100 neurons: vec4; 1031: scalar), so grid and index bugs show.
  it('float64 BPTT: every surrogate at α ≠ default, vThreshold ≠ 1, soft and hard reset, wide layers', async () => {
    const sg: Record<string, (x: number, a: number) => number> = {
      ATan: (x, a) => a / 2 / (1 + (Math.PI / 2 * a * x) ** 2),
      Sigmoid: (x, a) => { const q = 1 / (1 + Math.exp(-a * x)); return a * q * (1 - q); },
      FastSigmoid: (x, a) => a / (2 * (1 + a * Math.abs(x)) ** 2),
      PiecewiseQuadratic: (x, a) => (Math.abs(x) > 1 / a ? 0 : a - a * a * Math.abs(x)),
      Erf: (x, a) => a / Math.sqrt(Math.PI) * Math.exp(-a * a * x * x),
      SuperSpike: (x, a) => a / (1 + Math.abs(x)) ** 2,
    };
    const make: Record<string, (a: number) => nn.SurrogateFunction> = {
      ATan: (a) => new nn.ATan({ alpha: a }), Sigmoid: (a) => new nn.surrogate.Sigmoid({ alpha: a }), FastSigmoid: (a) => new nn.FastSigmoid({ alpha: a }),
      PiecewiseQuadratic: (a) => new nn.PiecewiseQuadratic({ alpha: a }), Erf: (a) => new nn.Erf({ alpha: a }), SuperSpike: (a) => new nn.SuperSpike({ alpha: a }),
    };
    type Cfg = { kind: 'IF' | 'LIF'; decayInput?: boolean; tau?: number; vth: number; vr: number | null; detach: boolean; sur: string; alpha: number; N: number };
    const cfgs: Cfg[] = [
      { kind: 'IF', vth: 0.5, vr: null, detach: false, sur: 'ATan', alpha: 3, N: 7 },
      { kind: 'LIF', tau: 3, vth: 0.8, vr: null, detach: false, sur: 'PiecewiseQuadratic', alpha: 1.5, N: 12 },
      { kind: 'LIF', decayInput: true, tau: 2.5, vth: 0.7, vr: -0.2, detach: false, sur: 'SuperSpike', alpha: 1.5, N: 9 },
      { kind: 'IF', vth: 1.3, vr: 0.1, detach: true, sur: 'Erf', alpha: 1.5, N: 8 },
      { kind: 'LIF', tau: 2, vth: 0.6, vr: null, detach: true, sur: 'Sigmoid', alpha: 2.5, N: 4100 },
      { kind: 'LIF', decayInput: true, tau: 4, vth: 0.9, vr: 0, detach: false, sur: 'FastSigmoid', alpha: 3, N: 1031 },
    ];
    const Tn = 5;
    for (const [ci, c] of cfgs.entries()) {
      const xs = randArray([Tn, c.N], 40 + ci, -0.4, 1.6), gs = randArray([Tn, c.N], 50 + ci), gv = randArray([Tn, c.N], 60 + ci);
      // float64 forward, keeping H
      const tau = c.kind === 'IF' ? 1 : c.tau!, vr0 = c.vr ?? 0;
      const H = new Float64Array(Tn * c.N), Sp = new Float64Array(Tn * c.N), V = new Float64Array(Tn * c.N);
      for (let n = 0; n < c.N; n++) {
        let v = vr0;
        for (let t = 0; t < Tn; t++) {
          const i = t * c.N + n, x = xs.data[i]!;
          const h = c.kind === 'IF' ? v + x : c.decayInput ? v + (x - (v - vr0)) / tau : v - (v - vr0) / tau + x;
          const sp = h >= c.vth ? 1 : 0;
          H[i] = h; Sp[i] = sp;
          v = c.vr === null ? h - c.vth * sp : h * (1 - sp) + c.vr * sp;
          V[i] = v;
        }
      }
      // float64 backward of L = Σ gs·S + Σ gv·V
      const dHdV = c.kind === 'IF' ? 1 : 1 - 1 / tau, dHdX = c.kind === 'LIF' && c.decayInput ? 1 / tau : 1;
      const dx = new Float64Array(Tn * c.N);
      for (let n = 0; n < c.N; n++) {
        let gNext = 0; // dL/dV_t from step t+1
        for (let t = Tn - 1; t >= 0; t--) {
          const i = t * c.N + n, d = sg[c.sur]!(H[i]! - c.vth, c.alpha);
          const gV = gv.data[i]! + gNext;
          const dVdH = c.vr === null ? 1 - (c.detach ? 0 : c.vth * d) : 1 - Sp[i]! + (c.detach ? 0 : (c.vr - H[i]!) * d);
          const gH = gs.data[i]! * d + gV * dVdH;
          dx[i] = gH * dHdX;
          gNext = gH * dHdV;
        }
      }
      const common = { vThreshold: c.vth, vReset: c.vr, detachReset: c.detach, surrogateFunction: make[c.sur]!(c.alpha), stepMode: 'm' as const, storeVSeq: true };
      const node = c.kind === 'IF' ? new nn.IFNode(common) : new nn.LIFNode({ ...common, tau: c.tau, decayInput: c.decayInput });
      const x = T(xs, { requiresGrad: true });
      const s = node.forward(x);
      s.mul(T(gs)).sum().add(node.vSeq!.mul(T(gv)).sum()).backward();
      const label = `${c.kind} vth ${c.vth} ${c.vr === null ? 'soft' : `hard(${c.vr})`}${c.detach ? ' detach' : ''} ${c.sur}(α=${c.alpha}) N=${c.N}`;
      // A neuron whose H comes within float32 rounding of vth at some step may spike differently
      // from float64: compare the others (nearly all), every step of them.
      const ok = Array.from({ length: c.N }, (_u, n) => [...Array(Tn).keys()].every((t) => Math.abs(H[t * c.N + n]! - c.vth) > 1e-5));
      expect(ok.filter(Boolean).length, label).toBeGreaterThan(0.99 * c.N);
      const pick = (a: ArrayLike<number>) => Array.from(a).filter((_v, i) => ok[i % c.N]);
      expect(pick(await s.data()), `${label} spikes`).toEqual(pick(Sp));
      expectClose(pick(await node.vSeq!.data()), pick(V), { atol: 1e-5 }, `${label} v_seq`);
      expectClose(pick(await x.grad!.data()), pick(dx), { atol: 1e-4, rtol: 1e-4 }, `${label} dx`);
    }
  });

  it('fires at h = vThreshold exactly (h >= vth, as SpikingJelly)', async () => {
    const node = new nn.IFNode({ vThreshold: 1, stepMode: 'm' });
    expect(Array.from(await node.forward(g.tensor([[0.5], [0.5], [0.25]])).data())).toEqual([0, 1, 0]);
  });

  it('a hard reset from an infinite potential lands on vReset (the same on both backends)', async () => {
    const node = new nn.LIFNode({ vReset: -0.25 });
    const s = node.forward(g.tensor([Infinity, 1e38, -Infinity, 0.5]));
    expect(Array.from(await s.data())).toEqual([1, 1, 0, 0]);
    // H = V − (V − Vr)/τ + X from V = Vr = −0.25, τ = 2: −0.25 + 0.5 for the last
    expect(Array.from(await node.v!.data())).toEqual([-0.25, -0.25, -Infinity, 0.25]);
  });

  it('single-step over T calls equals one multi-step call (values and gradients)', async () => {
    for (const make of [() => new nn.LIFNode({ tau: 3, decayInput: true }), () => new nn.ParametricLIFNode({ vReset: null }), () => new nn.IFNode({ detachReset: true })]) {
      const xs = randArray([5, 3, 4], 7, -0.5, 1.5);
      const ms = make();
      ms.stepMode = 'm';
      const x1 = T(xs, { requiresGrad: true });
      const sm = ms.forward(x1);
      const gsw = T(randArray([5, 3, 4], 8));
      sm.mul(gsw).sum().add(ms.v!.sum()).backward();
      const ss = make();
      const x2 = T(xs, { requiresGrad: true });
      const outs: g.Tensor[] = [];
      for (let k = 0; k < 5; k++) outs.push(ss.forward(x2.slice(0, k, k + 1).squeeze(0)));
      const st = g.stack(outs, 0);
      st.mul(gsw).sum().add(ss.v!.sum()).backward();
      expect(Array.from(await st.data())).toEqual(Array.from(await sm.data()));
      expectClose(await ss.v!.data(), await ms.v!.data(), { atol: 1e-6 });
      expectClose(await x2.grad!.data(), await x1.grad!.data(), { atol: 1e-6 });
      for (const [k, p] of ms.namedParameters()) expectClose(await ss.parameters()[0]!.grad!.data(), await p.grad!.data(), { atol: 1e-6 }, k);
    }
  });

  it("PLIF's w gradient matches finite differences of a float64 reference", async () => {
    const Tn = 6, N = 5, initTau = 2.5, vth = 1;
    const xs = randArray([Tn, N], 21, 0, 1.2);
    const W = randArray([Tn, N], 22);
    // L(w) = Σ_t V_t·W_t through a float64 PLIF (decayInput false, hard reset to 0). Inputs stay small so no
    // neuron fires and, with detachReset, the surrogate leaves V alone: L is smooth in w and its central
    // difference is the exact gradient to compare.
    const L = (w: number) => {
      const k = 1 / (1 + Math.exp(-w));
      let s = 0;
      for (let n = 0; n < N; n++) {
        let v = 0;
        for (let tt = 0; tt < Tn; tt++) {
          v = v - v * k + xs.data[tt * N + n]! * 0.3;
          s += v * W.data[tt * N + n]!;
        }
      }
      return s;
    };
    const node = new nn.ParametricLIFNode({ initTau, stepMode: 'm', storeVSeq: true, vThreshold: vth, detachReset: true });
    const x = T(xs).mul(0.3);
    const s = node.forward(x);
    expect(Array.from(await s.data()).every((v) => v === 0)).toBe(true);
    node.vSeq!.mul(T(W)).sum().backward();
    const w0 = -Math.log(initTau - 1);
    const h = 1e-6;
    const fd = (L(w0 + h) - L(w0 - h)) / (2 * h);
    expectClose([await node.w.grad!.item()], [fd], { atol: 1e-5, rtol: 1e-4 });
    expectClose([await node.tau.item()], [initTau], { atol: 1e-6 });
  });
});

describe('surrogates', () => {
  it.each(SJ.surrogates.map((s) => [s.name, s] as const))("%s: g′ equals SpikingJelly's and the derivative of the primitive", (name, s) => {
    const f = name === 'Sigmoid' ? new nn.surrogate.Sigmoid({ alpha: s.alpha }) : new (nn as unknown as Record<string, new (o: { alpha: number }) => nn.SurrogateFunction>)[name]!({ alpha: s.alpha });
    expectClose(f.gradient(s.x), s.grad, { atol: 1e-6, rtol: 1e-6 }, name);
    const h = 1e-6;
    for (const x of [-1.7, -0.8, -0.3, -0.01, 0.02, 0.4, 0.9, 2.2]) {
      const numeric = (f.primitive(x + h) - f.primitive(x - h)) / (2 * h);
      expect(Math.abs(numeric - f.gradient(x)), `${name} at ${x}`).toBeLessThan(1e-6 * Math.max(1, Math.abs(numeric)));
    }
  });

  it('defaults: ATan α=2, Sigmoid α=4, FastSigmoid α=2, and α must be positive', () => {
    expect(new nn.ATan().alpha).toBe(2);
    expect(new nn.surrogate.Sigmoid().alpha).toBe(4);
    expect(new nn.FastSigmoid().alpha).toBe(2);
    expect(new nn.ATan().gradient(0)).toBeCloseTo(1, 12);
    expect(() => new nn.ATan({ alpha: 0 })).toThrow(/alpha must be a positive number/);
  });
});

describe.each(BACKENDS)('SNN containers, functional API and bad input [%s]', (backend) => {
  useBackend(backend);

  it('SeqToANNContainer and MultiStepContainer (exact per-step MaxPool2d gradients)', async () => {
    const x = T(randArray([3, 2, 1, 4, 4], 31), { requiresGrad: true });
    const pool = new nn.MultiStepContainer(new nn.MaxPool2d(2));
    const seq = new nn.SeqToANNContainer(new nn.MaxPool2d(2));
    const a = pool.forward(x);
    const b = seq.forward(x);
    expect(a.shape).toEqual([3, 2, 1, 2, 2]);
    expect(Array.from(await a.data())).toEqual(Array.from(await b.data()));
    const gw = T(randArray([3, 2, 1, 2, 2], 32));
    a.mul(gw).sum().backward();
    const ga = Array.from(await x.grad!.data());
    x.grad = null;
    b.mul(gw).sum().backward();
    expect(ga).toEqual(Array.from(await x.grad!.data()));
    expect(Object.keys(new nn.SeqToANNContainer(new nn.Linear(3, 2)).stateDict())).toEqual(['0.weight', '0.bias']);
  });

  it('resetNet, setStepMode, lifStep and ifStep', async () => {
    const net = new nn.Sequential(new nn.Linear(3, 4), new nn.LIFNode(), new nn.Linear(4, 2), new nn.IFNode());
    net.forward(g.ones([2, 3]));
    const lif = net.at(1) as nn.LIFNode;
    expect(lif.v).not.toBeNull();
    F.resetNet(net);
    expect(lif.v).toBeNull();
    F.setStepMode(net, 'm');
    expect(lif.stepMode).toBe('m');
    expect(() => F.setStepMode(net, 'x' as 's')).toThrow(/mode must be 's' or 'm'/);
    const x = g.tensor([0.8, 1.5, -0.2]);
    // H = V − V/τ + X: from V = 0 the first step charges to X; 1.5 fires and resets to 0.
    const [s1, v1] = F.lifStep(x, g.zeros([3]), { tau: 2 });
    expect(Array.from(await s1.data())).toEqual([0, 1, 0]);
    expectClose(await v1.data(), [0.8, 0, -0.2], { atol: 1e-7 });
    const [s2, v2] = F.lifStep(x, v1, { tau: 2 });
    expect(Array.from(await s2.data())).toEqual([1, 1, 0]);
    expectClose(await v2.data(), [0, 0, -0.3], { atol: 1e-7 });
    const [s3, v3] = F.ifStep(g.tensor([0.6, 1.2]), g.tensor([0.5, 0]), { vReset: null });
    expect(Array.from(await s3.data())).toEqual([1, 1]);
    expectClose(await v3.data(), [0.1, 0.2], { atol: 1e-6 });
    // The functional steps check what the node classes check.
    const i32 = g.tensor([1, 3], undefined, { dtype: 'int32' });
    expect(() => F.lifStep(i32, g.zeros([2]))).toThrow('lifStep: expected a float32 input x, got int32');
    expect(() => F.lifStep(g.ones([2]), i32)).toThrow('lifStep: expected a float32 membrane potential v, got int32');
    expect(() => F.lifStep(g.ones([2]), g.zeros([2]), { vThreshold: NaN })).toThrow('lifStep: vThreshold must be a finite number, got NaN');
    expect(() => F.ifStep(g.ones([2]), g.zeros([2]), { vReset: 5 })).toThrow('ifStep: a hard reset needs vReset < vThreshold, got vReset 5 and vThreshold 1');
    expect(() => F.ifStep(g.ones([2]), g.zeros([2]), { surrogateFunction: {} as never })).toThrow('ifStep: surrogateFunction must be a surrogate');
  });

  it('bad input is a typed error naming the node and the values', () => {
    expect(() => new nn.LIFNode({ tau: 1 })).toThrow('LIFNode: tau must be > 1, got 1');
    expect(() => new nn.ParametricLIFNode({ initTau: 0.5 })).toThrow('ParametricLIFNode: initTau must be > 1, got 0.5');
    expect(() => new nn.IFNode({ vReset: 1, vThreshold: 1 })).toThrow('IFNode: a hard reset needs vReset < vThreshold, got vReset 1 and vThreshold 1');
    expect(() => new nn.LIFNode({ stepMode: 'x' as 's' })).toThrow(`LIFNode: stepMode must be 's' or 'm', got "x"`);
    expect(() => new nn.LIFNode({ stepMode: 'm' }).forward(g.ones([5]))).toThrow('LIFNode: multi-step mode expects input (T, N, …) with at least 2 dims, got [5]');
    const node = new nn.LIFNode();
    node.forward(g.ones([4, 3]));
    expect(() => node.forward(g.ones([5, 3]))).toThrow('LIFNode: the input step shape [5, 3] differs from the state\'s [4, 3]; call resetNet(net) before changing the batch or input size');
  });

  it('with setDebug({ checkFinite: true }), NaN input is reported, naming the node', async () => {
    g.setDebug({ checkFinite: true });
    try {
      const node = new nn.LIFNode();
      const x = g.tensor([1, NaN, 0.5, Infinity]);
      if (backend === 'cpu') expect(() => node.forward(x)).toThrow('LIFNode: the input [4] has 2 NaN or infinite values');
      else {
        const s = node.forward(x);
        await expect(s.data()).rejects.toThrow('LIFNode: the input [4] has 2 NaN or infinite values');
      }
      // Inside a tidy scope too (its end must not dispose the count the check reads later).
      node.reset();
      const run = () => g.tidy(() => node.forward(g.tensor([NaN, 1])));
      if (backend === 'cpu') expect(run).toThrow('LIFNode: the input [2] has 1 NaN or infinite values');
      else await expect(run().data()).rejects.toThrow('LIFNode: the input [2] has 1 NaN or infinite values');
    } finally {
      g.setDebug({ checkFinite: false });
    }
  });

  it('one fused forward and one fused backward dispatch per neuron layer per call', () => {
    const node = new nn.LIFNode({ stepMode: 'm' });
    const x = g.rand([8, 16], { requiresGrad: true });
    const before = g.stats().kernels ?? {};
    node.forward(x).sum().backward();
    const after = g.stats().kernels ?? {};
    const d = (k: string) => (after[k] ?? 0) - (before[k] ?? 0);
    expect(d('neuron.forward')).toBe(1);
    expect(d('neuron.backward')).toBe(1);
  });
});
