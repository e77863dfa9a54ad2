// Spike encoders (Poisson, latency) and the Monitor, on both backends: Poisson rates within
// binomial error, reproducible and bit-identical across backends; latency spike times against an
// independent float64 reference; Monitor records against what the network returned.
import { describe, expect, it } from 'vitest';
import * as g from '../src/index.js';
import * as nn from '../src/nn/index.js';
import * as F from '../src/functional/index.js';
import { LatencyEncoder, PoissonEncoder, latencyEncode, poissonEncode } from '../src/snn/encoding.js';
import { Monitor } from '../src/snn/monitor.js';
import { BACKENDS, expectExact, mulberry32, useBackend } from './helpers.js';

const f32 = Math.fround;

/** Round half to even, as torch.round and WGSL round(). */
function roundHalfEven(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  return d < 0.5 ? f : d > 0.5 ? f + 1 : f % 2 === 0 ? f : f + 1;
}

/** SpikingJelly's spike time in float64, for x already clamped to [0, 1]. */
function refTime(x: number, T: number, mode: 'linear' | 'log'): number {
  const c = Math.min(1, Math.max(0, x));
  if (mode === 'linear') return roundHalfEven((T - 1) * (1 - c));
  if (T - 1 < 700) return roundHalfEven(T - 1 - Math.log((Math.exp(T - 1) - 1) * c + 1));
  return c === 0 ? T - 1 : roundHalfEven(-Math.log(c + (1 - c) * Math.exp(-(T - 1))));
}

/** Inputs for latency tests: the 8-bit grid, exact ties, random values and out-of-range ones. */
function latencyInputs(seed: number): Float32Array {
  const rng = mulberry32(seed);
  const xs: number[] = [];
  for (let k = 0; k <= 256; k++) xs.push(k / 256);
  for (let k = 0; k <= 255; k++) xs.push(k / 255);
  xs.push(0.5, 0.25, 0.75, 1 / 3, 2 / 3, 0.125, 0.375, 0.625, 0.875, 1e-7, 1 - 2 ** -24);
  for (let k = 0; k < 300; k++) xs.push(rng());
  xs.push(-0.3, -5, 1.7, 40);
  return Float32Array.from(xs.map(f32));
}

function seqData(d: Float32Array | Int32Array, T: number): number[][] {
  const n = d.length / T;
  return Array.from({ length: T }, (_, t) => Array.from(d.subarray(t * n, (t + 1) * n)));
}

describe.each(BACKENDS)('PoissonEncoder [%s]', (backend) => {
  useBackend(backend);

  it('spike rates match the intensities within 4σ; 0 never and 1 always fires; out-of-range values clamp', async () => {
    const ps = [0, 0.02, 0.3, 0.5, 0.77, 1, -0.5, 1.5];
    const N = 400, T = 50;
    const host = new Float32Array(ps.length * N);
    ps.forEach((p, r) => host.fill(p, r * N, (r + 1) * N));
    const x = g.tensor(host, [ps.length, N]);
    g.manualSeed(11);
    const s = poissonEncode(x, T);
    expect([...s.shape]).toEqual([T, ps.length, N]);
    expect(s.dtype).toBe('float32');
    const d = await s.data();
    const counts = new Array<number>(ps.length).fill(0);
    let other = 0;
    for (let i = 0; i < d.length; i++) {
      const v = d[i]!;
      if (v !== 0 && v !== 1) other++;
      counts[Math.floor((i % (ps.length * N)) / N)] += v;
    }
    expect(other, 'values other than 0 and 1').toBe(0);
    const n = T * N;
    ps.forEach((p0, r) => {
      const p = Math.min(1, Math.max(0, f32(p0)));
      const rate = counts[r]! / n;
      if (p === 0 || p === 1) expect(rate, `p=${p0}`).toBe(p);
      else expect(Math.abs(rate - p), `p=${p0}: rate ${rate}`).toBeLessThanOrEqual(4 * Math.sqrt((p * (1 - p)) / n));
    });
  });

  it('reproducible under manualSeed, a fresh draw otherwise, equal to rand(…).lt(x) with the same seed', async () => {
    const x = g.rand([3, 7, 5]);
    g.manualSeed(2024);
    const a = await poissonEncode(x, 6).data();
    const b = await poissonEncode(x, 6).data();
    g.manualSeed(2024);
    const c = await new PoissonEncoder({ T: 6 }).forward(x).data();
    expectExact(c, a, 'same seed');
    // spike where u < x, strictly: an input equal to the very uniforms drawn never spikes
    g.manualSeed(7);
    const u64 = g.rand([1, 64]);
    g.manualSeed(7);
    expect(Array.from(await poissonEncode(u64.squeeze(0), 1).data())).toEqual(new Array(64).fill(0));
    expect(Array.from(b)).not.toEqual(Array.from(a));
    g.manualSeed(2024);
    const u = g.rand([6, 3, 7, 5]);
    expectExact(await u.lt(x).data(), a, 'rand([T, …]).lt(x)');
  });

  it('one kernel per call; output does not require grad, even for an input that does', async () => {
    const enc = new PoissonEncoder({ T: 4 });
    expect(String(enc)).toContain('PoissonEncoder(T=4)');
    const x = g.rand([2, 3]).requiresGrad_();
    const before = g.stats().kernels['encode.poisson'] ?? 0;
    const s = enc.forward(x);
    expect((g.stats().kernels['encode.poisson'] ?? 0) - before).toBe(1);
    expect(s.requiresGrad).toBe(false);
    expect(s.gradFn).toBeNull();
    // 0-d and empty inputs
    expect([...poissonEncode(g.tensor(1), 3).shape]).toEqual([3]);
    expect(Array.from(await poissonEncode(g.tensor(1), 3).data())).toEqual([1, 1, 1]);
    expect([...poissonEncode(g.zeros([0, 4]), 2).shape]).toEqual([2, 0, 4]);
  });

  it('bad input: typed errors that name the op', () => {
    expect(() => new PoissonEncoder({ T: 0 })).toThrowError(new g.ValueError('PoissonEncoder: T must be a positive integer, got 0'));
    expect(() => new PoissonEncoder({ T: 2.5 })).toThrow(g.ValueError);
    expect(() => new PoissonEncoder({ T: -3 })).toThrow(g.ValueError);
    expect(() => new PoissonEncoder({ T: NaN })).toThrow(/T must be a positive integer, got NaN/);
    expect(() => new PoissonEncoder({} as { T: number })).toThrow(/got undefined/);
    expect(() => poissonEncode(g.rand([2]), 0)).toThrowError(new g.ValueError('poissonEncode: T must be a positive integer, got 0'));
    expect(() => poissonEncode(g.tensor(Int32Array.from([1, 0])), 4)).toThrow(g.DTypeError);
    expect(() => new PoissonEncoder({ T: 3 }).forward(g.tensor(Int32Array.from([1])))).toThrow(/PoissonEncoder: expected a float32 input.*int32/);
  });
});

describe.each(BACKENDS)('LatencyEncoder [%s]', (backend) => {
  useBackend(backend);
  const xs = latencyInputs(7);

  it.each([
    ['linear', 1], ['linear', 2], ['linear', 3], ['linear', 4], ['linear', 8], ['linear', 33],
    ['log', 1], ['log', 2], ['log', 3], ['log', 5], ['log', 8], ['log', 20], ['log', 120],
  ] as const)('%s T=%i: exactly one spike per input, at SpikingJelly\'s time', async (mode, T) => {
    const x = g.tensor(xs, [xs.length]);
    const enc = new LatencyEncoder({ T, mode });
    const s = enc.forward(x);
    expect([...s.shape]).toEqual([T, xs.length]);
    expect(s.requiresGrad).toBe(false);
    const rows = seqData(await s.data(), T);
    const times: number[] = [];
    const spikes: number[] = [];
    let other = 0;
    for (let j = 0; j < xs.length; j++) {
      let ones = 0, at = -1;
      for (let t = 0; t < T; t++) {
        const v = rows[t]![j]!;
        if (v === 1) { ones++; at = t; } else if (v !== 0) other++;
      }
      spikes.push(ones);
      times.push(at);
    }
    expect(other, 'values other than 0 and 1').toBe(0);
    expectExact(spikes, new Array<number>(xs.length).fill(1), 'spikes per input');
    expectExact(times, Array.from(xs, (x) => refTime(x, T, mode)), `${mode} T=${T} spike times`);
  });

  it('larger inputs spike earlier; ties round half to even, as torch.round', async () => {
    const T = 4;
    // linear, T = 4: x = 0.5 gives 3·0.5 = 1.5 → 2 (half to even); 0.75 gives 0.75 → 1
    const x = g.tensor([1, 0.5, 0, f32(0.75)], [2, 2]);
    const s = latencyEncode(x, T);
    expect([...s.shape]).toEqual([T, 2, 2]);
    const rows = seqData(await s.data(), T);
    const timeOf = (j: number) => rows.findIndex((r) => r[j] === 1);
    expect([0, 1, 2, 3].map(timeOf)).toEqual([0, 2, 3, 1]);
    // T = 3: 2·(1 − 0.25) = 1.5 → 2 and 2·(1 − 0.75) = 0.5 → 0 (both round to the even neighbour)
    const T3 = await latencyEncode(g.tensor([0.25, 0.75]), 3).data();
    expect(Array.from(T3)).toEqual([0, 1, 0, 0, 1, 0]);
  });

  it('one kernel per call; the module prints T and mode; bad input is a typed error', () => {
    const enc = new LatencyEncoder({ T: 5, mode: 'log' });
    expect(String(enc)).toContain('LatencyEncoder(T=5, mode=log)');
    expect(new LatencyEncoder({ T: 5 }).mode).toBe('linear');
    const before = g.stats().kernels['encode.latency'] ?? 0;
    enc.forward(g.rand([3, 4]));
    expect((g.stats().kernels['encode.latency'] ?? 0) - before).toBe(1);
    expect(() => new LatencyEncoder({ T: 0 })).toThrowError(new g.ValueError('LatencyEncoder: T must be a positive integer, got 0'));
    expect(() => latencyEncode(g.rand([2]), 1.5)).toThrowError(new g.ValueError('latencyEncode: T must be a positive integer, got 1.5'));
    expect(() => new LatencyEncoder({ T: 4, mode: 'exp' as 'log' })).toThrow(/mode must be 'linear' or 'log', got "exp"/);
    expect(() => enc.forward(g.tensor(Int32Array.from([1, 2])))).toThrow(g.DTypeError);
    expect(() => latencyEncode(g.tensor(Int32Array.from([1, 2])), 3)).toThrow(/latencyEncode: expected a float32 input/);
  });
});

describe('encoders: webgpu equals cpu bit for bit', () => {
  const both = BACKENDS.includes('cpu') && BACKENDS.includes('webgpu');
  it.runIf(both)('Poisson spikes under one seed, and latency times', async () => {
    const xs = latencyInputs(99);
    const out: Float32Array[][] = [];
    for (const backend of ['cpu', 'webgpu'] as const) {
      await g.init({ backend });
      g.manualSeed(77);
      const x = g.rand([16, 3, 33]);
      const res = [poissonEncode(x, 9), poissonEncode(x, 3), latencyEncode(g.tensor(xs), 17, 'log'), latencyEncode(g.tensor(xs), 64, 'linear'), latencyEncode(g.tensor(xs), 300, 'log')];
      const host: Float32Array[] = [];
      for (const r of res) host.push(Float32Array.from(await r.data()));
      out.push(host);
    }
    out[0]!.forEach((c, i) => expectExact(out[1]![i]!, c, `result ${i}`));
  });
});

// ---- Monitor ----------------------------------------------------------------------------------
function snn(stepMode: 's' | 'm' = 'm') {
  const lif = new nn.LIFNode({ tau: 2, stepMode, storeVSeq: true });
  const ifn = new nn.IFNode({ stepMode });
  const fc1 = stepMode === 'm' ? new nn.SeqToANNContainer(new nn.Linear(6, 12)) : new nn.Linear(6, 12);
  const fc2 = stepMode === 'm' ? new nn.SeqToANNContainer(new nn.Linear(12, 5)) : new nn.Linear(12, 5);
  const net = new nn.Sequential(fc1, lif, fc2, ifn);
  return { net, fc1, lif, fc2, ifn };
}

async function sumAll(ts: readonly g.Tensor[]): Promise<{ total: number; count: number }> {
  let total = 0, count = 0;
  for (const t of ts) for (const v of await t.data()) { total += v; count++; }
  return { total, count };
}

describe.each(BACKENDS)('Monitor [%s]', (backend) => {
  useBackend(backend);

  it("records each spiking layer's spikes and V per call (multi-step), matching what the network produced", async () => {
    g.manualSeed(5);
    const { net, fc1, lif, fc2, ifn } = snn('m');
    const mon = new Monitor(net, { layers: 'spiking', record: ['spikes', 'v'] });
    expect(mon.layerNames).toEqual(['1', '3']);
    const inputs = [g.rand([4, 3, 6]).mul(3), g.rand([4, 3, 6]).mul(3)];
    const outs: g.Tensor[] = [];
    for (const x of inputs) {
      outs.push(net.forward(x));
      F.resetNet(net);
    }
    const r1 = mon.records('1'), r3 = mon.records('3'), v1 = mon.records('1', 'v');
    expect(r1.length).toBe(2);
    expect(r3.length).toBe(2);
    expect(v1.length).toBe(2);
    // the last layer's records are the network's outputs
    for (let i = 0; i < 2; i++) {
      expect(r3[i]!.requiresGrad).toBe(false);
      expectExact(await r3[i]!.data(), await outs[i]!.data(), `layer 3 call ${i}`);
    }
    // layer 1 again by hand, with the monitor paused
    mon.enabled = false;
    const hand: g.Tensor[] = [];
    const handV: g.Tensor[] = [];
    const handOut: g.Tensor[] = [];
    for (const x of inputs) {
      const s1 = lif.forward(fc1.forward(x));
      hand.push(s1);
      handV.push(lif.vSeq!);
      handOut.push(ifn.forward(fc2.forward(s1)));
      F.resetNet(net);
    }
    expect(mon.records('1').length).toBe(2); // nothing recorded while disabled
    for (let i = 0; i < 2; i++) {
      expect([...r1[i]!.shape]).toEqual([4, 3, 12]);
      expectExact(await r1[i]!.data(), await hand[i]!.data(), `layer 1 spikes call ${i}`);
      expect([...v1[i]!.shape]).toEqual([4, 3, 12]);
      expectExact(await v1[i]!.data(), await handV[i]!.data(), `layer 1 vSeq call ${i}`);
    }
    // firing rates and counts against the host
    const rates = await mon.firingRates();
    const counts = await mon.spikeCounts();
    const e1 = await sumAll(hand), e3 = await sumAll(handOut);
    expect([...rates.keys()]).toEqual(['1', '3']);
    expect(counts.get('1')).toBe(e1.total);
    expect(counts.get('3')).toBe(e3.total);
    expect(rates.get('1')).toBeCloseTo(e1.total / e1.count, 12);
    expect(rates.get('3')).toBeCloseTo(e3.total / e3.count, 12);
    expect(e1.total).toBeGreaterThan(0); // the check means something
  });

  it('single-step mode: one record per step, V is node.v after the step', async () => {
    g.manualSeed(8);
    const { net, lif } = snn('s');
    const mon = new Monitor(net, { layers: [lif], record: ['v', 'spikes'] });
    expect(mon.layerNames).toEqual(['1']);
    const vs: Float32Array[] = [];
    const xs = Array.from({ length: 5 }, () => g.rand([2, 6]).mul(2));
    for (const x of xs) {
      net.forward(x);
      vs.push(Float32Array.from(await lif.v!.data()));
    }
    const rv = mon.records('1', 'v');
    expect(rv.length).toBe(5);
    for (let t = 0; t < 5; t++) {
      expect([...rv[t]!.shape]).toEqual([2, 12]);
      expectExact(await rv[t]!.data(), vs[t]!, `v at step ${t}`);
      expect([...mon.records('1')[t]!.shape]).toEqual([2, 12]);
    }
  });

  it('records are outside tidy() scopes: they outlive the tensors they alias', async () => {
    g.manualSeed(13);
    const { net } = snn('m');
    const mon = new Monitor(net);
    const x = g.rand([3, 2, 6]).mul(3);
    const kept = g.tidy(() => net.forward(x).mul(1));
    F.resetNet(net);
    const [rec] = mon.records('3');
    expectExact(await rec!.data(), await kept.data(), 'record after tidy');
    expect((await mon.spikeCounts()).get('1')).toBeGreaterThanOrEqual(0);
  });

  it('any module can be watched (its output is recorded); names are dotted namedModules() names', async () => {
    g.manualSeed(9);
    const { net, fc1, ifn } = snn('m');
    const inner = [...fc1.namedChildren()][0]![1];
    const mon = new Monitor(net, { layers: [ifn, inner] });
    expect(mon.layerNames).toEqual(['0.0', '3']);
    const x = g.rand([3, 2, 6]);
    net.forward(x);
    const lin = mon.records('0.0');
    expect([...lin[0]!.shape]).toEqual([6, 12]); // the Linear inside SeqToANNContainer sees (T·N, …)
    const rates = await mon.firingRates();
    const e = await sumAll(lin);
    expect(rates.get('0.0')).toBeCloseTo(e.total / e.count, 5);
  });

  it('remove() restores the original forward, clear() empties, a disabled monitor records nothing', async () => {
    g.manualSeed(10);
    const { net, lif, ifn } = snn('m');
    const f1 = lif.forward, f3 = ifn.forward;
    const hadOwn = Object.prototype.hasOwnProperty.call(lif, 'forward');
    const mon = new Monitor(net);
    expect(lif.forward).not.toBe(f1);
    const x = g.rand([2, 2, 6]).mul(3);
    mon.enabled = false;
    net.forward(x);
    expect(mon.records('1').length).toBe(0);
    expect(Number.isNaN((await mon.firingRates()).get('1'))).toBe(true);
    mon.enabled = true;
    F.resetNet(net);
    net.forward(x);
    expect(mon.records('1').length).toBe(1);
    mon.clear();
    expect(mon.records('1').length).toBe(0);
    expect(mon.records('3').length).toBe(0);
    expect((await mon.spikeCounts()).get('3')).toBe(0);
    mon.remove();
    mon.remove(); // idempotent
    expect(lif.forward).toBe(f1);
    expect(ifn.forward).toBe(f3);
    expect(Object.prototype.hasOwnProperty.call(lif, 'forward')).toBe(hadOwn);
    F.resetNet(net);
    net.forward(x);
    expect(mon.records('1').length).toBe(0);

    // two monitors on one layer, removed in creation order: the layer ends with its own forward
    const a = new Monitor(net, { layers: [lif] });
    const b = new Monitor(net, { layers: [lif] });
    F.resetNet(net);
    net.forward(x);
    expect(a.records('1').length).toBe(1);
    expect(b.records('1').length).toBe(1);
    a.remove();
    F.resetNet(net);
    net.forward(x);
    expect(a.records('1').length).toBe(1);
    expect(b.records('1').length).toBe(2);
    b.remove();
    F.resetNet(net);
    net.forward(x);
    expect(b.records('1').length).toBe(2);
  });

  it("training through a watched network: gradients unchanged, the seed's net.backward still works", async () => {
    const grads = async (watch: boolean) => {
      g.manualSeed(12);
      const { net } = snn('m');
      const mon = watch ? new Monitor(net, { layers: [net, ...net.children()] }) : null;
      if (mon) expect(mon.layerNames).toEqual(['', '0', '1', '2', '3']);
      const x = g.rand([3, 2, 6]).mul(3);
      const out = net.forward(x);
      net.backward(g.onesLike(out.mean(0)));
      const res: number[] = [];
      for (const p of net.parameters()) res.push(...(await p.grad!.data()));
      if (mon) expect(mon.records('').length).toBe(1);
      return res;
    };
    expectExact(await grads(true), await grads(false), 'grads');
  });

  it('bad arguments are ValueErrors', () => {
    const { net, fc2 } = snn('m');
    expect(() => new Monitor(net, { layers: [new nn.LIFNode()] })).toThrow(/layers\[0\] \(LIFNode\) is not part of the network/);
    expect(() => new Monitor(net, { layers: [fc2], record: ['v'] })).toThrow(/'v' can only be recorded from spiking neurons; layer '2' is a SeqToANNContainer/);
    expect(() => new Monitor(net, { record: ['w' as 'v'] })).toThrow(g.ValueError);
    expect(() => new Monitor(net, { record: [] })).toThrow(g.ValueError);
    expect(() => new Monitor(net, { layers: [] })).toThrow(g.ValueError);
    expect(() => new Monitor(new nn.Sequential(new nn.Linear(2, 2)))).toThrow(/no spiking neuron layers/);
    const mon = new Monitor(net);
    expect(() => mon.records('7')).toThrow(/no watched layer named "7"; watched: "1", "3"/);
    expect(() => mon.records('1', 'v')).toThrow(/'v' is not recorded/);
    mon.remove();
    const vOnly = new Monitor(net, { record: ['v'] });
    return expect(vOnly.firingRates()).rejects.toThrow(/spikes are not recorded/);
  });
});
