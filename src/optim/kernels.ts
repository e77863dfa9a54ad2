// Fused optimizer updates: one kernel per parameter per step reads the gradient and updates the
// parameter and its state tensors in place. Each kernel is written once, CPU function and WGSL
// side by side, and serves both backends (in WGSL the parameter is X: P is the prelude's
// uniform block). Parameters and state are persistent tensors, in other slabs than the
// transient gradients, so the in-place dispatch needs no copies. Step-dependent scalars (bias corrections, step sizes)
// are computed on the host in float64, as PyTorch computes them in Python, and reach the kernel
// as float32 uniforms, as PyTorch casts Python scalars to the tensor's float32 opmath.
//
// The CPU functions round to float32 (Math.fround) where PyTorch's single-tensor ("for-loop")
// implementation materialises a float32 tensor, so the CPU backend follows PyTorch's float32
// arithmetic closely; the GPU computes in f32 throughout.
import type { Kernel } from '../backend/types.js';
import { PRELUDE, bindings, grid1d, launchInto, main1d } from '../ops/kernel.js';
import type { Tensor } from '../tensor/tensor.js';

const f = Math.fround;

// ---- SGD ---------------------------------------------------------------------------------------

/** SGD flag bits (uniform word 1). */
export const SGD_MAXIMIZE = 1;
export const SGD_WEIGHT_DECAY = 2;
/** First step of a momentum buffer: buf = g (torch.clone(grad)). */
export const SGD_FIRST = 4;
export const SGD_NESTEROV = 8;

export interface SgdParams {
  /** Elements. */
  n: number;
  vec: boolean;
  /** A momentum buffer is bound (momentum != 0). */
  momentum: boolean;
  flags: number;
  /** -lr (param.add_(grad, alpha=-lr)). */
  negLr: number;
  weightDecay: number;
  mu: number;
  /** 1 - dampening. */
  damp1: number;
}

// Uniforms: 0 n (in lanes), 1 flags, 2 -lr, 3 weight decay, 4 momentum, 5 1 - dampening.
//   g = maximize ? -grad : grad
//   if wd != 0: g = g + wd·p                         (grad.add(param, alpha=wd))
//   if momentum != 0:
//     buf = first ? g : buf·μ + (1 - dampening)·g    (buf.mul_(μ).add_(g, alpha=1-dampening))
//     g = nesterov ? g + μ·buf : buf                 (grad.add(buf, alpha=μ))
//   p = p + (-lr)·g                                  (param.add_(g, alpha=-lr))
export const sgdKernel: Kernel<SgdParams> = {
  name: 'optim_sgd',
  readsOutputs: true,
  key: (p) => `${p.vec ? 'v4' : 's'}${p.momentum ? 'm' : ''}`,
  cpu: (ins, outs, p) => {
    const G = ins[0]!.f32, P = outs[0]!.f32, B = p.momentum ? outs[1]!.f32 : null;
    const max = (p.flags & SGD_MAXIMIZE) !== 0, wdOn = (p.flags & SGD_WEIGHT_DECAY) !== 0;
    const first = (p.flags & SGD_FIRST) !== 0, nest = (p.flags & SGD_NESTEROV) !== 0;
    const nlr = f(p.negLr), wd = f(p.weightDecay), mu = f(p.mu), d1 = f(p.damp1);
    for (let i = 0; i < p.n; i++) {
      let g = max ? -G[i]! : G[i]!;
      const x = P[i]!;
      if (wdOn) g = f(g + f(wd * x));
      if (B) {
        const b = first ? g : f(f(B[i]! * mu) + f(d1 * g));
        B[i] = b;
        g = nest ? f(g + f(mu * b)) : b;
      }
      P[i] = x + f(nlr * g);
    }
  },
  wgsl: (p) => {
    const ty = p.vec ? 'vec4<f32>' : 'f32';
    const outs: [string, string][] = [['X', ty]];
    if (p.momentum) outs.push(['B', ty]);
    let body = `  if (idx >= pu(0u)) { return; }
  let fl = pu(1u);
  var g = G[idx];
  if ((fl & ${SGD_MAXIMIZE}u) != 0u) { g = -g; }
  let x = X[idx];
  if ((fl & ${SGD_WEIGHT_DECAY}u) != 0u) { g = g + pf(3u) * x; }
`;
    if (p.momentum) {
      body += `  var b = g;
  if ((fl & ${SGD_FIRST}u) == 0u) { b = B[idx] * pf(4u) + pf(5u) * g; }
  B[idx] = b;
  if ((fl & ${SGD_NESTEROV}u) != 0u) { g = g + pf(4u) * b; } else { g = b; }
`;
    }
    body += '  X[idx] = x + pf(2u) * g;';
    return PRELUDE + bindings([['G', ty]], outs) + main1d(body);
  },
  grid: (p) => grid1d(p.vec ? p.n / 4 : p.n),
  uniforms: (p, u) => {
    u.u32(p.vec ? p.n / 4 : p.n).u32(p.flags).f32(p.negLr).f32(p.weightDecay).f32(p.mu).f32(p.damp1);
  },
};

/** One SGD update of `param` (and `buf` when momentum is on) from `grad`, in place. */
export function sgdUpdate(param: Tensor, grad: Tensor, buf: Tensor | null, p: Omit<SgdParams, 'n' | 'vec' | 'momentum'>): void {
  const n = param.size;
  const outs = buf ? [param, buf] : [param];
  launchInto('SGD.step', sgdKernel, [grad], outs, { ...p, n, vec: n % 4 === 0, momentum: buf !== null });
}

// ---- Adam / AdamW --------------------------------------------------------------------------------

export const ADAM_MAXIMIZE = 1;
/** Adam's L2 penalty: g = g + wd·p. */
export const ADAM_L2 = 2;
/** AdamW's decoupled decay: p = p·(1 - lr·wd) before the update. */
export const ADAM_DECOUPLED = 4;
/** lerp weight ≥ 0.5: torch.lerp's second form, end - (end - self)·(1 - w). */
export const ADAM_LERP_HIGH = 8;

export interface AdamParams {
  n: number;
  vec: boolean;
  amsgrad: boolean;
  flags: number;
  weightDecay: number;
  /** 1 - lr·wd (AdamW). */
  decay: number;
  /** 1 - β1: the lerp weight. */
  w1: number;
  /** 1 - float32(1 - β1) (torch.lerp's complement, in float). */
  omw1: number;
  beta2: number;
  /** 1 - β2. */
  omb2: number;
  /** sqrt(1 - β2^t). */
  bc2sqrt: number;
  eps: number;
  /** -lr / (1 - β1^t). */
  negStepSize: number;
}

// Uniforms: 0 n, 1 flags, 2 wd, 3 1 - lr·wd, 4 1 - β1, 5 1 - (1 - β1), 6 β2, 7 1 - β2,
// 8 sqrt(1 - β2^t), 9 eps, 10 -lr/(1 - β1^t). The update, after torch.optim.adam._single_tensor_adam:
//   g = maximize ? -grad : grad
//   AdamW: p = p·(1 - lr·wd)   |   Adam: if wd != 0: g = g + wd·p
//   m = lerp(m, g, 1 - β1)                          (exp_avg.lerp_(grad, 1 - beta1); torch < 2.0 wrote
//                                                    mul_(β1).add_(g, alpha=1-β1): equal up to rounding)
//   v = v·β2 + (1 - β2)·g·g                          (exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1-beta2))
//   amsgrad: vmax = max(vmax, v); v = vmax
//   denom = sqrt(v) / sqrt(1 - β2^t) + eps           ((v.sqrt() / bias_correction2_sqrt).add_(eps))
//   p = p + (-lr/(1 - β1^t))·(m / denom)             (param.addcdiv_(exp_avg, denom, value=-step_size))
export const adamKernel: Kernel<AdamParams> = {
  name: 'optim_adam',
  readsOutputs: true,
  key: (p) => `${p.vec ? 'v4' : 's'}${p.amsgrad ? 'a' : ''}`,
  cpu: (ins, outs, p) => {
    const G = ins[0]!.f32, P = outs[0]!.f32, M = outs[1]!.f32, V = outs[2]!.f32;
    const VM = p.amsgrad ? outs[3]!.f32 : null;
    const max = (p.flags & ADAM_MAXIMIZE) !== 0, l2 = (p.flags & ADAM_L2) !== 0;
    const dec = (p.flags & ADAM_DECOUPLED) !== 0, high = (p.flags & ADAM_LERP_HIGH) !== 0;
    const wd = f(p.weightDecay), decay = f(p.decay), w1 = f(p.w1), omw1 = f(p.omw1);
    const b2 = f(p.beta2), omb2 = f(p.omb2), bc2 = f(p.bc2sqrt), eps = f(p.eps), nss = f(p.negStepSize);
    for (let i = 0; i < p.n; i++) {
      let g = max ? -G[i]! : G[i]!;
      let x = P[i]!;
      if (dec) x = f(x * decay);
      else if (l2) g = f(g + f(wd * x));
      const m0 = M[i]!;
      const m = high ? f(g - f(f(g - m0) * omw1)) : f(m0 + f(w1 * f(g - m0)));
      M[i] = m;
      let v = f(f(V[i]! * b2) + f(f(omb2 * g) * g));
      V[i] = v;
      if (VM) {
        v = Math.max(VM[i]!, v);
        VM[i] = v;
      }
      const denom = f(f(f(Math.sqrt(v)) / bc2) + eps);
      P[i] = x + f(nss * f(m / denom));
    }
  },
  wgsl: (p) => {
    const ty = p.vec ? 'vec4<f32>' : 'f32';
    const outs: [string, string][] = [['X', ty], ['M', ty], ['V', ty]];
    if (p.amsgrad) outs.push(['VM', ty]);
    const body = `  if (idx >= pu(0u)) { return; }
  let fl = pu(1u);
  var g = G[idx];
  if ((fl & ${ADAM_MAXIMIZE}u) != 0u) { g = -g; }
  var x = X[idx];
  if ((fl & ${ADAM_DECOUPLED}u) != 0u) { x = x * pf(3u); }
  else if ((fl & ${ADAM_L2}u) != 0u) { g = g + pf(2u) * x; }
  let m0 = M[idx];
  var m = m0 + pf(4u) * (g - m0);
  if ((fl & ${ADAM_LERP_HIGH}u) != 0u) { m = g - (g - m0) * pf(5u); }
  M[idx] = m;
  var v = V[idx] * pf(6u) + (pf(7u) * g) * g;
  V[idx] = v;
${p.amsgrad ? '  v = max(VM[idx], v);\n  VM[idx] = v;\n' : ''}  let denom = sqrt(v) / pf(8u) + pf(9u);
  X[idx] = x + pf(10u) * (m / denom);`;
    return PRELUDE + bindings([['G', ty]], outs) + main1d(body);
  },
  grid: (p) => grid1d(p.vec ? p.n / 4 : p.n),
  uniforms: (p, u) => {
    u.u32(p.vec ? p.n / 4 : p.n).u32(p.flags).f32(p.weightDecay).f32(p.decay).f32(p.w1).f32(p.omw1)
      .f32(p.beta2).f32(p.omb2).f32(p.bc2sqrt).f32(p.eps).f32(p.negStepSize);
  },
};

/** One Adam/AdamW update of `param`, `m`, `v` (and `vmax` for amsgrad) from `grad`, in place. */
export function adamUpdate(
  op: string, param: Tensor, grad: Tensor, m: Tensor, v: Tensor, vmax: Tensor | null,
  p: Omit<AdamParams, 'n' | 'vec' | 'amsgrad'>,
): void {
  const n = param.size;
  const outs = vmax ? [param, m, v, vmax] : [param, m, v];
  launchInto(op, adamKernel, [grad], outs, { ...p, n, vec: n % 4 === 0, amsgrad: vmax !== null });
}
