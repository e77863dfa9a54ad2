// Spiking neuron layers: IFNode, LIFNode, ParametricLIFNode. Single-step mode ('s') takes one
// step (N, …) per call and keeps the membrane state until reset; multi-step mode ('m') takes all
// steps (T, N, …) at once. Either way one call is one fused forward kernel (and one BPTT kernel
// going back), so single-step over T calls equals one multi-step call.
import { DTypeError, ShapeError, StateError, ValueError, fmtShape } from '../errors.js';
import { noGrad } from '../runtime.js';
import { Tensor } from '../tensor/tensor.js';
import { keep } from '../tensor/lifetime.js';
import { Module, Parameter } from '../nn/module.js';
import { filled, div, sigmoid } from '../ops/elementwise.js';
import { reshape } from '../ops/view.js';
import { ATan, SurrogateFunction } from './surrogate.js';
import { neuronMultiStep } from './neuron-op.js';
import type { NeuronModel } from './models/model.js';
import { IF } from './models/if.js';
import { LIF, LIFDecayInput } from './models/lif.js';
import { PLIF, PLIFDecayInput } from './models/plif.js';
import { pyNum } from '../nn/batchnorm.js';
import { debugCheckFinite } from './debug.js';

export type StepMode = 's' | 'm';

export interface BaseNodeOptions {
  vThreshold?: number;
  /** Hard reset to this voltage; null for soft reset (subtract the threshold). */
  vReset?: number | null;
  surrogateFunction?: SurrogateFunction;
  /** Cut the reset's dependence on the spike out of the gradient. */
  detachReset?: boolean;
  stepMode?: StepMode;
  /** In multi-step mode, keep V of every step in node.vSeq. */
  storeVSeq?: boolean;
}

/** Modules with state across time steps; resetNet() calls reset() on each. */
export interface Stateful {
  reset(): void;
}

export function isStateful(m: unknown): m is Stateful {
  return typeof (m as Stateful)?.reset === 'function';
}

/** The checks every neuron's options get (the node classes and the functional steps). */
export function checkNeuronOptions(name: string, vThreshold: number, vReset: number | null, surrogate: unknown): void {
  if (!Number.isFinite(vThreshold)) throw new ValueError(`${name}: vThreshold must be a finite number, got ${vThreshold}`);
  if (vReset !== null && !Number.isFinite(vReset)) throw new ValueError(`${name}: vReset must be a finite number or null (soft reset), got ${vReset}`);
  if (vReset !== null && vReset >= vThreshold) {
    throw new ValueError(`${name}: a hard reset needs vReset < vThreshold, got vReset ${vReset} and vThreshold ${vThreshold}`);
  }
  if (!(surrogate instanceof SurrogateFunction)) throw new ValueError(`${name}: surrogateFunction must be a surrogate (ATan, Sigmoid, …)`);
}

export abstract class BaseNode extends Module implements Stateful {
  readonly vThreshold: number;
  readonly vReset: number | null;
  readonly surrogateFunction: SurrogateFunction;
  readonly detachReset: boolean;
  storeVSeq: boolean;
  private _stepMode: StepMode = 's';
  private _v: Tensor | null = null;
  private _vSeq: Tensor | null = null;
  /** .v or .vSeq was handed out since the state last changed. */
  private _stateOut = false;

  constructor(opts: BaseNodeOptions) {
    super();
    const name = this.constructor.name;
    this.vThreshold = opts.vThreshold ?? 1;
    this.vReset = opts.vReset === undefined ? 0 : opts.vReset;
    this.surrogateFunction = opts.surrogateFunction ?? new ATan();
    this.detachReset = opts.detachReset ?? false;
    this.storeVSeq = opts.storeVSeq ?? false;
    this.stepMode = opts.stepMode ?? 's';
    checkNeuronOptions(name, this.vThreshold, this.vReset, this.surrogateFunction);
  }

  get stepMode(): StepMode {
    return this._stepMode;
  }
  set stepMode(m: StepMode) {
    if (m !== 's' && m !== 'm') throw new ValueError(`${this.constructor.name}: stepMode must be 's' or 'm', got ${JSON.stringify(m)}`);
    this._stepMode = m;
  }

  /** The membrane potential after the last step (null before the first call or after reset). */
  get v(): Tensor | null {
    this._stateOut = true;
    return this._v;
  }

  /** V after reset at every step of the last multi-step call (T, N, …), when storeVSeq is set. */
  get vSeq(): Tensor | null {
    this._stateOut = true;
    return this._vSeq;
  }

  /** Forgets the state: the next call starts from V = vReset (0 for soft reset). */
  reset(): void {
    this.dropState(this._v, this._vSeq);
    this._v = null;
    this._vSeq = null;
  }

  /**
   * Frees state the node replaces, at once (not at the next garbage collection: a LIF layer's
   * state is a whole activation) — unless the user read it through .v or .vSeq and may hold it.
   * The autograd graph keeps its own reference to what backward needs.
   */
  private dropState(...ts: (Tensor | null)[]): void {
    if (!this._stateOut) for (const t of ts) t?.dispose();
    this._stateOut = false;
  }

  /** The model, whether its decay is learnable, τ for fixed decays, and w for learnable ones. */
  protected abstract dynamics(): { model: NeuronModel; tau: number; w?: Tensor };

  forward(x: Tensor): Tensor {
    const name = this.constructor.name;
    if (!(x instanceof Tensor)) throw new DTypeError(`${name}: expected a Tensor input, got ${typeof x}`);
    if (x.dtype !== 'float32') throw new DTypeError(`${name}: expected a float32 input, got ${x.dtype}; cast with .float()`);
    debugCheckFinite(x, name);
    if (this._stepMode === 's') {
      const spikes = this.run(reshape(x, [1, ...x.shape]));
      return reshape(spikes, x.shape);
    }
    if (x.ndim < 2) throw new ShapeError(`${name}: multi-step mode expects input (T, N, …) with at least 2 dims, got ${fmtShape(x.shape)}`);
    return this.run(x);
  }

  private run(xSeq: Tensor): Tensor {
    const name = this.constructor.name;
    const rest = xSeq.shape.slice(1);
    const prev = this._v;
    if (prev && (prev.ndim !== rest.length || prev.shape.some((d, i) => d !== rest[i]))) {
      throw new StateError(`${name}: the input step shape ${fmtShape(rest)} differs from the state's ${fmtShape(prev.shape)}; call resetNet(net) before changing the batch or input size`);
    }
    const d = this.dynamics();
    const out = neuronMultiStep(
      xSeq,
      prev, // null: a fresh state, which the kernel starts at vReset without a buffer
      { model: d.model, hard: this.vReset !== null, detachReset: this.detachReset, surrogate: this.surrogateFunction, learnK: !!d.w },
      { vth: this.vThreshold, vReset: this.vReset, tau: d.tau, w: d.w, storeV: this._stepMode === 'm' && this.storeVSeq },
      name,
    );
    // The state belongs to the node, not to a tidy() scope the call happens in.
    this.dropState(prev, this._vSeq);
    this._v = keep(out.vLast);
    this._vSeq = out.vSeq ? keep(out.vSeq) : null;
    return out.spikes;
  }

  override extraRepr(): string {
    return `v_threshold=${pyNum(this.vThreshold)}, v_reset=${this.vReset === null ? 'None' : pyNum(this.vReset)}, detach_reset=${this.detachReset ? 'True' : 'False'}, step_mode=${this._stepMode}, surrogate_function=${this.surrogateFunction}`;
  }
}

/** Integrate-and-fire: H = V + X. */
export class IFNode extends BaseNode {
  constructor(opts: BaseNodeOptions = {}) {
    super(opts);
  }
  protected dynamics() {
    return { model: IF, tau: 1 };
  }
}

export interface LIFNodeOptions extends BaseNodeOptions {
  /** Membrane time constant, > 1. */
  tau?: number;
  /** Whether the input is divided by τ too (SpikingJelly's default is true; grilly's, as the seed's, false). */
  decayInput?: boolean;
}

/** Leaky integrate-and-fire: H = V − (V − Vr)/τ + X, or H = V + (X − (V − Vr))/τ with decayInput. */
export class LIFNode extends BaseNode {
  readonly tau: number;
  readonly decayInput: boolean;
  constructor(opts: LIFNodeOptions = {}) {
    super(opts);
    this.tau = opts.tau ?? 2;
    this.decayInput = opts.decayInput ?? false;
    if (!(this.tau > 1)) throw new ValueError(`LIFNode: tau must be > 1, got ${this.tau}`);
  }
  protected dynamics() {
    return { model: this.decayInput ? LIFDecayInput : LIF, tau: this.tau };
  }
  override extraRepr(): string {
    return `tau=${pyNum(this.tau)}, decay_input=${this.decayInput ? 'True' : 'False'}, ${super.extraRepr()}`;
  }
}

export interface ParametricLIFNodeOptions extends BaseNodeOptions {
  /** τ at the start, > 1; w starts at −log(initTau − 1) so that 1/τ = sigmoid(w). */
  initTau?: number;
  decayInput?: boolean;
}

/** LIF with a learnable time constant: one scalar parameter w, 1/τ = sigmoid(w). */
export class ParametricLIFNode extends BaseNode {
  w: Tensor;
  readonly decayInput: boolean;
  constructor(opts: ParametricLIFNodeOptions = {}) {
    super(opts);
    const initTau = opts.initTau ?? 2;
    if (!(initTau > 1)) throw new ValueError(`ParametricLIFNode: initTau must be > 1, got ${initTau}`);
    this.decayInput = opts.decayInput ?? false;
    this.w = Parameter(filled([], -Math.log(initTau - 1), 'float32', 'ParametricLIFNode'));
  }
  /** The current τ = 1/sigmoid(w), as a 0-d tensor (await node.tau.item()). */
  get tau(): Tensor {
    return noGrad(() => div(1, sigmoid(this.w)));
  }
  protected dynamics() {
    return { model: this.decayInput ? PLIFDecayInput : PLIF, tau: 1, w: this.w };
  }
  override extraRepr(): string {
    return `decay_input=${this.decayInput ? 'True' : 'False'}, ${super.extraRepr()}`;
  }
}
