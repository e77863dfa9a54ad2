// PyTorch-like printing: tensor([[0.1000, 2.0000], ...]), summarised when large.
import type { DType } from '../backend/types.js';

const EDGE = 3;
const SUMMARISE_ABOVE = 1000;

function fmtNum(v: number, dtype: DType, width: number, fixed: boolean): string {
  let s: string;
  if (dtype === 'int32') s = String(v);
  else if (!Number.isFinite(v)) s = Number.isNaN(v) ? 'nan' : v > 0 ? 'inf' : '-inf';
  else if (fixed) s = v.toFixed(4);
  else s = v.toExponential(4);
  return s.padStart(width);
}

export function formatTensor(values: ArrayLike<number>, shape: readonly number[], dtype: DType, suffix = ''): string {
  const n = values.length;
  const summarise = n > SUMMARISE_ABOVE;
  let maxAbs = 0;
  for (let i = 0; i < n; i++) {
    const a = Math.abs(values[i]!);
    if (Number.isFinite(a) && a > maxAbs) maxAbs = a;
  }
  const fixed = maxAbs === 0 || (maxAbs < 1e8 && maxAbs >= 1e-4);
  let width = 0;
  for (let i = 0; i < n; i++) width = Math.max(width, fmtNum(values[i]!, dtype, 0, fixed).length);
  const strides: number[] = [];
  let acc = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    strides[d] = acc;
    acc *= shape[d]!;
  }
  const rec = (dim: number, off: number, indent: string): string => {
    if (dim === shape.length) return fmtNum(values[off]!, dtype, width, fixed);
    const size = shape[dim]!;
    const parts: string[] = [];
    const idx = summarise && size > 2 * EDGE ? [...Array(EDGE).keys(), -1, ...Array.from({ length: EDGE }, (_, k) => size - EDGE + k)] : [...Array(size).keys()];
    for (const i of idx) parts.push(i < 0 ? '...' : rec(dim + 1, off + i * strides[dim]!, indent + ' '));
    const sep = dim === shape.length - 1 ? ', ' : ',\n' + '\n'.repeat(Math.max(0, shape.length - dim - 2)) + indent + ' ';
    return '[' + parts.join(sep) + ']';
  };
  const body = shape.length === 0 ? fmtNum(values[0]!, dtype, 0, fixed) : rec(0, 0, '       ');
  return `tensor(${body}${dtype === 'int32' ? ', dtype=int32' : ''}${suffix})`;
}

/** Nested arrays from flat values. */
export function nest(values: ArrayLike<number>, shape: readonly number[]): unknown {
  if (shape.length === 0) return values[0];
  let off = 0;
  const rec = (dim: number): unknown[] => {
    const out: unknown[] = [];
    for (let i = 0; i < shape[dim]!; i++) out.push(dim === shape.length - 1 ? values[off++] : rec(dim + 1));
    return out;
  };
  return rec(0);
}
