// The accuracy cases bench/sgmat/f16x3.ts and x3.ts share: the ONB's two GEMMs at 256×512 outputs
// and full K, on the benchmark's data (x ∈ [0, 1), W as nn.Linear initialises it, g Gaussian), with
// float64 references; and the error measure (relative to rms(C): max, rms, mean toward |C|).
import { writeFileSync } from 'node:fs';
import * as g from '../../src/index.js';
import { timeSteps } from '../snn.js';
import { gemm, gemmTuning } from '../../src/ops/matmul.js';

export interface OnbCase {
  label: string; // 'xWt' (x·Wᵀ) or 'gtx' (gᵀ·x)
  M: number; N: number; K: number;
  transA: boolean; transB: boolean;
  aH: Float32Array; bH: Float32Array; // as stored: A is M×K or, transA, K×M; B is N×K (transB) or K×N
  ref: Float64Array;
}

export interface Rng { uni: () => number; gauss: () => number }

/** A seeded stream: uniform in (0, 1) and standard normal. */
export function lcg(seed = 7): Rng {
  const uni = () => { seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0; return (seed + 0.5) / 2 ** 32; };
  return { uni, gauss: () => Math.sqrt(-2 * Math.log(uni())) * Math.cos(2 * Math.PI * uni()) };
}

/** Both cases, drawn from rng (a fresh lcg(7) gives the operands of the tables in BENCHMARKS.md). */
export function onbCases({ uni, gauss }: Rng = lcg(7)): OnbCase[] {
  return ([['xWt', 256, 512, 16384, false, true], ['gtx', 256, 512, 8000, true, false]] as const).map(([label, M, N, K, transA, transB]) => {
    const aH = Float32Array.from({ length: M * K }, transA ? () => gauss() * 0.05 : uni);
    const bH = Float32Array.from({ length: N * K }, transB ? () => (uni() * 2 - 1) / Math.sqrt(K) : uni);
    const ref = new Float64Array(M * N);
    for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += aH[transA ? k * M + i : i * K + k]! * bH[transB ? j * K + k : k * N + j]!;
      ref[i * N + j] = s;
    }
    return { label, M, N, K, transA, transB, aH, bH, ref };
  });
}

export interface ErrStats { max: number; rms: number; bias: number }

/** |v − ref| relative to rms(ref): max, rms, and the mean error toward |ref| (negative: toward zero). */
export function errStats(ref: Float64Array, v: ArrayLike<number>): ErrStats {
  let r2 = 0;
  for (const x of ref) r2 += x * x;
  const rms = Math.sqrt(r2 / ref.length);
  let mx = 0, se = 0, bias = 0;
  for (let i = 0; i < ref.length; i++) { const e = v[i]! - ref[i]!; mx = Math.max(mx, Math.abs(e)); se += e * e; bias += e * Math.sign(ref[i]!); }
  return { max: mx / rms, rms: Math.sqrt(se / ref.length) / rms, bias: bias / ref.length / rms };
}

/** grilly's fp32 GEMM with the kernel the ONB shapes take (wide tiles, whole K: no split at this size). */
export async function onbFp32(A: g.Tensor, B: g.Tensor, c: Pick<OnbCase, 'M' | 'N' | 'K' | 'transA' | 'transB'>): Promise<Float32Array> {
  const saved = { ...gemmTuning };
  Object.assign(gemmTuning, { rm: 16, rn: 8, bk: 16, unroll: true, splitTiles: 0 });
  try {
    const { M, N, K, transA, transB } = c;
    return (await g.tidy(() => gemm('onb-fp32', A, B, { M, N, K, batch: 1, strideA: 0, strideB: 0, transA, transB }, [M, N])).data()) as Float32Array;
  } finally {
    Object.assign(gemmTuning, saved);
  }
}

/** Prints one line per product: max, rms and mean error toward |C|, relative to rms(C). */
export function logErrs(prefix: string, errs: Record<string, ErrStats>, pad = 22): void {
  for (const [k, e] of Object.entries(errs)) console.log(`${prefix} ${k.padEnd(pad)} error/rms(C): max ${e.max.toExponential(2)} rms ${e.rms.toExponential(2)} mean toward |C| ${e.bias.toExponential(2)}`);
}

/** The ONB's two GEMMs at n = 16384 on random operands, for timing: x·Wᵀ and the weight gradient gᵀ·x. */
export function onbSpeedCases(): { label: string; M: number; N: number; K: number; a: g.Tensor; b: g.Tensor; transA: boolean; transB: boolean }[] {
  const n = 16384, T = 8000;
  const X = g.rand([T, n]), W = g.rand([n, n]);
  return [
    { label: 'x·Wᵀ', M: T, N: n, K: n, a: X, b: W, transA: false, transB: true },
    { label: 'gᵀ·x', M: n, N: n, K: T, a: X, b: X, transA: true, transB: false },
  ];
}

/** ms of grilly's fp32 GEMM (the default kernel choice) on one of onbSpeedCases(). */
export async function timeOnbFp32(c: ReturnType<typeof onbSpeedCases>[number]): Promise<number> {
  const { M, N, K, a, b, transA, transB } = c;
  const ms = await timeSteps(1, 3, () => g.tidy(() => void gemm('onb-fp32', a, b, { M, N, K, batch: 1, strideA: 0, strideB: 0, transA, transB }, [M, N])));
  console.log(`${c.label} fp32 GEMM ${ms.toFixed(2)} ms`);
  return ms;
}

/** Writes the result JSON (when out is given), stops the engine and exits. */
export function finish(result: Record<string, unknown>, out: string | undefined): never {
  if (out) writeFileSync(out, JSON.stringify(result, null, 2));
  g.shutdown();
  process.exit(0);
}
