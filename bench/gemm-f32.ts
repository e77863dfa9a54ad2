// fp32 GEMM kernel variants on the Open Neuromorphic benchmark's shapes (forward A·Wᵀ and weight
// gradient xᵀ·g with M = T·batch = 8000): TFLOP/s per variant, for choosing gemmTuning's defaults.
// Usage: tsx bench/gemm-f32.ts [--n 16384] [--nn] [--flags t1,t2] [--variants rm,rn,bk,unroll,db,wl;...] [--out file.json]
// (rm×rn outputs per thread, BK, written-out k-loop, double-buffered tiles, 8×4 subgroup layout).
// A variant 'auto' times what the heuristic picks. A 7th field 'noglobal', 'nosync' or 'fma' times the
// loop without its global loads, also without the tile stores and barriers, or only its FMAs (wrong
// results: diagnosis only). --nn adds A·B (a Linear's dX); --flags a,b adds Dawn toggles (e.g.
// disable_robustness).
import { writeFileSync } from 'node:fs';
import * as g from '../src/index.js';
import { gemm, gemmTuning } from '../src/ops/matmul.js';
import { timeSteps } from './snn.js';

const arg = (k: string) => {
  const i = process.argv.indexOf(k);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const n = Number(arg('--n') ?? 16384);
const variants = (arg('--variants') ?? '8,8,8,0,0,0;8,8,16,0,0,0;8,8,8,1,1,0;16,8,8,0,0,0;16,8,8,0,1,0;16,8,8,1,0,0;16,8,16,0,0,0')
  .split(';')
  .map((v) => v.split(','));
const flags = arg('--flags');
const info = await g.init({ backend: 'webgpu', ...(flags ? { dawnFlags: [`enable-dawn-features=${flags}`] } : {}) });
g.setMatmulPrecision('fp32');
const M = 8000;
const x = g.rand([M, n]), w = g.rand([n, n]);
const shapes = [
  { name: 'A·Bᵀ', p: { M, N: n, K: n, batch: 1, strideA: 0, strideB: 0, transA: false, transB: true }, a: x, b: w },
  { name: 'Aᵀ·B', p: { M: n, N: n, K: M, batch: 1, strideA: 0, strideB: 0, transA: true, transB: false }, a: x, b: x },
  ...(process.argv.includes('--nn') ? [{ name: 'A·B', p: { M, N: n, K: n, batch: 1, strideA: 0, strideB: 0, transA: false, transB: false }, a: x, b: w }] : []),
];
const rows: { variant: string; shape: string; ms: number; tflops: number }[] = [];
const defaults = { ...gemmTuning };
for (const v of variants) {
  let name = 'auto (the heuristic)';
  Object.assign(gemmTuning, defaults);
  if (v[0] !== 'auto') {
    const [rm, rn, bk, unroll, db, wl] = v.slice(0, 6).map(Number) as [4 | 8 | 16, 4 | 8, 8 | 16, number, number, number];
    const diag = (v[6] ?? '') as typeof gemmTuning.diag;
    Object.assign(gemmTuning, { rm, rn, bk, unroll: !!unroll, db: !!db, wl: !!wl, diag });
    name = `${rm}x${rn} bk=${bk} unroll=${unroll} db=${db} wl=${wl}${diag ? ` ${diag}` : ''}`;
  }
  for (const s of shapes) {
    const ms = await timeSteps(1, 3, () => g.tidy(() => void gemm('bench', s.a, s.b, s.p, [s.p.M, s.p.N])));
    const tflops = (2 * s.p.M * s.p.N * s.p.K) / (ms * 1e-3) / 1e12;
    rows.push({ variant: name, shape: `${s.name} ${s.p.M}×${s.p.N}×${s.p.K}`, ms, tflops });
    console.log(`${name.padEnd(36)} ${s.name} ${s.p.M}×${s.p.N}×${s.p.K}: ${ms.toFixed(2)} ms, ${tflops.toFixed(1)} TFLOP/s`);
  }
}
const out = arg('--out');
if (out) writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), device: info.summary, flags: flags ?? '', rows }, null, 2));
g.shutdown();
process.exit(0);
