// Shape ops. reshape/view/flatten/squeeze/unsqueeze share storage (every tensor is contiguous);
// permute/transpose/expand/slice/cat copy through one strided-copy kernel, whose gradients are
// the inverse copies.
import type { Kernel } from '../backend/types.js';
import { DTypeError, ShapeError, ValueError, fmtShape } from '../errors.js';
import { attach, needsGrad } from '../autograd/node.js';
import { broadcastShapes, checkShape, normAxis, numel, resolveReshape, stridesOf } from '../shape.js';
import { Tensor } from '../tensor/tensor.js';
import { PRELUDE, backendOf, bindings, grid1d, launchInto, main1d } from './kernel.js';
import { copyInto, fillInto } from './elementwise.js';
import { sumTo } from './reduce.js';

// ---- the strided copy kernel ------------------------------------------------------------------
interface CopyParams {
  shape: number[];
  inStrides: number[];
  inOffset: number;
  outStrides: number[];
  outOffset: number;
}

/** out[outOffset + Σ i_d·outStrides_d] = in[inOffset + Σ i_d·inStrides_d] over `shape`. */
const copyKernel: Kernel<CopyParams> = {
  name: 'stridedCopy',
  readsOutputs: true, // it may fill only part of its output
  key: () => '',
  cpu: (ins, outs, p) => {
    const src = ins[0]!.u32, dst = outs[0]!.u32;
    const rank = p.shape.length;
    const n = numel(p.shape);
    if (rank === 0) {
      if (n) dst[p.outOffset] = src[p.inOffset]!;
      return;
    }
    const co = new Int32Array(rank);
    let io = p.inOffset, oo = p.outOffset;
    for (let i = 0; i < n; i++) {
      dst[oo] = src[io]!;
      for (let d = rank - 1; d >= 0; d--) {
        io += p.inStrides[d]!;
        oo += p.outStrides[d]!;
        if (++co[d]! < p.shape[d]!) break;
        io -= p.inStrides[d]! * p.shape[d]!;
        oo -= p.outStrides[d]! * p.shape[d]!;
        co[d] = 0;
      }
    }
  },
  wgsl: () =>
    PRELUDE +
    bindings([['X', 'u32']], [['O', 'u32']]) +
    main1d(`
  if (idx >= pu(0u)) { return; }
  let rank = pu(1u);
  var rem = idx;
  var io = pu(26u);
  var oo = pu(27u);
  for (var d = 0u; d < rank; d++) {
    let dim = rank - 1u - d;
    let size = pu(2u + dim);
    let c = rem % size;
    rem = rem / size;
    io += c * pu(10u + dim);
    oo += c * pu(18u + dim);
  }
  O[oo] = X[io];`),
  grid: (p) => grid1d(numel(p.shape)),
  uniforms: (p, u) => {
    u.u32(numel(p.shape)).u32(p.shape.length).u32s(p.shape, 8).u32s(p.inStrides, 8).u32s(p.outStrides, 8).u32(p.inOffset).u32(p.outOffset);
  },
};

function stridedCopy(src: Tensor, dst: Tensor, p: CopyParams, op: string): void {
  if (numel(p.shape) === 0) return;
  launchInto(op, copyKernel, [src], [dst], p);
}

// ---- views ------------------------------------------------------------------------------------
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  const target = resolveReshape(x.shape, shape, 'reshape');
  const out = x.view_(target, 'reshape');
  if (needsGrad(x)) {
    const inShape = x.shape;
    attach(out, 'reshape', [x], (g) => [reshape(g, inShape)]);
  }
  return out;
}

export function flatten(x: Tensor, startDim = 0, endDim = -1): Tensor {
  if (x.ndim === 0) return reshape(x, [1]);
  const s = normAxis(startDim, x.ndim, 'flatten');
  const e = normAxis(endDim, x.ndim, 'flatten');
  if (s > e) throw new ShapeError(`flatten: startDim ${startDim} comes after endDim ${endDim} for ${fmtShape(x.shape)}`);
  return reshape(x, [...x.shape.slice(0, s), numel(x.shape.slice(s, e + 1)), ...x.shape.slice(e + 1)]);
}

export function squeeze(x: Tensor, axis?: number): Tensor {
  if (axis === undefined) return reshape(x, x.shape.filter((d) => d !== 1));
  const a = normAxis(axis, x.ndim, 'squeeze');
  if (x.shape[a] !== 1) return x;
  return reshape(x, x.shape.filter((_, i) => i !== a));
}

export function unsqueeze(x: Tensor, axis: number): Tensor {
  const a = normAxis(axis, x.ndim + 1, 'unsqueeze');
  const s = [...x.shape];
  s.splice(a, 0, 1);
  return reshape(x, s);
}

// ---- copies -----------------------------------------------------------------------------------
export function permute(x: Tensor, dims: readonly number[]): Tensor {
  if (dims.length !== x.ndim) throw new ShapeError(`permute: expected ${x.ndim} dims for ${fmtShape(x.shape)}, got ${JSON.stringify(dims)}`);
  const perm = dims.map((d) => normAxis(d, x.ndim, 'permute'));
  if (new Set(perm).size !== perm.length) throw new ShapeError(`permute: repeated dim in ${JSON.stringify(dims)}`);
  if (perm.every((d, i) => d === i)) return reshape(x, x.shape);
  const inSt = stridesOf(x.shape);
  const shape = perm.map((d) => x.shape[d]!);
  const out = Tensor.empty(shape, x.dtype, 'permute', x.backend, [x]);
  stridedCopy(x, out, { shape, inStrides: perm.map((d) => inSt[d]!), inOffset: 0, outStrides: stridesOf(shape), outOffset: 0 }, 'permute');
  if (needsGrad(x)) {
    const inv = new Array<number>(perm.length);
    perm.forEach((d, i) => (inv[d] = i));
    attach(out, 'permute', [x], (g) => [permute(g, inv)]);
  }
  return out;
}

export function transpose(x: Tensor, dim0 = -2, dim1 = -1): Tensor {
  if (x.ndim < 2 && dim0 === -2 && dim1 === -1) return reshape(x, x.shape);
  const a = normAxis(dim0, x.ndim, 'transpose');
  const b = normAxis(dim1, x.ndim, 'transpose');
  const perm = [...Array(x.ndim).keys()];
  perm[a] = b;
  perm[b] = a;
  return permute(x, perm);
}

/** Materialises x broadcast to `shape` (no autograd). */
export function expandTo(x: Tensor, shape: readonly number[]): Tensor {
  const out = Tensor.empty(shape, x.dtype, 'expand', x.backend, [x]);
  copyInto(out, x);
  return out;
}

/** Broadcasts x to `shape` (-1 keeps a dim), copying, as torch.expand(...).contiguous(). */
export function expand(x: Tensor, shape: readonly number[]): Tensor {
  const off = shape.length - x.ndim;
  if (off < 0) throw new ShapeError(`expand: cannot expand ${fmtShape(x.shape)} to fewer dims ${fmtShape(shape)}`);
  const target = shape.map((d, i) => (d === -1 && i >= off ? x.shape[i - off]! : d));
  checkShape(target, 'expand');
  const b = broadcastShapes(x.shape, target, 'expand');
  if (b.some((d, i) => d !== target[i])) throw new ShapeError(`expand: cannot expand ${fmtShape(x.shape)} to ${fmtShape(shape)}`);
  const out = expandTo(x, target);
  if (needsGrad(x)) {
    const inShape = x.shape;
    attach(out, 'expand', [x], (g) => [sumTo(g, inShape)]);
  }
  return out;
}

/** Elements start..end (exclusive) with step along one axis; negative indices count from the end. */
export function slice(x: Tensor, axis: number, start = 0, end?: number, step = 1): Tensor {
  const a = normAxis(axis, x.ndim, 'slice');
  const size = x.shape[a]!;
  if (!Number.isInteger(step) || step < 1) throw new ValueError(`slice: step must be a positive integer, got ${step}`);
  const clampIdx = (i: number) => Math.min(Math.max(i < 0 ? i + size : i, 0), size);
  if (!Number.isInteger(start) || (end !== undefined && !Number.isInteger(end))) throw new ValueError(`slice: indices must be integers, got start ${start}, end ${end}`);
  const s = clampIdx(start);
  const e = Math.max(s, clampIdx(end ?? size));
  const len = Math.ceil((e - s) / step);
  const shape = [...x.shape];
  shape[a] = len;
  const st = stridesOf(x.shape);
  const inStrides = [...st];
  inStrides[a] = st[a]! * step;
  const out = Tensor.empty(shape, x.dtype, 'slice', x.backend, [x]);
  stridedCopy(x, out, { shape, inStrides, inOffset: s * st[a]!, outStrides: stridesOf(shape), outOffset: 0 }, 'slice');
  if (needsGrad(x)) {
    const inShape = x.shape;
    attach(out, 'slice', [x], (g) => {
      const full = Tensor.empty(inShape, 'float32', 'slice.backward', g.backend, [g]);
      fillInto(full, 0, 'slice.backward');
      const ost = stridesOf(inShape);
      const outStrides = [...ost];
      outStrides[a] = ost[a]! * step;
      stridedCopy(g, full, { shape: [...g.shape], inStrides: stridesOf(g.shape), inOffset: 0, outStrides, outOffset: s * ost[a]! }, 'slice.backward');
      return [full];
    });
  }
  return out;
}

/** `length` elements from `start` along axis (torch.narrow). */
export function narrow(x: Tensor, axis: number, start: number, length: number): Tensor {
  const a = normAxis(axis, x.ndim, 'narrow');
  const size = x.shape[a]!;
  const s = start < 0 ? start + size : start;
  if (!Number.isInteger(length) || length < 0 || s < 0 || s + length > size) {
    throw new ShapeError(`narrow: range start ${start}, length ${length} does not fit dim ${a} of size ${size} in ${fmtShape(x.shape)}`);
  }
  return slice(x, a, s, s + length);
}

/** Joins tensors along an existing axis. */
export function cat(tensors: readonly Tensor[], axis = 0): Tensor {
  if (!Array.isArray(tensors) || tensors.length === 0) throw new ShapeError('cat: expected a non-empty array of tensors');
  const first = tensors[0]!;
  const a = normAxis(axis, first.ndim, 'cat');
  let total = 0;
  for (const t of tensors) {
    if (!(t instanceof Tensor)) throw new DTypeError(`cat: expected Tensors, got ${typeof t}`);
    if (t.dtype !== first.dtype) throw new DTypeError(`cat: all tensors must share a dtype, got ${first.dtype} and ${t.dtype}`);
    if (t.ndim !== first.ndim || t.shape.some((d, i) => i !== a && d !== first.shape[i])) {
      throw new ShapeError(`cat: shapes must match except along axis ${a}, got ${fmtShape(first.shape)} and ${fmtShape(t.shape)}`);
    }
    total += t.shape[a]!;
  }
  const shape = [...first.shape];
  shape[a] = total;
  const out = Tensor.empty(shape, first.dtype, 'cat', first.backend, tensors);
  const ost = stridesOf(shape);
  let off = 0;
  for (const t of tensors) {
    stridedCopy(t, out, { shape: [...t.shape], inStrides: stridesOf(t.shape), inOffset: 0, outStrides: ost, outOffset: off * ost[a]! }, 'cat');
    off += t.shape[a]!;
  }
  if (needsGrad(...tensors)) {
    const sizes = tensors.map((t) => t.shape[a]!);
    attach(out, 'cat', tensors, (g, _s, need) => {
      let o = 0;
      return sizes.map((n, i) => {
        const r = need[i] ? slice(g, a, o, o + n) : null;
        o += n;
        return r;
      });
    });
  }
  return out;
}

/** Joins tensors along a new axis. */
export function stack(tensors: readonly Tensor[], axis = 0): Tensor {
  if (!Array.isArray(tensors) || tensors.length === 0) throw new ShapeError('stack: expected a non-empty array of tensors');
  const first = tensors[0]!;
  for (const t of tensors) {
    if (t.ndim !== first.ndim || t.shape.some((d: number, i: number) => d !== first.shape[i])) {
      throw new ShapeError(`stack: all tensors must have the same shape, got ${fmtShape(first.shape)} and ${fmtShape(t.shape)}`);
    }
  }
  const a = normAxis(axis, first.ndim + 1, 'stack');
  backendOf('stack', tensors); // (mixed backends named by this op, not by the cat it runs)
  return cat(tensors.map((t) => unsqueeze(t, a)), a);
}

/** Splits into pieces of `size` (the last may be smaller) or of the listed sizes. */
export function split(x: Tensor, sizes: number | readonly number[], axis = 0): Tensor[] {
  const a = normAxis(axis, x.ndim, 'split');
  const n = x.shape[a]!;
  let list: number[];
  if (typeof sizes === 'number') {
    if (!Number.isInteger(sizes) || sizes < 1) throw new ValueError(`split: size must be a positive integer, got ${sizes}`);
    list = [];
    for (let o = 0; o < n; o += sizes) list.push(Math.min(sizes, n - o));
  } else {
    list = [...sizes];
    const tot = list.reduce((s, v) => s + v, 0);
    if (tot !== n || list.some((v) => !Number.isInteger(v) || v < 0)) throw new ShapeError(`split: sizes ${JSON.stringify(sizes)} must add up to ${n} (dim ${a} of ${fmtShape(x.shape)})`);
  }
  let o = 0;
  return list.map((len) => {
    const r = slice(x, a, o, o + len);
    o += len;
    return r;
  });
}
