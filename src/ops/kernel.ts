// Shared pieces for op files: launching a kernel into a new tensor, the WGSL prelude (uniform
// access, 2-D grid folding) and typed-view helpers for CPU kernels.
import type { Backend, BufferHandle, CpuView, DType, Kernel } from '../backend/types.js';
import { BackendError } from '../errors.js';
import { currentBackend } from '../runtime.js';
import type { Shape } from '../shape.js';
import { Tensor } from '../tensor/tensor.js';

export const WG = 256;
/** The most workgroups along one grid dimension (WebGPU's default maxComputeWorkgroupsPerDimension). */
export const MAX_GRID = 65535;

/** The backend all inputs live on; mixing backends is an error that names the op. */
export function backendOf(op: string, inputs: readonly Tensor[]): Backend {
  if (inputs.length === 0) return currentBackend(op);
  const b = inputs[0]!.storage(op).backend; // (storage(op): a disposed input is named by this op)
  for (let i = 1; i < inputs.length; i++) {
    const o = inputs[i]!.storage(op).backend;
    if (o !== b) throw new BackendError(`${op}: tensors live on different backends (${b.kind} and ${o.kind}); move one with await t.to('${b.kind}')`);
  }
  return b;
}

export function handles(op: string, ts: readonly Tensor[]): BufferHandle[] {
  return ts.map((t) => t.storage(op).handle);
}

/** Runs `k` on `inputs`, writing one new tensor of `shape`/`dtype`. */
export function launch<P>(op: string, k: Kernel<P>, inputs: readonly Tensor[], shape: Shape, dtype: DType, p: P): Tensor {
  const b = backendOf(op, inputs);
  const out = Tensor.empty(shape, dtype, op, b, inputs);
  b.run(k, handles(op, inputs), [out.storage(op).handle], p);
  return out;
}

/** Runs `k` writing into existing tensors (in place). */
export function launchInto<P>(op: string, k: Kernel<P>, inputs: readonly Tensor[], outputs: readonly Tensor[], p: P): void {
  const b = backendOf(op, [...inputs, ...outputs]);
  b.run(k, handles(op, inputs), handles(op, outputs), p);
}

/** Workgroups for `n` items at `per` items each, folded into x and y under the 65535 limit. */
export function grid1d(n: number, per = WG): [number, number, number] {
  const w = Math.ceil(n / per);
  if (w === 0) return [0, 1, 1];
  const x = Math.min(w, MAX_GRID);
  return [x, Math.ceil(w / x), 1];
}

export const wgslType = (d: DType): string => (d === 'int32' ? 'i32' : 'f32');
export const view = (v: CpuView, d: DType): Float32Array | Int32Array => (d === 'int32' ? v.i32 : v.f32);

/** Uniform access (64 words) and the linear-invocation index for 1-D kernels on a 2-D grid. */
export const PRELUDE = /* wgsl */ `
struct Params { w: array<vec4<u32>, 16> }
@group(0) @binding(0) var<uniform> P: Params;
fn pu(i: u32) -> u32 { return P.w[i >> 2u][i & 3u]; }
fn pf(i: u32) -> f32 { return bitcast<f32>(pu(i)); }
fn pi(i: u32) -> i32 { return bitcast<i32>(pu(i)); }
`;

/** Entry point header for 1-D kernels: defines `idx` (the invocation's linear index). */
export function main1d(body: string, wg = WG): string {
  return `
@compute @workgroup_size(${wg})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let idx = gid.x + gid.y * nwg.x * ${wg}u;
${body}
}`;
}

/** Storage declarations: inputs read-only from binding 1, outputs read-write after them. */
export function bindings(inputs: readonly [string, string][], outputs: readonly [string, string][]): string {
  let s = '';
  let b = 1;
  for (const [name, ty] of inputs) s += `@group(0) @binding(${b++}) var<storage, read> ${name}: array<${ty}>;\n`;
  for (const [name, ty] of outputs) s += `@group(0) @binding(${b++}) var<storage, read_write> ${name}: array<${ty}>;\n`;
  return s;
}
