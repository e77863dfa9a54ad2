// Stochastic gradient descent with momentum, after torch.optim.SGD (the single-tensor path of
// torch.optim.sgd._single_tensor_sgd; see kernels.ts for the update, one fused dispatch per
// parameter).
import { ValueError } from '../errors.js';
import type { Tensor } from '../tensor/tensor.js';
import { SGD_FIRST, SGD_MAXIMIZE, SGD_NESTEROV, SGD_WEIGHT_DECAY, sgdUpdate } from './kernels.js';
import { Optimizer, bool, num, type ParamGroup, type ParamsInput } from './optimizer.js';

export interface SGDOptions {
  lr: number;
  /** Momentum factor μ (default 0: no momentum buffer). */
  momentum?: number;
  /** Dampening for momentum (default 0). */
  dampening?: number;
  /** L2 penalty added to the gradient (default 0). */
  weightDecay?: number;
  /** Nesterov momentum (needs momentum > 0 and dampening 0). */
  nesterov?: boolean;
  /** Maximize the objective instead of minimizing it. */
  maximize?: boolean;
}

export type SGDGroupOptions = Required<SGDOptions>;

export class SGD extends Optimizer<SGDGroupOptions> {
  constructor(params: ParamsInput<SGDGroupOptions>, opts: SGDOptions) {
    if (opts === null || typeof opts !== 'object') throw new ValueError(`SGD: expected options { lr, ... }, got ${String(opts)}`);
    super(params, {
      lr: opts.lr,
      momentum: opts.momentum ?? 0,
      dampening: opts.dampening ?? 0,
      weightDecay: opts.weightDecay ?? 0,
      nesterov: opts.nesterov ?? false,
      maximize: opts.maximize ?? false,
    }, 'SGD');
  }

  // PyTorch's conditions (torch.optim.SGD.__init__), applied to the defaults and to every group.
  protected checkOptions(o: SGDGroupOptions, where: string): void {
    const r = o as unknown as Record<string, unknown>;
    const lr = num(r, 'lr', where);
    const momentum = num(r, 'momentum', where);
    const dampening = num(r, 'dampening', where);
    const wd = num(r, 'weightDecay', where);
    const nesterov = bool(r, 'nesterov', where);
    bool(r, 'maximize', where);
    if (lr < 0) throw new ValueError(`${where}: invalid learning rate: ${lr} (must be >= 0)`);
    if (momentum < 0) throw new ValueError(`${where}: invalid momentum value: ${momentum} (must be >= 0)`);
    if (wd < 0) throw new ValueError(`${where}: invalid weightDecay value: ${wd} (must be >= 0)`);
    if (nesterov && (momentum <= 0 || dampening !== 0)) {
      throw new ValueError(`${where}: Nesterov momentum requires a momentum and zero dampening (got momentum ${momentum}, dampening ${dampening})`);
    }
  }

  protected update(p: Tensor, grad: Tensor, g: ParamGroup<SGDGroupOptions>): void {
    let buf: Tensor | null = null;
    let flags = 0;
    if (g.momentum !== 0) {
      const st = this.stateOf(p);
      const b = st.momentum_buffer;
      if (b === undefined || typeof b === 'number') {
        // PyTorch: buf = torch.clone(grad) on the first step; the kernel writes it.
        buf = st.momentum_buffer = this.zerosState(p);
        flags |= SGD_FIRST;
      } else buf = b;
      if (g.nesterov) flags |= SGD_NESTEROV;
    }
    if (g.maximize) flags |= SGD_MAXIMIZE;
    if (g.weightDecay !== 0) flags |= SGD_WEIGHT_DECAY;
    sgdUpdate(p, grad, buf, { flags, negLr: -g.lr, weightDecay: g.weightDecay, mu: g.momentum, damp1: 1 - g.dampening });
  }

  protected stateKeys(g: ParamGroup<SGDGroupOptions>): { tensors: string[]; numbers: string[]; required: string[] } {
    return { tensors: ['momentum_buffer'], numbers: [], required: g.momentum !== 0 ? ['momentum_buffer'] : [] };
  }
}
