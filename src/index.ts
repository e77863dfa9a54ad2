// grilly: spiking neural networks trained with surrogate gradients on the GPU, from TypeScript.
// This entry point is the tensor engine: backends, tensors, ops and autograd.
import './tensor/methods.js';
import { setupGc } from './tensor/lifetime.js';
import * as rt from './runtime.js';
import type { BackendInfo } from './backend/types.js';

/**
 * Starts a backend: 'auto' (default) takes WebGPU when an adapter exists and the cpu backend
 * otherwise; GRILLY_BACKEND=cpu|webgpu overrides 'auto'. Returns what was chosen.
 */
export async function init(opts: rt.InitOptions = {}): Promise<BackendInfo> {
  await setupGc();
  return rt.init(opts);
}

export { backendInfo, shutdown, memory, noGrad, manualSeed, getRngState, setRngState, setMatmulPrecision, getMatmulPrecision } from './runtime.js';
export type { InitOptions, BackendName, MatmulPrecision } from './runtime.js';
export { engineStats as stats } from './runtime.js';

/** Returns pooled device memory to the device. */
export function emptyCache(): void {
  rt.currentBackend('emptyCache').emptyCache();
}
/** Resolves when all work submitted so far has finished on the device (and deferred checks passed). */
export async function sync(): Promise<void> {
  await rt.currentBackend('sync').sync();
  await rt.runDeferredChecks();
}
export { setDebug } from './snn/debug.js';
export type { DebugOptions } from './snn/debug.js';

export { tidy, keep } from './tensor/lifetime.js';
export { Tensor } from './tensor/tensor.js';
export {
  tensor, zeros, ones, full, zerosLike, onesLike, fullLike, rand, randn, randint, randLike, randnLike, arange,
} from './tensor/create.js';
export type { TensorOptions, TensorData, NestedArray } from './tensor/create.js';
export {
  add, sub, mul, div, neg, pow, exp, log, sqrt, abs, sign, clamp, relu, sigmoid, tanh, maximum, minimum,
  eq, ne, lt, le, gt, ge, where, float, int, isfinite, isnan,
} from './ops/elementwise.js';
export { sum, mean, max, min, argmax, argmin } from './ops/reduce.js';
export { reshape, flatten, squeeze, unsqueeze, transpose, permute, expand, slice, narrow, cat, stack, split } from './ops/view.js';
export { matmul } from './ops/matmul.js';
export { softmax, logSoftmax } from './ops/softmax.js';
export { gather, oneHot } from './ops/gather.js';
export { conv2d } from './ops/conv.js';
export type { Conv2dOptions, IntPair } from './ops/conv.js';
export { maxPool2d, maxPool2dWithIndices, avgPool2d, adaptiveAvgPool2d } from './ops/pool.js';
export type { MaxPool2dOptions, AvgPool2dOptions } from './ops/pool.js';
export { linear } from './ops/linear.js';
export type { BackwardOptions } from './autograd/engine.js';
export { save, load, CheckpointError, MAX_HEADER_BYTES } from './io/index.js';
export type { LoadOptions, LoadResult } from './io/index.js';
export type { DType, BackendInfo, MemoryInfo, EngineStats } from './backend/types.js';
export { GrillyError, ShapeError, DTypeError, BackendError, StateError, ValueError } from './errors.js';
