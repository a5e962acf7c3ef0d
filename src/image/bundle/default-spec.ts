/**
 * The spec Docker starts every Linux container from: moby's
 * `DefaultLinuxSpec` (daemon/pkg/oci/defaults.go) with the capabilities of
 * `caps.DefaultCapabilities`. It is not runc's `spec` example (that one is
 * `runtime/spec/default-spec.ts`, three capabilities and a read-only root):
 * images are written for Docker, so they run on Docker's defaults.
 *
 * What the image and the caller add on top (process, user, hostname,
 * seccomp, rlimits, annotations) is `image-spec.ts`'s job.
 */
import { existsSync, readFileSync } from 'node:fs';

import type { Spec } from '../../oci/runtime-spec.js';

/** The runtime-spec version berth writes: nothing newer than 1.0.2 is used, so runc 1.1 and crun 1.8 run these bundles. */
export const BUNDLE_SPEC_VERSION = '1.0.2';

/** Docker's PATH when the image sets none (moby `oci.DefaultPathEnv`). */
export const DEFAULT_PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Docker's 14 default capabilities (moby `caps.DefaultCapabilities`); CapEff 00000000a80425fb. */
export const DOCKER_DEFAULT_CAPABILITIES: readonly string[] = Object.freeze([
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
]);

/** Docker's masked paths: a file is covered by /dev/null, a directory by an empty read-only tmpfs. */
export const DOCKER_MASKED_PATHS: readonly string[] = Object.freeze([
  '/proc/acpi',
  '/proc/asound',
  // GHSA-6fw5-f8r9-fgfm: interrupt counts and CPU thermal events leak what other tenants do.
  '/proc/interrupts',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/proc/timer_list',
  '/proc/timer_stats',
  // GHSA-jq35-85cj-fj4p: RAPL energy counters are a side channel (CVE-2020-8694).
  '/sys/devices/virtual/powercap',
  '/sys/firmware',
]);

export const DOCKER_READONLY_PATHS: readonly string[] = Object.freeze(['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger']);

/**
 * `/sys/devices/system/cpu/cpuN/thermal_throttle` for each possible CPU
 * that has one, masked as moby does (GHSA-6fw5-f8r9-fgfm). Read from the
 * host because sysfs in the container is the host's.
 */
export function thermalThrottlePaths(sysfs = '/sys'): string[] {
  let possible: string;
  try {
    possible = readFileSync(`${sysfs}/devices/system/cpu/possible`, 'utf8').trim();
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const range of possible.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(range);
    if (!m) continue;
    const first = Number(m[1]);
    const last = m[2] === undefined ? first : Number(m[2]);
    for (let cpu = first; cpu <= last && cpu - first < 65536; cpu++) {
      const path = `/sys/devices/system/cpu/cpu${cpu}/thermal_throttle`;
      if (existsSync(`${sysfs}${path.slice('/sys'.length)}`)) out.push(path);
    }
  }
  return out;
}

export interface DockerDefaultSpecOptions {
  /** Host sysfs to look for thermal_throttle directories in; default `/sys`. Tests pass a fixture. */
  sysfs?: string;
}

/**
 * A fresh copy of Docker's default Linux spec: the 14 capabilities in the
 * bounding, permitted and effective sets, Docker's mounts, masked and
 * read-only paths, new mount, network, uts, pid and ipc namespaces, and
 * Docker's device cgroup rules. `noNewPrivileges` stays false and there is
 * no seccomp filter yet (both are set per container in `image-spec.ts`).
 * The process is a placeholder (`/`, uid 0) for `imageSpec` to fill in.
 */
export function dockerDefaultSpec(options: DockerDefaultSpecOptions = {}): Spec {
  return {
    ociVersion: BUNDLE_SPEC_VERSION,
    process: {
      terminal: false,
      user: { uid: 0, gid: 0 },
      args: [],
      env: [DEFAULT_PATH_ENV],
      cwd: '/',
      capabilities: {
        bounding: [...DOCKER_DEFAULT_CAPABILITIES],
        permitted: [...DOCKER_DEFAULT_CAPABILITIES],
        effective: [...DOCKER_DEFAULT_CAPABILITIES],
      },
      noNewPrivileges: false,
    },
    root: { path: 'rootfs', readonly: false },
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      {
        destination: '/dev/pts',
        type: 'devpts',
        source: 'devpts',
        options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
      },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
      { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['ro', 'nosuid', 'noexec', 'nodev'] },
      { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777'] },
    ],
    linux: {
      maskedPaths: [...DOCKER_MASKED_PATHS, ...thermalThrottlePaths(options.sysfs)],
      readonlyPaths: [...DOCKER_READONLY_PATHS],
      namespaces: [{ type: 'mount' }, { type: 'network' }, { type: 'uts' }, { type: 'pid' }, { type: 'ipc' }],
      // The runtime creates the spec's default devices (null, zero, full, random, urandom, tty, console, ptmx) itself.
      devices: [],
      resources: {
        devices: [
          { allow: false, access: 'rwm' },
          { allow: true, type: 'c', major: 1, minor: 5, access: 'rwm' },
          { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' },
          { allow: true, type: 'c', major: 1, minor: 9, access: 'rwm' },
          { allow: true, type: 'c', major: 1, minor: 8, access: 'rwm' },
          { allow: true, type: 'c', major: 5, minor: 0, access: 'rwm' },
          { allow: true, type: 'c', major: 5, minor: 1, access: 'rwm' },
          // /dev/fuse stays closed even if a device is added later.
          { allow: false, type: 'c', major: 10, minor: 229, access: 'rwm' },
        ],
      },
    },
  };
}
