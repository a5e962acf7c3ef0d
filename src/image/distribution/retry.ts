/**
 * Which failures are worth another try, and how long to wait: network
 * errors, 5xx, 408 and 429 are retried with exponential backoff and full
 * jitter; everything else fails at once.
 */
import { BerthError, isBerthError } from '../../errors/index.js';

export interface RetryOptions {
  /** Tries in all, the first included. Default 4. */
  attempts?: number;
  /** First delay; doubled each time. Default 250 ms. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** For tests: a clock that does not wait. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

/** Thrown inside a try to ask for another (a 5xx, a reset connection). */
export class RetryableError extends Error {
  constructor(
    message: string,
    readonly final: BerthError,
  ) {
    super(message);
  }
}

const NETWORK_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'ECONNABORTED',
  'UND_ERR_SOCKET',
  'ERR_STREAM_PREMATURE_CLOSE',
]);

/** A network-level failure: worth a retry. */
export function isNetworkError(err: unknown): boolean {
  if (err instanceof RetryableError) return true;
  if (isBerthError(err)) return false;
  const e = err as { code?: string; message?: string; name?: string } | null;
  if (!e) return false;
  if (e.name === 'AbortError') return false;
  if (e.code && NETWORK_CODES.has(e.code)) return true;
  return /aborted|socket hang up|no data from|no answer from|premature close/i.test(e.message ?? '');
}

export function isRetryableStatus(status: number): boolean {
  return status >= 500 || status === 408 || status === 429;
}

export function defaultSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Runs `fn` until it succeeds, fails with something not retryable, or the
 * tries are spent. `describe` names the operation in the final error
 * (`REGISTRY_UNAVAILABLE`), which keeps the last cause.
 */
export async function withRetry<T>(fn: (attempt: number) => Promise<T>, describe: string, options: RetryOptions & { signal?: AbortSignal } = {}): Promise<T> {
  const attempts = Math.max(1, options.attempts ?? 4);
  const base = options.baseDelayMs ?? 250;
  const max = options.maxDelayMs ?? 8000;
  const sleep = options.sleep ?? defaultSleep;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (!isNetworkError(err)) throw err;
      if (attempt >= attempts || options.signal?.aborted) {
        if (err instanceof RetryableError) throw new BerthError(err.final.code, `${err.final.message} (after ${attempt} tries)`, { cause: err });
        throw new BerthError('REGISTRY_UNAVAILABLE', `${describe}: ${(err as Error).message} (after ${attempt} tries)`, { cause: err });
      }
      const delay = Math.min(max, base * 2 ** (attempt - 1));
      await sleep(Math.round(delay / 2 + Math.random() * (delay / 2)), options.signal);
    }
  }
}
