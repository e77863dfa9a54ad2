// N-MNIST (Orchard et al. 2015): MNIST digits recorded by an ATIS event camera on saccades, one
// binary file per sample in Train/<digit>/*.bin and Test/<digit>/*.bin, integrated into frames as
// SpikingJelly's NMNIST does with frames_number = T and split_by = 'number' | 'time'.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { DatasetError, errorMessage } from './errors.js';
import { checkChoice, checkIndex, checkPositiveInt, type Dataset, type Sample } from './dataset.js';
import { decodeAtisEvents, integrateEventsToFrames, type AtisEvents, type SplitBy } from './events.js';

export interface NMNISTOptions {
  /** The directory holding Train/ and Test/ (as extracted from Train.zip and Test.zip). */
  dir: string;
  split: 'train' | 'test';
  /** Frames per sample. */
  T: number;
  /** How the events are cut into T frames (default 'number'); see `segmentIndices`. */
  splitBy?: SplitBy;
}

/**
 * N-MNIST as frames: sample i is (T, 2, 34, 34) event counts (channel 0: OFF events, 1: ON events;
 * [p][y][x]) and its digit label. The directory is listed in the constructor: classes are the
 * sub-directories named 0–9 in numeric order and each one's .bin files are sorted by name, as
 * torchvision's DatasetFolder (which SpikingJelly uses) orders them. Files are read in `get`.
 */
export class NMNIST implements Dataset<Sample> {
  static readonly H = 34;
  static readonly W = 34;
  readonly split: 'train' | 'test';
  readonly T: number;
  readonly splitBy: SplitBy;
  readonly length: number;
  readonly classes = 10;
  readonly shape: readonly number[];
  /** The sample files, in dataset order. */
  readonly files: readonly string[];
  readonly labels: Int32Array;

  constructor(options: NMNISTOptions) {
    const where = 'NMNIST';
    this.split = checkChoice(where, 'split', options?.split, ['train', 'test'] as const);
    this.T = checkPositiveInt(where, 'T', options.T);
    this.splitBy = checkChoice(where, 'splitBy', options.splitBy ?? 'number', ['number', 'time'] as const);
    if (typeof options.dir !== 'string' || options.dir === '') throw new DatasetError(`${where}: dir must be a directory path, got ${JSON.stringify(options.dir)}`);
    const root = join(options.dir, this.split === 'train' ? 'Train' : 'Test');
    if (!existsSync(root) || !statSync(root).isDirectory()) {
      throw new DatasetError(`${where}: directory not found: ${root} (expected ${this.split === 'train' ? 'Train' : 'Test'}/<digit>/*.bin under ${options.dir})`);
    }
    const files: string[] = [];
    const labels: number[] = [];
    let digits: string[];
    try {
      digits = readdirSync(root).filter((d) => /^[0-9]$/.test(d) && statSync(join(root, d)).isDirectory()).sort();
    } catch (e) {
      throw new DatasetError(`${where}: cannot list ${root} (${errorMessage(e)})`, { cause: e });
    }
    for (const d of digits) {
      const names = readdirSync(join(root, d)).filter((f) => f.endsWith('.bin')).sort();
      for (const f of names) {
        files.push(join(root, d, f));
        labels.push(Number(d));
      }
    }
    if (files.length === 0) throw new DatasetError(`${where}: no .bin files in ${root}/<0-9>/ (expected the N-MNIST ${this.split === 'train' ? 'Train' : 'Test'} folders)`);
    this.files = files;
    this.labels = Int32Array.from(labels);
    this.length = files.length;
    this.shape = [this.T, 2, NMNIST.H, NMNIST.W];
  }

  /** The raw events of sample i, decoded from its .bin file. */
  events(index: number): AtisEvents {
    checkIndex('NMNIST.events', index, this.length);
    const file = this.files[index]!;
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(file);
    } catch (e) {
      throw new DatasetError(`NMNIST: ${file}: cannot be read (${errorMessage(e)})`, { cause: e });
    }
    return decodeAtisEvents(bytes, `NMNIST: ${file}`);
  }

  get(index: number): Sample {
    checkIndex('NMNIST.get', index, this.length);
    const ev = this.events(index);
    const x = integrateEventsToFrames(ev, { T: this.T, splitBy: this.splitBy, H: NMNIST.H, W: NMNIST.W, dt: 'floor' }, `NMNIST: ${this.files[index]}`);
    return { x, shape: this.shape, y: this.labels[index]! };
  }
}
