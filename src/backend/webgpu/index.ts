// WebGPU backend: Dawn in Node (the `webgpu` package, Vulkan on Linux) or navigator.gpu in a browser.
// Every dispatch of a step is recorded into one command encoder and one compute pass; work is
// submitted when a result is read, when the batch limit is reached, or on flush(). Nothing here
// waits on the GPU except read() and sync().
import type { Backend, BackendInfo, BufferHandle, EngineStats, Kernel, MemoryInfo } from '../types.js';
import { UniformWriter, UNIFORM_WORDS } from '../types.js';

import { BackendError, StateError } from '../../errors.js';
import { BufferPool, SlabAllocator, sizeClass, type Chunk } from './pool.js';
import { reclaimBeforeGrowing } from '../../tensor/lifetime.js';

/** Recorded dispatches that make a conditional flush (backward()'s) submit whatever their bytes. */
const FLUSH_DISPATCHES = 64;

// Numeric values of GPUBufferUsage / GPUMapMode, so no globals need installing in Node.
const USAGE = { MAP_READ: 0x1, COPY_SRC: 0x4, COPY_DST: 0x8, UNIFORM: 0x40, STORAGE: 0x80, QUERY_RESOLVE: 0x200 } as const;
const MAP_READ = 0x1;
const COMPUTE_STAGE = 0x4;

/** A tensor's memory: one chunk of a slab. Kernels see it through a dynamic offset. */
class GpuBuf implements BufferHandle {
  freed = false;
  constructor(readonly chunk: Chunk<GPUBuffer>, readonly bytes: number, readonly persistent = false) {}
  get buffer(): GPUBuffer {
    return this.chunk.slab.buffer;
  }
  get offset(): number {
    return this.chunk.index * this.chunk.slab.cls;
  }
  get size(): number {
    return this.chunk.slab.cls;
  }
}

interface Layout {
  key: string;
  group: GPUBindGroupLayout;
  pipeline: GPUPipelineLayout;
  /** Storage bindings take dynamic offsets (false when there are more than the device allows). */
  dynamic: boolean;
}

interface PipelineEntry {
  pipeline: GPUComputePipeline;
  layout: Layout;
}

/** Bind groups kept before the cache is cleared wholesale. */
const BIND_CACHE_MAX = 4096;

export interface WebGPUOptions {
  /** Dispatches recorded before the encoder is submitted on its own. */
  maxBatch?: number;
  /** Free slab bytes kept before empty slabs are destroyed. */
  poolLimitBytes?: number;
}

const UNIFORM_BYTES = UNIFORM_WORDS * 4;
const UPLOAD_ARENA = 4 << 20;

export class WebGPUBackend implements Backend {
  readonly kind = 'webgpu' as const;
  closed = false;
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private pending = 0;
  /** Tensor bytes bound by the dispatches recorded since the last submit. */
  private pendingBytes = 0;
  private readonly maxBatch: number;
  private readonly poolLimit: number;
  private readonly slot: number;
  private readonly ustage: ArrayBuffer;
  private readonly uwriter: UniformWriter;
  private ubuf: GPUBuffer;
  private uused = 0;
  private readonly upstage: Uint8Array<ArrayBuffer>;
  private upbuf: GPUBuffer;
  private upused = 0;
  private readonly pipelines = new Map<string, PipelineEntry>();
  private readonly layouts = new Map<string, Layout>();
  private readonly bindCache = new Map<string, GPUBindGroup>();
  private readonly slabIds = new WeakMap<GPUBuffer, number>();
  private nextSlabId = 1;
  private lastPipeline: GPUComputePipeline | null = null;
  private readonly offsets = new Uint32Array(16);
  private readonly mem: SlabAllocator<GPUBuffer>;
  /** Slabs for parameters and optimizer state, apart from transient tensors. */
  private readonly memPersistent: SlabAllocator<GPUBuffer>;
  private readonly readPool = new BufferPool<GPUBuffer>();
  private toDestroy: GPUBuffer[] = [];
  private prof: Profiler | null = null;
  private peak = 0;
  resetPeak(): void {
    this.peak = this.bytesInUse;
  }
  private deferred: string | null = null;
  private lostReason: string | null = null;
  private readonly st: EngineStats = { dispatches: 0, kernels: {}, submits: 0, reads: 0, writes: 0, pipelines: 0 };
  private readonly maxBinding: number;
  private readonly maxBuffer: number;
  private readonly maxGroups: number;
  private readonly maxDynamicStorage: number;

  constructor(readonly device: GPUDevice, readonly info: BackendInfo, opts: WebGPUOptions = {}) {
    this.maxBatch = opts.maxBatch ?? 1024;
    this.poolLimit = opts.poolLimitBytes ?? 8 * 2 ** 30;
    this.slot = Math.max(UNIFORM_BYTES, device.limits.minUniformBufferOffsetAlignment);
    this.ustage = new ArrayBuffer(this.slot * this.maxBatch);
    this.uwriter = new UniformWriter(this.ustage);
    this.ubuf = device.createBuffer({ size: this.ustage.byteLength, usage: USAGE.UNIFORM | USAGE.COPY_DST, label: 'grilly-uniforms' });
    this.upstage = new Uint8Array(UPLOAD_ARENA);
    this.upbuf = device.createBuffer({ size: UPLOAD_ARENA, usage: USAGE.COPY_SRC | USAGE.COPY_DST, label: 'grilly-uploads' });
    this.maxBinding = device.limits.maxStorageBufferBindingSize;
    this.maxBuffer = device.limits.maxBufferSize;
    this.maxGroups = device.limits.maxComputeWorkgroupsPerDimension;
    this.maxDynamicStorage = device.limits.maxDynamicStorageBuffersPerPipelineLayout;
    const align = device.limits.minStorageBufferOffsetAlignment;
    if (align > 256) throw new BackendError(`webgpu: minStorageBufferOffsetAlignment ${align} is larger than grilly's smallest size class (256)`);
    const makeSlab = (size: number) => device.createBuffer({ size, usage: USAGE.STORAGE | USAGE.COPY_SRC | USAGE.COPY_DST });
    // Before the pool grows, dropped-but-uncollected tensors get a chance to return their chunks.
    this.mem = new SlabAllocator<GPUBuffer>(makeSlab, Math.min(this.maxBinding, this.maxBuffer), () => reclaimBeforeGrowing());
    this.memPersistent = new SlabAllocator<GPUBuffer>(makeSlab, Math.min(this.maxBinding, this.maxBuffer));
    device.addEventListener('uncapturederror', (ev: Event) => {
      const e = (ev as GPUUncapturedErrorEvent).error;
      this.deferred ??= e?.message ?? String(e);
    });
    device.lost.then(
      (i) => { if (!this.closed) this.lostReason = `${i.reason}: ${i.message}`; },
      () => {},
    );
  }

  private check(): void {
    if (this.closed) throw new StateError('webgpu backend: used after grilly.shutdown(); call grilly.init() again');
    if (this.lostReason) throw new BackendError(`webgpu: the device was lost (${this.lostReason})`);
  }

  private throwDeferred(where: string): void {
    const d = this.deferred;
    if (d) {
      this.deferred = null;
      throw new BackendError(`webgpu: the device reported an error before ${where}: ${d}`);
    }
  }

  alloc(bytes: number, op: string, avoid?: readonly BufferHandle[]): BufferHandle {
    this.check();
    const need = Math.max(4, Math.ceil(bytes / 4) * 4);
    if (need > this.maxBinding || need > this.maxBuffer) {
      throw new BackendError(
        `${op}: a tensor of ${need} bytes exceeds the device's limit (maxStorageBufferBindingSize ${this.maxBinding}, maxBufferSize ${this.maxBuffer})`,
      );
    }
    // An output must not share a slab with the inputs of its kernel (read-only and writable
    // bindings of one buffer conflict), so launch() names them here.
    const av = avoid?.length ? new Set(avoid.map((h) => (h as GpuBuf).buffer)) : undefined;
    const h = new GpuBuf(this.mem.alloc(need, av), need);
    if (this.bytesInUse > this.peak) this.peak = this.bytesInUse;
    return h;
  }

  persist(h: BufferHandle): BufferHandle {
    this.check();
    const b = h as GpuBuf;
    if (b.persistent) return b;
    const moved = new GpuBuf(this.memPersistent.alloc(b.bytes), b.bytes, true);
    this.endPass();
    this.enc().copyBufferToBuffer(b.buffer, b.offset, moved.buffer, moved.offset, b.bytes);
    this.bump();
    this.free(b);
    return moved;
  }

  free(h: BufferHandle): void {
    const b = h as GpuBuf;
    if (b.freed) return;
    b.freed = true;
    if (this.closed) return;
    if (b.persistent) {
      this.memPersistent.free(b.chunk);
      return;
    }
    this.mem.free(b.chunk);
    if (this.mem.bytesPooled > this.poolLimit) {
      // Destroyed after the batch that may still use them is submitted.
      const dropped = this.mem.trim(() => this.mem.bytesPooled > this.poolLimit / 2);
      if (dropped.length) this.toDestroy.push(...dropped);
    }
  }

  write(h: BufferHandle, src: ArrayBufferView, byteOffset = 0): void {
    this.check();
    this.st.writes++;
    const b = h as GpuBuf;
    const n = src.byteLength;
    const bytes = new Uint8Array(src.buffer as ArrayBuffer, src.byteOffset, n);
    if (n <= UPLOAD_ARENA / 4) {
      // Small uploads ride in the batch: staged now, copied in order with the recorded dispatches.
      if (this.upused + n > UPLOAD_ARENA) this.flush();
      const off = this.upused;
      this.upstage.set(bytes, off);
      this.upused = off + Math.ceil(n / 16) * 16;
      this.endPass();
      this.enc().copyBufferToBuffer(this.upbuf, off, b.buffer, b.offset + byteOffset, Math.ceil(n / 4) * 4);
      this.bump();
    } else {
      // Large uploads go straight to the queue, after whatever was recorded before them.
      this.flush();
      this.device.queue.writeBuffer(b.buffer, b.offset + byteOffset, bytes);
    }
  }

  readSync(): null {
    return null;
  }

  async read(h: BufferHandle, bytes: number): Promise<ArrayBuffer> {
    this.check();
    this.st.reads++;
    const b = h as GpuBuf;
    const size = Math.max(4, Math.ceil(bytes / 4) * 4);
    const cls = sizeClass(size);
    const staging = this.readPool.take(cls) ?? this.device.createBuffer({ size: cls, usage: USAGE.MAP_READ | USAGE.COPY_DST });
    this.endPass();
    this.enc().copyBufferToBuffer(b.buffer, b.offset, staging, 0, size);
    this.flush();
    try {
      await staging.mapAsync(MAP_READ, 0, size);
    } catch (e) {
      if (this.closed) throw new StateError(`webgpu: the backend was shut down (grilly.shutdown()) while a read of ${bytes} bytes was pending`);
      this.throwDeferred('a read');
      if (this.lostReason) throw new BackendError(`webgpu: the device was lost during a read (${this.lostReason})`);
      throw new BackendError(`webgpu: reading ${bytes} bytes failed: ${(e as Error).message || String(e)}`);
    }
    const out = staging.getMappedRange(0, size).slice(0, bytes);
    staging.unmap();
    if (!this.closed) this.readPool.put(cls, staging);
    this.throwDeferred('a read');
    return out;
  }

  run<P>(k: Kernel<P>, inputs: BufferHandle[], outputs: BufferHandle[], p: P): void {
    this.check();
    const grid = k.grid(p);
    if (grid[0] === 0 || grid[1] === 0 || grid[2] === 0) return;
    for (const g of grid) {
      if (g > this.maxGroups) throw new BackendError(`${k.name}: needs ${g} workgroups in one dimension, the device allows ${this.maxGroups}`);
    }
    const ins = inputs as GpuBuf[];
    const outs = outputs as GpuBuf[];
    // A written tensor whose slab is also read in this dispatch (in-place ops on tensors that
    // happen to share a slab): compute into a fresh chunk elsewhere and copy it back.
    for (let j = 0; j < outs.length; j++) {
      const o = outs[j]!;
      if (!ins.some((x) => x.buffer === o.buffer)) continue;
      const tmp = this.alloc(o.bytes, k.name, [...ins, ...outs]) as GpuBuf;
      this.endPass();
      if (k.readsOutputs) this.enc().copyBufferToBuffer(o.buffer, o.offset, tmp.buffer, tmp.offset, o.bytes);
      const swapped = outs.slice();
      swapped[j] = tmp;
      this.run(k, inputs, swapped, p);
      this.endPass();
      this.enc().copyBufferToBuffer(tmp.buffer, tmp.offset, o.buffer, o.offset, o.bytes);
      this.free(tmp);
      return;
    }
    const key = `${k.name}|${k.key(p)}`;
    let pe = this.pipelines.get(key);
    if (!pe) pe = this.compile(k.name, key, k.wgsl(p), ins.length, outs.length);
    if (this.uused + this.slot > this.ustage.byteLength) this.flush();
    const off = this.uused;
    this.uused += this.slot;
    k.uniforms(p, this.uwriter.at(off));
    const lay = pe.layout;
    const bg = lay.dynamic ? this.slabBindGroup(lay, ins, outs) : this.fixedBindGroup(lay, ins, outs);
    const prof = this.prof;
    if (prof) {
      if (prof.used >= PROFILE_SLOTS) this.flush();
      this.endPass();
      prof.labels.push(key);
      const i = prof.used++;
      this.pass = this.enc().beginComputePass({ timestampWrites: { querySet: prof.qs, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 } });
    }
    const pass = this.computePass();
    if (this.lastPipeline !== pe.pipeline) {
      pass.setPipeline(pe.pipeline);
      this.lastPipeline = pe.pipeline;
    }
    const o = this.offsets;
    o[0] = off;
    let n = 1;
    if (lay.dynamic) {
      for (const h of ins) o[n++] = h.offset;
      for (const h of outs) o[n++] = h.offset;
    }
    pass.setBindGroup(0, bg, o, 0, n);
    pass.dispatchWorkgroups(grid[0], grid[1], grid[2]);
    for (const h of ins) this.pendingBytes += h.bytes;
    for (const h of outs) this.pendingBytes += h.bytes;
    if (prof) this.endPass();
    this.st.dispatches++;
    this.st.kernels[k.name] = (this.st.kernels[k.name] ?? 0) + 1;
    this.bump();
  }

  private slabId(b: GPUBuffer): number {
    let id = this.slabIds.get(b);
    if (id === undefined) this.slabIds.set(b, (id = this.nextSlabId++));
    return id;
  }

  /** Bind group over whole slab windows (one chunk wide); chunks are picked by dynamic offsets. */
  private slabBindGroup(lay: Layout, ins: GpuBuf[], outs: GpuBuf[]): GPUBindGroup {
    let key = lay.key;
    for (const h of ins) key += ',' + this.slabId(h.buffer);
    for (const h of outs) key += ',' + this.slabId(h.buffer);
    let bg = this.bindCache.get(key);
    if (!bg) {
      const entries: GPUBindGroupEntry[] = [{ binding: 0, resource: { buffer: this.ubuf, offset: 0, size: UNIFORM_BYTES } }];
      let i = 1;
      for (const h of [...ins, ...outs]) entries.push({ binding: i++, resource: { buffer: h.buffer, offset: 0, size: h.size } });
      bg = this.device.createBindGroup({ layout: lay.group, entries });
      if (this.bindCache.size >= BIND_CACHE_MAX) this.bindCache.clear();
      this.bindCache.set(key, bg);
    }
    return bg;
  }

  /** Bind group over each tensor's own range (kernels with more bindings than dynamic offsets allow). */
  private fixedBindGroup(lay: Layout, ins: GpuBuf[], outs: GpuBuf[]): GPUBindGroup {
    let key = lay.key;
    for (const h of [...ins, ...outs]) key += `,${this.slabId(h.buffer)}@${h.offset}`;
    let bg = this.bindCache.get(key);
    if (!bg) {
      const entries: GPUBindGroupEntry[] = [{ binding: 0, resource: { buffer: this.ubuf, offset: 0, size: UNIFORM_BYTES } }];
      let i = 1;
      for (const h of [...ins, ...outs]) entries.push({ binding: i++, resource: { buffer: h.buffer, offset: h.offset, size: h.size } });
      bg = this.device.createBindGroup({ layout: lay.group, entries });
      if (this.bindCache.size >= BIND_CACHE_MAX) this.bindCache.clear();
      this.bindCache.set(key, bg);
    }
    return bg;
  }

  /** Binding 0: the uniform block; then read-only inputs, then outputs — all at dynamic offsets. */
  private layoutFor(nIn: number, nOut: number): Layout {
    const dynamic = nIn + nOut <= this.maxDynamicStorage;
    const key = `${nIn}:${nOut}${dynamic ? 'd' : 'f'}`;
    let l = this.layouts.get(key);
    if (!l) {
      const entries: GPUBindGroupLayoutEntry[] = [{ binding: 0, visibility: COMPUTE_STAGE, buffer: { type: 'uniform', hasDynamicOffset: true, minBindingSize: UNIFORM_BYTES } }];
      for (let i = 0; i < nIn; i++) entries.push({ binding: 1 + i, visibility: COMPUTE_STAGE, buffer: { type: 'read-only-storage', hasDynamicOffset: dynamic } });
      for (let i = 0; i < nOut; i++) entries.push({ binding: 1 + nIn + i, visibility: COMPUTE_STAGE, buffer: { type: 'storage', hasDynamicOffset: dynamic } });
      const group = this.device.createBindGroupLayout({ entries });
      l = { key, group, pipeline: this.device.createPipelineLayout({ bindGroupLayouts: [group] }), dynamic };
      this.layouts.set(key, l);
    }
    return l;
  }

  private compile(name: string, key: string, code: string, nIn: number, nOut: number): PipelineEntry {
    const d = this.device;
    const layout = this.layoutFor(nIn, nOut);
    dumpShader(name, this.pipelines.size, code);
    d.pushErrorScope('validation');
    const module = d.createShaderModule({ code, label: name });
    const pipeline = d.createComputePipeline({ layout: layout.pipeline, compute: { module, entryPoint: 'main' }, label: name });
    d.popErrorScope().then(
      (err) => {
        if (err) this.deferred ??= `kernel ${name} failed to compile: ${err.message}`;
      },
      () => {},
    );
    const pe = { pipeline, layout };
    this.pipelines.set(key, pe);
    this.st.pipelines++;
    return pe;
  }

  private enc(): GPUCommandEncoder {
    return (this.encoder ??= this.device.createCommandEncoder());
  }

  private computePass(): GPUComputePassEncoder {
    return (this.pass ??= this.enc().beginComputePass());
  }

  private endPass(): void {
    if (this.pass) {
      this.pass.end();
      this.pass = null;
      this.lastPipeline = null;
    }
  }

  private bump(): void {
    if (++this.pending >= this.maxBatch) this.flush();
  }

  flush(minBytes = 0): void {
    if (this.closed) return;
    // A conditional flush waits while the recorded work is both light and short: many dispatches
    // are worth a submit too (a loop without optimizer.step() still hands the GPU work every few
    // steps instead of holding a batch until its next read).
    if (this.pendingBytes < minBytes && this.pending < FLUSH_DISPATCHES) return;
    if (this.encoder) {
      this.endPass();
      const q = this.device.queue;
      if (this.uused) q.writeBuffer(this.ubuf, 0, this.ustage, 0, this.uused);
      if (this.upused) q.writeBuffer(this.upbuf, 0, this.upstage, 0, this.upused);
      const prof = this.prof;
      let readback: (() => void) | null = null;
      if (prof && prof.used) {
        const n = prof.used, labels = prof.labels;
        const dst = this.device.createBuffer({ size: n * 16, usage: USAGE.MAP_READ | USAGE.COPY_DST });
        this.encoder.resolveQuerySet(prof.qs, 0, 2 * n, prof.resolve, 0);
        this.encoder.copyBufferToBuffer(prof.resolve, 0, dst, 0, n * 16);
        prof.used = 0;
        prof.labels = [];
        readback = () => {
          prof.pending.push(
            dst.mapAsync(MAP_READ).then(() => {
              const ts = new BigInt64Array(dst.getMappedRange());
              for (let i = 0; i < n; i++) {
                const e = (prof.totals[labels[i]!] ??= { ms: 0, count: 0 });
                e.ms += Number(ts[2 * i + 1]! - ts[2 * i]!) / 1e6;
                e.count++;
              }
              dst.unmap();
              dst.destroy();
            }),
          );
        };
      }
      q.submit([this.encoder.finish()]);
      readback?.();
      this.st.submits++;
      this.encoder = null;
      this.pending = 0;
      this.pendingBytes = 0;
      this.uused = 0;
      this.upused = 0;
    }
    if (this.toDestroy.length) {
      this.bindCache.clear();
      for (const b of this.toDestroy) b.destroy();
      this.toDestroy = [];
    }
  }

  async sync(): Promise<void> {
    this.check();
    this.flush();
    await this.device.queue.onSubmittedWorkDone();
    this.throwDeferred('sync');
  }

  /**
   * Times every dispatch on the GPU from now on (each in its own compute pass with timestamp
   * queries; slower, for finding where time goes). Needs the timestamp-query feature.
   */
  startProfile(): void {
    if (this.prof) return;
    if (!this.device.features.has('timestamp-query')) throw new BackendError('webgpu: profiling needs the timestamp-query feature, which this adapter lacks');
    this.flush();
    const qs = this.device.createQuerySet({ type: 'timestamp', count: 2 * PROFILE_SLOTS });
    const resolve = this.device.createBuffer({ size: 16 * PROFILE_SLOTS, usage: USAGE.QUERY_RESOLVE | USAGE.COPY_SRC });
    this.prof = { qs, resolve, used: 0, labels: [], pending: [], totals: {} };
  }

  /** Stops profiling; GPU milliseconds and dispatch counts by kernel (name|variant). */
  async stopProfile(): Promise<Record<string, { ms: number; count: number }>> {
    const prof = this.prof;
    if (!prof) return {};
    this.flush();
    this.prof = null;
    await Promise.all(prof.pending);
    prof.qs.destroy();
    prof.resolve.destroy();
    return prof.totals;
  }

  memory(): MemoryInfo {
    const m = this.mem, p = this.memPersistent;
    return { bytesInUse: m.bytesInUse + p.bytesInUse, bytesPooled: m.bytesPooled + p.bytesPooled, peakBytesInUse: this.peak, buffers: m.count + p.count };
  }

  get bytesInUse(): number {
    return this.mem.bytesInUse + this.memPersistent.bytesInUse;
  }
  get bytesReserved(): number {
    return this.mem.bytesTotal + this.memPersistent.bytesTotal;
  }

  stats(): EngineStats {
    return { ...this.st, kernels: { ...this.st.kernels } };
  }

  emptyCache(): void {
    this.flush();
    this.bindCache.clear();
    for (const b of [...this.mem.trim(), ...this.memPersistent.trim()]) b.destroy();
    for (const b of this.readPool.drain()) b.destroy();
  }

  shutdown(): void {
    if (this.closed) return;
    try {
      this.flush();
    } finally {
      this.closed = true;
      this.mem.drain();
      this.memPersistent.drain();
      this.readPool.drain();
      this.device.destroy();
    }
  }
}

/** Dispatches timed per submit while profiling. */
const PROFILE_SLOTS = 2048;
interface Profiler {
  qs: GPUQuerySet;
  resolve: GPUBuffer;
  used: number;
  labels: string[];
  pending: Promise<void>[];
  totals: Record<string, { ms: number; count: number }>;
}

// GRILLY_DUMP_WGSL=<dir> writes every compiled kernel there, for debugging.
const dumpDir = typeof process !== 'undefined' ? process.env?.GRILLY_DUMP_WGSL : undefined;
function dumpShader(name: string, n: number, code: string): void {
  if (!dumpDir) return;
  void import('node:fs').then((fs) => fs.writeFileSync(`${dumpDir}/${String(n).padStart(3, '0')}-${name}.wgsl`, code));
}

// One Dawn instance per process, never released: a collected instance crashes Dawn's event
// pump (ProcessEvents on freed state) while any promise of a device it made is still pending,
// such as device.lost after shutdown() destroyed the device.
let dawn: GPU | null = null;

/** GPU, from the browser or from Dawn; null when neither can be had. `notice` says why. */
async function getGPU(flags: string[]): Promise<{ gpu: GPU | null; notice?: string }> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu) return { gpu: nav.gpu };
  if (typeof process === 'undefined' || !process.versions?.node) return { gpu: null, notice: 'no navigator.gpu in this environment' };
  if (dawn) return { gpu: dawn };
  try {
    const mod = (await import('webgpu')) as { create(flags: string[]): GPU };
    dawn = mod.create(flags);
    return { gpu: dawn };
  } catch (e) {
    return { gpu: null, notice: `the webgpu package (Dawn) could not load: ${(e as Error).message.split('\n')[0]}` };
  }
}

function apiName(): string {
  if ((globalThis as { navigator?: { gpu?: unknown } }).navigator?.gpu) return 'browser';
  switch (typeof process !== 'undefined' ? process.platform : '') {
    case 'darwin': return 'metal';
    case 'win32': return 'd3d12';
    default: return 'vulkan';
  }
}

/** Limits asked of the adapter at their real values (the defaults are far too small for training). */
const WANTED_LIMITS = [
  'maxStorageBufferBindingSize', 'maxBufferSize', 'maxComputeWorkgroupStorageSize', 'maxDynamicStorageBuffersPerPipelineLayout',
  'maxComputeInvocationsPerWorkgroup', 'maxComputeWorkgroupSizeX', 'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ', 'maxComputeWorkgroupsPerDimension', 'maxStorageBuffersPerShaderStage',
] as const;
const WANTED_FEATURES = ['subgroups', 'shader-f16', 'timestamp-query', 'chromium-experimental-subgroup-matrix'] as const;

/**
 * Dawn toggles grilly turns on in Node: experimental features (subgroup matrices, for the fp16
 * matmul) and f16 on NVIDIA's Vulkan driver, which Dawn keeps off by default. Merged with the
 * caller's own enable-dawn-features list.
 */
export function dawnFlags(user: readonly string[]): string[] {
  const ours = ['allow_unsafe_apis', 'vulkan_enable_f16_on_nvidia'];
  const prefix = 'enable-dawn-features=';
  const theirs = user.filter((f) => f.startsWith(prefix)).flatMap((f) => f.slice(prefix.length).split(',').filter(Boolean));
  return [`${prefix}${[...new Set([...ours, ...theirs])].join(',')}`, ...user.filter((f) => !f.startsWith(prefix))];
}

interface MatrixConfig { componentType: string; resultComponentType: string; M: number; N: number; K: number }

export async function createWebGPUBackend(opts: WebGPUOptions & { flags?: string[] } = {}): Promise<{ backend: WebGPUBackend | null; notice?: string }> {
  const { gpu, notice } = await getGPU(dawnFlags(opts.flags ?? []));
  if (!gpu) return { backend: null, notice: notice ?? 'no WebGPU' };
  let adapter: GPUAdapter | null = null;
  try {
    adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  } catch (e) {
    return { backend: null, notice: `requestAdapter failed: ${(e as Error).message}` };
  }
  if (!adapter) return { backend: null, notice: 'no WebGPU adapter was found' };
  const requiredLimits: Record<string, number> = {};
  for (const k of WANTED_LIMITS) requiredLimits[k] = (adapter.limits as unknown as Record<string, number>)[k]!;
  const requiredFeatures = WANTED_FEATURES.filter((f) => adapter!.features.has(f)) as GPUFeatureName[];
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({ requiredLimits, requiredFeatures });
  } catch (e) {
    return { backend: null, notice: `requestDevice failed: ${(e as Error).message}` };
  }
  const ai = adapter.info;
  const api = apiName();
  const name = (ai.device || ai.description || ai.vendor || 'unknown').replace(/-+$/, '');
  const limits: Record<string, number> = {};
  for (const k of [...WANTED_LIMITS, 'minUniformBufferOffsetAlignment', 'minStorageBufferOffsetAlignment'] as const) limits[k] = (device.limits as unknown as Record<string, number>)[k]!;
  // (Dawn's config objects expose their fields as getters: a spread would copy nothing)
  const hasMatrices = device.features.has('chromium-experimental-subgroup-matrix' as GPUFeatureName);
  const configs = hasMatrices
    ? ((ai as unknown as { subgroupMatrixConfigs?: MatrixConfig[] }).subgroupMatrixConfigs ?? []).map((c) => ({
        componentType: c.componentType, resultComponentType: c.resultComponentType, M: c.M, N: c.N, K: c.K,
      }))
    : [];
  const info: BackendInfo = {
    backend: 'webgpu',
    api,
    vendor: ai.vendor || 'unknown',
    device: name,
    driver: ai.description || '',
    summary: `webgpu · ${api} · ${name}`,
    limits,
    features: [...device.features].sort(),
    subgroupMatrixConfigs: configs,
    f16Matmul:
      hasMatrices &&
      device.features.has('shader-f16') &&
      device.features.has('subgroups') &&
      configs.some((c) => c.componentType === 'f16' && c.resultComponentType === 'f32' && c.M === 16 && c.N === 16 && c.K === 16),
  };
  return { backend: new WebGPUBackend(device, info, opts) };
}
