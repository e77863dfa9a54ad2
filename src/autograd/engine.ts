// Reverse-mode differentiation over the tape. Nodes run in reverse topological order; each
// node's backward runs in its own tidy scope so its temporaries are freed at once; gradients
// flowing into a node are summed in place when nobody else shares their storage.
import { ShapeError, StateError, fmtShape } from '../errors.js';
import { withGradMode } from '../runtime.js';
import { tidy, untracked } from '../tensor/lifetime.js';
import { Tensor } from '../tensor/tensor.js';
import { add, addInPlace, copy, filled } from '../ops/elementwise.js';
import { inputSinks, type Edge, type GradFn } from './node.js';

/** Bound bytes (~0.1 ms of GPU memory traffic) above which backward() submits its work at once. */
export const BACKWARD_FLUSH_BYTES = 256 * 2 ** 20;

export interface BackwardOptions {
  /** Keep what the graph saved so backward can run through it again. */
  retainGraph?: boolean;
}

interface RunOptions extends BackwardOptions {
  /**
   * Tensors whose gradient is returned instead of being passed on: backward stops there (their
   * producers do not run; a leaf's .grad is left alone).
   */
  capture?: readonly CaptureTarget[];
}

// The seed of a scalar loss's backward: one 1.0 per backend, shared by handle (nothing writes into a
// gradient it was handed, and accumulate() and intoLeaf() copy a shared one), so a training step does not
// spend a fill dispatch on it.
const seedOnes = new WeakMap<object, Tensor>();
function seedGrad(root: Tensor): Tensor {
  if (root.ndim !== 0) return filled(root.shape, 1, 'float32', 'backward');
  let one = seedOnes.get(root.backend);
  if (!one || one.isDisposed) {
    one = filled([], 1, 'float32', 'backward');
    seedOnes.set(root.backend, one);
  }
  return one.alias();
}

/** a + b, reusing a's memory when a is the only owner of it. Consumes both. */
function accumulate(a: Tensor, b: Tensor): Tensor {
  if (a.storage('backward').refs === 1) {
    addInPlace(a, b);
    b.dispose();
    return a;
  }
  const s = untracked(() => add(a, b));
  a.dispose();
  b.dispose();
  return s;
}

/** Nodes reachable from root in reverse topological order, not going past `stops`. */
function topoOrder(root: GradFn, stops: ReadonlyMap<GradFn, unknown>): GradFn[] {
  const seen = new Set<GradFn>();
  const post: GradFn[] = [];
  const stack: [GradFn, number][] = [[root, 0]];
  seen.add(root);
  while (stack.length) {
    const top = stack[stack.length - 1]!;
    const [fn, i] = top;
    if (i < fn.next.length && !stops.has(fn)) {
      top[1]++;
      const e = fn.next[i];
      if (e?.fn && !seen.has(e.fn)) {
        seen.add(e.fn);
        stack.push([e.fn, 0]);
      }
    } else {
      stack.pop();
      post.push(fn);
    }
  }
  return post.reverse();
}

function intoLeaf(leaf: Tensor, g: Tensor): void {
  const cur = leaf._peekGrad();
  if (!cur) {
    // A leaf's .grad is the user's to mutate: it must not share memory with another gradient.
    if (g.storage('backward').refs === 1) leaf._setPrivateGrad(g);
    else {
      leaf._setPrivateGrad(untracked(() => copy(g)));
      g.dispose();
    }
    return;
  }
  if (cur.storage('backward').refs === 1) {
    addInPlace(cur, g);
    g.dispose();
  } else {
    leaf._setPrivateGrad(untracked(() => add(cur, g)));
    g.dispose();
  }
}

export function backward(root: Tensor, grad?: Tensor, opts: BackwardOptions = {}): void {
  if (!(root instanceof Tensor)) throw new StateError('backward: expected a Tensor');
  if (!root.requiresGrad) {
    throw new StateError(`backward: the tensor ${fmtShape(root.shape)} does not require grad (no input had requiresGrad: true, or it was computed under noGrad)`);
  }
  if (grad !== undefined) {
    if (!(grad instanceof Tensor)) throw new StateError('backward: grad must be a Tensor');
    if (grad.shape.length !== root.shape.length || grad.shape.some((d, i) => d !== root.shape[i])) {
      throw new ShapeError(`backward: grad has shape ${fmtShape(grad.shape)}, expected ${fmtShape(root.shape)}`);
    }
  } else if (root.size !== 1) {
    throw new ShapeError(`backward: a gradient can be implied only for a one-element tensor, got ${fmtShape(root.shape)}; pass backward(grad)`);
  }
  const be = root.backend;
  run(root, grad, opts);
  // Submit the step recorded so far when it is big or long: the GPU works on it while the host records
  // what follows (otherwise nothing runs before the next read or sync, and host and GPU take
  // turns). A small step waits for optimizer.step()'s submit: on the H200 host a submit costs
  // more than the MLP benchmark's whole backward takes the GPU (1.39 → 0.89 ms a step without it).
  be.flush(BACKWARD_FLUSH_BYTES);
}

/** A tensor, or the node output that produced one (so a module need not keep its input alive). */
export type CaptureTarget = Tensor | { fn: GradFn; index: number };

/**
 * Back-propagates from root and returns the gradients that reached each `capture` target (null
 * where none did). Leaves reached on the way accumulate into .grad as usual.
 */
export function backwardCapture(root: Tensor, grad: Tensor, capture: readonly CaptureTarget[], opts: BackwardOptions = {}): (Tensor | null)[] {
  if (!root.requiresGrad) return capture.map(() => null);
  return run(root, grad, { ...opts, capture });
}

function run(root: Tensor, grad: Tensor | undefined, opts: RunOptions): (Tensor | null)[] {
  const capture = opts.capture ?? [];
  const captured = new Map<CaptureTarget, Tensor>();
  // Non-leaf captures are recognised by their producing node, leaf captures by identity.
  const captureNodes = new Map<GradFn, { target: CaptureTarget; index: number }>();
  const captureLeaves = new Set<Tensor>();
  for (const t of capture) {
    if (t instanceof Tensor) {
      if (t.gradFn) captureNodes.set(t.gradFn, { target: t, index: t.gradIndex });
      else captureLeaves.add(t);
    } else captureNodes.set(t.fn, { target: t, index: t.index });
  }
  const put = (t: CaptureTarget, g: Tensor) => {
    const prev = captured.get(t);
    captured.set(t, prev ? accumulate(prev, g) : g);
  };
  // An edge is live when a gradient along it can reach something: a leaf that is not a module's
  // input stand-in, a capture, or a node with a live edge of its own (computed once order exists).
  // Without the last rule a layer fed by a reshape of the data computed its input gradient only
  // for the reshape's backward to throw it away (a first conv layer's whole dX pass).
  const liveNode = new Map<GradFn, boolean>();
  const live = (e: Edge | null): boolean => {
    if (!e) return false;
    if (e.leaf) return captureLeaves.has(e.leaf) || !inputSinks.has(e.leaf);
    return liveNode.get(e.fn!) ?? true;
  };
  withGradMode(false, () => {
    const g0 = untracked(() => (grad ? grad.alias() : seedGrad(root)));
    if (!root.gradFn) {
      if (captureLeaves.has(root)) put(root, g0);
      else intoLeaf(root, g0);
      return;
    }
    const order = topoOrder(root.gradFn, captureNodes);
    // order runs from the root towards the leaves; walked backwards, a node's inputs come first.
    for (let i = order.length - 1; i >= 0; i--) {
      const fn = order[i]!;
      liveNode.set(fn, captureNodes.has(fn) || fn.next.some(live));
    }
    // Per node, the gradient arriving at each of its outputs.
    const grads = new Map<GradFn, (Tensor | null)[]>();
    const add = (fn: GradFn, index: number, g: Tensor) => {
      let slot = grads.get(fn);
      if (!slot) grads.set(fn, (slot = new Array<Tensor | null>(fn.outputs).fill(null)));
      const prev = slot[index];
      slot[index] = prev ? accumulate(prev, g) : g;
    };
    add(root.gradFn, root.gradIndex, g0);
    for (const node of order) {
      const gs = grads.get(node);
      grads.delete(node);
      const cap = captureNodes.get(node);
      if (cap) {
        gs?.forEach((g, i) => {
          if (g && i === cap.index) put(cap.target, g);
          else g?.dispose();
        });
        continue; // the producer of a captured tensor does not run, and its graph stays intact
      }
      const need = node.next.map(live);
      if (!gs || !gs.some(Boolean) || !need.some(Boolean)) {
        gs?.forEach((g) => g?.dispose());
        if (!opts.retainGraph) node.release();
        continue;
      }
      const outs = tidy(() => node.apply(gs, need));
      // Private handles first, then drop the originals: a result given to two inputs (add's
      // [g, g]) is then visibly shared, and anything else is owned alone and can be summed into.
      const owns = node.next.map((edge, i) => (edge && need[i] && outs[i] ? outs[i]!.alias() : null));
      for (const o of outs) o?.dispose();
      gs.forEach((g) => g?.dispose());
      node.next.forEach((edge, i) => {
        const own = owns[i];
        if (!own || !edge) return;
        if (edge.leaf) {
          if (captureLeaves.has(edge.leaf)) put(edge.leaf, own);
          else intoLeaf(edge.leaf, own);
        } else add(edge.fn, edge.index, own);
      });
      if (!opts.retainGraph) node.release();
    }
    for (const gs of grads.values()) gs.forEach((g) => g?.dispose());
  });
  return capture.map((t) => captured.get(t) ?? null);
}
