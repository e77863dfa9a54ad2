// Learning-rate schedulers, after torch.optim.lr_scheduler: constructed after the optimizer, they
// record each group's starting lr (`initialLr`, PyTorch's `initial_lr`) as their base lrs, take an
// initial step to epoch 0, and set every group's lr on each step().
import { ValueError } from '../errors.js';
import { Optimizer, type BaseOptions } from './optimizer.js';

export interface SchedulerStateDict {
  lastEpoch: number;
  baseLrs: number[];
  lastLr: number[];
  [key: string]: number | number[];
}

export abstract class LRScheduler {
  /** The epoch of the lrs now set (0 after construction; each step() adds one). */
  lastEpoch: number;
  /** Each group's lr at the start (its `initialLr`). */
  baseLrs: number[];
  protected lastLr: number[] = [];
  protected readonly name: string;

  protected constructor(readonly optimizer: Optimizer<BaseOptions>, lastEpoch: number, name: string) {
    this.name = name;
    if (!(optimizer instanceof Optimizer)) throw new ValueError(`${name}: expected an optimizer (SGD, Adam, AdamW, …), got ${optimizer === null ? 'null' : typeof optimizer}`);
    if (!Number.isInteger(lastEpoch) || lastEpoch < -1) throw new ValueError(`${name}: lastEpoch must be an integer >= -1, got ${lastEpoch}`);
    const groups = optimizer.paramGroups;
    if (lastEpoch === -1) {
      for (const g of groups) if (g.initialLr === undefined) g.initialLr = g.lr;
    } else {
      groups.forEach((g, i) => {
        if (g.initialLr === undefined) throw new ValueError(`${name}: param group ${i} has no initialLr, which resuming (lastEpoch ${lastEpoch}) needs`);
      });
    }
    this.baseLrs = groups.map((g) => g.initialLr as number);
    this.lastEpoch = lastEpoch;
  }

  /** The first step, to epoch lastEpoch + 1 (PyTorch's _initial_step); subclasses call it last. */
  protected initialStep(): void {
    this.step();
  }

  /** The lrs for `this.lastEpoch` (already advanced), given the groups' current lrs. */
  protected abstract computeLr(): number[];

  /** Advances one epoch and sets every group's lr. */
  step(): void {
    this.lastEpoch++;
    const lrs = this.computeLr();
    const groups = this.optimizer.paramGroups;
    if (lrs.length !== groups.length) throw new ValueError(`${this.name}.step: the optimizer has ${groups.length} param groups, the scheduler was made for ${lrs.length}`);
    groups.forEach((g, i) => (g.lr = lrs[i]!));
    this.lastLr = groups.map((g) => g.lr);
  }

  /** The lrs the last step() set, one per group. */
  getLastLr(): number[] {
    return [...this.lastLr];
  }

  /** The scheduler's own state (not the optimizer's: save that with optimizer.stateDict()). */
  stateDict(): SchedulerStateDict {
    return { ...this.extraState(), lastEpoch: this.lastEpoch, baseLrs: [...this.baseLrs], lastLr: [...this.lastLr] };
  }

  /** Restores stateDict()'s values (the groups' lrs are the optimizer's state, as in PyTorch). */
  loadStateDict(sd: SchedulerStateDict): void {
    const op = `${this.name}.loadStateDict`;
    if (sd === null || typeof sd !== 'object') throw new ValueError(`${op}: expected an object from stateDict()`);
    const n = this.optimizer.paramGroups.length;
    if (!Number.isInteger(sd.lastEpoch) || sd.lastEpoch < -1) throw new ValueError(`${op}: lastEpoch must be an integer >= -1, got ${String(sd.lastEpoch)}`);
    for (const k of ['baseLrs', 'lastLr'] as const) {
      const v = sd[k];
      if (!Array.isArray(v) || v.length !== n || v.some((x) => typeof x !== 'number' || !Number.isFinite(x) || x < 0)) {
        throw new ValueError(`${op}: '${k}' must be ${n} finite non-negative number(s), one per param group, got ${Array.isArray(v) ? `[${v.join(', ')}]` : JSON.stringify(v)}`);
      }
    }
    this.loadExtraState(sd, op);
    this.lastEpoch = sd.lastEpoch;
    this.baseLrs = [...sd.baseLrs];
    this.lastLr = [...sd.lastLr];
  }

  protected abstract extraState(): Record<string, number>;
  protected abstract loadExtraState(sd: SchedulerStateDict, op: string): void;
}

function checkNumber(sd: SchedulerStateDict, key: string, op: string): number {
  const v = sd[key];
  if (typeof v !== 'number' || Number.isNaN(v)) throw new ValueError(`${op}: '${key}' must be a number, got ${JSON.stringify(v)}`);
  return v;
}

export interface StepLROptions {
  /** Epochs between decays. */
  stepSize: number;
  /** Multiplicative decay (default 0.1). */
  gamma?: number;
  /** Resume from this epoch (default -1: start). */
  lastEpoch?: number;
}

/** Multiplies each group's lr by gamma every stepSize epochs: lr = base·gamma^⌊epoch/stepSize⌋. */
export class StepLR extends LRScheduler {
  stepSize: number;
  gamma: number;

  constructor(optimizer: Optimizer<BaseOptions>, opts: StepLROptions) {
    super(optimizer, opts?.lastEpoch ?? -1, 'StepLR');
    const { stepSize, gamma = 0.1 } = opts ?? ({} as StepLROptions);
    if (!Number.isInteger(stepSize) || stepSize < 1) throw new ValueError(`StepLR: stepSize must be a positive integer, got ${stepSize}`);
    if (typeof gamma !== 'number' || !Number.isFinite(gamma)) throw new ValueError(`StepLR: gamma must be a finite number, got ${String(gamma)}`);
    this.stepSize = stepSize;
    this.gamma = gamma;
    this.initialStep();
  }

  // PyTorch's chainable form (StepLR.get_lr): the group's current lr, times gamma at multiples of
  // stepSize. Without outside changes to lr this is the closed form base·gamma^⌊epoch/stepSize⌋.
  protected computeLr(): number[] {
    const groups = this.optimizer.paramGroups;
    if (this.lastEpoch === 0 || this.lastEpoch % this.stepSize !== 0) return groups.map((g) => g.lr);
    return groups.map((g) => g.lr * this.gamma);
  }

  protected extraState(): Record<string, number> {
    return { stepSize: this.stepSize, gamma: this.gamma };
  }
  protected loadExtraState(sd: SchedulerStateDict, op: string): void {
    const stepSize = checkNumber(sd, 'stepSize', op);
    if (!Number.isInteger(stepSize) || stepSize < 1) throw new ValueError(`${op}: stepSize must be a positive integer, got ${stepSize}`);
    const gamma = checkNumber(sd, 'gamma', op);
    this.stepSize = stepSize;
    this.gamma = gamma;
  }
}

export interface CosineAnnealingLROptions {
  /** Epochs in half a cosine period. */
  tMax: number;
  /** The lowest lr (default 0). */
  etaMin?: number;
  lastEpoch?: number;
}

/**
 * Cosine annealing from each base lr to etaMin over tMax epochs, in closed form:
 * lr = etaMin + (base − etaMin)·(1 + cos(π·epoch/tMax))/2 (PyTorch's _get_closed_form_lr; it
 * continues as a cosine past tMax, as PyTorch's does).
 */
export class CosineAnnealingLR extends LRScheduler {
  tMax: number;
  etaMin: number;

  constructor(optimizer: Optimizer<BaseOptions>, opts: CosineAnnealingLROptions) {
    super(optimizer, opts?.lastEpoch ?? -1, 'CosineAnnealingLR');
    const { tMax, etaMin = 0 } = opts ?? ({} as CosineAnnealingLROptions);
    if (typeof tMax !== 'number' || !(tMax > 0) || !Number.isFinite(tMax)) throw new ValueError(`CosineAnnealingLR: tMax must be a positive number, got ${String(tMax)}`);
    if (typeof etaMin !== 'number' || !Number.isFinite(etaMin)) throw new ValueError(`CosineAnnealingLR: etaMin must be a finite number, got ${String(etaMin)}`);
    this.tMax = tMax;
    this.etaMin = etaMin;
    this.initialStep();
  }

  protected computeLr(): number[] {
    const c = (1 + Math.cos((Math.PI * this.lastEpoch) / this.tMax)) / 2;
    return this.baseLrs.map((b) => this.etaMin + (b - this.etaMin) * c);
  }

  protected extraState(): Record<string, number> {
    return { tMax: this.tMax, etaMin: this.etaMin };
  }
  protected loadExtraState(sd: SchedulerStateDict, op: string): void {
    const tMax = checkNumber(sd, 'tMax', op);
    if (!(tMax > 0) || !Number.isFinite(tMax)) throw new ValueError(`${op}: tMax must be a positive number, got ${tMax}`);
    this.tMax = tMax;
    this.etaMin = checkNumber(sd, 'etaMin', op);
  }
}
