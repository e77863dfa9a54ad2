// Creating tensors: from nested arrays or typed arrays, constants, ranges and random values.
import type { DType } from '../backend/types.js';
import { DTypeError, ShapeError, ValueError, fmtShape } from '../errors.js';
import { checkShape, numel } from '../shape.js';
import { currentBackend } from '../runtime.js';
import { Tensor } from './tensor.js';
import { filled } from '../ops/elementwise.js';
import { randInt, randNormal, randUniform } from '../ops/random.js';

export interface TensorOptions {
  dtype?: DType;
  requiresGrad?: boolean;
}

export type NestedArray = number | boolean | readonly NestedArray[];
export type TensorData = NestedArray | ArrayLike<number> | Float32Array | Int32Array | Float64Array | Uint8Array;

function checkDtype(d: unknown, op: string): DType {
  if (d === undefined) return 'float32';
  if (d !== 'float32' && d !== 'int32') throw new DTypeError(`${op}: dtype must be 'float32' or 'int32', got ${JSON.stringify(d)}`);
  return d;
}

function finish(t: Tensor, opts: TensorOptions | undefined, op: string): Tensor {
  if (opts?.requiresGrad) {
    if (t.dtype !== 'float32') throw new DTypeError(`${op}: only float32 tensors can require gradients, got ${t.dtype}`);
    t.requiresGrad = true;
  }
  return t;
}

function inferShape(data: NestedArray, op: string): number[] {
  const shape: number[] = [];
  let cur: NestedArray = data;
  while (Array.isArray(cur)) {
    shape.push(cur.length);
    cur = (cur as readonly NestedArray[])[0] as NestedArray;
    if (cur === undefined) break;
  }
  return checkShape(shape, op);
}

function flattenInto(data: NestedArray, shape: number[], dim: number, out: number[], op: string): void {
  if (dim === shape.length) {
    if (typeof data === 'boolean') out.push(data ? 1 : 0);
    else if (typeof data === 'number') out.push(data);
    else throw new ShapeError(`${op}: ragged nested array (expected a number at depth ${dim} of ${fmtShape(shape)})`);
    return;
  }
  if (!Array.isArray(data) || data.length !== shape[dim]) {
    throw new ShapeError(`${op}: ragged nested array: expected length ${shape[dim]} at depth ${dim}, got ${Array.isArray(data) ? data.length : typeof data}`);
  }
  for (const d of data as readonly NestedArray[]) flattenInto(d, shape, dim + 1, out, op);
}

/** Host values for a tensor of `dtype`, validated. */
export function toTypedArray(values: ArrayLike<number>, dtype: DType, op: string): Float32Array | Int32Array {
  if (dtype === 'int32') {
    if (values instanceof Int32Array) return values;
    const out = new Int32Array(values.length);
    for (let i = 0; i < values.length; i++) {
      const v = values[i]!;
      if (!Number.isInteger(v) || v < -2147483648 || v > 2147483647) throw new DTypeError(`${op}: int32 tensors need integers in int32 range, got ${v} at index ${i}`);
      out[i] = v;
    }
    return out;
  }
  if (values instanceof Float32Array) return values;
  return Float32Array.from(values as ArrayLike<number>);
}

/**
 * A tensor from nested arrays, a typed array or a number. Without `shape`, nested arrays give
 * theirs and flat arrays are 1-D. The dtype defaults to float32 (int32 for an Int32Array).
 */
export function tensor(data: TensorData, opts?: TensorOptions): Tensor;
export function tensor(data: TensorData, shape?: readonly number[], opts?: TensorOptions): Tensor;
export function tensor(data: TensorData, shapeOrOpts?: readonly number[] | TensorOptions, opts0: TensorOptions = {}): Tensor {
  const op = 'tensor';
  // tensor(data, { dtype, requiresGrad }) as torch.tensor(data, dtype=…, requires_grad=…), or tensor(data, shape, opts).
  const optsFirst = typeof shapeOrOpts === 'object' && shapeOrOpts !== null && !Array.isArray(shapeOrOpts) && !ArrayBuffer.isView(shapeOrOpts);
  const shape = optsFirst ? undefined : (shapeOrOpts as readonly number[] | undefined);
  const opts = optsFirst ? (shapeOrOpts as TensorOptions) : opts0;
  const isTyped = ArrayBuffer.isView(data);
  const dtype = checkDtype(opts.dtype ?? (data instanceof Int32Array ? 'int32' : undefined), op);
  let flat: ArrayLike<number>;
  let inferred: number[];
  if (isTyped) {
    flat = data as unknown as ArrayLike<number>;
    inferred = [flat.length];
  } else if (typeof data === 'number' || typeof data === 'boolean') {
    flat = [Number(data)];
    inferred = [];
  } else if (Array.isArray(data)) {
    inferred = inferShape(data as NestedArray, op);
    const out: number[] = [];
    flattenInto(data as NestedArray, inferred, 0, out, op);
    flat = out;
  } else {
    throw new DTypeError(`${op}: expected a number, nested arrays or a typed array, got ${data === null ? 'null' : typeof data}`);
  }
  const s = shape ? checkShape(shape, op) : inferred;
  if (numel(s) !== flat.length) throw new ShapeError(`${op}: ${flat.length} values do not fill shape ${fmtShape(s)} (${numel(s)} elements)`);
  const host = toTypedArray(flat, dtype, op);
  const t = Tensor.empty(s, dtype, op);
  if (host.length) t.backend.write(t.storage(op).handle, host);
  return finish(t, opts, op);
}

export function full(shape: readonly number[], value: number, opts: TensorOptions = {}): Tensor {
  const s = checkShape(shape, 'full');
  if (typeof value !== 'number') throw new DTypeError(`full: value must be a number, got ${typeof value}`);
  return finish(filled(s, value, checkDtype(opts.dtype, 'full'), 'full'), opts, 'full');
}
export const zeros = (shape: readonly number[], opts: TensorOptions = {}): Tensor => full(shape, 0, opts);
export const ones = (shape: readonly number[], opts: TensorOptions = {}): Tensor => full(shape, 1, opts);
export const zerosLike = (t: Tensor, opts: TensorOptions = {}): Tensor => full(t.shape, 0, { dtype: t.dtype, ...opts });
export const onesLike = (t: Tensor, opts: TensorOptions = {}): Tensor => full(t.shape, 1, { dtype: t.dtype, ...opts });
export const fullLike = (t: Tensor, value: number, opts: TensorOptions = {}): Tensor => full(t.shape, value, { dtype: t.dtype, ...opts });

/** Uniform in [0, 1). */
export function rand(shape: readonly number[], opts: TensorOptions = {}): Tensor {
  return finish(randUniform(checkShape(shape, 'rand')), opts, 'rand');
}
/** Standard normal. */
export function randn(shape: readonly number[], opts: TensorOptions = {}): Tensor {
  return finish(randNormal(checkShape(shape, 'randn')), opts, 'randn');
}
/** Integers uniform in [low, high), int32. */
export function randint(low: number, high: number, shape: readonly number[]): Tensor {
  return randInt(low, high, checkShape(shape, 'randint'));
}
export const randLike = (t: Tensor, opts: TensorOptions = {}): Tensor => rand(t.shape, opts);
export const randnLike = (t: Tensor, opts: TensorOptions = {}): Tensor => randn(t.shape, opts);

/** Values from start (inclusive) to end (exclusive) by step; arange(n) counts 0..n-1. */
export function arange(start: number, end?: number, step = 1, opts: TensorOptions = {}): Tensor {
  if (end === undefined) {
    end = start;
    start = 0;
  }
  if (!Number.isFinite(start) || !Number.isFinite(end) || !Number.isFinite(step) || step === 0) {
    throw new ValueError(`arange: start, end and step must be finite and step nonzero, got ${start}, ${end}, ${step}`);
  }
  const n = Math.max(0, Math.ceil((end - start) / step));
  const ints = Number.isInteger(start) && Number.isInteger(step);
  const dtype = checkDtype(opts.dtype ?? 'float32', 'arange');
  if (dtype === 'int32' && !ints) throw new DTypeError(`arange: int32 needs integer start and step, got ${start}, ${step}`);
  const host = dtype === 'int32' ? new Int32Array(n) : new Float32Array(n);
  for (let i = 0; i < n; i++) host[i] = start + i * step;
  currentBackend('arange');
  return tensor(host, [n], { dtype, requiresGrad: opts.requiresGrad });
}
