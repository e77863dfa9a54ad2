// DataLoader: batches of host arrays from a Dataset, in a seeded order, prepared ahead of the consumer.
import { ShapeError, ValueError, fmtShape } from '../errors.js';
import { bits, mulhi, streamKey } from '../ops/random.js';
import type { Dataset, Sample } from './dataset.js';

/**
 * A batch as host arrays: `x` holds the samples' inputs back to back, of shape [n, ...sampleShape];
 * `y` their labels; `indices` the dataset indices they came from. Make tensors with
 * `tensor(b.x, b.shape)` and `tensor(b.y, [b.y.length], { dtype: 'int32' })` on either backend.
 */
export interface Batch {
  x: Float32Array;
  shape: number[];
  y: Int32Array;
  indices: Int32Array;
}

/** Turns a dataset's sample into the Sample the loader batches; runs once per sample per epoch. */
export type Transform<S> = (sample: S, index: number, epoch: number) => Sample;

export interface DataLoaderOptions<S = Sample> {
  /** Samples per batch (default 1). */
  batchSize?: number;
  /** Visit the samples in a seeded random order, a different one each epoch (default false). */
  shuffle?: boolean;
  /** Seed of the shuffle (default 0): the same seed gives the same orders on every machine. */
  seed?: number;
  /** Leave out the last batch when it would be smaller than batchSize (default false). */
  dropLast?: boolean;
  /** Applied to each sample before batching; required when the dataset's samples are not Samples. */
  transform?: Transform<S>;
  /** Batches prepared ahead of the one being consumed (default 1; 0 = prepare each on demand). */
  prefetch?: number;
}

/** Yields to the event loop (setImmediate where it exists), so other work runs in between. */
const yieldToLoop: () => Promise<void> = typeof setImmediate === 'function'
  ? () => new Promise((r) => setImmediate(r))
  : () => new Promise((r) => setTimeout(r, 0));

/** How long a prefetching batch build runs before it yields to the event loop, in ms. */
const SLICE_MS = 2;

const now = (): number => (typeof performance !== 'undefined' ? performance.now() : Date.now());

class Cancelled extends Error {}

/**
 * Iterates a Dataset in batches: `for await (const b of loader) { … }` is one epoch.
 *
 * - Order: 0..n-1, or with `shuffle` a Fisher–Yates permutation drawn from grilly's counter-based
 *   hash (stream key (seed, epoch)), so a seed gives the same order on every machine and backend,
 *   and epoch e's order does not depend on how many epochs ran before. Each iteration started takes
 *   the next epoch number (0, 1, …); `setEpoch` sets it, e.g. when resuming.
 * - Prefetch: while the consumer works on batch k (awaiting the GPU, say), batches k+1…k+prefetch are
 *   built, in order, on the event loop; a build yields every ~2 ms so it never holds the loop long.
 *   The batches (and their order) are the same whatever `prefetch` is.
 * - Errors from the dataset or the transform reject the `next()` of the batch they belong to (and end
 *   the iteration); `break` stops the builds in flight.
 */
export class DataLoader<S = Sample> implements AsyncIterable<Batch> {
  readonly dataset: Dataset<S>;
  readonly batchSize: number;
  readonly shuffle: boolean;
  readonly seed: number;
  readonly dropLast: boolean;
  readonly prefetch: number;
  readonly #transform: Transform<S> | undefined;
  #epoch = 0;

  constructor(dataset: Dataset<S>, options: DataLoaderOptions<S> = {}) {
    const where = 'DataLoader';
    if (!dataset || typeof dataset.get !== 'function' || !Number.isInteger(dataset.length) || dataset.length < 0) {
      throw new ValueError(`${where}: expected a Dataset (an integer length and get(i)), got ${Object.prototype.toString.call(dataset)}`);
    }
    const { batchSize = 1, shuffle = false, seed = 0, dropLast = false, prefetch = 1, transform } = options;
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new ValueError(`${where}: batchSize must be a positive integer, got ${batchSize}`);
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new ValueError(`${where}: seed must be an integer in [0, 2^32), got ${seed}`);
    if (!Number.isInteger(prefetch) || prefetch < 0) throw new ValueError(`${where}: prefetch must be a non-negative integer, got ${prefetch}`);
    if (transform !== undefined && typeof transform !== 'function') throw new ValueError(`${where}: transform must be a function`);
    this.dataset = dataset;
    this.batchSize = batchSize;
    this.shuffle = Boolean(shuffle);
    this.seed = seed;
    this.dropLast = Boolean(dropLast);
    this.prefetch = prefetch;
    this.#transform = transform;
  }

  /** Batches per epoch. */
  get length(): number {
    const n = this.dataset.length;
    return this.dropLast ? Math.floor(n / this.batchSize) : Math.ceil(n / this.batchSize);
  }

  /** The epoch the next iteration will use. */
  get epoch(): number {
    return this.#epoch;
  }

  setEpoch(epoch: number): void {
    if (!Number.isInteger(epoch) || epoch < 0) throw new ValueError(`DataLoader.setEpoch: epoch must be a non-negative integer, got ${epoch}`);
    this.#epoch = epoch;
  }

  /** The order in which epoch `epoch` visits the dataset (all n indices, before dropLast). */
  order(epoch: number): Int32Array {
    const n = this.dataset.length;
    const order = new Int32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    if (!this.shuffle) return order;
    const key = streamKey(this.seed, epoch >>> 0);
    for (let i = n - 1; i > 0; i--) {
      const j = mulhi(bits(key, i), i + 1); // ⌊bits · (i+1) / 2^32⌋, uniform in [0, i]
      const t = order[i]!;
      order[i] = order[j]!;
      order[j] = t;
    }
    return order;
  }

  [Symbol.asyncIterator](): AsyncIterator<Batch> {
    const epoch = this.#epoch++;
    const order = this.order(epoch);
    const total = this.length;
    const queue: Promise<Batch>[] = [];
    let started = 0;
    let chain: Promise<unknown> = Promise.resolve();
    let stopped = false;
    const start = (ahead: boolean): void => {
      const b = started++;
      const p = chain.then(() => this.#build(order, b, epoch, ahead, () => stopped));
      p.catch(() => {}); // rejections are delivered by next(); never reported as unhandled
      chain = p.catch(() => {});
      queue.push(p);
    };
    const done = (): IteratorResult<Batch> => ({ done: true, value: undefined });
    const it: AsyncIterator<Batch> & AsyncIterable<Batch> = {
      next: async () => {
        if (stopped) return done();
        if (queue.length === 0) {
          if (started >= total) {
            stopped = true;
            return done();
          }
          start(false);
        }
        const p = queue.shift()!;
        while (queue.length < this.prefetch && started < total) start(true);
        try {
          return { done: false, value: await p };
        } catch (e) {
          stopped = true;
          queue.length = 0;
          throw e;
        }
      },
      return: async () => {
        stopped = true;
        queue.length = 0;
        return done();
      },
      [Symbol.asyncIterator]() {
        return it;
      },
    };
    return it;
  }

  /** Builds batch b of an epoch; `ahead`: it is a prefetch, so it yields to the event loop as it goes. */
  async #build(order: Int32Array, b: number, epoch: number, ahead: boolean, cancelled: () => boolean): Promise<Batch> {
    const lo = b * this.batchSize;
    const hi = Math.min(lo + this.batchSize, order.length);
    const n = hi - lo;
    if (ahead) await yieldToLoop();
    let last = now();
    let x: Float32Array | null = null;
    let sampleShape: readonly number[] = [];
    let numel = 0;
    const y = new Int32Array(n);
    const indices = order.slice(lo, hi);
    for (let k = 0; k < n; k++) {
      if (cancelled()) throw new Cancelled('DataLoader: iteration stopped');
      if (ahead && now() - last > SLICE_MS) {
        await yieldToLoop();
        last = now();
        if (cancelled()) throw new Cancelled('DataLoader: iteration stopped');
      }
      const idx = indices[k]!;
      const raw = this.dataset.get(idx);
      const s = (this.#transform ? this.#transform(raw, idx, epoch) : raw) as Sample;
      if (!s || !(s.x instanceof Float32Array) || !Array.isArray(s.shape) || typeof s.y !== 'number') {
        throw new ValueError(`DataLoader: sample ${idx} is not { x: Float32Array, shape: number[], y: number }${this.#transform ? ' (check the transform)' : ' (give a transform that makes one)'}`);
      }
      if (x === null) {
        sampleShape = s.shape.slice();
        numel = sampleShape.reduce((a, d) => a * d, 1);
        x = new Float32Array(n * numel);
      } else if (s.shape.length !== sampleShape.length || s.shape.some((d, i) => d !== sampleShape[i])) {
        throw new ShapeError(`DataLoader: sample ${idx} has shape ${fmtShape(s.shape)}, but the batch's first sample has ${fmtShape(sampleShape)}`);
      }
      if (s.x.length !== numel) throw new ShapeError(`DataLoader: sample ${idx} has ${s.x.length} values for shape ${fmtShape(s.shape)} (${numel})`);
      if (!Number.isInteger(s.y) || s.y < -(2 ** 31) || s.y >= 2 ** 31) throw new ValueError(`DataLoader: sample ${idx} has label ${s.y}, not an int32`);
      x.set(s.x, k * numel);
      y[k] = s.y;
    }
    return { x: x ?? new Float32Array(0), shape: [n, ...sampleShape], y, indices };
  }
}
