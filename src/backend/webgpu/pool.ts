// Size classes for pooled GPU buffers: powers of two up to 1 MiB, then eight steps per octave,
// so a reused buffer wastes at most 12.5% while tensors of similar size share a class.
export function sizeClass(bytes: number): number {
  const b = Math.max(256, bytes);
  if (b <= 1 << 20) return 2 ** Math.ceil(Math.log2(b));
  const oct = 2 ** Math.floor(Math.log2(b));
  const step = oct / 8;
  return Math.ceil(b / step) * step;
}

/** Free lists keyed by size class. */
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
  /** Removes and returns everything pooled. */
  drain(): B[] {
    const all: B[] = [];
    for (const l of this.lists.values()) all.push(...l);
    this.lists.clear();
    this.bytes = 0;
    return all;
  }
}
