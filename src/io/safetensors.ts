// Checkpoints in the safetensors format (https://github.com/huggingface/safetensors): an 8-byte
// little-endian header length N, N bytes of UTF-8 JSON describing each tensor, then the raw
// little-endian tensor bytes. Files are laid out exactly as the reference (Rust/Python) writer
// lays them out, so PyTorch reads grilly's checkpoints and grilly reads PyTorch's.
//
// Node's fs is imported lazily, inside save() and load(), so that importing grilly stays
// possible in a browser (where these two functions throw).
import type { Backend, DType } from '../backend/types.js';
import { GrillyError, StateError, ValueError, fmtShape } from '../errors.js';
import { MAX_RANK, numel } from '../shape.js';
import { Tensor } from '../tensor/tensor.js';
import { backendByKind, currentBackend } from '../runtime.js';

/** A checkpoint file that cannot be read or written: malformed, truncated, unsupported, or an I/O failure. */
export class CheckpointError extends GrillyError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message);
    if (options && 'cause' in options) this.cause = options.cause;
  }
}

/** The largest header the reference implementation accepts (and so the largest grilly reads or writes). */
export const MAX_HEADER_BYTES = 100_000_000;

export interface LoadOptions {
  /** The started backend to create the tensors on (default: the active one). */
  backend?: 'cpu' | 'webgpu';
}

export interface LoadResult {
  tensors: Record<string, Tensor>;
  /** The file's `__metadata__` (empty when it has none). */
  metadata: Record<string, string>;
}

// ---- dtypes ------------------------------------------------------------------------------------

type FileDType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

interface DTypeInfo {
  /** Bytes per element. */
  size: number;
  /** What grilly makes of it. */
  to: DType;
  /**
   * Position in the reference's dtype enum: its writer orders tensors by this, descending, then
   * by name. Only the relative order matters.
   */
  rank: number;
}

const DTYPES: Record<FileDType, DTypeInfo> = {
  BOOL: { size: 1, to: 'int32', rank: 0 },
  U8: { size: 1, to: 'int32', rank: 4 },
  I8: { size: 1, to: 'int32', rank: 5 },
  I16: { size: 2, to: 'int32', rank: 11 },
  F16: { size: 2, to: 'float32', rank: 13 },
  BF16: { size: 2, to: 'float32', rank: 14 },
  I32: { size: 4, to: 'int32', rank: 15 },
  F32: { size: 4, to: 'float32', rank: 17 },
  F64: { size: 8, to: 'float32', rank: 19 },
  I64: { size: 8, to: 'int32', rank: 20 },
};
const SUPPORTED = 'F32, I32, F16, BF16, F64, I64, I16, I8, U8, BOOL';

function isFileDType(s: string): s is FileDType {
  return Object.prototype.hasOwnProperty.call(DTYPES, s);
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** Reverses the bytes of each `size`-byte element in place (for big-endian hosts). */
function swapBytes(u8: Uint8Array, size: number): void {
  if (size === 1) return;
  for (let i = 0; i < u8.length; i += size) {
    for (let a = i, b = i + size - 1; a < b; a++, b--) {
      const t = u8[a]!;
      u8[a] = u8[b]!;
      u8[b] = t;
    }
  }
}

// ---- small helpers -----------------------------------------------------------------------------

const utf8 = new TextEncoder();

/** Orders strings by their UTF-8 bytes (= by code points), as Rust orders `String`s. */
function compareUtf8(a: string, b: string): number {
  const x = utf8.encode(a);
  const y = utf8.encode(b);
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
  return x.length - y.length;
}

/** A lone surrogate cannot be encoded as UTF-8, so the reference could not read such a name. */
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

function isPlainRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !ArrayBuffer.isView(v) && !(v instanceof Map);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  return `${typeof v} ${String(v)}`;
}

function quote(name: string): string {
  return JSON.stringify(name);
}

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

type FsPromises = typeof import('node:fs/promises');
type FileHandle = import('node:fs/promises').FileHandle;

async function nodeFs(op: string): Promise<FsPromises> {
  try {
    return await import('node:fs/promises');
  } catch (e) {
    throw new CheckpointError(`${op}: files need Node's fs module, which is not available here (${errorMessage(e)})`, { cause: e });
  }
}

/** Chunks of at most 1 GiB: one fs call cannot move more than 2 GiB. */
const IO_CHUNK = 1 << 30;

async function writeAll(fh: FileHandle, bytes: Uint8Array): Promise<void> {
  let done = 0;
  while (done < bytes.length) {
    const n = Math.min(IO_CHUNK, bytes.length - done);
    const { bytesWritten } = await fh.write(bytes, done, n);
    done += bytesWritten;
  }
}

/** Fills `dest` from the file at `position`; returns how many bytes there were (less at EOF). */
async function readAll(fh: FileHandle, dest: Uint8Array, position: number): Promise<number> {
  let done = 0;
  while (done < dest.length) {
    const n = Math.min(IO_CHUNK, dest.length - done);
    const { bytesRead } = await fh.read(dest, done, n, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done;
}

// ---- save --------------------------------------------------------------------------------------

interface SaveEntry {
  name: string;
  tensor: Tensor;
  dtype: 'F32' | 'I32';
  begin: number;
  end: number;
}

/** The header JSON, laid out as the reference writes it (compact, `__metadata__` first), padded to 8 bytes. */
function encodeHeader(entries: readonly SaveEntry[], metadata: Record<string, string> | undefined): Uint8Array {
  const parts: string[] = [];
  if (metadata !== undefined) {
    const keys = Object.keys(metadata).sort(compareUtf8);
    parts.push(`"__metadata__":{${keys.map((k) => `${quote(k)}:${quote(metadata[k]!)}`).join(',')}}`);
  }
  for (const e of entries) {
    parts.push(`${quote(e.name)}:{"dtype":"${e.dtype}","shape":[${e.tensor.shape.join(',')}],"data_offsets":[${e.begin},${e.end}]}`);
  }
  const json = utf8.encode(`{${parts.join(',')}}`);
  const padded = new Uint8Array(Math.ceil(json.length / 8) * 8).fill(0x20);
  padded.set(json);
  return padded;
}

function checkName(name: string, what: string, op: string): void {
  if (LONE_SURROGATE.test(name)) throw new ValueError(`${op}: ${what} ${quote(name)} contains a lone UTF-16 surrogate, which UTF-8 cannot encode`);
}

/**
 * Writes `tensors` (and optional string `metadata`) to `path` as a safetensors file. The values
 * are those the tensors hold when save() is called. The file is written to a temporary file
 * beside `path` and renamed over it once complete, so an existing checkpoint is never left
 * truncated or lost when saving fails.
 */
export async function save(path: string, tensors: Record<string, Tensor>, metadata?: Record<string, string>): Promise<void> {
  const op = 'save';
  if (typeof path !== 'string' || path === '') throw new ValueError(`${op}: path must be a non-empty string, got ${describe(path)}`);
  const where = `${op} ${quote(path)}`;
  if (!isPlainRecord(tensors) || tensors instanceof Tensor) {
    throw new ValueError(`${where}: tensors must be an object mapping names to tensors, got ${tensors instanceof Tensor ? 'a Tensor' : describe(tensors)}`);
  }
  if (metadata !== undefined) {
    if (!isPlainRecord(metadata)) throw new ValueError(`${where}: metadata must be an object of strings, got ${describe(metadata)}`);
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new ValueError(`${where}: metadata values must be strings (JSON.stringify other values), got ${describe(v)} for key ${quote(k)}`);
      checkName(k, 'metadata key', where);
      checkName(v, `metadata value of ${quote(k)}`, where);
    }
  }

  const entries: SaveEntry[] = [];
  for (const [name, t] of Object.entries(tensors)) {
    if (name === '__metadata__') throw new ValueError(`${where}: "__metadata__" is reserved by the format and cannot name a tensor`);
    checkName(name, 'tensor name', where);
    if (!(t instanceof Tensor)) throw new ValueError(`${where}: tensor ${quote(name)} is not a Tensor (got ${describe(t)})`);
    if (t.isDisposed) throw new StateError(`${where}: tensor ${quote(name)} ${fmtShape(t.shape)} was disposed and cannot be saved`);
    if (t.dtype !== 'float32' && t.dtype !== 'int32') throw new ValueError(`${where}: tensor ${quote(name)} has dtype ${String(t.dtype)}, which safetensors files from grilly do not hold`);
    entries.push({ name, tensor: t, dtype: t.dtype === 'int32' ? 'I32' : 'F32', begin: 0, end: 0 });
  }
  // The reference writer's order: dtype (descending, so F32 before I32), then name.
  entries.sort((a, b) => DTYPES[b.dtype].rank - DTYPES[a.dtype].rank || compareUtf8(a.name, b.name));
  let offset = 0;
  for (const e of entries) {
    e.begin = offset;
    offset += e.tensor.size * 4;
    e.end = offset;
  }
  const header = encodeHeader(entries, metadata);
  if (header.length > MAX_HEADER_BYTES) {
    throw new CheckpointError(`${where}: the header would take ${header.length} bytes, more than the ${MAX_HEADER_BYTES} that safetensors readers accept`);
  }

  // Ask for every tensor's values now, before the first await, so the file holds the values of
  // this moment even if the caller goes on changing the tensors while the file is written.
  const reads = entries.map((e) => e.tensor.data());
  for (const r of reads) r.catch(() => {}); // the failure is reported below, in order

  const fs = await nodeFs(where);
  const tmp = `${path}.tmp-${randomSuffix()}`;
  let fh: FileHandle | null = null;
  let created = false;
  try {
    try {
      fh = await fs.open(tmp, 'wx');
      created = true;
      const prefix = new Uint8Array(8 + header.length);
      new DataView(prefix.buffer).setBigUint64(0, BigInt(header.length), true);
      prefix.set(header, 8);
      await writeAll(fh, prefix);
    } catch (e) {
      throw new CheckpointError(`${where}: could not write the temporary file ${quote(tmp)}: ${errorMessage(e)}`, { cause: e });
    }
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      let values: Float32Array | Int32Array;
      try {
        values = await reads[i]!;
      } catch (err) {
        throw new CheckpointError(`${where}: could not read tensor ${quote(e.name)} ${fmtShape(e.tensor.shape)} from the device: ${errorMessage(err)}`, { cause: err });
      }
      if (values.byteLength !== e.end - e.begin) {
        throw new CheckpointError(`${where}: tensor ${quote(e.name)} ${fmtShape(e.tensor.shape)} gave ${values.byteLength} bytes, expected ${e.end - e.begin}`);
      }
      let bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
      if (!LITTLE_ENDIAN) {
        bytes = bytes.slice();
        swapBytes(bytes, 4);
      }
      try {
        await writeAll(fh!, bytes);
      } catch (err) {
        throw new CheckpointError(`${where}: could not write to ${quote(tmp)}: ${errorMessage(err)}`, { cause: err });
      }
    }
    try {
      await fh!.sync();
      await fh!.close();
      fh = null;
      await fs.rename(tmp, path);
      created = false;
    } catch (err) {
      throw new CheckpointError(`${where}: could not move the finished file into place: ${errorMessage(err)}`, { cause: err });
    }
  } catch (err) {
    if (fh) await fh.close().catch(() => {});
    if (created) await fs.rm(tmp, { force: true }).catch(() => {});
    if (err instanceof CheckpointError) err.message += ` (${quote(path)} was left as it was)`;
    throw err;
  }
  await syncDirectory(fs, path);
}

function randomSuffix(): string {
  const b = new Uint8Array(8);
  globalThis.crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

/** Makes the rename durable where the platform allows (Linux, macOS); best effort elsewhere. */
async function syncDirectory(fs: FsPromises, path: string): Promise<void> {
  const slash = Math.max(path.lastIndexOf('/'), path.lastIndexOf('\\'));
  const dir = slash < 0 ? '.' : slash === 0 ? path.slice(0, 1) : path.slice(0, slash);
  let d: FileHandle | null = null;
  try {
    d = await fs.open(dir, 'r');
    await d.sync();
  } catch {
    // not supported (Windows) or not permitted: the file itself is complete and in place.
  } finally {
    await d?.close().catch(() => {});
  }
}

// ---- load --------------------------------------------------------------------------------------

interface LoadEntry {
  name: string;
  dtype: FileDType;
  shape: number[];
  begin: number;
  end: number;
}

function parseEntry(name: string, v: unknown, fail: (msg: string) => CheckpointError): LoadEntry {
  const t = `tensor ${quote(name)}`;
  if (!isPlainRecord(v)) throw fail(`${t}: expected an object with dtype, shape and data_offsets, got ${describe(v)}`);
  for (const k of ['dtype', 'shape', 'data_offsets']) {
    if (!(k in v)) throw fail(`${t} has no "${k}" (each tensor needs dtype, shape and data_offsets)`);
  }
  const dtype = v.dtype;
  if (typeof dtype !== 'string') throw fail(`${t}: dtype must be a string, got ${describe(dtype)}`);
  if (!isFileDType(dtype)) throw fail(`${t} has dtype ${quote(dtype)}, which grilly cannot load (supported: ${SUPPORTED})`);
  const shape = v.shape;
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) {
    throw fail(`${t}: shape must be an array of non-negative integers, got ${JSON.stringify(shape)}`);
  }
  if (shape.length > MAX_RANK) throw fail(`${t} has ${shape.length} dims ${fmtShape(shape)}; grilly supports at most ${MAX_RANK}`);
  const offs = v.data_offsets;
  if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isSafeInteger(o) && (o as number) >= 0)) {
    throw fail(`${t}: data_offsets must be [begin, end] with non-negative integers, got ${JSON.stringify(offs)}`);
  }
  const [begin, end] = offs as [number, number];
  if (end < begin) throw fail(`${t}: data_offsets [${begin}, ${end}] end before they begin`);
  const need = numel(shape as number[]) * DTYPES[dtype].size;
  if (end - begin !== need) {
    throw fail(`${t}: data_offsets [${begin}, ${end}] span ${end - begin} bytes, but shape ${fmtShape(shape as number[])} of ${dtype} needs ${need}`);
  }
  return { name, dtype, shape: shape as number[], begin, end };
}

/** Decodes one tensor's bytes (a fresh, aligned buffer) into grilly's float32 or int32 values. */
function decode(e: LoadEntry, u8: Uint8Array, fail: (msg: string) => CheckpointError): Float32Array | Int32Array {
  const { size } = DTYPES[e.dtype];
  if (!LITTLE_ENDIAN) swapBytes(u8, size);
  const buf = u8.buffer;
  const n = u8.length / size;
  switch (e.dtype) {
    case 'F32':
      return new Float32Array(buf, 0, n);
    case 'I32':
      return new Int32Array(buf, 0, n);
    case 'F64':
      return Float32Array.from(new Float64Array(buf, 0, n));
    case 'F16': {
      const src = new Uint16Array(buf, 0, n);
      const out = new Float32Array(n);
      const bits = new Uint32Array(out.buffer);
      for (let i = 0; i < n; i++) {
        const h = src[i]!;
        const sign = (h & 0x8000) << 16;
        const exp = (h >> 10) & 0x1f;
        const mant = h & 0x3ff;
        if (exp === 0x1f) bits[i] = (sign | 0x7f800000 | (mant << 13)) >>> 0;
        else if (exp !== 0) bits[i] = (sign | ((exp + 112) << 23) | (mant << 13)) >>> 0;
        else out[i] = (sign ? -mant : mant) * 2 ** -24; // zero and subnormals, exact in float32
      }
      return out;
    }
    case 'BF16': {
      const src = new Uint16Array(buf, 0, n);
      const out = new Float32Array(n);
      const bits = new Uint32Array(out.buffer);
      for (let i = 0; i < n; i++) bits[i] = src[i]! << 16;
      return out;
    }
    case 'I64': {
      const w = new Uint32Array(buf, 0, 2 * n);
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        const lo = w[2 * i]!;
        const hi = w[2 * i + 1]! | 0;
        if ((hi === 0 && lo <= 0x7fffffff) || (hi === -1 && lo >= 0x80000000)) out[i] = lo | 0;
        else {
          const v = (BigInt(hi) << 32n) | BigInt(lo);
          throw fail(`tensor ${quote(e.name)} (I64) holds ${v} at index ${i}, which does not fit grilly's int32`);
        }
      }
      return out;
    }
    case 'I16':
      return Int32Array.from(new Int16Array(buf, 0, n));
    case 'I8':
      return Int32Array.from(new Int8Array(buf, 0, n));
    case 'U8':
      return Int32Array.from(u8);
    case 'BOOL':
      return Int32Array.from(u8, (b) => (b ? 1 : 0));
  }
}

/**
 * Reads a safetensors file into tensors on the active backend (or `opts.backend`). F32 and I32
 * are read as they are; F16, BF16 and F64 become float32; I64, I16, I8, U8 and BOOL become int32
 * (an I64 value outside int32 is an error). The whole file is checked before any tensor is
 * made: a malformed, truncated or unsupported file throws a CheckpointError and yields nothing.
 */
export async function load(path: string, opts: LoadOptions = {}): Promise<LoadResult> {
  const op = 'load';
  if (typeof path !== 'string' || path === '') throw new ValueError(`${op}: path must be a non-empty string, got ${describe(path)}`);
  const where = `${op} ${quote(path)}`;
  if (!isPlainRecord(opts)) throw new ValueError(`${where}: options must be an object, got ${describe(opts)}`);
  if (opts.backend !== undefined && opts.backend !== 'cpu' && opts.backend !== 'webgpu') {
    throw new ValueError(`${where}: backend must be 'cpu' or 'webgpu', got ${describe(opts.backend)}`);
  }
  const backend: Backend = opts.backend ? backendByKind(opts.backend, op) : currentBackend(op);
  const fail = (msg: string): CheckpointError => new CheckpointError(`${where}: ${msg}`);

  const fs = await nodeFs(where);
  let fh: FileHandle;
  try {
    fh = await fs.open(path, 'r');
  } catch (e) {
    throw new CheckpointError(`${where}: could not open the file: ${errorMessage(e)}`, { cause: e });
  }
  let entries: LoadEntry[];
  let metadata: Record<string, string>;
  const hosts: (Float32Array | Int32Array)[] = [];
  try {
    const fileSize = (await fh.stat()).size;
    if (fileSize < 8) throw fail(`the file has ${fileSize} bytes, too short for the 8-byte header length of a safetensors file`);
    const lenBytes = new Uint8Array(8);
    await readAll(fh, lenBytes, 0);
    const n64 = new DataView(lenBytes.buffer).getBigUint64(0, true);
    if (n64 > BigInt(MAX_HEADER_BYTES)) throw fail(`the header length ${n64} is larger than the ${MAX_HEADER_BYTES}-byte limit (not a safetensors file, or a corrupt one)`);
    const n = Number(n64);
    if (8 + n > fileSize) throw fail(`the header length ${n} is larger than the file (${fileSize} bytes): the file is truncated or not a safetensors file`);
    const headerBytes = new Uint8Array(n);
    if ((await readAll(fh, headerBytes, 8)) !== n) throw fail(`the file ended inside the ${n}-byte header: it is truncated`);
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
    } catch {
      throw fail('the header is not valid UTF-8');
    }
    let header: unknown;
    try {
      header = JSON.parse(text);
    } catch (e) {
      throw fail(`the header is not valid JSON (${errorMessage(e)})`);
    }
    if (!isPlainRecord(header)) throw fail(`the header must be a JSON object, got ${describe(header)}`);

    metadata = {};
    entries = [];
    for (const [name, v] of Object.entries(header)) {
      if (name === '__metadata__') {
        if (v === null) continue;
        if (!isPlainRecord(v)) throw fail(`"__metadata__" must be an object of strings, got ${describe(v)}`);
        for (const [k, s] of Object.entries(v)) {
          if (typeof s !== 'string') throw fail(`"__metadata__" values must be strings, got ${describe(s)} for key ${quote(k)}`);
        }
        metadata = Object.fromEntries(Object.entries(v as Record<string, string>));
        continue;
      }
      entries.push(parseEntry(name, v, fail));
    }

    // The tensors must tile the byte buffer exactly: no overlap, no hole, nothing after the last.
    const dataBytes = fileSize - 8 - n;
    const byOffset = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
    for (const e of byOffset) {
      if (e.end > dataBytes) {
        throw fail(
          `tensor ${quote(e.name)} has data_offsets [${e.begin}, ${e.end}] beyond the ${dataBytes} bytes of data the file holds after its header: ` +
            'the file is truncated or its offsets are wrong',
        );
      }
    }
    let at = 0;
    let prev: LoadEntry | null = null;
    for (const e of byOffset) {
      if (e.begin < at) throw fail(`tensors ${quote(prev!.name)} [${prev!.begin}, ${prev!.end}] and ${quote(e.name)} [${e.begin}, ${e.end}] overlap in the data`);
      if (e.begin > at) {
        throw fail(`bytes [${at}, ${e.begin}) of the data belong to no tensor (a hole before ${quote(e.name)}); the tensors must cover the data exactly`);
      }
      at = e.end;
      prev = e;
    }
    if (at !== dataBytes) {
      const extra = dataBytes - at;
      throw fail(`the tensors cover ${at} bytes of data but the file holds ${dataBytes} after its header (${extra === 1 ? '1 byte belongs' : `${extra} bytes belong`} to no tensor)`);
    }

    for (const e of entries) {
      const bytes = new Uint8Array(e.end - e.begin);
      if ((await readAll(fh, bytes, 8 + n + e.begin)) !== bytes.length) throw fail(`the file ended inside tensor ${quote(e.name)}: it is truncated`);
      hosts.push(decode(e, bytes, fail));
    }
  } catch (e) {
    if (e instanceof GrillyError) throw e;
    throw new CheckpointError(`${where}: could not read the file: ${errorMessage(e)}`, { cause: e });
  } finally {
    await fh.close().catch(() => {});
  }

  // Everything checked and decoded: only now make tensors (and undo them if the device refuses).
  const made: [string, Tensor][] = [];
  try {
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      const host = hosts[i]!;
      const t = Tensor.empty(e.shape, DTYPES[e.dtype].to, op, backend);
      made.push([e.name, t]);
      if (host.length) backend.write(t.storage(op).handle, host);
    }
  } catch (e) {
    for (const [, t] of made) t.dispose();
    throw e;
  }
  return { tensors: Object.fromEntries(made), metadata };
}
