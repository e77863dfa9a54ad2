// Shape rules shared by every op: broadcasting, strides, axis normalisation.
import { ShapeError, ValueError, fmtShape } from './errors.js';

export type Shape = readonly number[];

/** Kernels carry shapes in a fixed-size uniform; more dims than this are refused. */
export const MAX_RANK = 8;

export function numel(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function stridesOf(shape: Shape): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}

export function sameShape(a: Shape, b: Shape): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function checkShape(shape: Shape, op: string): number[] {
  if (!Array.isArray(shape)) throw new ShapeError(`${op}: expected a shape (array of sizes), got ${String(shape)}`);
  if (shape.length > MAX_RANK) throw new ShapeError(`${op}: at most ${MAX_RANK} dims are supported, got ${shape.length} dims ${fmtShape(shape)}`);
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new ShapeError(`${op}: sizes must be non-negative integers, got ${fmtShape(shape)}`);
  }
  return [...shape];
}

/** NumPy broadcasting of two shapes. */
export function broadcastShapes(a: Shape, b: Shape, op: string): number[] {
  const n = Math.max(a.length, b.length);
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1;
    const db = b[b.length - n + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new ShapeError(`${op}: shapes ${fmtShape(a)} and ${fmtShape(b)} cannot be broadcast (dim ${i - n}: ${da} vs ${db})`);
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/** Strides that read `shape` as if it had `outShape` (stride 0 along broadcast dims). */
export function broadcastStrides(shape: Shape, outShape: Shape): number[] {
  const st = stridesOf(shape);
  const off = outShape.length - shape.length;
  const out = new Array<number>(outShape.length).fill(0);
  for (let i = 0; i < shape.length; i++) out[off + i] = shape[i] === 1 ? 0 : st[i]!;
  return out;
}

/** Normalises a possibly negative axis against `rank`. */
export function normAxis(axis: number, rank: number, op: string): number {
  if (!Number.isInteger(axis)) throw new ShapeError(`${op}: axis must be an integer, got ${axis}`);
  const r = Math.max(rank, 1);
  if (axis < -r || axis >= r) throw new ShapeError(`${op}: axis ${axis} is out of range for a tensor of ${rank} dims (expected ${-r}..${r - 1})`);
  return axis < 0 ? axis + r : axis;
}

/** Resolves one -1 in a reshape target. */
export function resolveReshape(from: Shape, to: Shape, op: string): number[] {
  const n = numel(from);
  let infer = -1;
  let known = 1;
  const out = [...to];
  for (let i = 0; i < out.length; i++) {
    const d = out[i]!;
    if (d === -1) {
      if (infer >= 0) throw new ShapeError(`${op}: only one dimension can be -1, got ${fmtShape(to)}`);
      infer = i;
    } else if (!Number.isInteger(d) || d < 0) {
      throw new ShapeError(`${op}: sizes must be non-negative integers or -1, got ${fmtShape(to)}`);
    } else known *= d;
  }
  if (infer >= 0) {
    if (known === 0 || n % known !== 0) throw new ShapeError(`${op}: cannot reshape ${fmtShape(from)} (${n} elements) into ${fmtShape(to)}`);
    out[infer] = n / known;
  }
  if (numel(out) !== n) throw new ShapeError(`${op}: cannot reshape ${fmtShape(from)} (${n} elements) into ${fmtShape(to)} (${numel(out)} elements)`);
  return checkShape(out, op);
}

export function assertInt(v: number, what: string, op: string): void {
  if (!Number.isInteger(v)) throw new ValueError(`${op}: ${what} must be an integer, got ${v}`);
}
