// Elementwise ops with NumPy broadcasting: one table row per op holds its WGSL expression, its CPU
// function and its gradient. One kernel generator serves every arity (1–3 operands), operand kind
// (full, single element, broadcast through strides, uniform scalar) and dtype; contiguous
// float/int work runs on vec4 lanes.
import type { CpuView, DType, Kernel } from '../backend/types.js';
import { DTypeError, ShapeError, fmtShape } from '../errors.js';
import { attach, needsGrad } from '../autograd/node.js';
import { broadcastShapes, broadcastStrides, numel, sameShape } from '../shape.js';
import { Tensor } from '../tensor/tensor.js';
import { PRELUDE, WG, backendOf, bindings, grid1d, launch, launchInto, main1d, view, wgslType } from './kernel.js';
import { sumTo } from './reduce.js';

export type Operand = Tensor | number;

/** F: full contiguous, O: one element, B: broadcast via strides, S: scalar in the uniforms. */
type Kind = 'F' | 'O' | 'B' | 'S';

interface MapDef {
  name: string;
  /** WGSL over a, b, c (types VA, VB, VC); VO is the output type. */
  wgsl: string;
  cpu: (a: number, b: number, c: number) => number;
  /** Integer version where JS arithmetic would not wrap like i32 does. */
  cpuInt?: (a: number, b: number, c: number) => number;
  /** Which dtypes the tensor operands may have. */
  accepts: 'float' | 'any';
  /** Output dtype: that of the operands, or always float32 (comparisons). */
  out: 'same' | 'float32' | 'int32';
  /** Operand index whose dtype may differ from the others (where's condition). */
  freeDtype?: number;
}

interface MapParams {
  def: MapDef;
  kinds: Kind[];
  dtypes: DType[];
  outDtype: DType;
  vec: boolean;
  n: number;
  shape: number[];
  strides: number[][];
  scalars: number[];
}

const NAMES = ['a', 'b', 'c'] as const;
const BUFS = ['A', 'B', 'C'] as const;
// Uniform words: 0 n, 1 rank, 2..9 shape, 10.. strides (8 per operand), 34.. scalars, 62 NaN, 63 inf.
const W_SHAPE = 2;
const W_STRIDES = 10;
const W_SCALARS = 34;

const HELPERS = /* wgsl */ `
fn nan_() -> f32 { return bitcast<f32>(pu(62u)); }
fn inf_() -> f32 { return bitcast<f32>(pu(63u)); }
// pow with PyTorch's answers for negative bases and zero (WGSL's pow is undefined there).
fn gpow(x: VA, y: VA) -> VA {
  let p = pow(abs(x), y);
  let yi = round(y);
  let isInt = y == yi;
  let odd = isInt & (abs(yi - 2.0 * floor(yi * 0.5)) == VA(1.0));
  let neg = x < VA(0.0);
  var r = select(p, -p, neg & odd);
  r = select(r, VA(nan_()), neg & !isInt);
  // 0^y: 0 for y > 0, inf for y < 0, with -0 keeping its sign for odd integer y (as Math.pow).
  let zr = select(VA(0.0), VA(inf_()), y < VA(0.0));
  let negZero = (bitcast<VU>(x) == VU(0x80000000u)) & odd;
  r = select(r, select(zr, -zr, negZero), x == VA(0.0));
  return select(r, VA(1.0), y == VA(0.0));
}
`;

function mapWgsl(p: MapParams): string {
  const ty = (d: DType) => (p.vec ? `vec4<${wgslType(d)}>` : wgslType(d));
  let decl = '';
  const ins: [string, string][] = [];
  p.kinds.forEach((k, i) => {
    decl += `alias V${BUFS[i]} = ${ty(p.dtypes[i]!)};\n`;
    if (k === 'F') ins.push([BUFS[i]!, ty(p.dtypes[i]!)]);
    else if (k !== 'S') ins.push([BUFS[i]!, wgslType(p.dtypes[i]!)]);
  });
  for (let i = p.kinds.length; i < 3; i++) decl += `alias V${BUFS[i]} = V${BUFS[0]};\n`;
  decl += `alias VO = ${ty(p.outDtype)};\nalias VU = ${p.vec ? 'vec4<u32>' : 'u32'};\nalias VBOOL = ${p.vec ? 'vec4<bool>' : 'bool'};\n`;
  // WGSL lets compilers assume NaN away, so x != x may fold to false: test the bits instead.
  decl += p.dtypes[0] === 'float32'
    ? 'fn isnan_(x: VA) -> VBOOL { return (bitcast<VU>(x) & VU(0x7fffffffu)) > VU(0x7f800000u); }\n'
    : 'fn isnan_(x: VA) -> VBOOL { return VBOOL(false); }\n';
  let body = '';
  const needCoords = p.kinds.includes('B');
  if (needCoords) body += `  var rem = idx;\n  var offs = vec3<u32>(0u, 0u, 0u);\n  let rank = pu(1u);\n  for (var d = 0u; d < rank; d++) {\n    let dim = rank - 1u - d;\n    let size = pu(${W_SHAPE}u + dim);\n    let co = rem % size;\n    rem = rem / size;\n    offs += co * vec3<u32>(pu(${W_STRIDES}u + dim), pu(${W_STRIDES + 8}u + dim), pu(${W_STRIDES + 16}u + dim));\n  }\n`;
  p.kinds.forEach((k, i) => {
    const v = NAMES[i]!;
    const B = BUFS[i]!;
    const comp = ['x', 'y', 'z'][i]!;
    if (k === 'F') body += `  let ${v} = ${B}[idx];\n`;
    else if (k === 'O') body += `  let ${v} = V${B}(${B}[0]);\n`;
    else if (k === 'B') body += `  let ${v} = V${B}(${B}[offs.${comp}]);\n`;
    else body += `  let ${v} = V${B}(bitcast<${wgslType(p.dtypes[i]!)}>(pu(${W_SCALARS + i}u)));\n`;
  });
  body += `  O[idx] = ${p.def.wgsl};\n`;
  // Each invocation handles `unroll` elements, strided by the whole grid (coalesced).
  const u = unrollOf(p);
  body = u === 1
    ? `  if (idx >= pu(0u)) { return; }\n${body}`
    : `  let total = nwg.x * nwg.y * ${WG}u;\n  for (var j = 0u; j < ${u}u; j++) {\n  let idx = idx0 + j * total;\n  if (idx >= pu(0u)) { return; }\n${body}  }\n`;
  return PRELUDE + decl + (p.dtypes[0] === 'float32' ? HELPERS : '') + bindings(ins, [['O', ty(p.outDtype)]]) + main1d(u === 1 ? body : `  let idx0 = idx;\n${body}`);
}

function mapCpu(ins: CpuView[], outs: CpuView[], p: MapParams): void {
  const f = p.dtypes[0] === 'int32' && p.def.cpuInt ? p.def.cpuInt : p.def.cpu;
  const out = view(outs[0]!, p.outDtype);
  const arrs: (Float32Array | Int32Array | null)[] = [];
  const consts: number[] = [];
  let bi = 0;
  for (let k = 0; k < p.kinds.length; k++) {
    const kind = p.kinds[k]!;
    if (kind === 'S') {
      arrs.push(null);
      consts.push(p.scalars[k]!);
    } else {
      const a = view(ins[bi++]!, p.dtypes[k]!);
      arrs.push(kind === 'O' ? null : a);
      consts.push(kind === 'O' ? a[0]! : 0);
    }
  }
  const n = p.n;
  const [A, B, C] = [arrs[0] ?? null, arrs[1] ?? null, arrs[2] ?? null];
  const [ca, cb, cc] = [consts[0] ?? 0, consts[1] ?? 0, consts[2] ?? 0];
  if (!p.kinds.includes('B')) {
    for (let i = 0; i < n; i++) out[i] = f(A ? A[i]! : ca, B ? B[i]! : cb, C ? C[i]! : cc);
    return;
  }
  const rank = p.shape.length;
  const shape = p.shape;
  const st = p.kinds.map((k, i) => (k === 'B' ? p.strides[i]! : k === 'F' ? fullStrides(shape) : new Array<number>(rank).fill(0)));
  const coord = new Int32Array(rank);
  const off = [0, 0, 0];
  const s0 = st[0]!, s1 = st[1], s2 = st[2];
  for (let i = 0; i < n; i++) {
    out[i] = f(A ? A[off[0]!]! : ca, B ? B[off[1]!]! : cb, C ? C[off[2]!]! : cc);
    for (let d = rank - 1; d >= 0; d--) {
      off[0]! += s0[d]!;
      if (s1) off[1]! += s1[d]!;
      if (s2) off[2]! += s2[d]!;
      if (++coord[d]! < shape[d]!) break;
      coord[d] = 0;
      off[0]! -= s0[d]! * shape[d]!;
      if (s1) off[1]! -= s1[d]! * shape[d]!;
      if (s2) off[2]! -= s2[d]! * shape[d]!;
    }
  }
}

function fullStrides(shape: number[]): number[] {
  const s: number[] = new Array<number>(shape.length);
  let acc = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    s[d] = acc;
    acc *= shape[d]!;
  }
  return s;
}

/** @internal Elements per invocation for large contiguous maps (bench/ sweeps it). */
export const mapTuning = { unroll: 4, minElems: 1 << 20 };
function unrollOf(p: MapParams): number {
  return p.vec && p.n >= mapTuning.minElems ? mapTuning.unroll : 1;
}

const mapKernel: Kernel<MapParams> = {
  name: 'map',
  key: (p) => `${p.def.name}|${p.kinds.join('')}|${p.dtypes.join(',')}|${p.outDtype}|${p.vec ? 4 : 1}|${unrollOf(p)}`,
  cpu: mapCpu,
  wgsl: mapWgsl,
  grid: (p) => grid1d(Math.ceil((p.vec ? p.n / 4 : p.n) / unrollOf(p))),
  uniforms: (p, u) => {
    u.u32(p.vec ? p.n / 4 : p.n).u32(p.shape.length).u32s(p.shape, 8);
    for (let k = 0; k < 3; k++) u.u32s(p.strides[k] ?? [], 8);
    for (let k = 0; k < 3; k++) {
      const v = p.scalars[k] ?? 0;
      if (p.dtypes[k] === 'int32') u.i32(v);
      else u.f32(v);
    }
    u.n = 62;
    u.u32(0x7fc00000).u32(0x7f800000);
  },
};

/** Merges adjacent dims that every strided operand walks contiguously (fewer index steps). */
function collapse(shape: number[], strides: number[][]): [number[], number[][]] {
  if (shape.length <= 1) return [shape, strides];
  const full = fullStrides(shape);
  const all = strides.map((s) => s);
  const outShape: number[] = [shape[0]!];
  const outStrides: number[][] = all.map((s) => [s[0]!]);
  const fullOut = [full[0]!];
  for (let d = 1; d < shape.length; d++) {
    const last = outShape.length - 1;
    const ok = all.every((s, k) => outStrides[k]![last] === s[d]! * shape[d]!) && fullOut[last] === full[d]! * shape[d]!;
    if (ok) {
      outShape[last]! *= shape[d]!;
      all.forEach((s, k) => (outStrides[k]![last] = s[d]!));
      fullOut[last] = full[d]!;
    } else {
      outShape.push(shape[d]!);
      all.forEach((s, k) => outStrides[k]!.push(s[d]!));
      fullOut.push(full[d]!);
    }
  }
  return [outShape, outStrides];
}

/** Runs one table op over tensors and scalars; returns the new tensor (no autograd). */
function runMap(def: MapDef, operands: readonly Operand[], out?: Tensor): Tensor {
  const op = def.name;
  const tensors: Tensor[] = [];
  let shape: number[] = out ? [...out.shape] : [];
  let dtype: DType | null = null;
  operands.forEach((o, k) => {
    if (o instanceof Tensor) {
      tensors.push(o);
      shape = broadcastShapes(shape, o.shape, op);
      if (k !== def.freeDtype) {
        if (dtype && o.dtype !== dtype) throw new DTypeError(`${op}: operands must share a dtype, got ${dtype} and ${o.dtype}; cast one with .float() or .int()`);
        dtype = o.dtype;
      }
    } else if (typeof o !== 'number') {
      throw new DTypeError(`${op}: expected a Tensor or a number, got ${o === null ? 'null' : typeof o}`);
    }
  });
  if (tensors.length === 0) throw new DTypeError(`${op}: expected at least one Tensor operand`);
  const dt: DType = dtype ?? 'float32';
  if (def.accepts === 'float' && dt !== 'float32') throw new DTypeError(`${op}: expected float32 tensors, got ${dt}; cast with .float()`);
  const dtypes: DType[] = operands.map((o, k) => (o instanceof Tensor && k === def.freeDtype ? o.dtype : dt));
  operands.forEach((o, k) => {
    if (typeof o === 'number' && dtypes[k] === 'int32' && !Number.isInteger(o)) {
      throw new DTypeError(`${op}: an int32 tensor cannot take the non-integer scalar ${o}; cast with .float()`);
    }
  });
  const n = numel(shape);
  const kinds: Kind[] = [];
  const strides: number[][] = [];
  const scalars: number[] = [];
  for (const o of operands) {
    if (o instanceof Tensor) {
      kinds.push(sameShape(o.shape, shape) ? 'F' : o.size === 1 ? 'O' : 'B');
      strides.push(broadcastStrides(o.shape, shape));
      scalars.push(0);
    } else {
      kinds.push('S');
      strides.push([]);
      scalars.push(o);
    }
  }
  let rshape = shape;
  if (kinds.includes('B')) {
    const bIdx = kinds.map((k, i) => (k === 'B' || k === 'F' ? i : -1)).filter((i) => i >= 0);
    const [cs, cst] = collapse(shape, bIdx.map((i) => (kinds[i] === 'F' ? fullStrides(shape) : strides[i]!)));
    rshape = cs;
    bIdx.forEach((i, j) => (strides[i] = cst[j]!));
  }
  const outDtype: DType = def.out === 'same' ? dt : def.out;
  const vec = !kinds.includes('B') && n % 4 === 0 && n > 0;
  const p: MapParams = { def, kinds, dtypes, outDtype, vec, n, shape: rshape, strides, scalars };
  if (out) {
    if (!sameShape(out.shape, shape) || out.dtype !== outDtype) throw new ShapeError(`${op}: output must be ${fmtShape(shape)} ${outDtype}, got ${fmtShape(out.shape)} ${out.dtype}`);
    launchInto(op, mapKernel, tensors, [out], p);
    return out;
  }
  return launch(op, mapKernel, tensors, shape, outDtype, p);
}

// ---- the table ---------------------------------------------------------------------------------
const def = (d: MapDef): MapDef => d;
const cmp = (name: string, w: string, f: (a: number, b: number) => boolean): MapDef =>
  def({ name, wgsl: `select(VO(0.0), VO(1.0), ${w})`, cpu: (a, b) => (f(a, b) ? 1 : 0), accepts: 'any', out: 'float32' });

function jsPow(a: number, b: number): number {
  return Math.pow(a, b);
}

export const DEFS = {
  neg: def({ name: 'neg', wgsl: '-a', cpu: (a) => -a, accepts: 'any', out: 'same' }),
  exp: def({ name: 'exp', wgsl: 'exp(a)', cpu: Math.exp, accepts: 'float', out: 'same' }),
  log: def({ name: 'log', wgsl: 'log(a)', cpu: Math.log, accepts: 'float', out: 'same' }),
  sqrt: def({ name: 'sqrt', wgsl: 'sqrt(a)', cpu: Math.sqrt, accepts: 'float', out: 'same' }),
  abs: def({ name: 'abs', wgsl: 'abs(a)', cpu: Math.abs, accepts: 'any', out: 'same' }),
  sign: def({ name: 'sign', wgsl: 'sign(a)', cpu: (a) => (a > 0 ? 1 : a < 0 ? -1 : 0), accepts: 'any', out: 'same' }),
  // NaN stays NaN as in PyTorch (WGSL's max/min/clamp would drop it), hence the isnan_ selects.
  relu: def({ name: 'relu', wgsl: 'select(max(a, VA(0)), a, isnan_(a))', cpu: (a) => (a > 0 || a !== a ? a : 0), accepts: 'float', out: 'same' }),
  sigmoid: def({ name: 'sigmoid', wgsl: '1.0 / (1.0 + exp(-a))', cpu: (a) => 1 / (1 + Math.exp(-a)), accepts: 'float', out: 'same' }),
  // tanh(±15) is ±1 in f32; clamping keeps GPU tanh away from inf/inf.
  tanh: def({ name: 'tanh', wgsl: 'select(tanh(clamp(a, VA(-15.0), VA(15.0))), a, isnan_(a))', cpu: Math.tanh, accepts: 'float', out: 'same' }),
  identity: def({ name: 'copy', wgsl: 'a', cpu: (a) => a, accepts: 'any', out: 'same' }),
  toFloat: def({ name: 'float', wgsl: 'VO(a)', cpu: (a) => a, accepts: 'any', out: 'float32' }),
  toInt: def({
    // Truncation toward zero, saturating at the int32 range, NaN → 0, the same on both backends.
    name: 'int', wgsl: 'select(select(select(VO(a), VO(2147483647), a >= VA(2147483648.0)), VO(-2147483647 - 1), a < VA(-2147483648.0)), VO(0), isnan_(a))', accepts: 'any', out: 'int32',
    cpu: (a) => (Number.isNaN(a) ? 0 : Math.max(-2147483648, Math.min(2147483647, Math.trunc(a)))),
  }),
  add: def({ name: 'add', wgsl: 'a + b', cpu: (a, b) => a + b, accepts: 'any', out: 'same' }),
  sub: def({ name: 'sub', wgsl: 'a - b', cpu: (a, b) => a - b, accepts: 'any', out: 'same' }),
  mul: def({ name: 'mul', wgsl: 'a * b', cpu: (a, b) => a * b, cpuInt: (a, b) => Math.imul(a, b), accepts: 'any', out: 'same' }),
  div: def({ name: 'div', wgsl: 'a / b', cpu: (a, b) => a / b, accepts: 'float', out: 'same' }),
  pow: def({ name: 'pow', wgsl: 'gpow(a, b)', cpu: jsPow, accepts: 'float', out: 'same' }),
  maximum: def({ name: 'maximum', wgsl: 'select(max(a, b), a + b, isnan_(a) | isnan_(b))', cpu: (a, b) => (Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.max(a, b)), accepts: 'any', out: 'same' }),
  minimum: def({ name: 'minimum', wgsl: 'select(min(a, b), a + b, isnan_(a) | isnan_(b))', cpu: (a, b) => (Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.min(a, b)), accepts: 'any', out: 'same' }),
  eq: cmp('eq', 'a == b', (a, b) => a === b),
  ne: cmp('ne', 'a != b', (a, b) => a !== b),
  lt: cmp('lt', 'a < b', (a, b) => a < b),
  le: cmp('le', 'a <= b', (a, b) => a <= b),
  gt: cmp('gt', 'a > b', (a, b) => a > b),
  ge: cmp('ge', 'a >= b', (a, b) => a >= b),
  // NaN and ±Inf have every exponent bit set (WGSL may not keep NaN through comparisons).
  nonFinite: def({ name: 'nonFinite', wgsl: 'select(VO(0.0), VO(1.0), (bitcast<VU>(a) & VU(0x7f800000u)) == VU(0x7f800000u))', cpu: (a) => (Number.isFinite(a) ? 0 : 1), accepts: 'float', out: 'float32' }),
  isNan: def({ name: 'isnan', wgsl: 'select(VO(0.0), VO(1.0), isnan_(a))', cpu: (a) => (Number.isNaN(a) ? 1 : 0), accepts: 'float', out: 'float32' }),
  where: def({ name: 'where', wgsl: 'select(c, b, (a != VA(0)) | isnan_(a))', cpu: (a, b, c) => (a !== 0 ? b : c), accepts: 'any', out: 'same', freeDtype: 0 }),
  clamp: def({ name: 'clamp', wgsl: 'select(min(max(a, b), c), a, isnan_(a))', cpu: (a, b, c) => Math.min(Math.max(a, b), c), accepts: 'any', out: 'same' }),
  // grad helpers
  reluGrad: def({ name: 'reluGrad', wgsl: 'select(VA(0), b, a > VA(0))', cpu: (a, b) => (a > 0 ? b : 0), accepts: 'float', out: 'same' }),
  sigmoidGrad: def({ name: 'sigmoidGrad', wgsl: 'b * a * (1.0 - a)', cpu: (a, b) => b * a * (1 - a), accepts: 'float', out: 'same' }),
  tanhGrad: def({ name: 'tanhGrad', wgsl: 'b * (1.0 - a * a)', cpu: (a, b) => b * (1 - a * a), accepts: 'float', out: 'same' }),
} as const;

// ---- public ops with gradients ---------------------------------------------------------------

type Grad1 = (g: Tensor, x: Tensor, y: Tensor) => Tensor | null;

function unary(d: MapDef, grad: Grad1 | null, save: 'x' | 'y' | 'xy' | 'none') {
  return (x: Tensor): Tensor => {
    if (!(x instanceof Tensor)) throw new DTypeError(`${d.name}: expected a Tensor, got ${typeof x}`);
    const y = runMap(d, [x]);
    if (grad && needsGrad(x)) {
      const saved = save === 'x' ? [x] : save === 'y' ? [y] : save === 'xy' ? [x, y] : [];
      attach(y, d.name, [x], (g, s) => {
        const sx = save === 'x' || save === 'xy' ? s[0]! : g;
        const sy = save === 'y' ? s[0]! : save === 'xy' ? s[1]! : g;
        return [grad(g, sx, sy)];
      }, saved);
    }
    return y;
  };
}

export const neg = unary(DEFS.neg, (g) => neg(g), 'none');
export const exp = unary(DEFS.exp, (g, _x, y) => mul(g, y), 'y');
export const log = unary(DEFS.log, (g, x) => div(g, x), 'x');
export const sqrt = unary(DEFS.sqrt, (g, _x, y) => div(g, mul(y, 2)), 'y');
export const abs = unary(DEFS.abs, (g, x) => mul(g, sign(x)), 'x');
export const sign = unary(DEFS.sign, (g) => mul(g, 0), 'none');
export const relu = unary(DEFS.relu, (g, x) => runMap(DEFS.reluGrad, [x, g]), 'x');
export const sigmoid = unary(DEFS.sigmoid, (g, _x, y) => runMap(DEFS.sigmoidGrad, [y, g]), 'y');
export const tanh = unary(DEFS.tanh, (g, _x, y) => runMap(DEFS.tanhGrad, [y, g]), 'y');

/** Casts to float32 (gradient passes through when the input was float32). */
export function float(x: Tensor): Tensor {
  if (x.dtype === 'float32') return x;
  return runMap(DEFS.toFloat, [x]);
}
/** Casts to int32, truncating toward zero like PyTorch's .int(). */
export function int(x: Tensor): Tensor {
  if (x.dtype === 'int32') return x;
  return runMap(DEFS.toInt, [x]);
}

/** Gradients of a binary op with respect to each tensor operand (full broadcast shape). */
type Grad2 = (g: Tensor, a: Operand, b: Operand, out: Tensor, need: readonly [boolean, boolean]) => [Tensor | null, Tensor | null];

function binary(d: MapDef, grad: Grad2 | null, save: { a?: boolean; b?: boolean; out?: boolean }) {
  return (a: Operand, b: Operand): Tensor => {
    const out = runMap(d, [a, b]);
    const ta = a instanceof Tensor ? a : null;
    const tb = b instanceof Tensor ? b : null;
    if (grad && needsGrad(ta, tb)) {
      const inputs = [ta, tb].filter((t): t is Tensor => t !== null);
      const aShape = ta?.shape;
      const bShape = tb?.shape;
      const saved: Tensor[] = [];
      const slot = { a: -1, b: -1, out: -1 };
      if (save.a && ta) slot.a = saved.push(ta) - 1;
      if (save.b && tb) slot.b = saved.push(tb) - 1;
      if (save.out) slot.out = saved.push(out) - 1;
      const sa = typeof a === 'number' ? a : null;
      const sb = typeof b === 'number' ? b : null;
      attach(out, d.name, inputs, (g, s, needIn) => {
        const need = [ta ? needIn[0]! : false, tb ? needIn[ta ? 1 : 0]! : false] as const;
        const av: Operand = sa ?? (slot.a >= 0 ? s[slot.a]! : g);
        const bv: Operand = sb ?? (slot.b >= 0 ? s[slot.b]! : g);
        const [ga, gb] = grad(g, av, bv, slot.out >= 0 ? s[slot.out]! : g, need);
        const res: (Tensor | null)[] = [];
        if (ta) res.push(ga && aShape && need[0] ? sumTo(ga, aShape) : null);
        if (tb) res.push(gb && bShape && need[1] ? sumTo(gb, bShape) : null);
        return res;
      }, saved);
    }
    return out;
  };
}

export const add = binary(DEFS.add, (g) => [g, g], {});
export const sub = binary(DEFS.sub, (g, _a, _b, _o, need) => [g, need[1] ? neg(g) : null], {});
export const mul = binary(DEFS.mul, (g, a, b, _o, need) => [need[0] ? mul(g, b) : null, need[1] ? mul(g, a) : null], { a: true, b: true });
export const div = binary(DEFS.div, (g, _a, b, out, need) => [need[0] ? div(g, b) : null, need[1] ? neg(div(mul(g, out), b)) : null], { b: true, out: true });
export const pow = binary(
  DEFS.pow,
  (g, a, b, out, need) => [
    // d/da a^b = b·a^(b−1), taken as 0 where b = 0 (as PyTorch does: 0·0^−1 would be NaN at a = 0)
    !need[0] ? null : typeof b === 'number' ? (b === 0 ? mul(g, 0) : mul(g, mul(b, pow(a, b - 1)))) : where(eq(b, 0), 0, mul(g, mul(b, pow(a, sub(b, 1))))),
    // d/db a^b = a^b·ln a, taken as 0 where a = 0 (as PyTorch does)
    !need[1] ? null : typeof a === 'number' ? mul(g, mul(out, a === 0 ? 0 : Math.log(a))) : where(eq(a, 0), 0, mul(g, mul(out, log(a)))),
  ],
  { a: true, b: true, out: true },
);
// Ties share the gradient equally, as in PyTorch.
const tieSplit = (first: (a: Operand, b: Operand) => Tensor): Grad2 => (g, a, b, _o, need) => {
  const wa = add(first(a, b), mul(eq(a, b), 0.5));
  return [need[0] ? mul(g, wa) : null, need[1] ? mul(g, sub(1, wa)) : null];
};
export const maximum = binary(DEFS.maximum, tieSplit((a, b) => gt(a, b)), { a: true, b: true });
export const minimum = binary(DEFS.minimum, tieSplit((a, b) => lt(a, b)), { a: true, b: true });

const compare = (d: MapDef) => (a: Operand, b: Operand): Tensor => runMap(d, [a, b]);
export const eq = compare(DEFS.eq);
export const ne = compare(DEFS.ne);
export const lt = compare(DEFS.lt);
export const le = compare(DEFS.le);
export const gt = compare(DEFS.gt);
export const ge = compare(DEFS.ge);

/** 1 where x is finite, else 0 (float32). */
export function isfinite(x: Tensor): Tensor {
  return runMap(DEFS.nonFinite, [x]).neg().add(1);
}
/** 1 where x is NaN, else 0 (float32). */
export function isnan(x: Tensor): Tensor {
  return runMap(DEFS.isNan, [x]);
}
/** @internal 1 where x is NaN or ±Inf. */
export function nonFinite(x: Tensor): Tensor {
  return runMap(DEFS.nonFinite, [x]);
}

/** cond ? a : b elementwise (cond nonzero = true), with broadcasting. */
export function where(cond: Tensor, a: Operand, b: Operand): Tensor {
  if (!(cond instanceof Tensor)) throw new DTypeError(`where: condition must be a Tensor, got ${typeof cond}`);
  const out = runMap(DEFS.where, [cond, a, b]);
  const ta = a instanceof Tensor ? a : null;
  const tb = b instanceof Tensor ? b : null;
  if (needsGrad(ta, tb)) {
    const inputs = [ta, tb].filter((t): t is Tensor => t !== null);
    const aShape = ta?.shape, bShape = tb?.shape;
    attach(out, 'where', inputs, (g, s, need) => {
      const c = s[0]!;
      const res: (Tensor | null)[] = [];
      if (ta && aShape) res.push(need[0] ? sumTo(where(c, g, 0), aShape) : null);
      if (tb && bShape) res.push(need[res.length] ? sumTo(where(c, 0, g), bShape) : null);
      return res;
    }, [cond]);
  }
  return out;
}

/** Limits values to [min, max]; either bound may be omitted (null) or be a tensor. */
export function clamp(x: Tensor, min: Operand | null = null, max: Operand | null = null): Tensor {
  if (min === null && max === null) throw new ShapeError('clamp: give at least one of min and max');
  if (max === null) return maximumKeepGrad(x, min!, 'clamp');
  if (min === null) return maximumKeepGrad(x, max, 'clampMax');
  const out = runMap(DEFS.clamp, [x, min, max]);
  const tl = min instanceof Tensor ? min : null;
  const th = max instanceof Tensor ? max : null;
  if (needsGrad(x, tl, th)) {
    const inputs = [x, tl, th].filter((t): t is Tensor => t !== null);
    const xs = x.shape, ls = tl?.shape, hs = th?.shape;
    const saved = [x, ...(tl ? [tl] : []), ...(th ? [th] : [])];
    attach(out, 'clamp', inputs, (g, s, need) => {
      const sx = s[0]!;
      const lo: Operand = tl ? s[1]! : (min as number);
      const hi: Operand = th ? s[tl ? 2 : 1]! : (max as number);
      const res: (Tensor | null)[] = [need[0] ? sumTo(mul(g, mul(ge(sx, lo), le(sx, hi))), xs) : null];
      if (tl && ls) res.push(need[1] ? sumTo(mul(g, lt(sx, lo)), ls) : null);
      if (th && hs) res.push(need[res.length] ? sumTo(mul(g, gt(sx, hi)), hs) : null);
      return res;
    }, saved);
  }
  return out;
}

// One-sided clamp: the gradient goes to x where it is inside the bound (bound included), as in PyTorch.
function maximumKeepGrad(x: Tensor, bound: Operand, which: 'clamp' | 'clampMax'): Tensor {
  const isMin = which === 'clamp';
  const out = runMap(isMin ? DEFS.maximum : DEFS.minimum, [x, bound]);
  const tb = bound instanceof Tensor ? bound : null;
  if (needsGrad(x, tb)) {
    const xs = x.shape, bs = tb?.shape;
    attach(out, which, tb ? [x, tb] : [x], (g, s, need) => {
      const sx = s[0]!;
      const b: Operand = tb ? s[1]! : (bound as number);
      const inside = isMin ? ge(sx, b) : le(sx, b);
      const res: (Tensor | null)[] = [need[0] ? sumTo(mul(g, inside), xs) : null];
      if (tb && bs) res.push(need[1] ? sumTo(mul(g, sub(1, inside)), bs) : null);
      return res;
    }, tb ? [x, tb] : [x]);
  }
  return out;
}

/** A contiguous copy of x with the same shape (no autograd). */
export function copy(x: Tensor): Tensor {
  return runMap(DEFS.identity, [x]);
}

/** x · s broadcast to `shape`, written out whole by one kernel (no autograd): mean's backward. */
export function scaleTo(x: Tensor, s: number, shape: readonly number[], op: string): Tensor {
  const out = Tensor.empty(shape, x.dtype, op, x.backend, [x]);
  runMap(DEFS.mul, [x, s], out);
  return out;
}

/** Writes src (broadcast to target's shape) into target, in place (no autograd). */
export function copyInto(target: Tensor, src: Operand): void {
  if (typeof src === 'number') {
    fillInto(target, src, 'assign');
    return;
  }
  if (src.dtype !== target.dtype) throw new DTypeError(`assign: expected a ${target.dtype} tensor, got ${src.dtype}`);
  backendOf('assign', [target, src]);
  if (src.storage('assign') === target.storage('assign')) return;
  runMap(DEFS.identity, [src], target);
}

/** target += src, in place; used to accumulate gradients (no autograd). */
export function addInPlace(target: Tensor, src: Tensor): void {
  if (!sameShape(target.shape, src.shape)) throw new ShapeError(`addInPlace: shapes differ ${fmtShape(target.shape)} vs ${fmtShape(src.shape)}`);
  runInPlace(target, src);
}

// target = target + src via a dedicated read-write kernel (the output aliases an operand).
interface AccParams { n: number; vec: boolean }
const accKernel: Kernel<AccParams> = {
  name: 'accumulate',
  readsOutputs: true,
  key: (p) => (p.vec ? 'v4' : 's'),
  cpu: (ins, outs, p) => {
    const s = ins[0]!.f32, t = outs[0]!.f32;
    for (let i = 0; i < p.n; i++) t[i] = t[i]! + s[i]!;
  },
  wgsl: (p) => {
    const ty = p.vec ? 'vec4<f32>' : 'f32';
    return PRELUDE + bindings([['S', ty]], [['T', ty]]) + main1d(`  if (idx >= pu(0u)) { return; }\n  T[idx] = T[idx] + S[idx];`);
  },
  grid: (p) => grid1d(p.vec ? p.n / 4 : p.n),
  uniforms: (p, u) => void u.u32(p.vec ? p.n / 4 : p.n),
};

function runInPlace(target: Tensor, src: Tensor): void {
  const n = target.size;
  launchInto('addInPlace', accKernel, [src], [target], { n, vec: n % 4 === 0 });
}

interface FillParams { n: number; value: number; dtype: DType }
const fillKernel: Kernel<FillParams> = {
  name: 'fill',
  key: () => '',
  cpu: (_ins, outs, p) => void view(outs[0]!, p.dtype).fill(p.value, 0, p.n),
  wgsl: () => PRELUDE + bindings([], [['O', 'u32']]) + main1d('  if (idx >= pu(0u)) { return; }\n  O[idx] = pu(1u);'),
  grid: (p) => grid1d(p.n),
  uniforms: (p, u) => {
    u.u32(p.n);
    if (p.dtype === 'int32') u.i32(p.value);
    else u.f32(p.value);
  },
};

/** Overwrites every element of t with value (no autograd). */
export function fillInto(t: Tensor, value: number, op: string): void {
  if (t.dtype === 'int32' && !Number.isInteger(value)) throw new DTypeError(`${op}: an int32 tensor cannot hold ${value}`);
  launchInto(op, fillKernel, [], [t], { n: t.size, value, dtype: t.dtype });
}

/** A tensor of `shape` filled with `value` (no autograd). */
export function filled(shape: readonly number[], value: number, dtype: DType, op: string): Tensor {
  const out = Tensor.empty(shape, dtype, op);
  fillInto(out, value, op);
  return out;
}
