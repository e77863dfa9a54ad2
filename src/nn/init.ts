// grilly/nn init: in-place initialisers with PyTorch's definitions (fans, gains, bounds).
import { DTypeError, ShapeError, ValueError, fmtShape } from '../errors.js';
import { noGrad } from '../runtime.js';
import { Tensor } from '../tensor/tensor.js';
import { randNormal, randUniform } from '../ops/random.js';
import { add, mul } from '../ops/elementwise.js';

export type Nonlinearity = 'linear' | 'conv1d' | 'conv2d' | 'conv3d' | 'sigmoid' | 'tanh' | 'relu' | 'leaky_relu' | 'selu';

/** torch.nn.init.calculate_gain. */
export function calculateGain(nonlinearity: Nonlinearity, param?: number): number {
  switch (nonlinearity) {
    case 'linear': case 'conv1d': case 'conv2d': case 'conv3d': case 'sigmoid': return 1;
    case 'tanh': return 5 / 3;
    case 'relu': return Math.SQRT2;
    case 'leaky_relu': {
      const slope = param ?? 0.01;
      return Math.sqrt(2 / (1 + slope * slope));
    }
    case 'selu': return 3 / 4;
    default: throw new ValueError(`calculateGain: unknown nonlinearity ${String(nonlinearity)}`);
  }
}

/** (fan_in, fan_out) as torch's _calculate_fan_in_and_fan_out. */
export function fans(t: Tensor, op = 'init'): [number, number] {
  if (t.ndim < 2) throw new ShapeError(`${op}: fan in and fan out need at least 2 dims, got ${fmtShape(t.shape)}`);
  const receptive = t.shape.slice(2).reduce((a, b) => a * b, 1);
  return [t.shape[1]! * receptive, t.shape[0]! * receptive];
}

export function uniform_(t: Tensor, a = 0, b = 1): Tensor {
  if (!(t instanceof Tensor) || t.dtype !== 'float32') throw new DTypeError(`uniform_: expected a float32 tensor, got ${t instanceof Tensor ? t.dtype : typeof t}`);
  if (!Number.isFinite(a) || !Number.isFinite(b) || a > b) throw new ValueError(`uniform_: expected finite bounds with a <= b, got a = ${a}, b = ${b}`);
  return noGrad(() => t.assign(add(mul(randUniform(t.shape, 'uniform_'), b - a), a)));
}
export function normal_(t: Tensor, mean = 0, std = 1): Tensor {
  if (!(t instanceof Tensor) || t.dtype !== 'float32') throw new DTypeError(`normal_: expected a float32 tensor, got ${t instanceof Tensor ? t.dtype : typeof t}`);
  if (!Number.isFinite(mean) || !(std >= 0) || !Number.isFinite(std)) throw new ValueError(`normal_: expected a finite mean and a finite std >= 0, got mean = ${mean}, std = ${std}`);
  return noGrad(() => t.assign(add(mul(randNormal(t.shape, 'normal_'), std), mean)));
}
export function constant_(t: Tensor, value: number): Tensor {
  if (typeof value !== 'number') throw new ValueError(`constant_: expected a number, got ${typeof value}`);
  return noGrad(() => t.assign(value));
}
export const zeros_ = (t: Tensor): Tensor => constant_(t, 0);
export const ones_ = (t: Tensor): Tensor => constant_(t, 1);

export interface KaimingOptions {
  a?: number;
  mode?: 'fan_in' | 'fan_out';
  nonlinearity?: Nonlinearity;
}

function kaimingStd(t: Tensor, o: KaimingOptions, op: string): number {
  const [fi, fo] = fans(t, op);
  const fan = (o.mode ?? 'fan_in') === 'fan_in' ? fi : fo;
  return calculateGain(o.nonlinearity ?? 'leaky_relu', o.a ?? 0) / Math.sqrt(fan);
}

export function kaimingUniform_(t: Tensor, o: KaimingOptions = {}): Tensor {
  const bound = Math.sqrt(3) * kaimingStd(t, o, 'kaimingUniform_');
  return uniform_(t, -bound, bound);
}
export function kaimingNormal_(t: Tensor, o: KaimingOptions = {}): Tensor {
  return normal_(t, 0, kaimingStd(t, o, 'kaimingNormal_'));
}
export function xavierUniform_(t: Tensor, o: { gain?: number } = {}): Tensor {
  const [fi, fo] = fans(t, 'xavierUniform_');
  const bound = (o.gain ?? 1) * Math.sqrt(6 / (fi + fo));
  return uniform_(t, -bound, bound);
}
export function xavierNormal_(t: Tensor, o: { gain?: number } = {}): Tensor {
  const [fi, fo] = fans(t, 'xavierNormal_');
  return normal_(t, 0, (o.gain ?? 1) * Math.sqrt(2 / (fi + fo)));
}

/** PyTorch's default for Linear and Conv: kaiming_uniform(a = √5) for the weight, U(±1/√fan_in) for the bias. */
export function defaultLayerInit_(weight: Tensor, bias: Tensor | null): void {
  kaimingUniform_(weight, { a: Math.sqrt(5) });
  if (bias) {
    const bound = 1 / Math.sqrt(fans(weight)[0]);
    uniform_(bias, -bound, bound);
  }
}
