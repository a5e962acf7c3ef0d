/**
 * The exit file a shim writes when its process exits (durably: temp file,
 * fsync, rename), and the only record of how the process ended that
 * survives a manager restart.
 */
import { readFile } from 'node:fs/promises';

import { BerthError, isErrno } from '../errors/index.js';

/** The exit file's JSON, as written by berth-shim. */
export interface ExitStatus {
  /** The exit code; 128 + the signal's number when a signal ended the process. */
  exitCode: number;
  /** The number of the signal that ended the process, or null. */
  signal: number | null;
  /** The kernel's OOM killer killed a process of the container's memory cgroup while it ran. */
  oomKilled: boolean;
  /** The process's pid on the host. */
  pid: number;
  /** RFC 3339 with nanoseconds, UTC: when the runtime had created the process. */
  startedAt: string;
  /** When the shim reaped the process. */
  finishedAt: string;
}

const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;

/** Checks the shape of an exit file's text; STATE_CORRUPT when it is not an exit status. */
export function parseExitStatus(text: string, path: string): ExitStatus {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (cause) {
    throw new BerthError('STATE_CORRUPT', `exit file ${path} is not JSON`, { cause });
  }
  const o = v as Record<string, unknown>;
  const ok =
    typeof v === 'object' &&
    v !== null &&
    Number.isInteger(o['exitCode']) &&
    (o['signal'] === null || Number.isInteger(o['signal'])) &&
    typeof o['oomKilled'] === 'boolean' &&
    Number.isInteger(o['pid']) &&
    typeof o['startedAt'] === 'string' &&
    RFC3339.test(o['startedAt']) &&
    typeof o['finishedAt'] === 'string' &&
    RFC3339.test(o['finishedAt']);
  if (!ok) throw new BerthError('STATE_CORRUPT', `exit file ${path} does not hold an exit status: ${text.trim().slice(0, 200)}`);
  return {
    exitCode: o['exitCode'] as number,
    signal: o['signal'] as number | null,
    oomKilled: o['oomKilled'] as boolean,
    pid: o['pid'] as number,
    startedAt: o['startedAt'] as string,
    finishedAt: o['finishedAt'] as string,
  };
}

/** The exit status in `path`, or undefined while there is no exit file (the process has not exited). */
export async function findExitStatus(path: string): Promise<ExitStatus | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return undefined;
    throw new BerthError('STATE_CORRUPT', `exit file ${path} cannot be read: ${(e as Error).message}`, { cause: e });
  }
  return parseExitStatus(text, path);
}
