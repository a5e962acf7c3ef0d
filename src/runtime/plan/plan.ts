/**
 * The plan: plain data that berth-runtime hands to the berth-init executor.
 * Every decision is already made here (flags as numbers, capability masks,
 * mounts in order); `encode-plan.ts` serializes it to the wire format of
 * src/native/include/berth-plan.h and the executor only carries it out.
 */

export const PLAN_MODE = { create: 1, exec: 2, devices: 3 } as const;
export type PlanMode = keyof typeof PLAN_MODE;

export interface PlanNamespaceJoin {
  /** The CLONE_NEW* flag of the namespace. */
  type: bigint;
  path: string;
}

export const MOUNT_KIND = { normal: 0, bind: 1, cgroupRoot: 2 } as const;

export interface PlanMount {
  source: string;
  /** Absolute path inside the container; resolved inside the rootfs by the executor. */
  target: string;
  fstype: string;
  /** MS_* flags of the first mount(2). */
  flags: bigint;
  data: string;
  /** Propagation changes applied in order after mounting. */
  propagation: bigint[];
  /** For binds with ro/nosuid/...: flags of the MS_BIND|MS_REMOUNT call; 0n = none. */
  remountFlags: bigint;
  targetIsFile: boolean;
  kind: number;
}

export interface PlanDevice {
  path: string;
  /** S_IFCHR, S_IFBLK or S_IFIFO. */
  type: number;
  major: number;
  minor: number;
  mode: number;
  uid: number;
  gid: number;
  /** Bind-mount the host node instead of mknod (needed in a user namespace). */
  bind: boolean;
}

/** BPF_DEVCG_ACC_* (linux/bpf.h): the access bits of a device rule. */
export const DEVICE_ACCESS = { mknod: 1, read: 2, write: 4 } as const;

/**
 * One rule of the cgroup v2 device filter that berth-init loads. The last
 * rule matching an access decides it; none matching denies (see
 * BERTH_A_DEVICE_RULE in berth-plan.h for what "matching" means).
 */
export interface PlanDeviceRule {
  allow: boolean;
  /** `a` for any device, `b` block, `c` char. */
  type: 'a' | 'b' | 'c';
  /** -1 for any, else at most 0x7fffffff. */
  major: number;
  minor: number;
  /** Non-empty mask of DEVICE_ACCESS bits. */
  access: number;
}

export interface PlanSymlink {
  target: string;
  path: string;
}

export interface PlanRlimit {
  /** RLIMIT_* number. */
  resource: number;
  soft: bigint;
  hard: bigint;
}

export interface PlanSeccompArg {
  index: number;
  value: bigint;
  valueTwo: bigint;
  /** libseccomp SCMP_CMP_* value. */
  op: number;
}

export interface PlanSeccompRule {
  names: string[];
  /** libseccomp action value, errno or-ed in. */
  action: number;
  args: PlanSeccompArg[];
}

export interface PlanSeccomp {
  defaultAction: number;
  architectures: string[];
  flags: number;
  syscalls: PlanSeccompRule[];
  /**
   * The seccomp listener's socket (absolute host path), present only when a
   * rule is SCMP_ACT_NOTIFY. The executor then needs the container process
   * state JSON as the message of the first CONTINUE.
   */
  listenerPath?: string;
}

/** A startContainer hook: run inside the container by berth-init. */
export interface PlanHook {
  path: string;
  args: string[];
  env: string[];
  /** Seconds; 0 = no timeout. */
  timeout: number;
}

export interface PlanCapabilities {
  bounding: bigint;
  effective: bigint;
  inheritable: bigint;
  permitted: bigint;
  ambient: bigint;
}

export interface Plan {
  mode: PlanMode;
  containerId: string;
  /** CLONE_NEW* flags of the namespaces to create (create mode). */
  cloneFlags: bigint;
  /** Namespaces to join, in the order to join them (user first). */
  nsJoin: PlanNamespaceJoin[];
  rootfs?: string;
  rootfsReadonly: boolean;
  /** Mount flags applied to "/" recursively before anything else; 0n = leave. */
  rootPropagation: bigint;
  noPivot: boolean;
  mounts: PlanMount[];
  devices: PlanDevice[];
  symlinks: PlanSymlink[];
  maskedPaths: string[];
  readonlyPaths: string[];
  sysctl: Array<{ key: string; value: string }>;
  hostname?: string;
  domainname?: string;
  rlimits: PlanRlimit[];
  uid: number;
  gid: number;
  /** undefined: setgroups(0, NULL) unless setgroupsDeny. */
  additionalGids?: number[];
  setgroupsDeny: boolean;
  umask?: number;
  capabilities: PlanCapabilities;
  noNewPrivileges: boolean;
  oomScoreAdj?: number;
  personality?: number;
  seccomp?: PlanSeccomp;
  args: string[];
  env: string[];
  cwd: string;
  terminal: boolean;
  consoleSocket?: string;
  consoleHeight?: number;
  consoleWidth?: number;
  execFifo?: string;
  preserveFds: number;
  newKeyring: boolean;
  keyringName?: string;
  /** Stage-0 waits for the child and exits with its status (foreground run/exec). */
  parentWaits: boolean;
  /** With a terminal and no console socket: stage 0 copies between the pty and its own stdio (foreground only). */
  consoleProxy: boolean;
  /**
   * cgroup v1 `tasks` files (host paths) that the container process joins
   * by writing "0" to each, itself: the kernel moves a task that names
   * itself without the global lock that a pid written by another process
   * takes (an RCU grace period, 10-20 ms). Stage 0 opens them.
   */
  cgroupTasks?: string[];
  /** A cgroup v2 directory (host path) that stage 0 clones the process into (CLONE_INTO_CGROUP). */
  cgroupInto?: string;
  /** unshare(CLONE_NEWCGROUP) after the process joined its cgroups (runc's order). */
  cgroupNsAfterSync: boolean;
  /** startContainer hooks (create mode). */
  startHooks: PlanHook[];
  /**
   * Host path of the container's cgroup v2 directory: stage 0 attaches a
   * device filter built from `deviceRules` to it before creating the
   * container process. Absent: no filter (cgroup v1, or nothing to restrict).
   */
  deviceCgroup?: string;
  /** The device filter's rules, in order; empty without `deviceCgroup`. */
  deviceRules: PlanDeviceRule[];
}

/** The fields that only create mode fills: the container's namespaces and filesystem. */
export type ContainerSetup = Pick<
  Plan,
  'cloneFlags' | 'rootfsReadonly' | 'rootPropagation' | 'noPivot' | 'mounts' | 'devices' | 'symlinks' | 'maskedPaths' | 'readonlyPaths' | 'sysctl'
>;

/**
 * Those fields for a plan that makes no container (exec and devices modes),
 * all empty, as berth-init requires there. Fresh arrays on every call.
 */
export function noContainerSetup(): ContainerSetup {
  return {
    cloneFlags: 0n,
    rootfsReadonly: false,
    rootPropagation: 0n,
    noPivot: false,
    mounts: [],
    devices: [],
    symlinks: [],
    maskedPaths: [],
    readonlyPaths: [],
    sysctl: [],
  };
}
