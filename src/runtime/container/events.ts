/**
 * `events`: resource statistics and OOM notices of a container, as runc's
 * JSON lines `{"type":"stats"|"oom","id":...,"data":...}`.
 */
import { sleep } from '../../util/proc.js';
import { validateId } from '../state/state-store.js';
import type { RuntimeContext } from './context.js';
import { cgroupOf, containerStatus, requireStatus } from './status.js';

export interface ContainerEvent {
  type: 'stats' | 'oom';
  id: string;
  data?: unknown;
}

export async function containerStats(ctx: RuntimeContext, idArg: string): Promise<ContainerEvent> {
  const id = validateId(idArg);
  const state = await ctx.store.get(id);
  requireStatus(id, await containerStatus(ctx, state), ['created', 'running', 'paused'], 'read stats of');
  return { type: 'stats', id, data: await (await cgroupOf(state)).stats() };
}

/** Emit stats every interval and an oom event per new OOM kill, until the container stops or `signal` aborts. */
export async function watchEvents(
  ctx: RuntimeContext,
  idArg: string,
  options: { intervalMs: number; signal?: AbortSignal; onEvent: (e: ContainerEvent) => void },
): Promise<void> {
  const id = validateId(idArg);
  const state = await ctx.store.get(id);
  const cg = await cgroupOf(state);
  let ooms = await cg.oomKillCount().catch(() => 0);
  let lastStats = 0;
  while (!options.signal?.aborted) {
    // OOM first: an OOM kill of init also stops the container, and its event must not be lost.
    const count = await cg.oomKillCount().catch(() => ooms);
    if (count > ooms) {
      ooms = count;
      options.onEvent({ type: 'oom', id });
    }
    const status = await containerStatus(ctx, state);
    if (status === 'stopped') return;
    if (Date.now() - lastStats >= options.intervalMs) {
      lastStats = Date.now();
      options.onEvent({ type: 'stats', id, data: await cg.stats() });
    }
    await sleep(Math.min(options.intervalMs, 200));
  }
}
