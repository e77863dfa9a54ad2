// Conv2d and the pooling layers: thin modules over src/ops/conv.ts and src/ops/pool.ts.
import { ShapeError, ValueError, fmtShape } from '../errors.js';
import type { Tensor } from '../tensor/tensor.js';
import { Module, Parameter } from './module.js';
import { defaultLayerInit_ } from './init.js';
import { filled } from '../ops/elementwise.js';
import { conv2d, pair, type IntPair } from '../ops/conv.js';
import { adaptiveAvgPool2d, avgPool2d, maxPool2d } from '../ops/pool.js';

/** A pooling layer's window, stride and padding, checked when it is built (as PyTorch's layers), not at the first forward. */
function checkPoolArgs(layer: string, kernelSize: IntPair, stride: IntPair, padding: IntPair): void {
  pair(kernelSize, 'kernelSize', layer, 1);
  pair(stride, 'stride', layer, 1);
  pair(padding, 'padding', layer, 0);
}

const two = (v: IntPair): [number, number] => (typeof v === 'number' ? [v, v] : [v[0], v[1]]);
const fmtPair = (v: IntPair): string => `(${two(v).join(', ')})`;

export interface Conv2dLayerOptions {
  stride?: IntPair;
  padding?: IntPair;
  dilation?: IntPair;
  groups?: number;
  bias?: boolean;
}

/** 2-D convolution over NCHW input; weight (out, in/groups, kh, kw), PyTorch's default init. */
export class Conv2d extends Module {
  weight: Tensor;
  bias: Tensor | null;
  readonly kernelSize: [number, number];
  readonly stride: IntPair;
  readonly padding: IntPair;
  readonly dilation: IntPair;
  readonly groups: number;

  constructor(readonly inChannels: number, readonly outChannels: number, kernelSize: IntPair, opts: Conv2dLayerOptions = {}) {
    super();
    this.kernelSize = two(kernelSize);
    this.stride = opts.stride ?? 1;
    this.padding = opts.padding ?? 0;
    this.dilation = opts.dilation ?? 1;
    this.groups = opts.groups ?? 1;
    const name = `Conv2d(${inChannels}, ${outChannels})`;
    for (const [v, what] of [[inChannels, 'inChannels'], [outChannels, 'outChannels'], [this.groups, 'groups'], ...this.kernelSize.map((k) => [k, 'kernelSize'] as const)] as const) {
      if (!Number.isInteger(v) || v < 1) throw new ValueError(`${name}: ${what} must be a positive integer, got ${v}`);
    }
    if (inChannels % this.groups || outChannels % this.groups) throw new ValueError(`${name}: inChannels and outChannels must be divisible by groups (${this.groups})`);
    this.weight = Parameter(filled([outChannels, inChannels / this.groups, ...this.kernelSize], 0, 'float32', name));
    this.bias = opts.bias ?? true ? Parameter(filled([outChannels], 0, 'float32', name)) : null;
    this.resetParameters();
  }

  resetParameters(): void {
    defaultLayerInit_(this.weight, this.bias);
  }

  forward(x: Tensor): Tensor {
    if ((x.ndim !== 4 && x.ndim !== 3) || x.shape[x.ndim - 3] !== this.inChannels) {
      throw new ShapeError(`Conv2d(${this.inChannels}, ${this.outChannels}): expected input (N, ${this.inChannels}, H, W), got ${fmtShape(x.shape)}`);
    }
    return conv2d(x, this.weight, this.bias, { stride: this.stride, padding: this.padding, dilation: this.dilation, groups: this.groups });
  }

  override extraRepr(): string {
    let s = `${this.inChannels}, ${this.outChannels}, kernel_size=${fmtPair(this.kernelSize)}, stride=${fmtPair(this.stride)}`;
    if (two(this.padding).some((v) => v !== 0)) s += `, padding=${fmtPair(this.padding)}`;
    if (two(this.dilation).some((v) => v !== 1)) s += `, dilation=${fmtPair(this.dilation)}`;
    if (this.groups !== 1) s += `, groups=${this.groups}`;
    if (!this.bias) s += ', bias=False';
    return s;
  }
}

export class MaxPool2d extends Module {
  readonly stride: IntPair;
  constructor(readonly kernelSize: IntPair, stride?: IntPair | null, readonly opts: { padding?: IntPair; dilation?: IntPair; ceilMode?: boolean } = {}) {
    super();
    this.stride = stride ?? kernelSize;
    checkPoolArgs('MaxPool2d', kernelSize, this.stride, opts.padding ?? 0);
  }
  forward(x: Tensor): Tensor {
    return maxPool2d(x, this.kernelSize, { ...this.opts, stride: this.stride });
  }
  override extraRepr(): string {
    return `kernel_size=${this.kernelSize}, stride=${this.stride}, padding=${this.opts.padding ?? 0}, dilation=${this.opts.dilation ?? 1}, ceil_mode=${this.opts.ceilMode ? 'True' : 'False'}`;
  }
}

export class AvgPool2d extends Module {
  readonly stride: IntPair;
  constructor(readonly kernelSize: IntPair, stride?: IntPair | null, readonly opts: { padding?: IntPair; ceilMode?: boolean; countIncludePad?: boolean; divisorOverride?: number | null } = {}) {
    super();
    this.stride = stride ?? kernelSize;
    checkPoolArgs('AvgPool2d', kernelSize, this.stride, opts.padding ?? 0);
  }
  forward(x: Tensor): Tensor {
    return avgPool2d(x, this.kernelSize, { ...this.opts, stride: this.stride });
  }
  override extraRepr(): string {
    return `kernel_size=${this.kernelSize}, stride=${this.stride}, padding=${this.opts.padding ?? 0}`;
  }
}

export class AdaptiveAvgPool2d extends Module {
  constructor(readonly outputSize: number | readonly [number | null, number | null]) {
    super();
  }
  forward(x: Tensor): Tensor {
    return adaptiveAvgPool2d(x, this.outputSize);
  }
  override extraRepr(): string {
    return `output_size=${typeof this.outputSize === 'number' ? this.outputSize : `(${this.outputSize.map((v) => v ?? 'None').join(', ')})`}`;
  }
}
