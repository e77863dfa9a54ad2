// Typed errors. Each message names the op or layer, what was expected and what came.

export class GrillyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** Shapes that do not fit: mismatch, failed broadcast, axis out of range, bad reshape. */
export class ShapeError extends GrillyError {}

/** A tensor of the wrong dtype for an op (float labels to an int op, mixed dtypes). */
export class DTypeError extends GrillyError {}

/** The device or backend refused: limits exceeded, device lost, tensors of two backends mixed. */
export class BackendError extends GrillyError {}

/** Use of something that is not in a usable state: before init, after dispose or shutdown. */
export class StateError extends GrillyError {}

/** A value outside what an op accepts (an empty randint range, a negative size). */
export class ValueError extends GrillyError {}

/** Formats a shape the way messages print it: [32, 780]. */
export function fmtShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}
