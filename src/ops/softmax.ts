// softmax and logSoftmax over an axis, shifted by the (detached) max for range safety, each with
// its closed-form gradient so the graph saves one tensor.
import { DTypeError } from '../errors.js';
import { attach, needsGrad } from '../autograd/node.js';
import { noGrad } from '../runtime.js';
import { normAxis } from '../shape.js';
import { Tensor } from '../tensor/tensor.js';
import { tidy } from '../tensor/lifetime.js';
import { exp, log, mul, sub, div } from './elementwise.js';
import { max, sum } from './reduce.js';

export function softmax(x: Tensor, axis = -1): Tensor {
  if (!(x instanceof Tensor) || x.dtype !== 'float32') throw new DTypeError('softmax: expected a float32 tensor');
  const a = normAxis(axis, x.ndim, 'softmax');
  if (x.size === 0) return mul(x, 1); // nothing to normalise: an empty result of the same shape, as PyTorch
  const y = noGrad(() => tidy(() => {
    const e = exp(sub(x, max(x, a, true)));
    return div(e, sum(e, a, true));
  }));
  if (needsGrad(x)) attach(y, 'softmax', [x], (g, s) => [mul(s[0]!, sub(g, sum(mul(g, s[0]!), a, true)))], [y]);
  return y;
}

export function logSoftmax(x: Tensor, axis = -1): Tensor {
  if (!(x instanceof Tensor) || x.dtype !== 'float32') throw new DTypeError('logSoftmax: expected a float32 tensor');
  const a = normAxis(axis, x.ndim, 'logSoftmax');
  if (x.size === 0) return mul(x, 1); // nothing to normalise: an empty result of the same shape, as PyTorch
  const y = noGrad(() => tidy(() => {
    const z = sub(x, max(x, a, true));
    return sub(z, log(sum(exp(z), a, true)));
  }));
  if (needsGrad(x)) attach(y, 'logSoftmax', [x], (g, s) => [sub(g, mul(exp(s[0]!), sum(g, a, true)))], [y]);
  return y;
}
