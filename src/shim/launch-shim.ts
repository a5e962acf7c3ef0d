/**
 * Launching a berth-shim and waiting for its report.
 *
 * The shim is spawned with one extra fd (3), the sync pipe, and answers on
 * it with one JSON line: `{"pid":N,"shimPid":M}` once the runtime has created
 * the process, or `{"error":"...","errno":N,"stage":"..."}`. The process the
 * manager spawned (P0) exits 0 after a success and 1 after a failure; the
 * shim itself (P2) has detached by then and outlives the manager.
 *
 *   const shim = await launchShim({ id, runtime: 'runc', bundle, exitFile, logPath });
 *   await runc(['start', id]);     // the manager starts the container itself
 */
import { spawn } from 'node:child_process';
import type { Readable } from 'node:stream';

import { BerthError, isErrno } from '../errors/index.js';
import { isShimErrorMessage, shimError } from './shim-error.js';
import { shimArgs, type ShimOptions } from './shim-options.js';
import { shimPath } from './shim-path.js';

export interface LaunchShimOptions {
  /** The berth-shim binary; default {@link shimPath}. */
  shimPath?: string;
  /** Give up waiting for the report after this long (the shim is not stopped); default 120000. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** The shim's environment, and so the runtime's; default this process's. */
  env?: NodeJS.ProcessEnv;
}

/** A shim that reported success. */
export interface LaunchedShim {
  /** The container's (or exec'd process's) pid on the host. */
  pid: number;
  /** The shim's own pid. */
  shimPid: number;
}

const STDERR_LIMIT = 16 * 1024;

function readFirstLine(stream: Readable): Promise<string | undefined> {
  return new Promise((resolve) => {
    let buf = '';
    const done = (line: string | undefined) => {
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', onEnd);
      stream.destroy();
      resolve(line);
    };
    const onData = (chunk: Buffer) => {
      buf += chunk.toString('utf8');
      const nl = buf.indexOf('\n');
      if (nl >= 0) done(buf.slice(0, nl));
    };
    const onEnd = () => done(buf.length ? buf : undefined);
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('error', onEnd);
  });
}

/** Spawns berth-shim for `opts` and resolves with the pids once the runtime has created the process. */
export async function launchShim(opts: ShimOptions, launch: LaunchShimOptions = {}): Promise<LaunchedShim> {
  const bin = launch.shimPath ?? shimPath();
  launch.signal?.throwIfAborted();
  const child = spawn(bin, [...shimArgs(opts), '--sync-fd', '3'], {
    stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
    env: launch.env ?? process.env,
    // Its own process group: a ^C meant for the manager does not reach the shim.
    detached: true,
  });
  const spawned = new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });
  try {
    await spawned;
  } catch (e) {
    if (isErrno(e, 'ENOENT')) throw new BerthError('SHIM_MISSING', `berth-shim not found at ${bin}; run \`npm run build\``, { cause: e });
    if (isErrno(e, 'EACCES')) throw new BerthError('SHIM_MISSING', `berth-shim at ${bin} is not executable`, { cause: e });
    throw e;
  }

  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => {
    if (stderr.length < STDERR_LIMIT) stderr += c.toString('utf8');
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const sync = child.stdio[3] as Readable;

  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const giveUp = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new BerthError('DEADLINE_EXCEEDED', `berth-shim for \`${opts.id}\` did not report within ${launch.timeoutMs ?? 120_000} ms`)),
      launch.timeoutMs ?? 120_000,
    );
    if (launch.signal) {
      onAbort = () => reject(launch.signal!.reason);
      launch.signal.addEventListener('abort', onAbort, { once: true });
    }
  });
  try {
    const [line, code] = await Promise.race([Promise.all([readFirstLine(sync), exited]), giveUp]);
    const context = `berth-shim for \`${opts.id}\``;
    if (line === undefined) {
      const detail = stderr.trim() ? `: ${stderr.trim()}` : '';
      throw new BerthError('SHIM_PROTOCOL', `${context} exited with status ${code} without reporting${detail}`);
    }
    let msg: unknown;
    try {
      msg = JSON.parse(line);
    } catch (cause) {
      throw new BerthError('SHIM_PROTOCOL', `${context} reported something that is not JSON: ${JSON.stringify(line)}`, { cause });
    }
    if (isShimErrorMessage(msg)) throw shimError(msg, context);
    const m = msg as { pid?: unknown; shimPid?: unknown };
    if (!Number.isInteger(m.pid) || !Number.isInteger(m.shimPid)) {
      throw new BerthError('SHIM_PROTOCOL', `${context} reported an unknown message: ${line}`);
    }
    if (code !== 0) throw new BerthError('SHIM_PROTOCOL', `${context} reported a pid but exited with status ${code}`);
    return { pid: m.pid as number, shimPid: m.shimPid as number };
  } finally {
    clearTimeout(timer);
    if (onAbort) launch.signal?.removeEventListener('abort', onAbort);
    child.stderr!.destroy();
    sync.destroy();
  }
}
