// A node of the autograd tape: what backward needs from one recorded op.
import { StateError } from '../errors.js';
import { isGradEnabled } from '../runtime.js';
import type { Tensor } from '../tensor/tensor.js';

/** Where a gradient goes: into output `index` of another node, or into a leaf's .grad. */
export type Edge = { fn: GradFn; index: number; leaf?: undefined } | { fn?: undefined; index?: undefined; leaf: Tensor };

/**
 * Gets the output gradient, the saved tensors and which inputs need a gradient this time (like
 * PyTorch's needs_input_grad); returns one gradient (or null) per input.
 */
export type BackwardFn = (grad: Tensor, saved: readonly Tensor[], need: readonly boolean[]) => (Tensor | null)[];

/** The same for an op with several outputs: one gradient (or null, where none came) per output. */
export type MultiBackwardFn = (grads: readonly (Tensor | null)[], saved: readonly Tensor[], need: readonly boolean[]) => (Tensor | null)[];

export class GradFn {
  readonly next: (Edge | null)[];
  private saved: Tensor[];
  private fn: BackwardFn | MultiBackwardFn | null;

  /** `outputs` > 1 makes fn a MultiBackwardFn. */
  constructor(readonly name: string, inputs: readonly Tensor[], fn: BackwardFn | MultiBackwardFn, saved: readonly Tensor[], readonly outputs = 1) {
    this.next = inputs.map(edgeOf);
    // Aliases, so that the caller disposing its tensors (or a tidy scope) leaves the graph intact.
    this.saved = saved.map((t) => t.alias());
    this.fn = fn;
  }

  get released(): boolean {
    return this.fn === null;
  }

  apply(grads: readonly (Tensor | null)[], need: readonly boolean[]): (Tensor | null)[] {
    if (!this.fn) {
      throw new StateError(`backward: trying to go through the graph a second time (node ${this.name}); pass { retainGraph: true } to the first backward()`);
    }
    if (this.outputs === 1) return (this.fn as BackwardFn)(grads[0]!, this.saved, need);
    return (this.fn as MultiBackwardFn)(grads, this.saved, need);
  }

  /** Frees what the node saved; the node cannot run again. */
  release(): void {
    for (const t of this.saved) t.dispose();
    this.saved = [];
    this.fn = null;
  }
}

function edgeOf(t: Tensor): Edge | null {
  if (t.gradFn) return { fn: t.gradFn, index: t.gradIndex };
  if (t.requiresGrad) return { leaf: t };
  return null;
}

/**
 * Leaves that stand for a module's input only so that module.backward() can return the input's
 * gradient: an ordinary backward() leaves them out, so no op computes a gradient for them.
 */
export const inputSinks = new WeakSet<Tensor>();

/** True when an op on these inputs must be recorded. */
export function needsGrad(...inputs: readonly (Tensor | null | undefined)[]): boolean {
  if (!isGradEnabled()) return false;
  for (const t of inputs) if (t?.requiresGrad) return true;
  return false;
}

/** Records `out` as produced by an op over `inputs`. Closures must capture shapes, never tensors. */
export function attach(out: Tensor, name: string, inputs: readonly Tensor[], fn: BackwardFn, saved: readonly Tensor[] = []): Tensor {
  out.gradFn = new GradFn(name, inputs, fn, saved);
  out.gradIndex = 0;
  out.requiresGrad = true;
  return out;
}

/** Records several outputs of one op; backward gets one gradient (or null) per output. */
export function attachMulti(outs: readonly Tensor[], name: string, inputs: readonly Tensor[], fn: MultiBackwardFn, saved: readonly Tensor[] = []): void {
  const node = new GradFn(name, inputs, fn, saved, outs.length);
  outs.forEach((o, i) => {
    o.gradFn = node;
    o.gradIndex = i;
    o.requiresGrad = true;
  });
}
