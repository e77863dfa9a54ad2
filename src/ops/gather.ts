// Index ops: gather along an axis (and its gradient, a gather-shaped sum that needs no atomics)
// and oneHot.
import type { Kernel } from '../backend/types.js';
import { DTypeError, ShapeError, ValueError, fmtShape } from '../errors.js';
import { attach, needsGrad } from '../autograd/node.js';
import { normAxis, numel, stridesOf } from '../shape.js';
import { Tensor } from '../tensor/tensor.js';
import { PRELUDE, bindings, grid1d, launch, main1d } from './kernel.js';
import { checkIndexRange } from './indexcheck.js';

interface GatherParams {
  axis: number;
  xShape: number[];
  idxShape: number[];
}

// out[c] = x[c with c[axis] := index[c]]; indices outside the axis read 0 on the GPU, where
// checkIndexRange reports them at the next read (the CPU throws).
const gatherKernel: Kernel<GatherParams> = {
  name: 'gather',
  key: () => '',
  cpu: (ins, outs, p) => {
    const x = ins[0]!.u32, idx = ins[1]!.i32, out = outs[0]!.u32;
    const n = numel(p.idxShape);
    const xs = stridesOf(p.xShape), is = stridesOf(p.idxShape);
    const size = p.xShape[p.axis]!;
    for (let i = 0; i < n; i++) {
      let rem = i, off = 0;
      for (let d = 0; d < p.idxShape.length; d++) {
        const c = Math.floor(rem / is[d]!);
        rem -= c * is[d]!;
        if (d !== p.axis) off += c * xs[d]!;
      }
      const k = idx[i]!;
      if (k < 0 || k >= size) throw new ValueError(`gather: index ${k} is out of range for dim ${p.axis} of size ${size}`);
      out[i] = x[off + k * xs[p.axis]!]!;
    }
  },
  wgsl: () =>
    PRELUDE +
    bindings([['X', 'u32'], ['I', 'i32']], [['O', 'u32']]) +
    main1d(`
  if (idx >= pu(0u)) { return; }
  let rank = pu(1u); let axis = pu(2u);
  var rem = idx; var off = 0u;
  for (var d = 0u; d < rank; d++) {
    let dim = rank - 1u - d;
    let c = rem % pu(4u + dim);
    rem = rem / pu(4u + dim);
    if (dim != axis) { off += c * pu(12u + dim); }
  }
  let k = I[idx];
  if (k < 0 || u32(k) >= pu(3u)) { O[idx] = 0u; return; }
  O[idx] = X[off + u32(k) * pu(12u + axis)];`),
  grid: (p) => grid1d(numel(p.idxShape)),
  uniforms: (p, u) => void u.u32(numel(p.idxShape)).u32(p.idxShape.length).u32(p.axis).u32(p.xShape[p.axis]!).u32s(p.idxShape, 8).u32s(stridesOf(p.xShape), 8),
};

// gx[c] = Σ_j g[c with c[axis] := j] · (index[c with c[axis] := j] == c[axis]), zero where c lies outside index's shape.
const gatherBackKernel: Kernel<GatherParams> = {
  name: 'gatherBackward',
  key: () => '',
  cpu: (ins, outs, p) => {
    const g = ins[0]!.f32, idx = ins[1]!.i32, out = outs[0]!.f32;
    const n = numel(p.xShape);
    const xs = stridesOf(p.xShape), is = stridesOf(p.idxShape);
    const J = p.idxShape[p.axis]!;
    for (let i = 0; i < n; i++) {
      let rem = i, off = 0, inside = true, k = 0;
      for (let d = 0; d < p.xShape.length; d++) {
        const c = Math.floor(rem / xs[d]!);
        rem -= c * xs[d]!;
        if (d === p.axis) k = c;
        else if (c >= p.idxShape[d]!) inside = false;
        else off += c * is[d]!;
      }
      let s = 0;
      if (inside) for (let j = 0; j < J; j++) if (idx[off + j * is[p.axis]!] === k) s += g[off + j * is[p.axis]!]!;
      out[i] = s;
    }
  },
  wgsl: () =>
    PRELUDE +
    bindings([['G', 'f32'], ['I', 'i32']], [['O', 'f32']]) +
    main1d(`
  if (idx >= pu(0u)) { return; }
  let rank = pu(1u); let axis = pu(2u);
  var rem = idx; var off = 0u; var inside = true; var k = 0u;
  for (var d = 0u; d < rank; d++) {
    let dim = rank - 1u - d;
    let c = rem % pu(4u + dim);
    rem = rem / pu(4u + dim);
    if (dim == axis) { k = c; } else if (c >= pu(12u + dim)) { inside = false; } else { off += c * pu(20u + dim); }
  }
  var s = 0.0;
  if (inside) {
    let st = pu(20u + axis);
    for (var j = 0u; j < pu(12u + axis); j++) {
      let q = off + j * st;
      if (I[q] == i32(k)) { s += G[q]; }
    }
  }
  O[idx] = s;`),
  grid: (p) => grid1d(numel(p.xShape)),
  uniforms: (p, u) => void u.u32(numel(p.xShape)).u32(p.xShape.length).u32(p.axis).u32(0).u32s(p.xShape, 8).u32s(p.idxShape, 8).u32s(stridesOf(p.idxShape), 8),
};

/** torch.gather: out[…i…] = x[…index[…i…]…] along `axis`; index has x's rank. */
export function gather(x: Tensor, axis: number, index: Tensor): Tensor {
  return gatherOp(x, axis, index, true);
}

/** @internal gather for a caller that has range-checked the indices already (CrossEntropyLoss): no second check. */
export function gatherInRange(x: Tensor, axis: number, index: Tensor): Tensor {
  return gatherOp(x, axis, index, false);
}

function gatherOp(x: Tensor, axis: number, index: Tensor, checkRange: boolean): Tensor {
  if (!(x instanceof Tensor) || !(index instanceof Tensor)) throw new DTypeError('gather: expected (Tensor, axis, Tensor)');
  if (index.dtype !== 'int32') throw new DTypeError(`gather: index must be int32, got ${index.dtype}; cast with .int()`);
  const a = normAxis(axis, x.ndim, 'gather');
  if (index.ndim !== x.ndim) throw new ShapeError(`gather: index must have ${x.ndim} dims like the input ${fmtShape(x.shape)}, got ${fmtShape(index.shape)}`);
  for (let d = 0; d < x.ndim; d++) {
    if (d !== a && index.shape[d]! > x.shape[d]!) throw new ShapeError(`gather: index ${fmtShape(index.shape)} is larger than the input ${fmtShape(x.shape)} in dim ${d}`);
  }
  const p: GatherParams = { axis: a, xShape: [...x.shape], idxShape: [...index.shape] };
  const size = x.shape[a]!;
  if (checkRange) checkIndexRange('gather', index, 0, size, (k) => `gather: index ${k} is out of range for dim ${a} of size ${size}`);
  const out = launch('gather', gatherKernel, [x, index], index.shape, x.dtype, p);
  if (needsGrad(x)) {
    if (x.dtype !== 'float32') throw new DTypeError('gather: gradients need a float32 input');
    attach(out, 'gather', [x], (g, s) => [launch('gather.backward', gatherBackKernel, [g, s[0]!], p.xShape, 'float32', p)], [index]);
  }
  return out;
}

interface OneHotParams { n: number; classes: number }
const oneHotKernel: Kernel<OneHotParams> = {
  name: 'oneHot',
  key: () => '',
  cpu: (ins, outs, p) => {
    const idx = ins[0]!.i32, out = outs[0]!.f32;
    out.fill(0, 0, p.n * p.classes);
    for (let i = 0; i < p.n; i++) {
      const k = idx[i]!;
      if (k < 0 || k >= p.classes) throw new ValueError(`oneHot: class index ${k} is out of range for ${p.classes} classes`);
      out[i * p.classes + k] = 1;
    }
  },
  wgsl: () =>
    PRELUDE + bindings([['I', 'i32']], [['O', 'f32']]) + main1d(`
  if (idx >= pu(0u) * pu(1u)) { return; }
  let i = idx / pu(1u);
  O[idx] = select(0.0, 1.0, I[i] == i32(idx % pu(1u)));`),
  grid: (p) => grid1d(p.n * p.classes),
  uniforms: (p, u) => void u.u32(p.n).u32(p.classes),
};

/** float32 one-hot vectors (…, numClasses) from int32 class indices (…). */
export function oneHot(indices: Tensor, numClasses: number): Tensor {
  if (!(indices instanceof Tensor)) throw new DTypeError('oneHot: expected a Tensor of class indices');
  if (indices.dtype !== 'int32') throw new DTypeError(`oneHot: expected int32 class indices, got ${indices.dtype}; cast with .int()`);
  if (!Number.isInteger(numClasses) || numClasses < 1) throw new ValueError(`oneHot: numClasses must be a positive integer, got ${numClasses}`);
  checkIndexRange('oneHot', indices, 0, numClasses, (k) => `oneHot: class index ${k} is out of range for ${numClasses} classes`);
  return launch('oneHot', oneHotKernel, [indices], [...indices.shape, numClasses], 'float32', { n: indices.size, classes: numClasses });
}
