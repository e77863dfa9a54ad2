// ANN → SNN conversion (rate coding). Each ReLU becomes VoltageScaler(1/s) → IFNode(soft reset,
// threshold 1) → VoltageScaler(s), where s is that ReLU's activation statistic over calibration
// data; Conv2d/Linear + BatchNorm pairs are fused first. The ANN itself is left untouched.
import { DTypeError, ShapeError, ValueError, fmtShape } from '../errors.js';
import { Tensor } from '../tensor/tensor.js';
import { noGrad } from '../runtime.js';
import { Module } from '../nn/module.js';
import { Dropout, Flatten, Identity, Linear, ReLU, Sequential } from '../nn/layers.js';
import { AdaptiveAvgPool2d, AvgPool2d, Conv2d, MaxPool2d } from '../nn/conv.js';
import { BatchNorm1d, BatchNorm2d } from '../nn/batchnorm.js';
import { add, div, filled, mul, sqrt, sub } from '../ops/elementwise.js';
import { reshape } from '../ops/view.js';
import { IFNode } from './node.js';
import { resetNet } from './functional.js';
import { argmax } from '../ops/reduce.js';
import { eq } from '../ops/elementwise.js';
import { sum } from '../ops/reduce.js';

/** Multiplies its input by a scale: a number, or one per channel (dim 1) given as a vector. */
export class VoltageScaler extends Module {
  scale: Tensor;
  constructor(scale: number | Tensor | readonly number[]) {
    super();
    if (!(scale instanceof Tensor)) {
      const vs = typeof scale === 'number' ? [scale] : Array.from(scale);
      if (vs.some((v) => !Number.isFinite(v))) throw new ValueError(`VoltageScaler: scale must be finite, got ${typeof scale === 'number' ? scale : `[${vs.join(', ')}]`}`);
    }
    const t = scale instanceof Tensor ? scale : typeof scale === 'number' ? filled([], scale, 'float32', 'VoltageScaler') : noGrad(() => filled([scale.length], 0, 'float32', 'VoltageScaler').assign(scale));
    if (t.ndim > 1) throw new ShapeError(`VoltageScaler: scale must be a number or a vector, got shape ${fmtShape(t.shape)}`);
    this.scale = this.registerBuffer(t);
  }
  forward(x: Tensor): Tensor {
    if (this.scale.ndim === 0) return mul(x, this.scale);
    const C = this.scale.shape[0]!;
    if (x.ndim < 2 || x.shape[1] !== C) throw new ShapeError(`VoltageScaler: a per-channel scale of ${C} needs input (N, ${C}, …), got ${fmtShape(x.shape)}`);
    return mul(x, reshape(this.scale, [1, C, ...x.shape.slice(2).map(() => 1)]));
  }
  override extraRepr(): string {
    return this.scale.ndim === 0 ? `scale=${this.scale.dataSync()?.[0] ?? '…'}` : `scale=[${this.scale.shape[0]}]`;
  }
}

export type ConvertMode = 'max' | `${number}%` | number;

export interface ConverterOptions {
  /** The activation statistic: 'max', a percentile such as '99.9%', or a fraction of the max in (0, 1]. */
  mode?: ConvertMode;
  /** Fuse Conv2d + BatchNorm2d and Linear + BatchNorm1d pairs first (default true). */
  fuseBN?: boolean;
}

type Layer = Module;
const SUPPORTED = [Linear, Conv2d, BatchNorm1d, BatchNorm2d, ReLU, Flatten, Dropout, Identity, AvgPool2d, AdaptiveAvgPool2d, MaxPool2d];

/** The ANN's layers in order (nested Sequentials flattened), or a typed error naming what cannot be converted. */
function flatLayers(m: Module, path: string): Layer[] {
  if (m instanceof Sequential) return [...m.namedChildren()].flatMap(([k, c]) => flatLayers(c, path ? `${path}.${k}` : k));
  if (SUPPORTED.some((C) => m instanceof C)) return [m];
  const where = path ? `the layer '${path}' (${m.constructor.name})` : `${m.constructor.name}`;
  if (!path && !(m instanceof Sequential)) {
    throw new ValueError(
      `Converter: cannot convert ${where}: it has its own forward, so a ReLU used as a function inside it (x.relu(), grilly.relu) cannot be found and replaced. Build the ANN from nn.Sequential with nn.ReLU modules`,
    );
  }
  throw new ValueError(`Converter: ${where} is not supported; supported layers are ${SUPPORTED.map((C) => C.name).join(', ')} inside nn.Sequential`);
}

/** A copy; withBias gives it a bias (zero where the original had none), for fusing BatchNorm. */
function cloneLinear(l: Linear, withBias = !!l.bias): Linear {
  const c = new Linear(l.inFeatures, l.outFeatures, { bias: withBias });
  noGrad(() => {
    c.weight.assign(l.weight);
    if (c.bias) c.bias.assign(l.bias ?? 0);
  });
  return c;
}

function cloneConv(l: Conv2d, withBias = !!l.bias): Conv2d {
  const c = new Conv2d(l.inChannels, l.outChannels, l.kernelSize, { stride: l.stride, padding: l.padding, dilation: l.dilation, groups: l.groups, bias: withBias });
  noGrad(() => {
    c.weight.assign(l.weight);
    if (c.bias) c.bias.assign(l.bias ?? 0);
  });
  return c;
}

/** Conv2d/Linear followed by BatchNorm (running statistics) as one layer: W·γ/√(σ²+ε), (b − μ)·γ/√(σ²+ε) + β. */
export function fuseBatchNorm(layer: Conv2d | Linear, bn: BatchNorm1d | BatchNorm2d): Conv2d | Linear {
  const out = layer instanceof Conv2d ? cloneConv(layer, true) : cloneLinear(layer, true);
  const C = bn.numFeatures;
  const outF = layer instanceof Conv2d ? layer.outChannels : layer.outFeatures;
  if (C !== outF) throw new ShapeError(`Converter: BatchNorm with ${C} features cannot follow a layer with ${outF} outputs`);
  if (!bn.runningMean || !bn.runningVar) throw new ValueError('Converter: a BatchNorm without running statistics (trackRunningStats false) cannot be fused');
  noGrad(() => {
    const gamma = bn.weight ?? filled([C], 1, 'float32', 'fuse');
    const beta = bn.bias ?? filled([C], 0, 'float32', 'fuse');
    const k = div(gamma, sqrt(add(bn.runningVar!, bn.eps)));
    const wShape = [C, ...out.weight.shape.slice(1).map(() => 1)];
    out.weight.assign(mul(out.weight, reshape(k, wShape)));
    out.bias!.assign(add(mul(sub(out.bias!, bn.runningMean!), k), beta));
  });
  return out;
}

function cloneOther(m: Module): Module {
  if (m instanceof Linear) return cloneLinear(m);
  if (m instanceof Conv2d) return cloneConv(m);
  if (m instanceof BatchNorm1d || m instanceof BatchNorm2d) {
    const c = m instanceof BatchNorm1d ? new BatchNorm1d(m.numFeatures, { eps: m.eps, momentum: m.momentum, affine: m.affine, trackRunningStats: m.trackRunningStats }) : new BatchNorm2d(m.numFeatures, { eps: m.eps, momentum: m.momentum, affine: m.affine, trackRunningStats: m.trackRunningStats });
    c.loadStateDict(m.stateDict());
    return c.eval();
  }
  if (m instanceof Dropout || m instanceof Identity) return new Identity();
  if (m instanceof Flatten) return new Flatten(m.startDim, m.endDim);
  if (m instanceof AvgPool2d) return new AvgPool2d(m.kernelSize, m.stride, m.opts);
  if (m instanceof MaxPool2d) return new MaxPool2d(m.kernelSize, m.stride, m.opts);
  if (m instanceof AdaptiveAvgPool2d) return new AdaptiveAvgPool2d(m.outputSize);
  if (m instanceof ReLU) return new ReLU();
  throw new ValueError(`Converter: cannot copy ${m.constructor.name}`);
}

function parseMode(mode: ConvertMode): { kind: 'max' } | { kind: 'percentile'; q: number } | { kind: 'fraction'; f: number } {
  if (mode === 'max') return { kind: 'max' };
  if (typeof mode === 'number') {
    if (!(mode > 0 && mode <= 1)) throw new ValueError(`Converter: a fraction mode must be in (0, 1], got ${mode}`);
    return { kind: 'fraction', f: mode };
  }
  if (typeof mode === 'string' && mode.endsWith('%')) {
    const p = Number(mode.slice(0, -1));
    if (!(p > 0 && p <= 100)) throw new ValueError(`Converter: a percentile must be in (0, 100], got ${mode}`);
    return { kind: 'percentile', q: p / 100 };
  }
  throw new ValueError(`Converter: mode must be 'max', a percentile like '99.9%' or a fraction in (0, 1], got ${JSON.stringify(mode)}`);
}

/** Values kept per ReLU for percentiles: enough for a 99.9th percentile, bounded in memory. */
const MAX_SAMPLES = 1 << 22;

/** Quantile with linear interpolation between order statistics (torch.quantile's default). */
export function quantile(values: Float32Array, q: number): number {
  if (values.length === 0) return 0;
  const sorted = Float32Array.from(values).sort();
  const pos = q * (sorted.length - 1);
  const lo = Math.floor(pos), hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

export class Converter {
  private readonly mode: ReturnType<typeof parseMode>;
  private readonly fuseBN: boolean;
  constructor(private readonly ann: Module, opts: ConverterOptions = {}) {
    if (!(ann instanceof Module)) throw new DTypeError('Converter: expected an nn.Module');
    this.mode = parseMode(opts.mode ?? 'max');
    this.fuseBN = opts.fuseBN ?? true;
    flatLayers(ann, ''); // fail early on what cannot be converted
  }

  /** The ANN copied, with BatchNorm fused where possible, in eval mode. */
  private prepared(): Module[] {
    const layers = flatLayers(this.ann, '');
    const out: Module[] = [];
    for (let i = 0; i < layers.length; i++) {
      const m = layers[i]!;
      const next = layers[i + 1];
      if (this.fuseBN && (m instanceof Conv2d || m instanceof Linear) && (next instanceof BatchNorm2d || next instanceof BatchNorm1d) && next.trackRunningStats) {
        out.push(fuseBatchNorm(m, next));
        i++;
      } else out.push(cloneOther(m));
    }
    return out;
  }

  /**
   * Builds the SNN. Without calibration data every scale is 1 (right only when activations stay
   * ≤ 1; a warning says so); with it (an iterable of input batches) the result is a Promise.
   */
  convert(): Sequential;
  convert(calibration: Iterable<Tensor> | AsyncIterable<Tensor>): Promise<Sequential>;
  convert(calibration?: Iterable<Tensor> | AsyncIterable<Tensor>): Sequential | Promise<Sequential> {
    const layers = this.prepared();
    const relus = layers.map((m, i) => (m instanceof ReLU ? i : -1)).filter((i) => i >= 0);
    if (calibration === undefined) {
      console.warn('Converter: no calibration data; every scale is 1, which is right only when the ANN\'s activations stay ≤ 1 — pass calibration batches to convert()');
      return build(layers, relus.map(() => 1));
    }
    return this.calibrate(layers, relus, calibration).then((scales) => build(layers, scales));
  }

  private async calibrate(layers: Module[], relus: number[], data: Iterable<Tensor> | AsyncIterable<Tensor>): Promise<number[]> {
    const maxes = relus.map(() => 0);
    const samples: Float32Array[][] = relus.map(() => []);
    const kept = relus.map(() => 0);
    let batches = 0;
    for await (const x of data as AsyncIterable<Tensor>) {
      if (!(x instanceof Tensor)) throw new DTypeError('Converter: calibration batches must be Tensors');
      batches++;
      const acts: Tensor[] = [];
      noGrad(() => {
        let h = x;
        layers.forEach((m, i) => {
          h = m.forward(h);
          if (relus.includes(i)) acts.push(h);
        });
      });
      for (let r = 0; r < acts.length; r++) {
        const v = (await acts[r]!.data()) as Float32Array;
        let mx = maxes[r]!;
        for (let i = 0; i < v.length; i++) if (v[i]! > mx) mx = v[i]!;
        maxes[r] = mx;
        if (this.mode.kind === 'percentile' && kept[r]! < MAX_SAMPLES) {
          const stride = Math.max(1, Math.ceil(v.length / Math.max(1, MAX_SAMPLES - kept[r]!)));
          const part = stride === 1 ? v : v.filter((_, i) => i % stride === 0);
          samples[r]!.push(part);
          kept[r] = kept[r]! + part.length;
        }
      }
    }
    if (batches === 0) throw new ValueError('Converter: the calibration iterable gave no batches; pass at least one input batch');
    return relus.map((_, r) => {
      let s: number;
      if (this.mode.kind === 'max') s = maxes[r]!;
      else if (this.mode.kind === 'fraction') s = maxes[r]! * this.mode.f;
      else {
        const all = new Float32Array(kept[r]!);
        let o = 0;
        for (const p of samples[r]!) (all.set(p, o), (o += p.length));
        s = quantile(all, this.mode.q);
      }
      // A ReLU that never fired on the calibration data keeps scale 1 (its IF neurons stay silent).
      return s > 0 ? s : 1;
    });
  }
}

function build(layers: Module[], scales: number[]): Sequential {
  const out: Module[] = [];
  let r = 0;
  for (const m of layers) {
    if (m instanceof ReLU) {
      const s = scales[r++]!;
      out.push(new Sequential(new VoltageScaler(1 / s), new IFNode({ vThreshold: 1, vReset: null }), new VoltageScaler(s)));
    } else out.push(m);
  }
  return new Sequential(...out).eval();
}

/** Feeds a static input for T steps (after resetting the network) and returns the mean output. */
export function snnInference(snn: Module, x: Tensor, T: number): Tensor {
  if (!Number.isInteger(T) || T < 1) throw new ValueError(`snnInference: T must be a positive integer, got ${T}`);
  return noGrad(() => {
    resetNet(snn);
    let acc = snn.forward(x);
    for (let t = 1; t < T; t++) acc = add(acc, snn.forward(x));
    resetNet(snn);
    return div(acc, T);
  });
}

/**
 * Accuracy after each T in Ts (one pass of max(Ts) steps per batch, the running mean read at each
 * T), over batches of { x, y } with int32 labels.
 */
export async function accuracyVsT(snn: Module, batches: Iterable<{ x: Tensor; y: Tensor }> | AsyncIterable<{ x: Tensor; y: Tensor }>, Ts: readonly number[]): Promise<Map<number, number>> {
  for (const T of Ts) if (!Number.isInteger(T) || T < 1) throw new ValueError(`accuracyVsT: every T must be a positive integer, got ${T}`);
  const sorted = [...new Set(Ts)].sort((a, b) => a - b);
  const maxT = sorted[sorted.length - 1]!;
  const correct = new Map(sorted.map((T) => [T, 0]));
  let total = 0;
  for await (const { x, y } of batches as AsyncIterable<{ x: Tensor; y: Tensor }>) {
    const counts: Promise<number>[] = [];
    noGrad(() => {
      resetNet(snn);
      let acc: Tensor | null = null;
      for (let t = 1; t <= maxT; t++) {
        const o = snn.forward(x);
        acc = acc ? add(acc, o) : o;
        if (correct.has(t)) counts.push(sum(eq(argmax(acc, 1), y)).item());
      }
      resetNet(snn);
    });
    const c = await Promise.all(counts);
    sorted.forEach((T, i) => correct.set(T, correct.get(T)! + c[i]!));
    total += y.size;
  }
  if (total === 0) throw new ValueError('accuracyVsT: no batches');
  return new Map(sorted.map((T) => [T, correct.get(T)! / total]));
}
