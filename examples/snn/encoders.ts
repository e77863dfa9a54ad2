// Spike encoders: rate (Poisson) and latency (time-to-first-spike) coding of intensities in [0, 1],
// each (N, …) → (T, N, …) in one kernel. The Poisson draws come from the engine's counter-based
// generator, so with a seed they are the same on the cpu and WebGPU backends.
import * as grilly from '../../src/index.js';
import { LatencyEncoder, PoissonEncoder } from '../../src/nn/index.js';
import { latencyEncode } from '../../src/functional/index.js';

const info = await grilly.init();
console.log(`backend: ${info.backend}`);

// Rate coding: each step spikes with probability x.
grilly.manualSeed(0);
const x = grilly.tensor([0, 0.1, 0.5, 0.9, 1]);
const spikes = new PoissonEncoder({ T: 2000 }).forward(x); // (2000, 5)
const counts = await spikes.sum(0).data(); // spike counts are exact; rates are counts / T
console.log(`poisson spike counts out of 2000 for x=[0, 0.1, 0.5, 0.9, 1]: ${Array.from(counts).join(' ')}`);
const raster = await new PoissonEncoder({ T: 12 }).forward(x).data();
for (let j = 0; j < 5; j++) {
  let row = '';
  for (let t = 0; t < 12; t++) row += raster[t * 5 + j] ? '|' : '.';
  console.log(`  x=${(await x.data())[j]!.toFixed(1)} ${row}`);
}

// Latency coding: one spike per input, earlier for larger x (SpikingJelly's LatencyEncoder).
const y = grilly.tensor([1, 0.75, 0.5, 0.25, 0]);
for (const mode of ['linear', 'log'] as const) {
  const s = await new LatencyEncoder({ T: 5, mode }).forward(y).data(); // (5, 5)
  const times = [0, 1, 2, 3, 4].map((j) => [0, 1, 2, 3, 4].find((t) => s[t * 5 + j] === 1));
  console.log(`latency ${mode} (T=5) spike times for x=[1, 0.75, 0.5, 0.25, 0]: [${times.join(', ')}]`);
}
const total = await latencyEncode(grilly.rand([64, 10]), 8).sum().item();
console.log(`latency: ${total} spikes for 640 inputs`);
