// A node of the autograd tape: what backward needs from one recorded op.
import { StateError } from '../errors.js';
import { isGradEnabled } from '../runtime.js';
import type { Tensor } from '../tensor/tensor.js';

/** Where a gradient goes: into another node, or into a leaf's .grad. */
export type Edge = { fn: GradFn; leaf?: undefined } | { fn?: undefined; leaf: Tensor };

/**
 * Gets the output gradient, the saved tensors and which inputs need a gradient this time (like
 * PyTorch's needs_input_grad); returns one gradient (or null) per input.
 */
export type BackwardFn = (grad: Tensor, saved: readonly Tensor[], need: readonly boolean[]) => (Tensor | null)[];

export class GradFn {
  readonly next: (Edge | null)[];
  private saved: Tensor[];
  private fn: BackwardFn | null;

  constructor(readonly name: string, inputs: readonly Tensor[], fn: BackwardFn, saved: readonly Tensor[]) {
    this.next = inputs.map(edgeOf);
    // Aliases, so that the caller disposing its tensors (or a tidy scope) leaves the graph intact.
    this.saved = saved.map((t) => t.alias());
    this.fn = fn;
  }

  get released(): boolean {
    return this.fn === null;
  }

  apply(grad: Tensor, need: readonly boolean[]): (Tensor | null)[] {
    if (!this.fn) {
      throw new StateError(`backward: trying to go through the graph a second time (node ${this.name}); pass { retainGraph: true } to the first backward()`);
    }
    return this.fn(grad, this.saved, need);
  }

  /** Frees what the node saved; the node cannot run again. */
  release(): void {
    for (const t of this.saved) t.dispose();
    this.saved = [];
    this.fn = null;
  }
}

function edgeOf(t: Tensor): Edge | null {
  if (t.gradFn) return { fn: t.gradFn };
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
  out.requiresGrad = true;
  return out;
}
