/**
 * `kill`: sends a signal to the container's init, or with `all` to every
 * process in its cgroup. ESRCH is the only error tolerated: the process may
 * exit between the status check and the signal.
 */
import { BerthError, isErrno } from '../../errors/index.js';
import { parseSignal } from '../../util/signals.js';
import { validateId } from '../state/state-store.js';
import type { RuntimeContext } from './context.js';
import { cgroupOf, containerStatus, requireStatus } from './status.js';

export interface KillOptions {
  signal?: string | number;
  all?: boolean;
}

function signalPid(pid: number, signal: number): void {
  try {
    process.kill(pid, signal);
  } catch (err) {
    if (isErrno(err, 'ESRCH')) return;
    throw new BerthError('PERMISSION_DENIED', `cannot signal process ${pid}: ${(err as Error).message}`, { cause: err });
  }
}

export async function killContainer(ctx: RuntimeContext, idArg: string, options: KillOptions = {}): Promise<void> {
  const id = validateId(idArg);
  const signal = parseSignal(options.signal ?? 'SIGTERM');
  const state = await ctx.store.get(id);
  const status = await containerStatus(ctx, state);
  if (!options.all) {
    if (status === 'stopped') {
      // containerd's runc shim matches "container not running" (runc's wording) to
      // report "process already finished" instead of an unknown kill failure.
      throw new BerthError('CONTAINER_STATE', `cannot kill container \`${id}\`: container not running (it is stopped)`);
    }
    requireStatus(id, status, ['created', 'running', 'paused'], 'kill');
    signalPid(state.pid, signal);
    return;
  }
  requireStatus(id, status, ['created', 'running', 'paused', 'stopped'], 'kill');
  const cg = await cgroupOf(state);
  if (!(await cg.exists())) return;
  // Freeze first so that no process can fork out of the signal's reach (runc's signalAllProcesses).
  const canFreeze = status !== 'paused' && (await cg.freeze().then(() => true, () => false));
  try {
    for (const pid of await cg.pids()) signalPid(pid, signal);
  } finally {
    if (canFreeze) await cg.thaw();
  }
}
