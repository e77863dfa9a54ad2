// Process-wide state: the active backend, grad mode, tidy scopes and the random generator's seed.
import type { Backend, BackendInfo, EngineStats, MemoryInfo } from './backend/types.js';
import { CpuBackend } from './backend/cpu/index.js';
import { StateError, ValueError } from './errors.js';

export type BackendName = 'auto' | 'webgpu' | 'cpu';

export interface InitOptions {
  backend?: BackendName;
  /** Print the one-line notice when `auto` falls back to cpu (default true). */
  quiet?: boolean;
  /** Extra Dawn flags for the webgpu package, e.g. "enable-dawn-features=…". */
  dawnFlags?: string[];
}

let active: Backend | null = null;
/** Backends started so far, by kind; tensors keep living on theirs when another is activated. */
const live = new Map<'cpu' | 'webgpu', Backend>();
let exitHookInstalled = false;

export function currentBackend(op: string): Backend {
  if (!active) throw new StateError(`${op}: grilly is not initialised; call \`await grilly.init()\` first`);
  return active;
}

export function hasBackend(): boolean {
  return active !== null && !active.closed;
}

export function currentBackendOrNull(): Backend | null {
  return active && !active.closed ? active : null;
}

/** Chooses and starts a backend. `auto` takes webgpu when an adapter exists, else cpu. */
export async function init(opts: InitOptions = {}): Promise<BackendInfo> {
  let want: BackendName = opts.backend ?? 'auto';
  const env = typeof process !== 'undefined' ? process.env?.GRILLY_BACKEND : undefined;
  if (want === 'auto' && env) {
    if (env !== 'cpu' && env !== 'webgpu' && env !== 'auto') throw new ValueError(`init: GRILLY_BACKEND must be cpu, webgpu or auto, got "${env}"`);
    want = env;
  }
  if (want !== 'auto' && want !== 'cpu' && want !== 'webgpu') throw new ValueError(`init: backend must be 'auto', 'webgpu' or 'cpu', got ${JSON.stringify(want)}`);
  if (active && !active.closed && (want === 'auto' || want === active.kind)) return active.info;
  const existing = want === 'auto' ? undefined : live.get(want);
  if (existing && !existing.closed) {
    active = existing;
    return existing.info;
  }
  if (want === 'cpu') return activate(new CpuBackend()).info;
  const { createWebGPUBackend } = await import('./backend/webgpu/index.js');
  const { backend, notice } = await createWebGPUBackend({ flags: opts.dawnFlags ?? [] });
  if (backend) {
    installExitHook();
    return activate(backend).info;
  }
  if (want === 'webgpu') throw new StateError(`init: the webgpu backend is not available here (${notice}); use backend 'cpu' or 'auto'`);
  if (!opts.quiet) console.warn(`grilly: no usable WebGPU (${notice}); using the cpu backend`);
  return activate(live.get('cpu') && !live.get('cpu')!.closed ? live.get('cpu')! : new CpuBackend()).info;
}

function activate(b: Backend): Backend {
  live.set(b.kind, b);
  active = b;
  return b;
}

/** A started backend by kind (for moving tensors between them). */
// ---- matmul precision -----------------------------------------------------------------------
export type MatmulPrecision = 'fp32' | 'fp16' | 'fp16x3';
const PRECISIONS: readonly MatmulPrecision[] = ['fp32', 'fp16', 'fp16x3'];
let precision: MatmulPrecision = 'fp32';
{
  const env = typeof process !== 'undefined' ? process.env?.GRILLY_MATMUL_PRECISION : undefined;
  if (env && (PRECISIONS as readonly string[]).includes(env)) precision = env as MatmulPrecision;
}
const precisionNoticed = new Set<string>();

/**
 * The precision of matmul/linear (the analogue of PyTorch's TF32 switch and
 * torch.set_float32_matmul_precision):
 * - 'fp32' (default): f32 multiply-adds.
 * - 'fp16': inputs rounded to f16, products accumulated in f32, on tensor cores (WebGPU subgroup
 *   matrices); about 2⁻¹¹ relative error.
 * - 'fp16x3': each f32 input split into two f16 halves, three f16 products on tensor cores, summed
 *   in chunks of K so that the error stays at the fp32 GEMM's (src/ops/sgmat3.ts). Used for large
 *   products (≥ 2³¹ multiply-adds, one batch, dims multiples of 4, N ≥ 64); others stay fp32.
 * Where the adapter lacks the subgroup matrices, matmuls stay fp32 and a notice says so (once).
 * GRILLY_MATMUL_PRECISION=fp16 (or fp16x3) sets it for a whole run.
 */
export function setMatmulPrecision(p: MatmulPrecision): void {
  if (!PRECISIONS.includes(p)) throw new ValueError(`setMatmulPrecision: expected 'fp32', 'fp16' or 'fp16x3', got ${JSON.stringify(p)}`);
  precision = p;
  if (p !== 'fp32' && active && !active.closed) precisionNotice(active);
}
export function getMatmulPrecision(): MatmulPrecision {
  return precision;
}
/** How matmuls on backend b run now (warns once per backend when a tensor-core mode is asked but unsupported). */
export function matmulMode(b: Backend): MatmulPrecision {
  if (precision === 'fp32') return 'fp32';
  if (b.info.f16Matmul) return precision;
  precisionNotice(b);
  return 'fp32';
}
function precisionNotice(b: Backend): void {
  if (b.info.f16Matmul || precisionNoticed.has(b.info.summary)) return;
  precisionNoticed.add(b.info.summary);
  console.warn(`grilly: matmul precision '${precision}' needs f16 subgroup matrices (chromium-experimental-subgroup-matrix), which ${b.info.summary} lacks; matmuls stay fp32`);
}

export function backendByKind(kind: 'cpu' | 'webgpu', op: string): Backend {
  const b = live.get(kind);
  if (!b || b.closed) throw new StateError(`${op}: the ${kind} backend is not started; call \`await grilly.init({ backend: '${kind}' })\` first`);
  return b;
}

export function backendInfo(): BackendInfo {
  return currentBackend('backendInfo').info;
}

/** Releases the device. A script that used the GPU also does this by itself when it ends. */
export function shutdown(): void {
  for (const b of live.values()) if (!b.closed) b.shutdown();
  live.clear();
  active = null;
  deferred.length = 0; // checks of a released device cannot run
}

function installExitHook(): void {
  if (exitHookInstalled || typeof process === 'undefined' || typeof process.once !== 'function') return;
  exitHookInstalled = true;
  // Dawn can keep the event loop alive while a device exists; release it once nothing else is left.
  process.once('beforeExit', () => shutdown());
}

export function memory(): MemoryInfo {
  return currentBackend('memory').memory();
}

export function engineStats(): EngineStats {
  return currentBackend('stats').stats();
}

// ---- grad mode -------------------------------------------------------------------------------
let gradEnabled = true;
export function isGradEnabled(): boolean {
  return gradEnabled;
}
/** Runs fn with gradient recording off (like torch.no_grad). */
export function noGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}
export function withGradMode<T>(on: boolean, fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = on;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

// ---- random ----------------------------------------------------------------------------------
let seed = (Math.random() * 2 ** 32) >>> 0;
let calls = 0;
/** Makes random creation reproducible (on each backend; both backends produce the same uniforms). */
export function manualSeed(n: number): void {
  if (!Number.isFinite(n)) throw new ValueError(`manualSeed: expected a finite number, got ${n}`);
  seed = Math.trunc(n) >>> 0;
  calls = 0;
}
/** The generator's position, for checkpoints that resume exactly. */
export function getRngState(): { seed: number; calls: number } {
  return { seed, calls };
}
export function setRngState(st: { seed: number; calls: number }): void {
  if (!Number.isInteger(st.seed) || !Number.isInteger(st.calls) || st.calls < 0) throw new ValueError(`setRngState: expected integer seed and calls, got ${JSON.stringify(st)}`);
  seed = st.seed >>> 0;
  calls = st.calls;
}
/** A fresh (seed, stream) pair for one random op. */
export function nextRandomKey(): [number, number] {
  return [seed, calls++ >>> 0];
}

// ---- deferred checks -------------------------------------------------------------------------
// Checks a GPU cannot raise synchronously (debug NaN checks, index ranges) run before the next read
// returns, in the order they were made; the first that fails is reported and the rest dropped. Reads
// issued together share one run, so none returns before the checks made before it have passed. A
// check reads its own data with _dataUnchecked (a read that ran the checks would wait on itself).
const deferred: (() => Promise<void>)[] = [];
let inflight: Promise<void> | null = null;
export function deferCheck(check: () => Promise<void>): void {
  deferred.push(check);
}
export function runDeferredChecks(): Promise<void> {
  if (!inflight) {
    const run = async () => {
      try {
        while (deferred.length) await deferred.shift()!();
      } catch (e) {
        deferred.length = 0;
        throw e;
      }
    };
    // (.finally runs as a microtask, after inflight is assigned, even when run() finishes at once)
    inflight = run().finally(() => {
      inflight = null;
    });
  }
  return inflight;
}
export function hasDeferredChecks(): boolean {
  return deferred.length > 0 || inflight !== null;
}
