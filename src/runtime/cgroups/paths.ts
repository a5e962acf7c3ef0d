/**
 * Where a container's cgroup lives: parsing /proc/self/cgroup and
 * /proc/self/mountinfo, and resolving `linux.cgroupsPath` the way runc's
 * cgroupfs driver does (libcontainer/cgroups/fs/paths.go, fs2/defaultpath.go):
 *
 * - absolute (`/berth/abc`): relative to the root of each hierarchy;
 * - relative (`berth/abc`): relative to this process's own cgroup in each
 *   hierarchy (v1), or to the parent of its own cgroup (v2, whose own cgroup
 *   holds processes and so cannot enable controllers for a child);
 * - empty or absent: the container id, as a relative path. Checked against
 *   runc 1.1.5: with no cgroupsPath, a container started from a process in
 *   memory:/process_api/X lands in memory:/process_api/X/<id> and in /<id>
 *   in the hierarchies where that process sits at the root.
 */
import { readFileSync, statfsSync } from 'node:fs';
import { posix } from 'node:path';
import { BerthError } from '../../errors/index.js';
import { cgroupUnsupported } from './cgroup-fs.js';

/** statfs f_type of a cgroup2 mount (linux/magic.h). */
export const CGROUP2_SUPER_MAGIC = 0x63677270;
/** statfs f_type of a cgroup v1 mount. */
export const CGROUP_SUPER_MAGIC = 0x27e0eb;

/**
 * 2 when `root` is a cgroup2 mount (the unified layout), else 1. A hybrid
 * host (v1 controllers plus a cgroup2 mount at root/unified) counts as 1.
 */
export function detectCgroupVersion(root = '/sys/fs/cgroup'): 1 | 2 {
  try {
    return statfsSync(root).type === CGROUP2_SUPER_MAGIC ? 2 : 1;
  } catch (err) {
    throw cgroupUnsupported(`cannot inspect the cgroup mount at ${root}; is cgroupfs mounted?`, err);
  }
}

/** One line of /proc/PID/cgroup. */
export interface ProcCgroupEntry {
  id: number;
  /** `['cpu', 'cpuacct']`, `['name=systemd']`, or `[]` for the unified hierarchy. */
  controllers: string[];
  path: string;
}

export function parseProcCgroup(text: string): ProcCgroupEntry[] {
  const out: ProcCgroupEntry[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const first = line.indexOf(':');
    const second = line.indexOf(':', first + 1);
    if (first < 0 || second < 0) continue;
    const list = line.slice(first + 1, second);
    out.push({ id: Number(line.slice(0, first)), controllers: list === '' ? [] : list.split(','), path: line.slice(second + 1) });
  }
  return out;
}

export interface CgroupMount {
  mountpoint: string;
  /** The cgroup this mount shows at its mountpoint (field 4 of mountinfo). */
  mountRoot: string;
  fstype: 'cgroup' | 'cgroup2';
  /** v1: controllers and `name=...` from the super options; v2: []. */
  controllers: string[];
}

/** Kernel escapes in mountinfo paths: `\040` for space and the like. */
function unescapeMountPath(p: string): string {
  return p.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** The v1 controllers a cgroup driver knows how to use, by kernel name. */
export const V1_CONTROLLERS = [
  'cpuset', 'cpu', 'cpuacct', 'memory', 'devices', 'freezer', 'blkio', 'pids',
  'hugetlb', 'net_cls', 'net_prio', 'perf_event', 'rdma', 'misc',
] as const;

export function parseCgroupMounts(mountinfo: string): CgroupMount[] {
  const out: CgroupMount[] = [];
  for (const line of mountinfo.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const before = line.slice(0, sep).split(' ');
    const after = line.slice(sep + 3).split(' ');
    const fstype = after[0];
    if (fstype !== 'cgroup' && fstype !== 'cgroup2') continue;
    const mountRoot = before[3];
    const mountpoint = before[4];
    if (mountRoot === undefined || mountpoint === undefined) continue;
    const superOpts = (after[2] ?? '').split(',');
    const controllers = fstype === 'cgroup2'
      ? []
      : superOpts.filter((o) => o.startsWith('name=') || (V1_CONTROLLERS as readonly string[]).includes(o));
    out.push({ mountpoint: unescapeMountPath(mountpoint), mountRoot: unescapeMountPath(mountRoot), fstype, controllers });
  }
  return out;
}

/**
 * The cgroupsPath of the config as a list of path components, or the
 * container id when the config has none, with whether it is absolute.
 */
export interface InnerPath {
  absolute: boolean;
  components: string[];
}

export function parseCgroupsPath(cgroupsPath: string | undefined, id: string): InnerPath {
  if (cgroupsPath === undefined || cgroupsPath === '') {
    if (id === '' || id.includes('/') || id === '.' || id === '..') {
      throw new BerthError('ID_INVALID', `container id \`${id}\` cannot name a cgroup`);
    }
    return { absolute: false, components: [id] };
  }
  // The systemd driver's form is slice:prefix:name, e.g. system.slice:docker:abc.
  if (cgroupsPath.split(':').length === 3 && !cgroupsPath.includes('/')) {
    throw new BerthError('CGROUP_UNSUPPORTED', `cgroupsPath \`${cgroupsPath}\` is for the systemd cgroup driver, which is not supported; use a cgroupfs path such as /berth/${id}`);
  }
  if (cgroupsPath.includes('\0')) {
    throw new BerthError('CONFIG_INVALID', 'cgroupsPath contains a NUL byte', { field: 'linux.cgroupsPath' });
  }
  const components = cgroupsPath.split('/').filter((c) => c !== '' && c !== '.');
  if (components.includes('..')) {
    throw new BerthError('CONFIG_INVALID', `cgroupsPath \`${cgroupsPath}\` has a \`..\` component; cgroup paths may not climb out of their hierarchy`, {
      field: 'linux.cgroupsPath',
    });
  }
  if (components.length === 0) {
    throw new BerthError('CONFIG_INVALID', `cgroupsPath \`${cgroupsPath}\` names the root cgroup; give the container its own cgroup`, {
      field: 'linux.cgroupsPath',
    });
  }
  return { absolute: cgroupsPath.startsWith('/'), components };
}

/** Join cgroup path pieces into an absolute, normalized cgroup path. */
export function joinCgroupPath(...parts: string[]): string {
  return posix.join('/', ...parts);
}

/**
 * Host directory of a cgroup path in a hierarchy mounted at `mountpoint`
 * showing `mountRoot`: the mount shows only the subtree under its root.
 */
export function hostDir(mountpoint: string, mountRoot: string, cgroupPath: string): string {
  const rel = posix.relative(mountRoot, cgroupPath);
  if (rel.startsWith('..')) {
    throw new BerthError('CGROUP_UNSUPPORTED', `cgroup ${cgroupPath} is outside the part of the hierarchy mounted at ${mountpoint} (${mountRoot})`);
  }
  return posix.join(mountpoint, rel);
}

export function readTextFile(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw cgroupUnsupported(`cannot read ${path} to find ${what}`, err);
  }
}
