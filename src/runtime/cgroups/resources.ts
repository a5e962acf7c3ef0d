/**
 * The `linux.resources` object of an OCI runtime config, field for field as
 * in the runtime-spec JSON (specs-go `LinuxResources`, runtime-spec 1.2).
 *
 * Every field is optional here, even those the spec marks REQUIRED, so that
 * the spec layer's own type is assignable to this one whichever way it is
 * written. Values are JSON numbers: `-1` means "no limit" where the spec says
 * so, and, as in runc, `0` means "not set" for limits, shares, quota and
 * period.
 */

export interface LinuxMemory {
  /** Memory limit in bytes; -1 removes the limit. */
  limit?: number;
  /** Soft limit in bytes (v1 memory.soft_limit_in_bytes, v2 memory.low). */
  reservation?: number;
  /** Memory plus swap limit in bytes (v1 semantics); -1 removes the limit. */
  swap?: number;
  /** Deprecated kernel memory limit; ignored with a warning, as runc 1.1 does. */
  kernel?: number;
  /** Deprecated kernel TCP buffer limit; ignored with a warning, as runc 1.1 does. */
  kernelTCP?: number;
  /** 0..100; v1 only. */
  swappiness?: number;
  disableOOMKiller?: boolean;
  useHierarchy?: boolean;
  /** On update, refuse a memory limit below the current usage. */
  checkBeforeUpdate?: boolean;
}

export interface LinuxCpu {
  /** Relative weight, v1 range 2..262144 (converted to cpu.weight on v2). */
  shares?: number;
  /** CFS quota in microseconds per period; -1 removes the limit. */
  quota?: number;
  /** CFS burst in microseconds. */
  burst?: number;
  /** CFS period in microseconds. */
  period?: number;
  realtimeRuntime?: number;
  realtimePeriod?: number;
  /** cpuset list, e.g. `0-3,7`. */
  cpus?: string;
  /** memory node list, e.g. `0`. */
  mems?: string;
  /** 1 makes the cgroup SCHED_IDLE. */
  idle?: number;
}

export interface LinuxPids {
  /** Maximum number of tasks; 0 or less means no limit. */
  limit?: number;
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
  /** Bytes or IO operations per second; 0 removes the limit. */
  rate: number;
}

export interface LinuxBlockIo {
  /** 10..1000 */
  weight?: number;
  leafWeight?: number;
  weightDevice?: LinuxWeightDevice[];
  throttleReadBpsDevice?: LinuxThrottleDevice[];
  throttleWriteBpsDevice?: LinuxThrottleDevice[];
  throttleReadIOPSDevice?: LinuxThrottleDevice[];
  throttleWriteIOPSDevice?: LinuxThrottleDevice[];
}

export interface LinuxHugepageLimit {
  /** Page size as the kernel names it in file names: `2MB`, `1GB`, `64KB`. */
  pageSize: string;
  limit: number;
}

export interface LinuxDeviceCgroup {
  allow: boolean;
  /** `a` (all, the default), `c` or `b`. */
  type?: string;
  /** Omitted or -1 means every major. */
  major?: number;
  /** Omitted or -1 means every minor. */
  minor?: number;
  /** A combination of `r`, `w`, `m`; omitted means `rwm`. */
  access?: string;
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
  cpu?: LinuxCpu;
  pids?: LinuxPids;
  blockIO?: LinuxBlockIo;
  hugepageLimits?: LinuxHugepageLimit[];
  network?: LinuxNetwork;
  /** Keyed by RDMA device name, e.g. `mlx5_1`. */
  rdma?: Record<string, LinuxRdma>;
  /** cgroup v2 file name → value, written verbatim after everything else. */
  unified?: Record<string, string>;
}
