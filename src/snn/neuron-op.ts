// The multi-step neuron as one autograd op with three outputs (spikes, the voltage sequence when
// asked for, the last voltage): one forward dispatch, one backward dispatch.
import { ShapeError, fmtShape } from '../errors.js';
import { attachMulti, needsGrad } from '../autograd/node.js';
import { Tensor } from '../tensor/tensor.js';
import { backendOf, handles } from '../ops/kernel.js';
import { mul, sigmoid, sub } from '../ops/elementwise.js';
import { sum } from '../ops/reduce.js';
import { backwardBuffers, forwardBuffers, neuronBackwardKernel, neuronForwardKernel, type NeuronConfig, type NeuronParams } from './neuron-kernel.js';

export interface NeuronRun {
  vth: number;
  /** Reset voltage for hard reset; null for soft reset. */
  vReset: number | null;
  tau: number;
  /** Learnable w (1-element) when the model has one (1/τ = sigmoid(w)). */
  w?: Tensor;
  storeV: boolean;
}

export interface NeuronOutputs {
  spikes: Tensor;
  vSeq: Tensor | null;
  vLast: Tensor;
}

/**
 * Runs T steps of a neuron layer: x (T, …) from state v0 (…), or from a fresh state (every
 * neuron at vReset, 0 for soft reset) when v0 is null — no buffer to fill, no gradient for it.
 */
export function neuronMultiStep(x: Tensor, v0: Tensor | null, cfg: NeuronConfig, run: NeuronRun, name: string): NeuronOutputs {
  const T = x.shape[0]!;
  const rest = x.shape.slice(1);
  if (v0 && (v0.ndim !== rest.length || v0.shape.some((d, i) => d !== rest[i]))) {
    throw new ShapeError(`${name}: state ${fmtShape(v0.shape)} does not match the input's step shape ${fmtShape(rest)}`);
  }
  const N = rest.reduce((a, d) => a * d, 1);
  const inputs = [x, ...(v0 ? [v0] : []), ...(run.w ? [run.w] : [])];
  const b = backendOf(name, inputs);
  const grad = needsGrad(...inputs);
  const p: NeuronParams = { cfg, T, N, vth: run.vth, vr: run.vReset ?? 0, tau: run.tau, v0Const: !v0, saveH: grad, storeV: run.storeV };
  const bufs = forwardBuffers(p);
  const ins: Record<string, Tensor> = { X: x, ...(v0 ? { V0: v0 } : {}), ...(run.w ? { W: run.w } : {}) };
  const made: Record<string, Tensor> = {};
  for (const o of bufs.outputs) made[o] = Tensor.empty(o === 'VL' ? rest : x.shape, 'float32', name, b, Object.values(ins));
  b.run(neuronForwardKernel, handles(name, bufs.inputs.map((k) => ins[k]!)), handles(name, bufs.outputs.map((k) => made[k]!)), p);
  const spikes = made.S!;
  const vSeq = made.VS ?? null;
  const vLast = made.VL!;
  if (grad) {
    const H = made.H!;
    const outs = [spikes, ...(vSeq ? [vSeq] : []), vLast];
    const xShape = x.shape, vShape = rest, wShape = run.w?.shape;
    // Save only what this model's backward reads (IF and LIF need neither x nor v0).
    const needs = backwardBuffers({ ...p, hasGS: true }).inputs;
    const keep: Record<string, Tensor> = { H, ...(needs.includes('V0') ? { V0: v0! } : {}), ...(needs.includes('X') ? { X: x } : {}), ...(run.w ? { W: run.w } : {}) };
    const keys = Object.keys(keep);
    attachMulti(outs, name, inputs, (gs, s) => {
      const [gS, gVS, gVL] = vSeq ? gs : [gs[0]!, null, gs[1]!];
      const bp: NeuronParams = { ...p, hasGS: !!gS, hasGV: !!gVS, hasGVL: !!gVL };
      const bb = backwardBuffers(bp);
      const saved: Record<string, Tensor> = Object.fromEntries(keys.map((k, i) => [k, s[i]!]));
      const bin: Record<string, Tensor | null> = { ...saved, GS: gS ?? null, GV: gVS ?? null, GVL: gVL ?? null };
      const inT = bb.inputs.map((k) => bin[k]!);
      const be = backendOf(`${name}.backward`, inT);
      const res: Record<string, Tensor> = {};
      for (const o of bb.outputs) res[o] = Tensor.empty(o === 'GX' ? xShape : vShape, 'float32', `${name}.backward`, be, inT);
      be.run(neuronBackwardKernel, handles(name, inT), handles(name, bb.outputs.map((k) => res[k]!)), bp);
      let gw: Tensor | null = null;
      if (res.GK && saved.W) {
        // dL/dw = Σ_n gk_n · dk/dw with dk/dw = k(1 − k)
        const k = sigmoid(saved.W);
        gw = mul(sum(res.GK), mul(k, sub(1, k))).reshape(wShape!);
      }
      return [res.GX!, ...(v0 ? [res.GV0!] : []), ...(run.w ? [gw] : [])];
    }, Object.values(keep));
    H.dispose();
  }
  return { spikes, vSeq, vLast };
}
