// Runs grilly's benchmarks, prints a table and writes JSON.
// Usage: tsx bench/run.ts [--suite engine|snn|lif,onb,mlp,csnn] [--T 8,32,128] [--n 4096,8192,16384] [--backend webgpu|cpu] [--elem-mib 1024] [--gemm 4096] [--quick] [--out file.json]
import { writeFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import * as g from '../src/index.js';
import { engineSuite, type Row } from './engine.js';
import { measure, workloads } from './snn.js';

function arg(name: string, def?: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return def;
  const v = process.argv[i + 1];
  return v === undefined || v.startsWith('--') ? 'true' : v;
}

const backend = (arg('backend', 'webgpu') as 'webgpu' | 'cpu');
const info = await g.init({ backend });
const quick = arg('quick') === 'true';
const elemMiB = Number(arg('elem-mib', backend === 'cpu' ? '64' : String(Math.min(1024, Math.floor(info.limits.maxStorageBufferBindingSize! / 2 ** 20)))));
const gemmN = Number(arg('gemm', backend === 'cpu' ? '512' : '4096'));
const suite = arg('suite', 'engine')!;

const started = new Date().toISOString();
let rows: Row[] = [];
if (suite === 'engine') rows = await engineSuite({ elemBytes: elemMiB * 2 ** 20, gemmN, quick, sweep: arg('gemm-sweep') === 'true' });
else {
  const list = (name: string) => arg(name)?.split(',').map(Number);
  const names = suite === 'snn' ? ['lif', 'onb', 'mlp', 'csnn'] : suite.split(',');
  for (const make of workloads(names, quick, { T: list('T'), n: list('n') })) rows.push(await measure(make()));
}

const w = Math.max(...rows.map((r) => r.name.length));
console.log(`grilly bench — ${suite} — ${info.summary} — ${started}`);
console.log(`${'benchmark'.padEnd(w)}  ${'value'.padStart(10)}  unit     detail`);
for (const r of rows) console.log(`${r.name.padEnd(w)}  ${r.value.toFixed(r.value < 10 ? 3 : 1).padStart(10)}  ${r.unit.padEnd(7)}  ${r.detail}`);
const out = arg('out');
if (out) {
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, JSON.stringify({ suite, started, commit: arg('commit') ?? null, command: process.argv.slice(1).join(' '), backend: info, memory: g.memory(), stats: g.stats(), rows }, null, 2));
  console.log(`wrote ${out}`);
}
