/** `pause` and `resume`: freeze and thaw every process of the container through its cgroup. */
import { validateId } from '../state/state-store.js';
import type { RuntimeContext } from './context.js';
import { cgroupOf, containerStatus, requireStatus } from './status.js';

export async function pauseContainer(ctx: RuntimeContext, idArg: string): Promise<void> {
  const id = validateId(idArg);
  const lock = await ctx.store.lock(id);
  try {
    const state = await ctx.store.get(id);
    requireStatus(id, await containerStatus(ctx, state), ['running', 'created'], 'pause');
    await (await cgroupOf(state)).freeze();
  } finally {
    await lock.release();
  }
}

export async function resumeContainer(ctx: RuntimeContext, idArg: string): Promise<void> {
  const id = validateId(idArg);
  const lock = await ctx.store.lock(id);
  try {
    const state = await ctx.store.get(id);
    requireStatus(id, await containerStatus(ctx, state), ['paused'], 'resume');
    await (await cgroupOf(state)).thaw();
  } finally {
    await lock.release();
  }
}
