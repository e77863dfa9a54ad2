// Where a workload's GPU time goes: times every dispatch of a few steps with timestamp queries
// and prints milliseconds per step by kernel variant.
// Usage: tsx bench/profile.ts lif|onb|mlp|csnn [--T 32] [--n 4096] [--steps 3] [--quick] [--top 25]
import * as g from '../src/index.js';
import { currentBackend } from '../src/runtime.js';
import type { WebGPUBackend } from '../src/backend/webgpu/index.js';
import { workloads, timeSteps } from './snn.js';

const argv = process.argv.slice(2);
const arg = (name: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
};
const names = argv.filter((a, i) => !a.startsWith('--') && !(i > 0 && argv[i - 1]!.startsWith('--') && argv[i - 1] !== '--quick'));
const quick = argv.includes('--quick');
const steps = Number(arg('steps') ?? 3);
const top = Number(arg('top') ?? 25);
const list = (k: string) => arg(k)?.split(',').map(Number);
const info = await g.init({ backend: 'webgpu' });
console.log(`grilly profile — ${info.summary}`);
const be = currentBackend('profile') as WebGPUBackend;
for (const make of workloads(names, quick, { T: list('T'), n: list('n') })) {
  const w = make();
  const wall = await timeSteps(Math.max(1, Math.floor(w.iters / 2)), 2, w.step);
  be.startProfile();
  for (let i = 0; i < steps; i++) w.step();
  const totals = await be.stopProfile();
  const rows = Object.entries(totals).sort((a, b) => b[1].ms - a[1].ms);
  const gpu = rows.reduce((s, [, v]) => s + v.ms, 0) / steps;
  console.log(`\n${w.workload} ${w.size}: ${wall.toFixed(3)} ms per step (wall, unprofiled); GPU busy ${gpu.toFixed(3)} ms per step in ${rows.reduce((s, [, v]) => s + v.count, 0) / steps} dispatches`);
  for (const [k, v] of rows.slice(0, top)) console.log(`  ${(v.ms / steps).toFixed(3).padStart(9)} ms  ${String(v.count / steps).padStart(5)}×  ${k}`);
  w.dispose();
  g.emptyCache();
}
g.shutdown();
process.exit(0);
