// The private device contract. Everything above it (tensors, ops, autograd) sees only this;
// nothing above it knows what a GPUBuffer is.

export type DType = 'float32' | 'int32';

/** An opaque device allocation. Backends put what they need behind it. */
export interface BufferHandle {
  readonly bytes: number;
}

/** A CPU kernel sees each binding through all three typed views of the same bytes. */
export interface CpuView {
  readonly f32: Float32Array;
  readonly i32: Int32Array;
  readonly u32: Uint32Array;
}

/**
 * Packs a kernel's per-dispatch parameters (shapes, scalars) into a small uniform block. One writer
 * spans the whole staging area; at() moves it to the next block, so dispatches allocate nothing.
 */
export class UniformWriter {
  private readonly w: Uint32Array;
  private readonly f: Float32Array;
  private readonly i: Int32Array;
  private base = 0;
  /** Next word, relative to the block. */
  n = 0;
  constructor(buffer: ArrayBuffer) {
    this.w = new Uint32Array(buffer);
    this.f = new Float32Array(buffer);
    this.i = new Int32Array(buffer);
  }
  at(byteOffset: number): this {
    this.base = byteOffset >>> 2;
    this.n = 0;
    return this;
  }
  u32(v: number): this { this.w[this.base + this.n++] = v >>> 0; return this; }
  i32(v: number): this { this.i[this.base + this.n++] = v | 0; return this; }
  f32(v: number): this { this.f[this.base + this.n++] = v; return this; }
  /** Writes `len` words from `vs`, padding with zeros. */
  u32s(vs: readonly number[], len: number): this {
    for (let k = 0; k < len; k++) this.w[this.base + this.n++] = (vs[k] ?? 0) >>> 0;
    return this;
  }
}

/** Words in a kernel's uniform block (`array<vec4<u32>, 16>` in WGSL). */
export const UNIFORM_WORDS = 64;

/**
 * One kernel, described once for both backends. `cpu` is the reference implementation;
 * `wgsl` generates the shader (cached by `name` + `key`), `grid` the workgroup count, and
 * `uniforms` the per-dispatch parameters. Bindings: 0 = uniforms, then inputs (read-only),
 * then outputs (read-write), in call order.
 */
export interface Kernel<P> {
  readonly name: string;
  key(p: P): string;
  cpu(inputs: CpuView[], outputs: CpuView[], p: P): void;
  /** The kernel reads its outputs' previous contents (in-place updates). */
  readonly readsOutputs?: boolean;
  wgsl(p: P): string;
  grid(p: P): [number, number, number];
  uniforms(p: P, u: UniformWriter): void;
}

export interface MemoryInfo {
  /** Bytes held by live tensors (rounded up to the allocator's size classes). */
  bytesInUse: number;
  /** Bytes kept for reuse by the pool. */
  bytesPooled: number;
  /** Highest bytesInUse seen. */
  peakBytesInUse: number;
  /** Live allocations. */
  buffers: number;
}

export interface EngineStats {
  dispatches: number;
  /** Dispatches by kernel name (neuron.forward, gemm, map, …). */
  kernels: Record<string, number>;
  submits: number;
  reads: number;
  writes: number;
  pipelines: number;
}

export interface BackendInfo {
  backend: 'cpu' | 'webgpu';
  /** Graphics API under WebGPU: vulkan, metal, d3d12, browser; 'js' for the cpu backend. */
  api: string;
  vendor: string;
  device: string;
  driver: string;
  /** Human-readable one-liner, e.g. "webgpu · vulkan · nvidia-h200". */
  summary: string;
  /** Device limits that matter to grilly (webgpu only). */
  limits: Record<string, number>;
  features: string[];
  /** f16 × f16 → f32 16×16×16 subgroup matrices (tensor cores) for setMatmulPrecision('fp16'). */
  f16Matmul?: boolean;
  /** The subgroup-matrix shapes and types the device offers (webgpu with the feature; else empty or absent). */
  subgroupMatrixConfigs?: { componentType: string; resultComponentType: string; M: number; N: number; K: number }[];
}

export interface Backend {
  readonly kind: 'cpu' | 'webgpu';
  readonly info: BackendInfo;
  /**
   * Allocates `bytes` (a multiple of 4). `op` names the caller for error messages; `avoid` lists
   * the buffers the new one will be used with as kernel inputs (the GPU keeps them apart).
   */
  alloc(bytes: number, op: string, avoid?: readonly BufferHandle[]): BufferHandle;
  /**
   * Moves an allocation to memory kept apart from transient tensors (parameters, optimizer
   * state), so in-place updates that read gradients never meet them in one buffer. Returns the
   * new handle (the old one is freed) or the same one where nothing needs to move.
   */
  persist(h: BufferHandle): BufferHandle;
  free(h: BufferHandle): void;
  write(h: BufferHandle, src: ArrayBufferView, byteOffset?: number): void;
  read(h: BufferHandle, bytes: number): Promise<ArrayBuffer>;
  /** Synchronous read where the backend allows it (cpu); null otherwise. */
  readSync(h: BufferHandle, bytes: number): ArrayBuffer | null;
  run<P>(k: Kernel<P>, inputs: BufferHandle[], outputs: BufferHandle[], p: P): void;
  /**
   * Submits recorded work without waiting for it. With minBytes, only when the unsubmitted
   * dispatches bind at least that many tensor bytes — summed over each dispatch's bindings, a rough
   * measure of the GPU traffic waiting — or are many (64 on WebGPU). A submit costs the host
   * ~0.1–0.5 ms on Dawn/Vulkan: worth it to start the GPU on big or long work early, not for a
   * small step.
   */
  flush(minBytes?: number): void;
  /** Resolves when all submitted work has finished. */
  sync(): Promise<void>;
  memory(): MemoryInfo;
  /** Restarts peakBytesInUse from the bytes in use now. */
  resetPeak(): void;
  /** memory().bytesInUse without building the object (checked after every allocation). */
  readonly bytesInUse: number;
  /** Bytes taken from the device: in use plus pooled (what a new allocation may grow). */
  readonly bytesReserved: number;
  stats(): EngineStats;
  /** Returns pooled memory to the device. */
  emptyCache(): void;
  shutdown(): void;
  readonly closed: boolean;
}
