// Containers that let ordinary layers work on (T, N, …) sequences.
import { ShapeError, ValueError, fmtShape } from '../errors.js';
import type { Tensor } from '../tensor/tensor.js';
import { Module } from '../nn/module.js';
import { Sequential } from '../nn/layers.js';
import { flatten, reshape, slice, squeeze, stack } from '../ops/view.js';

/** Runs a stateless module on (T·N, …): (T, N, …) → (T·N, …) → module → (T, N, …). */
export function seqToANNForward(xSeq: Tensor, module: Module): Tensor {
  if (xSeq.ndim < 2) throw new ShapeError(`seqToANNForward: expected input (T, N, …) with at least 2 dims, got ${fmtShape(xSeq.shape)}`);
  const [T, N] = xSeq.shape as [number, number];
  const y = module.forward(flatten(xSeq, 0, 1));
  return reshape(y, [T, N, ...y.shape.slice(1)]);
}

/** Runs a single-step module at every t of (T, N, …) and stacks the outputs. */
export function multiStepForward(xSeq: Tensor, module: Module): Tensor {
  if (xSeq.ndim < 2) throw new ShapeError(`multiStepForward: expected input (T, N, …) with at least 2 dims, got ${fmtShape(xSeq.shape)}`);
  const T = xSeq.shape[0]!;
  if (T === 0) throw new ShapeError(`multiStepForward: the input ${fmtShape(xSeq.shape)} has no time steps (T = 0)`);
  const outs: Tensor[] = [];
  for (let t = 0; t < T; t++) outs.push(module.forward(squeeze(slice(xSeq, 0, t, t + 1), 0)));
  return stack(outs, 0);
}

/** (T, N, …) → (T·N, …) → modules → (T, N, …): ordinary layers over all steps at once. */
export class SeqToANNContainer extends Module {
  private readonly body: Module;
  constructor(...modules: Module[]) {
    super();
    if (modules.length === 0) throw new ValueError('SeqToANNContainer: give at least one module');
    modules.forEach((m, i) => {
      if (!(m instanceof Module)) throw new ValueError(`SeqToANNContainer: argument ${i} is not a Module, got ${m === null ? 'null' : typeof m}`);
    });
    this.body = modules.length === 1 ? modules[0]! : new Sequential(...modules);
  }
  override *namedChildren(): Generator<[string, Module]> {
    // PyTorch/SpikingJelly name the wrapped layers 0, 1, … directly under the container.
    if (this.body instanceof Sequential) yield* this.body.namedChildren();
    else yield ['0', this.body];
  }
  forward(xSeq: Tensor): Tensor {
    return seqToANNForward(xSeq, this.body);
  }
}

/**
 * Runs a single-step module once per step. Each call is its own node on the tape, so modules
 * that keep per-call state (MaxPool2d's indices) get exact gradients for every step.
 */
export class MultiStepContainer extends Module {
  constructor(readonly module: Module) {
    super();
    if (!(module instanceof Module)) throw new ValueError(`MultiStepContainer: expected a Module, got ${module === null ? 'null' : typeof module}`);
  }
  override *namedChildren(): Generator<[string, Module]> {
    yield ['module', this.module];
  }
  forward(xSeq: Tensor): Tensor {
    return multiStepForward(xSeq, this.module);
  }
}
