// The fp16 matmul against fp32 on the Open Neuromorphic benchmark's GEMM shapes (forward A·Wᵀ and
// weight gradient gᵀ·x, M = T·batch = 8000): TFLOP/s including the casts to f16.
// Usage: [GRILLY_SGMAT_TILE=tileM,tileN,tileK,sgM,sgN[,doubleBuffer[,swizzle[,prefetch]]]] tsx bench/gemm-f16.ts [--n 16384] [--fp16-only]
// (an override without the prefetch field gets no prefetch: the default big tile is 128,256,32,2,4,0,0,1)
import * as g from '../src/index.js';
import { gemm } from '../src/ops/matmul.js';
import { timeSteps } from './snn.js';

const i = process.argv.indexOf('--n');
const n = i > 0 ? Number(process.argv[i + 1]) : 16384;
const info = await g.init({ backend: 'webgpu' });
const M = 8000;
const x = g.rand([M, n]), w = g.rand([n, n]);
const shapes = [
  { name: 'A·Bᵀ (forward)', p: { M, N: n, K: n, batch: 1, strideA: 0, strideB: 0, transA: false, transB: true }, a: x, b: w },
  { name: 'Aᵀ·B (weight grad)', p: { M: n, N: n, K: M, batch: 1, strideA: 0, strideB: 0, transA: true, transB: false }, a: x, b: x },
];
const only = process.argv.includes('--fp16-only');
for (const prec of only ? (['fp16'] as const) : (['fp32', 'fp16'] as const)) {
  g.setMatmulPrecision(prec);
  for (const s of shapes) {
    const ms = await timeSteps(2, 3, () => g.tidy(() => void gemm('bench', s.a, s.b, s.p, [s.p.M, s.p.N])));
    console.log(`${info.summary} ${prec} ${s.name} ${s.p.M}×${s.p.N}×${s.p.K}: ${ms.toFixed(2)} ms, ${((2 * s.p.M * s.p.N * s.p.K) / (ms * 1e-3) / 1e12).toFixed(1)} TFLOP/s ${process.env.GRILLY_SGMAT_TILE ?? ''}`);
  }
}
g.shutdown();
process.exit(0);
