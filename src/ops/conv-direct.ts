// Direct convolution kernels for few columns (first layers), no im2col and no GEMM.
//
// With one group and Kc = Cg·KH·KW small (the first convolution of an image network: Kc = 9 for one
// channel, 27 for RGB), the GEMMs waste most of their tile on Kc (a 64-wide tile for 9 columns) and
// the data movement around them costs more than the arithmetic: im2col, then the (pixel, filter)
// result moved to NCHW, and in the backward the output gradient moved the other way. These kernels
// read and write NCHW directly, with the geometry compiled in: each invocation gathers its pixels'
// Kc inputs once into registers.
//   forward  y[n, o, p] = Σ_c W[o, c]·x(n, p, c)           (PX pixels × a block of filters per invocation)
//   dW       part[s, o, c] = Σ_{rows r of slice s} dY[n, o, p]·x(n, p, c), summed over s afterwards
import type { Kernel } from '../backend/types.js';
import { Tensor } from '../tensor/tensor.js';
import { PRELUDE, WG, bindings, grid1d, launch } from './kernel.js';
import { im2colRowCpu } from './matmul.js';
import { sum } from './reduce.js';
import { MAX_Z, convTuning, fullGeoKey, type Geo } from './conv-geo.js';

/** The direct kernels apply: one group, few columns (conv.ts takes its 1×1 path before asking). */
export function directSmall(g: Geo): boolean {
  return g.G === 1 && g.Kc <= Math.min(convTuning.directMaxKc, 32); // (≤ 63 sums a weight-gradient invocation)
}

/** Pixels per forward invocation (`directPixels`); filters per weight-gradient workgroup (≤ 63 sums an invocation). */
const directPX = (): number => convTuning.directPixels;
const directOB = (g: Geo): number => Math.max(1, Math.floor(63 / g.Kc));
/** Invocations of a weight-gradient workgroup. */
const DW_WG = 64;

/**
 * WGSL that gathers the Kc inputs of pixel row `r` (named x{tag}_{c}) into registers, zero outside
 * the image or when `ok` is false. The (kh, kw) offsets are constants.
 */
function gatherWgsl(g: Geo, tag: string, r: string, ok: string): string {
  const HW = g.H * g.W;
  let s = `let n${tag} = ${r} / ${g.P}u; let p${tag} = ${r} - n${tag} * ${g.P}u;
    let oh${tag} = p${tag} / ${g.OW}u; let ow${tag} = p${tag} - oh${tag} * ${g.OW}u;
    let xb${tag} = n${tag} * ${g.C * HW}u;\n`;
  for (let kh = 0; kh < g.KH; kh++) {
    s += `    let ih${tag}_${kh} = i32(oh${tag} * ${g.sh}u) + ${kh * g.dh - g.ph}; let rh${tag}_${kh} = ${ok} && ih${tag}_${kh} >= 0 && ih${tag}_${kh} < ${g.H};\n`;
  }
  for (let kw = 0; kw < g.KW; kw++) {
    s += `    let iw${tag}_${kw} = i32(ow${tag} * ${g.sw}u) + ${kw * g.dw - g.pw}; let rw${tag}_${kw} = iw${tag}_${kw} >= 0 && iw${tag}_${kw} < ${g.W};\n`;
  }
  let c = 0;
  for (let ci = 0; ci < g.Cg; ci++) {
    for (let kh = 0; kh < g.KH; kh++) {
      for (let kw = 0; kw < g.KW; kw++, c++) {
        s += `    var x${tag}_${c} = 0.0; if (rh${tag}_${kh} && rw${tag}_${kw}) { x${tag}_${c} = X[xb${tag} + ${ci * HW}u + u32(ih${tag}_${kh}) * ${g.W}u + u32(iw${tag}_${kw})]; }\n`;
      }
    }
  }
  return s;
}


interface DirectParams { g: Geo; bias: boolean }

/** Filters per forward workgroup (grid z): the gathered inputs are reused across them. */
const DIRECT_OBF = 32;

const directFwdKernel: Kernel<DirectParams> = {
  name: 'conv2d.direct',
  key: (p) => `${fullGeoKey(p.g)}|${p.bias ? 'b' : ''}|${directPX()}`,
  cpu: (ins, outs, { g, bias }) => {
    const x = ins[0]!.f32, w = ins[1]!.f32, b = bias ? ins[2]!.f32 : null, y = outs[0]!.f32;
    const xs = new Float32Array(g.Kc);
    for (let r = 0; r < g.N * g.P; r++) {
      im2colRowCpu(x, g, r, xs, 0);
      const n = Math.floor(r / g.P), p = r - n * g.P;
      for (let o = 0; o < g.O; o++) {
        let s = b ? b[o]! : 0;
        for (let c = 0; c < g.Kc; c++) s += w[o * g.Kc + c]! * xs[c]!;
        y[(n * g.O + o) * g.P + p] = s;
      }
    }
  },
  wgsl: ({ g, bias }) => {
    const PX = directPX();
    const px = [...Array(PX).keys()];
    const cs = [...Array(g.Kc).keys()];
    return PRELUDE + bindings(bias ? [['X', 'f32'], ['Wt', 'f32'], ['B', 'f32']] : [['X', 'f32'], ['Wt', 'f32']], [['Y', 'f32']]) + `
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let NP = pu(0u);
  let base = (wid.x + wid.y * nwg.x) * ${WG * PX}u + lid.x;
  ${px.map((j) => `let r${j} = base + ${j * WG}u; let ok${j} = r${j} < NP;\n    ${gatherWgsl(g, `${j}`, `r${j}`, `ok${j}`)}`).join('\n  ')}
  let o0 = wid.z * ${DIRECT_OBF}u;
  let o1 = min(o0 + ${DIRECT_OBF}u, ${g.O}u);
  for (var o = o0; o < o1; o++) {
    let wb = o * ${g.Kc}u;
    ${cs.map((c) => `let w${c} = Wt[wb + ${c}u];`).join(' ')}
    ${px.map((j) => `var s${j} = ${bias ? 'B[o]' : '0.0'};\n    ${cs.map((c) => `s${j} = fma(w${c}, x${j}_${c}, s${j});`).join(' ')}
    if (ok${j}) { Y[(n${j} * ${g.O}u + o) * ${g.P}u + p${j}] = s${j}; }`).join('\n    ')}
  }
}
`;
  },
  grid: ({ g }) => {
    const [x, y] = grid1d(g.N * g.P, WG * directPX());
    return [x, y, Math.ceil(g.O / DIRECT_OBF)];
  },
  uniforms: ({ g }, u) => void u.u32(g.N * g.P),
};

interface DirectDWParams { g: Geo; S: number; rowsPer: number }

const directDWKernel: Kernel<DirectDWParams> = {
  name: 'conv2d.directDW',
  key: (p) => fullGeoKey(p.g),
  cpu: (ins, outs, { g, S, rowsPer }) => {
    const x = ins[0]!.f32, gy = ins[1]!.f32, part = outs[0]!.f32;
    const xs = new Float32Array(g.Kc);
    const NP = g.N * g.P;
    for (let s = 0; s < S; s++) {
      const acc = new Float32Array(g.O * g.Kc);
      for (let r = s * rowsPer; r < Math.min(NP, (s + 1) * rowsPer); r++) {
        im2colRowCpu(x, g, r, xs, 0);
        const n = Math.floor(r / g.P), p = r - n * g.P;
        for (let o = 0; o < g.O; o++) {
          const gv = gy[(n * g.O + o) * g.P + p]!;
          for (let c = 0; c < g.Kc; c++) acc[o * g.Kc + c] += gv * xs[c]!;
        }
      }
      part.set(acc, s * g.O * g.Kc);
    }
  },
  wgsl: ({ g }) => {
    // 64 invocations, each with OB·Kc ≤ 63 sums; they all go to workgroup memory at once (row
    // stride V|1: odd, so neither the writes nor the column reads collide on banks) and, after one
    // barrier, invocation v adds up column v. (A reduction in rounds with a barrier each made
    // lavapipe's compiler take seconds: every barrier there splits the shader.)
    const OB = directOB(g), V = OB * g.Kc, VS = V | 1;
    const obs = [...Array(OB).keys()];
    const cs = [...Array(g.Kc).keys()];
    return PRELUDE + bindings([['X', 'f32'], ['GY', 'f32']], [['Part', 'f32']]) + `
var<workgroup> red: array<f32, ${DW_WG * VS}>;
@compute @workgroup_size(${DW_WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let NP = pu(0u); let rowsPer = pu(1u);
  let o0 = wid.z * ${OB}u;
  let rEnd = min(NP, (wid.x + 1u) * rowsPer);
  ${obs.map((o) => cs.map((c) => `var a${o}_${c} = 0.0;`).join(' ')).join('\n  ')}
  for (var r = wid.x * rowsPer + lid.x; r < rEnd; r += ${DW_WG}u) {
    ${gatherWgsl(g, '', 'r', 'true')}
    ${obs.map((o) => `{
      var gv = 0.0; if (o0 + ${o}u < ${g.O}u) { gv = GY[(n * ${g.O}u + o0 + ${o}u) * ${g.P}u + p]; }
      ${cs.map((c) => `a${o}_${c} = fma(gv, x_${c}, a${o}_${c});`).join(' ')}
    }`).join('\n    ')}
  }
  let rb = lid.x * ${VS}u;
  ${obs.map((o) => cs.map((c) => `red[rb + ${o * g.Kc + c}u] = a${o}_${c};`).join(' ')).join('\n  ')}
  workgroupBarrier();
  if (lid.x < ${V}u) {
    var t = 0.0;
    for (var i = 0u; i < ${DW_WG}u; i++) { t += red[i * ${VS}u + lid.x]; }
    let o = o0 + lid.x / ${g.Kc}u;
    if (o < ${g.O}u) { Part[(wid.x * ${g.O}u + o) * ${g.Kc}u + lid.x % ${g.Kc}u] = t; }
  }
}
`;
  },
  grid: ({ g, S }) => [S, 1, Math.ceil(g.O / directOB(g))],
  uniforms: ({ g, rowsPer }, u) => void u.u32(g.N * g.P).u32(rowsPer),
};

/**
 * Slices of the direct weight gradient's rows, `directSliceRows` each (one workgroup per slice and
 * filter block: 0.33 ms on the H200 for the CSNN's first layer with 27 slices, the GPU mostly idle).
 */
function directSlices(g: Geo): { S: number; rowsPer: number } {
  const NP = g.N * g.P;
  const rowsPer = Math.max(convTuning.directSliceRows, Math.ceil(NP / MAX_Z));
  return { S: Math.ceil(NP / rowsPer), rowsPer };
}

export function directForward(x: Tensor, w: Tensor, bias: Tensor | null, g: Geo, op: string): Tensor {
  return launch(op, directFwdKernel, bias ? [x, w, bias] : [x, w], [g.N, g.O, g.OH, g.OW], 'float32', { g, bias: !!bias });
}

export function directWeightGrad(gy: Tensor, x: Tensor, g: Geo, op: string): Tensor {
  const { S, rowsPer } = directSlices(g);
  const part = launch(op, directDWKernel, [x, gy], [S, g.O * g.Kc], 'float32', { g, S, rowsPer });
  if (S === 1) return part;
  const dw = sum(part, 0);
  part.dispose();
  return dw;
}
