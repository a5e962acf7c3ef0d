/** `ps`: the host pids of every process in the container's cgroup. */
import { validateId } from '../state/state-store.js';
import type { RuntimeContext } from './context.js';
import { cgroupOf, containerStatus } from './status.js';

export async function containerPids(ctx: RuntimeContext, idArg: string): Promise<number[]> {
  const id = validateId(idArg);
  const state = await ctx.store.get(id);
  const status = await containerStatus(ctx, state);
  if (status === 'stopped') return [];
  const cg = await cgroupOf(state);
  if (!(await cg.exists())) return [];
  return (await cg.pids()).sort((a, b) => a - b);
}
