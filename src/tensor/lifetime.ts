// When a tensor's memory goes back to the pool. Storage is refcounted: a tensor holds one
// reference, and so do views (reshape) and the autograd graph's saved copies. References are
// dropped by dispose(), by the end of a tidy() scope, or, for tensors the program simply
// forgets, by a FinalizationRegistry after garbage collection. Because V8 cannot see GPU
// memory, GPU allocation pressure asks V8 for a collection now and then.
import type { Backend, BufferHandle } from '../backend/types.js';
import { GrillyError, StateError } from '../errors.js';

export class Storage {
  refs = 1;
  constructor(readonly backend: Backend, public handle: BufferHandle) {}
  /** Moves the data to long-lived memory (parameters, optimizer state); views follow. */
  persist(): void {
    this.handle = this.backend.persist(this.handle);
  }
  retain(): this {
    this.refs++;
    return this;
  }
  release(): void {
    if (--this.refs === 0 && !this.backend.closed) this.backend.free(this.handle);
  }
}

type Registry = FinalizationRegistry<Storage> & { cleanupSome?: () => void };
let finalizer: Registry = new FinalizationRegistry<Storage>((s) => s.release());

export interface Disposable {
  dispose(): void;
  readonly isDisposed: boolean;
  /** @internal set by keep(): tidy leaves it alone. */
  _kept: boolean;
}

export function registerFinalizer(owner: object, s: Storage): void {
  finalizer.register(owner, s, owner);
}
export function unregisterFinalizer(owner: object): void {
  finalizer.unregister(owner);
}

// ---- tidy scopes -----------------------------------------------------------------------------
const scopes: Disposable[][] = [];
let trackingOff = 0;

export function track(t: Disposable): void {
  if (trackingOff === 0 && scopes.length) scopes[scopes.length - 1]!.push(t);
}

/** Runs fn with new tensors not tracked by any tidy scope (the autograd graph's own copies). */
export function untracked<T>(fn: () => T): T {
  trackingOff++;
  try {
    return fn();
  } finally {
    trackingOff--;
  }
}

function collect(v: unknown, into: Set<unknown>, depth = 0): void {
  if (v === null || typeof v !== 'object' || depth > 4) return;
  if ('dispose' in v && 'isDisposed' in v) {
    into.add(v);
    return;
  }
  if (Array.isArray(v)) for (const x of v) collect(x, into, depth + 1);
  else if (Object.getPrototypeOf(v) === Object.prototype) for (const x of Object.values(v)) collect(x, into, depth + 1);
  else if (v instanceof Map) for (const x of v.values()) collect(x, into, depth + 1);
}

/**
 * Runs fn and disposes every tensor it created, except those it returns (in an array or plain
 * object too) and those passed to keep(). fn must be synchronous.
 */
export function tidy<T>(fn: () => T): T {
  scopes.push([]);
  let result: T;
  let scope: Disposable[];
  try {
    result = fn();
  } catch (e) {
    scope = scopes.pop()!;
    for (const t of scope) if (!t._kept) t.dispose();
    throw e;
  }
  scope = scopes.pop()!;
  if (result instanceof Promise) {
    throw new GrillyError('tidy: fn must be synchronous (it returned a Promise); await outside tidy, or dispose by hand');
  }
  const keepSet = new Set<unknown>();
  collect(result, keepSet);
  const parent = scopes[scopes.length - 1];
  for (const t of scope) {
    if (keepSet.has(t)) {
      // Returned tensors belong to the enclosing scope, if any.
      if (parent && !t._kept) parent.push(t);
    } else if (!t._kept) t.dispose();
  }
  return result;
}

/** Exempts a tensor from the tidy scopes it was created in. */
export function keep<T extends Disposable>(t: T): T {
  t._kept = true;
  return t;
}

export function disposedError(what: string, op: string): StateError {
  return new StateError(`${op}: ${what} was disposed and cannot be used`);
}

// ---- GC pressure -----------------------------------------------------------------------------
// V8 cannot see GPU memory, so a loop that drops tensors without dispose() could fill the GPU
// before V8 feels any need to collect. When the memory taken from the device grows by a step
// (allocations the pool could not serve), we collect now, and (where V8 offers cleanupSome) run
// the finalizers at once, so even a loop that never awaits gets its memory back. A loop whose
// allocations the pool serves never pays for a collection (a full GC costs milliseconds).
let gcFn: (() => void) | null | undefined;
let lastGcBytes = 0;
/** Bytes allocated between forced collections at most (so device memory may float by about this much). */
export const GC_STEP = 64 * 2 ** 20;

/** Loads a callable gc() in Node (the flag can be set at run time); null elsewhere. */
export async function setupGc(): Promise<void> {
  if (gcFn !== undefined) return;
  gcFn = null;
  if (typeof process === 'undefined' || !process.versions?.node) return;
  try {
    const v8 = await import('node:v8');
    const vm = await import('node:vm');
    v8.setFlagsFromString('--expose-gc');
    v8.setFlagsFromString('--harmony-weak-refs-with-cleanup-some');
    const g = vm.runInNewContext('gc') as unknown;
    if (typeof g === 'function') gcFn = g as () => void;
    // A registry from a fresh context has cleanupSome() when the flag took effect.
    const FR = vm.runInNewContext('FinalizationRegistry') as typeof FinalizationRegistry;
    const r = new FR<Storage>((s) => s.release()) as Registry;
    if (typeof r.cleanupSome === 'function') finalizer = r;
  } catch {
    gcFn = null;
  }
}

/**
 * @internal (tests, benches) Collects now where Node allows it and lets the finalizers run, so
 * memory in use counts only what is still reachable. Returns false where no gc() could be loaded.
 */
export async function collectGarbage(): Promise<boolean> {
  if (!gcFn) return false;
  for (let i = 0; i < 2; i++) {
    gcFn();
    finalizer.cleanupSome?.();
    await new Promise((r) => setTimeout(r, 0));
  }
  return true;
}

/**
 * Called by a pooled allocator before it takes more memory from the device: when a step's worth
 * of tensors was allocated since the last collection, dropped-but-uncollected ones may hold the
 * chunks it needs, so it collects (and runs the finalizers) first. Returns whether it did (the
 * pool is worth searching again). A loop whose allocations the pool serves never gets here.
 */
let allocatedSinceGc = 0;
export function reclaimBeforeGrowing(): boolean {
  if (!gcFn || allocatedSinceGc < GC_STEP) return false;
  gcFn();
  finalizer.cleanupSome?.();
  allocatedSinceGc = 0;
  return true;
}

/** Called after each device allocation (of `bytes`) with the bytes now taken from the device. */
export function allocationPressure(bytesReserved: number, bytes: number): void {
  allocatedSinceGc += bytes;
  if (!gcFn) return;
  if (bytesReserved < lastGcBytes) lastGcBytes = bytesReserved;
  else if (bytesReserved - lastGcBytes > Math.max(GC_STEP, lastGcBytes / 8)) {
    gcFn();
    finalizer.cleanupSome?.();
    lastGcBytes = bytesReserved;
    allocatedSinceGc = 0;
  }
}
