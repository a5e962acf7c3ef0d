/**
 * The device cgroup rules a container really gets, as runc builds them
 * (libcontainer/specconv): the spec's own rules, then an allow rule for each
 * device in `linux.devices`, then runc's default allowed devices. Without the
 * defaults a spec that denies everything (what `runc spec` writes) could not
 * even create /dev/null.
 */
import type { LinuxDeviceCgroup, LinuxResources, Spec } from '../../oci/runtime-spec.js';
import { DEFAULT_DEVICE_RULES } from '../cgroups/devices.js';

/** runc's AllowedDevices: the one list lives with the cgroup rules it feeds. */
export const DEFAULT_ALLOWED_DEVICES: readonly LinuxDeviceCgroup[] = DEFAULT_DEVICE_RULES;

/** The resources to apply at create: the spec's, with the device rules completed. */
export function effectiveResources(spec: Spec): LinuxResources {
  const resources: LinuxResources = { ...(spec.linux?.resources ?? {}) };
  const rules: LinuxDeviceCgroup[] = [...(resources.devices ?? [])];
  for (const d of spec.linux?.devices ?? []) {
    if (d.type !== 'c' && d.type !== 'b' && d.type !== 'u') continue;
    const rule: LinuxDeviceCgroup = { allow: true, type: d.type === 'u' ? 'c' : d.type, access: 'rwm' };
    if (d.major !== undefined) rule.major = d.major;
    if (d.minor !== undefined) rule.minor = d.minor;
    rules.push(rule);
  }
  rules.push(...DEFAULT_ALLOWED_DEVICES);
  resources.devices = rules;
  return resources;
}
