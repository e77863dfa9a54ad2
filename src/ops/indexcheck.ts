// Range checks of int32 indices (class targets, gather indices) that a GPU cannot raise where they
// happen. A kernel flags a bad index it meets in a small buffer. On the cpu backend the flags are
// read at once and a bad index throws there. On WebGPU the buffer is shared by the checks pending on
// that backend, and the next read or sync reports the first flagged one (a ValueError naming the op,
// as on cpu), so no index outside its range turns silently into a 0 or a wrong sum. One readback
// serves up to SLOTS checks.
import type { Backend, Kernel } from '../backend/types.js';
import { ValueError } from '../errors.js';
import { deferCheck } from '../runtime.js';
import { untracked } from '../tensor/lifetime.js';
import { Tensor } from '../tensor/tensor.js';
import { PRELUDE, bindings, grid1d, launchInto, main1d } from './kernel.js';
import { fillInto } from './elementwise.js';

/** Checks one readback of flags serves. */
const SLOTS = 32;

interface RangeParams { n: number; lo: number; hi: number; skip: number | null; slot: number }

// F[2·slot] = 1 and F[2·slot + 1] = a bad index, if any index lies outside [lo, hi) (skip excepted).
// Racing writers all write 1 and some bad index: any of them makes a true report.
const rangeKernel: Kernel<RangeParams> = {
  name: 'indexRange',
  key: () => '',
  readsOutputs: true, // it writes F only where it finds a bad index
  cpu: (ins, outs, p) => {
    const I = ins[0]!.i32, F = outs[0]!.i32;
    for (let i = 0; i < p.n; i++) {
      const k = I[i]!;
      if ((k < p.lo || k >= p.hi) && k !== p.skip) {
        F[2 * p.slot] = 1;
        F[2 * p.slot + 1] = k;
      }
    }
  },
  wgsl: () =>
    PRELUDE + bindings([['I', 'i32']], [['F', 'i32']]) + main1d(`
  if (idx >= pu(0u)) { return; }
  let k = I[idx];
  if ((k < pi(1u) || k >= pi(2u)) && !(pu(4u) == 1u && k == pi(3u))) {
    let s = 2u * pu(5u);
    F[s] = 1; F[s + 1u] = k;
  }`),
  grid: (p) => grid1d(p.n),
  uniforms: (p, u) => void u.u32(p.n).i32(p.lo).i32(p.hi).i32(p.skip ?? 0).u32(p.skip === null ? 0 : 1).u32(p.slot),
};

interface Pending { flags: Tensor; messages: ((k: number) => string)[] }
const pending = new WeakMap<Backend, Pending>(); // (weak: a shut-down backend is not kept alive)

/**
 * Throws (cpu) or arranges for the next read to throw (WebGPU) a ValueError `message(k)` if some
 * index k of `index` lies outside [lo, hi) and is not `skip`.
 */
export function checkIndexRange(op: string, index: Tensor, lo: number, hi: number, message: (k: number) => string, skip: number | null = null): void {
  const b = index.storage(op).backend; // (a disposed index is named by the op)
  if (index.size === 0) return;
  if (b.kind === 'cpu') {
    // The same kernel, its flags read at once.
    const flags = Tensor.empty([2], 'int32', 'indexRange', b);
    fillInto(flags, 0, 'indexRange');
    launchInto('indexRange', rangeKernel, [index], [flags], { n: index.size, lo, hi, skip, slot: 0 });
    const f = flags.dataSync() as Int32Array;
    flags.dispose();
    if (f[0]) throw new ValueError(message(f[1]!));
    return;
  }
  let p = pending.get(b);
  if (!p || p.messages.length === SLOTS) {
    const batch: Pending = {
      flags: untracked(() => Tensor.empty([2 * SLOTS], 'int32', 'indexRange', b)),
      messages: [],
    };
    fillInto(batch.flags, 0, 'indexRange');
    pending.set(b, batch);
    p = batch;
    deferCheck(async () => {
      if (pending.get(b) === batch) pending.delete(b);
      let f: Int32Array;
      try {
        f = (await batch.flags._dataUnchecked()) as Int32Array;
      } finally {
        batch.flags.dispose();
      }
      for (let s = 0; s < batch.messages.length; s++) if (f[2 * s]) throw new ValueError(`${batch.messages[s]!(f[2 * s + 1]!)} (found on the GPU, reported at this read)`);
    });
  }
  launchInto('indexRange', rangeKernel, [index], [p.flags], { n: index.size, lo, hi, skip, slot: p.messages.length });
  p.messages.push(message);
}
