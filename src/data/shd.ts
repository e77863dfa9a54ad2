// The Spiking Heidelberg Digits (Cramer et al. 2020): HDF5 files (shd_train.h5, shd_test.h5) with
//   spikes/times  vlen float (seconds; float16 in the release), one variable-length array per sample
//   spikes/units  vlen uint16, the firing channel (0–699) of each spike, parallel to times
//   labels        integer class, 0–19
// read with h5wasm (the HDF5 C library compiled to WebAssembly), binned into (T, 700) spike counts.
//
// h5wasm is imported on the first SHD.open, so importing grilly/data does not load it.
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { StateError, ValueError } from '../errors.js';
import { DatasetError, errorMessage } from './errors.js';
import { checkChoice, checkIndex, checkPositiveInt, type Dataset, type Sample } from './dataset.js';
import { segmentIndices } from './events.js';

type H5 = typeof import('h5wasm/node');
type H5File = InstanceType<H5['File']>;
type H5Module = Awaited<H5['ready']>;

let loading: Promise<{ h5: H5; M: H5Module }> | null = null;
function loadH5wasm(): Promise<{ h5: H5; M: H5Module }> {
  loading ??= (async () => {
    const h5 = await import('h5wasm/node');
    const M = await h5.ready;
    return { h5, M };
  })();
  return loading;
}

export type SHDBinning = 'fixed' | 'time' | 'number';

export interface SHDOptions {
  /** Path of an SHD HDF5 file (shd_train.h5 or shd_test.h5, gunzipped). */
  file: string;
  /** Time bins per sample. */
  T: number;
  /**
   * 'fixed' (default): T bins of `dt` seconds from t = 0 (the start of the recording, the same grid for
   * every sample); spike → bin ⌊t / dt⌋, spikes with ⌊t / dt⌋ ≥ T are dropped.
   * 'time': SpikingJelly's SHD frames_number with split_by='time': per sample, T equal windows from
   * its first to its last spike, dt = (t[N−1] − t[0]) / T, the last bin also taking the spikes at or after
   * t[0] + T·dt. 'number': split_by='number': T bins of ⌊N / T⌋ consecutive spikes, the remainder to the last.
   */
  binning?: SHDBinning;
  /** 'fixed': seconds per bin (default duration / T). */
  dt?: number;
  /** 'fixed': seconds covered by the T bins when `dt` is not given (default 1.4; SHD digits last < 1.4 s). */
  duration?: number;
  /** Input channels (default 700). */
  channels?: number;
}

/** Spike trains of one sample: times in seconds (widened to float64) and their channels. */
export interface SHDSpikes {
  times: Float64Array;
  units: Int32Array;
}

interface VlenInfo {
  path: string;
  kind: 'float' | 'int';
  size: number;
  signed: boolean;
}

/**
 * Spiking Heidelberg Digits from one HDF5 file: sample i is (T, channels) spike counts (float32) and
 * its label. `await SHD.open({ file, T })` opens the file (it stays open; `close()` releases it),
 * checks the layout and reads the labels; spikes are read per sample in `get`.
 */
export class SHD implements Dataset<Sample> {
  readonly file: string;
  readonly T: number;
  readonly binning: SHDBinning;
  /** 'fixed': seconds per bin. */
  readonly dt: number;
  readonly channels: number;
  readonly length: number;
  /** Largest label + 1 (20 for SHD). */
  readonly classes: number;
  readonly labels: Int32Array;
  readonly shape: readonly number[];
  #f: H5File | null;
  readonly #M: H5Module;
  readonly #times: VlenInfo;
  readonly #units: VlenInfo;

  private constructor(file: string, opts: Required<Omit<SHDOptions, 'duration'>>, f: H5File, M: H5Module, labels: Int32Array, times: VlenInfo, units: VlenInfo) {
    this.file = file;
    this.T = opts.T;
    this.binning = opts.binning;
    this.dt = opts.dt;
    this.channels = opts.channels;
    this.#f = f;
    this.#M = M;
    this.labels = labels;
    this.length = labels.length;
    let max = -1;
    for (const l of labels) if (l > max) max = l;
    this.classes = max + 1;
    this.#times = times;
    this.#units = units;
    this.shape = [this.T, this.channels];
  }

  static async open(options: SHDOptions): Promise<SHD> {
    const where = 'SHD';
    const T = checkPositiveInt(where, 'T', options?.T);
    const binning = checkChoice(where, 'binning', options.binning ?? 'fixed', ['fixed', 'time', 'number'] as const);
    const channels = checkPositiveInt(where, 'channels', options.channels ?? 700);
    const duration = options.duration ?? 1.4;
    if (!(typeof duration === 'number' && duration > 0 && Number.isFinite(duration))) throw new ValueError(`${where}: duration must be a positive number of seconds, got ${JSON.stringify(options.duration)}`);
    const dt = options.dt ?? duration / T;
    if (!(typeof dt === 'number' && dt > 0 && Number.isFinite(dt))) throw new ValueError(`${where}: dt must be a positive number of seconds, got ${JSON.stringify(options.dt)}`);
    if (typeof options.file !== 'string' || options.file === '') throw new ValueError(`${where}: file must be a path, got ${JSON.stringify(options.file)}`);
    const file = resolve(options.file);
    if (!existsSync(file) || !statSync(file).isFile()) {
      const hint = existsSync(`${file}.gz`) ? ` (${file}.gz exists: gunzip it first)` : '';
      throw new DatasetError(`${where}: file not found: ${file}${hint}`);
    }
    if (file.endsWith('.gz')) throw new DatasetError(`${where}: ${file} is gzipped; gunzip it first (h5wasm reads plain HDF5 files)`);
    const { h5, M } = await loadH5wasm();
    return withH5Errors(M, () => {
      let f: H5File;
      try {
        f = new h5.File(file, 'r');
      } catch (e) {
        throw new DatasetError(`${where}: ${file}: not a readable HDF5 file (${lastH5Line(e)})`, { cause: e });
      }
      if (f.file_id < 0n) throw new DatasetError(`${where}: ${file}: not a readable HDF5 file`);
      try {
        const dataset = (path: string) => {
          let e: ReturnType<H5File['get']>;
          try {
            e = f.get(path);
          } catch {
            e = null;
          }
          if (!(e instanceof h5.Dataset)) throw new DatasetError(`${where}: ${file}: no dataset ${path} (an SHD file has spikes/times, spikes/units and labels)`);
          return e;
        };
        const lab = dataset('labels');
        const lm = lab.metadata;
        if (lm.type !== M.H5T_class_t.H5T_INTEGER.value || lm.shape?.length !== 1) {
          throw new DatasetError(`${where}: ${file}: labels must be a 1-D integer dataset, found ${describe(lm)}`);
        }
        const raw = lab.value as ArrayLike<number | bigint>;
        const labels = Int32Array.from({ length: raw.length }, (_, i) => Number(raw[i]));
        const n = labels.length;
        const vlen = (path: string, kind: 'float' | 'int'): VlenInfo => {
          const m = dataset(path).metadata;
          const base = m.vlen_type;
          const baseOk = base && (kind === 'float'
            ? base.type === M.H5T_class_t.H5T_FLOAT.value && [2, 4, 8].includes(base.size)
            : base.type === M.H5T_class_t.H5T_INTEGER.value && [1, 2, 4, 8].includes(base.size));
          if (m.type !== M.H5T_class_t.H5T_VLEN.value || m.shape?.length !== 1 || !base || !baseOk || !base.littleEndian) {
            throw new DatasetError(`${where}: ${file}: ${path} must be a 1-D variable-length (vlen) dataset of ${kind === 'float' ? 'floats' : 'integers'}, one array per sample as in the SHD release; found ${describe(m)}`);
          }
          if (m.shape[0] !== n) throw new DatasetError(`${where}: ${file}: ${path} holds ${m.shape[0]} samples but labels holds ${n}`);
          return { path, kind, size: base.size, signed: base.signed };
        };
        const times = vlen('spikes/times', 'float');
        const units = vlen('spikes/units', 'int');
        return new SHD(file, { file, T, binning, dt, channels }, f, M, labels, times, units);
      } catch (e) {
        f.close();
        throw e;
      }
    });
  }

  /** The spikes of sample i. */
  spikes(index: number): SHDSpikes {
    checkIndex('SHD.spikes', index, this.length);
    const f = this.#f;
    if (!f) throw new StateError(`SHD: ${this.file} was closed`);
    const M = this.#M;
    return withH5Errors(M, () => {
      const t = readVlenRow(M, f.file_id, this.#times, index, this.file);
      const u = readVlenRow(M, f.file_id, this.#units, index, this.file);
      if (t.length !== u.length) {
        throw new DatasetError(`SHD: ${this.file}: sample ${index} has ${t.length} spike times but ${u.length} units`);
      }
      return { times: Float64Array.from(t), units: Int32Array.from(u) };
    });
  }

  get(index: number): Sample {
    const { times, units } = this.spikes(index);
    const T = this.T, C = this.channels;
    const x = new Float32Array(T * C);
    for (let k = 0; k < units.length; k++) {
      const u = units[k]!;
      if (u < 0 || u >= C) throw new DatasetError(`SHD: ${this.file}: sample ${index}, spike ${k}: unit ${u} outside [0, ${C})`);
      const t = times[k]!;
      if (!Number.isFinite(t)) throw new DatasetError(`SHD: ${this.file}: sample ${index}, spike ${k}: time ${t} is not finite`);
    }
    if (this.binning === 'fixed') {
      for (let k = 0; k < units.length; k++) {
        const t = times[k]!;
        if (t < 0) throw new DatasetError(`SHD: ${this.file}: sample ${index}, spike ${k}: negative time ${t}`);
        const bin = Math.floor(t / this.dt);
        if (bin < T) x[bin * C + units[k]!] += 1;
      }
    } else {
      const { jl, jr } = segmentIndices(times, T, this.binning, { dt: 'exact' });
      for (let i = 0; i < T; i++) {
        for (let k = jl[i]!; k < jr[i]!; k++) x[i * C + units[k]!] += 1;
      }
    }
    return { x, shape: this.shape, y: this.labels[index]! };
  }

  /** Closes the HDF5 file; `get` throws a StateError afterwards. */
  close(): void {
    if (!this.#f) return;
    const f = this.#f;
    this.#f = null;
    withH5Errors(this.#M, () => f.close());
  }
}

/** Runs fn with HDF5 errors thrown (not printed to stderr), restoring the default handler after. */
function withH5Errors<R>(M: H5Module, fn: () => R): R {
  M.activate_throwing_error_handler();
  try {
    return fn();
  } finally {
    M.deactivate_throwing_error_handler();
  }
}

/** The most specific line of an HDF5 error stack ("unable to read superblock"), or the message. */
function lastH5Line(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  const lines = m.split('\n').map((l) => l.trim()).filter((l) => /^#\d+:/.test(l));
  const last = lines[lines.length - 1];
  return last ? last.replace(/^#\d+:.*? in [\w]+\(\): /, '') : errorMessage(e);
}

const H5T_CLASSES = ['integer', 'float', 'time', 'string', 'bitfield', 'opaque', 'compound', 'reference', 'enum', 'vlen', 'array'];

/** "2-D float32", "1-D vlen of uint16": what a dataset is, for messages. */
function describe(m: { type: number; size: number; signed: boolean; shape: number[] | null; vlen_type?: { type: number; size: number; signed: boolean } }): string {
  const name = (t: { type: number; size: number; signed: boolean }) => {
    const cls = H5T_CLASSES[t.type] ?? `class ${t.type}`;
    return t.type === 0 ? `${t.signed ? 'int' : 'uint'}${t.size * 8}` : t.type === 1 ? `float${t.size * 8}` : cls;
  };
  return `${m.shape?.length ?? 0}-D ${m.vlen_type ? `vlen of ${name(m.vlen_type)}` : name(m)}`;
}

/** IEEE half → number (exact). */
function halfToNumber(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

/**
 * Row `index` of a 1-D vlen dataset, read through h5wasm's Module API (its high-level reader has no
 * float16, the type of SHD's spike times): the hvl_t {length, pointer} is read into wasm memory,
 * the values decoded from there, and HDF5's allocation reclaimed.
 */
function readVlenRow(M: H5Module, fileId: bigint, info: VlenInfo, index: number, file: string): number[] {
  const ptr = M._malloc(8);
  if (!ptr) throw new DatasetError(`SHD: ${file}: out of WebAssembly memory reading ${info.path}[${index}]`);
  M.HEAPU8.fill(0, ptr, ptr + 8);
  const count = [1n];
  try {
    let status: number;
    try {
      status = M.get_dataset_data(fileId, info.path, count, [BigInt(index)], [1n], BigInt(ptr));
    } catch (e) {
      throw new DatasetError(`SHD: ${file}: cannot read ${info.path}[${index}] (${lastH5Line(e)})`, { cause: e });
    }
    if (status < 0) throw new DatasetError(`SHD: ${file}: cannot read ${info.path}[${index}]`);
    const head = new DataView(M.HEAPU8.buffer, ptr, 8);
    const len = head.getUint32(0, true);
    const dptr = head.getUint32(4, true);
    const bytes = M.HEAPU8.slice(dptr, dptr + len * info.size);
    const v = new DataView(bytes.buffer);
    const out = new Array<number>(len);
    const { size, signed } = info;
    for (let i = 0, o = 0; i < len; i++, o += size) {
      if (info.kind === 'float') {
        out[i] = size === 2 ? halfToNumber(v.getUint16(o, true)) : size === 4 ? v.getFloat32(o, true) : v.getFloat64(o, true);
      } else {
        out[i] = size === 1 ? (signed ? v.getInt8(o) : v.getUint8(o))
          : size === 2 ? (signed ? v.getInt16(o, true) : v.getUint16(o, true))
          : size === 4 ? (signed ? v.getInt32(o, true) : v.getUint32(o, true))
          : Number(signed ? v.getBigInt64(o, true) : v.getBigUint64(o, true));
      }
    }
    return out;
  } finally {
    M.reclaim_vlen_memory_count(fileId, info.path, '', BigInt(ptr), count);
    M._free(ptr);
  }
}
