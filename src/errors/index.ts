export { BerthError, isBerthError, isErrno, type BerthErrorOptions } from './berth-error.js';
export { ERROR_CODES, exitCodeForKind, type ErrorCode, type ErrorKind } from './codes.js';
