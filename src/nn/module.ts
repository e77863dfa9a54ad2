// Module: the PyTorch-style building block. Parameters, buffers and submodules are found by
// walking the object's own properties in assignment order (arrays of modules count too), so
// `this.fc = new Linear(…)` registers the layer. State-dict and parameter names are the property
// names in snake_case, dotted (fc1.weight, bn.running_mean), so checkpoints line up with PyTorch.
import { BackendError, ShapeError, StateError, ValueError, fmtShape } from '../errors.js';
import { backwardCapture } from '../autograd/engine.js';
import { inputSinks, type GradFn } from '../autograd/node.js';
import { isGradEnabled, noGrad } from '../runtime.js';
import { Tensor } from '../tensor/tensor.js';
import { disposedError } from '../tensor/lifetime.js';
import { expand, reshape } from '../ops/view.js';
import { div } from '../ops/elementwise.js';

const PARAMS = new WeakSet<Tensor>();
const BUFFERS = new WeakSet<Tensor>();

/** Marks a tensor as a learnable parameter: float32, requiresGrad, kept in long-lived memory. */
export function Parameter(t: Tensor): Tensor {
  if (!(t instanceof Tensor)) throw new StateError('Parameter: expected a Tensor');
  t.requiresGrad_(true).persist_();
  PARAMS.add(t);
  return t;
}

export function isParameter(t: unknown): t is Tensor {
  return t instanceof Tensor && PARAMS.has(t);
}

/** camelCase → snake_case, for state-dict names that match PyTorch's. */
export function snake(name: string): string {
  return name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').replace(/([A-Z])([A-Z][a-z])/g, '$1_$2').toLowerCase();
}

export interface LoadReport {
  missingKeys: string[];
  unexpectedKeys: string[];
}

interface LastCall {
  output: WeakRef<Tensor>;
  /** The input as a leaf (data fed to the module) or the node output that produced it. */
  input: Tensor | { fn: GradFn; index: number } | null;
}

export abstract class Module {
  /** Train mode (batch statistics, dropout) or eval mode. */
  training = true;
  private _last: LastCall | null = null;

  constructor() {
    // Wrap the subclass's forward: it records the call for the seed's explicit backward style.
    const impl = (Object.getPrototypeOf(this) as { forward: (...a: unknown[]) => unknown }).forward;
    Object.defineProperty(this, 'forward', {
      value: (...args: unknown[]) => this._call(impl, args),
      enumerable: false,
      writable: true,
      configurable: true,
    });
  }

  abstract forward(...args: Tensor[]): Tensor;

  private _call(impl: (...a: unknown[]) => unknown, args: unknown[]): unknown {
    const args0 = args[0];
    let x = args0;
    for (const a of args) if (a instanceof Tensor && a.isDisposed) throw disposedError(`the input ${fmtShape(a.shape)}`, this.constructor.name);
    const grad = isGradEnabled();
    if (grad && x instanceof Tensor && x.dtype === 'float32' && !x.requiresGrad) {
      // A stand-in leaf for data input, so module.backward() can return dLoss/dinput; an
      // ordinary loss.backward() skips it (inputSinks) and computes nothing for it.
      const leaf = x.detach();
      leaf.requiresGrad = true;
      inputSinks.add(leaf);
      x = leaf;
      args = [leaf, ...args.slice(1)];
    }
    let out = impl.apply(this, args);
    // A module that hands its input back unchanged (Identity, Dropout in eval) returns the caller's tensor.
    if (out === x && x !== args0) out = args0;
    if (grad && out instanceof Tensor && out.requiresGrad) {
      const input = x instanceof Tensor ? (x.gradFn ? { fn: x.gradFn, index: x.gradIndex } : x) : null;
      this._last = { output: new WeakRef(out), input };
    } else this._last = null;
    return out;
  }

  /**
   * The seed's explicit backward: back-propagates gradOutput from this module's most recent
   * forward output, accumulates into the parameters' .grad and returns the gradient of the input.
   * When the output is (T, …rest) and gradOutput is (…rest), gradOutput is taken as the gradient
   * of the mean over T: each step receives gradOutput / T.
   */
  backward(gradOutput: Tensor): Tensor | null {
    const name = this.constructor.name;
    const y = this._last?.output.deref();
    if (!this._last || !y) {
      throw new StateError(`${name}.backward: there is no forward output to back-propagate from; call forward (with grad enabled) and keep its output until backward`);
    }
    if (y.gradFn?.released) {
      throw new StateError(`${name}.backward: the graph of the last forward was already used by a backward pass; run forward again`);
    }
    let g = gradOutput;
    const same = g.ndim === y.ndim && g.shape.every((d, i) => d === y.shape[i]);
    if (!same) {
      const rest = y.shape.slice(1);
      if (g.ndim === rest.length && g.shape.every((d, i) => d === rest[i])) {
        const T = y.shape[0]!;
        g = noGrad(() => expand(reshape(div(g, T), [1, ...rest]), y.shape));
      } else {
        throw new ShapeError(`${name}.backward: gradOutput must have the output's shape ${fmtShape(y.shape)} (or ${fmtShape(rest)} for the mean over the first dim), got ${fmtShape(g.shape)}`);
      }
    }
    const input = this._last.input;
    this._last = null;
    const [gin] = backwardCapture(y, g, input ? [input] : []);
    return gin ?? null;
  }

  // ---- structure --------------------------------------------------------------------------
  private *ownEntries(): Generator<[string, unknown]> {
    for (const [k, v] of Object.entries(this)) {
      if (k.startsWith('_') || k === 'training' || typeof v === 'function') continue;
      yield [k, v];
    }
  }

  /** Direct submodules with their names. */
  *namedChildren(): Generator<[string, Module]> {
    for (const [k, v] of this.ownEntries()) {
      if (v instanceof Module) yield [snake(k), v];
      else if (Array.isArray(v)) {
        for (let i = 0; i < v.length; i++) if (v[i] instanceof Module) yield [`${snake(k)}.${i}`, v[i] as Module];
      }
    }
  }

  children(): Module[] {
    return [...this.namedChildren()].map(([, m]) => m);
  }

  /** This module and every submodule, depth first, with dotted names ('' for this one). */
  *namedModules(prefix = ''): Generator<[string, Module]> {
    yield [prefix, this];
    for (const [k, m] of this.namedChildren()) yield* m.namedModules(prefix ? `${prefix}.${k}` : k);
  }

  modules(): Module[] {
    return [...this.namedModules()].map(([, m]) => m);
  }

  private *ownTensors(set: WeakSet<Tensor>): Generator<[string, Tensor]> {
    for (const [k, v] of this.ownEntries()) if (v instanceof Tensor && set.has(v)) yield [snake(k), v];
  }

  /** Parameters with PyTorch-style dotted names, each once. */
  *namedParameters(prefix = '', recurse = true): Generator<[string, Tensor]> {
    const seen = new Set<Tensor>();
    const mods = recurse ? this.namedModules(prefix) : ([[prefix, this]] as Iterable<[string, Module]>);
    for (const [mp, m] of mods) {
      for (const [k, t] of m.ownTensors(PARAMS)) {
        if (seen.has(t)) continue;
        seen.add(t);
        yield [mp ? `${mp}.${k}` : k, t];
      }
    }
  }

  parameters(recurse = true): Tensor[] {
    return [...this.namedParameters('', recurse)].map(([, t]) => t);
  }

  *namedBuffers(prefix = ''): Generator<[string, Tensor]> {
    for (const [mp, m] of this.namedModules(prefix)) {
      for (const [k, t] of m.ownTensors(BUFFERS)) yield [mp ? `${mp}.${k}` : k, t];
    }
  }

  buffers(): Tensor[] {
    return [...this.namedBuffers()].map(([, t]) => t);
  }

  /** Registers a non-learnable tensor that belongs to the state (running statistics). */
  protected registerBuffer<T extends Tensor>(t: T): T {
    t.persist_();
    BUFFERS.add(t);
    return t;
  }

  // ---- modes and gradients ----------------------------------------------------------------
  train(mode = true): this {
    for (const m of this.modules()) m.training = mode;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Clears the parameters' gradients (to null by default, as PyTorch 2 does). */
  zeroGrad(setToNone = true): void {
    for (const p of this.parameters()) {
      if (setToNone) p.grad = null;
      else p._peekGrad()?.assign(0);
    }
  }

  /** Calls fn on every submodule and then on this one, as PyTorch does. */
  apply(fn: (m: Module) => void): this {
    for (const c of this.children()) c.apply(fn);
    fn(this);
    return this;
  }

  // ---- state ------------------------------------------------------------------------------
  /** Parameters and buffers by dotted name (the tensors themselves, not copies). */
  stateDict(): Record<string, Tensor> {
    const out: Record<string, Tensor> = {};
    for (const [k, t] of this.namedParameters()) out[k] = t;
    for (const [k, t] of this.namedBuffers()) out[k] = t;
    return out;
  }

  /**
   * Copies values into the parameters and buffers, in place. Strict (default): any missing,
   * unexpected or mis-shaped key is an error listing them all, and nothing is loaded.
   */
  loadStateDict(dict: Record<string, Tensor>, opts: { strict?: boolean } = {}): LoadReport {
    const strict = opts.strict ?? true;
    const name = `${this.constructor.name}.loadStateDict`;
    if (dict === null || typeof dict !== 'object') throw new ValueError(`${name}: expected an object of tensors by name, got ${dict === null ? 'null' : typeof dict}`);
    const own = this.stateDict();
    const missingKeys = Object.keys(own).filter((k) => !(k in dict));
    const unexpectedKeys = Object.keys(dict).filter((k) => !(k in own));
    const mismatched: string[] = [];
    for (const [k, t] of Object.entries(own)) {
      const src = dict[k];
      if (!src) continue;
      if (!(src instanceof Tensor)) mismatched.push(`${k}: not a Tensor`);
      else if (src.shape.length !== t.shape.length || src.shape.some((d, i) => d !== t.shape[i])) {
        mismatched.push(`${k}: expected ${fmtShape(t.shape)}, got ${fmtShape(src.shape)}`);
      }
    }
    if (mismatched.length || (strict && (missingKeys.length || unexpectedKeys.length))) {
      const parts = [];
      if (missingKeys.length) parts.push(`missing keys: ${missingKeys.join(', ')}`);
      if (unexpectedKeys.length) parts.push(`unexpected keys: ${unexpectedKeys.join(', ')}`);
      if (mismatched.length) parts.push(`shape mismatch: ${mismatched.join('; ')}`);
      throw new ShapeError(`${name}: ${parts.join('; ')}`);
    }
    // Every source usable before the first is copied: a failed load changes nothing.
    for (const [k, t] of Object.entries(own)) {
      const src = dict[k];
      if (!src) continue;
      if (src.isDisposed) throw new StateError(`${name}: ${k}: the tensor was disposed and cannot be loaded`);
      if (src.backend !== t.backend) {
        throw new BackendError(`${name}: ${k} lives on the ${src.backend.kind} backend and the module on ${t.backend.kind}; move it first with await tensor.to('${t.backend.kind}')`);
      }
    }
    noGrad(() => {
      for (const [k, t] of Object.entries(own)) {
        const src = dict[k];
        if (!src) continue;
        t.assign(src.dtype === t.dtype ? src : t.dtype === 'int32' ? src.int() : src.float());
      }
    });
    return { missingKeys, unexpectedKeys };
  }

  // ---- printing ---------------------------------------------------------------------------
  /** The part inside the parentheses of this module's line, as PyTorch's extra_repr. */
  extraRepr(): string {
    return '';
  }

  private reprLines(): string {
    const kids = [...this.namedChildren()];
    const head = `${this.constructor.name}(${this.extraRepr()}`;
    if (kids.length === 0) return `${head})`;
    const body = kids.map(([k, m]) => `  (${k}): ${m.reprLines().split('\n').join('\n  ')}`).join('\n');
    return `${head}\n${body}\n)`;
  }

  /** PyTorch's printout, followed by the parameter count. */
  toString(): string {
    const n = this.parameters().reduce((s, p) => s + p.size, 0);
    const trainable = this.parameters().filter((p) => p.requiresGrad).reduce((s, p) => s + p.size, 0);
    return `${this.reprLines()}\nparameters: ${n.toLocaleString('en-US')} (${trainable.toLocaleString('en-US')} trainable)`;
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return this.toString();
  }
}
