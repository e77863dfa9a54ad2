// An independent float64 reference for the tests: plain loops over { shape, data }, written from
// the math (NumPy / PyTorch semantics), sharing no code with src/.

export interface Ref {
  shape: number[];
  data: Float64Array;
}
export type RefOperand = Ref | number;

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function stridesOf(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}

export function make(shape: readonly number[], data?: ArrayLike<number>): Ref {
  const n = numel(shape);
  const d = new Float64Array(n);
  if (data) {
    if (data.length !== n) throw new Error(`ref.make: ${data.length} values for shape [${shape.join(', ')}]`);
    for (let i = 0; i < n; i++) d[i] = data[i]!;
  }
  return { shape: [...shape], data: d };
}

export function scalar(v: number): Ref {
  return make([], [v]);
}

export function clone(x: Ref): Ref {
  return { shape: [...x.shape], data: Float64Array.from(x.data) };
}

function normAxis(a: number, rank: number): number {
  const r = Math.max(rank, 1);
  if (!Number.isInteger(a) || a < -r || a >= r) throw new Error(`ref: axis ${a} out of range for rank ${rank}`);
  return a < 0 ? a + r : a;
}

/** Unravels flat index i of `shape` into coords (written into `out`). */
function unravel(i: number, shape: readonly number[], out: number[]): void {
  for (let d = shape.length - 1; d >= 0; d--) {
    const s = shape[d]!;
    out[d] = i % s;
    i = Math.floor(i / s);
  }
}

// ---- elementwise with broadcasting ------------------------------------------------------------

export function broadcastShapes(...shapes: (readonly number[])[]): number[] {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  const out = new Array<number>(rank).fill(1);
  for (const s of shapes) {
    for (let i = 0; i < s.length; i++) {
      const o = rank - s.length + i;
      const d = s[i]!;
      if (d === 1) continue;
      if (out[o] === 1) out[o] = d;
      else if (out[o] !== d) throw new Error(`ref: cannot broadcast [${shapes.map((x) => x.join(',')).join('] [')}]`);
    }
  }
  return out;
}

/** Index into operand `x` (broadcast to `outShape`) for the output coords `co`. */
function bcIndex(x: Ref, co: readonly number[], outRank: number): number {
  const st = stridesOf(x.shape);
  const off = outRank - x.shape.length;
  let idx = 0;
  for (let d = 0; d < x.shape.length; d++) {
    if (x.shape[d] !== 1) idx += co[off + d]! * st[d]!;
  }
  return idx;
}

/** f applied elementwise over broadcast operands (numbers are 0-d). */
export function map(f: (...v: number[]) => number, ...ops: RefOperand[]): Ref {
  const refs = ops.map((o) => (typeof o === 'number' ? scalar(o) : o));
  const shape = broadcastShapes(...refs.map((r) => r.shape));
  const out = make(shape);
  const co = new Array<number>(shape.length).fill(0);
  const vals = new Array<number>(refs.length);
  for (let i = 0; i < out.data.length; i++) {
    unravel(i, shape, co);
    for (let k = 0; k < refs.length; k++) vals[k] = refs[k]!.data[bcIndex(refs[k]!, co, shape.length)]!;
    out.data[i] = f(...vals);
  }
  return out;
}

export const add = (a: RefOperand, b: RefOperand) => map((x, y) => x + y, a, b);
export const sub = (a: RefOperand, b: RefOperand) => map((x, y) => x - y, a, b);
export const mul = (a: RefOperand, b: RefOperand) => map((x, y) => x * y, a, b);
export const div = (a: RefOperand, b: RefOperand) => map((x, y) => x / y, a, b);
export const pow = (a: RefOperand, b: RefOperand) => map((x, y) => Math.pow(x, y), a, b);
export const maximum = (a: RefOperand, b: RefOperand) => map((x, y) => (x >= y ? x : y), a, b);
export const minimum = (a: RefOperand, b: RefOperand) => map((x, y) => (x <= y ? x : y), a, b);
export const neg = (a: Ref) => map((x) => -x, a);
export const exp = (a: Ref) => map((x) => Math.exp(x), a);
export const log = (a: Ref) => map((x) => Math.log(x), a);
export const sqrt = (a: Ref) => map((x) => Math.sqrt(x), a);
export const abs = (a: Ref) => map((x) => (x < 0 ? -x : x), a);
export const sign = (a: Ref) => map((x) => (x > 0 ? 1 : x < 0 ? -1 : 0), a);
export const relu = (a: Ref) => map((x) => (x > 0 ? x : 0), a);
export const sigmoid = (a: Ref) => map((x) => 1 / (1 + Math.exp(-x)), a);
export const tanh = (a: Ref) =>
  map((x) => {
    // (e^{2x} - 1) / (e^{2x} + 1), written to stay finite for large |x|
    const e = Math.exp(-2 * Math.abs(x));
    const t = (1 - e) / (1 + e);
    return x < 0 ? -t : t;
  }, a);
export const clamp = (x: RefOperand, lo: RefOperand | null, hi: RefOperand | null): Ref => {
  let r: RefOperand = x;
  if (lo !== null) r = map((v, l) => (v < l ? l : v), r, lo);
  if (hi !== null) r = map((v, h) => (v > h ? h : v), r, hi);
  return typeof r === 'number' ? scalar(r) : r;
};
const cmp = (f: (x: number, y: number) => boolean) => (a: RefOperand, b: RefOperand) => map((x, y) => (f(x, y) ? 1 : 0), a, b);
export const eq = cmp((x, y) => x === y);
export const ne = cmp((x, y) => x !== y);
export const lt = cmp((x, y) => x < y);
export const le = cmp((x, y) => x <= y);
export const gt = cmp((x, y) => x > y);
export const ge = cmp((x, y) => x >= y);
export const where = (c: RefOperand, a: RefOperand, b: RefOperand) => map((cv, x, y) => (cv !== 0 ? x : y), c, a, b);

// ---- reductions -------------------------------------------------------------------------------

export type RedKind = 'sum' | 'mean' | 'max' | 'min' | 'argmax' | 'argmin';

/**
 * Reduces over `axes` (all when undefined). arg* give the index within the reduced block in
 * row-major order (the flat index when reducing over everything); ties go to the first index.
 */
export function reduce(kind: RedKind, x: Ref, axes?: number | readonly number[], keepdim = false): Ref {
  const rank = x.shape.length;
  const list = axes === undefined ? [...Array(rank).keys()] : (typeof axes === 'number' ? [axes] : [...axes]).map((a) => normAxis(a, rank));
  const red = new Set(list);
  const outShape: number[] = [];
  const keptShape: number[] = [];
  const redShape: number[] = [];
  x.shape.forEach((d, i) => {
    if (red.has(i)) {
      redShape.push(d);
      keptShape.push(1);
      if (keepdim) outShape.push(1);
    } else {
      keptShape.push(d);
      outShape.push(d);
    }
  });
  const nOut = numel(keptShape);
  const acc = new Float64Array(nOut);
  const best = new Float64Array(nOut).fill(NaN);
  const bestIdx = new Float64Array(nOut).fill(-1);
  const isMax = kind === 'max' || kind === 'argmax';
  const co = new Array<number>(rank).fill(0);
  const keptSt = stridesOf(keptShape);
  const redSt = stridesOf(redShape);
  for (let i = 0; i < x.data.length; i++) {
    unravel(i, x.shape, co);
    let o = 0;
    let r = 0;
    let k = 0;
    for (let d = 0; d < rank; d++) {
      if (red.has(d)) r += co[d]! * redSt[k++]!;
      else o += co[d]! * keptSt[d]!;
    }
    const v = x.data[i]!;
    if (kind === 'sum' || kind === 'mean') acc[o]! += v;
    else if (bestIdx[o]! < 0 || (isMax ? v > best[o]! : v < best[o]!)) {
      best[o] = v;
      bestIdx[o] = r;
    }
  }
  const R = numel(redShape);
  const out = make(outShape);
  for (let o = 0; o < nOut; o++) {
    out.data[o] =
      kind === 'sum' ? acc[o]!
      : kind === 'mean' ? acc[o]! / R
      : kind === 'max' || kind === 'min' ? best[o]!
      : bestIdx[o]!;
  }
  return out;
}

export const sum = (x: Ref, axes?: number | readonly number[], keepdim = false) => reduce('sum', x, axes, keepdim);
export const mean = (x: Ref, axes?: number | readonly number[], keepdim = false) => reduce('mean', x, axes, keepdim);
export const max = (x: Ref, axis?: number, keepdim = false) => reduce('max', x, axis, keepdim);
export const min = (x: Ref, axis?: number, keepdim = false) => reduce('min', x, axis, keepdim);
export const argmax = (x: Ref, axis?: number, keepdim = false) => reduce('argmax', x, axis, keepdim);
export const argmin = (x: Ref, axis?: number, keepdim = false) => reduce('argmin', x, axis, keepdim);

// ---- shape ops --------------------------------------------------------------------------------

export function reshape(x: Ref, shape: readonly number[]): Ref {
  const s = [...shape];
  const inf = s.indexOf(-1);
  if (inf >= 0) s[inf] = numel(x.shape) / -numel(s);
  if (numel(s) !== x.data.length) throw new Error(`ref.reshape: [${x.shape}] -> [${shape}]`);
  return { shape: s, data: Float64Array.from(x.data) };
}

export function permute(x: Ref, dims: readonly number[]): Ref {
  const rank = x.shape.length;
  const perm = dims.map((d) => normAxis(d, rank));
  const shape = perm.map((d) => x.shape[d]!);
  const out = make(shape);
  const inSt = stridesOf(x.shape);
  const co = new Array<number>(rank).fill(0);
  for (let i = 0; i < out.data.length; i++) {
    unravel(i, shape, co);
    let src = 0;
    for (let d = 0; d < rank; d++) src += co[d]! * inSt[perm[d]!]!;
    out.data[i] = x.data[src]!;
  }
  return out;
}

export function transpose(x: Ref, a = -2, b = -1): Ref {
  const rank = x.shape.length;
  const perm = [...Array(rank).keys()];
  const na = normAxis(a, rank), nb = normAxis(b, rank);
  perm[na] = nb;
  perm[nb] = na;
  return permute(x, perm);
}

export function expand(x: Ref, shape: readonly number[]): Ref {
  const off = shape.length - x.shape.length;
  const target = shape.map((d, i) => (d === -1 ? x.shape[i - off]! : d));
  return map((v) => v, x, make(target));
}

/** Python-style slice start:end:step (step ≥ 1) along one axis, indices clamped. */
export function slice(x: Ref, axis: number, start = 0, end?: number, step = 1): Ref {
  const a = normAxis(axis, x.shape.length);
  const n = x.shape[a]!;
  const fix = (i: number) => Math.min(Math.max(i < 0 ? i + n : i, 0), n);
  const s = fix(start);
  const e = fix(end ?? n);
  const picks: number[] = [];
  for (let i = s; i < e; i += step) picks.push(i);
  const shape = [...x.shape];
  shape[a] = picks.length;
  const out = make(shape);
  const inSt = stridesOf(x.shape);
  const co = new Array<number>(shape.length).fill(0);
  for (let i = 0; i < out.data.length; i++) {
    unravel(i, shape, co);
    let src = 0;
    for (let d = 0; d < shape.length; d++) src += (d === a ? picks[co[d]!]! : co[d]!) * inSt[d]!;
    out.data[i] = x.data[src]!;
  }
  return out;
}

export function cat(xs: readonly Ref[], axis = 0): Ref {
  const a = normAxis(axis, xs[0]!.shape.length);
  const shape = [...xs[0]!.shape];
  shape[a] = xs.reduce((s, x) => s + x.shape[a]!, 0);
  const out = make(shape);
  const co = new Array<number>(shape.length).fill(0);
  for (let i = 0; i < out.data.length; i++) {
    unravel(i, shape, co);
    let along = co[a]!;
    let k = 0;
    while (along >= xs[k]!.shape[a]!) along -= xs[k++]!.shape[a]!;
    const src = xs[k]!;
    const st = stridesOf(src.shape);
    let idx = 0;
    for (let d = 0; d < shape.length; d++) idx += (d === a ? along : co[d]!) * st[d]!;
    out.data[i] = src.data[idx]!;
  }
  return out;
}

export function unsqueeze(x: Ref, axis: number): Ref {
  const a = normAxis(axis, x.shape.length + 1);
  const s = [...x.shape];
  s.splice(a, 0, 1);
  return reshape(x, s);
}

export function stack(xs: readonly Ref[], axis = 0): Ref {
  return cat(xs.map((x) => unsqueeze(x, axis)), axis < 0 ? axis + xs[0]!.shape.length + 1 : axis);
}

export function split(x: Ref, sizes: number | readonly number[], axis = 0): Ref[] {
  const a = normAxis(axis, x.shape.length);
  const n = x.shape[a]!;
  const list: number[] = [];
  if (typeof sizes === 'number') for (let o = 0; o < n; o += sizes) list.push(Math.min(sizes, n - o));
  else list.push(...sizes);
  const out: Ref[] = [];
  let o = 0;
  for (const len of list) {
    out.push(slice(x, a, o, o + len));
    o += len;
  }
  return out;
}

// ---- matmul -----------------------------------------------------------------------------------

/** NumPy matmul: 1-D operands are promoted (and the added dim removed), batch dims broadcast. */
export function matmul(a: Ref, b: Ref): Ref {
  const A = a.shape.length === 1 ? reshape(a, [1, a.shape[0]!]) : a;
  const B = b.shape.length === 1 ? reshape(b, [b.shape[0]!, 1]) : b;
  const M = A.shape[A.shape.length - 2]!, K = A.shape[A.shape.length - 1]!;
  const N = B.shape[B.shape.length - 1]!;
  if (B.shape[B.shape.length - 2] !== K) throw new Error(`ref.matmul: [${a.shape}] @ [${b.shape}]`);
  const aBatch = A.shape.slice(0, -2), bBatch = B.shape.slice(0, -2);
  const batch = broadcastShapes(aBatch, bBatch);
  const nb = numel(batch);
  const out = make([...batch, M, N]);
  const co = new Array<number>(batch.length).fill(0);
  const batchIndex = (bs: number[]) => {
    const st = stridesOf(bs);
    const off = batch.length - bs.length;
    let idx = 0;
    for (let d = 0; d < bs.length; d++) if (bs[d] !== 1) idx += co[off + d]! * st[d]!;
    return idx;
  };
  for (let t = 0; t < nb; t++) {
    unravel(t, batch, co);
    const ao = batchIndex(aBatch) * M * K, bo = batchIndex(bBatch) * K * N, oo = t * M * N;
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) {
        let s = 0;
        for (let k = 0; k < K; k++) s += A.data[ao + i * K + k]! * B.data[bo + k * N + j]!;
        out.data[oo + i * N + j] = s;
      }
    }
  }
  const finalShape = [...batch, ...(a.shape.length === 1 ? [] : [M]), ...(b.shape.length === 1 ? [] : [N])];
  return { shape: finalShape, data: out.data };
}

// ---- softmax ----------------------------------------------------------------------------------

function alongAxis(x: Ref, axis: number, f: (vals: number[]) => number[]): Ref {
  const a = normAxis(axis, x.shape.length);
  const out = make(x.shape);
  const st = stridesOf(x.shape);
  const n = x.shape[a]!;
  const outer = numel(x.shape.slice(0, a));
  const inner = numel(x.shape.slice(a + 1));
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < inner; j++) {
      const base = o * n * inner + j;
      const vals: number[] = [];
      for (let r = 0; r < n; r++) vals.push(x.data[base + r * st[a]!]!);
      const res = f(vals);
      for (let r = 0; r < n; r++) out.data[base + r * st[a]!] = res[r]!;
    }
  }
  return out;
}

export function softmax(x: Ref, axis = -1): Ref {
  return alongAxis(x, axis, (v) => {
    const m = Math.max(...v);
    const e = v.map((z) => Math.exp(z - m));
    const s = e.reduce((p, q) => p + q, 0);
    return e.map((z) => z / s);
  });
}

export function logSoftmax(x: Ref, axis = -1): Ref {
  return alongAxis(x, axis, (v) => {
    const m = Math.max(...v);
    const s = v.reduce((p, z) => p + Math.exp(z - m), 0);
    const lse = m + Math.log(s);
    return v.map((z) => z - lse);
  });
}

// ---- index ops --------------------------------------------------------------------------------

/** torch.gather: out[i][j][k] = x[index[i][j][k]][j][k] for axis 0, and so on. */
export function gather(x: Ref, axis: number, index: Ref): Ref {
  const a = normAxis(axis, x.shape.length);
  const out = make(index.shape);
  const st = stridesOf(x.shape);
  const co = new Array<number>(index.shape.length).fill(0);
  for (let i = 0; i < out.data.length; i++) {
    unravel(i, index.shape, co);
    const k = index.data[i]!;
    if (!Number.isInteger(k) || k < 0 || k >= x.shape[a]!) throw new Error(`ref.gather: index ${k} out of range`);
    let src = 0;
    for (let d = 0; d < co.length; d++) src += (d === a ? k : co[d]!) * st[d]!;
    out.data[i] = x.data[src]!;
  }
  return out;
}

export function oneHot(index: Ref, classes: number): Ref {
  const out = make([...index.shape, classes]);
  for (let i = 0; i < index.data.length; i++) out.data[i * classes + index.data[i]!] = 1;
  return out;
}

/** Sums a broadcast result back down to `shape` (the adjoint of broadcasting `shape` up to x.shape). */
export function sumTo(x: Ref, shape: readonly number[]): Ref {
  const lead = x.shape.length - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < x.shape.length; i++) {
    if (i < lead || (shape[i - lead] === 1 && x.shape[i] !== 1)) axes.push(i);
  }
  const r = axes.length ? sum(x, axes, true) : clone(x);
  return reshape(r, shape);
}
