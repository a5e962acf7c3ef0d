import { basename, dirname } from 'node:path';

import { BerthError } from '../errors/index.js';
import type { ExitStatus } from './exit-file.js';
import { watchExitDir } from './exit-watcher.js';

/**
 * Resolves with the status in the exit file at `path` once it is there
 * (at once when it is there already). DEADLINE_EXCEEDED after `timeoutMs`.
 */
export async function waitForExitFile(path: string, opts: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<ExitStatus> {
  const name = basename(path);
  let resolveStatus!: (s: ExitStatus) => void;
  let rejectStatus!: (e: unknown) => void;
  const result = new Promise<ExitStatus>((resolve, reject) => {
    resolveStatus = resolve;
    rejectStatus = reject;
  });
  const watcher = await watchExitDir(dirname(path), {
    rescanIntervalMs: 500,
    onExit: (e) => {
      if (e.name === name) resolveStatus(e.status);
    },
    onError: (err, file) => {
      if (file === name) rejectStatus(err);
    },
  });
  const timer =
    opts.timeoutMs === undefined
      ? undefined
      : setTimeout(() => rejectStatus(new BerthError('DEADLINE_EXCEEDED', `no exit file ${path} after ${opts.timeoutMs} ms`)), opts.timeoutMs);
  const onAbort = () => rejectStatus(opts.signal!.reason);
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    return await result;
  } finally {
    clearTimeout(timer);
    opts.signal?.removeEventListener('abort', onAbort);
    watcher.close();
  }
}
