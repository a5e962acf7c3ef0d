/** `update`: changes the resource limits of a live container and records them. */
import type { LinuxResources } from '../../oci/runtime-spec.js';
import { validateId } from '../state/state-store.js';
import type { RuntimeContext } from './context.js';
import { cgroupOf, containerStatus, requireStatus } from './status.js';

/** Merge `patch` into `base` one level deep per resource group, as runc's update does. */
export function mergeResources(base: LinuxResources | undefined, patch: LinuxResources): LinuxResources {
  const out: Record<string, unknown> = { ...(base ?? {}) };
  for (const [key, value] of Object.entries(patch)) {
    if (value === undefined) continue;
    const prev = out[key];
    out[key] = value !== null && typeof value === 'object' && !Array.isArray(value) && prev && typeof prev === 'object' && !Array.isArray(prev)
      ? { ...(prev as object), ...(value as object) }
      : value;
  }
  return out as LinuxResources;
}

export async function updateContainer(ctx: RuntimeContext, idArg: string, resources: LinuxResources): Promise<void> {
  const id = validateId(idArg);
  const lock = await ctx.store.lock(id);
  try {
    const state = await ctx.store.get(id);
    requireStatus(id, await containerStatus(ctx, state), ['created', 'running', 'paused'], 'update');
    await (await cgroupOf(state)).update(resources);
    state.spec.linux = { ...(state.spec.linux ?? {}), resources: mergeResources(state.spec.linux?.resources, resources) };
    await ctx.store.write(state);
  } finally {
    await lock.release();
  }
}
