/** `state`: the OCI state document of one container. */
import type { OciState } from '../state/container-state.js';
import { validateId } from '../state/state-store.js';
import type { RuntimeContext } from './context.js';
import { containerStatus, ociState } from './status.js';

/** runc's `state` output: the OCI state plus rootfs, created and owner. */
export interface RuntimeStateView extends OciState {
  rootfs: string;
  created: string;
  owner: string;
}

export async function getContainerState(ctx: RuntimeContext, idArg: string): Promise<RuntimeStateView> {
  const id = validateId(idArg);
  const state = await ctx.store.get(id);
  const status = await containerStatus(ctx, state);
  const oci = ociState(state, status);
  return {
    ociVersion: oci.ociVersion,
    id: oci.id,
    pid: status === 'stopped' ? 0 : state.pid,
    status: oci.status,
    bundle: oci.bundle,
    rootfs: state.rootfs,
    created: state.created,
    owner: state.owner,
    ...(oci.annotations ? { annotations: oci.annotations } : {}),
  };
}
