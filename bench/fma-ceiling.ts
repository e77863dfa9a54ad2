// The fp32 FMA rate a WGSL loop reaches on this device (through Dawn, SPIR-V and the driver's compiler):
// the same loop as bench/sj/gemm_ceiling.py's CUDA one (32 independent accumulators a thread, operands
// in registers), as scalars and as vec4s (the GEMM's form), so the two compilers can be compared.
// Usage: tsx bench/fma-ceiling.ts [--iters 20000] [--out file.json]
import { writeFileSync } from 'node:fs';
import * as g from '../src/index.js';
import type { Kernel } from '../src/backend/types.js';
import { PRELUDE, launch } from '../src/ops/kernel.js';
import { timeSteps } from './snn.js';

const arg = (k: string) => {
  const i = process.argv.indexOf(k);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const iters = Math.ceil(Number(arg('--iters') ?? 20000) / 4) * 4; // FMAs a thread = 32 × iters

interface P { iters: number; groups: number; vec: boolean }
/** 32 accumulators a thread: 32 f32, or 8 vec4 (the same 32 FMAs an iteration). */
const fmaLoop: Kernel<P> = {
  name: 'fmaLoop',
  key: (p) => (p.vec ? 'vec4' : 'f32'),
  cpu: () => {
    throw new Error('fmaLoop: GPU only');
  },
  wgsl: (p) => {
    const n = p.vec ? 8 : 32, T = p.vec ? 'vec4<f32>' : 'f32';
    const init = Array.from({ length: n }, (_, i) => `  var a${i} = ${T}(f32(lid.x + ${i}u) * 1e-9);`).join('\n');
    // four rounds of the 32 FMAs an iteration, so the loop's own instructions do not count
    const body = Array.from({ length: 4 * n }, (_, i) => `    a${i % n} = fma(a${i % n}, ${T}(x), ${T}(y));`).join('\n');
    const sum = Array.from({ length: n }, (_, i) => `a${i}`).join(' + ');
    return `${PRELUDE}
@group(0) @binding(1) var<storage, read> D: array<f32>;
@group(0) @binding(2) var<storage, read_write> O: array<f32>;
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let x = pf(1u); let y = pf(2u); let rounds = pu(0u);
${init}
  for (var it = 0u; it < rounds; it++) {
${body}
  }
  let s = ${p.vec ? `dot(${sum}, vec4<f32>(1.0))` : sum};
  if (s == 1234.5) { O[wid.x] = s + D[0]; } // keeps the loop; never true
}
`;
  },
  grid: (p) => [p.groups, 1, 1],
  uniforms: (p, u) => void u.u32(p.iters / 4).f32(0.999).f32(1e-6),
};

const info = await g.init({ backend: 'webgpu' });
const sms = 132; // H200; on other devices the grid is still ≥ 4 workgroups an SM-sized unit
const dummy = g.zeros([1]);
const rows: { what: string; ms: number; tflops: number }[] = [];
for (const vec of [false, true]) {
  for (const perSm of [4, 8]) {
    const p: P = { iters, groups: sms * perSm, vec };
    const ms = await timeSteps(1, 5, () => launch('fmaLoop', fmaLoop, [dummy], [p.groups], 'float32', p).dispose());
    const tflops = (2 * 32 * iters * p.groups * 256) / (ms * 1e-3) / 1e12;
    const what = `WGSL FMA-only loop, ${vec ? '8 vec4' : '32 f32'} accumulators, ${perSm}×256 threads an SM`;
    rows.push({ what, ms, tflops });
    console.log(`${what.padEnd(62)} ${ms.toFixed(3)} ms ${tflops.toFixed(2)} TFLOP/s`);
  }
}
const out = arg('--out');
if (out) writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), device: info.summary, iters, rows }, null, 2));
g.shutdown();
process.exit(0);
