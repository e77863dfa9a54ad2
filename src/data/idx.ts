// MNIST-family IDX files (MNIST, Fashion-MNIST, KMNIST): train-images-idx3-ubyte, train-labels-idx1-ubyte,
// t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, each optionally gzipped (.gz).
//
// The format (http://yann.lecun.com/exdb/mnist/): a 4-byte magic number — two zero bytes, an element
// type (0x08 = unsigned byte) and the number of dimensions — then one big-endian uint32 per
// dimension, then the elements, row-major. A file is accepted only when its magic, its dimensions
// and its length all agree; nothing is returned from a truncated or corrupt file.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { DatasetError, errorMessage } from './errors.js';
import { checkChoice, checkIndex, type Dataset, type Sample } from './dataset.js';

const TYPE_NAMES: Record<number, string> = {
  0x08: 'unsigned byte', 0x09: 'signed byte', 0x0b: 'int16', 0x0c: 'int32', 0x0d: 'float32', 0x0e: 'float64',
};

export interface IdxArray {
  /** The dimensions from the header, e.g. [60000, 28, 28]. */
  dims: number[];
  /** The elements, row-major (unsigned bytes: the only element type the MNIST family uses). */
  data: Uint8Array;
}

/**
 * Reads one IDX file of unsigned bytes (gunzipping it when its name ends in .gz), checking the
 * magic number, the number of dimensions (`ndim`, when given) and that the length is exactly the
 * header plus the product of the dimensions. Throws a DatasetError naming the file otherwise.
 */
export function readIdx(file: string, ndim?: number): IdxArray {
  const where = `IDX file ${file}`;
  let buf: Uint8Array;
  try {
    buf = readFileSync(file);
  } catch (e) {
    throw new DatasetError(`${where}: cannot be read (${errorMessage(e)})`, { cause: e });
  }
  if (file.endsWith('.gz')) {
    try {
      buf = gunzipSync(buf);
    } catch (e) {
      throw new DatasetError(`${where}: corrupt or truncated gzip data (${errorMessage(e)})`, { cause: e });
    }
  }
  if (buf.length < 4) throw new DatasetError(`${where}: truncated: ${buf.length} bytes, shorter than the 4-byte magic number`);
  const magic = ((buf[0]! << 24) | (buf[1]! << 16) | (buf[2]! << 8) | buf[3]!) >>> 0;
  const hex = `0x${magic.toString(16).padStart(8, '0')}`;
  const type = buf[2]!;
  const nd = buf[3]!;
  if (buf[0] !== 0 || buf[1] !== 0 || !(type in TYPE_NAMES) || nd === 0) {
    throw new DatasetError(`${where}: bad magic number ${hex}: not an IDX file${ndim ? ` (expected 0x0000080${ndim})` : ''}`);
  }
  if (type !== 0x08) {
    throw new DatasetError(`${where}: element type 0x${type.toString(16).padStart(2, '0')} (${TYPE_NAMES[type]}) is not supported; MNIST-family files hold unsigned bytes (0x08)`);
  }
  if (ndim !== undefined && nd !== ndim) {
    throw new DatasetError(`${where}: magic number ${hex} says ${nd} dimension${nd === 1 ? '' : 's'}, expected ${ndim} (0x0000080${ndim})`);
  }
  const headerBytes = 4 + 4 * nd;
  if (buf.length < headerBytes) throw new DatasetError(`${where}: truncated: ${buf.length} bytes, shorter than its ${headerBytes}-byte header`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const dims: number[] = [];
  for (let d = 0; d < nd; d++) dims.push(view.getUint32(4 + 4 * d, false));
  const count = dims.reduce((a, b) => a * b, 1);
  const expected = headerBytes + count;
  if (buf.length < expected) {
    throw new DatasetError(`${where}: truncated: ${buf.length} bytes, but dims [${dims.join(', ')}] need ${expected}`);
  }
  if (buf.length > expected) {
    throw new DatasetError(`${where}: ${buf.length - expected} unexpected bytes after the data of dims [${dims.join(', ')}] (${expected} bytes expected)`);
  }
  return { dims, data: buf.subarray(headerBytes) };
}

/** The first of `names` that exists in `dir`; a DatasetError listing them all when none does. */
function findFile(where: string, dir: string, what: string, names: string[]): string {
  for (const n of names) {
    const p = join(dir, n);
    if (existsSync(p) && statSync(p).isFile()) return p;
  }
  throw new DatasetError(`${where}: no ${what} file in ${dir} (looked for ${names.join(', ')})`);
}

export interface IdxDatasetOptions {
  /** The directory holding the four files (plain or .gz). */
  dir: string;
  split: 'train' | 'test';
}

/**
 * MNIST, Fashion-MNIST or KMNIST from their IDX files in `dir`: `train-*` for split 'train',
 * `t10k-*` for 'test', each either plain or gzipped (the plain file is used when both exist).
 * Samples are (1, rows, cols) images scaled to [0, 1] (byte / 255) and the byte label.
 * The files are read and validated once, in the constructor; images stay bytes until `get`.
 */
export class IdxDataset implements Dataset<Sample> {
  readonly split: 'train' | 'test';
  readonly length: number;
  readonly rows: number;
  readonly cols: number;
  /** Largest label + 1 (10 for the MNIST family). */
  readonly classes: number;
  readonly imagesFile: string;
  readonly labelsFile: string;
  readonly shape: readonly number[];
  readonly #images: Uint8Array;
  readonly #labels: Uint8Array;

  constructor(options: IdxDatasetOptions) {
    const where = 'IdxDataset';
    this.split = checkChoice(where, 'split', options?.split, ['train', 'test'] as const);
    const dir = options.dir;
    if (typeof dir !== 'string' || dir === '') throw new DatasetError(`${where}: dir must be a directory path, got ${JSON.stringify(dir)}`);
    if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new DatasetError(`${where}: directory not found: ${dir}`);
    const prefix = this.split === 'train' ? 'train' : 't10k';
    const imgName = `${prefix}-images-idx3-ubyte`;
    const lblName = `${prefix}-labels-idx1-ubyte`;
    this.imagesFile = findFile(where, dir, `${this.split} images`, [imgName, `${imgName}.gz`]);
    this.labelsFile = findFile(where, dir, `${this.split} labels`, [lblName, `${lblName}.gz`]);
    const images = readIdx(this.imagesFile, 3);
    const labels = readIdx(this.labelsFile, 1);
    const [n, rows, cols] = images.dims as [number, number, number];
    if (rows === 0 || cols === 0) throw new DatasetError(`${where}: ${this.imagesFile}: images of ${rows}×${cols} pixels`);
    if (labels.dims[0] !== n) {
      throw new DatasetError(`${where}: ${this.imagesFile} holds ${n} images but ${this.labelsFile} holds ${labels.dims[0]} labels`);
    }
    this.length = n;
    this.rows = rows;
    this.cols = cols;
    this.shape = [1, rows, cols];
    this.#images = images.data;
    this.#labels = labels.data;
    let max = -1;
    for (const l of labels.data) if (l > max) max = l;
    this.classes = max + 1;
  }

  get(index: number): Sample {
    checkIndex('IdxDataset.get', index, this.length);
    const px = this.rows * this.cols;
    const src = this.#images.subarray(index * px, (index + 1) * px);
    const x = new Float32Array(px);
    for (let i = 0; i < px; i++) x[i] = src[i]! / 255;
    return { x, shape: this.shape, y: this.#labels[index]! };
  }
}
