// y = x·Wᵀ + b over the last dim of x, as torch.nn.functional.linear: the GEMM reads W (out, in)
// transposed in place, and the backward pass uses the transposition flags too (dx = g·W,
// dW = gᵀ·x, db = Σ g).
import { DTypeError, ShapeError, fmtShape } from '../errors.js';
import { attach, needsGrad } from '../autograd/node.js';
import { Tensor } from '../tensor/tensor.js';
import { gemm } from './matmul.js';
import { sum } from './reduce.js';
import { reshape } from './view.js';

export function linear(x: Tensor, weight: Tensor, bias: Tensor | null = null, name = 'linear'): Tensor {
  if (!(x instanceof Tensor) || !(weight instanceof Tensor)) throw new DTypeError(`${name}: expected Tensors`);
  if (x.dtype !== 'float32') throw new DTypeError(`${name}: expected a float32 input, got ${x.dtype}`);
  if (weight.ndim !== 2) throw new ShapeError(`${name}: weight must be (out, in), got ${fmtShape(weight.shape)}`);
  const [outF, inF] = weight.shape as [number, number];
  if (x.ndim < 1 || x.shape[x.ndim - 1] !== inF) {
    throw new ShapeError(`${name}: expected last dim ${inF}, got ${fmtShape(x.shape)}`);
  }
  if (bias && (bias.ndim !== 1 || bias.shape[0] !== outF)) throw new ShapeError(`${name}: bias must be [${outF}], got ${fmtShape(bias.shape)}`);
  const lead = x.shape.slice(0, -1);
  const rows = lead.reduce((a, b) => a * b, 1);
  const x2 = x.view_([rows, inF], name);
  // The bias rides in the GEMM's epilogue: no second pass over the output.
  const y = gemm(name, x2, weight, { M: rows, N: outF, K: inF, batch: 1, strideA: 0, strideB: 0, transA: false, transB: true }, [rows, outF], bias ?? undefined);
  x2.dispose();
  const out = y.view_([...lead, outF]);
  y.dispose();
  if (needsGrad(x, weight, bias)) {
    const inputs = bias ? [x, weight, bias] : [x, weight];
    const xShape = x.shape;
    attach(out, name, inputs, (g, s, need) => {
      const g2 = reshape(g, [rows, outF]);
      const dx = need[0]
        ? reshape(gemm(`${name}.backward`, g2, s[1]!, { M: rows, N: inF, K: outF, batch: 1, strideA: 0, strideB: 0, transA: false, transB: false }, [rows, inF]), xShape)
        : null;
      const dw = need[1]
        ? gemm(`${name}.backward`, g2, reshape(s[0]!, [rows, inF]), { M: outF, N: inF, K: rows, batch: 1, strideA: 0, strideB: 0, transA: true, transB: false }, [outF, inF])
        : null;
      const db = bias && need[2] ? sum(g2, 0) : null;
      return bias ? [dx, dw, db] : [dx, dw];
    }, [x, weight]);
  }
  return out;
}
