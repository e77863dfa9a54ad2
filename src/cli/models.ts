// The networks `grilly train` builds. Static images are fed as a constant input current: the
// first (stateless) layer runs once and its output is repeated over T steps, which is the same
// computation as repeating the image and eight times cheaper for the first layer.
import type { Tensor } from '../tensor/tensor.js';
import * as nn from '../nn/index.js';
import { expand, reshape } from '../ops/view.js';
import { CliError } from './args.js';

export type ModelName = 'mlp' | 'csnn';
export type NeuronName = 'lif' | 'plif' | 'if';
export const SURROGATES = ['atan', 'sigmoid', 'fast-sigmoid', 'piecewise-quadratic', 'erf', 'super-spike'] as const;
export type SurrogateName = (typeof SURROGATES)[number];

/** (N, …) → (T, N, …) by repetition (the gradient sums over T). */
export class RepeatT extends nn.Module {
  constructor(readonly T: number) {
    super();
  }
  forward(x: Tensor): Tensor {
    return expand(reshape(x, [1, ...x.shape]), [this.T, ...x.shape]);
  }
  override extraRepr(): string {
    return `T=${this.T}`;
  }
}

export interface ModelSpec {
  model: ModelName;
  neuron: NeuronName;
  surrogate: SurrogateName;
  /** Shape of one sample without time: (C, H, W) or (features). */
  inputShape: number[];
  /** Static input (repeated over T) or a (T, …) sequence per sample. */
  temporal: boolean;
  T: number;
  classes: number;
  hidden: number;
}

function surrogate(name: SurrogateName): nn.SurrogateFunction {
  if (name === 'atan') return new nn.ATan();
  if (name === 'sigmoid') return new nn.surrogate.Sigmoid();
  if (name === 'fast-sigmoid') return new nn.FastSigmoid();
  if (name === 'piecewise-quadratic') return new nn.PiecewiseQuadratic();
  if (name === 'erf') return new nn.Erf();
  return new nn.SuperSpike();
}

function neuron(spec: ModelSpec): nn.BaseNode {
  const o = { surrogateFunction: surrogate(spec.surrogate), stepMode: 'm' as const, detachReset: true };
  if (spec.neuron === 'lif') return new nn.LIFNode({ tau: 2, ...o });
  if (spec.neuron === 'plif') return new nn.ParametricLIFNode({ initTau: 2, ...o });
  return new nn.IFNode(o);
}

/** A network mapping (N, …) static input or (T, N, …) sequences to (T, N, classes) spikes. */
export function buildModel(spec: ModelSpec): nn.Sequential {
  const features = spec.inputShape.reduce((a, b) => a * b, 1);
  if (spec.model === 'mlp') {
    const first = spec.temporal
      ? [new nn.SeqToANNContainer(new nn.Flatten(), new nn.Linear(features, spec.hidden))]
      : [new nn.Flatten(), new nn.Linear(features, spec.hidden), new RepeatT(spec.T)];
    return new nn.Sequential(...first, neuron(spec), new nn.SeqToANNContainer(new nn.Linear(spec.hidden, spec.classes)), neuron(spec));
  }
  if (spec.inputShape.length !== 3) throw new CliError(`grilly train: --model csnn needs image data (channels, height, width), but this dataset's samples are ${JSON.stringify(spec.inputShape)}; use --model mlp`);
  const [C, H, W] = spec.inputShape as [number, number, number];
  const ch = 128;
  const conv1 = [new nn.Conv2d(C, ch, 3, { padding: 1, bias: false }), new nn.BatchNorm2d(ch)];
  const first = spec.temporal ? [new nn.SeqToANNContainer(...conv1)] : [...conv1, new RepeatT(spec.T)];
  const h = Math.floor(Math.floor(H / 2) / 2), w = Math.floor(Math.floor(W / 2) / 2);
  return new nn.Sequential(
    ...first,
    neuron(spec),
    new nn.SeqToANNContainer(new nn.MaxPool2d(2), new nn.Conv2d(ch, ch, 3, { padding: 1, bias: false }), new nn.BatchNorm2d(ch)),
    neuron(spec),
    new nn.SeqToANNContainer(new nn.MaxPool2d(2), new nn.Flatten(), new nn.Linear(ch * h * w, spec.classes)),
    neuron(spec),
  );
}
