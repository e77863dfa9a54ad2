// Memory soak: the training loop of examples/ (which disposes nothing) for many iterations,
// sampling device memory (in use + pooled). Memory comes back in a sawtooth (collections happen in
// steps), so flat means no trend: the peak over the last 40% of the run stays within 5% of the
// peak over the first 60%.
// Usage: tsx bench/soak.ts [--iters 5000] [--backend webgpu] [--batch 64] [--out soak.json]
import { writeFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import * as g from '../src/index.js';
import { loadEmbeddedMnist } from '../src/data/index.js';
import { batchOf, makeMlp, trainStep } from '../examples/mlp.js';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : def;
}

export interface SoakResult {
  iters: number;
  samples: { iter: number; allocated: number; inUse: number; pooled: number }[];
  warmupAllocated: number;
  maxAfterWarmup: number;
  flat: boolean;
}

export async function soak(iters: number, batch: number, onSample?: (iter: number, m: g.MemoryInfo) => void): Promise<SoakResult> {
  const { train } = loadEmbeddedMnist();
  const model = makeMlp(256);
  const samples: SoakResult['samples'] = [];
  const every = Math.max(1, Math.floor(iters / 50));
  for (let it = 1; it <= iters; it++) {
    const off = ((it - 1) * batch) % (train.count - batch);
    const { x, y } = batchOf(train.images, train.labels, Array.from({ length: batch }, (_, k) => off + k));
    const { loss } = trainStep(model, x, y, 0.05);
    // A loop that prints progress now and then: the only place it waits for the GPU.
    if (it % 25 === 0) await loss.item();
    if (it % every === 0) {
      const m = g.memory();
      samples.push({ iter: it, allocated: m.bytesInUse + m.bytesPooled, inUse: m.bytesInUse, pooled: m.bytesPooled });
      onSample?.(it, m);
    }
  }
  const warm = samples.filter((s) => s.iter <= iters * 0.6);
  const after = samples.filter((s) => s.iter > iters * 0.6);
  const warmupAllocated = Math.max(...warm.map((s) => s.allocated));
  const maxAfterWarmup = Math.max(...after.map((s) => s.allocated));
  return { iters, samples, warmupAllocated, maxAfterWarmup, flat: maxAfterWarmup <= warmupAllocated * 1.05 };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const info = await g.init({ backend: arg('backend', 'webgpu') as g.BackendName });
  const iters = Number(arg('iters', '5000'));
  const t0 = performance.now();
  const r = await soak(iters, Number(arg('batch', '64')), (it, m) => {
    if (it % Math.max(1, Math.floor(iters / 10)) === 0) console.log(`iter ${it}: in use ${(m.bytesInUse / 2 ** 20).toFixed(1)} MiB, pooled ${(m.bytesPooled / 2 ** 20).toFixed(1)} MiB, buffers ${m.buffers}`);
  });
  const secs = (performance.now() - t0) / 1000;
  console.log(`soak on ${info.summary}: ${iters} iterations in ${secs.toFixed(1)} s; peak over the first 60% ${(r.warmupAllocated / 2 ** 20).toFixed(1)} MiB, over the last 40% ${(r.maxAfterWarmup / 2 ** 20).toFixed(1)} MiB → ${r.flat ? 'FLAT' : 'GROWING'}`);
  const out = arg('out', '');
  if (out) {
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, JSON.stringify({ backend: info, seconds: secs, ...r }, null, 2));
  }
  if (!r.flat) process.exitCode = 1;
}
