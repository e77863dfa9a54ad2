// The fp32-from-three-f16-products GEMM (src/ops/sgmat3.ts) on the H200: exactness against float64
// on ragged shapes with rows and columns of very different scales (all four layouts), its error on
// the Open Neuromorphic benchmark's data by accumulation chunk next to grilly's fp32 GEMM, and its
// speed on the ONB shapes by tile and chunk. --dump DIR writes the accuracy operands and float64
// references (raw little-endian) for bench/sgmat/x3_torch.py, which measures cuBLAS on the same data.
// Usage: tsx bench/sgmat/x3.ts [--out file.json] [--dump dir] [--quick]
import { mkdirSync, writeFileSync } from 'node:fs';
import * as g from '../../src/index.js';
import { gemm } from '../../src/ops/matmul.js';
import { errStats, lcg, logErrs, onbCases, onbFp32, onbSpeedCases, timeOnbFp32, finish, type ErrStats } from './onb-operands.js';
import { gemmF16x3, SGMAT3_TILE, type Sgmat3Opts } from './x3-kernel.js';
import { timeSteps } from '../snn.js';

const argv = process.argv.slice(2);
const arg = (k: string) => (argv.includes(k) ? argv[argv.indexOf(k) + 1] : undefined);
const info = await g.init({ backend: 'webgpu' });
const result: Record<string, unknown> = { date: new Date().toISOString(), device: info.summary };
if (!g.backendInfo().f16Matmul) {
  console.log(`x3: ${info.summary} has no f16 subgroup matrices; nothing to measure`);
  g.shutdown();
  process.exit(0);
}
const { uni, gauss } = lcg(11); // the exactness cases (the accuracy cases draw their own, as f16x3.ts)
const at = (h: Float32Array, trans: boolean, rows: number, cols: number, i: number, k: number) => h[trans ? k * rows + i : i * cols + k]!;

const quick = argv.includes('--quick');
const tiles: Record<string, Omit<Sgmat3Opts, 'transA' | 'transB'>> = quick ? { default: SGMAT3_TILE } : {
  '128×256 K16 4×4': { tileM: 128, tileN: 256, tileK: 16, sgM: 4, sgN: 4 },
  '256×128 K16 4×4': { tileM: 256, tileN: 128, tileK: 16, sgM: 4, sgN: 4 },
  '128×128 K32 4×4': { tileM: 128, tileN: 128, tileK: 32, sgM: 4, sgN: 4 },
  '128×128 K32 2×4': { tileM: 128, tileN: 128, tileK: 32, sgM: 2, sgN: 4 },
  '128×256 K16 2×4': { tileM: 128, tileN: 256, tileK: 16, sgM: 2, sgN: 4 },
};
// ---- exactness: |C − C64| against Σ|a·b|, ragged shapes, scaled rows/columns, a zero row ----
for (const [tn, tile] of Object.entries(tiles)) for (const [transA, transB] of [[false, true], [true, false], [false, false], [true, true]] as const) {
  const M = 100, N = 132, K = 1000;
  const rowScale = (i: number) => (i === 3 ? 0 : 2 ** ((i % 41) - 20));
  const aH = new Float32Array(M * K), bH = new Float32Array(N * K);
  for (let i = 0; i < M; i++) for (let k = 0; k < K; k++) aH[transA ? k * M + i : i * K + k] = gauss() * rowScale(i);
  for (let j = 0; j < N; j++) for (let k = 0; k < K; k++) bH[transB ? j * K + k : k * N + j] = (uni() - 0.5) * rowScale(j + 7);
  const A = g.tensor(aH, transA ? [K, M] : [M, K]), B = g.tensor(bH, transB ? [N, K] : [K, N]);
  let worst = 0, worst32 = 0;
  const c = (await g.tidy(() => gemmF16x3('x3', A, B, { M, N, K, transA, transB }, [M, N], 256, tile)).data()) as Float32Array;
  const c32 = (await g.tidy(() => gemm('x3', A, B, { M, N, K, batch: 1, strideA: 0, strideB: 0, transA, transB }, [M, N])).data()) as Float32Array;
  for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) {
    let s = 0, sa = 0;
    for (let k = 0; k < K; k++) {
      const p = at(aH, transA, M, K, i, k) * (transB ? bH[j * K + k]! : bH[k * N + j]!);
      s += p; sa += Math.abs(p);
    }
    if (sa > 0) { worst = Math.max(worst, Math.abs(c[i * N + j]! - s) / sa); worst32 = Math.max(worst32, Math.abs(c32[i * N + j]! - s) / sa); }
    else if (c[i * N + j] !== 0) worst = Infinity;
  }
  const key = `${transA ? 'T' : 'N'}${transB ? 'T' : 'N'}`;
  result[`exact ${tn} ${key} ${M}×${N}×${K}`] = { x3: worst, fp32: worst32 };
  console.log(`${tn} ${key} ${M}×${N}×${K}, rows scaled 2^-20..2^20: max |C − C64| / Σ|a·b|: three f16 products ${worst.toExponential(2)}, fp32 GEMM ${worst32.toExponential(2)}`);
  A.dispose(); B.dispose();
}

// ---- accuracy on the ONB's data, by chunk ----
const dump = arg('--dump');
if (dump) mkdirSync(dump, { recursive: true });
const chunks = [128, 256, 512, 1024, 2048, 4096, 1 << 20];
for (const { label, M, N, K, transA, transB, aH, bH, ref } of onbCases()) {
  const A = g.tensor(aH, transA ? [K, M] : [M, K]), B = g.tensor(bH, transB ? [N, K] : [K, N]);
  if (dump) {
    writeFileSync(`${dump}/${label}.a.f32`, aH);
    writeFileSync(`${dump}/${label}.b.f32`, bH);
    writeFileSync(`${dump}/${label}.ref.f64`, ref);
    writeFileSync(`${dump}/${label}.json`, JSON.stringify({ M, N, K, transA, transB }));
  }
  const err = (v: ArrayLike<number>) => errStats(ref, v);
  const errs: Record<string, ErrStats> = { 'fp32 GEMM': err(await onbFp32(A, B, { M, N, K, transA, transB })) };
  for (const ch of chunks) errs[`x3 chunk ${ch >= K ? 'K' : ch}`] = err((await g.tidy(() => gemmF16x3('x3', A, B, { M, N, K, transA, transB }, [M, N], ch)).data()) as Float32Array);
  errs['exact rounded to f32'] = err(Float32Array.from(ref));
  result[`accuracy ${label} ${M}×${N}×${K}`] = errs;
  logErrs(`${label} ${M}×${N}×${K}`, errs, 22);
  A.dispose(); B.dispose();
}

// ---- speed on the ONB shapes ----
const speed: Record<string, number> = {};
for (const c of onbSpeedCases()) {
  const { label, M, N, K, a, b, transA: ta, transB: tb } = c;
  for (const [tn, tile] of Object.entries(tiles)) {
    for (const ch of quick ? [512] : [512, 2048]) {
      try {
        const ms = await timeSteps(2, 3, () => g.tidy(() => void gemmF16x3('x3', a, b, { M, N, K, transA: ta, transB: tb }, [M, N], ch, tile)));
        speed[`${label} ${tn} chunk ${ch}`] = ms;
        console.log(`${label} ${M}×${N}×${K} ${tn} chunk ${ch}: ${ms.toFixed(2)} ms, ${((2 * M * N * K) / ms / 1e9).toFixed(1)} TFLOP/s of fp32 work`);
      } catch (e) {
        console.log(`${label} ${tn}: failed ${(e as Error).message.split('\n')[0]}`);
      }
    }
  }
  speed[`${label} fp32 GEMM`] = await timeOnbFp32(c);
}
result.ms = speed;
finish(result, arg('--out'));
