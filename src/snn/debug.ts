// Debug checks: with grilly.setDebug({ checkFinite: true }), spiking layers check their input for
// NaN/Inf. The cpu backend throws at once; on WebGPU the check is counted on the device and
// reported (a ValueError naming the layer and the count) by the next read or sync.
import { ValueError } from '../errors.js';
import type { Tensor } from '../tensor/tensor.js';
import { deferCheck, noGrad } from '../runtime.js';
import { untracked } from '../tensor/lifetime.js';
import { nonFinite } from '../ops/elementwise.js';
import { sum } from '../ops/reduce.js';

let checkFinite = false;

export interface DebugOptions {
  /** Spiking layers check their input for NaN and Inf. */
  checkFinite?: boolean;
}

export function setDebug(opts: DebugOptions): void {
  checkFinite = !!opts.checkFinite;
}

export function debugCheckFinite(x: Tensor, where: string): void {
  if (!checkFinite) return;
  // Untracked: a tidy scope around the layer must not dispose the count before the deferred check reads it.
  const count = untracked(() =>
    noGrad(() => {
      const bad = nonFinite(x);
      const n = sum(bad);
      bad.dispose();
      return n;
    }),
  );
  const what = `${where}: the input ${JSON.stringify(x.shape)}`;
  const fail = (n: number) => new ValueError(`${what} has ${n} NaN or infinite values (grilly.setDebug({ checkFinite: true }))`);
  const host = count.dataSync();
  if (host) {
    count.dispose();
    if (host[0]! > 0) throw fail(host[0]!);
    return;
  }
  deferCheck(async () => {
    let n: number;
    try {
      n = (await count._dataUnchecked())[0]!;
    } finally {
      count.dispose();
    }
    if (n > 0) throw fail(n);
  });
}
