// conv2d, maxPool2d, avgPool2d, adaptiveAvgPool2d: forward against the float64 references in
// ref-conv.ts over a grid of cases, gradients against finite differences, PyTorch's tie/NaN and
// ceil-mode rules, the chunked (big batch) path, webgpu = cpu, and PyTorch's own numbers from
// test/fixtures/torch/conv.json (made by make_conv_fixtures.py) when that file is present.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, test } from 'vitest';
import * as grilly from '../src/index.js';
import type { Tensor } from '../src/index.js';
import { conv2d, convTuning } from '../src/ops/conv.js';
import { gemmTuning } from '../src/ops/matmul.js';
import { adaptiveAvgPool2d, avgPool2d, maxPool2d, maxPool2dWithIndices } from '../src/ops/pool.js';
import * as R from './ref.js';
import type { Ref } from './ref.js';
import * as RC from './ref-conv.js';
import type { Pair } from './ref-conv.js';
import { BACKENDS, T, expectClose, expectExact, expectTensor, gradcheck, maxAbs, randArray, randDistinct, randInts, useBackend } from './helpers.js';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), 'fixtures/torch/conv.json');
const DEFAULT_TUNING = { ...convTuning };
const fwdTol = (ref: Ref) => ({ atol: 2e-6 * Math.max(1, maxAbs(ref.data)), rtol: 1e-5 });

interface ConvCase {
  x: number[];
  w: number[];
  bias: boolean;
  stride?: Pair;
  padding?: Pair;
  dilation?: Pair;
  groups?: number;
}

// The forward grid: stride 1/2, padding 0/1/2, dilation 1/2, groups 1/2/C, rectangular kernels and
// inputs, batch > 1, bias on and off, odd sizes.
const CONV_GRID: ConvCase[] = [];
{
  const shapes: [number[], number[]][] = [
    [[2, 4, 7, 9], [6, 4, 3, 3]],
    [[3, 2, 8, 5], [4, 2, 2, 3]],
    [[1, 6, 9, 9], [6, 6, 5, 1]],
  ];
  let k = 0;
  for (const [x, w] of shapes) {
    for (const stride of [1, 2, [2, 1]] as Pair[]) {
      for (const padding of [0, 1, [2, 1]] as Pair[]) {
        const dilation: Pair = k % 3 === 2 ? 2 : k % 3 === 1 ? [1, 2] : 1;
        const C = x[1]!;
        const groups = [1, 2, C][k % 3]!;
        const ww = [groups === C ? 2 * C : w[0]!, C / groups, w[2]!, w[3]!];
        CONV_GRID.push({ x, w: ww, bias: k % 2 === 0, stride, padding, dilation, groups });
        k++;
      }
    }
  }
  CONV_GRID.push({ x: [2, 3, 5, 5], w: [4, 3, 5, 5], bias: true, padding: 0 }); // kernel = input
  CONV_GRID.push({ x: [4, 5, 3, 4], w: [7, 5, 1, 1], bias: true }); // 1×1
  CONV_GRID.push({ x: [1, 1, 1, 1], w: [2, 1, 1, 1], bias: false }); // 1 pixel
  CONV_GRID.push({ x: [2, 3, 6, 7], w: [3, 1, 3, 3], bias: true, padding: 2, groups: 3 }); // depthwise, pad 2
}

const refOpts = (c: ConvCase) => ({ stride: c.stride ?? 1, padding: c.padding ?? 0, dilation: c.dilation ?? 1, groups: c.groups ?? 1 });
const caseName = (c: ConvCase) => `x${JSON.stringify(c.x)} w${JSON.stringify(c.w)} ${JSON.stringify(refOpts(c))}${c.bias ? ' +bias' : ''}`;

/** x with a constant offset per element, so nearby windows have no near-ties for max pooling's finite differences. */
const distinct = (shape: number[], seed: number) => randDistinct(shape, seed, -2, 2);

describe.each(BACKENDS)('conv and pooling [%s]', (backend) => {
  useBackend(backend);
  afterEach(() => Object.assign(convTuning, DEFAULT_TUNING));

  describe('conv2d', () => {
    // The three paths of a one-group convolution: 'direct' (few columns: the direct kernels, most of
    // the grid), 'implicit' (GEMMs that gather the columns), 'explicit' (im2col, then the GEMM).
    // Grouped convolutions always take the explicit path.
    const MODES = { direct: { directMaxKc: 32, implicit: true }, implicit: { directMaxKc: 0, implicit: true, dxConvMinC: 1 }, explicit: { directMaxKc: 0, implicit: false } };
    test.each(Object.keys(MODES) as (keyof typeof MODES)[])(`forward over a grid of ${CONV_GRID.length} configurations, %s`, async (mode) => {
      Object.assign(convTuning, MODES[mode]);
      let seed = 100;
      for (const c of CONV_GRID) {
        const x = randArray(c.x, seed++), w = randArray(c.w, seed++), b = c.bias ? randArray([c.w[0]!], seed++) : null;
        const ref = RC.conv2d(x, w, b, refOpts(c));
        const y = conv2d(T(x), T(w), b ? T(b) : null, refOpts(c));
        await expectTensor(y, ref, fwdTol(ref), caseName(c));
      }
    });

    test('direct kernels (few columns): gradients, sliced weight-gradient reduction, against the GEMM path', async () => {
      // Kc = 9 (one channel, the CSNN's first layer), 27 (RGB), 32 (the most they take), with
      // stride, padding and dilation; O not a multiple of the filter blocks
      const cases: ConvCase[] = [
        { x: [3, 1, 9, 7], w: [37, 1, 3, 3], bias: true, padding: 1 },
        { x: [2, 3, 8, 9], w: [5, 3, 3, 3], bias: false, stride: [2, 1], padding: [1, 2], dilation: [1, 2] },
        { x: [2, 2, 7, 6], w: [3, 2, 4, 4], bias: true, stride: 2, padding: 2 },
      ];
      convTuning.directMaxKc = 32; // (the most they take; the default is lower)
      let seed = 900;
      for (const c of cases) {
        const inputs = [randArray(c.x, seed++), randArray(c.w, seed++), ...(c.bias ? [randArray([c.w[0]!], seed++)] : [])];
        // one slice and one pixel an invocation; slices of 7 rows (ragged, crossing images) and
        // two pixels an invocation (the second out of range at the end)
        for (const [minRows, pixels] of [[2048, 1], [7, 2]] as const) {
          convTuning.directSliceRows = minRows;
          convTuning.directPixels = pixels;
          await gradcheck(
            (...ts) => conv2d(ts[0]!, ts[1]!, ts[2] ?? null, refOpts(c)),
            (...rs) => RC.conv2d(rs[0]!, rs[1]!, rs[2] ?? null, refOpts(c)),
            inputs,
            { label: `direct ${caseName(c)} slices of ${minRows} rows, ${pixels} pixels an invocation` },
          );
        }
      }
      // a bigger layer: the direct weight gradient (4 slices) equals the chunked, split GEMM one
      const x = randArray([16, 1, 28, 28], 950), w = randArray([40, 1, 3, 3], 951), gy = randArray([16, 40, 28, 28], 952);
      const run = async () => {
        const wt = T(w, { requiresGrad: true });
        const y = conv2d(T(x), wt, null, { padding: 1 });
        y.backward(T(gy));
        return [Float32Array.from(await y.data()), Float32Array.from(await wt.grad!.data())];
      };
      convTuning.directSliceRows = 3136;
      const [yd, dwd] = await run();
      convTuning.directMaxKc = 0;
      const [yg, dwg] = await run();
      expectClose(yd!, yg!, { atol: 1e-5, rtol: 1e-5 }, 'direct vs GEMM forward');
      expectClose(dwd!, dwg!, { atol: 2e-3, rtol: 1e-4 }, 'direct vs GEMM weight gradient');
    });

    test('3-D (C, H, W) input', async () => {
      const x = randArray([3, 6, 5], 1), w = randArray([4, 3, 3, 3], 2), b = randArray([4], 3);
      const ref = RC.conv2d(R.reshape(x, [1, 3, 6, 5]), w, b, { padding: 1 });
      const y = conv2d(T(x), T(w), T(b), { padding: 1 });
      await expectTensor(y, R.reshape(ref, [4, 6, 5]), fwdTol(ref));
      await gradcheck((a, k, bb) => conv2d(a!, k!, bb!, { padding: 1, stride: 2 }), (a, k, bb) => {
        const r = RC.conv2d(R.reshape(a!, [1, 3, 6, 5]), k!, bb!, { padding: 1, stride: 2 });
        return R.reshape(r, r.shape.slice(1));
      }, [x, w, b], { label: 'conv2d 3-D' });
    });

    test('gradients w.r.t. x, weight and bias', async () => {
      const cases: ConvCase[] = [
        { x: [2, 3, 5, 6], w: [4, 3, 3, 2], bias: true, padding: 1 },
        { x: [2, 4, 7, 6], w: [4, 2, 3, 3], bias: false, stride: 2, padding: [2, 1], dilation: 2, groups: 2 },
        { x: [2, 3, 5, 5], w: [6, 1, 3, 3], bias: true, stride: [1, 2], padding: 1, groups: 3 }, // depthwise ×2
        { x: [1, 2, 6, 5], w: [3, 2, 2, 3], bias: true, stride: [2, 1], dilation: [1, 2] },
        // stride 1: the input gradient as a convolution (implicit mode), dilated; and a padding
        // wider than the kernel, which cannot be one
        { x: [2, 2, 7, 6], w: [3, 2, 3, 2], bias: false, dilation: [2, 1], padding: [1, 0] },
        { x: [2, 3, 5, 4], w: [4, 3, 1, 1], bias: true, padding: 1 },
      ];
      for (const mode of ['implicit', 'explicit'] as const) {
        Object.assign(convTuning, MODES[mode]);
        let seed = 500;
        for (const c of cases) {
          const inputs = [randArray(c.x, seed++), randArray(c.w, seed++), ...(c.bias ? [randArray([c.w[0]!], seed++)] : [])];
          await gradcheck(
            (...ts) => conv2d(ts[0]!, ts[1]!, ts[2] ?? null, refOpts(c)),
            (...rs) => RC.conv2d(rs[0]!, rs[1]!, rs[2] ?? null, refOpts(c)),
            inputs,
            { label: `${mode} ${caseName(c)}` },
          );
        }
      }
      Object.assign(convTuning, DEFAULT_TUNING);
      // 1×1: the direct GEMM on NCHW, and the im2col path
      for (const direct of [true, false]) {
        convTuning.direct1x1 = direct;
        const c: ConvCase = { x: [3, 4, 3, 5], w: [6, 4, 1, 1], bias: true };
        await gradcheck(
          (a, k, bb) => conv2d(a!, k!, bb!), (a, k, bb) => RC.conv2d(a!, k!, bb!),
          [randArray(c.x, 550), randArray(c.w, 551), randArray([6], 552)], { label: `1×1 direct=${direct}` },
        );
      }
      convTuning.direct1x1 = true;
      // the other kind of index arithmetic than the rest of the suite uses: geometry compiled into
      // the kernels as constants (the default) or read from uniforms
      const specialized = convTuning.specialize;
      convTuning.specialize = !specialized;
      // two layers in a row, im2col on quads (Kc = 12) then not (Kc = 9): uniform-driven kernels share
      // one geometry key, so the variant must be in the key too
      for (const c of [
        { x: [2, 4, 6, 5], w: [6, 2, 3, 2], bias: true, stride: [2, 1], padding: [1, 2], dilation: [1, 2], groups: 2 },
        { x: [2, 1, 6, 5], w: [6, 1, 3, 3], bias: true, stride: [1, 1], padding: [1, 1], dilation: [1, 1], groups: 1 },
      ] as ConvCase[]) {
        await gradcheck(
          (a, k, bb) => conv2d(a!, k!, bb!, refOpts(c)), (a, k, bb) => RC.conv2d(a!, k!, bb!, refOpts(c)),
          [randArray(c.x, 560), randArray(c.w, 561), randArray([6], 562)], { label: `${specialized ? 'uniform-driven kernels' : 'specialized kernels'} Kc=${(c.w[1]! * c.w[2]! * c.w[3]!)}` },
        );
      }
      // the input gradient through column-major dcols against row-major ones (grouped, chunked)
      {
        const saved = convTuning.maxColumnBytes;
        convTuning.maxColumnBytes = 4096;
        try {
          const grads = async () => {
            const x = T(randArray([3, 4, 7, 6], 580), { requiresGrad: true }), w = T(randArray([6, 2, 3, 3], 581));
            conv2d(x, w, null, { padding: 1, stride: 2, groups: 2 }).mul(T(randArray([3, 6, 4, 3], 582))).sum().backward();
            return x.grad!.data();
          };
          const colMajor = await grads();
          convTuning.col2imColMajor = false;
          expectClose(colMajor, await grads(), { atol: 1e-6, rtol: 1e-6 }, 'col2im column-major vs row-major');
        } finally {
          convTuning.col2imColMajor = true;
          convTuning.maxColumnBytes = saved;
        }
      }
      // im2col's quads against its one-element-per-invocation form
      {
        convTuning.implicit = false;
        const x = T(randArray([3, 8, 7, 6], 570)), w = T(randArray([5, 8, 3, 3], 571));
        const quad = await conv2d(x, w, null, { padding: 1 }).data();
        convTuning.im2colQuad = false;
        try {
          expectClose(quad, await conv2d(x, w, null, { padding: 1 }).data(), { atol: 1e-6, rtol: 1e-6 }, 'im2col quads vs scalar');
        } finally {
          convTuning.im2colQuad = true;
          convTuning.implicit = true;
        }
      }
      convTuning.specialize = specialized;
      // only some inputs need a gradient
      const x = randArray([1, 2, 4, 4], 601), w = randArray([3, 2, 3, 3], 602), b = randArray([3], 603);
      await gradcheck((a, k, bb) => conv2d(a!, k!, bb!, { padding: 1 }), (a, k, bb) => RC.conv2d(a!, k!, bb!, { padding: 1 }), [x, w, b], {
        label: 'weight only', requiresGrad: [false, true, false],
      });
      await gradcheck((a, k, bb) => conv2d(a!, k!, bb!, { padding: 1 }), (a, k, bb) => RC.conv2d(a!, k!, bb!, { padding: 1 }), [x, w, b], {
        label: 'x and bias', requiresGrad: [true, false, true],
      });
    });

    test('big batches are processed in chunks (forced small column limit)', async () => {
      const c: ConvCase = { x: [3, 4, 6, 5], w: [6, 2, 3, 3], bias: true, padding: 1, stride: [1, 2], groups: 2 };
      // 6·3 = 18 pixels per image, 2 groups × 18 columns × 4 bytes = 144 bytes per pixel.
      for (const [bytes, label] of [
        [144 * 7, 'chunks of 7 rows (inside images)'],
        [144 * 40, 'chunks of 2 images'],
        [144 * 18, 'one image per chunk'],
      ] as const) {
        convTuning.maxColumnBytes = bytes;
        convTuning.minSplitK = 2; // also split the weight-gradient reduction
        await gradcheck(
          (a, k, bb) => conv2d(a!, k!, bb!, refOpts(c)),
          (a, k, bb) => RC.conv2d(a!, k!, bb!, refOpts(c)),
          [randArray(c.x, 701), randArray(c.w, 702), randArray([6], 703)],
          { label: label },
        );
      }
      convTuning.maxColumnBytes = 100;
      expect(() => conv2d(grilly.ones(c.x), grilly.ones(c.w), null, refOpts(c))).toThrow(/conv2d: one output pixel needs 144 bytes/);
    });

    test('split weight-gradient reduction equals the unsplit one (explicit and implicit columns, 4×4 and 8×8 tiles)', async () => {
      const x = randArray([4, 3, 8, 8], 801), w = randArray([5, 3, 3, 3], 802);
      const run = async () => {
        const xt = T(x), wt = T(w, { requiresGrad: true });
        conv2d(xt, wt, null, { padding: 1 }).backward(T(randArray([4, 5, 8, 8], 803)));
        return Float32Array.from(await wt.grad!.data());
      };
      convTuning.directMaxKc = 0;
      convTuning.implicit = false;
      convTuning.minSplitK = 1 << 30;
      const one = await run();
      convTuning.minSplitK = 1;
      convTuning.splitTarget = 1 << 20;
      for (const implicit of [false, true]) {
        for (const tile of [0, 4, 8] as const) {
          Object.assign(convTuning, { implicit, dwTile: tile });
          expectClose(await run(), one, { atol: 1e-4, rtol: 1e-4 }, `implicit ${implicit} tile ${tile}`);
        }
      }
    });

    test('implicit columns in chunks (row offsets) equal the explicit path', async () => {
      // 5 images of 6×5 pixels, 7 filters: a 4·7·13-byte limit gives chunks of 13 rows, which
      // start inside images (forward and weight gradient; the input gradient's convolution, 4
      // filters, takes chunks of 22); the columns (Kc = 36) would not even fit one row under it
      const x = randArray([5, 4, 6, 5], 820), w = randArray([7, 4, 3, 3], 821), gy = randArray([5, 7, 6, 5], 822);
      const run = async () => {
        const xt = T(x, { requiresGrad: true }), wt = T(w, { requiresGrad: true });
        const y = conv2d(xt, wt, null, { padding: 1 });
        y.backward(T(gy));
        return [Float32Array.from(await y.data()), Float32Array.from(await wt.grad!.data()), Float32Array.from(await xt.grad!.data())];
      };
      convTuning.directMaxKc = 0;
      convTuning.implicit = false;
      const ref = await run();
      convTuning.implicit = true;
      convTuning.dxConvMinC = 1; // (C = 4)
      convTuning.maxColumnBytes = 4 * 7 * 13;
      const got = await run();
      for (let i = 0; i < 3; i++) expectClose(got[i]!, ref[i]!, { atol: 1e-4, rtol: 1e-4 }, ['forward', 'weight gradient', 'input gradient'][i]!);
      // the gathers inside another GEMM variant: 8×8 double-buffered, K-slices of 16 (forced; the
      // wide variant shares the load code, but lavapipe takes half a minute to compile it)
      convTuning.maxColumnBytes = DEFAULT_TUNING.maxColumnBytes;
      const saved = { ...gemmTuning };
      try {
        for (const forced of [{ rm: 8, rn: 8, bk: 16, db: true }] as const) {
          Object.assign(gemmTuning, forced);
          expectClose(await run().then((r) => r.slice(0, 2)).then((r) => [...r[0]!, ...r[1]!]), [...ref[0]!, ...ref[1]!], { atol: 1e-4, rtol: 1e-4 }, JSON.stringify(forced));
          Object.assign(gemmTuning, saved);
        }
      } finally {
        Object.assign(gemmTuning, saved);
      }
    });

    test('errors name the op and what was expected', () => {
      const x = grilly.ones([8, 4, 28, 28]);
      const w = grilly.ones([16, 3, 3, 3]);
      expect(() => conv2d(x, w)).toThrow(grilly.ShapeError);
      expect(() => conv2d(x, w)).toThrow('conv2d: expected input with 3 channels (weight [16, 3, 3, 3], groups 1), got [8, 4, 28, 28]');
      expect(() => conv2d(grilly.ones([4, 28, 28, 1, 1]), w)).toThrow(/conv2d: expected a 4-D \(N, C, H, W\) or 3-D \(C, H, W\) input, got 5-D \[4, 28, 28, 1, 1\]/);
      expect(() => conv2d(grilly.ones([28, 28]), w)).toThrow(grilly.ShapeError);
      expect(() => conv2d(grilly.ones([2, 3, 5, 5]), grilly.ones([3, 3, 3]))).toThrow(/conv2d: expected a 4-D weight/);
      expect(() => conv2d(grilly.ones([2, 6, 5, 5]), grilly.ones([4, 3, 3, 3]), null, { groups: 4 })).toThrow(/conv2d: input channels 6 are not divisible by groups 4/);
      expect(() => conv2d(grilly.ones([2, 6, 5, 5]), grilly.ones([5, 3, 3, 3]), null, { groups: 2 })).toThrow(/conv2d: output channels 5 are not divisible by groups 2/);
      expect(() => conv2d(grilly.ones([2, 6, 5, 5]), grilly.ones([4, 2, 3, 3]), null, { groups: 2 })).toThrow(/expected input with 4 channels \(weight \[4, 2, 3, 3\], groups 2\), got \[2, 6, 5, 5\]/);
      expect(() => conv2d(grilly.ones([1, 1, 2, 2]), grilly.ones([1, 1, 5, 5]), null, { padding: 1 })).toThrow(/conv2d: the kernel 5×5 is larger than the padded input 4×4/);
      expect(() => conv2d(grilly.ones([1, 1, 4, 4]), grilly.ones([1, 1, 3, 3]), null, { dilation: 2 })).toThrow(/kernel 5×5 \(dilated from 3×3\) is larger than the padded input 4×4/);
      expect(() => conv2d(grilly.ones([1, 1, 4, 4]), grilly.ones([1, 1, 3, 3]), null, { stride: 0 })).toThrow(grilly.ValueError);
      expect(() => conv2d(grilly.ones([1, 1, 4, 4]), grilly.ones([1, 1, 3, 3]), null, { stride: [1, -1] })).toThrow(/conv2d: stride must be positive, got \[1,-1\]/);
      expect(() => conv2d(grilly.ones([1, 1, 4, 4]), grilly.ones([1, 1, 3, 3]), null, { padding: -1 })).toThrow(/conv2d: padding must be non-negative/);
      expect(() => conv2d(grilly.ones([1, 1, 4, 4]), grilly.ones([1, 1, 3, 3]), null, { stride: 1.5 })).toThrow(/conv2d: stride must be integers/);
      expect(() => conv2d(grilly.ones([1, 1, 4, 4]), grilly.ones([2, 1, 3, 3]), grilly.ones([3]))).toThrow(/conv2d: expected a bias of shape \[2\]/);
      expect(() => conv2d(grilly.ones([1, 1, 4, 4]).int(), grilly.ones([2, 1, 3, 3]))).toThrow(grilly.DTypeError);
    });
  });

  describe('maxPool2d', () => {
    const CASES: [number[], Pair, RC.PoolRefOpts][] = [
      [[2, 3, 8, 8], 2, {}], // windows tile the plane: the backward's one-window-per-thread path
      [[1, 2, 6, 9], [2, 3], {}], // tiled too, with a non-square window
      [[2, 2, 9, 7], 3, { stride: 2, padding: 1 }],
      [[1, 3, 7, 9], 2, { stride: 2, ceilMode: true }],
      [[1, 2, 6, 6], 3, { stride: 2, padding: 1, ceilMode: true }],
      [[2, 2, 9, 10], 3, { stride: 1, padding: 1, dilation: 2 }],
      [[1, 2, 7, 10], [2, 3], { stride: [1, 2], padding: [1, 1] }],
      [[1, 1, 10, 10], 3, { stride: 3, padding: 1, dilation: [2, 3], ceilMode: true }],
      [[1, 1, 5, 5], 2, { stride: 2, padding: 1, ceilMode: true }], // a last window would start at H + p: dropped (3×3)
    ];

    test('forward values and indices', async () => {
      let seed = 1000;
      for (const [shape, k, o] of CASES) {
        const x = randArray(shape, seed++);
        const ref = RC.maxPool2d(x, k, o);
        const { output, indices } = maxPool2dWithIndices(T(x), k, o);
        const label = `${JSON.stringify(shape)} k${JSON.stringify(k)} ${JSON.stringify(o)}`;
        await expectTensor(output, ref.out, {}, label);
        await expectTensor(indices, ref.idx, { dtype: 'int32' }, label);
      }
    });

    test('gradients', async () => {
      let seed = 1100;
      for (const [shape, k, o] of CASES) {
        await gradcheck((a) => maxPool2d(a!, k, o), (a) => RC.maxPool2d(a!, k, o).out, [distinct(shape, seed++)], { label: `maxPool2d ${JSON.stringify([shape, k, o])}` });
      }
      await gradcheck((a) => maxPool2d(a!, 2), (a) => R.reshape(RC.maxPool2d(R.reshape(a!, [1, 2, 5, 4]), 2).out, [2, 2, 2]), [distinct([2, 5, 4], 1200)], { label: 'maxPool2d 3-D' });
    });

    test('ties: the first maximum takes the index and the whole gradient', async () => {
      const x = randInts([2, 2, 6, 6], 1300, 0, 3); // many ties
      for (const o of [{ stride: 1, padding: 1 }, { stride: 2, ceilMode: true }] as RC.PoolRefOpts[]) {
        const ref = RC.maxPool2d(x, 3, o);
        const xt = T(x, { requiresGrad: true });
        const { output, indices } = maxPool2dWithIndices(xt, 3, o);
        await expectTensor(output, ref.out);
        await expectTensor(indices, ref.idx, { dtype: 'int32' });
        const gy = randArray(ref.out.shape, 1301);
        output.backward(T(gy));
        // expected: scatter-add of gy to the argmax of each window
        const gx = R.make(x.shape);
        const plane = 36, oplane = ref.out.shape[2]! * ref.out.shape[3]!;
        for (let i = 0; i < gy.data.length; i++) gx.data[Math.floor(i / oplane) * plane + ref.idx.data[i]!]! += gy.data[i]!;
        expectClose(await xt.grad!.data(), gx.data, { atol: 1e-6 });
      }
    });

    test('NaN wins the window and the -inf padding never does', async () => {
      const x = randArray([1, 2, 5, 5], 1400, -3, -1);
      x.data[6] = NaN; // plane 0, (1, 1)
      x.data[7] = NaN; // (1, 2): the later NaN takes the index
      x.data[25 + 24] = NaN; // plane 1, corner
      x.data[25 + 0] = -Infinity;
      const ref = RC.maxPool2d(x, 3, { stride: 2, padding: 1 });
      const xt = T(x, { requiresGrad: true });
      const { output, indices } = maxPool2dWithIndices(xt, 3, { stride: 2, padding: 1 });
      const got = await output.data();
      expectClose(got, ref.out.data, {});
      expect(Number.isNaN(got[0]!)).toBe(true);
      expect(got.some((v) => v === -Infinity)).toBe(false);
      await expectTensor(indices, ref.idx, { dtype: 'int32' });
      output.backward(grilly.onesLike(output));
      // windows (0, 0) and (1, 0) hold only the NaN at (1, 1); (0, 1) and (1, 1) hold both and pick the later (1, 2)
      expect([ref.idx.data[0], ref.idx.data[1], ref.idx.data[3], ref.idx.data[4]]).toEqual([6, 7, 6, 7]);
      const gx = R.make(x.shape);
      for (let i = 0; i < ref.idx.data.length; i++) gx.data[Math.floor(i / 9) * 25 + ref.idx.data[i]!]! += 1;
      expectExact(await xt.grad!.data(), gx.data);
      // an all -inf window: index of its first pixel, value -inf
      const y = maxPool2dWithIndices(grilly.full([1, 1, 2, 2], -Infinity), 2);
      expect([...(await y.output.data())]).toEqual([-Infinity]);
      expect([...(await y.indices.data())]).toEqual([0]);
    });

    test('indices are saved per call: a module pooling twice before one backward', async () => {
      const a = distinct([1, 1, 4, 4], 1500), b = distinct([1, 1, 4, 4], 1501);
      const xa = T(a, { requiresGrad: true }), xb = T(b, { requiresGrad: true });
      const ya = maxPool2d(xa, 2), yb = maxPool2d(xb, 2);
      ya.add(yb.mul(2)).sum().backward();
      const ia = RC.maxPool2d(a, 2).idx.data, ib = RC.maxPool2d(b, 2).idx.data;
      const ga = new Float64Array(16), gb = new Float64Array(16);
      for (const i of ia) ga[i] = 1;
      for (const i of ib) gb[i] = 2;
      expectExact(await xa.grad!.data(), ga);
      expectExact(await xb.grad!.data(), gb);
    });

    test('errors', () => {
      const x = grilly.ones([1, 1, 4, 4]);
      expect(() => maxPool2d(x, 3, { padding: 2 })).toThrow(/maxPool2d: padding \[2, 2\] must be at most half the kernel size \[3, 3\]/);
      expect(() => maxPool2d(x, 5)).toThrow(/maxPool2d: the window 5×5 is larger than the padded input 4×4/);
      expect(() => maxPool2d(x, 2, { stride: 0 })).toThrow(grilly.ValueError);
      expect(() => maxPool2d(x, 0)).toThrow(/maxPool2d: kernelSize must be positive/);
      expect(() => maxPool2d(grilly.ones([4, 4]), 2)).toThrow(/maxPool2d: expected a 4-D \(N, C, H, W\) or 3-D \(C, H, W\) input, got 2-D \[4, 4\]/);
    });
  });

  describe('avgPool2d', () => {
    const CASES: [number[], Pair, RC.AvgRefOpts][] = [
      [[2, 3, 8, 8], 2, {}], // windows tile the plane: the backward's one-window-per-thread path
      [[1, 2, 6, 9], [2, 3], {}], // tiled too, with a non-square window
      [[2, 2, 9, 7], 3, { stride: 2, padding: 1 }],
      [[2, 2, 9, 7], 3, { stride: 2, padding: 1, countIncludePad: false }],
      [[1, 2, 7, 8], 3, { stride: 2, padding: 1, ceilMode: true }],
      [[1, 2, 7, 8], 3, { stride: 2, padding: 1, ceilMode: true, countIncludePad: false }],
      [[1, 3, 7, 9], 2, { stride: 2, ceilMode: true }],
      [[1, 2, 6, 7], [2, 3], { stride: [2, 1], padding: [1, 1], divisorOverride: 5 }],
      [[2, 1, 7, 10], [3, 2], { stride: [1, 3], padding: [1, 0], countIncludePad: false }],
      [[1, 1, 5, 5], 2, { stride: 2, padding: 1, ceilMode: true }], // a last window would start at H + p: dropped (3×3)
    ];

    test('forward', async () => {
      let seed = 2000;
      for (const [shape, k, o] of CASES) {
        const x = randArray(shape, seed++);
        const ref = RC.avgPool2d(x, k, o);
        await expectTensor(avgPool2d(T(x), k, o), ref, fwdTol(ref), `${JSON.stringify(shape)} k${JSON.stringify(k)} ${JSON.stringify(o)}`);
      }
    });

    test('gradients', async () => {
      let seed = 2100;
      for (const [shape, k, o] of CASES) {
        await gradcheck((a) => avgPool2d(a!, k, o), (a) => RC.avgPool2d(a!, k, o), [randArray(shape, seed++)], { label: `avgPool2d ${JSON.stringify([shape, k, o])}` });
      }
    });

    test('errors', () => {
      expect(() => avgPool2d(grilly.ones([1, 1, 4, 4]), 2, { divisorOverride: 0 })).toThrow(/avgPool2d: divisorOverride must be a positive integer/);
      expect(() => avgPool2d(grilly.ones([1, 1, 4, 4]), 2, { padding: 2 })).toThrow(/avgPool2d: padding \[2, 2\] must be at most half/);
    });
  });

  describe('adaptiveAvgPool2d', () => {
    const CASES: [number[], [number, number]][] = [
      [[2, 3, 8, 8], [4, 4]],
      [[2, 2, 7, 9], [3, 4]],
      [[1, 4, 5, 5], [1, 1]],
      [[1, 2, 3, 4], [5, 7]],
      [[1, 1, 10, 6], [4, 6]],
    ];

    test('forward and gradients', async () => {
      let seed = 3000;
      for (const [shape, size] of CASES) {
        const x = randArray(shape, seed++);
        const ref = RC.adaptiveAvgPool2d(x, size);
        await expectTensor(adaptiveAvgPool2d(T(x), size), ref, fwdTol(ref));
        await gradcheck((a) => adaptiveAvgPool2d(a!, size), (a) => RC.adaptiveAvgPool2d(a!, size), [x], { label: `adaptive ${JSON.stringify([shape, size])}` });
      }
      const x = randArray([3, 7, 5], 3100);
      const ref = RC.adaptiveAvgPool2d(R.reshape(x, [1, 3, 7, 5]), [2, 5]);
      await expectTensor(adaptiveAvgPool2d(T(x), [2, null]), R.reshape(ref, [3, 2, 5]), fwdTol(ref), '3-D, width kept');
      expect(() => adaptiveAvgPool2d(T(x), 0)).toThrow(/adaptiveAvgPool2d: outputSize must be positive/);
    });
  });

  // PyTorch's numbers (float64) when test/fixtures/torch/conv.json exists.
  describe('against PyTorch fixtures', () => {
    const present = existsSync(FIXTURES);
    test.skipIf(!present)(
      present ? 'conv.json' : 'SKIPPED: test/fixtures/torch/conv.json is absent (python3 test/fixtures/torch/make_conv_fixtures.py writes it)',
      async () => {
        const doc = JSON.parse(readFileSync(FIXTURES, 'utf8')) as { cases: Fixture[] };
        expect(doc.cases.length).toBeGreaterThan(0);
        for (const c of doc.cases) await replay(c);
      },
    );
  });
});

interface Arr { shape: number[]; data: (number | null)[] }
interface Fixture {
  op: 'conv2d' | 'maxPool2d' | 'avgPool2d' | 'adaptiveAvgPool2d';
  name: string;
  params: Record<string, unknown>;
  x: Arr; w?: Arr; b?: Arr | null; gy: Arr; y: Arr; gx: Arr; gw?: Arr; gb?: Arr | null; indices?: Arr;
}

const num = (a: Arr) => a.data.map((v) => (v === null ? NaN : v));
const fromArr = (a: Arr, requiresGrad = true) => grilly.tensor(Float32Array.from(num(a)), a.shape, { requiresGrad });
const tuple = (v: unknown) => (Array.isArray(v) ? ([v[0], v[1]] as [number, number]) : (v as number));

async function replay(c: Fixture): Promise<void> {
  const x = fromArr(c.x);
  const w = c.w ? fromArr(c.w) : null;
  const b = c.b ? fromArr(c.b) : null;
  const p = c.params;
  let y: Tensor;
  if (c.op === 'conv2d') {
    y = conv2d(x, w!, b, { stride: tuple(p.stride), padding: tuple(p.padding), dilation: tuple(p.dilation), groups: p.groups as number });
  } else if (c.op === 'maxPool2d') {
    const r = maxPool2dWithIndices(x, tuple(p.kernelSize), { stride: p.stride === null ? null : tuple(p.stride), padding: tuple(p.padding), dilation: tuple(p.dilation), ceilMode: p.ceilMode as boolean });
    y = r.output;
    expectExact(await r.indices.data(), num(c.indices!), `${c.name}: indices`);
  } else if (c.op === 'avgPool2d') {
    y = avgPool2d(x, tuple(p.kernelSize), {
      stride: p.stride === null ? null : tuple(p.stride), padding: tuple(p.padding), ceilMode: p.ceilMode as boolean,
      countIncludePad: p.countIncludePad as boolean, divisorOverride: p.divisorOverride as number | null,
    });
  } else {
    y = adaptiveAvgPool2d(x, tuple(p.outputSize) as [number, number]);
  }
  const close = async (t: Tensor | null, a: Arr, what: string) => {
    expect(t, `${c.op} ${c.name}: ${what}`).not.toBeNull();
    expect([...t!.shape], `${c.op} ${c.name}: ${what} shape`).toEqual(a.shape);
    const e = num(a);
    expectClose(await t!.data(), e, { atol: 1e-5 * Math.max(1, maxAbs(e.filter((v) => !Number.isNaN(v)))), rtol: 1e-4 }, `${c.op} ${c.name}: ${what}`);
  };
  await close(y, c.y, 'output');
  y.backward(fromArr(c.gy, false));
  await close(x.grad, c.gx, 'grad x');
  if (c.gw) await close(w!.grad, c.gw, 'grad weight');
  if (c.gb) await close(b!.grad, c.gb, 'grad bias');
}

describe('webgpu equals cpu (moderate sizes)', () => {
  const both = BACKENDS.includes('cpu') && BACKENDS.includes('webgpu');
  test.skipIf(!both)('conv 8×16×14×14, 32 filters 3×3 pad 1, then depthwise, 1×1, maxPool, avgPool, adaptiveAvgPool', async () => {
    const results: Float32Array[][] = [];
    for (const backend of ['cpu', 'webgpu'] as const) {
      await grilly.init({ backend });
      grilly.manualSeed(77);
      const x = grilly.randn([8, 16, 14, 14]).requiresGrad_();
      const w = grilly.randn([32, 16, 3, 3]).mul(0.1).requiresGrad_();
      const b = grilly.randn([32]).requiresGrad_();
      const wd = grilly.randn([32, 1, 3, 3]).requiresGrad_();
      const y = conv2d(x, w, b, { padding: 1 });
      const z = conv2d(y, wd, null, { padding: 1, groups: 32, stride: 2 });
      const m = maxPool2d(y, 3, { stride: 2, padding: 1 });
      const a = avgPool2d(z, 2, { ceilMode: true });
      const q = adaptiveAvgPool2d(y, [3, 5]);
      const w1 = grilly.randn([24, 32, 1, 1]).mul(0.2).requiresGrad_();
      const u = conv2d(m, w1, b.slice(0, 0, 24));
      const loss = m.mul(m).sum().add(a.sum().mul(3)).add(q.mul(q).sum()).add(u.mul(u).mean());
      loss.backward();
      const outs = [y, z, m, a, q, u, x.grad!, w.grad!, b.grad!, wd.grad!, w1.grad!];
      const host: Float32Array[] = [];
      for (const o of outs) host.push(Float32Array.from(await o.data()));
      results.push(host);
    }
    const [cpu, gpu] = results as [Float32Array[], Float32Array[]];
    cpu.forEach((c, i) => expectClose(gpu[i]!, c, { atol: 2e-5 * Math.max(1, maxAbs(c)), rtol: 1e-4 }, `output ${i}`));
  });
});
