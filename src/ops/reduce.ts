// Reductions over one axis, several axes or all: sum mean max min argmax argmin. The input is
// viewed as (outer, R, inner). Rows (inner = 1) reduce in a workgroup with a shared-memory tree;
// long columns (inner > 1, R > 64; not arg ops) in workgroups of 32 columns × 8 row lanes, each
// lane walking every 8th row and a tree joining the lanes; short columns and arg ops reduce one
// output per invocation. Long reductions with few outputs split R into chunks and finish in a
// second pass.
import type { CpuView, DType, Kernel } from '../backend/types.js';
import { DTypeError, ShapeError, fmtShape } from '../errors.js';
import { attach, needsGrad } from '../autograd/node.js';
import { normAxis, numel } from '../shape.js';
import { Tensor } from '../tensor/tensor.js';
import { PRELUDE, WG, bindings, grid1d, launch, main1d, view, wgslType } from './kernel.js';
import { div, eq, mul, scaleTo } from './elementwise.js';
import { expandTo, reshape } from './view.js';

type RedOp = 'sum' | 'max' | 'min' | 'argmax' | 'argmin';

interface RedParams {
  op: RedOp;
  dtype: DType;
  outer: number;
  R: number;
  inner: number;
  /** Chunks R is split into (outputs per row: P). */
  P: number;
  scale: number;
  rows: boolean;
  /** Columns by workgroup (32 columns × 8 row lanes) instead of one output per invocation. */
  wg?: boolean;
}

function ident(op: RedOp, dtype: DType): string {
  if (op === 'sum') return dtype === 'int32' ? '0' : '0.0';
  const big = dtype === 'int32' ? '2147483647' : 'bitcast<f32>(0x7f800000u)';
  const lo = dtype === 'int32' ? '(-2147483647 - 1)' : '-bitcast<f32>(0x7f800000u)';
  return op === 'max' || op === 'argmax' ? lo : big;
}

function better(op: RedOp, v: string, acc: string): string {
  return op === 'max' || op === 'argmax' ? `${v} > ${acc}` : `${v} < ${acc}`;
}

function redWgsl(p: RedParams): string {
  const T = wgslType(p.dtype);
  const arg = p.op === 'argmax' || p.op === 'argmin';
  const outT = arg ? 'i32' : T;
  const id = ident(p.op, p.dtype).replace(/bitcast<f32>\(0x7f800000u\)/g, 'inf_()');
  const combineScalar = (v: string, i: string) =>
    // NaN wins, as in PyTorch: once taken it is kept, since no comparison with it is true.
    p.op === 'sum' ? `acc = acc + ${v};`
    : arg ? `if (ai < 0 || (isnan_(${v}) && !isnan_(acc)) || ${better(p.op, v, 'acc')}) { acc = ${v}; ai = ${i}; }`
    : `if (isnan_(${v}) || ${better(p.op, v, 'acc')}) { acc = ${v}; }`;
  const scale = p.op === 'sum' && p.dtype === 'float32' ? ' * pf(4u)' : '';
  // WGSL may fold x != x to false, so NaN is recognised by its bits.
  const isnan = p.dtype === 'float32' ? 'fn isnan_(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u; }' : 'fn isnan_(x: i32) -> bool { return false; }';
  const head = PRELUDE + `fn inf_() -> f32 { return bitcast<f32>(pu(63u)); }\n${isnan}\n` + bindings([['X', T]], [['O', outT]]);
  const tree =
    p.op === 'sum' ? 'sv[lid] = sv[lid] + sv[lid + s];'
    : arg ? `let ov = sv[lid + s]; let oi = si[lid + s]; let mine = sv[lid]; let mi = si[lid];
      let take = oi >= 0 && (mi < 0 || (isnan_(ov) && (!isnan_(mine) || oi < mi)) || (!isnan_(mine) && (${better(p.op, 'ov', 'mine')} || (ov == mine && oi < mi))));
      if (take) { sv[lid] = ov; si[lid] = oi; }`
    : `let ov = sv[lid + s]; if (isnan_(ov) || ${better(p.op, 'ov', 'sv[lid]')}) { sv[lid] = ov; }`;
  if (p.wg) {
    // Workgroup (o, chunk, block of 32 columns): lane (x, y) sums column x of the block over rows
    // y, y + 8, … of the chunk (a warp reads 32 consecutive values a row), then a tree over y.
    return head + `
var<workgroup> sv: array<${T}, 256>;
@compute @workgroup_size(32, 8)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
  let inner = pu(2u); let R = pu(1u); let P = pu(5u); let C = pu(6u);
  let blocks = (inner + 31u) / 32u;
  let w = wid.x + wid.y * nwg.x;
  if (w >= pu(0u) * P * blocks) { return; }
  let jb = w % blocks; let op = w / blocks; let p = op % P; let o = op / P;
  let j = jb * 32u + l.x;
  let start = p * C; let end = min(start + C, R);
  var acc: ${T} = ${id};
  if (j < inner) {
    for (var r = start + l.y; r < end; r += 8u) {
      let v = X[(o * R + r) * inner + j];
      ${combineScalar('v', '0')}
    }
  }
  let lid = l.y * 32u + l.x;
  sv[lid] = acc;
  workgroupBarrier();
  for (var s = 128u; s >= 32u; s = s >> 1u) {
    if (lid < s) { ${tree} }
    workgroupBarrier();
  }
  if (l.y == 0u && j < inner) { O[(o * P + p) * inner + j] = sv[l.x]${scale}; }
}`;
  }
  if (!p.rows) {
    // One output (o, chunk, j) per invocation, walking its chunk of R with stride inner.
    return head + main1d(`
  let inner = pu(2u); let R = pu(1u); let P = pu(5u); let C = pu(6u);
  if (idx >= pu(0u) * P * inner) { return; }
  let j = idx % inner; let op = idx / inner; let p = op % P; let o = op / P;
  let start = p * C; let end = min(start + C, R);
  var acc: ${T} = ${id};
  var ai: i32 = -1;
  for (var r = start; r < end; r++) {
    let v = X[(o * R + r) * inner + j];
    ${combineScalar('v', 'i32(r)')}
  }
  O[idx] = ${arg ? 'ai' : 'acc' + scale};`);
  }
  return head + `
var<workgroup> sv: array<${T}, ${WG}>;
${arg ? `var<workgroup> si: array<i32, ${WG}>;` : ''}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let w = wid.x + wid.y * nwg.x;
  let R = pu(1u); let P = pu(5u); let C = pu(6u);
  if (w >= pu(0u) * P) { return; }
  let row = w / P; let p = w % P;
  let start = p * C; let end = min(start + C, R);
  var acc: ${T} = ${id};
  var ai: i32 = -1;
  for (var r = start + lid; r < end; r += ${WG}u) {
    let v = X[row * R + r];
    ${combineScalar('v', 'i32(r)')}
  }
  sv[lid] = acc;
  ${arg ? 'si[lid] = ai;' : ''}
  workgroupBarrier();
  for (var s = ${WG / 2}u; s > 0u; s = s >> 1u) {
    if (lid < s) { ${tree} }
    workgroupBarrier();
  }
  if (lid == 0u) { O[w] = ${arg ? 'si[0]' : 'sv[0]' + scale}; }
}`;
}

function redCpu(ins: CpuView[], outs: CpuView[], p: RedParams): void {
  const x = view(ins[0]!, p.dtype);
  const arg = p.op === 'argmax' || p.op === 'argmin';
  const out = arg ? outs[0]!.i32 : view(outs[0]!, p.dtype);
  const { outer, R, inner, P } = p;
  const C = Math.ceil(R / P);
  const isMax = p.op === 'max' || p.op === 'argmax';
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < P; c++) {
      const start = c * C, end = Math.min(start + C, R);
      for (let j = 0; j < inner; j++) {
        let acc = p.op === 'sum' ? 0 : isMax ? -Infinity : Infinity;
        let ai = -1;
        for (let r = start; r < end; r++) {
          const v = x[(o * R + r) * inner + j]!;
          if (p.op === 'sum') acc += v;
          else if (ai < 0 || (v !== v && acc === acc) || (isMax ? v > acc : v < acc)) {
            acc = v;
            ai = r;
          }
        }
        const k = (o * P + c) * inner + j;
        out[k] = arg ? ai : p.op === 'sum' && p.dtype === 'float32' ? acc * p.scale : acc;
      }
    }
  }
}

const redKernel: Kernel<RedParams> = {
  name: 'reduce',
  key: (p) => `${p.op}|${p.dtype}|${p.rows ? 'rows' : p.wg ? 'colsWG' : 'cols'}`,
  cpu: redCpu,
  wgsl: redWgsl,
  grid: (p) => (p.rows ? grid1d(p.outer * p.P, 1) : p.wg ? grid1d(p.outer * p.P * Math.ceil(p.inner / 32), 1) : grid1d(p.outer * p.P * p.inner)),
  uniforms: (p, u) => {
    u.u32(p.outer).u32(p.R).u32(p.inner).u32(0).f32(p.scale).u32(p.P).u32(Math.ceil(p.R / p.P));
    u.n = 63;
    u.u32(0x7f800000);
  },
};

/** Columns this long or longer reduce by workgroup (lanes walking rows), shorter ones per invocation. */
const WG_COLS_MIN_R = 65;

/** Chunks for R so that enough workgroups run when outputs are few. */
function chunks(outer: number, R: number, inner: number, rows: boolean, wg: boolean): number {
  const outputs = outer * inner;
  if (rows) return outer >= 1024 || R <= 8192 ? 1 : Math.min(Math.ceil(R / 4096), Math.ceil(4096 / outer));
  if (outputs >= 65536 || R <= 256) return 1; // enough outputs, or short enough for one pass
  // ≥ 2048 workgroups (a few per SM on big GPUs) where R allows chunks of ≥ 64 rows: a bias
  // gradient of 4096 × 256 in one pass (8 workgroups) took 0.1 ms on the H200, in two ≈ 0.01
  if (wg) return Math.max(1, Math.min(Math.ceil(2048 / (outer * Math.ceil(inner / 32))), Math.floor(R / 64)));
  return Math.min(Math.ceil(R / 256), Math.ceil(65536 / outputs));
}

/** Reduces x viewed as (outer, R, inner) into (outer, inner). */
function reduce3(op: RedOp, x: Tensor, outer: number, R: number, inner: number, scale: number, name: string): Tensor {
  const arg = op === 'argmax' || op === 'argmin';
  const rows = inner === 1;
  const wg = !rows && !arg && R >= WG_COLS_MIN_R;
  const P = arg ? 1 : chunks(outer, R, inner, rows, wg);
  if (P === 1) return launch(name, redKernel, [x], [outer * inner], arg ? 'int32' : x.dtype, { op, dtype: x.dtype, outer, R, inner, P: 1, scale, rows, wg });
  const partial = launch(name, redKernel, [x], [outer * P * inner], x.dtype, { op, dtype: x.dtype, outer, R, inner, P, scale: 1, rows, wg });
  // the partials: (outer, P, inner), reduced over P by whichever kernel suits P
  const out = wg ? reduce3(op, partial, outer, P, inner, scale, name) : launch(name, redKernel, [partial], [outer * inner], x.dtype, { op, dtype: x.dtype, outer, R: P, inner, P: 1, scale, rows });
  partial.dispose();
  return out;
}

function normAxes(axis: number | readonly number[] | undefined, rank: number, op: string): number[] {
  if (axis === undefined) return [...Array(rank).keys()];
  const list = typeof axis === 'number' ? [axis] : [...axis];
  const out = [...new Set(list.map((a) => normAxis(a, rank, op)))].sort((a, b) => a - b);
  if (out.length !== list.length) throw new ShapeError(`${op}: repeated axis in ${JSON.stringify(list)}`);
  return out;
}

/** Reduces over sorted axes, one contiguous run of axes per pass (no autograd). */
function reduceAxes(op: RedOp, x: Tensor, axes: number[], name: string, scaleAll = 1): Tensor {
  let cur = x;
  let shape = [...x.shape];
  const runs: [number, number][] = [];
  for (const a of axes) {
    const last = runs[runs.length - 1];
    if (last && last[1] === a) last[1] = a + 1;
    else runs.push([a, a + 1]);
  }
  if (runs.length === 0) runs.push([0, 0]);
  // Last run first, so earlier axis indices stay valid.
  for (let k = runs.length - 1; k >= 0; k--) {
    const [s, e] = runs[k]!;
    const outer = numel(shape.slice(0, s));
    const R = numel(shape.slice(s, e));
    const inner = numel(shape.slice(e));
    const next = reduce3(op, cur, outer, R, inner, k === 0 ? scaleAll : 1, name);
    if (cur !== x) cur.dispose();
    cur = next;
    shape = [...shape.slice(0, s), ...shape.slice(e)];
  }
  return cur;
}

function keptShape(shape: readonly number[], axes: number[]): number[] {
  return shape.map((d, i) => (axes.includes(i) ? 1 : d));
}

function finish(r: Tensor, shape: readonly number[], axes: number[], keepdim: boolean): Tensor {
  const target = keepdim ? keptShape(shape, axes) : shape.filter((_, i) => !axes.includes(i));
  return r.view_(target);
}

function reduceOp(op: 'sum' | 'mean', x: Tensor, axis?: number | readonly number[], keepdim = false): Tensor {
  if (!(x instanceof Tensor)) throw new DTypeError(`${op}: expected a Tensor, got ${typeof x}`);
  if (op === 'mean' && x.dtype !== 'float32') throw new DTypeError(`mean: expected a float32 tensor, got ${x.dtype}; cast with .float()`);
  const axes = normAxes(axis, x.ndim, op);
  const R = numel(axes.map((a) => x.shape[a]!));
  if (op === 'mean' && R === 0) throw new ShapeError(`mean: cannot average over an empty dimension of ${fmtShape(x.shape)}`);
  const raw = reduceAxes('sum', x, axes, op, op === 'mean' ? 1 / R : 1);
  const out = finish(raw, x.shape, axes, keepdim);
  raw.dispose();
  if (needsGrad(x)) {
    const inShape = x.shape;
    const kept = keptShape(inShape, axes);
    // sum: the gradient broadcast back (a view). mean: scaled while broadcast, in one kernel that writes
    // it out whole (as PyTorch's division does), instead of a small multiply and then a copy of the view.
    attach(out, op, [x], (g) => [op === 'mean' ? scaleTo(reshape(g, kept), 1 / R, inShape, 'mean.backward') : expandTo(reshape(g, kept), inShape)]);
  }
  return out;
}

export function sum(x: Tensor, axis?: number | readonly number[], keepdim = false): Tensor {
  return reduceOp('sum', x, axis, keepdim);
}
export function mean(x: Tensor, axis?: number | readonly number[], keepdim = false): Tensor {
  return reduceOp('mean', x, axis, keepdim);
}

function extreme(op: 'max' | 'min', x: Tensor, axis?: number, keepdim = false): Tensor {
  if (!(x instanceof Tensor)) throw new DTypeError(`${op}: expected a Tensor, got ${typeof x}`);
  const axes = normAxes(axis, x.ndim, op);
  if (numel(axes.map((a) => x.shape[a]!)) === 0) throw new ShapeError(`${op}: cannot reduce an empty dimension of ${fmtShape(x.shape)}`);
  const raw = reduceAxes(op, x, axes, op);
  const out = finish(raw, x.shape, axes, keepdim);
  raw.dispose();
  if (needsGrad(x)) {
    const inShape = x.shape;
    const kept = keptShape(inShape, axes);
    // As torch.amax: the gradient is shared equally among the elements equal to the extreme.
    attach(out, op, [x], (g, s) => {
      const mask = eq(s[0]!, reshape(s[1]!, kept));
      const count = sum(mask, axes, true);
      return [mul(mask, div(reshape(g, kept), count))];
    }, [x, out]);
  }
  return out;
}

export function max(x: Tensor, axis?: number, keepdim = false): Tensor {
  return extreme('max', x, axis, keepdim);
}
export function min(x: Tensor, axis?: number, keepdim = false): Tensor {
  return extreme('min', x, axis, keepdim);
}

function argExtreme(op: 'argmax' | 'argmin', x: Tensor, axis?: number, keepdim = false): Tensor {
  if (!(x instanceof Tensor)) throw new DTypeError(`${op}: expected a Tensor, got ${typeof x}`);
  if (x.size === 0) throw new ShapeError(`${op}: the tensor ${fmtShape(x.shape)} is empty`);
  if (axis === undefined) {
    // Index into the flattened tensor, as PyTorch does.
    const flat = x.view_([x.size], op);
    const r = reduce3(op, flat, 1, x.size, 1, 1, op);
    flat.dispose();
    const out = r.view_(keepdim ? x.shape.map(() => 1) : []);
    r.dispose();
    return out;
  }
  const a = normAxis(axis, x.ndim, op);
  if (x.shape[a] === 0) throw new ShapeError(`${op}: cannot reduce an empty dimension of ${fmtShape(x.shape)}`);
  const r = reduce3(op, x, numel(x.shape.slice(0, a)), x.shape[a]!, numel(x.shape.slice(a + 1)), 1, op);
  const out = finish(r, x.shape, [a], keepdim);
  r.dispose();
  return out;
}

/** Index of the largest value (first among ties), as int32. */
export function argmax(x: Tensor, axis?: number, keepdim = false): Tensor {
  return argExtreme('argmax', x, axis, keepdim);
}
export function argmin(x: Tensor, axis?: number, keepdim = false): Tensor {
  return argExtreme('argmin', x, axis, keepdim);
}

/** Sums a broadcast gradient back down to `shape` (the inverse of broadcasting). */
export function sumTo(g: Tensor, shape: readonly number[]): Tensor {
  if (g.shape.length === shape.length && g.shape.every((d, i) => d === shape[i])) return g;
  const lead = g.ndim - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < g.ndim; i++) {
    if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) axes.push(i);
  }
  if (axes.length === 0) return reshape(g, shape);
  const r = reduceAxes('sum', g, axes, 'sumTo');
  const out = r.view_(shape);
  r.dispose();
  return out;
}
