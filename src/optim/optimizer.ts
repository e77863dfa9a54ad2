// The Optimizer base class, after torch.optim.Optimizer: parameter groups whose options override
// the defaults, lazily created per-parameter state, zeroGrad, and state dicts numbered the way
// PyTorch numbers them (parameters in order across groups, state keyed by that index).
import { BackendError, DTypeError, ShapeError, StateError, ValueError, fmtShape } from '../errors.js';
import { copy, fillInto } from '../ops/elementwise.js';
import { withGradMode } from '../runtime.js';
import { untracked } from '../tensor/lifetime.js';
import { Tensor } from '../tensor/tensor.js';

/** What a group option may hold (betas are a pair of numbers). */
export type OptionValue = number | boolean | string | readonly number[];

/** Per-parameter state: tensors (moments, buffers) and numbers (the step count). */
export type ParamState = Record<string, Tensor | number>;

/** A parameter group as the optimizer holds it: its tensors and every option, resolved. */
export type ParamGroup<O> = O & {
  params: Tensor[];
  /** Set by a scheduler: the lr it started from (PyTorch's `initial_lr`). */
  initialLr?: number;
  [key: string]: unknown;
};

/** A parameter group as given to a constructor: options left out come from the defaults. */
export type ParamGroupInput<O> = Partial<O> & { params: Iterable<Tensor> | Tensor; [key: string]: unknown };

/** Parameters for an optimizer: tensors, or parameter groups. */
export type ParamsInput<O> = Iterable<Tensor> | Iterable<ParamGroupInput<O>>;

export interface OptimizerStateDict {
  /** Per-parameter state keyed by the parameter's index (in order across groups). */
  state: Record<number, Record<string, Tensor | number>>;
  /** Each group's options, with its parameters as indices. */
  paramGroups: Array<Record<string, OptionValue> & { params: number[] }>;
}

/** The options every optimizer has. */
export interface BaseOptions {
  lr: number;
}

export abstract class Optimizer<O extends BaseOptions = BaseOptions> {
  /** The options a group gets for what it leaves out. */
  readonly defaults: Readonly<O>;
  /** The groups, with their options; mutable (schedulers and users change `lr`). */
  readonly paramGroups: ParamGroup<O>[] = [];
  /** @internal Per-parameter state, created at a parameter's first update. */
  protected readonly state = new Map<Tensor, ParamState>();
  /** The class name, used in messages. */
  protected readonly name: string;

  protected constructor(params: ParamsInput<O>, defaults: O, name: string) {
    this.name = name;
    this.checkOptions(defaults, name);
    this.defaults = Object.freeze({ ...defaults });
    if (params instanceof Tensor) {
      throw new ValueError(`${name}: params should be an iterable of Tensors or of parameter groups, got a single Tensor; wrap it in an array`);
    }
    if (params === null || typeof params !== 'object' || typeof (params as Iterable<unknown>)[Symbol.iterator] !== 'function') {
      throw new ValueError(`${name}: params should be an iterable of Tensors or of parameter groups, got ${describe(params)}`);
    }
    const list = [...(params as Iterable<unknown>)];
    if (list.length === 0) throw new ValueError(`${name}: got an empty parameter list`);
    const groups = list[0] instanceof Tensor ? [{ params: list }] : list;
    for (const g of groups) this.addGroup(g);
  }

  /** Adds a parameter group (options it leaves out come from the defaults). */
  addParamGroup(group: ParamGroupInput<O>): void {
    this.addGroup(group);
  }

  private addGroup(input: unknown): void {
    const name = this.name;
    const gi = this.paramGroups.length;
    if (input instanceof Tensor) {
      throw new ValueError(`${name}: params mixes Tensors and parameter groups (entry ${gi} is a Tensor); pass all Tensors or all groups`);
    }
    if (input === null || typeof input !== 'object' || !('params' in input)) {
      throw new ValueError(`${name}: parameter group ${gi} must be an object with a 'params' list, got ${describe(input)}`);
    }
    const raw = (input as { params: unknown }).params;
    let params: unknown[];
    if (raw instanceof Tensor) params = [raw];
    else if (raw !== null && typeof raw === 'object' && typeof (raw as Iterable<unknown>)[Symbol.iterator] === 'function') params = [...(raw as Iterable<unknown>)];
    else throw new ValueError(`${name}: parameter group ${gi}: 'params' must be a Tensor or an iterable of Tensors, got ${describe(raw)}`);
    const seen = new Set<Tensor>();
    for (const g of this.paramGroups) for (const p of g.params) seen.add(p);
    const first = seen.size;
    for (let k = 0; k < params.length; k++) {
      const p = params[k];
      const where = `param ${first + k} (group ${gi}, position ${k})`;
      if (!(p instanceof Tensor)) throw new ValueError(`${name}: ${where} is not a Tensor (got ${describe(p)}); an optimizer can only optimize Tensors`);
      if (p.isDisposed) throw new StateError(`${name}: ${where} was disposed`);
      if (p.dtype !== 'float32') throw new DTypeError(`${name}: ${where} has dtype ${p.dtype}; parameters must be float32`);
      if (!p.requiresGrad) throw new ValueError(`${name}: ${where} does not require grad; create it with { requiresGrad: true } or call requiresGrad_()`);
      if (!p.isLeaf) throw new ValueError(`${name}: ${where} is not a leaf tensor (it was computed by an op); an optimizer can only optimize leaves`);
      if (seen.has(p)) throw new ValueError(`${name}: ${where} appears more than once in the parameter groups`);
      seen.add(p);
    }
    // Group options override the defaults (an option given as undefined counts as left out).
    const group = { ...this.defaults } as Record<string, unknown>;
    for (const [k, v] of Object.entries(input)) if (k !== 'params' && v !== undefined) group[k] = Array.isArray(v) ? [...v] : v;
    group.params = params;
    this.checkOptions(group as ParamGroup<O>, `${name}: parameter group ${gi}`);
    // Parameters and their state live in long-lived memory, apart from the transient gradients
    // the update kernels read, so an in-place update never needs a copy.
    for (const p of params as Tensor[]) p.persist_();
    this.paramGroups.push(group as ParamGroup<O>);
  }

  /** Checks a group's (or the defaults') options; throws a ValueError naming `where`. */
  protected abstract checkOptions(o: O, where: string): void;

  /** Clears the gradients: sets them to null (default), or zeroes them in place. */
  zeroGrad(setToNone = true): void {
    for (const g of this.paramGroups) {
      for (const p of g.params) {
        const gr = p._peekGrad();
        if (!gr) continue;
        if (setToNone) p.grad = null;
        else fillInto(gr, 0, `${this.name}.zeroGrad`);
      }
    }
  }

  /**
   * One update of every parameter that has a gradient (those whose .grad is null are skipped:
   * no state is created and they are not changed). With a closure, re-evaluates the loss first
   * (with grad enabled) and returns what it returned.
   */
  step<T = undefined>(closure?: () => T): T | undefined {
    let loss: T | undefined;
    if (closure) loss = withGradMode(true, closure);
    // Options may have been changed since construction (schedulers, users): check them first.
    this.paramGroups.forEach((group, gi) => this.checkOptions(group, `${this.name}.step: parameter group ${gi}`));
    for (const group of this.paramGroups) {
      for (const p of group.params) {
        const grad = p._peekGrad();
        if (!grad) continue;
        if (grad.shape.length !== p.shape.length || grad.shape.some((d, i) => d !== p.shape[i])) {
          throw new ShapeError(`${this.name}.step: a gradient of shape ${fmtShape(grad.shape)} for a parameter of shape ${fmtShape(p.shape)}`);
        }
        this.update(p, grad, group);
      }
    }
    // The update ends a training step: submit it so the GPU starts while the host goes on.
    const first = this.paramGroups.find((g) => g.params.some((p) => !p.isDisposed))?.params.find((p) => !p.isDisposed);
    first?.backend.flush();
    return loss;
  }

  /** Updates one parameter in place (one kernel dispatch). */
  protected abstract update(p: Tensor, grad: Tensor, group: ParamGroup<O>): void;

  /** The state of `p`, created (empty) at first use. */
  protected stateOf(p: Tensor): ParamState {
    let st = this.state.get(p);
    if (!st) this.state.set(p, (st = {}));
    return st;
  }

  /**
   * The state keys a parameter may have under `group`'s options: tensors of the parameter's
   * shape and numbers (for loadStateDict's checks). `required` lists those it must have.
   */
  protected abstract stateKeys(group: ParamGroup<O>): { tensors: string[]; numbers: string[]; required: string[] };

  /** A zero-filled float32 tensor like `p`, in long-lived memory, outside any tidy scope. */
  protected zerosState(p: Tensor): Tensor {
    return untracked(() => {
      const t = Tensor.empty(p.shape, 'float32', `${this.name}.step`, p.backend);
      fillInto(t, 0, `${this.name}.step`);
      return t.persist_();
    });
  }

  /**
   * The optimizer's state: per-parameter state keyed by index (in order across groups), and each
   * group's options with its parameters as indices. Tensors are copies (a snapshot: later steps
   * do not change them); numbers are plain numbers.
   */
  stateDict(): OptimizerStateDict {
    const state: Record<number, Record<string, Tensor | number>> = {};
    const paramGroups: OptimizerStateDict['paramGroups'] = [];
    let index = 0;
    for (const g of this.paramGroups) {
      const opts: Record<string, OptionValue> = {};
      for (const [k, v] of Object.entries(g)) {
        if (k === 'params' || v === undefined) continue;
        if (Array.isArray(v)) opts[k] = [...(v as number[])];
        else if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'string') opts[k] = v;
      }
      const ids: number[] = [];
      for (const p of g.params) {
        const st = this.state.get(p);
        if (st) {
          const out: Record<string, Tensor | number> = {};
          for (const [k, v] of Object.entries(st)) out[k] = v instanceof Tensor ? copy(v) : v;
          state[index] = out;
        }
        ids.push(index++);
      }
      paramGroups.push({ ...opts, params: ids });
    }
    return { state, paramGroups };
  }

  /**
   * Restores a state dict from stateDict() (of an optimizer of the same kind over parameters of
   * the same shapes): the groups' options and the per-parameter state, copied. Everything is
   * checked before anything changes.
   */
  loadStateDict(sd: OptimizerStateDict): void {
    const op = `${this.name}.loadStateDict`;
    if (sd === null || typeof sd !== 'object' || !Array.isArray(sd.paramGroups) || sd.state === null || typeof sd.state !== 'object') {
      throw new ValueError(`${op}: expected { state, paramGroups } as stateDict() returns, got ${describe(sd)}`);
    }
    const saved = sd.paramGroups;
    if (saved.length !== this.paramGroups.length) {
      throw new ValueError(`${op}: the state dict has ${saved.length} parameter group(s), the optimizer has ${this.paramGroups.length}`);
    }
    // Saved indices map to this optimizer's parameters by position, as in PyTorch.
    const byIndex = new Map<number, { p: Tensor; gi: number }>();
    const newGroups: ParamGroup<O>[] = [];
    saved.forEach((sg, gi) => {
      const cur = this.paramGroups[gi]!;
      if (sg === null || typeof sg !== 'object' || !Array.isArray(sg.params)) throw new ValueError(`${op}: parameter group ${gi} has no 'params' list of indices`);
      if (sg.params.length !== cur.params.length) {
        throw new ValueError(`${op}: parameter group ${gi} has ${sg.params.length} parameter(s) in the state dict and ${cur.params.length} in the optimizer`);
      }
      sg.params.forEach((id, k) => {
        if (!Number.isInteger(id) || byIndex.has(id)) throw new ValueError(`${op}: parameter group ${gi} lists an invalid or repeated parameter index ${String(id)}`);
        byIndex.set(id, { p: cur.params[k]!, gi });
      });
      // As PyTorch: the saved group replaces the current one, keeping the parameters (options
      // missing from the saved group take the defaults).
      const g = { ...this.defaults } as Record<string, unknown>;
      for (const [k, v] of Object.entries(sg)) if (k !== 'params') g[k] = Array.isArray(v) ? [...v] : v;
      g.params = cur.params;
      this.checkOptions(g as ParamGroup<O>, `${op}: parameter group ${gi}`);
      newGroups.push(g as ParamGroup<O>);
    });
    const newState = new Map<Tensor, Record<string, Tensor | number>>();
    for (const [key, st] of Object.entries(sd.state)) {
      const id = Number(key);
      const target = byIndex.get(id);
      if (!target) throw new ValueError(`${op}: state for parameter index ${key}, which no parameter group lists`);
      if (st === null || typeof st !== 'object') throw new ValueError(`${op}: state of parameter ${key} must be an object, got ${describe(st)}`);
      const { p, gi } = target;
      const keys = this.stateKeys(newGroups[gi]!);
      for (const [k, v] of Object.entries(st)) {
        const what = `state '${k}' of parameter ${key}`;
        if (keys.tensors.includes(k)) {
          if (!(v instanceof Tensor)) throw new ValueError(`${op}: ${what} must be a Tensor, got ${describe(v)}`);
          if (v.isDisposed) throw new StateError(`${op}: ${what} was disposed`);
          if (v.dtype !== 'float32') throw new DTypeError(`${op}: ${what} has dtype ${v.dtype}, expected float32`);
          if (v.shape.length !== p.shape.length || v.shape.some((d, i) => d !== p.shape[i])) {
            throw new ShapeError(`${op}: ${what} has shape ${fmtShape(v.shape)}, the parameter has shape ${fmtShape(p.shape)}`);
          }
          if (v.backend !== p.backend) {
            throw new BackendError(`${op}: ${what} lives on the ${v.backend.kind} backend and the parameter on ${p.backend.kind}; move it with await t.to('${p.backend.kind}')`);
          }
        } else if (keys.numbers.includes(k)) {
          if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new ValueError(`${op}: ${what} must be a non-negative integer, got ${describe(v)}`);
        } else {
          throw new ValueError(`${op}: unexpected ${what} (${this.name} keeps ${[...keys.numbers, ...keys.tensors].join(', ')})`);
        }
      }
      for (const k of keys.required) if (!(k in st)) throw new ValueError(`${op}: state of parameter ${key} lacks '${k}'`);
      newState.set(p, st);
    }
    // Valid: commit. Group objects are updated in place (callers may hold them).
    newGroups.forEach((g, gi) => {
      const cur = this.paramGroups[gi]! as Record<string, unknown>;
      for (const k of Object.keys(cur)) if (!(k in g)) delete cur[k];
      Object.assign(cur, g);
    });
    for (const old of this.state.values()) for (const v of Object.values(old)) if (v instanceof Tensor) v.dispose();
    this.state.clear();
    for (const [p, st] of newState) {
      const own: ParamState = {};
      for (const [k, v] of Object.entries(st)) own[k] = v instanceof Tensor ? untracked(() => copy(v).persist_()) : v;
      this.state.set(p, own);
    }
  }
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (v instanceof Tensor) return `a Tensor ${fmtShape(v.shape)}`;
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return `an object`;
  if (typeof v === 'string') return JSON.stringify(v);
  return `${typeof v} ${String(v)}`;
}

// ---- option checks shared by the optimizers -----------------------------------------------------

/** A finite number, else a ValueError naming the option. */
export function num(o: Record<string, unknown>, key: string, where: string): number {
  const v = o[key];
  if (typeof v !== 'number' || Number.isNaN(v)) throw new ValueError(`${where}: '${key}' must be a number, got ${describe(v)}`);
  return v;
}

export function bool(o: Record<string, unknown>, key: string, where: string): boolean {
  const v = o[key];
  if (typeof v !== 'boolean') throw new ValueError(`${where}: '${key}' must be a boolean, got ${describe(v)}`);
  return v;
}
