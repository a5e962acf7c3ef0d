/**
 * The control socket: one text command per line, one JSON reply per line
 * (`{"ok":true}` or `{"error":"...","errno":N}`). Each call here opens a
 * connection, sends one command and waits for its reply. The names follow
 * containerd's shim v2 verbs: resizePty, closeIO.
 */
import { connect } from 'node:net';

import { BerthError } from '../errors/index.js';
import { errnoName, isShimErrorMessage } from './shim-error.js';

export interface ControlOptions {
  /** Default 10000. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** Sends one command line (without newline) and resolves when the shim has carried it out. */
export function sendControl(socketPath: string, command: string, opts: ControlOptions = {}): Promise<void> {
  if (command.includes('\n')) return Promise.reject(new BerthError('ARGUMENT_INVALID', 'a control command is one line'));
  return new Promise((resolve, reject) => {
    opts.signal?.throwIfAborted();
    const socket = connect({ path: socketPath });
    let buf = '';
    let settled = false;
    const settle = (e?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      if (e) reject(e);
      else resolve();
    };
    const onAbort = () => settle(opts.signal!.reason as Error);
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    const timer = setTimeout(
      () => settle(new BerthError('SHIM_UNAVAILABLE', `control socket ${socketPath} did not answer \`${command}\` within ${opts.timeoutMs ?? 10_000} ms`)),
      opts.timeoutMs ?? 10_000,
    );
    socket.once('connect', () => socket.write(`${command}\n`));
    socket.on('data', (c: Buffer) => {
      buf += c.toString('utf8');
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      let reply: unknown;
      try {
        reply = JSON.parse(buf.slice(0, nl));
      } catch (cause) {
        settle(new BerthError('SHIM_PROTOCOL', `control socket ${socketPath} answered with something that is not JSON`, { cause }));
        return;
      }
      if (isShimErrorMessage(reply)) {
        const name = errnoName(reply.errno);
        const code = name === 'EINVAL' ? 'ARGUMENT_INVALID' : name === 'ENOTTY' ? 'CONTAINER_STATE' : 'SHIM_FAILED';
        settle(new BerthError(code, `\`${command}\`: ${reply.error}${name ? ` (${name})` : ''}`, { errno: reply.errno }));
      } else if ((reply as { ok?: unknown }).ok === true) {
        settle();
      } else {
        settle(new BerthError('SHIM_PROTOCOL', `control socket ${socketPath} answered an unknown reply: ${buf.slice(0, nl)}`));
      }
    });
    socket.on('error', (e: NodeJS.ErrnoException) =>
      settle(new BerthError('SHIM_UNAVAILABLE', `control socket ${socketPath} does not answer (${e.code ?? e.message}); is the shim running?`, { cause: e })),
    );
    socket.on('close', () => settle(new BerthError('SHIM_UNAVAILABLE', `control socket ${socketPath} closed before answering \`${command}\``)));
  });
}

/** Sets the pty's size; CONTAINER_STATE when the process has no terminal. */
export function resizePty(socketPath: string, size: { rows: number; cols: number }, opts: ControlOptions = {}): Promise<void> {
  for (const [k, v] of Object.entries(size)) {
    if (!Number.isInteger(v) || v < 0 || v > 65535) {
      return Promise.reject(new BerthError('ARGUMENT_INVALID', `terminal ${k} must be an integer from 0 to 65535, got ${v}`));
    }
  }
  return sendControl(socketPath, `resize ${size.rows} ${size.cols}`, opts);
}

/** Closes the process's stdin once what clients wrote is delivered (with a terminal: sends EOF). */
export function closeIO(socketPath: string, opts: ControlOptions = {}): Promise<void> {
  return sendControl(socketPath, 'close-stdin', opts);
}

/** Makes the shim close and reopen its log file, after an outside rotation. */
export function reopenLog(socketPath: string, opts: ControlOptions = {}): Promise<void> {
  return sendControl(socketPath, 'reopen-log', opts);
}
