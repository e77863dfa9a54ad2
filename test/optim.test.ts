// grilly/optim: SGD, Adam and AdamW trajectories against an independent float64 reference written
// here from the update formulas (sharing no code with src/), against PyTorch's own trajectories
// (test/fixtures/torch/optim.json, made by make_optim_fixtures.py), state dicts, the skipped
// null-grad parameter, one dispatch and no readback per update, schedulers and option errors.
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import * as g from '../src/index.js';
import type { Tensor } from '../src/index.js';
import { Adam, AdamW, CosineAnnealingLR, SGD, StepLR, type Optimizer } from '../src/optim/index.js';
import { BACKENDS, expectClose, mulberry32, useBackend } from './helpers.js';

// ---- cases --------------------------------------------------------------------------------------

type Kind = 'SGD' | 'Adam' | 'AdamW';
type Options = Record<string, number | boolean | number[]>;
interface SchedSpec {
  type: 'StepLR' | 'CosineAnnealingLR';
  options: Record<string, number>;
}
interface Case {
  name: string;
  optimizer: Kind;
  defaults: Options;
  groups?: { params: number[]; options: Options }[];
  params: { shape: number[]; init: number[] }[];
  /** Per step, per parameter: the gradient's values, or null (no .grad). */
  grads: (number[] | null)[][];
  scheduler?: SchedSpec | null;
}

const STEPS = 6;
// 8 elements (vec4 kernels), 5 (scalar), 3 (grad null at some steps), 320 (several workgroups' worth of lanes).
const SHAPES = [[2, 4], [5], [3], [64, 5]];
const NONE: [number, number][] = [[0, 2], [1, 2], [4, 2]];

const numel = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
function vals(n: number, seed: number, scale = 1): number[] {
  const r = mulberry32(seed);
  return Array.from({ length: n }, () => Math.fround((2 * r() - 1) * scale));
}

/** A case with seeded parameters and gradients (magnitudes alternate so AMSGrad's max matters). */
function mk(name: string, optimizer: Kind, defaults: Options, extra: Partial<Case> = {}): Case {
  const seed = [...name].reduce((h, ch) => (h * 31 + ch.charCodeAt(0)) >>> 0, 7);
  const params = SHAPES.map((shape, k) => ({ shape, init: vals(numel(shape), seed + k) }));
  const grads = Array.from({ length: STEPS }, (_, s) =>
    SHAPES.map((shape, k) => (NONE.some(([a, b]) => a === s && b === k) ? null : vals(numel(shape), seed + 100 * (s + 1) + k, s % 2 === 0 ? 1.5 : 0.3))),
  );
  return { name, optimizer, defaults, params, grads, ...extra };
}

const CASES: Case[] = [
  mk('SGD plain', 'SGD', { lr: 0.1 }),
  mk('SGD momentum', 'SGD', { lr: 0.05, momentum: 0.9 }),
  mk('SGD momentum + dampening', 'SGD', { lr: 0.05, momentum: 0.8, dampening: 0.3 }),
  mk('SGD nesterov', 'SGD', { lr: 0.05, momentum: 0.9, nesterov: true }),
  mk('SGD weight decay', 'SGD', { lr: 0.1, momentum: 0.5, weightDecay: 0.1 }),
  mk('SGD nesterov + weight decay', 'SGD', { lr: 0.1, momentum: 0.6, nesterov: true, weightDecay: 0.02 }),
  mk('SGD maximize', 'SGD', { lr: 0.1, momentum: 0.7, weightDecay: 0.05, maximize: true }),
  mk('SGD groups', 'SGD', { lr: 0.1, momentum: 0.9 }, {
    groups: [{ params: [0, 3], options: { lr: 0.01 } }, { params: [1, 2], options: { momentum: 0, weightDecay: 0.2 } }],
  }),
  mk('Adam', 'Adam', { lr: 0.01 }),
  mk('Adam defaults', 'Adam', {}),
  mk('Adam amsgrad', 'Adam', { lr: 0.02, amsgrad: true }),
  mk('Adam weight decay', 'Adam', { lr: 0.01, weightDecay: 0.1 }),
  mk('Adam amsgrad + weight decay', 'Adam', { lr: 0.01, weightDecay: 0.05, amsgrad: true }),
  mk('Adam maximize', 'Adam', { lr: 0.01, betas: [0.8, 0.95], eps: 1e-6, maximize: true }),
  // A large eps shows where eps enters the denominator (after the bias-corrected sqrt).
  mk('Adam large eps', 'Adam', { lr: 0.05, eps: 0.1 }),
  mk('AdamW large eps', 'AdamW', { lr: 0.05, eps: 0.1, weightDecay: 0.2 }),
  mk('Adam small beta1', 'Adam', { lr: 0.01, betas: [0.3, 0.5] }),
  mk('Adam groups', 'Adam', { lr: 0.01 }, {
    groups: [{ params: [0, 2], options: { lr: 0.003, betas: [0.5, 0.9] } }, { params: [1, 3], options: { amsgrad: true, weightDecay: 0.05 } }],
  }),
  mk('AdamW', 'AdamW', { lr: 0.01 }),
  mk('AdamW amsgrad + weight decay', 'AdamW', { lr: 0.02, weightDecay: 0.1, amsgrad: true }),
  mk('AdamW groups + maximize', 'AdamW', { lr: 0.01, maximize: true }, {
    groups: [{ params: [0], options: { weightDecay: 0.3 } }, { params: [1, 2, 3], options: { lr: 0.05, betas: [0.7, 0.99] } }],
  }),
  mk('SGD + StepLR', 'SGD', { lr: 0.1, momentum: 0.9 }, {
    groups: [{ params: [0, 1], options: {} }, { params: [2, 3], options: { lr: 0.3 } }],
    scheduler: { type: 'StepLR', options: { stepSize: 2, gamma: 0.5 } },
  }),
  mk('Adam + CosineAnnealingLR', 'Adam', { lr: 0.02 }, { scheduler: { type: 'CosineAnnealingLR', options: { tMax: 4, etaMin: 0.001 } } }),
];

// ---- the float64 reference (from the formulas; torch.optim's documented update rules) ----------

const DEFAULTS: Record<Kind, Options> = {
  SGD: { momentum: 0, dampening: 0, weightDecay: 0, nesterov: false, maximize: false },
  Adam: { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, amsgrad: false, maximize: false },
  AdamW: { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 1e-2, amsgrad: false, maximize: false },
};

function closedFormLr(spec: SchedSpec, base: number, epoch: number): number {
  const o = spec.options;
  if (spec.type === 'StepLR') return base * (o.gamma ?? 0.1) ** Math.floor(epoch / o.stepSize!);
  const etaMin = o.etaMin ?? 0;
  return etaMin + ((base - etaMin) * (1 + Math.cos((Math.PI * epoch) / o.tMax!))) / 2;
}

/** Parameters after each step, in float64. */
function reference(c: Case): number[][][] {
  const groups = c.groups ?? [{ params: SHAPES.map((_, k) => k), options: {} }];
  const opt = (k: number) => {
    const gr = groups.find((x) => x.params.includes(k))!;
    return { ...DEFAULTS[c.optimizer], ...c.defaults, ...gr.options } as Record<string, number & boolean & number[]>;
  };
  const p = c.params.map((x) => Float64Array.from(x.init));
  const buf: (Float64Array | null)[] = p.map(() => null);
  const m = p.map((x) => new Float64Array(x.length));
  const v = p.map((x) => new Float64Array(x.length));
  const vmax = p.map((x) => new Float64Array(x.length));
  const t = p.map(() => 0);
  const out: number[][][] = [];
  c.grads.forEach((gs, s) => {
    gs.forEach((grad, k) => {
      if (!grad) return;
      const o = opt(k);
      const base = o.lr;
      const lr = c.scheduler ? closedFormLr(c.scheduler, base, s) : base;
      const x = p[k]!;
      const n = x.length;
      const gg = grad.map((q) => (o.maximize ? -q : q));
      if (c.optimizer === 'SGD') {
        if (o.weightDecay) for (let i = 0; i < n; i++) gg[i]! += o.weightDecay * x[i]!;
        if (o.momentum) {
          if (!buf[k]) buf[k] = Float64Array.from(gg);
          else for (let i = 0; i < n; i++) buf[k]![i] = o.momentum * buf[k]![i]! + (1 - o.dampening) * gg[i]!;
          for (let i = 0; i < n; i++) gg[i] = o.nesterov ? gg[i]! + o.momentum * buf[k]![i]! : buf[k]![i]!;
        }
        for (let i = 0; i < n; i++) x[i]! -= lr * gg[i]!;
        return;
      }
      const [b1, b2] = o.betas as [number, number];
      const step = ++t[k]!;
      if (c.optimizer === 'AdamW') for (let i = 0; i < n; i++) x[i]! *= 1 - lr * o.weightDecay;
      else if (o.weightDecay) for (let i = 0; i < n; i++) gg[i]! += o.weightDecay * x[i]!;
      const bc1 = 1 - b1 ** step, bc2 = 1 - b2 ** step;
      for (let i = 0; i < n; i++) {
        m[k]![i] = b1 * m[k]![i]! + (1 - b1) * gg[i]!;
        v[k]![i] = b2 * v[k]![i]! + (1 - b2) * gg[i]! * gg[i]!;
        vmax[k]![i] = Math.max(vmax[k]![i]!, v[k]![i]!);
        const vh = o.amsgrad ? vmax[k]![i]! : v[k]![i]!;
        x[i]! -= (lr / bc1) * (m[k]![i]! / (Math.sqrt(vh) / Math.sqrt(bc2) + o.eps));
      }
    });
    out.push(p.map((x) => Array.from(x)));
  });
  return out;
}

// ---- running a case in grilly ------------------------------------------------------------------

function makeOptimizer(kind: Kind, params: Tensor[] | Record<string, unknown>[], defaults: Options): Optimizer<any> {
  const ps = params as any;
  if (kind === 'SGD') return new SGD(ps, defaults as any);
  if (kind === 'Adam') return new Adam(ps, defaults as any);
  return new AdamW(ps, defaults as any);
}

function makeScheduler(spec: SchedSpec, opt: Optimizer<any>): StepLR | CosineAnnealingLR {
  const o = spec.options as any;
  return spec.type === 'StepLR' ? new StepLR(opt, o) : new CosineAnnealingLR(opt, o);
}

const f32 = (x: ArrayLike<number>) => Float32Array.from(x as ArrayLike<number>);
const data = async (t: Tensor) => Array.from(await t.data());

async function replay(c: Case): Promise<{ traj: number[][][]; lrs: number[][]; opt: Optimizer<any>; ps: Tensor[] }> {
  const ps = c.params.map((p) => g.tensor(f32(p.init), p.shape, { requiresGrad: true }));
  const groups = (c.groups ?? [{ params: ps.map((_, k) => k), options: {} }]).map((gr) => ({ ...gr.options, params: gr.params.map((k) => ps[k]!) }));
  const opt = makeOptimizer(c.optimizer, groups, c.defaults);
  const sched = c.scheduler ? makeScheduler(c.scheduler, opt) : null;
  const traj: number[][][] = [];
  const lrs: number[][] = [];
  for (const gs of c.grads) {
    gs.forEach((gv, k) => (ps[k]!.grad = gv ? g.tensor(f32(gv), c.params[k]!.shape) : null));
    lrs.push(opt.paramGroups.map((gr) => gr.lr));
    opt.step();
    sched?.step();
    traj.push(await Promise.all(ps.map(data)));
  }
  return { traj, lrs, opt, ps };
}

const TOL = { atol: 2e-6, rtol: 2e-5 };

function expectTrajectory(got: number[][][], want: number[][][], label: string, tol = TOL): void {
  expect(got.length, `${label}: steps`).toBe(want.length);
  got.forEach((ps, s) => ps.forEach((p, k) => expectClose(p, want[s]![k]!, tol, `${label}: step ${s}, param ${k}`)));
}

// ---- the PyTorch fixture -------------------------------------------------------------------------

const FIXTURE = fileURLToPath(new URL('./fixtures/torch/optim.json', import.meta.url));
interface TorchFixture {
  torch: string;
  device: string;
  optimizers: (Omit<Case, 'grads' | 'params'> & {
    params: { shape: number[]; init: number[] }[];
    steps: { grads: (number[] | null)[]; lr: number[]; params: number[][] }[];
    finalState: Record<string, Record<string, number | number[]>>;
  })[];
  schedulers: { name: string; type: SchedSpec['type']; options: Record<string, number>; groupLrs: number[]; epochs: number; lrs: number[][] }[];
}
const fixture: TorchFixture | null = existsSync(FIXTURE) ? (JSON.parse(readFileSync(FIXTURE, 'utf8')) as TorchFixture) : null;
const ABSENT = 'test/fixtures/torch/optim.json is absent: run `python3 test/fixtures/torch/make_optim_fixtures.py` (needs torch) to compare with PyTorch';

// ---- tests ---------------------------------------------------------------------------------------

describe.each(BACKENDS)('optim on %s', (backend) => {
  useBackend(backend);

  describe('trajectories vs the float64 reference', () => {
    for (const c of CASES) {
      it(c.name, async () => {
        const { traj } = await replay(c);
        expectTrajectory(traj, reference(c), c.name);
      });
    }
  });

  describe('vs PyTorch (test/fixtures/torch/optim.json)', () => {
    if (!fixture) {
      it.skip(ABSENT, () => {});
      return;
    }
    for (const fc of fixture.optimizers) {
      it(`${fc.name} (torch ${fixture.torch}, ${fixture.device})`, async () => {
        const c: Case = { ...fc, grads: fc.steps.map((s) => s.grads) };
        const { traj, lrs, opt } = await replay(c);
        const tol = { atol: 1e-6, rtol: 1e-5 };
        fc.steps.forEach((s, i) => expectClose(lrs[i]!, s.lr, { atol: 0, rtol: 1e-12 }, `${fc.name}: lr at step ${i}`));
        expectTrajectory(traj, fc.steps.map((s) => s.params), fc.name, tol);
        // The state dict: same indices, keys and values as PyTorch's.
        const sd = opt.stateDict();
        expect(Object.keys(sd.state).sort(), `${fc.name}: state indices`).toEqual(Object.keys(fc.finalState).sort());
        for (const [idx, st] of Object.entries(fc.finalState)) {
          const mine = sd.state[Number(idx)]!;
          expect(Object.keys(mine).sort(), `${fc.name}: state keys of ${idx}`).toEqual(Object.keys(st).sort());
          for (const [k, v] of Object.entries(st)) {
            if (typeof v === 'number') expect(mine[k], `${fc.name}: ${k} of ${idx}`).toBe(v);
            else expectClose(await data(mine[k] as Tensor), v, tol, `${fc.name}: ${k} of ${idx}`);
          }
        }
      });
    }
    for (const sc of fixture.schedulers) {
      it(`scheduler ${sc.name} (torch ${fixture.torch})`, () => {
        const opt = new SGD(sc.groupLrs.map((lr) => ({ params: [g.zeros([1], { requiresGrad: true })], lr })), { lr: sc.groupLrs[0]! });
        const sched = makeScheduler({ type: sc.type, options: sc.options }, opt);
        const got = [sched.getLastLr()];
        for (let e = 0; e < sc.epochs; e++) {
          opt.step();
          sched.step();
          got.push(sched.getLastLr());
        }
        got.forEach((lrs, e) => expectClose(lrs, sc.lrs[e]!, { atol: 1e-15, rtol: 1e-12 }, `${sc.name}: epoch ${e}`));
      });
    }
  });

  it('leaves a parameter whose grad is null untouched, with no state', async () => {
    const a = g.tensor([1, 2, 3, 4], undefined, { requiresGrad: true });
    const b = g.tensor([5, -6, 7], undefined, { requiresGrad: true });
    for (const opt of [new SGD([a, b], { lr: 0.1, momentum: 0.9, weightDecay: 0.1 }), new Adam([a, b], { lr: 0.1, weightDecay: 0.1 }), new AdamW([a, b], { lr: 0.1 })]) {
      for (let s = 0; s < 3; s++) {
        a.grad = g.tensor([0.5, 0.5, 0.5, 0.5]);
        b.grad = null;
        opt.step();
      }
      expect(await data(b)).toEqual([5, -6, 7]);
      const sd = opt.stateDict();
      expect(Object.keys(sd.state)).toEqual(['0']);
    }
    expect(await data(a)).not.toEqual([1, 2, 3, 4]);
  });

  it('updates each parameter with one dispatch and reads nothing back', async () => {
    const ps = [g.randn([7, 3], { requiresGrad: true }), g.randn([16], { requiresGrad: true }), g.randn([2], { requiresGrad: true })];
    for (const opt of [new SGD(ps, { lr: 0.1, momentum: 0.9, nesterov: true }), new Adam(ps, { amsgrad: true }), new AdamW(ps, {})]) {
      const setGrads = () => {
        ps[0]!.grad = g.onesLike(ps[0]!);
        ps[1]!.grad = g.onesLike(ps[1]!);
        ps[2]!.grad = null;
      };
      setGrads();
      opt.step(); // creates the state
      setGrads();
      const before = g.stats();
      opt.step();
      const after = g.stats();
      expect(after.dispatches - before.dispatches).toBe(2);
      expect(after.reads - before.reads).toBe(0);
      expect(after.writes - before.writes).toBe(0);
    }
  });

  it('trains with gradients from backward(), zeroGrad and a step inside tidy', async () => {
    const w = g.tensor([1, -2, 3, 0.5, 2], undefined, { requiresGrad: true });
    const x = g.tensor([0.5, 1, -1, 2, 0]);
    const opt = new SGD([w], { lr: 0.1, momentum: 0.5 });
    const ref = [1, -2, 3, 0.5, 2];
    const bufRef = [0, 0, 0, 0, 0];
    for (let s = 0; s < 4; s++) {
      opt.zeroGrad();
      expect(w.grad).toBeNull();
      g.tidy(() => {
        w.mul(x).sum().backward(); // dL/dw = x
        opt.step();
      });
      for (let i = 0; i < 5; i++) {
        const gx = [0.5, 1, -1, 2, 0][i]!;
        bufRef[i] = s === 0 ? gx : 0.5 * bufRef[i]! + gx;
        ref[i]! -= 0.1 * bufRef[i]!;
      }
    }
    expectClose(await data(w), ref, TOL, 'w');
    // zeroGrad(false) zeroes in place and keeps the tensor.
    const gr = w.grad!;
    opt.zeroGrad(false);
    expect(w.grad).toBe(gr);
    expect(await data(gr)).toEqual([0, 0, 0, 0, 0]);
    // The momentum buffer survived the tidy scopes.
    expectClose(await data(opt.stateDict().state[0]!.momentum_buffer as Tensor), bufRef, TOL, 'momentum_buffer');
  });

  it('uses changed group options (lr = 0 freezes a group)', async () => {
    const a = g.tensor([1, 2], undefined, { requiresGrad: true });
    const b = g.tensor([3, 4], undefined, { requiresGrad: true });
    const opt = new Adam([{ params: [a] }, { params: [b], lr: 0.5 }], { lr: 0.1 });
    expect(opt.paramGroups.map((x) => x.lr)).toEqual([0.1, 0.5]);
    expect(opt.paramGroups[1]!.betas).toEqual([0.9, 0.999]);
    opt.paramGroups[0]!.lr = 0;
    a.grad = g.tensor([1, 1]);
    b.grad = g.tensor([1, 1]);
    opt.step();
    expect(await data(a)).toEqual([1, 2]);
    expectClose(await data(b), [2.5, 3.5], TOL, 'b');
  });

  describe('stateDict / loadStateDict', () => {
    const rounds = (kind: Kind, defaults: Options) => async () => {
      const c = mk(`round trip ${kind}`, kind, defaults, {
        groups: [{ params: [0, 2], options: {} }, { params: [1, 3], options: { lr: (defaults.lr as number) * 2 } }],
      });
      const mkParams = (vs: number[][]) => vs.map((v, k) => g.tensor(f32(v), c.params[k]!.shape, { requiresGrad: true }));
      const mkOpt = (ps: Tensor[], d: Options) => makeOptimizer(kind, [{ params: [ps[0]!, ps[2]!] }, { params: [ps[1]!, ps[3]!], lr: (d.lr as number) * 2 }], d);
      const setGrads = (ps: Tensor[], s: number) => c.grads[s]!.forEach((gv, k) => (ps[k]!.grad = gv ? g.tensor(f32(gv), c.params[k]!.shape) : null));
      const A = mkParams(c.params.map((p) => p.init));
      const optA = mkOpt(A, defaults);
      for (let s = 0; s < 3; s++) {
        setGrads(A, s);
        optA.step();
      }
      const sd = optA.stateDict();
      expect(sd.paramGroups.map((x) => x.params)).toEqual([[0, 1], [2, 3]]);
      const snapshot = await Promise.all(Object.values(sd.state).flatMap((st) => Object.values(st).map((v) => (typeof v === 'number' ? v : data(v)))));
      // A second optimizer over copies of the parameters, made with other options: loading restores them.
      const B = mkParams(await Promise.all(A.map(data)));
      const optB = mkOpt(B, { ...defaults, lr: 0.123 });
      optB.loadStateDict(sd);
      expect(optB.paramGroups.map((x) => x.lr)).toEqual(optA.paramGroups.map((x) => x.lr));
      for (let s = 3; s < STEPS; s++) {
        setGrads(A, s);
        setGrads(B, s);
        optA.step();
        optB.step();
      }
      for (let k = 0; k < A.length; k++) expect(await data(B[k]!), `param ${k}`).toEqual(await data(A[k]!));
      expectTrajectory([await Promise.all(A.map(data))], [reference(c)[STEPS - 1]!], 'continued trajectory');
      // The state dict is a snapshot: later steps did not change it.
      const again = await Promise.all(Object.values(sd.state).flatMap((st) => Object.values(st).map((v) => (typeof v === 'number' ? v : data(v)))));
      expect(again).toEqual(snapshot);
    };
    it('SGD with momentum continues the trajectory identically', rounds('SGD', { lr: 0.05, momentum: 0.9, dampening: 0.1 }));
    it('Adam (amsgrad) continues the trajectory identically', rounds('Adam', { lr: 0.01, amsgrad: true, weightDecay: 0.01 }));
    it('AdamW continues the trajectory identically', rounds('AdamW', { lr: 0.01 }));

    it('validates before changing anything', async () => {
      const p = g.tensor([1, 2, 3], undefined, { requiresGrad: true });
      const q = g.tensor([4, 5], undefined, { requiresGrad: true });
      const opt = new Adam([p, q], { lr: 0.1 });
      p.grad = g.tensor([1, 1, 1]);
      q.grad = g.tensor([1, 1]);
      opt.step();
      const sd = opt.stateDict();
      const other = new Adam([p, q], { lr: 0.1 });
      const st0 = sd.state[0]!;
      const bad = (patch: (s: typeof sd) => void) => {
        const c = { state: { 0: { ...sd.state[0]! }, 1: { ...sd.state[1]! } } as typeof sd.state, paramGroups: sd.paramGroups.map((x) => ({ ...x, params: [...x.params] })) };
        patch(c);
        return c;
      };
      expect(() => other.loadStateDict(bad((c) => c.paramGroups.push({ ...c.paramGroups[0]! })))).toThrow(g.ValueError);
      expect(() => other.loadStateDict(bad((c) => c.paramGroups[0]!.params.pop()))).toThrow(/parameter group 0 has 1 parameter/);
      expect(() => other.loadStateDict(bad((c) => (c.state[0]!.exp_avg = g.zeros([4]))))).toThrow(g.ShapeError);
      expect(() => other.loadStateDict(bad((c) => (c.state[0]!.exp_avg = g.zeros([4]))))).toThrow(/'exp_avg' of parameter 0 has shape \[4\], the parameter has shape \[3\]/);
      expect(() => other.loadStateDict(bad((c) => delete c.state[1]!.exp_avg_sq))).toThrow(/lacks 'exp_avg_sq'/);
      expect(() => other.loadStateDict(bad((c) => (c.state[0]!.step = 1.5)))).toThrow(/non-negative integer/);
      expect(() => other.loadStateDict(bad((c) => (c.state[0]!.momentum_buffer = g.zeros([3]))))).toThrow(/unexpected state 'momentum_buffer'/);
      expect(() => other.loadStateDict(bad((c) => (c.state[5] = { ...st0 })))).toThrow(/index 5/);
      expect(() => other.loadStateDict(bad((c) => (c.paramGroups[0]!.lr = -1)))).toThrow(/invalid learning rate/);
      expect(() => other.loadStateDict(bad((c) => (c.state[0]!.exp_avg = g.zeros([3], { dtype: 'int32' }))))).toThrow(g.DTypeError);
      // Nothing was loaded: the first step of `other` is a first step.
      expect(other.stateDict().state).toEqual({});
      expect(other.paramGroups[0]!.lr).toBe(0.1);
      // SGD: momentum buffers are required where momentum is on.
      const s1 = new SGD([p], { lr: 0.1, momentum: 0.9 });
      expect(() => s1.loadStateDict({ state: { 0: {} }, paramGroups: [{ lr: 0.1, momentum: 0.9, dampening: 0, weightDecay: 0, nesterov: false, maximize: false, params: [0] }] })).toThrow(/lacks 'momentum_buffer'/);
    });
  });

  describe('schedulers', () => {
    const twoGroups = (lrs: number[]) => new SGD(lrs.map((lr) => ({ params: [g.zeros([2], { requiresGrad: true })], lr })), { lr: 1 });

    it('StepLR follows base·gamma^⌊epoch/stepSize⌋', () => {
      const opt = twoGroups([0.1, 0.02]);
      const s = new StepLR(opt, { stepSize: 3, gamma: 0.1 });
      expect(s.lastEpoch).toBe(0);
      expect(s.baseLrs).toEqual([0.1, 0.02]);
      expect(opt.paramGroups.map((x) => x.initialLr)).toEqual([0.1, 0.02]);
      for (let e = 0; e <= 12; e++) {
        if (e > 0) s.step();
        expect(s.lastEpoch).toBe(e);
        const want = [0.1, 0.02].map((b) => b * 0.1 ** Math.floor(e / 3));
        expectClose(s.getLastLr(), want, { atol: 0, rtol: 1e-12 }, `epoch ${e}`);
        expectClose(opt.paramGroups.map((x) => x.lr), want, { atol: 0, rtol: 1e-12 }, `group lr at epoch ${e}`);
      }
      const d = new StepLR(twoGroups([1]), { stepSize: 1 });
      d.step();
      expectClose(d.getLastLr(), [0.1], { atol: 0, rtol: 1e-12 }, 'default gamma');
    });

    it('CosineAnnealingLR follows etaMin + (base − etaMin)(1 + cos(π·t/tMax))/2, past tMax too', () => {
      const opt = twoGroups([0.1, 0.02]);
      const s = new CosineAnnealingLR(opt, { tMax: 5, etaMin: 0.001 });
      for (let e = 0; e <= 14; e++) {
        if (e > 0) s.step();
        const want = [0.1, 0.02].map((b) => 0.001 + ((b - 0.001) * (1 + Math.cos((Math.PI * e) / 5))) / 2);
        expectClose(s.getLastLr(), want, { atol: 1e-16, rtol: 1e-12 }, `epoch ${e}`);
        expectClose(opt.paramGroups.map((x) => x.lr), want, { atol: 1e-16, rtol: 1e-12 }, `group lr at epoch ${e}`);
      }
      const z = new CosineAnnealingLR(twoGroups([0.05]), { tMax: 10 });
      for (let e = 0; e < 10; e++) z.step();
      expect(z.getLastLr()[0]).toBeCloseTo(0, 15);
    });

    it('stateDict / loadStateDict resume the schedule', () => {
      for (const make of [(o: Optimizer<any>) => new StepLR(o, { stepSize: 2, gamma: 0.5 }), (o: Optimizer<any>) => new CosineAnnealingLR(o, { tMax: 6, etaMin: 0.01 })]) {
        const o1 = twoGroups([0.1, 0.3]);
        const s1 = make(o1);
        for (let e = 0; e < 4; e++) s1.step();
        const o2 = twoGroups([0.1, 0.3]);
        const s2 = make(o2);
        o2.loadStateDict(o1.stateDict());
        s2.loadStateDict(s1.stateDict());
        expect(s2.lastEpoch).toBe(4);
        expect(s2.getLastLr()).toEqual(s1.getLastLr());
        for (let e = 0; e < 5; e++) {
          s1.step();
          s2.step();
          expect(s2.getLastLr()).toEqual(s1.getLastLr());
          expect(o2.paramGroups.map((x) => x.lr)).toEqual(o1.paramGroups.map((x) => x.lr));
        }
      }
    });

    it('rejects bad options and a resume without initialLr', () => {
      expect(() => new StepLR(twoGroups([0.1]), { stepSize: 0 })).toThrow(g.ValueError);
      expect(() => new StepLR(twoGroups([0.1]), { stepSize: 1.5 })).toThrow(/stepSize must be a positive integer/);
      expect(() => new CosineAnnealingLR(twoGroups([0.1]), { tMax: 0 })).toThrow(/tMax must be a positive number/);
      expect(() => new CosineAnnealingLR(twoGroups([0.1]), { tMax: 5, lastEpoch: 3 })).toThrow(/initialLr/);
      expect(() => new StepLR(twoGroups([0.1]), { stepSize: 2 }).loadStateDict({ lastEpoch: 1, baseLrs: [1, 2], lastLr: [1] })).toThrow(/one per param group/);
      const one = new StepLR(twoGroups([0.1]), { stepSize: 2 });
      expect(() => one.loadStateDict({ lastEpoch: 1, baseLrs: [NaN], lastLr: [1] })).toThrow("StepLR.loadStateDict: 'baseLrs' must be 1 finite non-negative number(s), one per param group, got [NaN]");
      expect(() => one.loadStateDict({ lastEpoch: 1, baseLrs: [1], lastLr: [Infinity] })).toThrow(/'lastLr' must be 1 finite/);
    });
  });

  describe('constructor errors', () => {
    const p = () => g.tensor([1, 2], undefined, { requiresGrad: true });
    it('rejects invalid options with PyTorch\'s conditions', () => {
      expect(() => new SGD([p()], { lr: -0.1 })).toThrow(g.ValueError);
      expect(() => new SGD([p()], { lr: -0.1 })).toThrow(/invalid learning rate: -0.1/);
      expect(() => new SGD([p()], { lr: 0.1, momentum: -0.5 })).toThrow(/invalid momentum value/);
      expect(() => new SGD([p()], { lr: 0.1, weightDecay: -1 })).toThrow(/invalid weightDecay value/);
      expect(() => new SGD([p()], { lr: 0.1, nesterov: true })).toThrow(/Nesterov momentum requires a momentum and zero dampening/);
      expect(() => new SGD([p()], { lr: 0.1, nesterov: true, momentum: 0.9, dampening: 0.1 })).toThrow(/Nesterov/);
      expect(() => new SGD([p()], { lr: 0, nesterov: true, momentum: 0.9 })).not.toThrow();
      expect(() => new SGD([{ params: [p()], lr: -1 }], { lr: 0.1 })).toThrow(/parameter group 0: invalid learning rate/);
      for (const A of [Adam, AdamW]) {
        expect(() => new A([p()], { lr: -1e-3 })).toThrow(/invalid learning rate/);
        expect(() => new A([p()], { eps: -1e-8 })).toThrow(/invalid epsilon value/);
        expect(() => new A([p()], { betas: [1, 0.999] })).toThrow(/invalid beta parameter at index 0: 1/);
        expect(() => new A([p()], { betas: [-0.1, 0.999] })).toThrow(/index 0/);
        expect(() => new A([p()], { betas: [0.9, 1] })).toThrow(/invalid beta parameter at index 1: 1/);
        expect(() => new A([p()], { weightDecay: -0.1 })).toThrow(/invalid weightDecay value/);
        expect(() => new A([p()], { betas: [0, 0], eps: 0, lr: 0, weightDecay: 0 })).not.toThrow();
        expect(() => new A([{ params: [p()], betas: [0.9, 1.5] }])).toThrow(/parameter group 0: invalid beta parameter at index 1/);
      }
    });

    it('rejects bad parameters, naming their index', () => {
      const a = p();
      expect(() => new SGD([a, g.tensor([1, 2], undefined, { dtype: 'int32' })], { lr: 0.1 })).toThrow(g.DTypeError);
      expect(() => new SGD([a, g.tensor([1, 2], undefined, { dtype: 'int32' })], { lr: 0.1 })).toThrow(/param 1 .*int32/);
      expect(() => new Adam([{ params: [a] }, { params: [p(), g.tensor([1])] }])).toThrow(/param 2 \(group 1, position 1\) does not require grad/);
      expect(() => new SGD([a, a.mul(2)], { lr: 0.1 })).toThrow(/param 1 .*not a leaf/);
      expect(() => new SGD([a, a], { lr: 0.1 })).toThrow(/param 1 .*more than once/);
      expect(() => new SGD([], { lr: 0.1 })).toThrow(/empty parameter list/);
      expect(() => new SGD(a as any, { lr: 0.1 })).toThrow(/single Tensor/);
      expect(() => new SGD([a, 3] as any, { lr: 0.1 })).toThrow(/param 1 .*not a Tensor/);
      expect(() => new Adam([{ params: [a] }, a] as any)).toThrow(/mixes Tensors and parameter groups/);
    });
  });
});

describe.each(BACKENDS)('optimizer state in a checkpoint [%s]', (backend) => {
  useBackend(backend);
  it('resuming from a saved model + AdamW state continues exactly as an uninterrupted run', async () => {
    const nnMod = await import('../src/nn/index.js');
    const { AdamW, optimizerStateToTensors, optimizerStateFromTensors } = await import('../src/optim/index.js');
    const make = () => {
      g.manualSeed(11);
      const net = new nnMod.Sequential(new nnMod.Linear(5, 4), new nnMod.ReLU(), new nnMod.Linear(4, 3));
      return { net, opt: new AdamW(net.parameters(), { lr: 0.01 }) };
    };
    g.manualSeed(12);
    const xs = Array.from({ length: 6 }, () => g.randn([8, 5]));
    const y = g.tensor(new Int32Array([0, 1, 2, 0, 1, 2, 0, 1]));
    const step = (m: ReturnType<typeof make>, x: Tensor) => {
      m.opt.zeroGrad();
      new nnMod.CrossEntropyLoss().forward(m.net.forward(x), y).backward();
      m.opt.step();
    };
    const a = make();
    for (const x of xs) step(a, x);
    const b = make();
    for (const x of xs.slice(0, 3)) step(b, x);
    const path = `/tmp/grilly-optim-${process.pid}-${backend}.safetensors`;
    const o = optimizerStateToTensors(b.opt.stateDict());
    await g.save(path, { ...b.net.stateDict(), ...o.tensors }, o.metadata);
    const c = make();
    const { tensors, metadata } = await g.load(path);
    const modelPart = Object.fromEntries(Object.entries(tensors).filter(([k]) => !k.startsWith('optimizer.')));
    c.net.loadStateDict(modelPart);
    c.opt.loadStateDict(optimizerStateFromTensors(tensors, metadata));
    for (const x of xs.slice(3)) step(c, x);
    const pa = await Promise.all(a.net.parameters().map((p) => p.data()));
    const pc = await Promise.all(c.net.parameters().map((p) => p.data()));
    pa.forEach((v, i) => expect(Array.from(pc[i]!)).toEqual(Array.from(v)));
  });
});
