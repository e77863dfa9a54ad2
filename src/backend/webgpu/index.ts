// WebGPU backend: Dawn in Node (the `webgpu` package, Vulkan on Linux) or navigator.gpu in a browser.
// Every dispatch of a step is recorded into one command encoder and one compute pass; work is
// submitted when a result is read, when the batch limit is reached, or on flush(). Nothing here
// waits on the GPU except read() and sync().
import type { Backend, BackendInfo, BufferHandle, EngineStats, Kernel, MemoryInfo } from '../types.js';
import { UniformWriter, UNIFORM_WORDS } from '../types.js';

import { BackendError, StateError } from '../../errors.js';
import { BufferPool, sizeClass } from './pool.js';

// Numeric values of GPUBufferUsage / GPUMapMode, so no globals need installing in Node.
const USAGE = { MAP_READ: 0x1, COPY_SRC: 0x4, COPY_DST: 0x8, UNIFORM: 0x40, STORAGE: 0x80 } as const;
const MAP_READ = 0x1;

class GpuBuf implements BufferHandle {
  freed = false;
  constructor(readonly buffer: GPUBuffer, readonly bytes: number, readonly size: number) {}
}

interface PipelineEntry {
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
  layoutKey: string;
}

const COMPUTE_STAGE = 0x4;
/** Bind groups kept before the cache is cleared wholesale. */
const BIND_CACHE_MAX = 8192;

export interface WebGPUOptions {
  /** Dispatches recorded before the encoder is submitted on its own. */
  maxBatch?: number;
  /** Pooled bytes kept before freed buffers are destroyed instead. */
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
  private readonly layouts = new Map<string, { group: GPUBindGroupLayout; pipeline: GPUPipelineLayout }>();
  // Bind groups by layout and buffers: pooled buffers recur step after step, so a training loop
  // soon finds every bind group here instead of creating it (the costliest call per dispatch).
  private readonly bindCache = new Map<string, GPUBindGroup>();
  private readonly bufIds = new WeakMap<GPUBuffer, number>();
  private nextBufId = 1;
  private lastPipeline: GPUComputePipeline | null = null;
  private readonly dynOffset = new Uint32Array(1);
  private readonly pool = new BufferPool<GPUBuffer>();
  private readonly readPool = new BufferPool<GPUBuffer>();
  private toDestroy: GPUBuffer[] = [];
  private inUse = 0;
  private peak = 0;
  private count = 0;
  private deferred: string | null = null;
  private lostReason: string | null = null;
  private readonly st: EngineStats = { dispatches: 0, submits: 0, reads: 0, writes: 0, pipelines: 0 };
  private readonly maxBinding: number;
  private readonly maxBuffer: number;
  private readonly maxGroups: number;

  /**
   * `gpu` is held on purpose: Dawn's instance lives only as long as the object create() returned,
   * and a collected instance takes the device down with it (a crash in ProcessEvents).
   */
  constructor(private gpu: GPU | null, readonly device: GPUDevice, readonly info: BackendInfo, opts: WebGPUOptions = {}) {
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

  alloc(bytes: number, op: string): BufferHandle {
    this.check();
    const need = Math.max(4, bytes);
    if (need > this.maxBinding || need > this.maxBuffer) {
      throw new BackendError(
        `${op}: a tensor of ${need} bytes exceeds the device's limit (maxStorageBufferBindingSize ${this.maxBinding}, maxBufferSize ${this.maxBuffer})`,
      );
    }
    let size = sizeClass(need);
    if (size > this.maxBinding) size = Math.ceil(need / 4) * 4;
    let buffer = this.pool.take(size);
    if (!buffer) {
      buffer = this.device.createBuffer({ size, usage: USAGE.STORAGE | USAGE.COPY_SRC | USAGE.COPY_DST });
    }
    this.inUse += size;
    this.count++;
    if (this.inUse > this.peak) this.peak = this.inUse;
    return new GpuBuf(buffer, need, size);
  }

  free(h: BufferHandle): void {
    const b = h as GpuBuf;
    if (b.freed) return;
    b.freed = true;
    this.inUse -= b.size;
    this.count--;
    if (this.closed) return;
    if (this.pool.bytes + b.size <= this.poolLimit) this.pool.put(b.size, b.buffer);
    else this.toDestroy.push(b.buffer); // destroyed after the batch that may still use it is submitted
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
      this.enc().copyBufferToBuffer(this.upbuf, off, b.buffer, byteOffset, n);
      this.bump();
    } else {
      // Large uploads go straight to the queue, after whatever was recorded before them.
      this.flush();
      this.device.queue.writeBuffer(b.buffer, byteOffset, bytes);
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
    this.enc().copyBufferToBuffer(b.buffer, 0, staging, 0, size);
    this.flush();
    try {
      await staging.mapAsync(MAP_READ, 0, size);
    } catch (e) {
      this.throwDeferred('a read');
      if (this.lostReason) throw new BackendError(`webgpu: the device was lost during a read (${this.lostReason})`);
      throw new BackendError(`webgpu: reading ${bytes} bytes failed: ${(e as Error).message}`);
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
    const key = `${k.name}|${k.key(p)}`;
    let pe = this.pipelines.get(key);
    if (!pe) pe = this.compile(k.name, key, k.wgsl(p), inputs.length, outputs.length);
    if (this.uused + this.slot > this.ustage.byteLength) this.flush();
    const off = this.uused;
    this.uused += this.slot;
    k.uniforms(p, this.uwriter.at(off));
    let bkey = pe.layoutKey;
    for (const h of inputs) bkey += ',' + this.bufId((h as GpuBuf).buffer);
    bkey += '|';
    for (const h of outputs) {
      const ob = (h as GpuBuf).buffer;
      for (const x of inputs) if ((x as GpuBuf).buffer === ob) throw new BackendError(`${k.name}: an output aliases an input (internal error)`);
      bkey += this.bufId(ob) + ',';
    }
    let bg = this.bindCache.get(bkey);
    if (!bg) {
      const entries: GPUBindGroupEntry[] = [{ binding: 0, resource: { buffer: this.ubuf, offset: 0, size: UNIFORM_BYTES } }];
      let i = 1;
      for (const h of inputs) entries.push({ binding: i++, resource: { buffer: (h as GpuBuf).buffer } });
      for (const h of outputs) entries.push({ binding: i++, resource: { buffer: (h as GpuBuf).buffer } });
      bg = this.device.createBindGroup({ layout: pe.layout, entries });
      if (this.bindCache.size >= BIND_CACHE_MAX) this.bindCache.clear();
      this.bindCache.set(bkey, bg);
    }
    const pass = this.computePass();
    if (this.lastPipeline !== pe.pipeline) {
      pass.setPipeline(pe.pipeline);
      this.lastPipeline = pe.pipeline;
    }
    this.dynOffset[0] = off;
    pass.setBindGroup(0, bg, this.dynOffset, 0, 1);
    pass.dispatchWorkgroups(grid[0], grid[1], grid[2]);
    this.st.dispatches++;
    this.bump();
  }

  private bufId(b: GPUBuffer): number {
    let id = this.bufIds.get(b);
    if (id === undefined) this.bufIds.set(b, (id = this.nextBufId++));
    return id;
  }

  /** Binding 0: the uniform block at a dynamic offset; then read-only inputs, then outputs. */
  private layoutFor(nIn: number, nOut: number): { key: string; group: GPUBindGroupLayout; pipeline: GPUPipelineLayout } {
    const key = `${nIn}:${nOut}`;
    let l = this.layouts.get(key);
    if (!l) {
      const entries: GPUBindGroupLayoutEntry[] = [{ binding: 0, visibility: COMPUTE_STAGE, buffer: { type: 'uniform', hasDynamicOffset: true, minBindingSize: UNIFORM_BYTES } }];
      for (let i = 0; i < nIn; i++) entries.push({ binding: 1 + i, visibility: COMPUTE_STAGE, buffer: { type: 'read-only-storage' } });
      for (let i = 0; i < nOut; i++) entries.push({ binding: 1 + nIn + i, visibility: COMPUTE_STAGE, buffer: { type: 'storage' } });
      const group = this.device.createBindGroupLayout({ entries });
      l = { group, pipeline: this.device.createPipelineLayout({ bindGroupLayouts: [group] }) };
      this.layouts.set(key, l);
    }
    return { key, ...l };
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
    const pe = { pipeline, layout: layout.group, layoutKey: layout.key };
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

  flush(): void {
    if (this.closed) return;
    if (this.encoder) {
      this.endPass();
      const q = this.device.queue;
      if (this.uused) q.writeBuffer(this.ubuf, 0, this.ustage, 0, this.uused);
      if (this.upused) q.writeBuffer(this.upbuf, 0, this.upstage, 0, this.upused);
      q.submit([this.encoder.finish()]);
      this.st.submits++;
      this.encoder = null;
      this.pending = 0;
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

  memory(): MemoryInfo {
    return { bytesInUse: this.inUse, bytesPooled: this.pool.bytes, peakBytesInUse: this.peak, buffers: this.count };
  }

  stats(): EngineStats {
    return { ...this.st };
  }

  emptyCache(): void {
    this.flush();
    this.bindCache.clear();
    for (const b of this.pool.drain()) b.destroy();
    for (const b of this.readPool.drain()) b.destroy();
  }

  shutdown(): void {
    if (this.closed) return;
    try {
      this.flush();
    } finally {
      this.closed = true;
      this.pool.drain();
      this.readPool.drain();
      this.device.destroy();
      this.gpu = null;
    }
  }
}

// GRILLY_DUMP_WGSL=<dir> writes every compiled kernel there, for debugging.
const dumpDir = typeof process !== 'undefined' ? process.env?.GRILLY_DUMP_WGSL : undefined;
function dumpShader(name: string, n: number, code: string): void {
  if (!dumpDir) return;
  void import('node:fs').then((fs) => fs.writeFileSync(`${dumpDir}/${String(n).padStart(3, '0')}-${name}.wgsl`, code));
}

/** GPU, from the browser or from Dawn; null when neither can be had. `notice` says why. */
async function getGPU(flags: string[]): Promise<{ gpu: GPU | null; notice?: string }> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu) return { gpu: nav.gpu };
  if (typeof process === 'undefined' || !process.versions?.node) return { gpu: null, notice: 'no navigator.gpu in this environment' };
  try {
    const mod = (await import('webgpu')) as { create(flags: string[]): GPU };
    return { gpu: mod.create(flags) };
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
  'maxStorageBufferBindingSize', 'maxBufferSize', 'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup', 'maxComputeWorkgroupSizeX', 'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ', 'maxComputeWorkgroupsPerDimension', 'maxStorageBuffersPerShaderStage',
] as const;
const WANTED_FEATURES = ['subgroups', 'shader-f16', 'timestamp-query'] as const;

export async function createWebGPUBackend(opts: WebGPUOptions & { flags?: string[] } = {}): Promise<{ backend: WebGPUBackend | null; notice?: string }> {
  const { gpu, notice } = await getGPU(opts.flags ?? []);
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
  for (const k of [...WANTED_LIMITS, 'minUniformBufferOffsetAlignment'] as const) limits[k] = (device.limits as unknown as Record<string, number>)[k]!;
  const info: BackendInfo = {
    backend: 'webgpu',
    api,
    vendor: ai.vendor || 'unknown',
    device: name,
    driver: ai.description || '',
    summary: `webgpu · ${api} · ${name}`,
    limits,
    features: [...device.features].sort(),
  };
  return { backend: new WebGPUBackend(gpu, device, info, opts) };
}
