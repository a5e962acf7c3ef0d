/**
 * The device cgroup rules a container really gets, as runc builds them
 * (libcontainer/specconv): the spec's own rules, then an allow rule for each
 * device in `linux.devices`, then runc's default allowed devices. Without the
 * defaults a spec that denies everything (what `runc spec` writes) could not
 * even create /dev/null.
 */
import type { LinuxDeviceCgroup, LinuxResources, Spec } from '../../oci/runtime-spec.js';

/** runc's AllowedDevices. */
export const DEFAULT_ALLOWED_DEVICES: readonly LinuxDeviceCgroup[] = [
  // mknod of any device; access to each is still decided by the rules.
  { allow: true, type: 'c', access: 'm' },
  { allow: true, type: 'b', access: 'm' },
  { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' }, // /dev/null
  { allow: true, type: 'c', major: 1, minor: 8, access: 'rwm' }, // /dev/random
  { allow: true, type: 'c', major: 1, minor: 7, access: 'rwm' }, // /dev/full
  { allow: true, type: 'c', major: 5, minor: 0, access: 'rwm' }, // /dev/tty
  { allow: true, type: 'c', major: 1, minor: 5, access: 'rwm' }, // /dev/zero
  { allow: true, type: 'c', major: 1, minor: 9, access: 'rwm' }, // /dev/urandom
  { allow: true, type: 'c', major: 5, minor: 1, access: 'rwm' }, // /dev/console
  { allow: true, type: 'c', major: 136, access: 'rwm' }, // /dev/pts/*
  { allow: true, type: 'c', major: 5, minor: 2, access: 'rwm' }, // /dev/ptmx
  { allow: true, type: 'c', major: 10, minor: 200, access: 'rwm' }, // /dev/net/tun
];

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
