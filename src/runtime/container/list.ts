/** `list`: every container under the root with its status. */
import type { RuntimeContext } from './context.js';
import { getContainerState, type RuntimeStateView } from './state.js';

export async function listContainers(ctx: RuntimeContext): Promise<RuntimeStateView[]> {
  const out: RuntimeStateView[] = [];
  for (const id of await ctx.store.ids()) {
    try {
      out.push(await getContainerState(ctx, id));
    } catch (err) {
      // A create in progress (no state.json yet) is not listed, like runc.
      ctx.log.debug(`list: skipping ${id}: ${(err as Error).message}`);
    }
  }
  return out;
}
