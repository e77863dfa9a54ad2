// Counter-based random numbers: element i of a random op hashes (seed, op counter, i), written once
// in TypeScript and once in WGSL with the same 32-bit integer arithmetic, so a seed gives the same
// uniforms and integers on both backends (normals agree to float32 rounding).
import type { DType, Kernel } from '../backend/types.js';
import { ValueError } from '../errors.js';
import { nextRandomKey } from '../runtime.js';
import { numel } from '../shape.js';
import { PRELUDE, bindings, grid1d, launch, main1d } from './kernel.js';
import type { Tensor } from '../tensor/tensor.js';

type Mode = 'uniform' | 'normal' | 'int';
interface RandParams { mode: Mode; n: number; seed: number; stream: number; low: number; range: number }

/** PCG-style 32-bit hash (a bijection on u32). */
export function pcg(v: number): number {
  const s = (Math.imul(v >>> 0, 747796405) + 2891336453) >>> 0;
  const w = Math.imul(((s >>> ((s >>> 28) + 4)) ^ s) >>> 0, 277803737) >>> 0;
  return ((w >>> 22) ^ w) >>> 0;
}

/** The stream key of one random op. */
export function streamKey(seed: number, stream: number): number {
  return pcg((seed ^ pcg((stream + 0x9e3779b9) >>> 0)) >>> 0);
}

/** Random 32 bits for element i under key k. */
export function bits(k: number, i: number): number {
  return pcg((pcg((i ^ k) >>> 0) + k) >>> 0);
}

/** High 32 bits of a·b for u32 a, b (Hacker's Delight mulhu, exact in both languages). */
export function mulhi(a: number, b: number): number {
  const a0 = a & 0xffff, a1 = a >>> 16, b0 = b & 0xffff, b1 = b >>> 16;
  const t = a1 * b0 + ((a0 * b0) >>> 16);
  const t2 = a0 * b1 + (t & 0xffff);
  return (a1 * b1 + (t >>> 16) + (t2 >>> 16)) >>> 0;
}

const U24 = 1 / 16777216;

/** The hash in WGSL, for every kernel that draws random numbers (the same arithmetic as pcg/bits above). */
export const RNG_WGSL = /* wgsl */ `
fn pcg(v: u32) -> u32 {
  let s = v * 747796405u + 2891336453u;
  let w = ((s >> ((s >> 28u) + 4u)) ^ s) * 277803737u;
  return (w >> 22u) ^ w;
}
fn bits(k: u32, i: u32) -> u32 { return pcg(pcg(i ^ k) + k); }
fn mulhi(a: u32, b: u32) -> u32 {
  let a0 = a & 0xffffu; let a1 = a >> 16u; let b0 = b & 0xffffu; let b1 = b >> 16u;
  let t = a1 * b0 + ((a0 * b0) >> 16u);
  let t2 = a0 * b1 + (t & 0xffffu);
  return a1 * b1 + (t >> 16u) + (t2 >> 16u);
}
`;

const randKernel: Kernel<RandParams> = {
  name: 'random',
  key: (p) => p.mode,
  cpu: (_ins, outs, p) => {
    const k = streamKey(p.seed, p.stream);
    if (p.mode === 'uniform') {
      const o = outs[0]!.f32;
      for (let i = 0; i < p.n; i++) o[i] = (bits(k, i) >>> 8) * U24;
    } else if (p.mode === 'normal') {
      const o = outs[0]!.f32;
      for (let i = 0; i < p.n; i++) {
        const u1 = Math.fround(((bits(k, 2 * i) >>> 8) + 1) * U24);
        const u2 = Math.fround((bits(k, 2 * i + 1) >>> 8) * U24);
        o[i] = Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
      }
    } else {
      const o = outs[0]!.i32;
      for (let i = 0; i < p.n; i++) o[i] = p.low + mulhi(bits(k, i), p.range);
    }
  },
  wgsl: (p) => {
    const body =
      p.mode === 'uniform' ? `O[idx] = f32(bits(k, idx) >> 8u) * (1.0 / 16777216.0);`
      : p.mode === 'normal' ? `let u1 = f32((bits(k, 2u * idx) >> 8u) + 1u) * (1.0 / 16777216.0);
  let u2 = f32(bits(k, 2u * idx + 1u) >> 8u) * (1.0 / 16777216.0);
  O[idx] = sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);`
      : `O[idx] = pi(2u) + i32(mulhi(bits(k, idx), pu(3u)));`;
    return PRELUDE + RNG_WGSL + bindings([], [['O', p.mode === 'int' ? 'i32' : 'f32']]) + main1d(`  if (idx >= pu(0u)) { return; }\n  let k = pu(1u);\n  ${body}`);
  },
  grid: (p) => grid1d(p.n),
  uniforms: (p, u) => void u.u32(p.n).u32(streamKey(p.seed, p.stream)).i32(p.low).u32(p.range),
};

function random(mode: Mode, shape: readonly number[], dtype: DType, op: string, low = 0, range = 0): Tensor {
  const [seed, stream] = nextRandomKey();
  return launch(op, randKernel, [], shape, dtype, { mode, n: numel(shape), seed, stream, low, range });
}

export function randUniform(shape: readonly number[], op = 'rand'): Tensor {
  return random('uniform', shape, 'float32', op);
}
export function randNormal(shape: readonly number[], op = 'randn'): Tensor {
  return random('normal', shape, 'float32', op);
}
/** Integers uniform in [low, high). */
export function randInt(low: number, high: number, shape: readonly number[]): Tensor {
  if (!Number.isInteger(low) || !Number.isInteger(high)) throw new ValueError(`randint: low and high must be integers, got ${low} and ${high}`);
  if (high <= low) throw new ValueError(`randint: the range [${low}, ${high}) is empty`);
  if (low < -(2 ** 31) || high - 1 > 2 ** 31 - 1 || high - low > 2 ** 32 - 1) throw new ValueError(`randint: [${low}, ${high}) does not fit int32`);
  return random('int', shape, 'int32', 'randint', low, high - low);
}
