/** `update`: changes the resource limits of a live container and records them. */
import type { LinuxResources, Spec } from '../../oci/runtime-spec.js';
import { createCgroupManager } from '../cgroups/index.js';
import { replaceDeviceFilter } from '../executor/replace-device-filter.js';
import { deviceFilterPlan, planDeviceRules } from '../plan/device-filter-plan.js';
import { effectiveResources } from '../spec/device-rules.js';
import { validateId } from '../state/state-store.js';
import type { RuntimeContext } from './context.js';
import { containerStatus, requireStatus } from './status.js';

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

/**
 * The resources to hand the cgroup manager for `patch`. runc's update
 * leaves device rules alone (it sets SkipDevices); berth changes them: a
 * `devices` list replaces linux.resources.devices, as any list in the merge
 * does, and the container then gets what create would have given it with
 * that list: the rules, then allows for linux.devices, then runc's default
 * devices (effectiveResources). So a list cannot take /dev/null away.
 */
export function resourcesToApply(spec: Spec, patch: LinuxResources): LinuxResources {
  if (patch.devices === undefined) return patch;
  const merged: Spec = { ...spec, linux: { ...(spec.linux ?? {}), resources: mergeResources(spec.linux?.resources, patch) } };
  return { ...patch, devices: effectiveResources(merged).devices ?? [] };
}

export async function updateContainer(ctx: RuntimeContext, idArg: string, resources: LinuxResources): Promise<void> {
  const id = validateId(idArg);
  const lock = await ctx.store.lock(id);
  try {
    const state = await ctx.store.get(id);
    requireStatus(id, await containerStatus(ctx, state), ['created', 'running', 'paused'], 'update');
    const apply = resourcesToApply(state.spec, resources);
    // Re-open by the saved directories (see cgroupOf). On v2 the devices
    // are berth-init's filter, not a cgroup file.
    const cgroup = createCgroupManager({ id: state.id, paths: state.cgroupPaths, version: state.cgroupVersion, v2DevicePolicy: 'external' });
    const cgroupDir = cgroup.paths()[''];
    const filter = cgroup.version === 2 && apply.devices !== undefined && cgroupDir !== undefined
      ? deviceFilterPlan({
        containerId: id,
        cgroupDir,
        // Built before anything changes, so that a bad rule changes nothing.
        rules: planDeviceRules(apply.devices, (i, n) => (i < (resources.devices?.length ?? 0) ? `devices[${i}].${n}` : 'linux.devices')),
      })
      : undefined;
    const record = async (applied: LinuxResources): Promise<void> => {
      state.spec.linux = { ...(state.spec.linux ?? {}), resources: mergeResources(state.spec.linux?.resources, applied) };
      await ctx.store.write(state);
    };
    // The manager checks everything else before it writes a file.
    await cgroup.update(apply);
    if (filter !== undefined) {
      try {
        await replaceDeviceFilter(filter);
      } catch (err) {
        // The other limits are in force: the state says so, and keeps the old devices.
        const { devices: _unchanged, ...rest } = resources;
        await record(rest);
        throw err;
      }
    }
    await record(resources);
  } finally {
    await lock.release();
  }
}
