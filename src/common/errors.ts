/**
 * Every error Alloy shows a user says where the problem is: which file, which tensor, which field or line.
 * `where` carries that location in structured form so the UI can highlight it; the message already names it.
 */
export interface ErrorLocation {
  file?: string;
  tensor?: string;
  field?: string;
  line?: number;
}

export class AlloyError extends Error {
  override readonly name: string = 'AlloyError';
  constructor(
    message: string,
    readonly where: ErrorLocation = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Thrown when the user cancels a long operation; callers treat it as "nothing happened", not as a failure. */
export class CancelledError extends AlloyError {
  override readonly name = 'CancelledError';
  constructor(what = 'operation') {
    super(`${what} cancelled`);
  }
}

/** The browser's storage quota would be (or was) exceeded. */
export class QuotaError extends AlloyError {
  override readonly name = 'QuotaError';
}

export function throwIfAborted(signal: AbortSignal | undefined, what?: string): void {
  if (signal?.aborted) throw new CancelledError(what);
}

export function isCancelled(e: unknown): boolean {
  return e instanceof CancelledError || (e instanceof DOMException && e.name === 'AbortError');
}

/** Comlink only transfers plain data; errors crossing the worker boundary travel as this shape. */
export interface SerializedError {
  name: string;
  message: string;
  where: ErrorLocation;
}

export function serializeError(e: unknown): SerializedError {
  if (e instanceof AlloyError) return { name: e.name, message: e.message, where: e.where };
  if (e instanceof Error) return { name: e.name, message: e.message, where: {} };
  return { name: 'Error', message: String(e), where: {} };
}
