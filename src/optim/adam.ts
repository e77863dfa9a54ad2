// Adam and AdamW, after torch.optim.Adam / torch.optim.AdamW (the single-tensor path,
// torch.optim.adam._single_tensor_adam: L2 weight decay for Adam, decoupled decay
// p ← p·(1 − lr·wd) for AdamW). One fused dispatch per parameter (kernels.ts); the bias
// corrections depend on the step and are computed here, on the host, in float64:
//   bc1 = 1 − β1^t, bc2 = 1 − β2^t, step_size = lr / bc1, bc2_sqrt = sqrt(bc2)
//   p ← p − step_size · m / (sqrt(v) / bc2_sqrt + eps)
import { ValueError } from '../errors.js';
import type { Tensor } from '../tensor/tensor.js';
import { ADAM_DECOUPLED, ADAM_L2, ADAM_LERP_HIGH, ADAM_MAXIMIZE, adamUpdate } from './kernels.js';
import { Optimizer, bool, num, type ParamGroup, type ParamsInput } from './optimizer.js';

export interface AdamOptions {
  /** Learning rate (default 1e-3). */
  lr?: number;
  /** Decay rates of the first and second moment averages (default [0.9, 0.999]). */
  betas?: readonly [number, number] | readonly number[];
  /** Added to the denominator (default 1e-8). */
  eps?: number;
  /** Adam: L2 penalty added to the gradient (default 0). AdamW: decoupled decay (default 1e-2). */
  weightDecay?: number;
  /** Keep the maximum of the second moment (AMSGrad). */
  amsgrad?: boolean;
  /** Maximize the objective instead of minimizing it. */
  maximize?: boolean;
}

export interface AdamGroupOptions {
  lr: number;
  betas: [number, number];
  eps: number;
  weightDecay: number;
  amsgrad: boolean;
  maximize: boolean;
}

abstract class AdamFamily extends Optimizer<AdamGroupOptions> {
  protected abstract readonly decoupled: boolean;

  protected constructor(params: ParamsInput<AdamGroupOptions>, opts: AdamOptions, name: string, weightDecay: number) {
    if (opts === null || typeof opts !== 'object') throw new ValueError(`${name}: expected an options object, got ${String(opts)}`);
    const betas = opts.betas ?? [0.9, 0.999];
    super(params, {
      lr: opts.lr ?? 1e-3,
      betas: (Array.isArray(betas) ? [...betas] : betas) as [number, number],
      eps: opts.eps ?? 1e-8,
      weightDecay: opts.weightDecay ?? weightDecay,
      amsgrad: opts.amsgrad ?? false,
      maximize: opts.maximize ?? false,
    }, name);
  }

  // PyTorch's conditions (torch.optim.Adam.__init__), applied to the defaults and to every group.
  protected checkOptions(o: AdamGroupOptions, where: string): void {
    const r = o as unknown as Record<string, unknown>;
    const lr = num(r, 'lr', where);
    const eps = num(r, 'eps', where);
    const wd = num(r, 'weightDecay', where);
    bool(r, 'amsgrad', where);
    bool(r, 'maximize', where);
    const b = r.betas;
    if (!Array.isArray(b) || b.length !== 2 || b.some((x) => typeof x !== 'number' || Number.isNaN(x))) {
      throw new ValueError(`${where}: 'betas' must be a pair of numbers, got ${JSON.stringify(b)}`);
    }
    if (!(lr >= 0)) throw new ValueError(`${where}: invalid learning rate: ${lr} (must be >= 0)`);
    if (!(eps >= 0)) throw new ValueError(`${where}: invalid epsilon value: ${eps} (must be >= 0)`);
    if (!(b[0] >= 0 && b[0] < 1)) throw new ValueError(`${where}: invalid beta parameter at index 0: ${b[0]} (must be in [0, 1))`);
    if (!(b[1] >= 0 && b[1] < 1)) throw new ValueError(`${where}: invalid beta parameter at index 1: ${b[1]} (must be in [0, 1))`);
    if (!(wd >= 0)) throw new ValueError(`${where}: invalid weightDecay value: ${wd} (must be >= 0)`);
  }

  protected update(p: Tensor, grad: Tensor, g: ParamGroup<AdamGroupOptions>): void {
    const st = this.stateOf(p);
    if (typeof st.step !== 'number') {
      st.step = 0;
      st.exp_avg = this.zerosState(p);
      st.exp_avg_sq = this.zerosState(p);
    }
    // amsgrad may be turned on after the state was made: its maximum starts at zero, as it would have.
    if (g.amsgrad && st.max_exp_avg_sq === undefined) st.max_exp_avg_sq = this.zerosState(p);
    const t = (st.step as number) + 1;
    st.step = t;
    const [b1, b2] = g.betas;
    const lr = g.lr, wd = g.weightDecay;
    const bc1 = 1 - b1 ** t;
    const bc2 = 1 - b2 ** t;
    const w1 = 1 - b1;
    let flags = 0;
    if (g.maximize) flags |= ADAM_MAXIMIZE;
    if (wd !== 0) flags |= this.decoupled ? ADAM_DECOUPLED : ADAM_L2;
    if (!(Math.abs(w1) < 0.5)) flags |= ADAM_LERP_HIGH;
    adamUpdate(`${this.name}.step`, p, grad, st.exp_avg as Tensor, st.exp_avg_sq as Tensor, g.amsgrad ? (st.max_exp_avg_sq as Tensor) : null, {
      flags,
      weightDecay: wd,
      decay: 1 - lr * wd,
      w1,
      omw1: 1 - Math.fround(w1),
      beta2: b2,
      omb2: 1 - b2,
      bc2sqrt: Math.sqrt(bc2),
      eps: g.eps,
      negStepSize: -(lr / bc1),
    });
  }

  protected stateKeys(g: ParamGroup<AdamGroupOptions>): { tensors: string[]; numbers: string[]; required: string[] } {
    const required = ['step', 'exp_avg', 'exp_avg_sq'];
    if (g.amsgrad) required.push('max_exp_avg_sq');
    return { tensors: ['exp_avg', 'exp_avg_sq', 'max_exp_avg_sq'], numbers: ['step'], required };
  }
}

/** Adam: weightDecay is an L2 penalty added to the gradient. */
export class Adam extends AdamFamily {
  protected readonly decoupled = false;
  constructor(params: ParamsInput<AdamGroupOptions>, opts: AdamOptions = {}) {
    super(params, opts, 'Adam', 0);
  }
}

/** AdamW: decoupled weight decay, p ← p·(1 − lr·wd) before the Adam step (default wd 1e-2). */
export class AdamW extends AdamFamily {
  protected readonly decoupled = true;
  constructor(params: ParamsInput<AdamGroupOptions>, opts: AdamOptions = {}) {
    super(params, opts, 'AdamW', 1e-2);
  }
}
