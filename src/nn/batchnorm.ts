// BatchNorm1d / BatchNorm2d: batch statistics in training (biased variance to normalise, unbiased
// for the running estimate, as PyTorch), running statistics in eval.
import { DTypeError, ShapeError, ValueError, fmtShape } from '../errors.js';
import { Tensor } from '../tensor/tensor.js';
import { noGrad } from '../runtime.js';
import { Module, Parameter } from './module.js';
import { filled, add, sub, mul, div, sqrt } from '../ops/elementwise.js';
import { mean } from '../ops/reduce.js';
import { reshape } from '../ops/view.js';
import { batchNormTrain } from '../ops/batchnorm.js';

/** A number as Python's repr prints it (1e-05, 0.1). */
export function pyNum(x: number): string {
  if (x !== 0 && (Math.abs(x) < 1e-4 || Math.abs(x) >= 1e16)) return x.toExponential().replace(/e([+-])(\d)$/, 'e$10$2');
  return Number.isInteger(x) ? `${x}.0` : String(x);
}

export interface BatchNormOptions {
  eps?: number;
  /** Weight of the new batch in the running statistics; null = cumulative average. */
  momentum?: number | null;
  affine?: boolean;
  trackRunningStats?: boolean;
}

abstract class BatchNormBase extends Module {
  weight: Tensor | null;
  bias: Tensor | null;
  runningMean: Tensor | null;
  runningVar: Tensor | null;
  numBatchesTracked: Tensor | null;
  readonly eps: number;
  readonly momentum: number | null;
  readonly affine: boolean;
  readonly trackRunningStats: boolean;

  constructor(readonly numFeatures: number, opts: BatchNormOptions, private readonly ranks: readonly number[]) {
    super();
    const name = this.constructor.name;
    if (!Number.isInteger(numFeatures) || numFeatures < 1) throw new ValueError(`${name}: numFeatures must be a positive integer, got ${numFeatures}`);
    this.eps = opts.eps ?? 1e-5;
    this.momentum = opts.momentum === undefined ? 0.1 : opts.momentum;
    this.affine = opts.affine ?? true;
    this.trackRunningStats = opts.trackRunningStats ?? true;
    if (!(this.eps > 0)) throw new ValueError(`${name}: eps must be positive, got ${this.eps}`);
    if (this.momentum !== null && !(this.momentum >= 0 && this.momentum <= 1)) throw new ValueError(`${name}: momentum must be in [0, 1] or null, got ${this.momentum}`);
    this.weight = this.affine ? Parameter(filled([numFeatures], 1, 'float32', name)) : null;
    this.bias = this.affine ? Parameter(filled([numFeatures], 0, 'float32', name)) : null;
    this.runningMean = this.trackRunningStats ? this.registerBuffer(filled([numFeatures], 0, 'float32', name)) : null;
    this.runningVar = this.trackRunningStats ? this.registerBuffer(filled([numFeatures], 1, 'float32', name)) : null;
    this.numBatchesTracked = this.trackRunningStats ? this.registerBuffer(filled([], 0, 'int32', name)) : null;
  }

  forward(x: Tensor): Tensor {
    const name = `${this.constructor.name}(${this.numFeatures})`;
    if (!(x instanceof Tensor) || x.dtype !== 'float32') throw new DTypeError(`${name}: expected a float32 input, got ${x instanceof Tensor ? x.dtype : typeof x}`);
    if (!this.ranks.includes(x.ndim)) throw new ShapeError(`${name}: expected a ${this.ranks.join('-D or ')}-D input, got ${fmtShape(x.shape)}`);
    if (x.shape[1] !== this.numFeatures) throw new ShapeError(`${name}: expected ${this.numFeatures} channels in dim 1, got ${fmtShape(x.shape)}`);
    const axes = [0, ...Array.from({ length: x.ndim - 2 }, (_, i) => i + 2)];
    const bshape = x.shape.map((d, i) => (i === 1 ? d : 1));
    const useBatch = this.training || !this.trackRunningStats;
    let m: Tensor, v: Tensor;
    if (useBatch) {
      const n = x.size / this.numFeatures;
      if (this.training && n <= 1) throw new ShapeError(`${name}: expected more than 1 value per channel when training, got input ${fmtShape(x.shape)}`);
      if (x.dtype === 'float32') {
        // Fused kernels (three dispatches each way); γ = 1, β = 0 without affine.
        const C = this.numFeatures;
        const w = this.weight ?? filled([C], 1, 'float32', name);
        const b = this.bias ?? filled([C], 0, 'float32', name);
        const r = batchNormTrain(x, w, b, this.eps, name);
        if (this.training && this.trackRunningStats) this.updateRunning(r.mean, r.variance, n);
        r.mean.dispose();
        r.variance.dispose();
        if (!this.weight) w.dispose();
        if (!this.bias) b.dispose();
        return r.out;
      }
      m = mean(x, axes, true);
      const xc = sub(x, m);
      v = mean(mul(xc, xc), axes, true);
      if (this.training && this.trackRunningStats) this.updateRunning(m, v, n);
      const out = div(xc, sqrt(add(v, this.eps)));
      return this.affineOut(out, bshape);
    }
    m = reshape(this.runningMean!, bshape);
    v = reshape(this.runningVar!, bshape);
    return this.affineOut(div(sub(x, m), sqrt(add(v, this.eps))), bshape);
  }

  private affineOut(xhat: Tensor, bshape: number[]): Tensor {
    if (!this.affine) return xhat;
    return add(mul(xhat, reshape(this.weight!, bshape)), reshape(this.bias!, bshape));
  }

  private updateRunning(m: Tensor, v: Tensor, n: number): void {
    noGrad(() => {
      const nbt = this.numBatchesTracked!;
      nbt.assign(add(nbt, 1));
      // momentum null: a cumulative average, which needs the count; read it lazily on the host
      // would stall, so the factor 1/count is computed on the device.
      const f: Tensor | number = this.momentum ?? div(1, nbt.float());
      const keep = typeof f === 'number' ? 1 - f : sub(1, f);
      const C = this.numFeatures;
      const rm = this.runningMean!, rv = this.runningVar!;
      rm.assign(add(mul(rm, keep), mul(reshape(m, [C]), f)));
      rv.assign(add(mul(rv, keep), mul(reshape(v, [C]), typeof f === 'number' ? (f * n) / (n - 1) : mul(f, n / (n - 1)))));
    });
  }

  override extraRepr(): string {
    return `${this.numFeatures}, eps=${pyNum(this.eps)}, momentum=${this.momentum === null ? 'None' : pyNum(this.momentum)}, affine=${this.affine ? 'True' : 'False'}, track_running_stats=${this.trackRunningStats ? 'True' : 'False'}`;
  }
}

/** Over (N, C) or (N, C, L) inputs. */
export class BatchNorm1d extends BatchNormBase {
  constructor(numFeatures: number, opts: BatchNormOptions = {}) {
    super(numFeatures, opts, [2, 3]);
  }
}

/** Over (N, C, H, W) inputs. */
export class BatchNorm2d extends BatchNormBase {
  constructor(numFeatures: number, opts: BatchNormOptions = {}) {
    super(numFeatures, opts, [4]);
  }
}
