/**
 * TypeScript types of the OCI runtime-spec (config.md, config-linux.md,
 * runtime.md "State", features.md), versions 1.0.0 through 1.3.x, Linux
 * part. Field names and optionality follow specs-go: a field marked
 * `omitempty` there is optional here.
 *
 * Integers are JSON numbers. The spec's uint64 and int64 fields can hold
 * values beyond 2^53; `runtime/spec/load-spec.ts` rejects such literals
 * where an exact value matters (seccomp arguments) and the conversion to a
 * plan clamps the usual "unlimited" sentinels.
 *
 * This module is a leaf: types and a few string tables, no imports.
 */

/** The newest runtime-spec version berth recognizes; written by `berth-runtime spec`. */
export const RUNTIME_SPEC_VERSION = '1.3.0';
/** The oldest runtime-spec version berth accepts. */
export const RUNTIME_SPEC_VERSION_MIN = '1.0.0';

export interface Spec {
  /** SemVer of the runtime-spec the bundle complies with. */
  ociVersion: string;
  /** REQUIRED for `create`; optional in the schema. */
  process?: Process;
  root?: Root;
  hostname?: string;
  domainname?: string;
  mounts?: Mount[];
  hooks?: Hooks;
  annotations?: Record<string, string>;
  linux?: Linux;
  /** Platform sections berth does not use; recognized so they are not mistaken for typos. */
  solaris?: unknown;
  windows?: unknown;
  vm?: unknown;
  zos?: unknown;
  freebsd?: unknown;
}

export interface Root {
  /** Absolute, or relative to the bundle. */
  path: string;
  readonly?: boolean;
}

export interface Box {
  height: number;
  width: number;
}

export interface User {
  uid: number;
  gid: number;
  umask?: number;
  additionalGids?: number[];
  /** Windows only. */
  username?: string;
}

export interface LinuxCapabilities {
  bounding?: string[];
  effective?: string[];
  inheritable?: string[];
  permitted?: string[];
  ambient?: string[];
}

export type CapabilitySet = keyof LinuxCapabilities;
export const CAPABILITY_SETS: readonly CapabilitySet[] = ['bounding', 'effective', 'inheritable', 'permitted', 'ambient'];

export interface POSIXRlimit {
  /** `RLIMIT_*`. */
  type: string;
  hard: number;
  soft: number;
}

export type LinuxSchedulerPolicy =
  | 'SCHED_OTHER'
  | 'SCHED_FIFO'
  | 'SCHED_RR'
  | 'SCHED_BATCH'
  | 'SCHED_ISO'
  | 'SCHED_IDLE'
  | 'SCHED_DEADLINE';

/** runtime-spec 1.2: sched_setattr(2) parameters. */
export interface Scheduler {
  policy: LinuxSchedulerPolicy | string;
  nice?: number;
  priority?: number;
  flags?: string[];
  runtime?: number;
  deadline?: number;
  period?: number;
}

/** runtime-spec 1.2: ioprio_set(2) parameters. */
export interface LinuxIOPriority {
  class: 'IOPRIO_CLASS_RT' | 'IOPRIO_CLASS_BE' | 'IOPRIO_CLASS_IDLE' | string;
  priority: number;
}

/** runtime-spec 1.2.1: CPU affinity of `exec`'d processes. */
export interface ExecCPUAffinity {
  initial?: string;
  final?: string;
}

export interface Process {
  terminal?: boolean;
  consoleSize?: Box;
  user: User;
  /** At least one entry on Linux. */
  args?: string[];
  /** Windows only. */
  commandLine?: string;
  env?: string[];
  /** Absolute path inside the container. */
  cwd: string;
  capabilities?: LinuxCapabilities;
  rlimits?: POSIXRlimit[];
  noNewPrivileges?: boolean;
  apparmorProfile?: string;
  oomScoreAdj?: number;
  scheduler?: Scheduler;
  selinuxLabel?: string;
  ioPriority?: LinuxIOPriority;
  execCPUAffinity?: ExecCPUAffinity;
}

export interface LinuxIDMapping {
  containerID: number;
  hostID: number;
  size: number;
}

export interface Mount {
  destination: string;
  type?: string;
  source?: string;
  options?: string[];
  /** runtime-spec 1.1: id-mapped mounts. */
  uidMappings?: LinuxIDMapping[];
  gidMappings?: LinuxIDMapping[];
}

export interface Hook {
  /** Absolute path of the executable. */
  path: string;
  args?: string[];
  env?: string[];
  /** Seconds; greater than zero. */
  timeout?: number;
}

export interface Hooks {
  /** Deprecated in favour of createRuntime, createContainer and startContainer. */
  prestart?: Hook[];
  createRuntime?: Hook[];
  createContainer?: Hook[];
  startContainer?: Hook[];
  poststart?: Hook[];
  poststop?: Hook[];
}

export type HookName = keyof Hooks;
export const HOOK_NAMES: readonly HookName[] = [
  'prestart',
  'createRuntime',
  'createContainer',
  'startContainer',
  'poststart',
  'poststop',
];

export type LinuxNamespaceType = 'pid' | 'network' | 'mount' | 'ipc' | 'uts' | 'user' | 'cgroup' | 'time';
export const NAMESPACE_TYPES: readonly LinuxNamespaceType[] = [
  'cgroup',
  'ipc',
  'mount',
  'network',
  'pid',
  'time',
  'user',
  'uts',
];

export interface LinuxNamespace {
  type: LinuxNamespaceType;
  /** A namespace file to join (e.g. /proc/1234/ns/net or a bind-mounted nsfs file). */
  path?: string;
}

export interface LinuxDevice {
  path: string;
  /** `c`, `b`, `u` or `p`. */
  type: string;
  major?: number;
  minor?: number;
  fileMode?: number;
  uid?: number;
  gid?: number;
}

export interface LinuxDeviceCgroup {
  allow: boolean;
  /** `a`, `c` or `b`. */
  type?: string;
  major?: number;
  minor?: number;
  /** Some of `rwm`. */
  access?: string;
}

export interface LinuxMemory {
  limit?: number;
  reservation?: number;
  swap?: number;
  /** Deprecated: kernel memory limits are gone since Linux 5.4. */
  kernel?: number;
  kernelTCP?: number;
  swappiness?: number;
  disableOOMKiller?: boolean;
  useHierarchy?: boolean;
  checkBeforeUpdate?: boolean;
}

export interface LinuxCPU {
  shares?: number;
  quota?: number;
  burst?: number;
  period?: number;
  realtimeRuntime?: number;
  realtimePeriod?: number;
  cpus?: string;
  mems?: string;
  idle?: number;
}

export interface LinuxPids {
  limit: number;
}

export interface LinuxWeightDevice {
  major: number;
  minor: number;
  weight?: number;
  leafWeight?: number;
}

export interface LinuxThrottleDevice {
  major: number;
  minor: number;
  rate: number;
}

export interface LinuxBlockIO {
  weight?: number;
  leafWeight?: number;
  weightDevice?: LinuxWeightDevice[];
  throttleReadBpsDevice?: LinuxThrottleDevice[];
  throttleWriteBpsDevice?: LinuxThrottleDevice[];
  throttleReadIOPSDevice?: LinuxThrottleDevice[];
  throttleWriteIOPSDevice?: LinuxThrottleDevice[];
}

export interface LinuxHugepageLimit {
  /** `<size><unit>B`, e.g. `2MB`, `1GB`. */
  pageSize: string;
  limit: number;
}

export interface LinuxInterfacePriority {
  name: string;
  priority: number;
}

export interface LinuxNetwork {
  classID?: number;
  priorities?: LinuxInterfacePriority[];
}

export interface LinuxRdma {
  hcaHandles?: number;
  hcaObjects?: number;
}

export interface LinuxResources {
  devices?: LinuxDeviceCgroup[];
  memory?: LinuxMemory;
  cpu?: LinuxCPU;
  pids?: LinuxPids;
  blockIO?: LinuxBlockIO;
  hugepageLimits?: LinuxHugepageLimit[];
  network?: LinuxNetwork;
  rdma?: Record<string, LinuxRdma>;
  /** cgroup v2 file name → value. */
  unified?: Record<string, string>;
}

export type LinuxSeccompAction =
  | 'SCMP_ACT_KILL'
  | 'SCMP_ACT_KILL_PROCESS'
  | 'SCMP_ACT_KILL_THREAD'
  | 'SCMP_ACT_TRAP'
  | 'SCMP_ACT_ERRNO'
  | 'SCMP_ACT_TRACE'
  | 'SCMP_ACT_ALLOW'
  | 'SCMP_ACT_LOG'
  | 'SCMP_ACT_NOTIFY';

export type LinuxSeccompOperator =
  | 'SCMP_CMP_NE'
  | 'SCMP_CMP_LT'
  | 'SCMP_CMP_LE'
  | 'SCMP_CMP_EQ'
  | 'SCMP_CMP_GE'
  | 'SCMP_CMP_GT'
  | 'SCMP_CMP_MASKED_EQ';

export type LinuxSeccompFlag =
  | 'SECCOMP_FILTER_FLAG_TSYNC'
  | 'SECCOMP_FILTER_FLAG_LOG'
  | 'SECCOMP_FILTER_FLAG_SPEC_ALLOW'
  | 'SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV';

export interface LinuxSeccompArg {
  index: number;
  value: number;
  valueTwo?: number;
  op: LinuxSeccompOperator | string;
}

export interface LinuxSyscall {
  names: string[];
  action: LinuxSeccompAction | string;
  errnoRet?: number;
  args?: LinuxSeccompArg[];
}

export interface LinuxSeccomp {
  defaultAction: LinuxSeccompAction | string;
  defaultErrnoRet?: number;
  /** `SCMP_ARCH_*`. */
  architectures?: string[];
  flags?: Array<LinuxSeccompFlag | string>;
  listenerPath?: string;
  listenerMetadata?: string;
  syscalls?: LinuxSyscall[];
}

export interface LinuxIntelRdt {
  closID?: string;
  /** runtime-spec 1.3 (a list of schemata lines; drafts used one string). */
  schemata?: string[] | string;
  l3CacheSchema?: string;
  memBwSchema?: string;
  /** runtime-spec 1.1 to 1.2.1; replaced by enableMonitoring in 1.3. */
  enableCMT?: boolean;
  enableMBM?: boolean;
  /** runtime-spec 1.3. */
  enableMonitoring?: boolean;
}

export type LinuxPersonalityDomain = 'LINUX' | 'LINUX32';

export interface LinuxPersonality {
  domain: LinuxPersonalityDomain | string;
  flags?: string[];
}

export interface LinuxTimeOffset {
  secs?: number;
  nanosecs?: number;
}

/** runtime-spec 1.3: set_mempolicy(2) parameters. */
export interface LinuxMemoryPolicy {
  mode: string;
  nodes: string;
  flags?: string[];
}

/** runtime-spec 1.3: a host network device moved into the container's network namespace. */
export interface LinuxNetDevice {
  name?: string;
}

export type RootfsPropagation = 'private' | 'shared' | 'slave' | 'unbindable';

export interface Linux {
  uidMappings?: LinuxIDMapping[];
  gidMappings?: LinuxIDMapping[];
  sysctl?: Record<string, string>;
  resources?: LinuxResources;
  cgroupsPath?: string;
  namespaces?: LinuxNamespace[];
  devices?: LinuxDevice[];
  /** runtime-spec 1.3; keyed by the host interface name. */
  netDevices?: Record<string, LinuxNetDevice>;
  seccomp?: LinuxSeccomp;
  rootfsPropagation?: RootfsPropagation | string;
  maskedPaths?: string[];
  readonlyPaths?: string[];
  mountLabel?: string;
  intelRdt?: LinuxIntelRdt;
  personality?: LinuxPersonality;
  /** runtime-spec 1.2; keyed by clock name (`monotonic`, `boottime`). */
  timeOffsets?: Record<string, LinuxTimeOffset>;
  /** runtime-spec 1.3. */
  memoryPolicy?: LinuxMemoryPolicy;
}

/** The container status values of the OCI state (runtime.md). */
export type Status = 'creating' | 'created' | 'running' | 'stopped';

/** The OCI state document a runtime prints for `state` and hands to hooks. */
export interface State {
  ociVersion: string;
  id: string;
  status: Status | string;
  /** Required when status is created or running. */
  pid?: number;
  /** Absolute path of the bundle. */
  bundle: string;
  annotations?: Record<string, string>;
}

/** features.md: what a runtime implements, printed by `features`. */
export interface Features {
  ociVersionMin?: string;
  ociVersionMax?: string;
  hooks?: string[];
  mountOptions?: string[];
  linux?: LinuxFeatures;
  annotations?: Record<string, string>;
  potentiallyUnsafeConfigAnnotations?: string[];
}

export interface LinuxFeatures {
  namespaces?: string[];
  capabilities?: string[];
  cgroup?: { v1?: boolean; v2?: boolean; systemd?: boolean; systemdUser?: boolean; rdma?: boolean };
  seccomp?: {
    enabled?: boolean;
    actions?: string[];
    operators?: string[];
    archs?: string[];
    knownFlags?: string[];
    supportedFlags?: string[];
  };
  apparmor?: { enabled?: boolean };
  selinux?: { enabled?: boolean };
  intelRdt?: { enabled?: boolean; schemata?: boolean };
  mountExtensions?: { idmap?: { enabled?: boolean } };
  netDevices?: { enabled?: boolean };
}
