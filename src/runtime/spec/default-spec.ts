/**
 * The config.json that `berth-runtime spec` writes: the same content as
 * `runc spec` of runc 1.1 (libcontainer/specconv/example.go), and with
 * `rootless` the same as `runc spec --rootless`, except for `ociVersion`.
 * It uses nothing newer than runtime-spec 1.0.2, so it says 1.0.2: other
 * runtimes (crun 1.8 refuses versions it does not know) can run a bundle
 * that berth wrote.
 */
import type { Mount, Spec } from '../../oci/runtime-spec.js';

export const DEFAULT_SPEC_VERSION = '1.0.2';

export interface DefaultSpecOptions {
  /** The `--rootless` variant: a user namespace mapping root to the caller, no network namespace. */
  rootless?: boolean;
  /** Host uid/gid that container root maps to (rootless); default the caller's effective ids. */
  hostUid?: number;
  hostGid?: number;
}

const CAPS = ['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'];

/** A fresh default spec; callers may change it freely. */
export function defaultSpec(options: DefaultSpecOptions = {}): Spec {
  const spec: Spec = {
    ociVersion: DEFAULT_SPEC_VERSION,
    process: {
      terminal: true,
      user: { uid: 0, gid: 0 },
      args: ['sh'],
      env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'TERM=xterm'],
      cwd: '/',
      capabilities: {
        bounding: [...CAPS],
        effective: [...CAPS],
        permitted: [...CAPS],
        ambient: [...CAPS],
      },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: 'rootfs', readonly: true },
    hostname: 'runc',
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      {
        destination: '/dev/pts',
        type: 'devpts',
        source: 'devpts',
        options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
      },
      { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
      { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
      { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'] },
    ],
    linux: {
      resources: { devices: [{ allow: false, access: 'rwm' }] },
      namespaces: [{ type: 'pid' }, { type: 'network' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }],
      maskedPaths: [
        '/proc/acpi',
        '/proc/asound',
        '/proc/kcore',
        '/proc/keys',
        '/proc/latency_stats',
        '/proc/timer_list',
        '/proc/timer_stats',
        '/proc/sched_debug',
        '/sys/firmware',
        '/proc/scsi',
      ],
      readonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
    },
  };
  if (options.rootless) toRootless(spec, options.hostUid ?? process.geteuid?.() ?? 0, options.hostGid ?? process.getegid?.() ?? 0);
  return spec;
}

/** runc's specconv.ToRootless: what changes for a container started without root. */
function toRootless(spec: Spec, hostUid: number, hostGid: number): void {
  const linux = spec.linux!;
  // No network namespace: an unprivileged user could not configure one anyway.
  linux.namespaces = linux.namespaces!.filter((ns) => ns.type !== 'network' && ns.type !== 'user');
  linux.namespaces.push({ type: 'user' });
  linux.uidMappings = [{ containerID: 0, hostID: hostUid, size: 1 }];
  linux.gidMappings = [{ containerID: 0, hostID: hostGid, size: 1 }];
  // Group 5 (tty) is not mapped, so devpts cannot be given gid=5; sysfs
  // cannot be mounted without a network namespace, so bind the host's /sys.
  spec.mounts = spec.mounts!.map((m): Mount => {
    if (m.type === 'sysfs') {
      return { destination: m.destination, type: 'none', source: '/sys', options: ['rbind', 'nosuid', 'noexec', 'nodev', 'ro'] };
    }
    if (!m.options) return m;
    return { ...m, options: m.options.filter((o) => !o.startsWith('gid=') && !o.startsWith('uid=')) };
  });
  // Cgroup resources cannot be set without root.
  delete linux.resources;
  // Order the linux keys as runc writes them.
  const { uidMappings, gidMappings, namespaces, maskedPaths, readonlyPaths } = linux;
  spec.linux = { uidMappings, gidMappings, namespaces, maskedPaths, readonlyPaths };
}
