import { getSystemErrorName } from 'node:util';

import { BerthError, type ErrorCode } from '../errors/index.js';

/** What berth-shim writes on the sync fd, or on the control socket, when something failed. */
export interface ShimErrorMessage {
  error: string;
  errno: number;
  /** Absent in control replies. */
  stage?: 'options' | 'setup' | 'runtime';
}

/** "ENOENT" for 2; undefined for 0 or an unknown number. */
export function errnoName(errno: number): string | undefined {
  if (!Number.isInteger(errno) || errno <= 0) return undefined;
  try {
    return getSystemErrorName(-errno);
  } catch {
    return undefined;
  }
}

/**
 * The BerthError for a shim's error message: the stage picks the code
 * (options: ARGUMENT_INVALID, runtime: RUNTIME_FAILED, setup: SHIM_FAILED,
 * or PERMISSION_DENIED for EACCES and EPERM), the errno's name follows the
 * message.
 */
export function shimError(msg: ShimErrorMessage, context: string): BerthError {
  const name = errnoName(msg.errno);
  let code: ErrorCode;
  if (msg.stage === 'options') code = 'ARGUMENT_INVALID';
  else if (msg.stage === 'runtime') code = 'RUNTIME_FAILED';
  else if (name === 'EACCES' || name === 'EPERM') code = 'PERMISSION_DENIED';
  else code = 'SHIM_FAILED';
  const text = name ? `${msg.error} (${name})` : msg.error;
  return new BerthError(code, `${context}: ${text}`, msg.errno > 0 ? { errno: msg.errno } : {});
}

/** True when `v` has the shape of a ShimErrorMessage. */
export function isShimErrorMessage(v: unknown): v is ShimErrorMessage {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as Record<string, unknown>;
  return typeof o['error'] === 'string' && typeof o['errno'] === 'number';
}
