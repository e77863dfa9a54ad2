// Matmul precision 'fp16x3' (src/ops/sgmat3.ts: three f16 products chunked along K on grilly's f16
// GEMM): accuracy on the ONB cases against float64 and grilly's fp32 GEMM, then ms on the ONB
// shapes, per chunk length.
// Usage: tsx bench/sgmat/x3c.ts [--out file.json] [--chunks 256,512,1024,2048]
import * as g from '../../src/index.js';
import { F16X3, gemmF16x3 } from '../../src/ops/sgmat3.js';
import { errStats, logErrs, onbCases, onbFp32, onbSpeedCases, timeOnbFp32, finish } from './onb-operands.js';
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
  logErrs(`${label} ${M}×${N}×${K}`, errs, 18);
  A.dispose(); B.dispose();
}
const speed: Record<string, number> = {};
for (const c of onbSpeedCases()) {
  const { label, M, N, K, a, b, transA: ta, transB: tb } = c;
  for (const kc of chunks) {
    const ms = await timeSteps(2, 3, () => g.tidy(() => void x3c(a, b, M, N, K, ta, tb, kc)));
    speed[`${label} chunk ${kc}`] = ms;
    console.log(`${label} ${M}×${N}×${K} chunk ${kc}: ${ms.toFixed(2)} ms, ${((2 * M * N * K) / ms / 1e9).toFixed(1)} TFLOP/s of fp32 work`);
  }
  speed[`${label} fp32 GEMM`] = await timeOnbFp32(c);
}
result.ms = speed;
finish(result, arg('--out'));
