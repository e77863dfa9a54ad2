// The functional side of the SNN API: resetting and switching step modes across a network, and
// single-step neuron functions.
import { DTypeError, ValueError } from '../errors.js';
import { Tensor } from '../tensor/tensor.js';
import type { Module } from '../nn/module.js';
import { BaseNode, checkNeuronOptions, isStateful, type StepMode } from './node.js';
import { ATan, type SurrogateFunction } from './surrogate.js';
import { neuronMultiStep } from './neuron-op.js';
import { IF } from './models/if.js';
import { LIF, LIFDecayInput } from './models/lif.js';
import { reshape } from '../ops/view.js';

/** Resets the state of every stateful module in net (neurons' membrane potentials). */
export function resetNet(net: Module): void {
  if (typeof (net as Module | null)?.modules !== 'function') throw new ValueError(`resetNet: expected a Module, got ${net === null ? 'null' : typeof net}`);
  for (const m of net.modules()) if (isStateful(m)) m.reset();
}

/** Sets the step mode of every spiking neuron in net. */
export function setStepMode(net: Module, mode: StepMode): void {
  if (mode !== 's' && mode !== 'm') throw new ValueError(`setStepMode: mode must be 's' or 'm', got ${JSON.stringify(mode)}`);
  if (typeof (net as Module | null)?.modules !== 'function') throw new ValueError(`setStepMode: expected a Module, got ${net === null ? 'null' : typeof net}`);
  for (const m of net.modules()) if (m instanceof BaseNode) m.stepMode = mode;
}

export interface StepOptions {
  vThreshold?: number;
  vReset?: number | null;
  surrogateFunction?: SurrogateFunction;
  detachReset?: boolean;
}

function step(x: Tensor, v: Tensor, model: typeof IF, tau: number, o: StepOptions, name: string): [Tensor, Tensor] {
  for (const [t, what] of [[x, 'input x'], [v, 'membrane potential v']] as const) {
    if (!(t instanceof Tensor)) throw new DTypeError(`${name}: expected a Tensor as ${what}, got ${t === null ? 'null' : typeof t}`);
    if (t.dtype !== 'float32') throw new DTypeError(`${name}: expected a float32 ${what}, got ${t.dtype}; cast with .float()`);
  }
  const vReset = o.vReset === undefined ? 0 : o.vReset;
  checkNeuronOptions(name, o.vThreshold ?? 1, vReset, o.surrogateFunction ?? new ATan());
  const out = neuronMultiStep(
    reshape(x, [1, ...x.shape]),
    v,
    { model, hard: vReset !== null, detachReset: o.detachReset ?? false, surrogate: o.surrogateFunction ?? new ATan(), learnK: false },
    { vth: o.vThreshold ?? 1, vReset, tau, storeV: false },
    name,
  );
  return [reshape(out.spikes, x.shape), out.vLast];
}

/** One LIF step from membrane potential v: returns [spike, vNext]. */
export function lifStep(x: Tensor, v: Tensor, opts: StepOptions & { tau?: number; decayInput?: boolean } = {}): [Tensor, Tensor] {
  const tau = opts.tau ?? 2;
  if (!(tau > 1)) throw new ValueError(`lifStep: tau must be > 1, got ${tau}`);
  return step(x, v, opts.decayInput ? LIFDecayInput : LIF, tau, opts, 'lifStep');
}

/** One IF step from membrane potential v: returns [spike, vNext]. */
export function ifStep(x: Tensor, v: Tensor, opts: StepOptions = {}): [Tensor, Tensor] {
  return step(x, v, IF, 1, opts, 'ifStep');
}
