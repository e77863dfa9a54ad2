// Runs GEMM kernel variants once each with Dawn's dump_shaders toggle, so their WGSL and SPIR-V land in
// the log (stdout) for spv-from-dump.py; a line `// VARIANT name` follows each variant's shaders.
// Usage: tsx bench/vkstats/dump-gemm.ts > dump.log   (env VARIANTS='[["name", {gemmTuning fields}, transA], …]')
import * as g from '../../src/index.js';
import { gemm, gemmTuning } from '../../src/ops/matmul.js';

type Variant = [string, Partial<typeof gemmTuning>, boolean];
const list: Variant[] = process.env.VARIANTS
  ? JSON.parse(process.env.VARIANTS)
  : [
      // what grilly runs on the Open Neuromorphic shapes: the forward (A·Bᵀ) and the weight gradient (Aᵀ·B)
      ['wide 16x8 bk16 unrolled, A·Bᵀ', { rm: 16, rn: 8, bk: 16, unroll: true }, false],
      ['wide 16x8 bk16 unrolled, Aᵀ·B', { rm: 16, rn: 8, bk: 16, unroll: true }, true],
      ['wide, FMAs only (diag), A·Bᵀ', { rm: 16, rn: 8, bk: 16, unroll: true, diag: 'fma' }, false],
      ['wide, no loads/stores/barriers (diag), A·Bᵀ', { rm: 16, rn: 8, bk: 16, unroll: true, diag: 'nosync' }, false],
      ['8x8 bk8, A·Bᵀ', { rm: 8, rn: 8, bk: 8 }, false],
      ['8x8 bk16 unrolled, A·Bᵀ', { rm: 8, rn: 8, bk: 16, unroll: true }, false],
    ];
await g.init({ backend: 'webgpu', dawnFlags: ['enable-dawn-features=dump_shaders'] });
const n = 512;
const x = g.rand([n, n]), w = g.rand([n, n]);
await x.data();
await w.data();
const defaults = { ...gemmTuning };
for (const [name, t, transA] of list) {
  Object.assign(gemmTuning, defaults, t);
  const p = { M: n, N: n, K: n, batch: 1, strideA: 0, strideB: 0, transA, transB: !transA };
  const y = g.tidy(() => gemm('dump', x, transA ? x : w, p, [n, n]));
  await y.data();
  y.dispose();
  console.log(`info:\n// VARIANT ${name}`);
}
Object.assign(gemmTuning, defaults);
g.shutdown();
process.exit(0);
