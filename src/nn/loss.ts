// Losses. Each has forward(input, target) → loss and the seed's backward(gradOutput, input,
// target) → dLoss/dinput · gradOutput, computed on the same autograd tape.
import { DTypeError, ShapeError, ValueError, fmtShape } from '../errors.js';
import { Tensor } from '../tensor/tensor.js';
import { withGradMode } from '../runtime.js';
import { Module } from './module.js';
import { abs, add, exp, log, maximum, mul, ne, neg, sub, where, filled } from '../ops/elementwise.js';
import { mean, sum } from '../ops/reduce.js';
import { logSoftmax } from '../ops/softmax.js';
import { gatherInRange } from '../ops/gather.js';
import { checkIndexRange } from '../ops/indexcheck.js';
import { squeeze, unsqueeze } from '../ops/view.js';
import { MSE_FUSED_MAX, mseLossFused } from '../ops/mse.js';

export type Reduction = 'mean' | 'sum' | 'none';

function checkReduction(r: unknown, name: string): Reduction {
  if (r !== 'mean' && r !== 'sum' && r !== 'none') throw new ValueError(`${name}: reduction must be 'mean', 'sum' or 'none', got ${JSON.stringify(r)}`);
  return r;
}

abstract class Loss extends Module {
  readonly reduction: Reduction;
  constructor(reduction: Reduction | undefined) {
    super();
    this.reduction = checkReduction(reduction ?? 'mean', this.constructor.name);
  }
  abstract override forward(input: Tensor, target: Tensor): Tensor;

  /** dLoss/dinput scaled by gradOutput (a number, or a tensor of the loss's shape); default 1. */
  override backward(gradOutput?: Tensor | number, input?: Tensor, target?: Tensor): Tensor {
    const name = this.constructor.name;
    if (!(input instanceof Tensor) || !(target instanceof Tensor)) {
      throw new DTypeError(`${name}.backward: expected (gradOutput, input, target) with tensors for input and target`);
    }
    return withGradMode(true, () => {
      const leaf = input.detach();
      leaf.requiresGrad = true;
      const loss = this.forward(leaf, target);
      const g = gradOutput instanceof Tensor ? gradOutput : filled(loss.shape, gradOutput ?? 1, 'float32', `${name}.backward`);
      loss.backward(g);
      return leaf.grad!;
    });
  }

  protected reduce(perItem: Tensor, count?: Tensor): Tensor {
    if (this.reduction === 'none') return perItem;
    const s = sum(perItem);
    if (this.reduction === 'sum') return s;
    if (!count && perItem.size === 0) {
      throw new ShapeError(`${this.constructor.name}: the input ${fmtShape(perItem.shape)} is empty, so its mean is undefined (PyTorch gives NaN); use reduction 'sum' or 'none'`);
    }
    return count ? s.div(count) : mean(perItem);
  }

  override extraRepr(): string {
    return this.reduction === 'mean' ? '' : `reduction=${this.reduction}`;
  }
}

export interface CrossEntropyOptions {
  reduction?: Reduction;
  /** Targets equal to this are skipped (and not counted by 'mean'). */
  ignoreIndex?: number;
  /** ε: the target distribution is (1−ε)·one-hot + ε/C. */
  labelSmoothing?: number;
}

/** Cross entropy of logits (N, C) or (N, C, d…) against int32 class indices (N) or (N, d…). */
export class CrossEntropyLoss extends Loss {
  readonly ignoreIndex: number;
  readonly labelSmoothing: number;
  constructor(opts: CrossEntropyOptions = {}) {
    super(opts.reduction);
    this.ignoreIndex = opts.ignoreIndex ?? -100;
    this.labelSmoothing = opts.labelSmoothing ?? 0;
    if (!(this.labelSmoothing >= 0 && this.labelSmoothing <= 1)) throw new ValueError(`CrossEntropyLoss: labelSmoothing must be in [0, 1], got ${this.labelSmoothing}`);
  }
  forward(logits: Tensor, target: Tensor): Tensor {
    const name = 'CrossEntropyLoss';
    if (!(logits instanceof Tensor) || !(target instanceof Tensor)) throw new DTypeError(`${name}: expected (logits, target) tensors`);
    if (target.dtype !== 'int32') throw new DTypeError(`${name}: expected int32 class indices as target, got ${target.dtype}; convert labels with .int()`);
    if (logits.ndim < 2) throw new ShapeError(`${name}: expected logits (N, C, …), got ${fmtShape(logits.shape)}`);
    const want = [logits.shape[0]!, ...logits.shape.slice(2)];
    if (target.ndim !== want.length || target.shape.some((d, i) => d !== want[i])) {
      throw new ShapeError(`${name}: logits ${fmtShape(logits.shape)} need a target of shape ${fmtShape(want)}, got ${fmtShape(target.shape)}`);
    }
    const C = logits.shape[1]!;
    checkIndexRange(name, target, 0, C, (k) => `${name}: target class ${k} is out of range for ${C} classes (nor is it ignoreIndex ${this.ignoreIndex})`, this.ignoreIndex);
    const logp = logSoftmax(logits, 1);
    const valid = ne(target, this.ignoreIndex);
    const safe = where(valid, target, 0);
    let loss = neg(squeeze(gatherInRange(logp, 1, unsqueeze(safe, 1)), 1)); // (target checked above; ignored ones read class 0)
    const eps = this.labelSmoothing;
    if (eps > 0) loss = add(mul(loss, 1 - eps), mul(neg(mean(logp, 1)), eps));
    loss = mul(loss, valid);
    return this.reduce(loss, this.reduction === 'mean' ? sum(valid) : undefined);
  }
  override extraRepr(): string {
    const parts = [super.extraRepr(), this.ignoreIndex !== -100 ? `ignore_index=${this.ignoreIndex}` : '', this.labelSmoothing ? `label_smoothing=${this.labelSmoothing}` : ''];
    return parts.filter(Boolean).join(', ');
  }
}

function sameShape(name: string, a: Tensor, b: Tensor): void {
  if (a.ndim !== b.ndim || a.shape.some((d, i) => d !== b.shape[i])) throw new ShapeError(`${name}: input ${fmtShape(a.shape)} and target ${fmtShape(b.shape)} must have the same shape`);
  if (b.dtype !== 'float32') throw new DTypeError(`${name}: expected a float32 target, got ${b.dtype}`);
}

/** Mean (or sum) of squared errors. */
export class MSELoss extends Loss {
  constructor(opts: { reduction?: Reduction } = {}) {
    super(opts.reduction);
  }
  forward(input: Tensor, target: Tensor): Tensor {
    sameShape('MSELoss', input, target);
    if (this.reduction !== 'none' && input.dtype === 'float32' && target.dtype === 'float32' && input.size > 0 && input.size <= MSE_FUSED_MAX) {
      return mseLossFused(input, target, this.reduction);
    }
    const d = sub(input, target);
    return this.reduce(mul(d, d));
  }
}

/** Binary cross entropy on logits, in the numerically stable form; optional posWeight. */
export class BCEWithLogitsLoss extends Loss {
  readonly posWeight: Tensor | null;
  constructor(opts: { reduction?: Reduction; posWeight?: Tensor } = {}) {
    super(opts.reduction);
    this.posWeight = opts.posWeight ?? null;
  }
  forward(x: Tensor, y: Tensor): Tensor {
    sameShape('BCEWithLogitsLoss', x, y);
    const pw = this.posWeight;
    if (pw && (pw.ndim > x.ndim || pw.shape.some((d, i) => d !== 1 && d !== x.shape[x.ndim - pw.ndim + i]))) {
      throw new ShapeError(`BCEWithLogitsLoss: posWeight ${fmtShape(pw.shape)} does not broadcast to the input ${fmtShape(x.shape)} (one weight per class, the last dim)`);
    }
    // log(1 + e^(−x)) = max(−x, 0) + log(1 + e^(−|x|))
    const softplusNeg = add(maximum(neg(x), 0), log(add(exp(neg(abs(x))), 1)));
    let loss: Tensor;
    if (this.posWeight) {
      const lw = add(mul(sub(this.posWeight, 1), y), 1);
      loss = add(mul(sub(1, y), x), mul(lw, softplusNeg));
    } else {
      loss = add(mul(sub(1, y), x), softplusNeg);
    }
    return this.reduce(loss);
  }
}
