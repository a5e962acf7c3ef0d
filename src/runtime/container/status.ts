/**
 * Derives a container's OCI status from its recorded state and the live
 * system, and the guards each operation applies (youki's canStart/canKill
 * style): they fail with the current status in the message.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BerthError } from '../../errors/index.js';
import { isProcessAlive } from '../../util/proc.js';
import type { CgroupManager } from '../cgroups/index.js';
import type { ContainerState, ContainerStatus, OciState } from '../state/container-state.js';
import type { RuntimeContext } from './context.js';

export const OCI_VERSION = '1.2.0';

export async function containerStatus(ctx: RuntimeContext, state: ContainerState): Promise<ContainerStatus> {
  if (state.pid <= 0) return 'creating';
  if (!isProcessAlive(state.pid, state.pidStartTime)) return 'stopped';
  if (await ctx.store.hasFifo(state.id)) return 'created';
  return (await isFrozen(state)) ? 'paused' : 'running';
}

/**
 * Reads the freezer file directly instead of loading the cgroup drivers:
 * `state` and `kill` run on every manager poll, and their cost is module
 * loading, not the one read.
 */
async function isFrozen(state: ContainerState): Promise<boolean> {
  const v1 = state.cgroupPaths['freezer'];
  try {
    if (state.cgroupVersion === 1) {
      return v1 !== undefined && readFileSync(join(v1, 'freezer.state'), 'utf8').trim() === 'FROZEN';
    }
    const dir = state.cgroupPaths[''];
    return dir !== undefined && /^frozen 1$/m.test(readFileSync(join(dir, 'cgroup.events'), 'utf8'));
  } catch {
    return false;
  }
}

/** The container's cgroup; the drivers load on first use (see isFrozen). */
export async function cgroupOf(state: ContainerState): Promise<CgroupManager> {
  const { createCgroupManager } = await import('../cgroups/index.js');
  // Re-open by the saved directories: resolving cgroupsPath again from the
  // caller's own cgroup could land elsewhere when the caller moved.
  return createCgroupManager({ id: state.id, paths: state.cgroupPaths, version: state.cgroupVersion });
}

export function ociState(state: ContainerState, status: ContainerStatus): OciState {
  const out: OciState = {
    ociVersion: OCI_VERSION,
    id: state.id,
    status,
    bundle: state.bundle,
  };
  if (status !== 'stopped' && state.pid > 0) out.pid = state.pid;
  if (Object.keys(state.annotations).length > 0) out.annotations = state.annotations;
  return out;
}

export function requireStatus(id: string, status: ContainerStatus, allowed: readonly ContainerStatus[], action: string): void {
  if (!allowed.includes(status)) {
    throw new BerthError('CONTAINER_STATE', `cannot ${action} container \`${id}\`: it is ${status}`);
  }
}
