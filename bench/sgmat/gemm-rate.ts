// Subgroup-matrix GEMM variants on the Open Neuromorphic benchmark's shapes (forward x·Wᵀ,
// 8000×16384×16384, and weight gradient gᵀ·x, 16384×16384×8000): TOP/s of the GEMM alone (no
// casts), f16 → f32 and i8 → i32 (exact; the i8 variants are first checked against integer
// products on the CPU). Diagnostic variants leave parts of the K loop out (wrong results) to show
// where the time goes. Prints one line per variant; exits 0 saying so without the feature.
// Usage: tsx bench/sgmat/gemm-rate.ts [--variants a,b,…] [--out file.json]
import { writeFileSync } from 'node:fs';
import * as g from '../../src/index.js';
import { launch } from '../../src/ops/kernel.js';
import { sgmatVariantKernel, type SgmatOpts } from '../../src/ops/sgmat.js';
import { timeSteps } from '../snn.js';

const argv = process.argv.slice(2);
const arg = (k: string) => (argv.includes(k) ? argv[argv.indexOf(k) + 1] : undefined);
type Variant = Omit<SgmatOpts, 'transA' | 'transB'>;
const big = { tileM: 128, tileN: 256, sgM: 2, sgN: 4, doubleBuffer: false } as const;
const VARIANTS: Record<string, Variant> = {
  'f16 128×256 K32': { ...big, tileK: 32 },
  'f16 128×256 K32 prefetch': { ...big, tileK: 32, prefetch: true },
  'f16 prefetch, compute only': { ...big, tileK: 32, prefetch: true, diag: 'compute' },
  'f16 prefetch, no global loads': { ...big, tileK: 32, prefetch: true, diag: 'nofetch' },
  'f16 prefetch, no smem stores': { ...big, tileK: 32, prefetch: true, diag: 'noput' },
  'f16 prefetch, no barriers': { ...big, tileK: 32, prefetch: true, diag: 'nobar' },
  'i8 128×256 K64': { ...big, elem: 'i8', tileK: 64 },
  'i8 128×256 K64 prefetch': { ...big, elem: 'i8', tileK: 64, prefetch: true },
  'i8 128×256 K32 double-buffered': { ...big, elem: 'i8', tileK: 32, doubleBuffer: true },
};
const names = arg('--variants')?.split(',') ?? Object.keys(VARIANTS);


const info = await g.init({ backend: 'webgpu' });
if (!g.backendInfo().f16Matmul) {
  console.log(`gemm-rate: ${info.summary} has no f16 subgroup matrices; nothing to measure`);
  g.shutdown();
  process.exit(0);
}
let seed = 12345;
const words = (n: number, mask = 0xffffffff) => {
  const a = new Int32Array(n);
  for (let i = 0; i < n; i++) { seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0; a[i] = seed & mask; }
  return a;
};
const byte = (a: Int32Array, e: number) => (a[e >> 2]! << (24 - 8 * (e & 3))) >> 24;

const rows: { variant: string; check?: string; fwd: number; dw: number }[] = [];
const n = 16384, T = 8000;
for (const name of names) {
  const v = VARIANTS[name];
  if (!v) throw new Error(`gemm-rate: unknown variant ${JSON.stringify(name)} (${Object.keys(VARIANTS).join(', ')})`);
  try {
    await measure(name, v);
  } catch (e) {
    console.log(`${name.padEnd(32)} failed: ${(e as Error).message.split('\n')[0]}`);
  }
}
async function measure(name: string, v: Variant): Promise<void> {
  const i8 = v.elem === 'i8';
  let check: string | undefined;
  if (i8) {
    // exact against the CPU: a ragged tile edge and whole tiles, all four layouts
    let bad = 0;
    for (const [M, N, K] of [[208, 320, 224], [256, 512, 512]] as const) for (const [ta, tb] of [[false, true], [true, false], [false, false], [true, true]] as const) {
      const a = words((M * K) / 4), b = words((N * K) / 4);
      const A = g.tensor(a, [a.length], { dtype: 'int32' }), B = g.tensor(b, [b.length], { dtype: 'int32' });
      const C = launch('gemm-rate', sgmatVariantKernel({ ...v, transA: ta, transB: tb }), [A, B], [M * N], 'int32', { M, N, K });
      const c = (await C.data()) as Int32Array;
      for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) {
        let s = 0;
        for (let k = 0; k < K; k++) s += byte(a, ta ? k * M + i : i * K + k) * byte(b, tb ? j * K + k : k * N + j);
        if (s !== c[i * N + j]) bad++;
      }
      A.dispose(); B.dispose(); C.dispose();
    }
    check = bad ? `${bad} WRONG` : 'exact';
  }
  // random operands (f16 words masked to |v| < 1: no infinities or NaNs)
  const eb = i8 ? 1 : 2, mask = i8 ? 0xffffffff : 0xbbffbbff;
  const X = g.tensor(words((T * n * eb) / 4, mask), [(T * n * eb) / 4], { dtype: 'int32' });
  const W = g.tensor(words((n * n * eb) / 4, mask), [(n * n * eb) / 4], { dtype: 'int32' });
  const rate: number[] = [];
  for (const [M, N, K, ta, tb, a, b] of [[T, n, n, false, true, X, W], [n, n, T, true, false, X, X]] as const) {
    const k = sgmatVariantKernel({ ...v, transA: ta, transB: tb });
    const ms = await timeSteps(2, 3, () => g.tidy(() => void launch('gemm-rate', k, [a, b], [M * N], i8 ? 'int32' : 'float32', { M, N, K })));
    rate.push((2 * M * N * K) / ms / 1e9);
  }
  X.dispose(); W.dispose();
  g.emptyCache();
  rows.push({ variant: name, check, fwd: rate[0]!, dw: rate[1]! });
  console.log(`${name.padEnd(32)} ${check ? `${check.padEnd(7)} ` : '        '}x·Wᵀ ${rate[0]!.toFixed(1).padStart(6)}  gᵀ·x ${rate[1]!.toFixed(1).padStart(6)} T(FL)OP/s`);
}
const out = arg('--out');
if (out) writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), device: info.summary, shapes: { fwd: [T, n, n], dw: [n, n, T] }, unit: 'TOP/s', rows }, null, 2));
g.shutdown();
process.exit(0);
