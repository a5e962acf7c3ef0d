/**
 * The one error type of berth. Every error carries a stable `code` from the
 * table in `codes.ts`, a `kind` that the edges (CLI exit code, HTTP status)
 * map from, and a lowercase message that names the object and, where it
 * helps, says what the user can do.
 */
import { ERROR_CODES, type ErrorCode, type ErrorKind } from './codes.js';

export interface BerthErrorOptions {
  cause?: unknown;
  /** JSON path of the offending config field, e.g. `linux.namespaces[2].path`. */
  field?: string;
  /** errno reported by the kernel or the executor, when there is one. */
  errno?: number;
}

export class BerthError extends Error {
  override readonly name = 'BerthError';
  readonly code: ErrorCode;
  readonly kind: ErrorKind;
  readonly field: string | undefined;
  readonly errno: number | undefined;

  constructor(code: ErrorCode, message: string, options: BerthErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.kind = ERROR_CODES[code].kind;
    this.field = options.field;
    this.errno = options.errno;
  }

  /** Errors cross process boundaries as data, never as text to be parsed. */
  toJSON(): { code: ErrorCode; kind: ErrorKind; message: string; field?: string; errno?: number } {
    const out: { code: ErrorCode; kind: ErrorKind; message: string; field?: string; errno?: number } = {
      code: this.code,
      kind: this.kind,
      message: this.message,
    };
    if (this.field !== undefined) out.field = this.field;
    if (this.errno !== undefined) out.errno = this.errno;
    return out;
  }
}

export function isBerthError(err: unknown, code?: ErrorCode): err is BerthError {
  return err instanceof BerthError && (code === undefined || err.code === code);
}

/** Node's system errors carry `code` such as 'ENOENT'; this narrows to them. */
export function isErrno(err: unknown, code: string): err is NodeJS.ErrnoException {
  return typeof err === 'object' && err !== null && (err as NodeJS.ErrnoException).code === code;
}
