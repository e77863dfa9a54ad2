// Device memory for tensors: fixed-size chunks carved from slabs, one size class per slab.
// Kernels bind a whole slab window of one chunk and select the chunk with a dynamic offset, so
// bind groups depend on which slabs are used — a handful — not on which tensors: they are
// created once and reused every step (createBindGroup is the costliest call per dispatch).

/** Size classes: powers of two up to 1 MiB, then eight steps per octave (≤ 12.5% waste). */
export function sizeClass(bytes: number): number {
  const b = Math.max(256, bytes);
  if (b <= 1 << 20) return 2 ** Math.ceil(Math.log2(b));
  const oct = 2 ** Math.floor(Math.log2(b));
  const step = oct / 8;
  return Math.ceil(b / step) * step;
}

export interface Slab<B> {
  readonly id: number;
  readonly buffer: B;
  /** Bytes per chunk (the size class); also the binding size. */
  readonly cls: number;
  readonly chunks: number;
  readonly free: number[];
}

export interface Chunk<B> {
  slab: Slab<B>;
  index: number;
}

export class SlabAllocator<B> {
  private readonly byClass = new Map<number, Slab<B>[]>();
  private nextId = 1;
  bytesInUse = 0;
  bytesTotal = 0;
  count = 0;

  /**
  /**
   * @param create makes a device buffer of the given size
   * @param maxSlab largest slab (and binding) in bytes; bigger classes get one chunk per slab
   * @param onMiss called before a new slab is made; returns true when it may have freed chunks
   *   (a garbage collection ran finalizers), and the pool is searched again
   */
  constructor(private readonly create: (bytes: number) => B, private readonly maxSlab: number, private readonly onMiss?: () => boolean) {}

  private find(cls: number, avoid?: ReadonlySet<B>): Slab<B> | null {
    const list = this.byClass.get(cls);
    if (!list) return null;
    for (let i = list.length - 1; i >= 0; i--) {
      const s = list[i]!;
      if (s.free.length && !avoid?.has(s.buffer)) return s;
    }
    return null;
  }

  /** A chunk of at least `bytes`, in no slab whose buffer is in `avoid`. */
  alloc(bytes: number, avoid?: ReadonlySet<B>): Chunk<B> {
    const cls = sizeClass(bytes);
    const hit = this.find(cls, avoid) ?? (this.onMiss?.() ? this.find(cls, avoid) : null);
    if (hit) return this.take(hit);
    let list = this.byClass.get(cls);
    if (!list) this.byClass.set(cls, (list = []));
    // Slabs of a class grow geometrically: light classes stay small, busy ones get big slabs.
    const cap = Math.max(1, Math.floor(Math.min(this.maxSlab, 64 * 2 ** 20) / cls));
    const chunks = cls > this.maxSlab / 2 ? 1 : Math.min(cap, 4 * 2 ** Math.min(list.length, 10));
    const size = cls * chunks;
    const s: Slab<B> = { id: this.nextId++, buffer: this.create(size), cls, chunks, free: [] };
    for (let k = chunks - 1; k >= 0; k--) s.free.push(k);
    list.push(s);
    this.bytesTotal += size;
    return this.take(s);
  }

  private take(s: Slab<B>): Chunk<B> {
    this.bytesInUse += s.cls;
    this.count++;
    return { slab: s, index: s.free.pop()! };
  }

  free(c: Chunk<B>): void {
    c.slab.free.push(c.index);
    this.bytesInUse -= c.slab.cls;
    this.count--;
  }

  get bytesPooled(): number {
    return this.bytesTotal - this.bytesInUse;
  }

  /** Removes slabs with no chunk in use (while `more()` says to) and returns their buffers. */
  trim(more: () => boolean = () => true): B[] {
    const out: B[] = [];
    for (const [cls, list] of this.byClass) {
      for (let i = list.length - 1; i >= 0 && more(); i--) {
        const s = list[i]!;
        if (s.free.length === s.chunks) {
          list.splice(i, 1);
          this.bytesTotal -= cls * s.chunks;
          out.push(s.buffer);
        }
      }
      if (list.length === 0) this.byClass.delete(cls);
    }
    return out;
  }

  /** Forgets everything (the device is gone) and returns all buffers. */
  drain(): B[] {
    const out: B[] = [];
    for (const list of this.byClass.values()) for (const s of list) out.push(s.buffer);
    this.byClass.clear();
    this.bytesInUse = this.bytesTotal = this.count = 0;
    return out;
  }
}

/** Free lists keyed by size class (staging buffers for reads). */
export class BufferPool<B> {
  private readonly lists = new Map<number, B[]>();
  bytes = 0;
  take(size: number): B | undefined {
    const l = this.lists.get(size);
    const b = l?.pop();
    if (b !== undefined) this.bytes -= size;
    return b;
  }
  put(size: number, b: B): void {
    let l = this.lists.get(size);
    if (!l) this.lists.set(size, (l = []));
    l.push(b);
    this.bytes += size;
  }
  drain(): B[] {
    const all: B[] = [];
    for (const l of this.lists.values()) all.push(...l);
    this.lists.clear();
    this.bytes = 0;
    return all;
  }
}
