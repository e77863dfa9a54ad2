// Checkpoints in the safetensors format: bit-exact round trips, the reference byte layout (files
// hand-assembled in test/fixtures/safetensors/build.ts, and one written by PyTorch), an
// independent reader of grilly's own files, every corruption the loader must refuse, and the
// atomic write.
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as g from '../src/index.js';
import type { Tensor } from '../src/index.js';
import { CheckpointError, load, save } from '../src/io/index.js';
import { BACKENDS, useBackend } from './helpers.js';
import { FIXTURES, FIXTURE_DIR, METADATA, allDtypes, assemble, f32, f32i32, i32, i64, type RawTensor } from './fixtures/safetensors/build.js';

let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'grilly-safetensors-'));
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

let fileNo = 0;
/** A fresh path in the temporary directory. */
function fresh(label = 'f'): string {
  return join(dir, `${label}-${fileNo++}.safetensors`);
}

async function writeBytes(bytes: Uint8Array | string): Promise<string> {
  const p = fresh('input');
  await writeFile(p, bytes);
  return p;
}

/** The bits of float32 values, so NaN payloads and -0 compare exactly. */
function bits(a: Float32Array | Int32Array): number[] {
  return Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));
}

function f32Bits(values: readonly number[]): Float32Array {
  return new Float32Array(new Uint32Array(values).buffer);
}

/** A header (string or object) with a u64 length in front and `data` behind. */
function withHeader(header: string | object, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const json = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header), 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  return new Uint8Array(Buffer.concat([len, json, Buffer.from(data)]));
}

/** Top-level keys of a JSON object in the order they appear in the text (independent of JS key ordering). */
function topLevelKeys(json: string): string[] {
  const keys: string[] = [];
  let depth = 0;
  for (let i = 0; i < json.length; i++) {
    const c = json[i]!;
    if (c === '"') {
      let j = i + 1;
      while (json[j] !== '"') j += json[j] === '\\' ? 2 : 1;
      const s = JSON.parse(json.slice(i, j + 1)) as string;
      let k = j + 1;
      while (json[k] === ' ') k++;
      if (depth === 1 && json[k] === ':') keys.push(s);
      i = j;
    } else if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') depth--;
  }
  return keys;
}

/** An independent reader: parses the layout by hand and returns what it found. */
function parseByHand(bytes: Uint8Array): {
  n: number;
  json: string;
  keys: string[];
  header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  metadata: unknown;
  data: Uint8Array;
} {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  const n = Number(buf.readBigUInt64LE(0));
  const text = buf.subarray(8, 8 + n).toString('utf8');
  const json = text.trimEnd();
  const { __metadata__: metadata, ...header } = JSON.parse(json) as Record<string, never>;
  return { n, json, keys: topLevelKeys(json), header, metadata, data: new Uint8Array(buf.subarray(8 + n)) };
}

async function expectCheckpointError(p: string, pattern: RegExp): Promise<CheckpointError> {
  const err = await load(p).then(
    (r) => {
      throw new Error(`load(${p}) should have failed but returned ${Object.keys(r.tensors).length} tensors`);
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CheckpointError);
  expect(err).toBeInstanceOf(g.GrillyError);
  const msg = (err as Error).message;
  expect(msg, 'the message names the file').toContain(p);
  expect(msg).toMatch(pattern);
  return err as CheckpointError;
}

async function tmpLeftovers(d: string): Promise<string[]> {
  return (await readdir(d)).filter((f) => f.includes('.tmp-'));
}

// ---- files that need no backend ---------------------------------------------------------------

describe('safetensors fixtures', () => {
  it('the committed fixtures are what build.ts assembles', () => {
    for (const [name, make] of Object.entries(FIXTURES)) {
      const committed = new Uint8Array(readFileSync(join(FIXTURE_DIR, name)));
      expect(Buffer.compare(Buffer.from(committed), Buffer.from(make())), `${name} differs from build.ts; rerun npx tsx test/fixtures/safetensors/build.ts`).toBe(0);
    }
  });

  it('the hand assembler reproduces the reference implementation\'s own test vectors', () => {
    // The header of one [1, 2, 3] F32 tensor named "attn.0" is 64 bytes: no padding.
    const attn = assemble([{ name: 'attn.0', dtype: 'F32', shape: [1, 2, 3], bytes: f32([0, 1, 2, 3, 4, 5]) }]);
    const h = parseByHand(attn);
    expect(h.n).toBe(64);
    expect(h.json).toBe('{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}');
    // "attn0" [1, 1, 2, 3]: 65 bytes of JSON padded with 7 spaces to 72.
    const attn0 = assemble([{ name: 'attn0', dtype: 'F32', shape: [1, 1, 2, 3], bytes: f32([0, 1, 2, 3, 4, 5]) }]);
    expect(parseByHand(attn0).n).toBe(72);
    expect(Buffer.from(attn0.subarray(8 + 65, 8 + 72)).toString()).toBe('       ');
    // No tensors: "{}" and six spaces; with metadata framework=pt, 35 bytes padded to 40.
    expect(Array.from(assemble([]))).toEqual([8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32]);
    const meta = assemble([], { framework: 'pt' });
    expect(parseByHand(meta).n).toBe(40);
    expect(Buffer.from(meta.subarray(8)).toString()).toBe('{"__metadata__":{"framework":"pt"}}     ');
  });
});

// ---- everything that makes or reads tensors, on each backend ---------------------------------

describe.each(BACKENDS)('safetensors on %s', (backend) => {
  useBackend(backend);

  it('round trips float32 and int32 bit-exactly, with metadata', async () => {
    const specials = f32Bits([
      0x7fc00000, 0xffc00000, 0x7fc00001, 0x7f800001, // NaNs: quiet, negative, with payloads (one signalling)
      0x7f800000, 0xff800000, 0x80000000, 0x00000000, // ±Infinity, -0, +0
      0x00000001, 0x807fffff, 0x00400000, // subnormals
      0x7f7fffff, 0xff7fffff, 0x00800000, 0x3eaaaaab, // extremes, smallest normal, 1/3
    ]);
    const ints = new Int32Array([-2147483648, 2147483647, 0, -1, 1, 123456789]);
    const tensors: Record<string, Tensor> = {
      specials: g.tensor(specials, [3, 5]),
      scalar: g.tensor(f32Bits([0x80000000]), []),
      empty: g.zeros([0]),
      'empty.3d': g.zeros([2, 0, 3]),
      rank8: g.tensor(Float32Array.from({ length: 6 }, (_, i) => i - 2.5), [1, 1, 1, 1, 1, 1, 2, 3]),
      ints: g.tensor(ints, [2, 3]),
      'int.scalar': g.tensor(new Int32Array([-7]), [], { dtype: 'int32' }),
      'int.empty': g.zeros([3, 0], { dtype: 'int32' }),
      'state.0.exp_avg': g.tensor(new Float32Array([1e-30, -1e30]), [2]),
      ['__proto__']: g.tensor(new Float32Array([0.25]), [1]), // an own key, not the prototype
    };
    expect(Object.keys(tensors)).toContain('__proto__');
    const metadata = {
      format: 'pt',
      param_groups: JSON.stringify([{ lr: 0.001, betas: [0.9, 0.999], params: [0, 1], name: 'a "quoted"\nname' }]),
      '': 'empty key',
      empty: '',
      unicode: 'ünïcødé ✓ 𝄞 \u2028 \u007f \u0001 \\ /',
    };
    const p = fresh();
    await save(p, tensors, metadata);
    const { tensors: back, metadata: meta } = await load(p);
    expect(meta).toEqual(metadata);
    expect(Object.keys(back).sort()).toEqual(Object.keys(tensors).sort());
    for (const [name, t] of Object.entries(tensors)) {
      const u = back[name]!;
      expect([...u.shape], name).toEqual([...t.shape]);
      expect(u.dtype, name).toBe(t.dtype);
      expect(u.requiresGrad, name).toBe(false);
      expect(u.backend.kind, name).toBe(backend);
      expect(bits(await u.data()), name).toEqual(bits(await t.data()));
    }
  });

  it('writes {} with no tensors and reads back no metadata when none was given', async () => {
    const p = fresh();
    await save(p, {});
    expect(Array.from(await readFile(p))).toEqual([8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32]);
    expect(await load(p)).toEqual({ tensors: {}, metadata: {} });
  });

  it('writes the same bytes as the reference implementation', async () => {
    const attn = fresh();
    await save(attn, { 'attn.0': g.tensor([0, 1, 2, 3, 4, 5], [1, 2, 3]) });
    expect(Buffer.compare(await readFile(attn), Buffer.from(assemble([{ name: 'attn.0', dtype: 'F32', shape: [1, 2, 3], bytes: f32([0, 1, 2, 3, 4, 5]) }])))).toBe(0);

    const meta = fresh();
    await save(meta, {}, { framework: 'pt' });
    expect((await readFile(meta)).toString('latin1')).toBe('(\0\0\0\0\0\0\0{"__metadata__":{"framework":"pt"}}     ');

    // F32 and I32 together, with metadata: byte-identical to the committed fixture (which
    // safetensors.torch.save_file also reproduces byte for byte).
    const mixed = fresh();
    const raw = f32i32();
    const ts = Object.fromEntries(raw.map((r) => [r.name, r.dtype === 'F32'
      ? g.tensor(new Float32Array(r.bytes.slice().buffer), r.shape)
      : g.tensor(new Int32Array(r.bytes.slice().buffer), r.shape, { dtype: 'int32' })]));
    await save(mixed, ts, METADATA);
    const expected = readFileSync(join(FIXTURE_DIR, 'reference_f32_i32.safetensors'));
    expect(Buffer.compare(await readFile(mixed), expected), 'grilly.save differs from reference_f32_i32.safetensors').toBe(0);
  });

  it('reads every supported dtype from a file in the reference layout', async () => {
    const { tensors: t, metadata } = await load(join(FIXTURE_DIR, 'reference_all_dtypes.safetensors'));
    expect(metadata).toEqual({ format: 'pt' });
    await expectAllDtypes(t);
  });

  it.skipIf(!existsSync(join(FIXTURE_DIR, 'torch_reference.safetensors')))(
    'reads the file PyTorch wrote (make_safetensors_fixture.py), byte-identical to the hand-assembled one',
    async () => {
      const p = join(FIXTURE_DIR, 'torch_reference.safetensors');
      const { tensors: t, metadata } = await load(p);
      expect(metadata).toEqual({ format: 'pt' });
      await expectAllDtypes(t);
      const hand = readFileSync(join(FIXTURE_DIR, 'reference_all_dtypes.safetensors'));
      expect(Buffer.compare(readFileSync(p), hand), 'torch_reference.safetensors differs from reference_all_dtypes.safetensors').toBe(0);
    },
  );

  it('grilly\'s files pass an independent reader: length, key order, contiguous aligned data', async () => {
    const w = Float32Array.from({ length: 12 }, (_, i) => i * 0.5 - 3);
    const tensors: Record<string, Tensor> = {
      'layer.b': g.tensor(new Float32Array([1, 2, 3]), [3]),
      'layer.a': g.tensor(w, [3, 4]),
      '10': g.tensor(new Float32Array([7]), []),
      '2': g.tensor(new Float32Array([8]), [1]),
      'é': g.tensor(new Float32Array([9]), [1]),
      z: g.tensor(new Float32Array([10]), [1]),
      count: g.tensor(new Int32Array([5, 6]), [2], { dtype: 'int32' }),
      apple: g.tensor(new Int32Array([]), [0], { dtype: 'int32' }),
      ymax: g.tensor(new Int32Array([2147483647]), [], { dtype: 'int32' }),
      e: g.zeros([0, 5]),
    };
    const p = fresh();
    await save(p, tensors, { b: '2', a: '1' });
    const bytes = new Uint8Array(await readFile(p));
    const h = parseByHand(bytes);

    expect(h.n % 8, 'header length is a multiple of 8').toBe(0);
    expect(8 + h.n, 'the data starts 8-byte aligned').toBe(Math.ceil((8 + h.n) / 8) * 8);
    const text = Buffer.from(bytes.subarray(8, 8 + h.n)).toString('utf8');
    expect(text.slice(h.json.length), 'padding is spaces').toMatch(/^ {0,7}$/);
    expect(text.startsWith('{"__metadata__":{"a":"1","b":"2"},')).toBe(true);
    expect(h.json).not.toMatch(/[\n\t]|": | ,/);
    expect(h.metadata).toEqual({ a: '1', b: '2' });

    // Keys: __metadata__, then the F32 tensors, then the I32 ones, each group in UTF-8 byte order.
    const f32Names = ['10', '2', 'e', 'layer.a', 'layer.b', 'z', 'é'];
    const i32Names = ['apple', 'count', 'ymax'];
    expect(h.keys).toEqual(['__metadata__', ...f32Names, ...i32Names]);

    let at = 0;
    for (const name of [...f32Names, ...i32Names]) {
      const e = h.header[name]!;
      const t = tensors[name]!;
      expect(e.dtype, name).toBe(t.dtype === 'int32' ? 'I32' : 'F32');
      expect(e.shape, name).toEqual([...t.shape]);
      expect(e.data_offsets, `${name} follows the previous tensor`).toEqual([at, at + t.size * 4]);
      const v = await t.data();
      expect(Array.from(h.data.subarray(at, at + t.size * 4)), name).toEqual(Array.from(new Uint8Array(v.buffer, v.byteOffset, v.byteLength)));
      at += t.size * 4;
    }
    expect(h.data.length, 'the data ends with the last tensor').toBe(at);
  });

  it('saves the values the tensors held when save() was called', async () => {
    const w = g.tensor(new Float32Array([1, 2, 3]), [3]);
    const p = fresh();
    const pending = save(p, { w });
    w.assign([4, 5, 6]);
    await pending;
    expect(Array.from(await (await load(p)).tensors.w!.data())).toEqual([1, 2, 3]);
    expect(Array.from(await w.data())).toEqual([4, 5, 6]);
  });

  it('creates the tensors on the backend asked for', async () => {
    const p = fresh();
    await save(p, { a: g.ones([2]) });
    const { tensors } = await load(p, { backend });
    expect(tensors.a!.backend.kind).toBe(backend);
    await g.init({ backend: 'cpu' });
    await g.init({ backend });
    const onCpu = await load(p, { backend: 'cpu' });
    expect(onCpu.tensors.a!.backend.kind).toBe('cpu');
    expect(Array.from(await onCpu.tensors.a!.data())).toEqual([1, 1]);
    await expect(load(p, { backend: 'tpu' as 'cpu' })).rejects.toThrow(/backend must be 'cpu' or 'webgpu'/);
  });

  it('converts I64 only when the values fit int32', async () => {
    for (const v of [2147483648n, -2147483649n, 1n << 62n]) {
      const p = await writeBytes(assemble([{ name: 'big', dtype: 'I64', shape: [3], bytes: i64([0n, v, 1n]) }]));
      await expectCheckpointError(p, new RegExp(`tensor "big" \\(I64\\) holds ${v} at index 1, which does not fit grilly's int32`));
    }
  });

  describe('refuses corrupt files with a CheckpointError that names the file', () => {
    const good = (): RawTensor[] => [
      { name: 'a', dtype: 'F32', shape: [2], bytes: f32([1, 2]) },
      { name: 'b', dtype: 'I32', shape: [1], bytes: i32([3]) },
    ];

    it('too short, or a header length that does not fit', async () => {
      await expectCheckpointError(await writeBytes(new Uint8Array(0)), /0 bytes, too short for the 8-byte header length/);
      await expectCheckpointError(await writeBytes(new Uint8Array(5)), /5 bytes, too short/);
      const len = (n: bigint, tail = '{}') => {
        const b = Buffer.alloc(8);
        b.writeBigUInt64LE(n);
        return new Uint8Array(Buffer.concat([b, Buffer.from(tail)]));
      };
      await expectCheckpointError(await writeBytes(len(100n)), /header length 100 is larger than the file \(10 bytes\)/);
      await expectCheckpointError(await writeBytes(len(100_000_001n)), /header length 100000001 is larger than the 100000000-byte limit/);
      await expectCheckpointError(await writeBytes(len(0xffffffffffffffffn)), /header length 18446744073709551615 is larger than the 100000000-byte limit/);
      await expectCheckpointError(await writeBytes(len(0n, '')), /not valid JSON/);
    });

    it('a header that is not a JSON object', async () => {
      await expectCheckpointError(await writeBytes(withHeader('{"a": ')), /the header is not valid JSON/);
      await expectCheckpointError(await writeBytes(withHeader('PK\u0003\u0004 not json')), /not valid JSON/);
      await expectCheckpointError(await writeBytes(withHeader('[1, 2]')), /the header must be a JSON object, got an array/);
      await expectCheckpointError(await writeBytes(withHeader('null')), /must be a JSON object, got null/);
      await expectCheckpointError(await writeBytes(withHeader('42')), /must be a JSON object, got number 42/);
      const badUtf8 = Buffer.concat([Buffer.from([4, 0, 0, 0, 0, 0, 0, 0]), Buffer.from([0x7b, 0xff, 0xfe, 0x7d])]);
      await expectCheckpointError(await writeBytes(badUtf8), /the header is not valid UTF-8/);
    });

    it('bad metadata', async () => {
      await expectCheckpointError(await writeBytes(withHeader({ __metadata__: { epoch: 3 } })), /"__metadata__" values must be strings, got number 3 for key "epoch"/);
      await expectCheckpointError(await writeBytes(withHeader({ __metadata__: ['x'] })), /"__metadata__" must be an object of strings, got an array/);
      expect((await load(await writeBytes(withHeader({ __metadata__: null })))).metadata).toEqual({});
    });

    it('a tensor entry without dtype, shape or data_offsets, or with bad ones', async () => {
      const entry = { dtype: 'F32', shape: [2], data_offsets: [0, 8] };
      const data = f32([1, 2]);
      for (const k of ['dtype', 'shape', 'data_offsets'] as const) {
        const { [k]: _, ...rest } = entry;
        await expectCheckpointError(await writeBytes(withHeader({ w: rest }, data)), new RegExp(`tensor "w" has no "${k}"`));
      }
      await expectCheckpointError(await writeBytes(withHeader({ w: [1, 2] }, data)), /tensor "w": expected an object with dtype, shape and data_offsets, got an array/);
      await expectCheckpointError(await writeBytes(withHeader({ w: { ...entry, dtype: 7 } }, data)), /tensor "w": dtype must be a string/);
      await expectCheckpointError(await writeBytes(withHeader({ w: { ...entry, shape: [-2] } }, data)), /tensor "w": shape must be an array of non-negative integers, got \[-2\]/);
      await expectCheckpointError(await writeBytes(withHeader({ w: { ...entry, shape: [1.5] } }, data)), /shape must be an array of non-negative integers/);
      await expectCheckpointError(await writeBytes(withHeader({ w: { ...entry, shape: '2' } }, data)), /shape must be an array/);
      await expectCheckpointError(await writeBytes(withHeader({ w: { ...entry, shape: [1, 1, 1, 1, 1, 1, 1, 1, 2] } }, data)), /tensor "w" has 9 dims .* at most 8/);
      await expectCheckpointError(await writeBytes(withHeader({ w: { ...entry, data_offsets: [0] } }, data)), /tensor "w": data_offsets must be \[begin, end\]/);
      await expectCheckpointError(await writeBytes(withHeader({ w: { ...entry, data_offsets: [-8, 0] } }, data)), /data_offsets must be \[begin, end\] with non-negative integers/);
      await expectCheckpointError(await writeBytes(withHeader({ w: { ...entry, data_offsets: [8, 0] } }, data)), /tensor "w": data_offsets \[8, 0\] end before they begin/);
    });

    it('dtypes grilly cannot read, named with the tensor', async () => {
      for (const dtype of ['U16', 'U32', 'U64', 'F8_E4M3', 'C64', 'f32', 'float32']) {
        const p = await writeBytes(withHeader({ 'layer.w': { dtype, shape: [0], data_offsets: [0, 0] } }));
        await expectCheckpointError(p, new RegExp(`tensor "layer.w" has dtype "${dtype}", which grilly cannot load \\(supported: F32, I32, F16, BF16, F64, I64, I16, I8, U8, BOOL\\)`));
      }
    });

    it('offsets that do not match the shape, overlap, leave holes, or run past the data', async () => {
      const t = (name: string, dtype: string, shape: number[], data_offsets: number[]) => ({ [name]: { dtype, shape, data_offsets } });
      const data16 = new Uint8Array(16);
      await expectCheckpointError(await writeBytes(withHeader(t('w', 'F32', [2, 2], [0, 12]), data16.subarray(0, 12))),
        /tensor "w": data_offsets \[0, 12\] span 12 bytes, but shape \[2, 2\] of F32 needs 16/);
      await expectCheckpointError(await writeBytes(withHeader({ ...t('a', 'F32', [2], [0, 8]), ...t('b', 'F32', [2], [4, 12]) }, data16.subarray(0, 12))),
        /tensors "a" \[0, 8\] and "b" \[4, 12\] overlap/);
      await expectCheckpointError(await writeBytes(withHeader({ ...t('a', 'F32', [1], [0, 4]), ...t('b', 'F32', [2], [8, 16]) }, data16)),
        /bytes \[4, 8\) of the data belong to no tensor \(a hole before "b"\)/);
      await expectCheckpointError(await writeBytes(withHeader(t('b', 'F32', [2], [4, 12]), data16.subarray(0, 12))),
        /bytes \[0, 4\) of the data belong to no tensor/);
      await expectCheckpointError(await writeBytes(withHeader(t('w', 'F32', [2], [0, 8]), data16)),
        /the tensors cover 8 bytes of data but the file holds 16 after its header \(8 bytes belong to no tensor\)/);
      await expectCheckpointError(await writeBytes(withHeader(t('w', 'F32', [4], [0, 16]), data16.subarray(0, 8))),
        /tensor "w" has data_offsets \[0, 16\] beyond the 8 bytes of data the file holds after its header: the file is truncated/);
      await expectCheckpointError(await writeBytes(withHeader(t('w', 'F32', [2], [1000, 1008]), data16.subarray(0, 8))),
        /data_offsets \[1000, 1008\] beyond the 8 bytes/);
    });

    it('a file cut short anywhere yields no tensors', async () => {
      const whole = assemble(good(), { format: 'pt' });
      expect(Object.keys((await load(await writeBytes(whole))).tensors)).toEqual(['a', 'b']);
      const before = g.memory().buffers;
      for (let cut = 0; cut < whole.length; cut++) {
        const p = fresh('cut');
        await writeFile(p, whole.subarray(0, cut));
        await expectCheckpointError(p, /too short|larger than the file|truncated|not valid|belong to no tensor/);
      }
      expect(g.memory().buffers, 'no tensor was allocated by a failed load').toBeLessThanOrEqual(before);
      // Bytes appended to a whole file are refused as well.
      await expectCheckpointError(await writeBytes(Buffer.concat([whole, Buffer.from([0])])), /\(1 byte belongs to no tensor\)/);
    });

    it('a file that is not there', async () => {
      await expectCheckpointError(join(dir, 'missing.safetensors'), /could not open the file: ENOENT/);
    });
  });

  describe('writes atomically', () => {
    it('a failure in the middle of a save leaves the old file and no temporary file', async () => {
      const d = join(dir, `atomic-${backend}`);
      await mkdir(d);
      const p = join(d, 'model.safetensors');
      await save(p, { w: g.ones([4]) }, { epoch: '1' });
      const old = await readFile(p);

      // "b" is written after "a"; its read fails only once the temporary file exists.
      const a = g.tensor(new Float32Array(4096).fill(2), [4096]);
      const b = g.zeros([3]);
      let sawTemp: string[] = [];
      Object.defineProperty(b, 'data', {
        value: async () => {
          for (let i = 0; i < 400 && sawTemp.length === 0; i++) {
            sawTemp = await tmpLeftovers(d);
            if (sawTemp.length === 0) await new Promise((r) => setTimeout(r, 5));
          }
          b.dispose();
          return g.Tensor.prototype.data.call(b); // rejects: disposed
        },
      });
      const err = await save(p, { a, b }, { epoch: '2' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CheckpointError);
      expect((err as Error).message).toMatch(/could not read tensor "b" \[3\] from the device: .*disposed/);
      expect((err as Error).message).toContain(`"${p}" was left as it was`);
      expect((err as CheckpointError).cause).toBeInstanceOf(g.StateError);
      expect(sawTemp, 'the failure came while the temporary file was being written').toHaveLength(1);
      expect(sawTemp[0]).toMatch(/^model\.safetensors\.tmp-[0-9a-f]{16}$/);
      expect(Buffer.compare(await readFile(p), old), 'the old checkpoint is intact').toBe(0);
      expect(await tmpLeftovers(d)).toEqual([]);
      expect((await load(p)).metadata).toEqual({ epoch: '1' });

      // A tensor already disposed is refused before anything is written.
      const gone = g.ones([2]);
      gone.dispose();
      await expect(save(p, { gone })).rejects.toThrow(/tensor "gone" \[2\] was disposed and cannot be saved/);
      expect(Buffer.compare(await readFile(p), old)).toBe(0);

      // A successful save replaces the file in one step.
      await save(p, { w: g.full([2], 5) }, { epoch: '3' });
      expect((await load(p)).metadata).toEqual({ epoch: '3' });
      expect(await tmpLeftovers(d)).toEqual([]);
    });

    it('a file that cannot be put in place leaves no temporary file', async () => {
      const d = join(dir, `blocked-${backend}`);
      await mkdir(join(d, 'taken.safetensors'), { recursive: true });
      await expect(save(join(d, 'taken.safetensors'), { w: g.ones([2]) })).rejects.toThrow(CheckpointError);
      expect(await tmpLeftovers(d)).toEqual([]);
      await expect(save(join(d, 'no-such-dir', 'x.safetensors'), { w: g.ones([2]) })).rejects.toThrow(/could not write the temporary file .*ENOENT/);
    });
  });

  it('refuses bad arguments to save with typed errors', async () => {
    const p = fresh();
    await expect(save(p, { __metadata__: g.ones([1]) })).rejects.toThrow(g.ValueError);
    await expect(save(p, { w: [1, 2] as unknown as Tensor })).rejects.toThrow(/tensor "w" is not a Tensor \(got an array\)/);
    await expect(save(p, g.ones([1]) as unknown as Record<string, Tensor>)).rejects.toThrow(/tensors must be an object mapping names to tensors, got a Tensor/);
    await expect(save(p, { w: g.ones([1]) }, { epoch: 3 as unknown as string })).rejects.toThrow(/metadata values must be strings .* got number 3 for key "epoch"/);
    await expect(save(p, { ['bad\uD800']: g.ones([1]) })).rejects.toThrow(/lone UTF-16 surrogate/);
    await expect(save('', {})).rejects.toThrow(g.ValueError);
    expect(existsSync(p)).toBe(false);
  });
});

/** The values grilly must read from reference_all_dtypes.safetensors (and PyTorch's copy of it). */
async function expectAllDtypes(t: Record<string, Tensor>): Promise<void> {
  expect(Object.keys(t).sort()).toEqual(allDtypes().map((r) => r.name).sort());
  const check = async (name: string, dtype: 'float32' | 'int32', shape: number[], expected: ArrayLike<number>) => {
    const x = t[name]!;
    expect(x.dtype, name).toBe(dtype);
    expect([...x.shape], name).toEqual(shape);
    const got = Array.from(await x.data());
    expect(got.length, name).toBe(expected.length);
    got.forEach((v, i) => expect(Object.is(v, expected[i]) || (Number.isNaN(v) && Number.isNaN(expected[i]!)), `${name}[${i}]: ${v} vs ${expected[i]}`).toBe(true));
  };
  // F32 compared bit for bit (the NaN carries a payload).
  expect(bits(await t.f32!.data())).toEqual([0x3f800000, 0x80000000, 0x7fc00001, 0xff800000, 0x00000001, 0x7f7fffff]);
  expect([...t.f32!.shape]).toEqual([2, 3]);
  await check('f32_empty', 'float32', [0, 4], []);
  await check('i32', 'int32', [3], [-2147483648, 2147483647, 7]);
  await check('i32_scalar', 'int32', [], [42]);
  await check('f64', 'float32', [5], [Math.fround(0.1), -2.5, Infinity, 0, NaN]);
  await check('i64', 'int32', [5], [-2147483648, 2147483647, 0, -1, 123456789]);
  await check('f16', 'float32', [2, 4], [1, -2, 65504, 2 ** -24, 1023 * 2 ** -24, Infinity, -0, NaN]);
  await check('bf16', 'float32', [5], [1.5, -3.140625, Math.fround(3.3895313892515355e38), -Infinity, 2 ** -133]);
  expect(bits(await t.bf16!.data())).toEqual([0x3fc00000, 0xc0490000, 0x7f7f0000, 0xff800000, 0x00010000]);
  await check('i16', 'int32', [3], [-32768, 32767, -1]);
  await check('i8', 'int32', [3], [-128, 127, 0]);
  await check('u8', 'int32', [3], [0, 255, 128]);
  await check('bool', 'int32', [2, 2], [1, 0, 0, 1]);
}
