/**
 * `run`: create + start. In the foreground berth-init stays the container's
 * parent, so the exit code is known without being a subreaper; signals the
 * runtime receives are forwarded to the container, and the container is
 * deleted after it exits. Detached, it returns once the container runs.
 */
import type { RuntimeContext } from './context.js';
import { createContainer, type CreateOptions } from './create.js';
import { deleteContainer } from './delete.js';
import { startContainer } from './start.js';

export interface RunOptions extends Omit<CreateOptions, 'foreground'> {
  detach?: boolean;
  /** Keep the stopped container instead of deleting it (runc's --keep). */
  keep?: boolean;
}

const FORWARDED: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH'];

/** Returns the container's exit code (0 when detached). */
export async function runContainer(ctx: RuntimeContext, options: RunOptions): Promise<number> {
  const created = await createContainer(ctx, { ...options, foreground: !options.detach });
  const pid = created.state.pid;
  const forward = (sig: NodeJS.Signals): void => {
    try {
      process.kill(pid, sig);
    } catch {
      // ESRCH: the container is already gone.
    }
  };
  if (!options.detach) for (const sig of FORWARDED) process.on(sig, forward);
  try {
    try {
      await startContainer(ctx, options.id);
    } catch (err) {
      await deleteContainer(ctx, options.id, { force: true }).catch(() => {});
      throw err;
    }
    if (options.detach) return 0;
    const code = await created.exited!;
    if (!options.keep) await deleteContainer(ctx, options.id, { force: true });
    return code;
  } finally {
    for (const sig of FORWARDED) process.off(sig, forward);
  }
}
