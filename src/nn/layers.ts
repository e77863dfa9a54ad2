// Layers without their own kernels: Linear (on the GEMM), containers and activations.
import { DTypeError, ShapeError, ValueError, fmtShape } from '../errors.js';
import { Tensor } from '../tensor/tensor.js';
import { currentBackend } from '../runtime.js';
import { Module, Parameter } from './module.js';
import { defaultLayerInit_ } from './init.js';
import { linear } from '../ops/linear.js';
import { gt, mul, relu, sigmoid, tanh, where } from '../ops/elementwise.js';
import { flatten } from '../ops/view.js';
import { dropout } from '../functional/dropout.js';
import { filled } from '../ops/elementwise.js';

function checkSize(v: number, what: string, layer: string): void {
  if (!Number.isInteger(v) || v < 1) throw new ValueError(`${layer}: ${what} must be a positive integer, got ${v}`);
}

/** y = x·Wᵀ + b; weight (out, in) and bias initialised as PyTorch does. */
export class Linear extends Module {
  weight: Tensor;
  bias: Tensor | null;
  constructor(readonly inFeatures: number, readonly outFeatures: number, opts: { bias?: boolean } = {}) {
    super();
    checkSize(inFeatures, 'inFeatures', 'Linear');
    checkSize(outFeatures, 'outFeatures', 'Linear');
    currentBackend('Linear');
    this.weight = Parameter(filled([outFeatures, inFeatures], 0, 'float32', 'Linear'));
    this.bias = opts.bias ?? true ? Parameter(filled([outFeatures], 0, 'float32', 'Linear')) : null;
    this.resetParameters();
  }
  /** PyTorch's default initialisation. */
  resetParameters(): void {
    defaultLayerInit_(this.weight, this.bias);
  }

  forward(x: Tensor): Tensor {
    const name = `Linear(${this.inFeatures}→${this.outFeatures})`;
    if (!(x instanceof Tensor)) throw new DTypeError(`${name}: expected a Tensor input`);
    if (x.shape[x.ndim - 1] !== this.inFeatures) throw new ShapeError(`${name}: expected last dim ${this.inFeatures}, got ${fmtShape(x.shape)}`);
    return linear(x, this.weight, this.bias, name);
  }
  override extraRepr(): string {
    return `in_features=${this.inFeatures}, out_features=${this.outFeatures}, bias=${this.bias ? 'True' : 'False'}`;
  }
}

/** Runs modules in order; children are named 0, 1, 2, … */
export class Sequential extends Module {
  private readonly layers: Module[];
  constructor(...modules: Module[]) {
    super();
    modules.forEach((m, i) => {
      if (!(m instanceof Module)) throw new DTypeError(`Sequential: argument ${i} is not a Module`);
    });
    this.layers = modules;
  }
  override *namedChildren(): Generator<[string, Module]> {
    for (let i = 0; i < this.layers.length; i++) yield [String(i), this.layers[i]!];
  }
  get length(): number {
    return this.layers.length;
  }
  at(i: number): Module {
    const m = this.layers[i < 0 ? i + this.layers.length : i];
    if (!m) throw new ShapeError(`Sequential: index ${i} is out of range for ${this.layers.length} modules`);
    return m;
  }
  forward(x: Tensor): Tensor {
    let y: unknown = x;
    for (const m of this.layers) y = m.forward(y as Tensor);
    return y as Tensor;
  }
}

export class Identity extends Module {
  forward(x: Tensor): Tensor {
    return x;
  }
}

export class Flatten extends Module {
  constructor(readonly startDim = 1, readonly endDim = -1) {
    super();
  }
  forward(x: Tensor): Tensor {
    return flatten(x, this.startDim, this.endDim);
  }
  override extraRepr(): string {
    return `start_dim=${this.startDim}, end_dim=${this.endDim}`;
  }
}

/** Zeroes elements with probability p in training and scales the rest by 1/(1−p). */
export class Dropout extends Module {
  constructor(readonly p = 0.5) {
    super();
    if (!(p >= 0 && p <= 1)) throw new ValueError(`Dropout: p must be in [0, 1], got ${p}`);
  }
  forward(x: Tensor): Tensor {
    return dropout(x, this.p, this.training);
  }
  override extraRepr(): string {
    return `p=${this.p}`;
  }
}

export class ReLU extends Module {
  forward(x: Tensor): Tensor {
    return relu(x);
  }
}

export class LeakyReLU extends Module {
  constructor(readonly negativeSlope = 0.01) {
    super();
    if (!Number.isFinite(negativeSlope)) throw new ValueError(`LeakyReLU: negativeSlope must be a finite number, got ${negativeSlope}`);
  }
  forward(x: Tensor): Tensor {
    return where(gt(x, 0), x, mul(x, this.negativeSlope));
  }
  override extraRepr(): string {
    return `negative_slope=${this.negativeSlope}`;
  }
}

export class Sigmoid extends Module {
  forward(x: Tensor): Tensor {
    return sigmoid(x);
  }
}

export class Tanh extends Module {
  forward(x: Tensor): Tensor {
    return tanh(x);
  }
}
