// The Tensor: a shape, a dtype and a refcounted device allocation, plus its autograd links.
// Ops are attached as methods in tensor/methods.ts so this file stays free of op code.
import type { Backend, DType } from '../backend/types.js';
import { BackendError, DTypeError, ShapeError, StateError, fmtShape } from '../errors.js';
import { numel, type Shape } from '../shape.js';
import { formatTensor, nest } from './format.js';
import { Storage, allocationPressure, disposedError, registerFinalizer, track, unregisterFinalizer, untracked } from './lifetime.js';
import { currentBackend, hasDeferredChecks, runDeferredChecks } from '../runtime.js';
import type { GradFn } from '../autograd/node.js';

export type TypedArrayOf<D extends DType> = D extends 'int32' ? Int32Array : Float32Array;

export class Tensor {
  readonly shape: readonly number[];
  readonly dtype: DType;
  /** Whether operations on this tensor are recorded for backward(). */
  requiresGrad: boolean;
  /** @internal The node that made this tensor (null for leaves and for tensors made without grad). */
  gradFn: GradFn | null = null;
  /** @internal Which output of gradFn this tensor is. */
  gradIndex = 0;
  /** @internal */
  _kept = false;
  private _storage: Storage | null;
  private _grad: Tensor | null = null;
  /** The gradient was made by backward() and never handed out: replacing it frees it at once. */
  private _gradPrivate = false;

  /** @internal Use grilly.tensor() and friends. */
  constructor(storage: Storage, shape: Shape, dtype: DType, requiresGrad = false) {
    this._storage = storage;
    this.shape = Object.freeze([...shape]);
    this.dtype = dtype;
    this.requiresGrad = requiresGrad;
    registerFinalizer(this, storage);
    track(this);
  }

  /** @internal Allocates an uninitialised tensor on the active backend. */
  static empty(shape: Shape, dtype: DType, op: string, backend?: Backend, inputs?: readonly Tensor[]): Tensor {
    const b = backend ?? currentBackend(op);
    const h = b.alloc(numel(shape) * 4, op, inputs?.map((t) => t.storage(op).handle));
    allocationPressure(b.bytesReserved, numel(shape) * 4);
    return new Tensor(new Storage(b, h), shape, dtype);
  }

  get ndim(): number {
    return this.shape.length;
  }
  get size(): number {
    return numel(this.shape);
  }
  /** Number of elements (as numel() in PyTorch). */
  numel(): number {
    return numel(this.shape);
  }
  get isDisposed(): boolean {
    return this._storage === null;
  }
  /** A leaf is a tensor no recorded op produced: user-created tensors and parameters. */
  get isLeaf(): boolean {
    return this.gradFn === null;
  }

  /** @internal */
  storage(op: string): Storage {
    const s = this._storage;
    if (!s) throw disposedError(`the tensor ${fmtShape(this.shape)}`, op);
    return s;
  }
  /** @internal */
  get backend(): Backend {
    return this.storage('backend').backend;
  }

  /** The gradient accumulated by backward(), or null. Assignable, as in PyTorch. */
  get grad(): Tensor | null {
    if (this._grad?.isDisposed) this._grad = null;
    this._gradPrivate = false;
    return this._grad;
  }
  /** @internal .grad without handing it out (the optimizers, backward's accumulation). */
  _peekGrad(): Tensor | null {
    if (this._grad?.isDisposed) this._grad = null;
    return this._grad;
  }
  /** @internal Sets a gradient that backward() made and nobody else holds. */
  _setPrivateGrad(g: Tensor): void {
    this.grad = g;
    this._gradPrivate = true;
  }
  set grad(g: Tensor | null) {
    if (g !== null) {
      if (!(g instanceof Tensor)) throw new StateError(`grad: expected a Tensor or null, got ${typeof g}`);
      if (g.dtype !== 'float32') throw new DTypeError(`grad: expected a float32 tensor, got ${g.dtype}`);
      // (a disposed tensor may still be handed its gradient by backward(): no backend to compare then)
      const gb = g.storage('grad').backend, tb = this._storage?.backend;
      if (tb && gb !== tb) throw new BackendError(`grad: the gradient lives on the ${gb.kind} backend and the tensor on ${tb.kind}; move it with await g.to('${tb.kind}')`);
      if (g.shape.length !== this.shape.length || g.shape.some((d, i) => d !== this.shape[i])) {
        throw new ShapeError(`grad: expected shape ${fmtShape(this.shape)}, got ${fmtShape(g.shape)}`);
      }
    }
    // A gradient backward() made and nobody read is freed now, as PyTorch frees a tensor whose
    // last reference goes (so `p.grad = null` before a step returns its memory at once).
    if (this._gradPrivate && this._grad && this._grad !== g) this._grad.dispose();
    this._gradPrivate = false;
    this._grad = g;
  }

  /** Releases the device memory now (when no view or graph still shares it). Idempotent. */
  dispose(): void {
    const s = this._storage;
    if (!s) return;
    this._storage = null;
    unregisterFinalizer(this);
    s.release();
  }

  /** @internal A second tensor object over the same storage, untracked by tidy scopes. */
  alias(shape: Shape = this.shape): Tensor {
    const s = this.storage('alias').retain();
    return untracked(() => new Tensor(s, shape, this.dtype, false));
  }

  /** @internal A tensor over the same storage with another shape (reshape/view), tracked as new. */
  view_(shape: Shape, op = 'view'): Tensor {
    return new Tensor(this.storage(op).retain(), shape, this.dtype, false);
  }

  /** @internal Moves the data to long-lived memory (parameters, optimizer state). */
  persist_(): this {
    this.storage('persist').persist();
    return this;
  }

  /** Copies the values to the host. */
  async data(): Promise<Float32Array | Int32Array> {
    if (hasDeferredChecks()) await runDeferredChecks();
    return this._dataUnchecked();
  }

  /** @internal The values without running deferred checks first: what a deferred check reads. */
  async _dataUnchecked(): Promise<Float32Array | Int32Array> {
    const s = this.storage('data');
    const buf = await s.backend.read(s.handle, this.size * 4);
    return this.dtype === 'int32' ? new Int32Array(buf) : new Float32Array(buf);
  }

  /** Values synchronously where the backend allows it (cpu); null on webgpu. */
  dataSync(): Float32Array | Int32Array | null {
    const s = this.storage('dataSync');
    const buf = s.backend.readSync(s.handle, this.size * 4);
    if (!buf) return null;
    return this.dtype === 'int32' ? new Int32Array(buf) : new Float32Array(buf);
  }

  /** The single value of a one-element tensor. */
  async item(): Promise<number> {
    if (this.size !== 1) throw new ShapeError(`item: expected a tensor with one element, got shape ${fmtShape(this.shape)} (${this.size} elements)`);
    return (await this.data())[0]!;
  }

  /** Nested arrays of numbers (a number for a 0-d tensor). */
  async toArray(): Promise<unknown> {
    return nest(await this.data(), this.shape);
  }

  /** The printout with values, on any backend. */
  async format(): Promise<string> {
    return formatTensor(await this.data(), this.shape, this.dtype, this.suffix());
  }

  private suffix(): string {
    if (this.gradFn) return `, gradFn=<${this.gradFn.name}>`;
    if (this.requiresGrad) return ', requiresGrad=true';
    return '';
  }

  /** Values where they can be read synchronously (cpu); a summary line on webgpu (use format()). */
  toString(): string {
    if (this.isDisposed) return `Tensor(shape=${fmtShape(this.shape)}, dtype=${this.dtype}, disposed)`;
    const v = this.dataSync();
    if (v) return formatTensor(v, this.shape, this.dtype, this.suffix());
    return `Tensor(shape=${fmtShape(this.shape)}, dtype=${this.dtype}, backend=${this.backend.kind}${this.suffix()})`;
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return this.toString();
  }
}
