// Batch normalisation with batch statistics, fused: the forward pass is three dispatches (partial
// sums per channel slice, per-channel statistics, normalise + affine) and so is the backward
// (partial Σdy and Σdy·x̂, per-channel dβ and dγ, dx), where the composed version took ~20 ops
// and as many passes over the activations. The input is viewed as (N, C, S).
import type { CpuView, Kernel } from '../backend/types.js';
import { attach, needsGrad } from '../autograd/node.js';
import { Tensor } from '../tensor/tensor.js';
import { MAX_GRID, PRELUDE, WG, backendOf, grid1d, handles, main1d } from './kernel.js';

interface BnParams {
  N: number;
  C: number;
  S: number;
  /** Slices per channel in the partial-sum pass. */
  P: number;
  eps: number;
  /** Partial sums of the backward pass (Σdy, Σdy·x̂) instead of the forward's shifted moments. */
  grad?: boolean;
}

/**
 * Whether the GPU kernels run on vec4 quads (S % 4 == 0: a quad never straddles two channels).
 * Four elements a thread and one channel lookup per quad: the scalar kernels' integer divisions
 * by S and C per element held them to about half the memory bandwidth. GRILLY_BN_VEC4=0: off.
 */
export const bnTuning = { vec4: typeof process === 'undefined' || process.env?.GRILLY_BN_VEC4 !== '0' };
const vec4Of = (p: BnParams) => bnTuning.vec4 && p.S % 4 === 0;

function partsFor(N: number, C: number, S: number): number {
  const L = N * S;
  return Math.max(1, Math.min(Math.ceil(1024 / C), Math.ceil(L / 4096), 64));
}

// ---- partial sums: grid (P, C); workgroup (p, c) sums its slice of channel c ----------------
// forward: a = Σ(x − shift), b = Σ(x − shift)², shift = the channel's first value (keeps the
// variance from cancelling when the mean is large); backward: a = Σdy, b = Σdy·x̂.
const partialKernel: Kernel<BnParams> = {
  name: 'batchnorm.partial',
  key: (p) => (p.grad ? 'g' : 'f') + (vec4Of(p) ? '4' : ''),
  cpu: (ins, outs, p) => {
    const { N, C, S, P } = p;
    const L = N * S, chunk = Math.ceil(L / P);
    const out = outs[0]!.f32;
    const X = ins[p.grad ? 1 : 0]!.f32;
    const GY = p.grad ? ins[0]!.f32 : null;
    const ST = p.grad ? ins[2]!.f32 : null;
    for (let c = 0; c < C; c++) {
      const shift = X[c * S]!;
      const mean = ST ? ST[c]! : 0, inv = ST ? ST[C + c]! : 0;
      for (let q = 0; q < P; q++) {
        let a = 0, b = 0;
        for (let e = q * chunk; e < Math.min(L, (q + 1) * chunk); e++) {
          const n = Math.floor(e / S), s = e - n * S;
          const i = (n * C + c) * S + s;
          if (GY) {
            a += GY[i]!;
            b += GY[i]! * ((X[i]! - mean) * inv);
          } else {
            const d = X[i]! - shift;
            a += d;
            b += d * d;
          }
        }
        out[(c * P + q) * 2] = a;
        out[(c * P + q) * 2 + 1] = b;
      }
    }
  },
  wgsl: (p) => {
    // With vec4 the loop walks quads (L/4 of them per channel; S4 = S/4 per image).
    const v = vec4Of(p), T = v ? 'vec4<f32>' : 'f32', U = v ? '4u' : '1u';
    const sum4 = (e: string) => (v ? `dot(${e}, vec4<f32>(1.0))` : e);
    const dot4 = (a: string, b: string) => (v ? `dot(${a}, ${b})` : `${a} * ${b}`);
    return `${PRELUDE}
${p.grad ? `@group(0) @binding(1) var<storage, read> GY: array<${T}>;\n@group(0) @binding(2) var<storage, read> X: array<${T}>;\n@group(0) @binding(3) var<storage, read> ST: array<f32>;\n@group(0) @binding(4) var<storage, read_write> PART: array<f32>;` : `@group(0) @binding(1) var<storage, read> X: array<${T}>;\n@group(0) @binding(2) var<storage, read_write> PART: array<f32>;`}
var<workgroup> sa: array<f32, ${WG}>;
var<workgroup> sb: array<f32, ${WG}>;
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let N = pu(0u); let C = pu(1u); let S = pu(2u) / ${U}; let P = pu(3u);
  let q = wid.x; let c = wid.y + wid.z * nwg.y; // channels fold into z past 65535
  if (c >= C) { return; }
  let L = N * S; let chunk = (L + P - 1u) / P;
  let e0 = q * chunk; let e1 = min(L, e0 + chunk);
  ${p.grad ? 'let mean = ST[c]; let inv = ST[C + c];' : `let shift = X[c * S]${v ? '.x' : ''};`}
  var a = 0.0; var b = 0.0;
  for (var e = e0 + lid; e < e1; e += ${WG}u) {
    let n = e / S; let s = e - n * S;
    let i = (n * C + c) * S + s;
    ${p.grad ? `let g = GY[i]; a += ${sum4('g')}; let xh = (X[i] - mean) * inv; b += ${dot4('g', 'xh')};` : `let d = X[i] - shift; a += ${sum4('d')}; b += ${dot4('d', 'd')};`}
  }
  sa[lid] = a; sb[lid] = b;
  workgroupBarrier();
  for (var k = ${WG / 2}u; k > 0u; k >>= 1u) {
    if (lid < k) { sa[lid] += sa[lid + k]; sb[lid] += sb[lid + k]; }
    workgroupBarrier();
  }
  if (lid == 0u) { PART[(c * P + q) * 2u] = sa[0]; PART[(c * P + q) * 2u + 1u] = sb[0]; }
}`;
  },
  grid: (p) => {
    const cy = Math.min(p.C, MAX_GRID);
    return [p.P, cy, Math.ceil(p.C / cy)];
  },
  uniforms: (p, u) => void u.u32(p.N).u32(p.C).u32(p.S).u32(p.P),
};

// ---- per-channel results: forward → mean, 1/σ, biased variance; backward → Σdy, Σdy·x̂ --------
const finalKernel: Kernel<BnParams> = {
  name: 'batchnorm.final',
  key: (p) => (p.grad ? 'g' : 'f'),
  cpu: (ins, outs, p) => {
    const { C, P } = p;
    const L = p.N * p.S;
    const part = ins[0]!.f32;
    for (let c = 0; c < C; c++) {
      let a = 0, b = 0;
      for (let q = 0; q < P; q++) {
        a += part[(c * P + q) * 2]!;
        b += part[(c * P + q) * 2 + 1]!;
      }
      if (p.grad) {
        outs[0]!.f32[c] = a;
        outs[1]!.f32[c] = b;
      } else {
        const X = ins[1]!.f32;
        const m = a / L;
        const v = Math.max(0, b / L - m * m);
        outs[0]!.f32[c] = X[c * p.S]! + m;
        outs[0]!.f32[C + c] = 1 / Math.sqrt(v + p.eps);
        outs[1]!.f32[c] = v;
      }
    }
  },
  wgsl: (p) => `${PRELUDE}
@group(0) @binding(1) var<storage, read> PART: array<f32>;
${p.grad ? '@group(0) @binding(2) var<storage, read_write> DB: array<f32>;\n@group(0) @binding(3) var<storage, read_write> DW: array<f32>;' : '@group(0) @binding(2) var<storage, read> X: array<f32>;\n@group(0) @binding(3) var<storage, read_write> ST: array<f32>;\n@group(0) @binding(4) var<storage, read_write> VAR: array<f32>;'}
${main1d(`
  let N = pu(0u); let C = pu(1u); let S = pu(2u); let P = pu(3u); let eps = pf(4u);
  let c = idx;
  if (c >= C) { return; }
  var a = 0.0; var b = 0.0;
  for (var q = 0u; q < P; q++) { a += PART[(c * P + q) * 2u]; b += PART[(c * P + q) * 2u + 1u]; }
  ${p.grad ? 'DB[c] = a; DW[c] = b;' : `let L = f32(N * S);
  let m = a / L;
  let v = max(0.0, b / L - m * m);
  ST[c] = X[c * S] + m;
  ST[C + c] = 1.0 / sqrt(v + eps);
  VAR[c] = v;`}`)}`,
  grid: (p) => grid1d(p.C),
  uniforms: (p, u) => void u.u32(p.N).u32(p.C).u32(p.S).u32(p.P).f32(p.eps),
};

// ---- elementwise: forward y = (x − μ)·(1/σ)·γ + β; backward dx = γ/σ·(dy − Σdy/L − x̂·Σdy·x̂/L) --
const applyKernel: Kernel<BnParams> = {
  name: 'batchnorm.apply',
  key: (p) => (p.grad ? 'g' : 'f') + (vec4Of(p) ? '4' : ''),
  cpu: (ins, outs, p) => {
    const { N, C, S } = p;
    const L = N * S;
    const out = outs[0]!.f32;
    if (p.grad) {
      const [GY, X, ST, W, DB, DW] = ins.map((v: CpuView) => v.f32) as Float32Array[];
      for (let i = 0; i < N * C * S; i++) {
        const c = Math.floor(i / S) % C;
        const inv = ST![C + c]!;
        const xh = (X![i]! - ST![c]!) * inv;
        out[i] = W![c]! * inv * (GY![i]! - DB![c]! / L - xh * (DW![c]! / L));
      }
    } else {
      const [X, ST, W, B] = ins.map((v: CpuView) => v.f32) as Float32Array[];
      for (let i = 0; i < N * C * S; i++) {
        const c = Math.floor(i / S) % C;
        out[i] = (X![i]! - ST![c]!) * ST![C + c]! * W![c]! + B![c]!;
      }
    }
  },
  wgsl: (p) => {
    // With vec4, idx counts quads and the per-element arrays (GY, X, O) are bound as vec4.
    const v = vec4Of(p), T = v ? 'vec4<f32>' : 'f32';
    const big = new Set(['GY', 'X', 'O']);
    const ty = (n: string) => (big.has(n) ? T : 'f32');
    const names = p.grad ? ['GY', 'X', 'ST', 'W', 'DB', 'DW'] : ['X', 'ST', 'W', 'B'];
    return `${PRELUDE}
${names.map((n, i) => `@group(0) @binding(${i + 1}) var<storage, read> ${n}: array<${ty(n)}>;`).join('\n')}
@group(0) @binding(${names.length + 1}) var<storage, read_write> O: array<${T}>;
${main1d(`
  let N = pu(0u); let C = pu(1u); let S = pu(2u)${v ? ' / 4u' : ''};
  if (idx >= N * C * S) { return; }
  let c = (idx / S) % C;
  let inv = ST[C + c];
  ${p.grad
    ? `let L = f32(N * pu(2u));
  let xh = (X[idx] - ST[c]) * inv;
  O[idx] = W[c] * inv * (GY[idx] - DB[c] / L - xh * (DW[c] / L));`
    : 'O[idx] = (X[idx] - ST[c]) * inv * W[c] + B[c];'}`)}`;
  },
  grid: (p) => grid1d((p.N * p.C * p.S) / (vec4Of(p) ? 4 : 1)),
  uniforms: (p, u) => void u.u32(p.N).u32(p.C).u32(p.S),
};

/**
 * Training-mode batch norm of x (N, C, …) with affine γ, β ([C] each): returns the output, and
 * the batch mean and biased variance ([C], no grad) for the running statistics.
 */
export function batchNormTrain(x: Tensor, weight: Tensor, bias: Tensor, eps: number, name: string): { out: Tensor; mean: Tensor; variance: Tensor } {
  const N = x.shape[0]!, C = x.shape[1]!;
  const S = x.size / (N * C);
  const p: BnParams = { N, C, S, P: partsFor(N, C, S), eps };
  const b = backendOf(name, [x, weight, bias]);
  const part = Tensor.empty([C * p.P * 2], 'float32', name, b, [x]);
  b.run(partialKernel, handles(name, [x]), handles(name, [part]), p);
  const stats = Tensor.empty([2, C], 'float32', name, b, [part, x]); // mean, 1/σ
  const variance = Tensor.empty([C], 'float32', name, b, [part, x]);
  b.run(finalKernel, handles(name, [part, x]), handles(name, [stats, variance]), p);
  part.dispose();
  const out = Tensor.empty(x.shape, 'float32', name, b, [x, stats, weight, bias]);
  b.run(applyKernel, handles(name, [x, stats, weight, bias]), handles(name, [out]), p);
  const flat = stats.view_([2 * C]);
  const mean = flat.narrow(0, 0, C);
  flat.dispose();
  if (needsGrad(x, weight, bias)) {
    attach(out, name, [x, weight, bias], (gy, s, need) => {
      const [xs, st, w] = s as [Tensor, Tensor, Tensor];
      const bn = `${name}.backward`;
      const be = backendOf(bn, [gy, xs]);
      const gp = { ...p, grad: true };
      const gpart = Tensor.empty([C * p.P * 2], 'float32', bn, be, [gy, xs, st]);
      be.run(partialKernel, handles(bn, [gy, xs, st]), handles(bn, [gpart]), gp);
      const db = Tensor.empty([C], 'float32', bn, be, [gpart]);
      const dw = Tensor.empty([C], 'float32', bn, be, [gpart]);
      be.run(finalKernel, handles(bn, [gpart]), handles(bn, [db, dw]), gp);
      gpart.dispose();
      let dx: Tensor | null = null;
      if (need[0]) {
        dx = Tensor.empty(xs.shape, 'float32', bn, be, [gy, xs, st, w, db, dw]);
        be.run(applyKernel, handles(bn, [gy, xs, st, w, db, dw]), handles(bn, [dx]), gp);
      }
      return [dx, need[1] ? dw : (dw.dispose(), null), need[2] ? db : (db.dispose(), null)];
    }, [x, stats, weight]);
  }
  stats.dispose();
  return { out, mean, variance };
}
