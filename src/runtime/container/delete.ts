/**
 * `delete`: removes a stopped (or created) container's cgroups and state and
 * runs its poststop hooks. With `force` a running or paused container is
 * killed first. Deleting a created container kills its waiting init, as
 * runc does.
 */
import { BerthError } from '../../errors/index.js';
import { waitForExit } from '../../util/proc.js';
import { runHooksLoggingFailures } from '../hooks/run-hooks.js';
import { validateId } from '../state/state-store.js';
import type { RuntimeContext } from './context.js';
import type { CgroupManager } from '../cgroups/index.js';
import { cgroupOf, containerStatus, ociState } from './status.js';

export interface DeleteOptions {
  force?: boolean;
}

export async function deleteContainer(ctx: RuntimeContext, idArg: string, options: DeleteOptions = {}): Promise<void> {
  const id = validateId(idArg);
  const lock = await ctx.store.lock(id);
  try {
    const state = await ctx.store.find(id);
    if (!state) {
      // A directory without state.json is a create that crashed: remove it, but only with --force.
      // Like runc, a forced delete of a container that does not exist succeeds: podman
      // runs `delete --force` after a failed create, which has already cleaned up.
      if (options.force) {
        if (await ctx.store.exists(id)) await ctx.store.remove(id);
        return;
      }
      throw new BerthError('CONTAINER_NOT_FOUND', `container \`${id}\` does not exist`);
    }
    const status = await containerStatus(ctx, state);
    const cg = await cgroupOf(state);
    if (status === 'running' || status === 'paused') {
      if (!options.force) {
        throw new BerthError('CONTAINER_STATE', `cannot delete container \`${id}\` that is not stopped: it is ${status}; stop it or use --force`);
      }
    }
    if (status !== 'stopped') {
      await killAll(cg, status === 'paused');
      if (!(await waitForExit(state.pid, state.pidStartTime, 10_000))) {
        throw new BerthError('CONTAINER_STATE', `container \`${id}\` init (pid ${state.pid}) did not exit after SIGKILL`);
      }
    } else if (await cg.exists()) {
      // Init is gone, but without a pid namespace its children may live on.
      await killAll(cg, false);
    }
    await cg.destroy();
    await runHooksLoggingFailures('poststop', state.spec.hooks?.poststop, ociState(state, 'stopped'), (m) =>
      ctx.log.warn(`container ${id}: ${m}`));
    await ctx.store.remove(id);
  } finally {
    await lock.release();
  }
}

async function killAll(cg: CgroupManager, paused: boolean): Promise<void> {
  if (!(await cg.exists())) return;
  for (const pid of await cg.pids()) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // ESRCH: already gone.
    }
  }
  // SIGKILL is not delivered to frozen tasks until they thaw.
  if (paused) await cg.thaw();
  for (const pid of await cg.pids()) await waitForExit(pid, undefined, 5000);
}
