/**
 * Build the cgroup manager for a container: pick the driver for the host's
 * layout and resolve `linux.cgroupsPath` to a directory in each hierarchy
 * (see paths.ts for the rules, which are runc's).
 */
import { posix } from 'node:path';
import type { CgroupFs } from './cgroup-fs.js';
import { cgroupUnsupported } from './cgroup-fs.js';
import type { CgroupManager, CgroupManagerOptions } from './manager.js';
import {
  detectCgroupVersion, hostDir, joinCgroupPath, parseCgroupMounts, parseCgroupsPath, parseProcCgroup, readTextFile,
  type CgroupMount, type InnerPath, type ProcCgroupEntry,
} from './paths.js';
import { CgroupV1Manager, PRIMARY_ORDER } from './v1-manager.js';
import { CgroupV2Manager } from './v2-manager.js';

export interface CreateCgroupManagerOptions extends CgroupManagerOptions {
  /** The container id; names the cgroup when cgroupsPath is empty. */
  id: string;
  /** `linux.cgroupsPath` from config.json. */
  cgroupsPath?: string;
  /** Where the cgroup hierarchies are mounted; default /sys/fs/cgroup. */
  root?: string;
  /** Skip detection (detectCgroupVersion on `root`). */
  version?: 1 | 2;
  /** The calling process's cgroups, base of relative paths; default /proc/self/cgroup. */
  ownCgroupFile?: string;
  /** Where v1 hierarchies are found; default /proc/self/mountinfo. */
  mountinfoFile?: string;
  /**
   * Re-open a cgroup from the directories an earlier manager's `paths()`
   * returned (kept in the container's state), instead of resolving
   * cgroupsPath again from this process's own cgroup, which may differ.
   */
  paths?: Record<string, string>;
  /** For tests: the file access the driver uses (a cgroupfs fixture). */
  fs?: CgroupFs;
}

export function createCgroupManager(opts: CreateCgroupManagerOptions): CgroupManager {
  const root = opts.root ?? '/sys/fs/cgroup';
  const inner = parseCgroupsPath(opts.cgroupsPath, opts.id);
  const version = opts.version ?? (opts.paths !== undefined ? versionOfPaths(opts.paths) : detectCgroupVersion(root));
  const common: CgroupManagerOptions = {};
  if (opts.onWarning !== undefined) common.onWarning = opts.onWarning;
  if (opts.freezeTimeoutMs !== undefined) common.freezeTimeoutMs = opts.freezeTimeoutMs;
  if (opts.v2DevicePolicy !== undefined) common.v2DevicePolicy = opts.v2DevicePolicy;
  const fs = opts.fs === undefined ? {} : { fs: opts.fs };
  const ownCgroups = (): ProcCgroupEntry[] => parseProcCgroup(readTextFile(opts.ownCgroupFile ?? '/proc/self/cgroup', 'the calling process\'s cgroups'));

  if (version === 2) {
    let path: string;
    if (opts.paths !== undefined) {
      const dir = opts.paths[''];
      if (dir === undefined) throw cgroupUnsupported('the saved cgroup paths have no unified hierarchy entry; the container was created under cgroup v1');
      path = joinCgroupPath(posix.relative(root, dir));
    } else {
      path = v2CgroupPath(inner, ownCgroups);
    }
    return new CgroupV2Manager({ ...common, ...fs, root, path });
  }

  const mounts = parseCgroupMounts(readTextFile(opts.mountinfoFile ?? '/proc/self/mountinfo', 'the cgroup mounts'))
    .filter((m) => m.mountpoint.startsWith(`${root}/`));
  if (opts.paths !== undefined) {
    const dirs = { ...opts.paths };
    return new CgroupV1Manager({ ...common, ...fs, dirs, path: v1PathOfDirs(dirs, mounts, root) });
  }
  const { dirs, cgroupPaths } = v1Dirs(inner, mounts, ownCgroups);
  const primary = PRIMARY_ORDER.find((k) => cgroupPaths[k] !== undefined);
  if (primary === undefined) throw cgroupUnsupported(`no cgroup v1 hierarchy is mounted under ${root}`);
  return new CgroupV1Manager({ ...common, ...fs, dirs, path: cgroupPaths[primary]! });
}

function versionOfPaths(paths: Record<string, string>): 1 | 2 {
  const keys = Object.keys(paths);
  return keys.length === 1 && keys[0] === '' ? 2 : 1;
}

/** Relative v2 paths hang off the parent of our own cgroup (see paths.ts). */
function v2CgroupPath(inner: InnerPath, ownCgroups: () => ProcCgroupEntry[]): string {
  if (inner.absolute) return joinCgroupPath(...inner.components);
  const own = ownCgroups().find((e) => e.id === 0 && e.controllers.length === 0);
  if (own === undefined) throw cgroupUnsupported('the calling process is in no cgroup v2 hierarchy (no `0::` line in its cgroup file)');
  return joinCgroupPath(posix.dirname(own.path), ...inner.components);
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x));
}

/** Directory and cgroup path of the container in every usable v1 hierarchy. */
function v1Dirs(
  inner: InnerPath,
  mounts: CgroupMount[],
  ownCgroups: () => ProcCgroupEntry[],
): { dirs: Record<string, string>; cgroupPaths: Record<string, string> } {
  const dirs: Record<string, string> = {};
  const cgroupPaths: Record<string, string> = {};
  const own = inner.absolute ? [] : ownCgroups();
  for (const m of mounts) {
    // Only name=systemd among the named hierarchies: others belong to
    // whatever tool made them.
    const keys = m.fstype === 'cgroup2' ? [''] : m.controllers.filter((c) => !c.startsWith('name=') || c === 'name=systemd');
    if (keys.length === 0 || keys.some((k) => dirs[k] !== undefined)) continue;
    let dir: string;
    let cgroupPath: string;
    if (inner.absolute) {
      // Absolute paths are taken from the mount point, as runc does,
      // whatever part of the hierarchy the mount shows.
      cgroupPath = joinCgroupPath(...inner.components);
      dir = posix.join(m.mountpoint, cgroupPath);
    } else {
      const entry = m.fstype === 'cgroup2'
        ? own.find((e) => e.id === 0 && e.controllers.length === 0)
        : own.find((e) => sameSet(e.controllers, m.controllers));
      // A hierarchy this process is not in cannot hold a relative path.
      if (entry === undefined) continue;
      cgroupPath = joinCgroupPath(entry.path, ...inner.components);
      dir = hostDir(m.mountpoint, m.mountRoot, cgroupPath);
    }
    for (const k of keys) {
      dirs[k] = dir;
      cgroupPaths[k] = cgroupPath;
    }
  }
  return { dirs, cgroupPaths };
}

/** The cgroup path of saved v1 directories, from the mount that holds the primary one. */
function v1PathOfDirs(dirs: Record<string, string>, mounts: CgroupMount[], root: string): string {
  const key = PRIMARY_ORDER.find((k) => dirs[k] !== undefined) ?? Object.keys(dirs)[0];
  const dir = key === undefined ? undefined : dirs[key];
  if (dir === undefined) throw cgroupUnsupported('the saved cgroup paths are empty');
  const mount = mounts
    .filter((m) => dir === m.mountpoint || dir.startsWith(`${m.mountpoint}/`))
    .sort((a, b) => b.mountpoint.length - a.mountpoint.length)[0];
  // Not mounted (any more): the path below the hierarchy's directory.
  if (mount === undefined) return joinCgroupPath(...posix.relative(root, dir).split('/').slice(1));
  return joinCgroupPath(mount.mountRoot, posix.relative(mount.mountpoint, dir));
}
