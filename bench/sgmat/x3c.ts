// Matmul precision 'fp16x3' (src/ops/sgmat3.ts: three f16 products chunked along K on grilly's f16
// GEMM): accuracy on the ONB cases against float64 and grilly's fp32 GEMM, then ms on the ONB
// shapes, per chunk length.
// Usage: tsx bench/sgmat/x3c.ts [--out file.json] [--chunks 256,512,1024,2048]
import { writeFileSync } from 'node:fs';
import * as g from '../../src/index.js';
import { gemm } from '../../src/ops/matmul.js';
import { F16X3, gemmF16x3 } from '../../src/ops/sgmat3.js';
import { errStats, onbCases, onbFp32 } from './onb-operands.js';
import { timeSteps } from '../snn.js';

const argv = process.argv.slice(2);
const arg = (k: string) => (argv.includes(k) ? argv[argv.indexOf(k) + 1] : undefined);
const info = await g.init({ backend: 'webgpu' });
const result: Record<string, unknown> = { date: new Date().toISOString(), device: info.summary };
const x3c = (a: g.Tensor, b: g.Tensor, M: number, N: number, K: number, transA: boolean, transB: boolean, kc: number) => {
  F16X3.chunk = kc;
  return gemmF16x3('x3c', a, b, { M, N, K, batch: 1, transA, transB }, [M, N]);
};
if (!g.backendInfo().f16Matmul) {
  console.log(`x3c: ${info.summary} has no f16 subgroup matrices; nothing to measure`);
  g.shutdown();
  process.exit(0);
}
const chunks = (arg('--chunks') ?? '256,512,1024,2048').split(',').map(Number);
for (const { label, M, N, K, transA, transB, aH, bH, ref } of onbCases()) {
  const A = g.tensor(aH, transA ? [K, M] : [M, K]), B = g.tensor(bH, transB ? [N, K] : [K, N]);
  const errs: Record<string, ReturnType<typeof errStats>> = { 'fp32 GEMM': errStats(ref, await onbFp32(A, B, { M, N, K, transA, transB })) };
  for (const kc of chunks) errs[`x3c chunk ${kc}`] = errStats(ref, (await g.tidy(() => x3c(A, B, M, N, K, transA, transB, kc)).data()) as Float32Array);
  result[`accuracy ${label} ${M}×${N}×${K}`] = errs;
  for (const [k, e] of Object.entries(errs)) console.log(`${label} ${M}×${N}×${K} ${k.padEnd(18)} error/rms(C): max ${e.max.toExponential(2)} rms ${e.rms.toExponential(2)} mean toward |C| ${e.bias.toExponential(2)}`);
  A.dispose(); B.dispose();
}
const n = 16384, T = 8000;
const X = g.rand([T, n]), W = g.rand([n, n]);
const speed: Record<string, number> = {};
for (const [label, M, N, K, a, b, ta, tb] of [['x·Wᵀ', T, n, n, X, W, false, true], ['gᵀ·x', n, n, T, X, X, true, false]] as const) {
  for (const kc of chunks) {
    const ms = await timeSteps(2, 3, () => g.tidy(() => void x3c(a, b, M, N, K, ta, tb, kc)));
    speed[`${label} chunk ${kc}`] = ms;
    console.log(`${label} ${M}×${N}×${K} chunk ${kc}: ${ms.toFixed(2)} ms, ${((2 * M * N * K) / ms / 1e9).toFixed(1)} TFLOP/s of fp32 work`);
  }
  const ms32 = await timeSteps(1, 3, () => g.tidy(() => void gemm('x3c', a, b, { M, N, K, batch: 1, strideA: 0, strideB: 0, transA: ta, transB: tb }, [M, N])));
  speed[`${label} fp32 GEMM`] = ms32;
  console.log(`${label} fp32 GEMM ${ms32.toFixed(2)} ms`);
}
result.ms = speed;
const out = arg('--out');
if (out) writeFileSync(out, JSON.stringify(result, null, 2));
g.shutdown();
process.exit(0);
