/**
 * config.json → plan: every decision the executor needs, made here, in the
 * way runc's libcontainer/specconv and rootfs_linux.go make them. The spec
 * is expected to have passed `validateSpec` (or `validateProcess` for
 * exec); what only becomes checkable with the context (bind sources,
 * no-pivot propagation, rootless groups) still throws CONFIG_INVALID naming
 * the field.
 */
import { posix, resolve } from 'node:path';
import { BerthError } from '../../errors/index.js';
import { CLONE_NEW, MS, PERSONALITY, RLIMIT, S_IFBLK, S_IFCHR, S_IFIFO } from '../../oci/linux-constants.js';
import type { LinuxDeviceCgroup, LinuxNamespaceType, Mount, Process, Spec } from '../../oci/runtime-spec.js';
import { planDeviceRules } from '../plan/device-filter-plan.js';
import {
  MOUNT_KIND, noContainerSetup, type Plan, type PlanCapabilities, type PlanDevice, type PlanMount, type PlanNamespaceJoin,
  type PlanRlimit, type PlanSymlink,
} from '../plan/plan.js';
import { capabilityMask } from './capabilities.js';
import { MOUNT_PROPAGATION_OPTIONS, parseMountOptions, type ParsedMountOptions } from './mount-options.js';
import { seccompToPlan, toU64 } from './seccomp.js';
import { capLastCap, PROC_NS_NAMES, systemSpecHost, type SpecHost } from './spec-host.js';
import { cleanContainerPath, isBindMount, normalizeSysctlKey } from './validate-spec.js';
import { effectiveResources } from './device-rules.js';

/** One cgroup directory to expose in a `cgroup` mount (a controller hierarchy on v1). */
export interface CgroupBind {
  /** The container's cgroup directory on the host, e.g. /sys/fs/cgroup/memory/berth/web. */
  hostPath: string;
  /**
   * Where it appears in the container: an absolute path, or a name
   * relative to the mount's destination (`memory`, `cpu,cpuacct`;
   * `name=systemd` is read as `systemd`). Empty means the unified
   * hierarchy: the destination itself on cgroup v2, `unified` under it on
   * a hybrid v1 host. These are the keys of CgroupManager.paths().
   */
  containerPath: string;
}

/** What `create` knows beyond config.json. */
export interface CreatePlanContext {
  id: string;
  /** Absolute bundle directory: relative bind sources resolve against it. */
  bundle: string;
  /** Absolute rootfs on the host (root.path resolved against the bundle). */
  rootfs: string;
  execFifo?: string;
  consoleSocket?: string;
  preserveFds?: number;
  noPivot?: boolean;
  noNewKeyring?: boolean;
  /** Foreground `run`: berth-init waits for the container and exits with its status. */
  parentWaits?: boolean;
  cgroupVersion: 1 | 2;
  /**
   * The container's cgroup directories. For a `cgroup` mount without a
   * cgroup namespace they are bind-mounted read-only into a tmpfs (v1) or
   * over the destination (v2), as runc does; with a cgroup namespace v1
   * gets a fresh cgroup mount per hierarchy named by the last path
   * component, v2 a fresh cgroup2 mount.
   */
  cgroupBinds?: CgroupBind[];
  /**
   * A user namespace is in play even if the spec has none (the runtime runs
   * in one): device nodes are bind-mounted because mknod(2) is refused.
   */
  userns?: boolean;
  /** The user namespace has setgroups denied (rootless without newgidmap): no setgroups(2). */
  setgroupsDeny?: boolean;
  /** How the container process joins its cgroups by itself (CgroupManager.selfJoin). */
  cgroupJoin?: PlanCgroupJoin;
  /**
   * cgroup v2 only: the container's cgroup directory on the host. berth-init
   * attaches the device filter (an eBPF program) built from `deviceRules` to
   * it; v2 has no other way to restrict devices. Ignored on v1, where the
   * devices controller's files do the job.
   */
  deviceCgroup?: string;
  /**
   * The device rules to enforce, in order, as applied to the cgroup
   * (`effectiveResources(spec).devices`, which that function also gives
   * when this is absent).
   */
  deviceRules?: readonly LinuxDeviceCgroup[];
  host?: SpecHost;
}

/** What `exec` knows: the running container. */
export interface ExecPlanContext {
  id: string;
  /** The container's validated config, for its namespaces, seccomp and defaults. */
  spec: Spec;
  /** Host pid of the container's init; its /proc/PID/ns/* are joined. */
  initPid: number;
  /** Host path of the container's rootfs, to find HOME in its /etc/passwd. */
  rootfs?: string;
  consoleSocket?: string;
  preserveFds?: number;
  noNewKeyring?: boolean;
  parentWaits?: boolean;
  setgroupsDeny?: boolean;
  host?: SpecHost;
  /** How the process joins the container's cgroups by itself (CgroupManager.selfJoin). */
  cgroupJoin?: PlanCgroupJoin;
}

/** What the executor does to put the process into its cgroups (Plan.cgroupTasks, Plan.cgroupInto). */
export interface PlanCgroupJoin {
  tasks: readonly string[];
  into?: string;
}

function cgroupJoinPart(join: PlanCgroupJoin | undefined): Pick<Plan, 'cgroupTasks' | 'cgroupInto'> {
  if (!join) return {};
  return { cgroupTasks: [...join.tasks], ...(join.into !== undefined ? { cgroupInto: join.into } : {}) };
}

/** CLONE_NEW* flag of each namespace type. */
export const NAMESPACE_FLAGS: Readonly<Record<LinuxNamespaceType, bigint>> = Object.freeze({
  user: CLONE_NEW.USER,
  ipc: CLONE_NEW.IPC,
  uts: CLONE_NEW.UTS,
  network: CLONE_NEW.NET,
  pid: CLONE_NEW.PID,
  mount: CLONE_NEW.NS,
  cgroup: CLONE_NEW.CGROUP,
  time: CLONE_NEW.TIME,
});

/**
 * Order in which namespaces are joined. The user namespace first: joining
 * the others needs CAP_SYS_ADMIN over their owning user namespace, which
 * joining it grants. The mount namespace last: after it, paths resolve in
 * the container, so any later namespace path would too.
 */
export const JOIN_ORDER: readonly LinuxNamespaceType[] = ['user', 'ipc', 'uts', 'network', 'pid', 'cgroup', 'time', 'mount'];

/** The devices runc creates in every container (libcontainer/specconv AllowedDevices). */
const DEFAULT_DEVICES: ReadonlyArray<{ path: string; major: number; minor: number }> = [
  { path: '/dev/null', major: 1, minor: 3 },
  { path: '/dev/random', major: 1, minor: 8 },
  { path: '/dev/full', major: 1, minor: 7 },
  { path: '/dev/tty', major: 5, minor: 0 },
  { path: '/dev/zero', major: 1, minor: 5 },
  { path: '/dev/urandom', major: 1, minor: 9 },
];

/** Flags runc puts on the pieces of a cgroup mount (defaultMountFlags). */
const CGROUP_FLAGS = MS.NOEXEC | MS.NOSUID | MS.NODEV;
/** Flags a bind mount ignores; the rest need an MS_REMOUNT pass. */
const BIND_FIRST_PASS = MS.BIND | MS.REC | MS.REMOUNT;

function invalid(field: string, message: string): BerthError {
  return new BerthError('CONFIG_INVALID', `${field}: ${message}`, { field });
}

function emptyCapabilities(): PlanCapabilities {
  return { bounding: 0n, effective: 0n, inheritable: 0n, permitted: 0n, ambient: 0n };
}

/**
 * Capability masks. No `capabilities` object means no capabilities (runc
 * would keep whatever the runtime had; berth takes the safe reading). The
 * ambient set is limited to what is both permitted and inheritable: the
 * kernel refuses to raise anything else (PR_CAP_AMBIENT_RAISE, EPERM), and
 * runc ends up without those too.
 */
function capabilities(process: Process, host: SpecHost): PlanCapabilities {
  const caps = process.capabilities;
  if (!caps) return emptyCapabilities();
  const last = capLastCap(host);
  const out: PlanCapabilities = {
    bounding: capabilityMask(caps.bounding, last),
    effective: capabilityMask(caps.effective, last),
    inheritable: capabilityMask(caps.inheritable, last),
    permitted: capabilityMask(caps.permitted, last),
    ambient: capabilityMask(caps.ambient, last),
  };
  out.ambient &= out.permitted & out.inheritable;
  return out;
}

function rlimits(process: Process): PlanRlimit[] {
  return (process.rlimits ?? []).map((rl) => ({
    resource: RLIMIT[rl.type as keyof typeof RLIMIT],
    soft: toU64(rl.soft),
    hard: toU64(rl.hard),
  }));
}

/**
 * The environment with duplicates removed (the last occurrence wins, in the
 * order of last occurrences, as runc and Go's os/exec do) and HOME added
 * from the container's /etc/passwd when missing (runc does the same).
 */
function environment(process: Process, rootfs: string | undefined, host: SpecHost): string[] {
  const env = process.env ?? [];
  const seen = new Set<string>();
  const out: string[] = [];
  for (let i = env.length - 1; i >= 0; i--) {
    const kv = env[i]!;
    const key = kv.slice(0, kv.indexOf('='));
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(kv);
  }
  out.reverse();
  if (!seen.has('HOME')) out.push(`HOME=${lookupHome(host, rootfs, process.user.uid)}`);
  return out;
}

/**
 * Resolve `path` inside `root` the way the kernel would with the root as
 * "/": `..` stops at the root and absolute symlinks restart from it. Used
 * only to read /etc/passwd; the executor resolves mount targets itself with
 * openat2(RESOLVE_IN_ROOT).
 */
export function resolveInRoot(host: SpecHost, root: string, path: string): string | undefined {
  let pending = path.split('/').filter((p) => p !== '' && p !== '.');
  const done: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift()!;
    if (part === '..') {
      done.pop();
      continue;
    }
    const candidate = posix.join(root, ...done, part);
    if (host.linkKind(candidate) === 'symlink') {
      // ELOOP after 40 links, as path_resolution(7).
      if (++links > 40) return undefined;
      const target = host.readlink(candidate);
      if (target === undefined) return undefined;
      if (target.startsWith('/')) done.length = 0;
      pending = [...target.split('/').filter((p) => p !== '' && p !== '.'), ...pending];
      continue;
    }
    done.push(part);
  }
  return posix.join(root, ...done);
}

/** HOME of a uid per the container's /etc/passwd; "/" when not found (runc's default). */
export function lookupHome(host: SpecHost, rootfs: string | undefined, uid: number): string {
  if (rootfs === undefined) return '/';
  const passwd = resolveInRoot(host, rootfs, '/etc/passwd');
  const text = passwd === undefined ? undefined : host.readFile(passwd);
  for (const line of (text ?? '').split('\n')) {
    const fields = line.split(':');
    if (fields.length >= 6 && fields[2] === String(uid)) return fields[5] || '/';
  }
  return '/';
}

/** The fields common to create and exec plans. */
function processPart(
  process: Process,
  opts: { rootfs: string | undefined; host: SpecHost; setgroupsDeny: boolean; field: string },
): Pick<
  Plan,
  | 'uid' | 'gid' | 'additionalGids' | 'setgroupsDeny' | 'umask' | 'capabilities' | 'rlimits' | 'args' | 'env' | 'cwd'
  | 'terminal' | 'consoleHeight' | 'consoleWidth' | 'oomScoreAdj'
> {
  const additional = process.user.additionalGids ?? [];
  if (opts.setgroupsDeny && additional.length > 0) {
    throw invalid(
      `${opts.field}.user.additionalGids`,
      'supplementary groups cannot be set: the user namespace has setgroups denied (rootless without newgidmap)',
    );
  }
  const terminal = process.terminal ?? false;
  return {
    uid: process.user.uid,
    gid: process.user.gid,
    additionalGids: additional.length > 0 ? [...additional] : undefined,
    setgroupsDeny: opts.setgroupsDeny,
    umask: process.user.umask,
    capabilities: capabilities(process, opts.host),
    rlimits: rlimits(process),
    args: [...(process.args ?? [])],
    env: environment(process, opts.rootfs, opts.host),
    cwd: process.cwd,
    terminal,
    // runtime-spec: consoleSize is ignored unless terminal is true.
    consoleHeight: terminal ? process.consoleSize?.height : undefined,
    consoleWidth: terminal ? process.consoleSize?.width : undefined,
    oomScoreAdj: process.oomScoreAdj,
  };
}

/**
 * A terminal with no console socket, in the foreground: berth-init keeps the
 * pty master and copies between it and the caller's stdio (runc's `run -t`).
 * The callers refuse the detached case before a plan is made.
 */
function consoleProxy(terminal: boolean | undefined, ctx: { consoleSocket?: string; parentWaits?: boolean }): boolean {
  return terminal === true && ctx.consoleSocket === undefined && ctx.parentWaits === true;
}

function personality(spec: Spec): number | undefined {
  const domain = spec.linux?.personality?.domain;
  if (domain === undefined) return undefined;
  if (domain !== 'LINUX' && domain !== 'LINUX32') {
    throw invalid('linux.personality.domain', `unknown personality domain \`${domain}\`; use LINUX or LINUX32`);
  }
  return PERSONALITY[domain];
}

/**
 * The propagation applied to "/" before anything else. runc's default is
 * MS_SLAVE|MS_REC: host mounts still reach the container, nothing flows
 * back. Every value is applied recursively (runc applies `private`,
 * `slave` ... to the root mount alone, which leaves submounts shared with
 * the host).
 */
function rootPropagation(spec: Spec, noPivot: boolean): bigint {
  const name = spec.linux?.rootfsPropagation;
  if (name === undefined || name === '') return MS.SLAVE | MS.REC;
  const flags = Object.hasOwn(MOUNT_PROPAGATION_OPTIONS, name) ? MOUNT_PROPAGATION_OPTIONS[name] : undefined;
  if (flags === undefined) {
    throw invalid('linux.rootfsPropagation', `unknown propagation \`${name}\`; use private, shared, slave or unbindable`);
  }
  // MS_MOVE of the rootfs fails when its parent mount is private (runc's rule).
  if (noPivot && (flags & MS.PRIVATE) !== 0n) {
    throw invalid('linux.rootfsPropagation', `${name} is not safe without pivot_root (--no-pivot)`);
  }
  return flags | MS.REC;
}

function planMount(fields: Partial<PlanMount> & Pick<PlanMount, 'source' | 'target'>): PlanMount {
  return {
    fstype: '',
    flags: 0n,
    data: '',
    propagation: [],
    remountFlags: 0n,
    targetIsFile: false,
    kind: MOUNT_KIND.normal,
    ...fields,
  };
}

/** The directory name of a hierarchy under the mount: `memory`, `systemd`, `unified` for the hybrid v2 one. */
function cgroupName(bind: CgroupBind, version: 1 | 2): string {
  if (bind.containerPath === '') return version === 1 ? 'unified' : '';
  if (bind.containerPath.startsWith('/')) return posix.basename(bind.containerPath);
  return bind.containerPath.replace(/^name=/, '');
}

function cgroupTarget(bind: CgroupBind, destination: string, version: 1 | 2): string {
  if (bind.containerPath.startsWith('/')) return cleanContainerPath(bind.containerPath);
  return posix.join(destination, cgroupName(bind, version));
}

/**
 * A mount of type `cgroup`, expanded as runc's mountCgroupV1/V2 do (see
 * CreatePlanContext.cgroupBinds).
 */
function cgroupMounts(m: Mount, parsed: ParsedMountOptions, destination: string, ctx: CreatePlanContext, cgroupNs: boolean): PlanMount[] {
  const readonly = parsed.flags & MS.RDONLY;
  const binds = ctx.cgroupBinds ?? [];
  const bindOf = (b: CgroupBind): PlanMount =>
    planMount({
      source: b.hostPath,
      target: cgroupTarget(b, destination, ctx.cgroupVersion),
      flags: MS.BIND | MS.REC,
      // On v2 the bind is the whole mount and takes its propagation; on v1 the tmpfs does.
      propagation: ctx.cgroupVersion === 2 ? parsed.propagation : [],
      remountFlags: CGROUP_FLAGS | readonly,
      kind: MOUNT_KIND.bind,
    });
  if (ctx.cgroupVersion === 2) {
    if (!cgroupNs && binds.length > 0) return binds.map(bindOf);
    return [
      planMount({
        source: m.source || 'cgroup',
        target: destination,
        fstype: 'cgroup2',
        flags: parsed.flags,
        data: parsed.data,
        propagation: parsed.propagation,
      }),
    ];
  }
  const out: PlanMount[] = [
    // Writable until the hierarchies are mounted in it: their directories are created first.
    planMount({
      source: 'tmpfs',
      target: destination,
      fstype: 'tmpfs',
      flags: CGROUP_FLAGS,
      data: 'mode=755',
      propagation: parsed.propagation,
      kind: MOUNT_KIND.cgroupRoot,
    }),
  ];
  for (const b of binds) {
    if (!cgroupNs) {
      out.push(bindOf(b));
      continue;
    }
    const target = cgroupTarget(b, destination, 1);
    const name = cgroupName(b, 1);
    if (name === 'unified') {
      out.push(planMount({ source: 'cgroup2', target, fstype: 'cgroup2', flags: CGROUP_FLAGS | readonly }));
    } else if (name === 'systemd') {
      out.push(planMount({ source: 'systemd', target, fstype: 'cgroup', flags: CGROUP_FLAGS | readonly, data: 'name=systemd' }));
    } else {
      // Co-mounted controllers (cpu and cpuacct in one hierarchy) share a
      // host directory; the hierarchy mounts only with all of them named.
      const comounted = binds.filter((o) => o.hostPath === b.hostPath).flatMap((o) => cgroupName(o, 1).split(','));
      const data = [...new Set(comounted)].sort().join(',');
      out.push(planMount({ source: 'cgroup', target, fstype: 'cgroup', flags: CGROUP_FLAGS | readonly, data }));
    }
  }
  if (readonly) {
    // runc remounts the tmpfs read-only last. A mount entry with MS_REMOUNT
    // in its flags is passed to mount(2) as is, on the existing mount.
    out.push(planMount({ source: '', target: destination, flags: MS.BIND | MS.REMOUNT | CGROUP_FLAGS | MS.RDONLY }));
  }
  return out;
}

function mounts(spec: Spec, ctx: CreatePlanContext, host: SpecHost): PlanMount[] {
  const out: PlanMount[] = [];
  const cgroupNs = (spec.linux?.namespaces ?? []).some((ns) => ns.type === 'cgroup');
  for (const [i, m] of (spec.mounts ?? []).entries()) {
    const at = `mounts[${i}]`;
    const destination = cleanContainerPath(m.destination);
    const parsed = parseMountOptions(m.options, `${at}.options`);
    if (isBindMount(m.type, m.options)) {
      if (!m.source) throw invalid(`${at}.source`, 'a bind mount needs a source');
      const source = resolve(ctx.bundle, m.source);
      const kind = host.fileKind(source);
      if (kind === undefined) throw invalid(`${at}.source`, `bind source \`${source}\` does not exist`);
      out.push(
        planMount({
          source,
          target: destination,
          flags: MS.BIND | (parsed.flags & MS.REC),
          propagation: parsed.propagation,
          remountFlags: parsed.flags & ~BIND_FIRST_PASS,
          targetIsFile: kind !== 'directory',
          kind: MOUNT_KIND.bind,
        }),
      );
      continue;
    }
    if (m.type === 'cgroup') {
      out.push(...cgroupMounts(m, parsed, destination, ctx, cgroupNs));
      continue;
    }
    out.push(
      planMount({
        source: m.source ?? '',
        target: destination,
        fstype: m.type ?? '',
        flags: parsed.flags,
        data: parsed.data,
        propagation: parsed.propagation,
      }),
    );
  }
  return out;
}

const DEVICE_TYPE_BITS: Readonly<Record<string, number>> = { c: S_IFCHR, u: S_IFCHR, b: S_IFBLK, p: S_IFIFO };

/** runc's needsSetupDev: /dev is populated unless the spec bind-mounts it. */
function needsSetupDev(spec: Spec): boolean {
  return !(spec.mounts ?? []).some((m) => isBindMount(m.type, m.options) && cleanContainerPath(m.destination) === '/dev');
}

/**
 * runc's default devices, minus those the spec lists itself, then the
 * spec's. In a user namespace they are bind-mounted from the host.
 */
function devices(spec: Spec, bind: boolean): PlanDevice[] {
  const specDevices = spec.linux?.devices ?? [];
  const specPaths = new Set(specDevices.map((d) => cleanContainerPath(d.path)));
  const out: PlanDevice[] = DEFAULT_DEVICES.filter((d) => !specPaths.has(d.path)).map((d) => ({
    path: d.path,
    type: S_IFCHR,
    major: d.major,
    minor: d.minor,
    mode: 0o666,
    uid: 0,
    gid: 0,
    bind,
  }));
  for (const [i, d] of specDevices.entries()) {
    const type = DEVICE_TYPE_BITS[d.type];
    if (type === undefined) throw invalid(`linux.devices[${i}].type`, `unknown device type \`${d.type}\`; use c, b, u or p`);
    out.push({
      path: cleanContainerPath(d.path),
      type,
      major: d.major ?? 0,
      minor: d.minor ?? 0,
      // Only permission bits: runc strips the file type from fileMode.
      mode: (d.fileMode ?? 0o666) & 0o7777,
      uid: d.uid ?? 0,
      gid: d.gid ?? 0,
      bind,
    });
  }
  return out;
}

/** The filter compares with signed 32-bit immediates (see berth-plan.h, DR_MAJOR). */
/**
 * The cgroup v2 device filter, as runc's devicefilter.go builds it
 * (`planDeviceRules`). Nothing is attached when the rules allow everything
 * (a privileged container): there is nothing to enforce, and bpf(2) is not
 * needed.
 */
function deviceFilter(spec: Spec, ctx: CreatePlanContext): Pick<Plan, 'deviceCgroup' | 'deviceRules'> {
  if (ctx.cgroupVersion !== 2 || ctx.deviceCgroup === undefined) return { deviceRules: [] };
  // The spec's own rules come first; the rest stem from linux.devices and runc's defaults.
  const specRules = spec.linux?.resources?.devices?.length ?? 0;
  const rules = planDeviceRules(ctx.deviceRules ?? effectiveResources(spec).devices ?? [], (i, n) =>
    i < specRules ? `linux.resources.devices[${i}].${n}` : 'linux.devices',
  );
  return rules.length === 0 ? { deviceRules: [] } : { deviceCgroup: ctx.deviceCgroup, deviceRules: rules };
}

/** runc's setupPtmx and setupDevSymlinks. */
function symlinks(spec: Spec, host: SpecHost): PlanSymlink[] {
  const out: PlanSymlink[] = [];
  const specPaths = new Set((spec.linux?.devices ?? []).map((d) => cleanContainerPath(d.path)));
  // A device node the spec asks for at /dev/ptmx is kept; otherwise /dev/ptmx leads to the devpts instance.
  if (!specPaths.has('/dev/ptmx')) out.push({ target: 'pts/ptmx', path: '/dev/ptmx' });
  out.push(
    { target: '/proc/self/fd', path: '/dev/fd' },
    { target: '/proc/self/fd/0', path: '/dev/stdin' },
    { target: '/proc/self/fd/1', path: '/dev/stdout' },
    { target: '/proc/self/fd/2', path: '/dev/stderr' },
  );
  // CONFIG_PROC_KCORE may be off: only link /dev/core when /proc/kcore exists (runc's rule).
  if (host.fileKind('/proc/kcore') !== undefined) out.push({ target: '/proc/kcore', path: '/dev/core' });
  return out;
}

/** Namespaces to create and to join, from linux.namespaces. */
function namespaces(spec: Spec): { cloneFlags: bigint; nsJoin: PlanNamespaceJoin[]; cgroupNsAfterSync: boolean } {
  let cloneFlags = 0n;
  const joins = new Map<LinuxNamespaceType, string>();
  let cgroupNsAfterSync = false;
  for (const ns of spec.linux?.namespaces ?? []) {
    const flag = NAMESPACE_FLAGS[ns.type];
    if (flag === undefined) throw invalid('linux.namespaces', `unknown namespace type \`${ns.type}\``);
    if (ns.path) {
      joins.set(ns.type, ns.path);
    } else if (ns.type === 'cgroup') {
      // Unshared by the child after the runtime put it in its cgroups, so
      // the namespace's root is the container's cgroup (runc's order).
      cgroupNsAfterSync = true;
    } else {
      cloneFlags |= flag;
    }
  }
  const nsJoin = JOIN_ORDER.filter((t) => joins.has(t)).map((t) => ({ type: NAMESPACE_FLAGS[t], path: joins.get(t)! }));
  return { cloneFlags, nsJoin, cgroupNsAfterSync };
}

/**
 * The plan for `create`: a new container from a validated config.json.
 * Throws CONFIG_INVALID when something only checkable now is wrong.
 */
export function specToPlan(spec: Spec, ctx: CreatePlanContext): Plan {
  const host = ctx.host ?? systemSpecHost;
  const process = spec.process;
  if (!process) throw invalid('process', 'is required to create a container');
  const noPivot = ctx.noPivot ?? false;
  const ns = namespaces(spec);
  const userns = (ctx.userns ?? false) || (spec.linux?.namespaces ?? []).some((n) => n.type === 'user');
  const setupDev = needsSetupDev(spec);
  const plan: Plan = {
    mode: 'create',
    containerId: ctx.id,
    cloneFlags: ns.cloneFlags,
    nsJoin: ns.nsJoin,
    rootfs: ctx.rootfs,
    rootfsReadonly: spec.root?.readonly ?? false,
    rootPropagation: rootPropagation(spec, noPivot),
    noPivot,
    mounts: mounts(spec, ctx, host),
    devices: setupDev ? devices(spec, userns) : [],
    symlinks: setupDev ? symlinks(spec, host) : [],
    maskedPaths: [...(spec.linux?.maskedPaths ?? [])],
    readonlyPaths: [...(spec.linux?.readonlyPaths ?? [])],
    sysctl: Object.entries(spec.linux?.sysctl ?? {}).map(([key, value]) => ({ key: normalizeSysctlKey(key), value })),
    hostname: spec.hostname || undefined,
    domainname: spec.domainname || undefined,
    ...processPart(process, { rootfs: ctx.rootfs, host, setgroupsDeny: ctx.setgroupsDeny ?? false, field: 'process' }),
    noNewPrivileges: process.noNewPrivileges ?? false,
    personality: personality(spec),
    seccomp: seccompToPlan(spec.linux?.seccomp),
    consoleSocket: ctx.consoleSocket,
    execFifo: ctx.execFifo,
    preserveFds: ctx.preserveFds ?? 0,
    newKeyring: !(ctx.noNewKeyring ?? false),
    keyringName: ctx.noNewKeyring ? undefined : `_ses.${ctx.id}`,
    parentWaits: ctx.parentWaits ?? false,
    consoleProxy: consoleProxy(process.terminal, ctx),
    ...cgroupJoinPart(ctx.cgroupJoin),
    cgroupNsAfterSync: ns.cgroupNsAfterSync,
    startHooks: (spec.hooks?.startContainer ?? []).map((h) => ({
      path: h.path,
      args: h.args && h.args.length > 0 ? h.args : [h.path],
      env: h.env ?? [],
      timeout: h.timeout ?? 0,
    })),
    ...deviceFilter(spec, ctx),
  };
  return plan;
}

/**
 * The plan for `exec`: `process` runs in the container whose init is
 * `ctx.initPid`, joining each of its namespaces through /proc/PID/ns (user
 * first, mount last). Rlimits, capabilities and oomScoreAdj fall back to
 * the container's process when the exec process has none (runc's rule);
 * seccomp and personality are the container's. no_new_privs is set when
 * either the process or the container asks for it, so an exec never runs
 * with fewer restrictions than the container.
 */
export function processToPlan(process: Process, ctx: ExecPlanContext): Plan {
  const host = ctx.host ?? systemSpecHost;
  const spec = ctx.spec;
  const containerProcess = spec.process;
  const types = new Set((spec.linux?.namespaces ?? []).map((n) => n.type));
  const nsJoin = JOIN_ORDER.filter((t) => types.has(t)).map((t) => ({
    type: NAMESPACE_FLAGS[t],
    path: `/proc/${ctx.initPid}/ns/${PROC_NS_NAMES[t]}`,
  }));
  const effective: Process = {
    ...process,
    rlimits: process.rlimits && process.rlimits.length > 0 ? process.rlimits : containerProcess?.rlimits,
    capabilities: process.capabilities ?? containerProcess?.capabilities,
    oomScoreAdj: process.oomScoreAdj ?? containerProcess?.oomScoreAdj,
  };
  return {
    mode: 'exec',
    containerId: ctx.id,
    ...noContainerSetup(),
    nsJoin,
    ...processPart(effective, { rootfs: ctx.rootfs, host, setgroupsDeny: ctx.setgroupsDeny ?? false, field: 'process' }),
    noNewPrivileges: (process.noNewPrivileges ?? false) || (containerProcess?.noNewPrivileges ?? false),
    personality: personality(spec),
    seccomp: seccompToPlan(spec.linux?.seccomp),
    consoleSocket: ctx.consoleSocket,
    preserveFds: ctx.preserveFds ?? 0,
    newKeyring: !(ctx.noNewKeyring ?? false),
    keyringName: ctx.noNewKeyring ? undefined : `_ses.${ctx.id}`,
    parentWaits: ctx.parentWaits ?? false,
    consoleProxy: consoleProxy(effective.terminal, ctx),
    ...cgroupJoinPart(ctx.cgroupJoin),
    cgroupNsAfterSync: false,
    startHooks: [],
    deviceRules: [],
  };
}
