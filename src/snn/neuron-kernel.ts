// The fused multi-step neuron: one kernel runs all T steps of a neuron (an invocation per
// neuron, looping over t) and one kernel walks T backwards for BPTT. Both kernels, and the cpu
// loops, are generated from one list of statements whose expressions come from the neuron model
// (charge and its derivatives) and the surrogate (g′): the same arithmetic on both backends.
import type { CpuView, Kernel } from '../backend/types.js';
import { PRELUDE, WG, grid1d } from '../ops/kernel.js';
import { Expr, compileJs } from './expr.js';
import type { NeuronModel } from './models/model.js';
import type { SurrogateFunction } from './surrogate.js';

/** What a forward or backward kernel computes. */
export interface NeuronConfig {
  model: NeuronModel;
  hard: boolean;
  detachReset: boolean;
  surrogate: SurrogateFunction;
  /** k comes from a learnable w (1-element tensor input): k = sigmoid(w). */
  learnK: boolean;
}

export interface NeuronParams {
  cfg: NeuronConfig;
  T: number;
  N: number;
  vth: number;
  vr: number;
  tau: number;
  /** No V0 buffer: every neuron starts at vr (a fresh state: vReset, or 0 for soft reset). */
  v0Const?: boolean;
  // forward
  saveH?: boolean;
  storeV?: boolean;
  // backward
  hasGS?: boolean;
  hasGV?: boolean;
  hasGVL?: boolean;
}

type Stmt =
  | { let: string; e: string }
  | { set: string; e: string }
  | { load: string; buf: string; at: 't' | 'n' | 'first' }
  | { loadPrev: string; buf: string }
  | { store: string; at: 't' | 'n'; e: string };

// Fire and reset, shared by every model. The hard reset selects (equal to h·(1 − s) + vr·s for finite
// h): an infinite h resets to vr on both backends, where the product form gives NaN on one and 0 on the other.
const RESET_HARD = 'sel(s, vr, h)';
const RESET_SOFT = 'h - vth * s';

/** Buffers bound (in order: inputs, then outputs) and statements, for a forward kernel. */
function forwardPlan(p: NeuronParams): { inputs: string[]; outputs: string[]; pre: Stmt[]; body: Stmt[]; post: Stmt[] } {
  const c = p.cfg;
  const inputs = ['X', ...(p.v0Const ? [] : ['V0']), ...(c.learnK ? ['W'] : [])];
  const outputs = ['S', ...(p.saveH ? ['H'] : []), ...(p.storeV ? ['VS'] : []), 'VL'];
  const pre: Stmt[] = [p.v0Const ? { let: 'v', e: 'vr' } : { load: 'v', buf: 'V0', at: 'n' }];
  if (c.learnK) pre.push({ load: 'w', buf: 'W', at: 'first' }, { let: 'k', e: '1 / (1 + exp(-w))' });
  const body: Stmt[] = [
    { load: 'x', buf: 'X', at: 't' },
    { let: 'h', e: c.model.charge },
    { let: 's', e: 'ge(h, vth)' },
    { store: 'S', at: 't', e: 's' },
  ];
  if (p.saveH) body.push({ store: 'H', at: 't', e: 'h' });
  body.push({ set: 'v', e: c.hard ? RESET_HARD : RESET_SOFT });
  if (p.storeV) body.push({ store: 'VS', at: 't', e: 'v' });
  return { inputs, outputs, pre, body, post: [{ store: 'VL', at: 'n', e: 'v' }] };
}

/** The same for the BPTT kernel, walking t from T−1 down to 0. */
function backwardPlan(p: NeuronParams): { inputs: string[]; outputs: string[]; pre: Stmt[]; body: Stmt[]; post: Stmt[] } {
  const c = p.cfg;
  const derivs = [c.model.dHdV, c.model.dHdX, ...(c.learnK && c.model.dHdK ? [c.model.dHdK] : [])].map((s) => Expr.parse(s));
  const usesV = derivs.some((d) => d.vars().has('v'));
  const usesX = derivs.some((d) => d.vars().has('x'));
  const inputs = ['H', ...(usesV && !p.v0Const ? ['V0'] : []), ...(usesX ? ['X'] : []), ...(p.hasGS ? ['GS'] : []), ...(p.hasGV ? ['GV'] : []), ...(p.hasGVL ? ['GVL'] : []), ...(c.learnK ? ['W'] : [])];
  // A constant start has no gradient to give.
  const outputs = ['GX', ...(p.v0Const ? [] : ['GV0']), ...(c.learnK ? ['GK'] : [])];
  const pre: Stmt[] = [];
  pre.push(p.hasGVL ? { load: 'gv', buf: 'GVL', at: 'n' } : { let: 'gv', e: '0' });
  // gv is carried across steps: declare it mutable by re-setting it.
  pre.push({ set: 'gv', e: 'gv' });
  if (c.learnK) pre.push({ load: 'w', buf: 'W', at: 'first' }, { let: 'k', e: '1 / (1 + exp(-w))' }, { let: 'gk', e: '0' }, { set: 'gk', e: 'gk' });
  if (usesV) pre.push(p.v0Const ? { let: 'v0', e: 'vr' } : { load: 'v0', buf: 'V0', at: 'n' });
  const sg = c.surrogate.gradient_.source;
  const body: Stmt[] = [{ load: 'h', buf: 'H', at: 't' }];
  if (usesV) {
    // V before this step's charge: the previous step's reset output, or the initial state.
    body.push({ loadPrev: 'hp', buf: 'H' }, { let: 'sp', e: 'ge(hp, vth)' });
    body.push({ let: 'v', e: `sel(first, v0, ${(c.hard ? RESET_HARD : RESET_SOFT).replace(/\bh\b/g, 'hp').replace(/\bs\b/g, 'sp')})` });
  }
  if (usesX) body.push({ load: 'x', buf: 'X', at: 't' });
  body.push({ let: 's', e: 'ge(h, vth)' });
  body.push({ let: 'sg', e: `(${sg.replace(/\bx\b/g, 'xs')})`.replace(/\bxs\b/g, '(h - vth)') });
  const dvdh = c.hard ? (c.detachReset ? '1 - s' : '1 - s + (vr - h) * sg') : c.detachReset ? '1' : '1 - vth * sg';
  body.push({ let: 'dvdh', e: dvdh });
  const gvt = p.hasGV ? 'gv + gvs' : 'gv';
  if (p.hasGV) body.push({ load: 'gvs', buf: 'GV', at: 't' });
  if (p.hasGS) body.push({ load: 'gs', buf: 'GS', at: 't' });
  body.push({ let: 'gh', e: p.hasGS ? `gs * sg + (${gvt}) * dvdh` : `(${gvt}) * dvdh` });
  body.push({ store: 'GX', at: 't', e: `gh * (${c.model.dHdX})` });
  if (c.learnK) body.push({ set: 'gk', e: `gk + gh * (${c.model.dHdK})` });
  body.push({ set: 'gv', e: `gh * (${c.model.dHdV})` });
  const post: Stmt[] = p.v0Const ? [] : [{ store: 'GV0', at: 'n', e: 'gv' }];
  if (c.learnK) post.push({ store: 'GK', at: 'n', e: 'gk' });
  return { inputs, outputs, pre, body, post };
}

// Uniform words: 0 T, 1 N, 2 vth, 3 vr, 4 tau, 5 alpha.
const CONSTS: Record<string, string> = { vth: 'pf(2u)', vr: 'pf(3u)', tau: 'pf(4u)', alpha: 'pf(5u)' };

function wgslOf(plan: ReturnType<typeof forwardPlan>, backward: boolean, vec: boolean): string {
  // With vec, each invocation runs four adjacent neurons as vec4<f32> (N % 4 == 0): per-step
  // buffers are bound as arrays of vec4 and indexed in quads. Buffers read once at 'first' (a
  // learnable w) stay scalar.
  const F = vec ? 'vec4<f32>' : 'f32';
  const scalarBufs = new Set(plan.pre.concat(plan.body).filter((s): s is { load: string; buf: string; at: 'first' } => 'load' in s && s.at === 'first').map((s) => s.buf));
  const bufT = (b: string) => (scalarBufs.has(b) ? 'f32' : F);
  const decls = [...plan.inputs.map((b, i) => `@group(0) @binding(${1 + i}) var<storage, read> ${b}: array<${bufT(b)}>;`), ...plan.outputs.map((b, i) => `@group(0) @binding(${1 + plan.inputs.length + i}) var<storage, read_write> ${b}: array<${bufT(b)}>;`)];
  const mutable = new Set(plan.pre.concat(plan.body).filter((s): s is { set: string; e: string } => 'set' in s).map((s) => s.set));
  const declared = new Set<string>();
  const expr = (e: string) => {
    const w = Expr.parse(e).wgsl(CONSTS, vec);
    return vec ? `vec4<f32>(${w})` : w;
  };
  // Indices in elements (scalar) or quads (vec): t * N + n, with N and n counted in the same unit.
  const emit = (st: Stmt): string => {
    if ('let' in st) {
      declared.add(st.let);
      return `${mutable.has(st.let) ? 'var' : 'let'} ${st.let}: ${F} = ${expr(st.e)};`;
    }
    if ('set' in st) {
      if (!declared.has(st.set)) {
        declared.add(st.set);
        return `var ${st.set}: ${F} = ${expr(st.e)};`;
      }
      return st.e === st.set ? '' : `${st.set} = ${expr(st.e)};`;
    }
    if ('load' in st) {
      declared.add(st.load);
      const at = st.at === 't' ? 't * N + n' : st.at === 'n' ? 'n' : '0u';
      const v = st.at === 'first' && vec ? `vec4<f32>(${st.buf}[${at}])` : `${st.buf}[${at}]`;
      return `${mutable.has(st.load) ? 'var' : 'let'} ${st.load}: ${F} = ${v};`;
    }
    if ('loadPrev' in st) return `let ${st.loadPrev}: ${F} = ${st.buf}[max(t, 1u) * N + n - N];\n    let first: f32 = select(0.0, 1.0, t == 0u);`;
    return `${st.store}[${st.at === 't' ? 't * N + n' : 'n'}] = ${expr(st.e)};`;
  };
  const loop = backward ? 'for (var i = 0u; i < T; i++) {\n    let t = T - 1u - i;' : 'for (var t = 0u; t < T; t++) {';
  // Per-step loads are fetched one step ahead, so each thread keeps a load in flight while it
  // computes (the kernels are bound by memory latency as much as by bandwidth).
  const ahead = neuronTuning.prefetch ? plan.body.filter((st): st is { load: string; buf: string; at: 't' } => 'load' in st && st.at === 't') : [];
  const first = backward ? 'T - 1u' : '0u', next = backward ? 't - 1u' : 't + 1u', more = backward ? 't > 0u' : 't + 1u < T';
  const prefetch = ahead.map((st) => `var pf_${st.load}: ${F} = ${F}(0.0);\n  if (T > 0u) { pf_${st.load} = ${st.buf}[(${first}) * N + n]; }`).join('\n  ');
  const emitBody = (st: Stmt): string => {
    if ('load' in st && st.at === 't' && ahead.includes(st as never)) {
      declared.add(st.load);
      return `${mutable.has(st.load) ? 'var' : 'let'} ${st.load}: ${F} = pf_${st.load};\n    if (${more}) { pf_${st.load} = ${st.buf}[(${next}) * N + n]; }`;
    }
    return emit(st);
  };
  return `${PRELUDE}${decls.join('\n')}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let n = gid.x + gid.y * nwg.x * ${WG}u;
  let T = pu(0u);
  let N = pu(1u)${vec ? ' / 4u' : ''};
  if (n >= N) { return; }
  ${plan.pre.map(emit).filter(Boolean).join('\n  ')}
  ${prefetch}
  ${loop}
    ${plan.body.map(emitBody).filter(Boolean).join('\n    ')}
  }
  ${plan.post.map(emit).filter(Boolean).join('\n  ')}
}`;
}

/** @internal Benchmarks toggle it (GRILLY_NEURON_PREFETCH=0 turns it off). */
export const neuronTuning = {
  prefetch: typeof process === 'undefined' || process.env?.GRILLY_NEURON_PREFETCH !== '0',
  /** Four neurons per invocation as vec4 when N % 4 == 0 (GRILLY_NEURON_VEC4=0 turns it off). */
  vec4: typeof process === 'undefined' || process.env?.GRILLY_NEURON_VEC4 !== '0',
};

const useVec4 = (p: NeuronParams) => neuronTuning.vec4 && p.N % 4 === 0;

type CpuFn = (bufs: Record<string, Float32Array>, T: number, N: number, vth: number, vr: number, tau: number, alpha: number) => void;

function jsOf(plan: ReturnType<typeof forwardPlan>, backward: boolean): CpuFn {
  const emit = (st: Stmt): string => {
    if ('let' in st) return `let ${st.let} = ${Expr.parse(st.e).js()};`;
    if ('set' in st) return st.e === st.set ? '' : `${st.set} = ${Expr.parse(st.e).js()};`;
    if ('load' in st) {
      const at = st.at === 't' ? 't * N + n' : st.at === 'n' ? 'n' : '0';
      return `let ${st.load} = ${st.buf}[${at}];`;
    }
    if ('loadPrev' in st) return `const ${st.loadPrev} = t > 0 ? ${st.buf}[(t - 1) * N + n] : 0; const first = t === 0 ? 1 : 0;`;
    return `${st.store}[${st.at === 't' ? 't * N + n' : 'n'}] = ${Expr.parse(st.e).js()};`;
  };
  const bufs = [...plan.inputs, ...plan.outputs];
  const loop = backward ? 'for (let t = T - 1; t >= 0; t--) {' : 'for (let t = 0; t < T; t++) {';
  const src = `const { ${bufs.join(', ')} } = bufs;
vth = F(vth); vr = F(vr); tau = F(tau); alpha = F(alpha);
for (let n = 0; n < N; n++) {
  ${plan.pre.map(emit).filter(Boolean).join('\n  ')}
  ${loop}
    ${plan.body.map(emit).filter(Boolean).join('\n    ')}
  }
  ${plan.post.map(emit).filter(Boolean).join('\n  ')}
}`;
  return compileJs<CpuFn>(['bufs', 'T', 'N', 'vth', 'vr', 'tau', 'alpha'], src);
}

function variantKey(p: NeuronParams, backward: boolean): string {
  const c = p.cfg;
  const common = `${c.model.name}|${c.hard ? 'hard' : 'soft'}|${c.learnK ? 'k' : ''}${neuronTuning.prefetch ? '' : '|np'}${useVec4(p) ? '|v4' : ''}${p.v0Const ? '|v0c' : ''}`;
  return backward
    ? `${common}|${c.detachReset ? 'detach' : ''}|${c.surrogate.constructor.name}|${+!!p.hasGS}${+!!p.hasGV}${+!!p.hasGVL}`
    : `${common}|${+!!p.saveH}${+!!p.storeV}`;
}

const jsCache = new Map<string, CpuFn>();

function makeKernel(backward: boolean): Kernel<NeuronParams> {
  const plan = (p: NeuronParams) => (backward ? backwardPlan(p) : forwardPlan(p));
  return {
    name: backward ? 'neuron.backward' : 'neuron.forward',
    key: (p) => variantKey(p, backward),
    readsOutputs: false,
    cpu: (ins: CpuView[], outs: CpuView[], p) => {
      const key = variantKey(p, backward);
      const pl = buffersOf(p, backward);
      let fn = jsCache.get((backward ? 'b|' : 'f|') + key);
      if (!fn) jsCache.set((backward ? 'b|' : 'f|') + key, (fn = jsOf(plan(p), backward)));
      const bufs: Record<string, Float32Array> = {};
      pl.inputs.forEach((b, i) => (bufs[b] = ins[i]!.f32));
      pl.outputs.forEach((b, i) => (bufs[b] = outs[i]!.f32));
      fn(bufs, p.T, p.N, p.vth, p.vr, p.tau, p.cfg.surrogate.alpha);
    },
    wgsl: (p) => wgslOf(plan(p), backward, useVec4(p)),
    grid: (p) => grid1d(useVec4(p) ? p.N / 4 : p.N),
    uniforms: (p, u) => void u.u32(p.T).u32(p.N).f32(p.vth).f32(p.vr).f32(p.tau).f32(p.cfg.surrogate.alpha),
  };
}

export const neuronForwardKernel = makeKernel(false);
export const neuronBackwardKernel = makeKernel(true);

// Plans depend only on the variant; parsing their expressions costs more than a dispatch.
const bufferCache = new Map<string, { inputs: string[]; outputs: string[] }>();
function buffersOf(p: NeuronParams, backward: boolean): { inputs: string[]; outputs: string[] } {
  const key = (backward ? 'b|' : 'f|') + variantKey(p, backward);
  let b = bufferCache.get(key);
  if (!b) {
    const { inputs, outputs } = backward ? backwardPlan(p) : forwardPlan(p);
    bufferCache.set(key, (b = { inputs, outputs }));
  }
  return b;
}

/** The buffers each kernel binds, in order (for the op that launches it). */
export function forwardBuffers(p: NeuronParams): { inputs: string[]; outputs: string[] } {
  return buffersOf(p, false);
}
export function backwardBuffers(p: NeuronParams): { inputs: string[]; outputs: string[] } {
  return buffersOf(p, true);
}
