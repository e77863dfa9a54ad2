// Mean squared error in two kernels: one workgroup reduces Σ(a − b)² (scaled by 1/n for 'mean')
// in the forward, one map writes ±2·scale·(a − b)·g in the backward. The composite form (sub, mul,
// sum and their gradients) takes 7–9 dispatches for what is, in a classifier, a few thousand
// elements: launch overhead is the whole cost. Larger inputs keep the composite form, which
// spreads the reduction over many workgroups.
import type { CpuView, Kernel } from '../backend/types.js';
import { attach, needsGrad } from '../autograd/node.js';
import type { Tensor } from '../tensor/tensor.js';
import { PRELUDE, WG, grid1d, launch, main1d } from './kernel.js';

/** The most elements the one-workgroup reduction takes. */
export const MSE_FUSED_MAX = 1 << 16;

interface MseParams {
  n: number;
  /** 1/n for 'mean', 1 for 'sum' (forward); ±2·that (backward). */
  scale: number;
}

const mseForwardKernel: Kernel<MseParams> = {
  name: 'mse_loss',
  key: () => 'f',
  cpu: (ins: CpuView[], outs: CpuView[], p) => {
    const a = ins[0]!.f32, b = ins[1]!.f32;
    let s = 0;
    for (let i = 0; i < p.n; i++) {
      const d = Math.fround(a[i]! - b[i]!);
      s += d * d;
    }
    outs[0]!.f32[0] = s * p.scale;
  },
  wgsl: () => `${PRELUDE}
@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(2) var<storage, read> B: array<f32>;
@group(0) @binding(3) var<storage, read_write> O: array<f32>;
var<workgroup> sh: array<f32, ${WG}>;
@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_index) li: u32) {
  let n = pu(0u);
  var acc = 0.0;
  for (var i = li; i < n; i += ${WG}u) { let d = A[i] - B[i]; acc += d * d; }
  sh[li] = acc;
  workgroupBarrier();
  for (var s = ${WG / 2}u; s > 0u; s >>= 1u) {
    if (li < s) { sh[li] += sh[li + s]; }
    workgroupBarrier();
  }
  if (li == 0u) { O[0] = sh[0] * pf(1u); }
}`,
  grid: () => [1, 1, 1],
  uniforms: (p, u) => void u.u32(p.n).f32(p.scale),
};

const mseBackwardKernel: Kernel<MseParams> = {
  name: 'mse_loss.backward',
  key: () => 'b',
  cpu: (ins: CpuView[], outs: CpuView[], p) => {
    const a = ins[0]!.f32, b = ins[1]!.f32, g = ins[2]!.f32[0]!, o = outs[0]!.f32;
    for (let i = 0; i < p.n; i++) o[i] = Math.fround(p.scale * Math.fround(a[i]! - b[i]!)) * g;
  },
  wgsl: () => `${PRELUDE}
@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(2) var<storage, read> B: array<f32>;
@group(0) @binding(3) var<storage, read> G: array<f32>;
@group(0) @binding(4) var<storage, read_write> O: array<f32>;
${main1d(`  if (idx >= pu(0u)) { return; }
  O[idx] = pf(1u) * (A[idx] - B[idx]) * G[0];`)}`,
  grid: (p) => grid1d(p.n),
  uniforms: (p, u) => void u.u32(p.n).f32(p.scale),
};

/**
 * mean or sum of (input − target)² as a 0-d tensor, for float32 operands of one shape with at
 * most MSE_FUSED_MAX elements (the caller checks).
 */
export function mseLossFused(input: Tensor, target: Tensor, reduction: 'mean' | 'sum'): Tensor {
  const n = input.size;
  const scale = reduction === 'mean' ? 1 / n : 1;
  const out = launch('MSELoss', mseForwardKernel, [input, target], [], 'float32', { n, scale });
  if (needsGrad(input, target)) {
    const shape = input.shape;
    attach(out, 'MSELoss', [input, target], (g, s, need) => {
      const grad = (sign: number) => launch('MSELoss.backward', mseBackwardKernel, [s[0]!, s[1]!, g], shape, 'float32', { n, scale: sign * 2 * scale });
      return [need[0] ? grad(1) : null, need[1] ? grad(-1) : null];
    }, [input, target]);
  }
  return out;
}
