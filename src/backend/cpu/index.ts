// The reference backend: plain TypeScript over typed arrays. Kernels run synchronously.
import type { Backend, BackendInfo, BufferHandle, CpuView, EngineStats, Kernel, MemoryInfo } from '../types.js';
import { BackendError, StateError } from '../../errors.js';

class CpuBuffer implements BufferHandle, CpuView {
  readonly f32: Float32Array;
  readonly i32: Int32Array;
  readonly u32: Uint32Array;
  freed = false;
  constructor(readonly bytes: number) {
    const buf = new ArrayBuffer(bytes);
    this.f32 = new Float32Array(buf);
    this.i32 = new Int32Array(buf);
    this.u32 = new Uint32Array(buf);
  }
}

/** Largest single allocation; typed arrays in V8 stop a little above this. */
const MAX_BYTES = 2 ** 32;

export class CpuBackend implements Backend {
  readonly kind = 'cpu' as const;
  readonly info: BackendInfo = {
    backend: 'cpu',
    api: 'js',
    vendor: 'cpu',
    device: 'typed arrays',
    driver: `node ${typeof process !== 'undefined' ? process.version : ''}`.trim(),
    summary: 'cpu · typed arrays',
    limits: { maxBufferSize: MAX_BYTES },
    features: [],
  };
  closed = false;
  private inUse = 0;
  private peak = 0;
  resetPeak(): void {
    this.peak = this.inUse;
  }
  private count = 0;
  private readonly st: EngineStats = { dispatches: 0, kernels: {}, submits: 0, reads: 0, writes: 0, pipelines: 0 };

  private check(): void {
    if (this.closed) throw new StateError('cpu backend: used after grilly.shutdown(); call grilly.init() again');
  }

  alloc(bytes: number, op: string): BufferHandle {
    this.check();
    if (bytes > MAX_BYTES) throw new BackendError(`${op}: needs ${bytes} bytes, the cpu backend allows at most ${MAX_BYTES} per tensor`);
    const b = new CpuBuffer(Math.max(4, bytes));
    this.inUse += b.bytes;
    this.count++;
    if (this.inUse > this.peak) this.peak = this.inUse;
    return b;
  }

  persist(h: BufferHandle): BufferHandle {
    return h;
  }

  free(h: BufferHandle): void {
    const b = h as CpuBuffer;
    if (b.freed) return;
    b.freed = true;
    this.inUse -= b.bytes;
    this.count--;
  }

  write(h: BufferHandle, src: ArrayBufferView, byteOffset = 0): void {
    this.check();
    this.st.writes++;
    const b = h as CpuBuffer;
    new Uint8Array(b.u32.buffer, byteOffset, src.byteLength).set(new Uint8Array(src.buffer, src.byteOffset, src.byteLength));
  }

  readSync(h: BufferHandle, bytes: number): ArrayBuffer {
    this.check();
    this.st.reads++;
    return (h as CpuBuffer).u32.buffer.slice(0, bytes) as ArrayBuffer;
  }

  read(h: BufferHandle, bytes: number): Promise<ArrayBuffer> {
    try {
      return Promise.resolve(this.readSync(h, bytes));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  run<P>(k: Kernel<P>, inputs: BufferHandle[], outputs: BufferHandle[], p: P): void {
    this.check();
    this.st.dispatches++;
    this.st.kernels[k.name] = (this.st.kernels[k.name] ?? 0) + 1;
    k.cpu(inputs as CpuBuffer[], outputs as CpuBuffer[], p);
  }

  flush(_minBytes?: number): void {}
  sync(): Promise<void> { return Promise.resolve(); }
  memory(): MemoryInfo {
    return { bytesInUse: this.inUse, bytesPooled: 0, peakBytesInUse: this.peak, buffers: this.count };
  }
  get bytesInUse(): number { return this.inUse; }
  get bytesReserved(): number { return this.inUse; }
  stats(): EngineStats { return { ...this.st, kernels: { ...this.st.kernels } }; }
  emptyCache(): void {}
  shutdown(): void { this.closed = true; }
}
