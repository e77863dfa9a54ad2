// Errors of grilly/data: a file that is missing, malformed or truncated. Options out of range are
// ValueErrors and samples of mismatched shapes ShapeErrors (src/errors.ts), as in the rest of grilly.
import { GrillyError } from '../errors.js';

/** A dataset file or directory that cannot be used: missing, malformed, truncated or inconsistent. */
export class DatasetError extends GrillyError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message);
    if (options && 'cause' in options) this.cause = options.cause;
  }
}

/** The message of an unknown thrown value, on one line. */
export function errorMessage(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  return m.replace(/\s+/g, ' ').trim();
}
