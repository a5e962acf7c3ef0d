/**
 * Validation of config.json, in runc's style (libcontainer/configs/validate):
 * first the shape of every field (types, required fields), then a list of
 * small named validators, each about one concern. Every problem is a
 * BerthError with code CONFIG_INVALID (the config is wrong), CONFIG_UNSUPPORTED
 * (berth or this host cannot honour it) or BUNDLE_INVALID (the rootfs is
 * missing), a lowercase message that starts with the JSON path of the field,
 * and `field` set to that path:
 *
 *     linux.namespaces[2].path: `/tmp/x` is not a namespace file
 *
 * Nothing that changes isolation is ignored silently: a field berth cannot
 * carry out is CONFIG_UNSUPPORTED, naming the field.
 */
import { isAbsolute, posix, resolve } from 'node:path';
import { BerthError } from '../../errors/index.js';
import { MS, PROC_SUPER_MAGIC, RLIMIT } from '../../oci/linux-constants.js';
import {
  CAPABILITY_SETS,
  HOOK_NAMES,
  NAMESPACE_TYPES,
  type LinuxIDMapping,
  type LinuxNamespaceType,
  type Process,
  type Spec,
} from '../../oci/runtime-spec.js';
import { findCapability } from './capabilities.js';
import { MOUNT_PROPAGATION_OPTIONS, parseMountOptions } from './mount-options.js';
import { seccompToPlan } from './seccomp.js';
import {
  apparmorEnabled,
  isNamespaceFile,
  kernelHasNamespace,
  resctrlMounted,
  selinuxEnabled,
  systemSpecHost,
  type SpecHost,
} from './spec-host.js';
import { processShape, specShape } from './spec-schema.js';

export interface ValidateOptions {
  /**
   * Absolute bundle directory. When given, the rootfs and the sources of
   * bind mounts (relative ones resolved against it) must exist.
   */
  bundle?: string;
  /** The runtime runs without root (euid != 0): runc's rootless rules apply. */
  rootless?: boolean;
  /** The host's cgroup version; enables the checks that depend on it. */
  cgroupVersion?: 1 | 2;
  /** `process` must be present (creating a container). Default true. */
  requireProcess?: boolean;
  host?: SpecHost;
}

/** What a validator sees besides the config. */
export interface ValidationContext {
  options: ValidateOptions;
  host: SpecHost;
}

/** One named check; it appends its problems to `out`. */
export interface SpecValidator {
  name: string;
  check(spec: Spec, ctx: ValidationContext, out: BerthError[]): void;
}

const MIN_MINOR = 0;
const MAX_MINOR = 3;

function invalid(field: string, message: string): BerthError {
  return new BerthError('CONFIG_INVALID', `${field}: ${message}`, { field });
}

function unsupported(field: string, message: string): BerthError {
  return new BerthError('CONFIG_UNSUPPORTED', `${field}: ${message}`, { field });
}

/** Push what `fn` throws as a BerthError instead of propagating it. */
function collect(out: BerthError[], fn: () => void): void {
  try {
    fn();
  } catch (err) {
    if (err instanceof BerthError) out.push(err);
    else throw err;
  }
}

function namespaceOf(spec: Spec, type: LinuxNamespaceType): { path?: string } | undefined {
  return spec.linux?.namespaces?.find((ns) => ns.type === type);
}

/** A container path made absolute against / and cleaned (runc resolves relative destinations against /). */
export function cleanContainerPath(path: string): string {
  return posix.resolve('/', path);
}

const ociVersion: SpecValidator = {
  name: 'ociVersion',
  check(spec, _ctx, out) {
    const m = /^(\d+)\.(\d+)\.(\d+)(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/.exec(spec.ociVersion);
    if (!m) {
      out.push(invalid('ociVersion', `\`${spec.ociVersion}\` is not a semantic version such as 1.2.0`));
      return;
    }
    const major = Number(m[1]);
    const minor = Number(m[2]);
    if (major !== 1 || minor < MIN_MINOR || minor > MAX_MINOR) {
      out.push(
        unsupported('ociVersion', `runtime-spec ${spec.ociVersion} is not supported; berth supports 1.0.0 to 1.${MAX_MINOR}.x`),
      );
    }
  },
};

const root: SpecValidator = {
  name: 'root',
  check(spec, ctx, out) {
    if (!spec.root) {
      out.push(invalid('root', 'is required on Linux: give root.path, the container root filesystem'));
      return;
    }
    if (spec.root.path === '') {
      out.push(invalid('root.path', 'must not be empty'));
      return;
    }
    if (ctx.options.bundle === undefined) return;
    const rootfs = resolve(ctx.options.bundle, spec.root.path);
    const kind = ctx.host.fileKind(rootfs);
    if (kind === undefined) {
      out.push(new BerthError('BUNDLE_INVALID', `root.path: rootfs \`${rootfs}\` does not exist`, { field: 'root.path' }));
    } else if (kind !== 'directory') {
      out.push(new BerthError('BUNDLE_INVALID', `root.path: rootfs \`${rootfs}\` is not a directory`, { field: 'root.path' }));
    }
  },
};

/** Checks of `process` shared by create and exec. */
function checkProcess(process: Process, field: string, ctx: ValidationContext, out: BerthError[]): void {
  if (!process.args || process.args.length === 0) {
    out.push(invalid(`${field}.args`, 'must name the program to run (at least one entry)'));
  }
  if (!isAbsolute(process.cwd)) {
    out.push(invalid(`${field}.cwd`, `\`${process.cwd}\` must be an absolute path`));
  }
  for (const dim of ['height', 'width'] as const) {
    const v = process.consoleSize?.[dim];
    // struct winsize holds 16-bit rows and columns.
    if (v !== undefined && v > 0xffff) out.push(invalid(`${field}.consoleSize.${dim}`, `${v} is more than 65535`));
  }
  for (const [i, kv] of (process.env ?? []).entries()) {
    const eq = kv.indexOf('=');
    if (eq < 0) out.push(invalid(`${field}.env[${i}]`, `\`${kv}\` is not of the form NAME=value`));
    else if (eq === 0) out.push(invalid(`${field}.env[${i}]`, `\`${kv}\` has an empty variable name`));
  }
  for (const set of CAPABILITY_SETS) {
    for (const [i, name] of (process.capabilities?.[set] ?? []).entries()) {
      if (findCapability(name) === undefined) {
        out.push(invalid(`${field}.capabilities.${set}[${i}]`, `unknown capability \`${name}\``));
      }
    }
  }
  const seen = new Map<string, number>();
  for (const [i, rl] of (process.rlimits ?? []).entries()) {
    const at = `${field}.rlimits[${i}]`;
    if (!Object.hasOwn(RLIMIT, rl.type)) {
      out.push(invalid(`${at}.type`, `unknown rlimit \`${rl.type}\`; use one of ${Object.keys(RLIMIT).join(', ')}`));
      continue;
    }
    const first = seen.get(rl.type);
    if (first !== undefined) {
      out.push(invalid(`${at}.type`, `${rl.type} is given twice (also in ${field}.rlimits[${first}])`));
    }
    seen.set(rl.type, i);
    if (rl.soft > rl.hard) out.push(invalid(at, `soft limit ${rl.soft} is above hard limit ${rl.hard} for ${rl.type}`));
  }
  if (process.apparmorProfile) {
    out.push(
      apparmorEnabled(ctx.host)
        ? unsupported(`${field}.apparmorProfile`, 'berth cannot apply AppArmor profiles yet')
        : unsupported(`${field}.apparmorProfile`, 'apparmor profile specified but AppArmor is not enabled on this system'),
    );
  }
  if (process.selinuxLabel) {
    out.push(
      selinuxEnabled(ctx.host)
        ? unsupported(`${field}.selinuxLabel`, 'berth cannot apply SELinux labels yet')
        : unsupported(`${field}.selinuxLabel`, 'selinux label is specified but SELinux is disabled or not supported on this system'),
    );
  }
  if (process.scheduler) out.push(unsupported(`${field}.scheduler`, 'scheduling policies (sched_setattr) are not supported by berth yet'));
  if (process.ioPriority) out.push(unsupported(`${field}.ioPriority`, 'I/O priorities (ioprio_set) are not supported by berth yet'));
  if (process.execCPUAffinity) {
    out.push(unsupported(`${field}.execCPUAffinity`, 'CPU affinity of exec processes is not supported by berth yet'));
  }
}

const processValidator: SpecValidator = {
  name: 'process',
  check(spec, ctx, out) {
    if (!spec.process) {
      if (ctx.options.requireProcess !== false) out.push(invalid('process', 'is required to create a container'));
      return;
    }
    checkProcess(spec.process, 'process', ctx, out);
  },
};

const namespaces: SpecValidator = {
  name: 'namespaces',
  check(spec, ctx, out) {
    const seen = new Map<string, number>();
    for (const [i, ns] of (spec.linux?.namespaces ?? []).entries()) {
      const at = `linux.namespaces[${i}]`;
      if (!NAMESPACE_TYPES.includes(ns.type)) {
        out.push(invalid(`${at}.type`, `unknown namespace type \`${ns.type}\`; use one of ${NAMESPACE_TYPES.join(', ')}`));
        continue;
      }
      const first = seen.get(ns.type);
      if (first !== undefined) out.push(invalid(`${at}.type`, `namespace \`${ns.type}\` is given twice (also linux.namespaces[${first}])`));
      seen.set(ns.type, i);
      if (ns.path !== undefined && ns.path !== '') {
        if (!isAbsolute(ns.path)) {
          out.push(invalid(`${at}.path`, `\`${ns.path}\` must be an absolute path`));
        } else if (ctx.host.fileKind(ns.path) === undefined) {
          out.push(invalid(`${at}.path`, `\`${ns.path}\` does not exist`));
        } else if (!isNamespaceFile(ctx.host, ns.path)) {
          out.push(invalid(`${at}.path`, `\`${ns.path}\` is not a namespace file`));
        }
      } else if (!kernelHasNamespace(ctx.host, ns.type)) {
        out.push(unsupported(`${at}.type`, `${ns.type} namespaces are not enabled in this kernel`));
      }
    }
    if (!seen.has('mount')) {
      out.push(
        unsupported('linux.namespaces', 'berth needs a mount namespace to set up the root filesystem; add {"type": "mount"}'),
      );
    }
  },
};

function checkMappings(maps: readonly LinuxIDMapping[], field: string, out: BerthError[]): void {
  // user_namespaces(7): at most 340 lines per map.
  if (maps.length > 340) out.push(invalid(field, `has ${maps.length} entries; the kernel allows at most 340`));
  for (const [i, m] of maps.entries()) {
    const at = `${field}[${i}]`;
    if (m.size === 0) out.push(invalid(`${at}.size`, 'must be at least 1'));
    if (m.containerID + m.size > 2 ** 32 || m.hostID + m.size > 2 ** 32) {
      out.push(invalid(at, 'the range goes beyond id 4294967295'));
    }
  }
}

function mappingText(maps: readonly LinuxIDMapping[]): string {
  return maps.map((m) => `${m.containerID} ${m.hostID} ${m.size}`).join('\n');
}

function normalizeMapFile(text: string): string {
  return text
    .trim()
    .split('\n')
    .map((line) => line.trim().split(/\s+/).join(' '))
    .join('\n');
}

/** Whether a container uid/gid falls inside one of the mappings. */
function isMapped(id: number, maps: readonly LinuxIDMapping[]): boolean {
  return maps.some((m) => id >= m.containerID && id < m.containerID + m.size);
}

const userNamespace: SpecValidator = {
  name: 'userNamespace',
  check(spec, ctx, out) {
    const userns = namespaceOf(spec, 'user');
    const uidMappings = spec.linux?.uidMappings ?? [];
    const gidMappings = spec.linux?.gidMappings ?? [];
    checkMappings(uidMappings, 'linux.uidMappings', out);
    checkMappings(gidMappings, 'linux.gidMappings', out);
    if (!userns) {
      if (uidMappings.length > 0) out.push(invalid('linux.uidMappings', 'user namespace mappings are given but linux.namespaces has no user namespace'));
      if (gidMappings.length > 0) out.push(invalid('linux.gidMappings', 'user namespace mappings are given but linux.namespaces has no user namespace'));
      if (ctx.options.rootless) {
        out.push(invalid('linux.namespaces', 'running without root needs a user namespace; add {"type": "user"} and uid/gid mappings'));
      }
      return;
    }
    if (!userns.path) {
      if (uidMappings.length === 0) out.push(invalid('linux.uidMappings', 'a new user namespace needs at least one uid mapping'));
      if (gidMappings.length === 0) out.push(invalid('linux.gidMappings', 'a new user namespace needs at least one gid mapping'));
    } else if (uidMappings.length > 0 || gidMappings.length > 0) {
      // runc accepts both only when the mappings are those of the namespace
      // (containerd and CRI-O send both). It can be checked for /proc paths.
      const pid = /^\/proc\/(\d+|self)\/ns\/user$/.exec(userns.path)?.[1];
      if (pid !== undefined) {
        for (const [file, maps, field] of [
          ['uid_map', uidMappings, 'linux.uidMappings'],
          ['gid_map', gidMappings, 'linux.gidMappings'],
        ] as const) {
          const actual = ctx.host.readFile(`/proc/${pid}/${file}`);
          if (maps.length > 0 && actual !== undefined && normalizeMapFile(actual) !== mappingText(maps)) {
            out.push(
              invalid(field, `the user namespace ${userns.path} has other mappings; give either the namespace path or the mappings`),
            );
          }
        }
      }
    }
    if (ctx.options.rootless && !userns.path) {
      // runc's rootlessEUIDMount: uid=/gid= mount options must name mapped ids.
      for (const [i, m] of (spec.mounts ?? []).entries()) {
        for (const [j, option] of (m.options ?? []).entries()) {
          const kv = /^(uid|gid)=(\d+)$/.exec(option);
          if (!kv) continue;
          const maps = kv[1] === 'uid' ? uidMappings : gidMappings;
          if (!isMapped(Number(kv[2]), maps)) {
            out.push(invalid(`mounts[${i}].options[${j}]`, `${kv[1]} ${kv[2]} is not mapped in the container's user namespace`));
          }
        }
      }
    }
  },
};

const uts: SpecValidator = {
  name: 'uts',
  check(spec, _ctx, out) {
    const hasUts = namespaceOf(spec, 'uts') !== undefined;
    for (const field of ['hostname', 'domainname'] as const) {
      const value = spec[field];
      if (!value) continue;
      if (!hasUts) out.push(invalid(field, `needs a UTS namespace; add {"type": "uts"} to linux.namespaces`));
      // sethostname(2)/setdomainname(2): at most 64 bytes.
      if (Buffer.byteLength(value) > 64) out.push(invalid(field, `\`${value}\` is longer than 64 bytes`));
    }
  },
};

/** IPC sysctls that follow the IPC namespace (runc's list). */
const IPC_SYSCTLS = new Set([
  'kernel.msgmax',
  'kernel.msgmnb',
  'kernel.msgmni',
  'kernel.sem',
  'kernel.shmall',
  'kernel.shmmax',
  'kernel.shmmni',
  'kernel.shm_rmid_forced',
]);

/**
 * sysctl(8) accepts `/` as separator; then `.` inside a component stands for
 * a literal dot (`net/ipv4/conf/eno2.100/rp_filter`). Return the dotted form
 * with such dots written as `/` (`net.ipv4.conf.eno2/100.rp_filter`), the
 * form the plan carries.
 */
export function normalizeSysctlKey(key: string): string {
  const first = key.search(/[./]/);
  if (first === -1 || key[first] === '.') return key;
  return key.replace(/[./]/g, (c) => (c === '.' ? '/' : '.'));
}

const sysctl: SpecValidator = {
  name: 'sysctl',
  check(spec, ctx, out) {
    const entries = Object.keys(spec.linux?.sysctl ?? {});
    if (entries.length === 0) return;
    const hasIpc = namespaceOf(spec, 'ipc') !== undefined;
    const hasUts = namespaceOf(spec, 'uts') !== undefined;
    const netns = namespaceOf(spec, 'network');
    // "Host" means the runtime's own network namespace, as in runc.
    const hostNet = netns === undefined || (!!netns.path && ctx.host.sameFile(netns.path, '/proc/self/ns/net'));
    for (const raw of entries) {
      const at = `linux.sysctl[${JSON.stringify(raw)}]`;
      const key = normalizeSysctlKey(raw);
      const parts = key.split('.');
      if (parts.some((p) => p === '' || p.replaceAll('/', '.') === '..' || p.replaceAll('/', '.') === '.')) {
        out.push(invalid(at, `\`${raw}\` is not a sysctl name`));
        continue;
      }
      if (IPC_SYSCTLS.has(key) || key.startsWith('fs.mqueue.')) {
        if (!hasIpc) out.push(invalid(at, `sysctl \`${key}\` is not allowed in the host's IPC namespace; add {"type": "ipc"}`));
        continue;
      }
      if (key.startsWith('net.')) {
        if (hostNet) out.push(invalid(at, `sysctl \`${key}\` is not allowed in the host's network namespace`));
        continue;
      }
      if (hasUts && key === 'kernel.domainname') continue;
      if (hasUts && key === 'kernel.hostname') {
        out.push(invalid(at, 'sysctl `kernel.hostname` conflicts with the hostname field; set hostname instead'));
        continue;
      }
      out.push(invalid(at, `sysctl \`${key}\` is not in a separate kernel namespace`));
    }
  },
};

/** Entries of /proc that lxcfs emulates and that may be bind-mounted over (runc's list). */
const PROC_MOUNTABLE = new Set([
  '/proc/cpuinfo',
  '/proc/diskstats',
  '/proc/meminfo',
  '/proc/stat',
  '/proc/swaps',
  '/proc/uptime',
  '/proc/loadavg',
  '/proc/slabinfo',
  '/proc/net/dev',
  '/proc/sys/kernel/ns_last_pid',
  '/proc/sys/crypto/fips_enabled',
]);

/** Whether a mount is a bind mount: a bind/rbind option, or type "bind" (crun's reading). */
export function isBindMount(type: string | undefined, options: readonly string[] | undefined): boolean {
  return type === 'bind' || (options ?? []).some((o) => o === 'bind' || o === 'rbind');
}

const mounts: SpecValidator = {
  name: 'mounts',
  check(spec, ctx, out) {
    for (const [i, m] of (spec.mounts ?? []).entries()) {
      const at = `mounts[${i}]`;
      if (m.destination === '') {
        out.push(invalid(`${at}.destination`, 'must not be empty'));
        continue;
      }
      const dest = cleanContainerPath(m.destination);
      if (dest === '/') {
        out.push(invalid(`${at}.destination`, 'cannot mount over the container root; use root.path'));
        continue;
      }
      if (m.uidMappings || m.gidMappings) {
        out.push(unsupported(`${at}.${m.uidMappings ? 'uidMappings' : 'gidMappings'}`, 'id-mapped mounts are not supported by berth'));
      }
      const before = out.length;
      collect(out, () => parseMountOptions(m.options, `${at}.options`));
      if (out.length > before) continue;
      const parsed = parseMountOptions(m.options, `${at}.options`);
      const bind = isBindMount(m.type, m.options);
      if (!bind && !m.type) {
        out.push(invalid(`${at}.type`, 'is required unless the options include bind or rbind'));
      }
      if (bind) {
        if (!m.source) {
          out.push(invalid(`${at}.source`, 'a bind mount needs a source'));
        } else if (ctx.options.bundle !== undefined) {
          const source = resolve(ctx.options.bundle, m.source);
          if (ctx.host.fileKind(source) === undefined) out.push(invalid(`${at}.source`, `bind source \`${source}\` does not exist`));
        }
      }
      if (dest === '/dev' && !bind && (parsed.flags & MS.RDONLY) !== 0n) {
        out.push(unsupported(`${at}.options`, 'a read-only /dev is not supported: devices are created in it after mounting'));
      }
      // runc's checkProcMount: nothing may cover /proc or what is under it,
      // except a procfs at /proc and the lxcfs files.
      if (dest === '/proc') {
        const procRoot = bind && !!m.source && ctx.host.statfsType(resolve(ctx.options.bundle ?? '/', m.source)) === PROC_SUPER_MAGIC;
        if (bind ? !procRoot : m.type !== 'proc') {
          out.push(invalid(at, '`/proc` cannot be mounted because it is not of type proc'));
        }
      } else if (dest.startsWith('/proc/') && !PROC_MOUNTABLE.has(dest)) {
        out.push(invalid(`${at}.destination`, `\`${dest}\` cannot be mounted because it is inside /proc`));
      }
    }
  },
};

const DEVICE_TYPES = ['c', 'b', 'u', 'p'];

const devices: SpecValidator = {
  name: 'devices',
  check(spec, _ctx, out) {
    const seen = new Map<string, number>();
    for (const [i, d] of (spec.linux?.devices ?? []).entries()) {
      const at = `linux.devices[${i}]`;
      if (!isAbsolute(d.path) || cleanContainerPath(d.path) === '/') {
        out.push(invalid(`${at}.path`, `\`${d.path}\` must be an absolute path of a file`));
      }
      const first = seen.get(cleanContainerPath(d.path));
      if (first !== undefined) out.push(invalid(`${at}.path`, `\`${d.path}\` is given twice (also linux.devices[${first}])`));
      seen.set(cleanContainerPath(d.path), i);
      if (!DEVICE_TYPES.includes(d.type)) {
        out.push(invalid(`${at}.type`, `unknown device type \`${d.type}\`; use c, b, u or p`));
        continue;
      }
      if (d.type !== 'p') {
        for (const n of ['major', 'minor'] as const) {
          const v = d[n];
          if (v === undefined) out.push(invalid(`${at}.${n}`, `is required for a ${d.type === 'b' ? 'block' : 'character'} device`));
          else if (v < 0 || v > 0xffffffff) out.push(invalid(`${at}.${n}`, `${v} is not a device number`));
        }
      }
    }
  },
};

const seccomp: SpecValidator = {
  name: 'seccomp',
  check(spec, _ctx, out) {
    const sc = spec.linux?.seccomp;
    if (!sc) return;
    if (!sc.defaultAction && (sc.syscalls ?? []).length > 0) {
      out.push(invalid('linux.seccomp.defaultAction', 'is required when syscall rules are given'));
      return;
    }
    for (const [i, call] of (sc.syscalls ?? []).entries()) {
      if (call.names.length === 0) out.push(invalid(`linux.seccomp.syscalls[${i}].names`, 'must name at least one syscall'));
    }
    collect(out, () => seccompToPlan(sc));
  },
};

const hooks: SpecValidator = {
  name: 'hooks',
  check(spec, _ctx, out) {
    for (const name of HOOK_NAMES) {
      for (const [i, hook] of (spec.hooks?.[name] ?? []).entries()) {
        const at = `hooks.${name}[${i}]`;
        if (!isAbsolute(hook.path)) out.push(invalid(`${at}.path`, `\`${hook.path}\` must be an absolute path`));
        if (hook.timeout !== undefined && hook.timeout <= 0) {
          out.push(invalid(`${at}.timeout`, `must be greater than zero, not ${hook.timeout}`));
        }
      }
    }
  },
};

const security: SpecValidator = {
  name: 'security',
  check(spec, ctx, out) {
    for (const field of ['maskedPaths', 'readonlyPaths'] as const) {
      for (const [i, p] of (spec.linux?.[field] ?? []).entries()) {
        if (!isAbsolute(p)) out.push(invalid(`linux.${field}[${i}]`, `\`${p}\` must be an absolute path`));
      }
    }
    // runc ignores the mount label when SELinux is off; berth cannot apply one when it is on.
    if (spec.linux?.mountLabel && selinuxEnabled(ctx.host)) {
      out.push(unsupported('linux.mountLabel', 'berth cannot apply SELinux mount labels yet'));
    }
    if (spec.linux?.intelRdt) {
      out.push(
        resctrlMounted(ctx.host)
          ? unsupported('linux.intelRdt', 'Intel RDT is not supported by berth yet')
          : unsupported('linux.intelRdt', 'Intel RDT is specified but resctrl is not mounted on this system'),
      );
    }
  },
};

const personality: SpecValidator = {
  name: 'personality',
  check(spec, _ctx, out) {
    const p = spec.linux?.personality;
    if (!p) return;
    if (p.domain !== 'LINUX' && p.domain !== 'LINUX32') {
      out.push(invalid('linux.personality.domain', `unknown personality domain \`${p.domain}\`; use LINUX or LINUX32`));
    }
    if ((p.flags ?? []).length > 0) {
      out.push(unsupported('linux.personality.flags', 'personality flags are not supported (the runtime-spec defines none)'));
    }
  },
};

const rootfsPropagation: SpecValidator = {
  name: 'rootfsPropagation',
  check(spec, _ctx, out) {
    const p = spec.linux?.rootfsPropagation;
    if (p === undefined || p === '') return;
    if (!Object.hasOwn(MOUNT_PROPAGATION_OPTIONS, p)) {
      out.push(invalid('linux.rootfsPropagation', `unknown propagation \`${p}\`; use private, shared, slave or unbindable`));
    }
  },
};

const resources: SpecValidator = {
  name: 'resources',
  check(spec, ctx, out) {
    const r = spec.linux?.resources;
    if (!r) return;
    for (const [i, d] of (r.devices ?? []).entries()) {
      const at = `linux.resources.devices[${i}]`;
      if (d.type !== undefined && !['a', 'b', 'c'].includes(d.type)) {
        out.push(invalid(`${at}.type`, `unknown device type \`${d.type}\`; use a, b or c`));
      }
      if (d.access !== undefined && !/^[rwm]*$/.test(d.access)) {
        out.push(invalid(`${at}.access`, `\`${d.access}\` may only hold the letters r, w and m`));
      }
    }
    if (r.memory?.swappiness !== undefined && r.memory.swappiness > 100) {
      out.push(invalid('linux.resources.memory.swappiness', `${r.memory.swappiness} is out of range 0 to 100`));
    }
    for (const [i, h] of (r.hugepageLimits ?? []).entries()) {
      if (!/^\d+[KMGT]B$/.test(h.pageSize)) {
        out.push(invalid(`linux.resources.hugepageLimits[${i}].pageSize`, `\`${h.pageSize}\` is not a page size such as 2MB`));
      }
    }
    if (ctx.options.cgroupVersion === 1 && Object.keys(r.unified ?? {}).length > 0) {
      out.push(unsupported('linux.resources.unified', 'unified (cgroup v2) resources cannot be set on a cgroup v1 host'));
    }
  },
};

/** cgroupsPath is relative to the cgroup root (absolute) or to the runtime's cgroup; it may not climb out. */
const cgroupsPath: SpecValidator = {
  name: 'cgroupsPath',
  check(spec, _ctx, out) {
    const p = spec.linux?.cgroupsPath;
    if (p === undefined || p === '') return;
    const parts = p.split('/').filter((c) => c !== '' && c !== '.');
    if (parts.includes('..')) out.push(invalid('linux.cgroupsPath', `\`${p}\` has a \`..\` component; cgroup paths may not climb out of their hierarchy`));
    else if (parts.length === 0) out.push(invalid('linux.cgroupsPath', `\`${p}\` names the root cgroup; give the container its own cgroup`));
  },
};

/** runtime-spec 1.2 and 1.3 fields that berth recognizes but cannot carry out. */
const newerLinuxFields: SpecValidator = {
  name: 'newerLinuxFields',
  check(spec, _ctx, out) {
    const l = spec.linux;
    if (!l) return;
    if (Object.keys(l.timeOffsets ?? {}).length > 0) {
      if (namespaceOf(spec, 'time') === undefined) {
        out.push(invalid('linux.timeOffsets', 'time namespace offsets are given but linux.namespaces has no time namespace'));
      } else {
        out.push(unsupported('linux.timeOffsets', 'time namespace offsets are not supported by berth yet'));
      }
    }
    if (l.memoryPolicy) out.push(unsupported('linux.memoryPolicy', 'NUMA memory policies are not supported by berth yet'));
    if (Object.keys(l.netDevices ?? {}).length > 0) {
      out.push(unsupported('linux.netDevices', 'moving network devices into the container is not supported by berth yet'));
    }
  },
};

/** The named checks, in the order they run (after the shape check). */
export const SPEC_VALIDATORS: readonly SpecValidator[] = [
  ociVersion,
  root,
  processValidator,
  namespaces,
  userNamespace,
  uts,
  sysctl,
  mounts,
  devices,
  seccomp,
  hooks,
  security,
  personality,
  rootfsPropagation,
  resources,
  cgroupsPath,
  newerLinuxFields,
];

/**
 * Every problem of a config, in validator order; empty when it is valid.
 * When the shape is wrong only the shape problems are returned: the named
 * checks rely on the types.
 */
export function findSpecProblems(spec: unknown, options: ValidateOptions = {}): BerthError[] {
  const out: BerthError[] = [];
  specShape(spec, '', out);
  if (out.length > 0) return out;
  const ctx: ValidationContext = { options, host: options.host ?? systemSpecHost };
  for (const v of SPEC_VALIDATORS) v.check(spec as Spec, ctx, out);
  return out;
}

/** Validate a config; throws the first problem, returns the config typed. */
export function validateSpec(spec: unknown, options: ValidateOptions = {}): Spec {
  const problems = findSpecProblems(spec, options);
  if (problems.length > 0) throw problems[0]!;
  return spec as Spec;
}

/**
 * Validate the process of an `exec` (or `process` of a config): shape and
 * the same checks as for create. `field` prefixes the error paths.
 */
export function validateProcess(process: unknown, field = 'process', options: ValidateOptions = {}): Process {
  const out: BerthError[] = [];
  processShape(process, field, out);
  if (out.length === 0) checkProcess(process as Process, field, { options, host: options.host ?? systemSpecHost }, out);
  if (out.length > 0) throw out[0]!;
  return process as Process;
}
