// grilly/data: each reader on small files written here in the real on-disk format, checked against
// references written here (SpikingJelly's frame integration transcribed literally), and the DataLoader.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import * as grilly from '../src/index.js';
import { ShapeError, StateError, ValueError } from '../src/errors.js';
import {
  DataLoader, DatasetError, EmbeddedMNIST, IdxDataset, NMNIST, SHD, integrateEventsToFrames, loadEmbeddedMnist, segmentIndices,
  type Batch, type Dataset, type Sample,
} from '../src/data/index.js';

let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'grilly-data-'));
});
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});
let dirCount = 0;
const freshDir = (name: string): string => {
  const d = join(root, `${name}-${dirCount++}`);
  mkdirSync(d, { recursive: true });
  return d;
};

async function rejectsWith(p: Promise<unknown>, cls: new (...a: never[]) => Error, re: RegExp): Promise<void> {
  let err: unknown = null;
  try {
    await p;
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(cls);
  expect(String((err as Error).message)).toMatch(re);
  expect((err as Error).message).not.toContain('\n');
}
function throwsWith(fn: () => unknown, cls: new (...a: never[]) => Error, re: RegExp): void {
  let err: unknown = null;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(cls);
  expect((err as Error).message).toMatch(re);
  expect((err as Error).message).not.toContain('\n');
}

// ---- IDX -----------------------------------------------------------------------------------------

/** An IDX file of unsigned bytes: magic 0x0000080<ndim>, big-endian uint32 dims, the bytes. */
function idx(dims: number[], data: ArrayLike<number>, magic = 0x800 + dims.length): Buffer {
  const head = Buffer.alloc(4 + 4 * dims.length);
  head.writeUInt32BE(magic, 0);
  dims.forEach((d, i) => head.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([head, Buffer.from(Array.from(data))]);
}

describe('IdxDataset', () => {
  const n = 3, rows = 4, cols = 5;
  const pixels = Array.from({ length: n * rows * cols }, (_, i) => (i * 37) % 256);
  const labels = [7, 0, 9];

  it('reads plain train files and gzipped test files', () => {
    const dir = freshDir('idx');
    writeFileSync(join(dir, 'train-images-idx3-ubyte'), idx([n, rows, cols], pixels));
    writeFileSync(join(dir, 'train-labels-idx1-ubyte'), idx([n], labels));
    writeFileSync(join(dir, 't10k-images-idx3-ubyte.gz'), gzipSync(idx([2, rows, cols], pixels.slice(0, 2 * rows * cols).reverse())));
    writeFileSync(join(dir, 't10k-labels-idx1-ubyte.gz'), gzipSync(idx([2], [4, 2])));
    const train = new IdxDataset({ dir, split: 'train' });
    expect([train.length, train.rows, train.cols, train.classes]).toEqual([3, 4, 5, 10]);
    for (let i = 0; i < n; i++) {
      const s = train.get(i);
      expect(s.shape).toEqual([1, rows, cols]);
      expect(s.y).toBe(labels[i]);
      expect(Array.from(s.x)).toEqual(pixels.slice(i * 20, (i + 1) * 20).map((v) => Math.fround(v / 255)));
    }
    const test = new IdxDataset({ dir, split: 'test' });
    expect(test.length).toBe(2);
    expect(test.imagesFile.endsWith('.gz')).toBe(true);
    expect(Array.from(test.get(1).x)).toEqual(pixels.slice(0, 40).reverse().slice(20, 40).map((v) => Math.fround(v / 255)));
    expect(test.get(1).y).toBe(2);
    throwsWith(() => test.get(2), ValueError, /IdxDataset.get: index 2 is out of range \[0, 2\)/);
  });

  it('names the files it looked for when one is missing', () => {
    const dir = freshDir('idx-missing');
    writeFileSync(join(dir, 'train-images-idx3-ubyte'), idx([n, rows, cols], pixels));
    throwsWith(() => new IdxDataset({ dir, split: 'train' }), DatasetError,
      /no train labels file in .*idx-missing.* \(looked for train-labels-idx1-ubyte, train-labels-idx1-ubyte\.gz\)/);
    throwsWith(() => new IdxDataset({ dir, split: 'test' }), DatasetError, /looked for t10k-images-idx3-ubyte, t10k-images-idx3-ubyte\.gz/);
    throwsWith(() => new IdxDataset({ dir: join(dir, 'nope'), split: 'train' }), DatasetError, /directory not found/);
    throwsWith(() => new IdxDataset({ dir, split: 'val' as 'train' }), ValueError, /split must be 'train' or 'test', got "val"/);
  });

  const bad: [string, () => [Buffer, Buffer], RegExp][] = [
    ['a bad magic number', () => [idx([n, rows, cols], pixels, 0x12345678), idx([n], labels)], /train-images-idx3-ubyte: bad magic number 0x12345678: not an IDX file \(expected 0x00000803\)/],
    ['a labels file given as images', () => [idx([n], labels), idx([n], labels)], /train-images-idx3-ubyte: magic number 0x00000801 says 1 dimension, expected 3/],
    ['an images file given as labels', () => [idx([n, rows, cols], pixels), idx([n, rows, cols], pixels)], /train-labels-idx1-ubyte: magic number 0x00000803 says 3 dimensions, expected 1/],
    ['float elements', () => [idx([n, rows, cols], pixels, 0x0d03), idx([n], labels)], /element type 0x0d \(float32\) is not supported/],
    ['truncated data', () => [idx([n, rows, cols], pixels).subarray(0, 70), idx([n], labels)], /truncated: 70 bytes, but dims \[3, 4, 5\] need 76/],
    ['a truncated header', () => [idx([n, rows, cols], pixels).subarray(0, 10), idx([n], labels)], /truncated: 10 bytes, shorter than its 16-byte header/],
    ['trailing bytes', () => [Buffer.concat([idx([n, rows, cols], pixels), Buffer.from([1, 2])]), idx([n], labels)], /2 unexpected bytes after the data/],
    ['fewer labels than images', () => [idx([n, rows, cols], pixels), idx([2], labels.slice(0, 2))], /holds 3 images but .*train-labels-idx1-ubyte holds 2 labels/],
  ];
  for (const [what, files, re] of bad) {
    it(`rejects ${what}`, () => {
      const dir = freshDir('idx-bad');
      const [im, lb] = files();
      writeFileSync(join(dir, 'train-images-idx3-ubyte'), im);
      writeFileSync(join(dir, 'train-labels-idx1-ubyte'), lb);
      throwsWith(() => new IdxDataset({ dir, split: 'train' }), DatasetError, re);
    });
  }

  it('rejects truncated and corrupt gzip files', () => {
    const dir = freshDir('idx-gz');
    const gz = gzipSync(idx([n, rows, cols], pixels));
    writeFileSync(join(dir, 'train-images-idx3-ubyte.gz'), gz.subarray(0, gz.length - 12));
    writeFileSync(join(dir, 'train-labels-idx1-ubyte.gz'), gzipSync(idx([n], labels)));
    throwsWith(() => new IdxDataset({ dir, split: 'train' }), DatasetError, /train-images-idx3-ubyte\.gz: corrupt or truncated gzip data/);
    writeFileSync(join(dir, 'train-images-idx3-ubyte.gz'), Buffer.from('not gzip at all'));
    throwsWith(() => new IdxDataset({ dir, split: 'train' }), DatasetError, /corrupt or truncated gzip data \(incorrect header check\)/);
  });
});

// ---- N-MNIST -------------------------------------------------------------------------------------

interface Ev { x: number; y: number; p: number; t: number }

/** Encodes events as an N-MNIST .bin: x, y, p<<7 | t>>16, t>>8 & 0xff, t & 0xff. */
function atisBin(events: Ev[]): Buffer {
  const b = Buffer.alloc(events.length * 5);
  events.forEach((e, i) => {
    b[5 * i] = e.x;
    b[5 * i + 1] = e.y;
    b[5 * i + 2] = (e.p << 7) | ((e.t >> 16) & 0x7f);
    b[5 * i + 3] = (e.t >> 8) & 0xff;
    b[5 * i + 4] = e.t & 0xff;
  });
  return b;
}

/**
 * SpikingJelly's cal_fixed_frames_number_segment_index + integrate_events_segment_to_frame, transcribed
 * literally (a boolean mask per window, the first and last masked index), as the reference.
 */
function sjFrames(ev: Ev[], T: number, splitBy: 'number' | 'time', H: number, W: number, floorDt = true): number[][][][] {
  const N = ev.length;
  const t = ev.map((e) => e.t);
  const jl: number[] = [], jr: number[] = [];
  if (splitBy === 'number') {
    const di = Math.floor(N / T);
    for (let i = 0; i < T; i++) {
      jl[i] = i * di;
      jr[i] = jl[i]! + di;
    }
  } else {
    const dt = floorDt ? Math.floor((t[N - 1]! - t[0]!) / T) : (t[N - 1]! - t[0]!) / T;
    for (let i = 0; i < T; i++) {
      const tl = dt * i + t[0]!;
      const tr = tl + dt;
      const masked = t.map((v, k) => (v >= tl && v < tr ? k : -1)).filter((k) => k >= 0);
      if (masked.length === 0) throw new Error('SpikingJelly raises IndexError here');
      jl[i] = masked[0]!;
      jr[i] = masked[masked.length - 1]! + 1;
    }
  }
  jr[T - 1] = N;
  const frames = Array.from({ length: T }, () => Array.from({ length: 2 }, () => Array.from({ length: H }, () => new Array<number>(W).fill(0))));
  for (let i = 0; i < T; i++) for (let j = jl[i]!; j < jr[i]!; j++) frames[i]![ev[j]!.p ? 1 : 0]![ev[j]!.y]![ev[j]!.x]! += 1;
  return frames;
}

const flat = (a: number[][][][]): number[] => a.flat(3);

describe('NMNIST', () => {
  // Sorted timestamps spanning more than 16 bits (the 23-bit field), both polarities, repeated pixels.
  // Sorted timestamps up to the top of the 23-bit field, both polarities, repeated pixels; every time
  // window of T = 1, 3, 4 non-empty (where SpikingJelly raises otherwise).
  const eventsA: Ev[] = Array.from({ length: 23 }, (_, i) => ({
    x: (i * 7) % 34, y: (i * 11) % 34, p: (i * 5) % 3 === 0 ? 1 : 0, t: 70_000 + i * 350_000 + (i % 4) * 101,
  }));
  eventsA.push({ x: 33, y: 33, p: 1, t: 8_000_000 }, { x: 33, y: 33, p: 1, t: 8_000_000 }, { x: 0, y: 33, p: 0, t: 0x7fffff });
  const eventsB: Ev[] = [
    { x: 1, y: 2, p: 1, t: 10 }, { x: 1, y: 2, p: 1, t: 20 }, { x: 3, y: 4, p: 0, t: 50 },
    { x: 5, y: 6, p: 1, t: 70 }, { x: 5, y: 6, p: 0, t: 80 }, { x: 8, y: 9, p: 1, t: 95 },
  ];
  let dir: string;
  beforeAll(() => {
    dir = freshDir('nmnist');
    for (const [split, digit, name, ev] of [
      ['Train', '3', '00002.bin', eventsB], ['Train', '0', '00010.bin', eventsA], ['Train', '0', '00001.bin', eventsB], ['Test', '7', '00005.bin', eventsA],
    ] as const) {
      mkdirSync(join(dir, split, digit), { recursive: true });
      writeFileSync(join(dir, split, digit, name), atisBin(ev));
    }
    writeFileSync(join(dir, 'Train', 'README.txt'), 'not a class folder');
  });

  it('lists Train/<digit>/*.bin in class then name order and decodes the events exactly', () => {
    const ds = new NMNIST({ dir, split: 'train', T: 4 });
    expect(ds.length).toBe(3);
    expect(ds.files.map((f) => f.slice(dir.length + 1))).toEqual([join('Train', '0', '00001.bin'), join('Train', '0', '00010.bin'), join('Train', '3', '00002.bin')]);
    expect(Array.from(ds.labels)).toEqual([0, 0, 3]);
    const ev = ds.events(1);
    expect(Array.from(ev.t)).toEqual(eventsA.map((e) => e.t));
    expect(Array.from(ev.x)).toEqual(eventsA.map((e) => e.x));
    expect(Array.from(ev.y)).toEqual(eventsA.map((e) => e.y));
    expect(Array.from(ev.p)).toEqual(eventsA.map((e) => e.p));
    expect(new NMNIST({ dir, split: 'test', T: 2 }).get(0).y).toBe(7);
  });

  for (const splitBy of ['number', 'time'] as const) {
    for (const T of [1, 3, 4]) {
      it(`integrates frames like SpikingJelly (splitBy '${splitBy}', T = ${T})`, () => {
        const ds = new NMNIST({ dir, split: 'train', T, splitBy });
        for (const [i, ev] of [[0, eventsB], [1, eventsA], [2, eventsB]] as const) {
          const s = ds.get(i);
          expect(s.shape).toEqual([T, 2, 34, 34]);
          expect(Array.from(s.x)).toEqual(flat(sjFrames(ev, T, splitBy, 34, 34)));
        }
      });
    }
  }

  it('gives the hand-computed frames of a six-event file', () => {
    const at = (x: Float32Array, f: number, p: number, y: number, xx: number) => x[((f * 2 + p) * 34 + y) * 34 + xx];
    // 'number', T = 3: ⌊6/3⌋ = 2 events per frame.
    const n = new NMNIST({ dir, split: 'train', T: 3, splitBy: 'number' }).get(0).x;
    expect([at(n, 0, 1, 2, 1), at(n, 1, 0, 4, 3), at(n, 1, 1, 6, 5), at(n, 2, 0, 6, 5), at(n, 2, 1, 9, 8), n.reduce((a, b) => a + b)]).toEqual([2, 1, 1, 1, 1, 6]);
    // 'time', T = 3: dt = ⌊(95 − 10) / 3⌋ = 28, windows [10, 38) [38, 66) [66, 94), and the event at 95
    // (past the last window: the floor's remainder) joins the last frame.
    const t = new NMNIST({ dir, split: 'train', T: 3, splitBy: 'time' }).get(0).x;
    expect([at(t, 0, 1, 2, 1), at(t, 1, 0, 4, 3), at(t, 1, 1, 6, 5), at(t, 2, 1, 6, 5), at(t, 2, 0, 6, 5), at(t, 2, 1, 9, 8), t.reduce((a, b) => a + b)]).toEqual([2, 1, 0, 1, 1, 1, 6]);
  });

  it("leaves an empty time window empty where SpikingJelly raises, and matches it elsewhere", () => {
    const t = [0, 5, 10, 12, 95, 99];
    expect(() => sjFrames(t.map((v) => ({ x: 0, y: 0, p: 0, t: v })), 4, 'time', 1, 1)).toThrow(/IndexError/);
    const { jl, jr } = segmentIndices(t, 4, 'time'); // dt = 24: [0,24) [24,48) [48,72) [72,96) + remainder
    expect([Array.from(jl), Array.from(jr)]).toEqual([[0, 0, 0, 4], [4, 0, 0, 6]]);
    const none = segmentIndices([], 3, 'time');
    expect([Array.from(none.jl), Array.from(none.jr)]).toEqual([[0, 0, 0], [0, 0, 0]]);
    const short = segmentIndices([7, 7, 8], 4, 'time'); // dt = ⌊1/4⌋ = 0: every event in the last frame
    expect([Array.from(short.jl), Array.from(short.jr)]).toEqual([[0, 0, 0, 0], [0, 0, 0, 3]]);
    const few = segmentIndices([1, 2], 3, 'number'); // ⌊2/3⌋ = 0 per frame, the remainder to the last
    expect([Array.from(few.jl), Array.from(few.jr)]).toEqual([[0, 0, 0], [0, 0, 2]]);
    const ev = { t: [0, 1], x: [0, 1], y: [0, 0], p: [0, 1] };
    expect(() => integrateEventsToFrames(ev, { T: 1, splitBy: 'number', H: -1, W: 2 })).toThrow('integrateEventsToFrames: H must be a positive integer, got -1');
  });

  it('rejects truncated files, coordinates off the sensor and a missing split folder', () => {
    const d = freshDir('nmnist-bad');
    mkdirSync(join(d, 'Train', '1'), { recursive: true });
    writeFileSync(join(d, 'Train', '1', 'a.bin'), atisBin(eventsB).subarray(0, 23));
    writeFileSync(join(d, 'Train', '1', 'b.bin'), atisBin([{ x: 34, y: 0, p: 0, t: 5 }]));
    const ds = new NMNIST({ dir: d, split: 'train', T: 2 });
    throwsWith(() => ds.get(0), DatasetError, /Train\/1\/a\.bin: 23 bytes is not a whole number of 5-byte events/);
    throwsWith(() => ds.get(1), DatasetError, /Train\/1\/b\.bin: event 0 at \(x=34, y=0\) is outside the 34×34 frame/);
    throwsWith(() => new NMNIST({ dir: d, split: 'test', T: 2 }), DatasetError, /directory not found: .*Test \(expected Test\/<digit>\/\*\.bin under/);
    throwsWith(() => new NMNIST({ dir: d, split: 'train', T: 0 }), ValueError, /T must be a positive integer, got 0/);
    throwsWith(() => new NMNIST({ dir: d, split: 'train', T: 2, splitBy: 'events' as 'time' }), ValueError, /splitBy must be 'number' or 'time'/);
  });
});

// ---- SHD (HDF5) ----------------------------------------------------------------------------------
// h5wasm writes only fixed-size types and vlen strings, not the numeric vlen datasets of the real SHD
// files, so shdFile() writes the HDF5 bytes itself: superblock v2, v2 object headers with compact
// links, contiguous datasets, and the ragged arrays as vlen sequences in a global heap collection —
// the structures h5py/PyTables write for a vlen dataset. h5wasm itself reads them back (a check that
// the files are valid HDF5), and writes the non-vlen files used for the error cases.

/** Bob Jenkins' lookup3 hashlittle (initval 0): the checksum of HDF5's v2 metadata. */
function lookup3(k: Uint8Array): number {
  let len = k.length, o = 0;
  let a = (0xdeadbeef + len) >>> 0, b = a, c = a;
  const rot = (x: number, r: number) => ((x << r) | (x >>> (32 - r))) >>> 0;
  const u32 = (i: number) => (k[i]! | (k[i + 1]! << 8) | (k[i + 2]! << 16) | (k[i + 3]! << 24)) >>> 0;
  while (len > 12) {
    a = (a + u32(o)) >>> 0; b = (b + u32(o + 4)) >>> 0; c = (c + u32(o + 8)) >>> 0;
    a = (a - c) >>> 0; a = (a ^ rot(c, 4)) >>> 0; c = (c + b) >>> 0;
    b = (b - a) >>> 0; b = (b ^ rot(a, 6)) >>> 0; a = (a + c) >>> 0;
    c = (c - b) >>> 0; c = (c ^ rot(b, 8)) >>> 0; b = (b + a) >>> 0;
    a = (a - c) >>> 0; a = (a ^ rot(c, 16)) >>> 0; c = (c + b) >>> 0;
    b = (b - a) >>> 0; b = (b ^ rot(a, 19)) >>> 0; a = (a + c) >>> 0;
    c = (c - b) >>> 0; c = (c ^ rot(b, 4)) >>> 0; b = (b + a) >>> 0;
    len -= 12; o += 12;
  }
  if (len === 0) return c;
  const w = [0, 0, 0];
  for (let i = 0; i < len; i++) w[i >> 2]! += k[o + i]! * 2 ** (8 * (i & 3));
  a = (a + w[0]!) >>> 0; b = (b + w[1]!) >>> 0; c = (c + w[2]!) >>> 0;
  c = (c ^ b) >>> 0; c = (c - rot(b, 14)) >>> 0;
  a = (a ^ c) >>> 0; a = (a - rot(c, 11)) >>> 0;
  b = (b ^ a) >>> 0; b = (b - rot(a, 25)) >>> 0;
  c = (c ^ b) >>> 0; c = (c - rot(b, 16)) >>> 0;
  a = (a ^ c) >>> 0; a = (a - rot(c, 4)) >>> 0;
  b = (b ^ a) >>> 0; b = (b - rot(a, 14)) >>> 0;
  c = (c ^ b) >>> 0; c = (c - rot(b, 24)) >>> 0;
  return c;
}

class Bytes {
  b: number[] = [];
  u8(v: number): this { this.b.push(v & 255); return this; }
  u16(v: number): this { return this.u8(v).u8(v >>> 8); }
  u32(v: number): this { return this.u16(v & 0xffff).u16(v >>> 16); }
  u64(v: number): this { return v < 0 ? this.all(8, 0xff) : this.u32(v % 2 ** 32).u32(Math.floor(v / 2 ** 32)); }
  all(n: number, v: number): this { for (let i = 0; i < n; i++) this.u8(v); return this; }
  put(a: ArrayLike<number>): this { for (let i = 0; i < a.length; i++) this.u8(a[i]!); return this; }
  get length(): number { return this.b.length; }
}
const UNDEF = -1;
// Datatype messages (version 1): fixed-point, IEEE float (16/32), vlen sequence of a base type.
const dtUint = (size: number) => new Bytes().u8(0x10).all(3, 0).u32(size).u16(0).u16(size * 8).b;
const dtFloat = (size: 2 | 4) => size === 4
  ? new Bytes().u8(0x11).u8(0x20).u8(31).u8(0).u32(4).u16(0).u16(32).u8(23).u8(8).u8(0).u8(23).u32(127).b
  : new Bytes().u8(0x11).u8(0x20).u8(15).u8(0).u32(2).u16(0).u16(16).u8(10).u8(5).u8(0).u8(10).u32(15).b;
const dtVlen = (base: number[]) => new Bytes().u8(0x19).all(3, 0).u32(16).put(base).b;
const dataspace1d = (n: number) => new Bytes().u8(2).u8(1).u8(0).u8(1).u64(n).b;
const contiguous = (addr: number, size: number) => new Bytes().u8(3).u8(1).u64(addr).u64(size).b;
const fillValue = () => [3, 0x0a];
function objectHeader(msgs: [number, number[]][]): number[] {
  const body = new Bytes();
  for (const [type, data] of msgs) body.u8(type).u16(data.length).u8(0).put(data);
  const h = new Bytes().put([0x4f, 0x48, 0x44, 0x52]).u8(2).u8(2).u32(body.length).put(body.b);
  return h.u32(lookup3(Uint8Array.from(h.b))).b;
}
const linkMsg = (name: string, addr: number) => new Bytes().u8(1).u8(0).u8(name.length).put(Buffer.from(name)).u64(addr).b;
const groupHeader = (links: [string, number][]) => objectHeader([
  [0x02, new Bytes().u8(0).u8(0).u64(UNDEF).u64(UNDEF).b], [0x0a, [0, 0]], ...links.map(([n, a]) => [0x06, linkMsg(n, a)] as [number, number[]]),
]);
/** IEEE half bits of a value that half represents exactly (the test data are chosen so). */
function half(x: number): number {
  if (x === 0) return 0;
  const e = Math.floor(Math.log2(x));
  const m = (x / 2 ** e - 1) * 1024;
  if (!Number.isInteger(m) || e < -14 || e > 15) throw new Error(`${x} is not exact in float16`);
  return ((e + 15) << 10) | m;
}

interface ShdSample { times: number[]; units: number[]; label: number }

/** An SHD-layout HDF5 file: spikes/times (vlen float16 or float32), spikes/units (vlen uint16), labels (uint16). */
function shdFile(path: string, samples: ShdSample[], timeBytes: 2 | 4 = 2): void {
  const out = new Bytes().all(48, 0); // superblock, written last
  const at = (bytes: number[]) => { const a = out.length; out.put(bytes); return a; };
  // Global heap collection: header, one object per non-empty array, then the free-space object.
  const heapAddr = out.length;
  const heap = new Bytes().put([0x47, 0x43, 0x4f, 0x4c]).u8(1).all(3, 0).u64(0);
  let nextId = 1;
  const heapObject = (data: Bytes) => {
    heap.u16(nextId).u16(0).u32(0).u64(data.length).put(data.b);
    while (heap.length % 8) heap.u8(0);
    return nextId++;
  };
  const refs = { times: [] as [number, number][], units: [] as [number, number][] };
  for (const s of samples) {
    const t = new Bytes();
    for (const v of s.times) {
      if (timeBytes === 2) t.u16(half(v));
      else { const f = Buffer.alloc(4); f.writeFloatLE(v); t.put(f); }
    }
    const u = new Bytes();
    for (const v of s.units) u.u16(v);
    refs.times.push([s.times.length, s.times.length ? heapObject(t) : 0]);
    refs.units.push([s.units.length, s.units.length ? heapObject(u) : 0]);
  }
  const size = Math.max(4096, heap.length + 16);
  const free = size - heap.length; // object 0, the free space: its size counts its own 16-byte header
  heap.u16(0).u16(0).u32(0).u64(free);
  heap.all(size - heap.length, 0);
  heap.b.splice(8, 8, ...new Bytes().u64(size).b);
  at(heap.b);
  // Raw data: vlen elements {uint32 length, heap collection address, object index}, and the labels.
  const vlenElements = (list: [number, number][]) => {
    const b = new Bytes();
    for (const [len, id] of list) b.u32(len).u64(len ? heapAddr : 0).u32(id);
    return b.b;
  };
  const n = samples.length;
  const tData = at(vlenElements(refs.times));
  const uData = at(vlenElements(refs.units));
  const lData = at(new Bytes().put(new Uint8Array(Uint16Array.from(samples.map((s) => s.label)).buffer)).b);
  const dataset = (dtype: number[], addr: number, bytes: number) => at(objectHeader([[0x01, dataspace1d(n)], [0x03, dtype], [0x05, fillValue()], [0x08, contiguous(addr, bytes)]]));
  const times = dataset(dtVlen(dtFloat(timeBytes)), tData, 16 * n);
  const units = dataset(dtVlen(dtUint(2)), uData, 16 * n);
  const labels = dataset(dtUint(2), lData, 2 * n);
  const spikes = at(groupHeader([['times', times], ['units', units]]));
  const rootGroup = at(groupHeader([['labels', labels], ['spikes', spikes]]));
  const sb = new Bytes().put([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]).u8(2).u8(8).u8(8).u8(0).u64(0).u64(UNDEF).u64(out.length).u64(rootGroup);
  sb.u32(lookup3(Uint8Array.from(sb.b)));
  out.b.splice(0, 48, ...sb.b);
  writeFileSync(path, Uint8Array.from(out.b));
}

/** The reference bins: 'fixed' by ⌊t / dt⌋ < T; 'time' / 'number' by the SpikingJelly transcription. */
function shdReference(s: ShdSample, T: number, binning: 'fixed' | 'time' | 'number', dt: number, C = 700): number[] {
  const x = new Array<number>(T * C).fill(0);
  if (binning === 'fixed') {
    s.times.forEach((t, k) => {
      const bin = Math.floor(t / dt);
      if (bin < T) x[bin * C + s.units[k]!]! += 1;
    });
    return x;
  }
  // Channels as the x coordinate of a 1 × C frame with one polarity: the same segments.
  const fr = sjFrames(s.times.map((t, k) => ({ x: s.units[k]!, y: 0, p: 0, t })), T, binning, 1, C, false);
  for (let i = 0; i < T; i++) for (let c = 0; c < C; c++) x[i * C + c] = fr[i]![0]![0]![c]!;
  return x;
}

describe('SHD', () => {
  // Times exactly representable in float16 (so both files hold the same values), sorted per sample.
  const samples: ShdSample[] = [
    { times: [0.0078125, 0.0625, 0.0625, 0.25, 0.3125, 0.5, 0.75, 0.9375, 1.125, 1.3125], units: [0, 699, 699, 5, 5, 5, 350, 0, 12, 699], label: 3 },
    { times: [0.015625, 0.109375, 0.1875, 0.203125, 0.609375, 0.9375, 1.375, 1.5], units: [1, 2, 3, 1, 2, 3, 4, 5], label: 19 },
    { times: [0.5], units: [42], label: 0 },
  ];
  let f16: string, f32: string;
  const open: SHD[] = [];
  const openShd = async (o: Parameters<typeof SHD.open>[0]) => {
    const d = await SHD.open(o);
    open.push(d);
    return d;
  };
  beforeAll(() => {
    const dir = freshDir('shd');
    f16 = join(dir, 'shd_f16.h5');
    f32 = join(dir, 'shd_f32.h5');
    shdFile(f16, samples, 2);
    shdFile(f32, samples, 4);
  });
  afterAll(() => {
    for (const d of open) d.close();
  });

  it('writes files that h5wasm reads as SHD: vlen spikes/times and spikes/units, labels', async () => {
    const h5 = await import('h5wasm/node');
    await h5.ready;
    const f = new h5.File(f32, 'r');
    try {
      expect(f.keys()).toEqual(['labels', 'spikes']);
      const units = f.get('spikes/units') as InstanceType<typeof h5.Dataset>;
      expect(units.metadata.type).toBe(9); // H5T_VLEN
      expect((units.value as Uint16Array[]).map((a) => Array.from(a))).toEqual(samples.map((s) => s.units));
      expect(((f.get('spikes/times') as InstanceType<typeof h5.Dataset>).value as Float32Array[]).map((a) => Array.from(a))).toEqual(samples.map((s) => s.times));
      expect(Array.from((f.get('labels') as InstanceType<typeof h5.Dataset>).value as Uint16Array)).toEqual([3, 19, 0]);
    } finally {
      f.close();
    }
  });

  for (const [name, file] of [['float16', () => f16], ['float32', () => f32]] as const) {
    it(`reads ${name} spike times and bins them exactly (fixed, time, number)`, async () => {
      const configs: [number, 'fixed' | 'time' | 'number', { dt?: number; duration?: number }, number][] = [
        [14, 'fixed', {}, 1.4 / 14], // default duration 1.4 s → dt = 0.1 s; later spikes dropped
        [5, 'fixed', { dt: 0.125 }, 0.125],
        [3, 'fixed', { duration: 1.5 }, 0.5],
        [4, 'time', {}, 0],
        [3, 'number', {}, 0],
        [1, 'time', {}, 0],
      ];
      for (const [T, binning, extra, dt] of configs) {
        const ds = await openShd({ file: file(), T, binning, ...extra });
        expect([ds.length, ds.classes, Array.from(ds.labels)]).toEqual([3, 20, [3, 19, 0]]);
        for (let i = 0; i < samples.length; i++) {
          const s = ds.get(i);
          expect(s.shape).toEqual([T, 700]);
          expect(s.y).toBe(samples[i]!.label);
          if (binning === 'time' && samples[i]!.times.length === 1) continue; // dt = 0: SpikingJelly raises there
          expect(Array.from(s.x), `${binning} T=${T} sample ${i}`).toEqual(shdReference(samples[i]!, T, binning, dt));
        }
      }
      // One spike: t[N−1] − t[0] = 0, so no window holds it (SpikingJelly raises); it goes to the last bin.
      const one = (await openShd({ file: file(), T: 4, binning: 'time' })).get(2).x;
      expect([one[3 * 700 + 42], one.reduce((a, b) => a + b)]).toEqual([1, 1]);
      const ds = await openShd({ file: file(), T: 10 });
      expect(Array.from(ds.spikes(1).times)).toEqual(samples[1]!.times);
      expect(Array.from(ds.spikes(1).units)).toEqual(samples[1]!.units);
      // Hand-checked: sample 1 in 14 bins of 0.1 s — 0.015625 → 0, 0.109375 and 0.1875 → 1, 0.203125 → 2,
      // 0.609375 → 6, 0.9375 → 9, 1.375 → 13; 1.5 s is past the 1.4 s and is dropped.
      const x = (await openShd({ file: file(), T: 14 })).get(1).x;
      expect([x[0 * 700 + 1], x[1 * 700 + 2], x[1 * 700 + 3], x[2 * 700 + 1], x[6 * 700 + 2], x[9 * 700 + 3], x[13 * 700 + 4], x.reduce((a, b) => a + b)]).toEqual([1, 1, 1, 1, 1, 1, 1, 7]);
    });
  }

  it('rejects what is not an SHD file, with the reason', async () => {
    const dir = freshDir('shd-bad');
    await rejectsWith(SHD.open({ file: join(dir, 'missing.h5'), T: 4 }), DatasetError, /SHD: file not found: .*missing\.h5$/);
    writeFileSync(join(dir, 'x.h5.gz'), 'gz');
    await rejectsWith(SHD.open({ file: join(dir, 'x.h5'), T: 4 }), DatasetError, /x\.h5\.gz exists: gunzip it first/);
    writeFileSync(join(dir, 'text.h5'), 'this is not an HDF5 file at all');
    await rejectsWith(SHD.open({ file: join(dir, 'text.h5'), T: 4 }), DatasetError, /text\.h5: not a readable HDF5 file \(file signature not found\)$/);
    await rejectsWith(SHD.open({ file: f16, T: 0 }), ValueError, /T must be a positive integer/);
    await rejectsWith(SHD.open({ file: f16, T: 4, binning: 'dt' as 'time' }), ValueError, /binning must be 'fixed' or 'time' or 'number'/);
    // Files h5wasm writes: the spikes as rectangular arrays instead of vlen, or no labels.
    const h5 = await import('h5wasm/node');
    await h5.ready;
    const padded = join(dir, 'padded.h5');
    const w = new h5.File(padded, 'w');
    w.create_group('spikes');
    const sp = w.get('spikes') as InstanceType<typeof h5.Group>;
    sp.create_dataset({ name: 'times', data: new Float32Array(6), shape: [2, 3] });
    sp.create_dataset({ name: 'units', data: new Uint16Array(6), shape: [2, 3] });
    w.create_dataset({ name: 'labels', data: new Uint16Array([1, 2]) });
    w.close();
    await rejectsWith(SHD.open({ file: padded, T: 4 }), DatasetError, /spikes\/times must be a 1-D variable-length \(vlen\) dataset of floats, .*found 2-D float32/);
    const nolabels = join(dir, 'nolabels.h5');
    const w2 = new h5.File(nolabels, 'w');
    w2.create_dataset({ name: 'other', data: new Uint16Array([1, 2]) });
    w2.close();
    await rejectsWith(SHD.open({ file: nolabels, T: 4 }), DatasetError, /nolabels\.h5: no dataset labels/);
  });

  it('rejects units outside the channels, and reads nothing after close', async () => {
    const file = join(freshDir('shd-units'), 'u.h5');
    shdFile(file, [{ times: [0.25], units: [700], label: 1 }], 4);
    const ds = await SHD.open({ file, T: 2 });
    throwsWith(() => ds.get(0), DatasetError, /u\.h5: sample 0, spike 0: unit 700 outside \[0, 700\)/);
    expect(Array.from((await openShd({ file, T: 2, channels: 701 })).get(0).x.slice(700, 701))).toEqual([1]);
    ds.close();
    throwsWith(() => ds.get(0), StateError, /was closed/);
  });
});

// ---- DataLoader ----------------------------------------------------------------------------------

/** n samples: x = [i, i + 0.5], y = i mod 3; records every get. */
class Counting implements Dataset<Sample> {
  gets: number[] = [];
  constructor(readonly length: number, readonly failAt = -1) {}
  get(i: number): Sample {
    if (i === this.failAt) throw new ValueError(`Counting: sample ${i} is broken`);
    this.gets.push(i);
    return { x: Float32Array.of(i, i + 0.5), shape: [2], y: i % 3 };
  }
}
async function collect<S>(loader: DataLoader<S>): Promise<Batch[]> {
  const out: Batch[] = [];
  for await (const b of loader) out.push(b);
  return out;
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('DataLoader', () => {
  it('batches in order, with a short last batch unless dropLast', async () => {
    const ds = new Counting(10);
    const loader = new DataLoader(ds, { batchSize: 4 });
    expect(loader.length).toBe(3);
    const batches = await collect(loader);
    expect(batches.map((b) => b.shape)).toEqual([[4, 2], [4, 2], [2, 2]]);
    expect(Array.from(batches[1]!.x)).toEqual([4, 4.5, 5, 5.5, 6, 6.5, 7, 7.5]);
    expect(Array.from(batches[2]!.y)).toEqual([2, 0]);
    expect(Array.from(batches[2]!.indices)).toEqual([8, 9]);
    const dropped = new DataLoader(ds, { batchSize: 4, dropLast: true });
    expect(dropped.length).toBe(2);
    expect((await collect(dropped)).map((b) => Array.from(b.indices))).toEqual([[0, 1, 2, 3], [4, 5, 6, 7]]);
    expect(new DataLoader(new Counting(8), { batchSize: 4, dropLast: true }).length).toBe(2);
    expect(await collect(new DataLoader(new Counting(0), { batchSize: 4 }))).toEqual([]);
  });

  it('shuffles reproducibly: the same seed, the same orders; a new order each epoch', async () => {
    const a = new DataLoader(new Counting(50), { batchSize: 8, shuffle: true, seed: 42 });
    const b = new DataLoader(new Counting(50), { batchSize: 8, shuffle: true, seed: 42 });
    const order = (bs: Batch[]) => bs.flatMap((x) => Array.from(x.indices));
    const a0 = order(await collect(a)), a1 = order(await collect(a));
    expect(a.epoch).toBe(2);
    expect(order(await collect(b))).toEqual(a0);
    expect(order(await collect(b))).toEqual(a1);
    expect(a1).not.toEqual(a0);
    for (const o of [a0, a1]) expect([...o].sort((x, y) => x - y)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(Array.from(a.order(0))).toEqual(a0);
    a.setEpoch(1);
    expect(order(await collect(a))).toEqual(a1);
    const c = new DataLoader(new Counting(50), { batchSize: 8, shuffle: true, seed: 43 });
    expect(order(await collect(c))).not.toEqual(a0);
    // The permutation is integer hashing only: pinned, so it is the same on every machine and release.
    expect(Array.from(new DataLoader(new Counting(12), { shuffle: true, seed: 7 }).order(3))).toEqual(PINNED_ORDER);
    // Batches carry the shuffled samples themselves.
    const first = (await collect(new DataLoader(new Counting(50), { batchSize: 8, shuffle: true, seed: 42 })))[0]!;
    expect(Array.from(first.y)).toEqual(a0.slice(0, 8).map((i) => i % 3));
    expect(Array.from(first.x.filter((_, k) => k % 2 === 0))).toEqual(a0.slice(0, 8));
  });

  it('applies the transform to each sample, with its index and epoch', async () => {
    const seen: string[] = [];
    const loader = new DataLoader(new Counting(5), {
      batchSize: 2,
      transform: (s, i, epoch) => {
        seen.push(`${i}@${epoch}`);
        return { x: Float32Array.of(s.x[0]! * 10, s.x[1]!, epoch), shape: [3], y: s.y + 1 };
      },
    });
    const bs = await collect(loader);
    expect(bs.map((b) => b.shape)).toEqual([[2, 3], [2, 3], [1, 3]]);
    expect(Array.from(bs[2]!.x)).toEqual([40, 4.5, 0]);
    expect(Array.from(bs[0]!.y)).toEqual([1, 2]);
    await collect(loader);
    expect(seen).toEqual(['0@0', '1@0', '2@0', '3@0', '4@0', '0@1', '1@1', '2@1', '3@1', '4@1']);
    // A dataset of other samples needs a transform that makes Samples.
    const raw: Dataset<number[]> = { length: 3, get: (i) => [i, i * 2] };
    await rejectsWith(collect(new DataLoader(raw, { batchSize: 2 })), ValueError, /sample 0 is not \{ x: Float32Array, shape: number\[\], y: number \} \(give a transform/);
    const ok = await collect(new DataLoader(raw, { batchSize: 2, transform: (v) => ({ x: Float32Array.from(v), shape: [2], y: v[0]! }) }));
    expect(Array.from(ok[1]!.x)).toEqual([2, 4]);
    const ragged: Dataset<Sample> = { length: 2, get: (i) => ({ x: new Float32Array(i + 1), shape: [i + 1], y: 0 }) };
    await rejectsWith(collect(new DataLoader(ragged, { batchSize: 2 })), ShapeError, /sample 1 has shape \[2\], but the batch's first sample has \[1\]/);
  });

  it('gives the same batches whatever prefetch is, and builds ahead while the consumer waits', async () => {
    const ref = await collect(new DataLoader(new Counting(23), { batchSize: 5, shuffle: true, seed: 1 }));
    for (const prefetch of [0, 1, 2, 5]) {
      const ds = new Counting(23);
      const loader = new DataLoader(ds, { batchSize: 5, shuffle: true, seed: 1, prefetch });
      const it = loader[Symbol.asyncIterator]();
      const got: Batch[] = [];
      let r = await it.next();
      expect(ds.gets.length).toBe(5); // the batch being consumed; prefetches wait for the event loop
      got.push(r.value as Batch);
      await sleep(30); // the consumer "works" (awaits): prefetched batches are built meanwhile
      expect(ds.gets.length).toBe(Math.min(23, 5 * (1 + prefetch)));
      while (!(r = await it.next()).done) got.push(r.value as Batch);
      expect(got).toEqual(ref);
      expect(ds.gets.length).toBe(23);
    }
  });

  it('delivers an error with the batch it belongs to, and stops building on break', async () => {
    const ds = new Counting(20, 13);
    const loader = new DataLoader(ds, { batchSize: 4, prefetch: 3 });
    const it = loader[Symbol.asyncIterator]();
    expect(Array.from(((await it.next()).value as Batch).indices)).toEqual([0, 1, 2, 3]);
    await sleep(20); // batches 1–3 are built ahead; batch 3 fails at sample 13
    expect(Array.from(((await it.next()).value as Batch).indices)).toEqual([4, 5, 6, 7]);
    expect(Array.from(((await it.next()).value as Batch).indices)).toEqual([8, 9, 10, 11]);
    await rejectsWith(it.next(), ValueError, /Counting: sample 13 is broken/);
    expect((await it.next()).done).toBe(true);

    const big = new Counting(1000);
    let n = 0;
    for await (const b of new DataLoader(big, { batchSize: 10, prefetch: 2 })) {
      expect(b.shape).toEqual([10, 2]);
      if (++n === 2) break;
    }
    await sleep(20);
    expect(big.gets.length).toBeLessThanOrEqual(40); // 2 consumed + at most 2 prefetched
  });

  it('validates its options', () => {
    const ds = new Counting(3);
    throwsWith(() => new DataLoader(ds, { batchSize: 0 }), ValueError, /batchSize must be a positive integer, got 0/);
    throwsWith(() => new DataLoader(ds, { seed: -1 }), ValueError, /seed must be an integer in \[0, 2\^32\), got -1/);
    throwsWith(() => new DataLoader(ds, { prefetch: 1.5 }), ValueError, /prefetch must be a non-negative integer/);
    throwsWith(() => new DataLoader({} as Dataset, {}), ValueError, /expected a Dataset/);
  });

  it('feeds tensors: batches become grilly tensors on the cpu backend', async () => {
    await grilly.init({ backend: 'cpu' });
    const [b] = await collect(new DataLoader(new EmbeddedMNIST({ split: 'test' }), { batchSize: 16 }));
    const x = grilly.tensor(b!.x, b!.shape);
    const y = grilly.tensor(b!.y, [b!.y.length], { dtype: 'int32' });
    expect(x.shape).toEqual([16, 1, 28, 28]);
    expect(y.dtype).toBe('int32');
    expect(await x.sum().item()).toBeCloseTo(b!.x.reduce((s, v) => s + v, 0), 1);
  });
});

// The order of new DataLoader(12 samples, { shuffle: true, seed: 7 }) in epoch 3.
const PINNED_ORDER = [7, 9, 3, 5, 8, 0, 4, 10, 2, 11, 1, 6];

// ---- EmbeddedMNIST -------------------------------------------------------------------------------

describe('EmbeddedMNIST', () => {
  it('has the fixed 8000/2000 split, labels 0–9 and images in [0, 1]', () => {
    const train = new EmbeddedMNIST({ split: 'train' });
    const test = new EmbeddedMNIST({ split: 'test' });
    expect([train.length, test.length, train.classes]).toEqual([8000, 2000, 10]);
    for (const ds of [train, test]) {
      const counts = new Array<number>(10).fill(0);
      let lo = Infinity, hi = -Infinity;
      for (let i = 0; i < ds.length; i++) {
        const s = ds.get(i);
        expect(Number.isInteger(s.y) && s.y >= 0 && s.y <= 9).toBe(true);
        counts[s.y]!++;
        if (i % 97 === 0) for (const v of s.x) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
      }
      expect(counts.every((c) => c > ds.length / 20)).toBe(true);
      expect([lo, hi]).toEqual([0, 1]);
    }
    const s = test.get(5);
    expect(s.shape).toEqual([1, 28, 28]);
    expect(Array.from(s.x)).toEqual(Array.from(loadEmbeddedMnist().test.images.subarray(5 * 784, 6 * 784)));
    s.x.fill(7); // a copy: the dataset is unchanged
    expect(test.get(5).x[0]).not.toBe(7);
    throwsWith(() => train.get(8000), ValueError, /EmbeddedMNIST.get: index 8000 is out of range \[0, 8000\)/);
  });
});
