// functional dropout, as torch.nn.functional.dropout.
import { ValueError } from '../errors.js';
import type { Tensor } from '../tensor/tensor.js';
import { div, gt, mul } from '../ops/elementwise.js';
import { randUniform } from '../ops/random.js';

export function dropout(x: Tensor, p = 0.5, training = true): Tensor {
  if (!(p >= 0 && p <= 1)) throw new ValueError(`dropout: p must be in [0, 1], got ${p}`);
  if (!training || p === 0) return x;
  if (p === 1) return mul(x, 0);
  return mul(x, div(gt(randUniform(x.shape, 'dropout'), p), 1 - p));
}
