/**
 * The facts about the host that validation and the spec → plan conversion
 * look up: file kinds, filesystem types, kernel features. One small
 * interface so tests can hand in a fake host; `systemSpecHost` reads the
 * real one with synchronous calls (a handful of stat(2)s per container).
 */
import { lstatSync, readFileSync, readlinkSync, statfsSync, statSync } from 'node:fs';
import { NSFS_MAGIC } from '../../oci/linux-constants.js';
import type { LinuxNamespaceType } from '../../oci/runtime-spec.js';

export type FileKind = 'directory' | 'file' | 'symlink' | 'other';

export interface SpecHost {
  /** Kind of the file at `path`, following symlinks; undefined when it cannot be stat'ed. */
  fileKind(path: string): Exclude<FileKind, 'symlink'> | undefined;
  /** Kind of the file at `path` itself (lstat); undefined when missing. */
  linkKind(path: string): FileKind | undefined;
  /** Target of a symlink; undefined when not a symlink. */
  readlink(path: string): string | undefined;
  /** statfs(2) f_type of the filesystem holding `path`; undefined on error. */
  statfsType(path: string): number | undefined;
  /** Whether two paths name the same inode (same st_dev and st_ino). */
  sameFile(a: string, b: string): boolean;
  /** Text of a file; undefined when it cannot be read. */
  readFile(path: string): string | undefined;
}

const SELINUX_MAGIC = 0xf97cff8c;

function kindOf(s: { isDirectory(): boolean; isFile(): boolean; isSymbolicLink(): boolean }): FileKind {
  if (s.isSymbolicLink()) return 'symlink';
  if (s.isDirectory()) return 'directory';
  if (s.isFile()) return 'file';
  return 'other';
}

export const systemSpecHost: SpecHost = {
  fileKind(path) {
    try {
      return kindOf(statSync(path)) as Exclude<FileKind, 'symlink'>;
    } catch {
      return undefined;
    }
  },
  linkKind(path) {
    try {
      return kindOf(lstatSync(path));
    } catch {
      return undefined;
    }
  },
  readlink(path) {
    try {
      return readlinkSync(path);
    } catch {
      return undefined;
    }
  },
  statfsType(path) {
    try {
      return statfsSync(path).type;
    } catch {
      return undefined;
    }
  },
  sameFile(a, b) {
    try {
      const sa = statSync(a, { bigint: true });
      const sb = statSync(b, { bigint: true });
      return sa.dev === sb.dev && sa.ino === sb.ino;
    } catch {
      return false;
    }
  },
  readFile(path) {
    try {
      return readFileSync(path, 'utf8');
    } catch {
      return undefined;
    }
  },
};

/** The /proc/PID/ns/ file name of each namespace type. */
export const PROC_NS_NAMES: Readonly<Record<LinuxNamespaceType, string>> = Object.freeze({
  user: 'user',
  ipc: 'ipc',
  uts: 'uts',
  network: 'net',
  pid: 'pid',
  mount: 'mnt',
  cgroup: 'cgroup',
  time: 'time',
});

/** Whether `path` is a namespace file (statfs f_type NSFS_MAGIC). */
export function isNamespaceFile(host: SpecHost, path: string): boolean {
  return host.statfsType(path) === NSFS_MAGIC;
}

/** Whether the running kernel has namespaces of a type (runc's test: the /proc file exists). */
export function kernelHasNamespace(host: SpecHost, type: LinuxNamespaceType): boolean {
  // runc checks /proc/self/timens_offsets for time namespaces: it exists only with CONFIG_TIME_NS.
  const probe = type === 'time' ? '/proc/self/timens_offsets' : `/proc/self/ns/${PROC_NS_NAMES[type]}`;
  return host.linkKind(probe) !== undefined;
}

/** AppArmor is enabled when /sys/module/apparmor/parameters/enabled starts with Y. */
export function apparmorEnabled(host: SpecHost): boolean {
  return host.readFile('/sys/module/apparmor/parameters/enabled')?.startsWith('Y') ?? false;
}

/** SELinux is enabled when selinuxfs is mounted at /sys/fs/selinux. */
export function selinuxEnabled(host: SpecHost): boolean {
  return host.statfsType('/sys/fs/selinux') === SELINUX_MAGIC;
}

/** Whether a resctrl filesystem (Intel RDT) is mounted. */
export function resctrlMounted(host: SpecHost): boolean {
  const mountinfo = host.readFile('/proc/self/mountinfo') ?? '';
  // Field after the " - " separator is the filesystem type.
  return mountinfo.split('\n').some((line) => line.split(' - ')[1]?.startsWith('resctrl ') ?? false);
}

/** /proc/sys/kernel/cap_last_cap, or 40 (CAP_CHECKPOINT_RESTORE) when it cannot be read. */
export function capLastCap(host: SpecHost): number {
  const n = Number.parseInt(host.readFile('/proc/sys/kernel/cap_last_cap') ?? '', 10);
  return Number.isInteger(n) && n >= 0 && n < 64 ? n : 40;
}
