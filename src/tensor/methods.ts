// Ops as Tensor methods (PyTorch style). The functions live in src/ops; this file only binds them.
import { Tensor } from './tensor.js';
import * as ew from '../ops/elementwise.js';
import * as red from '../ops/reduce.js';
import * as vw from '../ops/view.js';
import { matmul } from '../ops/matmul.js';
import { gather, oneHot } from '../ops/gather.js';
import { logSoftmax, softmax } from '../ops/softmax.js';
import { backward, type BackwardOptions } from '../autograd/engine.js';
import { attach, needsGrad } from '../autograd/node.js';
import { toTypedArray } from './create.js';
import { DTypeError, ShapeError, fmtShape } from '../errors.js';
import { numel } from '../shape.js';
import { backendByKind } from '../runtime.js';

type Operand = Tensor | number;

declare module './tensor.js' {
  interface Tensor {
    add(o: Operand): Tensor;
    sub(o: Operand): Tensor;
    mul(o: Operand): Tensor;
    div(o: Operand): Tensor;
    pow(o: Operand): Tensor;
    maximum(o: Operand): Tensor;
    minimum(o: Operand): Tensor;
    neg(): Tensor;
    exp(): Tensor;
    log(): Tensor;
    sqrt(): Tensor;
    abs(): Tensor;
    sign(): Tensor;
    relu(): Tensor;
    sigmoid(): Tensor;
    tanh(): Tensor;
    clamp(min?: Operand | null, max?: Operand | null): Tensor;
    eq(o: Operand): Tensor;
    ne(o: Operand): Tensor;
    lt(o: Operand): Tensor;
    le(o: Operand): Tensor;
    gt(o: Operand): Tensor;
    ge(o: Operand): Tensor;
    sum(axis?: number | readonly number[], keepdim?: boolean): Tensor;
    mean(axis?: number | readonly number[], keepdim?: boolean): Tensor;
    max(axis?: number, keepdim?: boolean): Tensor;
    min(axis?: number, keepdim?: boolean): Tensor;
    argmax(axis?: number, keepdim?: boolean): Tensor;
    argmin(axis?: number, keepdim?: boolean): Tensor;
    reshape(shape: readonly number[]): Tensor;
    view(shape: readonly number[]): Tensor;
    flatten(startDim?: number, endDim?: number): Tensor;
    squeeze(axis?: number): Tensor;
    unsqueeze(axis: number): Tensor;
    transpose(dim0?: number, dim1?: number): Tensor;
    permute(dims: readonly number[]): Tensor;
    expand(shape: readonly number[]): Tensor;
    slice(axis: number, start?: number, end?: number, step?: number): Tensor;
    narrow(axis: number, start: number, length: number): Tensor;
    split(sizes: number | readonly number[], axis?: number): Tensor[];
    matmul(o: Tensor): Tensor;
    softmax(axis?: number): Tensor;
    logSoftmax(axis?: number): Tensor;
    gather(axis: number, index: Tensor): Tensor;
    oneHot(numClasses: number): Tensor;
    float(): Tensor;
    int(): Tensor;
    /** A copy that stays in the graph (torch.clone). */
    clone(): Tensor;
    /** Every tensor is contiguous; returns this. */
    contiguous(): Tensor;
    /** A tensor sharing this one's memory, cut from the graph. */
    detach(): Tensor;
    /** Sets requiresGrad in place and returns this (torch.requires_grad_). */
    requiresGrad_(on?: boolean): Tensor;
    /** Back-propagates from this tensor into the .grad of the leaves that require grad. */
    backward(grad?: Tensor, opts?: BackwardOptions): void;
    /** Overwrites the contents in place (not recorded by autograd). */
    assign(values: Tensor | number | ArrayLike<number>): Tensor;
    /** A copy on another backend. */
    to(backend: 'cpu' | 'webgpu'): Promise<Tensor>;
  }
}

const P = Tensor.prototype;
P.add = function (o) { return ew.add(this, o); };
P.sub = function (o) { return ew.sub(this, o); };
P.mul = function (o) { return ew.mul(this, o); };
P.div = function (o) { return ew.div(this, o); };
P.pow = function (o) { return ew.pow(this, o); };
P.maximum = function (o) { return ew.maximum(this, o); };
P.minimum = function (o) { return ew.minimum(this, o); };
P.neg = function () { return ew.neg(this); };
P.exp = function () { return ew.exp(this); };
P.log = function () { return ew.log(this); };
P.sqrt = function () { return ew.sqrt(this); };
P.abs = function () { return ew.abs(this); };
P.sign = function () { return ew.sign(this); };
P.relu = function () { return ew.relu(this); };
P.sigmoid = function () { return ew.sigmoid(this); };
P.tanh = function () { return ew.tanh(this); };
P.clamp = function (min = null, max = null) { return ew.clamp(this, min, max); };
P.eq = function (o) { return ew.eq(this, o); };
P.ne = function (o) { return ew.ne(this, o); };
P.lt = function (o) { return ew.lt(this, o); };
P.le = function (o) { return ew.le(this, o); };
P.gt = function (o) { return ew.gt(this, o); };
P.ge = function (o) { return ew.ge(this, o); };
P.sum = function (axis, keepdim) { return red.sum(this, axis, keepdim); };
P.mean = function (axis, keepdim) { return red.mean(this, axis, keepdim); };
P.max = function (axis, keepdim) { return red.max(this, axis, keepdim); };
P.min = function (axis, keepdim) { return red.min(this, axis, keepdim); };
P.argmax = function (axis, keepdim) { return red.argmax(this, axis, keepdim); };
P.argmin = function (axis, keepdim) { return red.argmin(this, axis, keepdim); };
P.reshape = function (shape) { return vw.reshape(this, shape); };
P.view = function (shape) { return vw.reshape(this, shape); };
P.flatten = function (s, e) { return vw.flatten(this, s, e); };
P.squeeze = function (axis) { return vw.squeeze(this, axis); };
P.unsqueeze = function (axis) { return vw.unsqueeze(this, axis); };
P.transpose = function (a, b) { return vw.transpose(this, a, b); };
P.permute = function (dims) { return vw.permute(this, dims); };
P.expand = function (shape) { return vw.expand(this, shape); };
P.slice = function (axis, s, e, st) { return vw.slice(this, axis, s, e, st); };
P.narrow = function (axis, s, l) { return vw.narrow(this, axis, s, l); };
P.split = function (sizes, axis) { return vw.split(this, sizes, axis); };
P.matmul = function (o) { return matmul(this, o); };
P.softmax = function (axis) { return softmax(this, axis); };
P.logSoftmax = function (axis) { return logSoftmax(this, axis); };
P.gather = function (axis, index) { return gather(this, axis, index); };
P.oneHot = function (n) { return oneHot(this, n); };
P.float = function () { return ew.float(this); };
P.int = function () { return ew.int(this); };
P.contiguous = function () { return this; };
P.clone = function () {
  const out = ew.copy(this);
  if (needsGrad(this)) attach(out, 'clone', [this], (g) => [g]);
  return out;
};
P.detach = function () {
  return this.view_(this.shape);
};
P.requiresGrad_ = function (on = true) {
  if (on && this.dtype !== 'float32') throw new DTypeError(`requiresGrad_: only float32 tensors can require gradients, got ${this.dtype}`);
  if (!on && this.gradFn) throw new DTypeError('requiresGrad_: cannot turn off grad on a non-leaf tensor; use detach()');
  this.requiresGrad = on;
  return this;
};
P.backward = function (grad, opts) { backward(this, grad, opts); };
P.assign = function (values) {
  if (values instanceof Tensor) {
    if (values.shape.length !== this.shape.length || values.shape.some((d, i) => d !== this.shape[i])) {
      throw new ShapeError(`assign: expected shape ${fmtShape(this.shape)}, got ${fmtShape(values.shape)}`);
    }
    ew.copyInto(this, values);
  } else if (typeof values === 'number') {
    ew.copyInto(this, values);
  } else {
    if (values.length !== numel(this.shape)) throw new ShapeError(`assign: expected ${numel(this.shape)} values for shape ${fmtShape(this.shape)}, got ${values.length}`);
    const host = toTypedArray(values, this.dtype, 'assign');
    this.backend.write(this.storage('assign').handle, host);
  }
  return this;
};
P.to = async function (name) {
  const target = backendByKind(name, 'to');
  if (this.backend === target) return this;
  const host = await this.data();
  const t = Tensor.empty(this.shape, this.dtype, 'to', target);
  target.write(t.storage('to').handle, host);
  return t;
};
