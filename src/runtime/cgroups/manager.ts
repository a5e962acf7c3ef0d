/**
 * The cgroup manager: one interface, two implementations (CgroupV1Manager
 * for the v1 and hybrid layouts, CgroupV2Manager for the unified one).
 *
 * Lifecycle, as berth-runtime drives it:
 *
 *   const cg = createCgroupManager({ id, cgroupsPath: spec.linux?.cgroupsPath });
 *   await cg.create(spec.linux?.resources);   // directories, then limits
 *   const join = cg.selfJoin({ cloneInto });    // the executor joins what it can
 *   await cg.addProcess(initPid, join.rest);    // the rest, before the init runs user code
 *   ...                                        // state.json keeps cg.paths()
 *   await cg.update(newResources);             // `runc update`
 *   await cg.freeze(); await cg.thaw();        // `runc pause` / `runc resume`
 *   const stats = await cg.stats();            // `runc events --stats`
 *   await cg.destroy();                        // `runc delete`, after the processes are gone
 *
 * A later process re-opens the same cgroup from the saved directories with
 * `createCgroupManager({ id, paths: state.cgroupPaths })`, since its own
 * cgroup (the base of relative paths) may differ from the creator's.
 */
import type { LinuxResources } from './resources.js';

export interface CgroupSelfJoin {
  tasks: string[];
  into?: string;
  rest: string[];
}

export type FreezerState = 'frozen' | 'thawed' | 'freezing' | 'undefined';

/** A usage/limit group as runc reports it (types.MemoryEntry). */
export interface MemoryEntry {
  limit: number;
  usage: number;
  max: number;
  failcnt: number;
}

/** One row of a blkio statistics table (types.BlkioEntry). */
export interface BlkioEntry {
  major: number;
  minor: number;
  op: string;
  value: number;
}

/**
 * The `data` of `runc events --stats` (runc types/events.go), key for key,
 * so the events command can serialize it as is. Times are nanoseconds,
 * sizes bytes. A limit of "none" is `UNLIMITED` (memory) or 0 (pids), as
 * runc reports them.
 */
export interface CgroupStats {
  cpu: {
    usage: {
      total: number;
      percpu?: number[];
      percpu_kernel?: number[];
      percpu_user?: number[];
      kernel: number;
      user: number;
    };
    throttling: { periods: number; throttledPeriods: number; throttledTime: number };
  };
  memory: {
    cache: number;
    usage: MemoryEntry;
    /** memory+swap, on v2 too, as runc reports it. */
    swap: MemoryEntry;
    kernel: MemoryEntry;
    kernelTCP: MemoryEntry;
    /** memory.stat as is. */
    raw: Record<string, number>;
  };
  pids: { current: number; limit: number };
  blkio: {
    ioServiceBytesRecursive: BlkioEntry[];
    ioServicedRecursive: BlkioEntry[];
    ioQueueRecursive: BlkioEntry[];
    ioServiceTimeRecursive: BlkioEntry[];
    ioWaitTimeRecursive: BlkioEntry[];
    ioMergedRecursive: BlkioEntry[];
    ioTimeRecursive: BlkioEntry[];
    sectorsRecursive: BlkioEntry[];
  };
  /** Keyed by page size (`2MB`). */
  hugetlb: Record<string, { usage: number; max: number; failcnt: number }>;
}

export interface WatchOomOptions {
  /** How often the OOM counter is read; default 200 ms. */
  intervalMs?: number;
}

export interface CgroupManager {
  readonly version: 1 | 2;
  /**
   * The container's cgroup path as /proc/PID/cgroup shows it, e.g.
   * `/berth/abc`. With a relative cgroupsPath, v1 hierarchies can place the
   * cgroup under different parents; this is the one in the hierarchy that
   * `pids()` and the freezer use (freezer, else devices, memory, ...);
   * `paths()` has every hierarchy's directory.
   */
  readonly path: string;
  /** Controller (`name=systemd` for the named one, `` for a unified hierarchy) → host directory. */
  paths(): Record<string, string>;
  /**
   * Make the directories and apply `resources`. v1: in every mounted
   * hierarchy, including name=systemd and the hybrid unified one, with the
   * cpuset parents' cpus and mems filled from their parents first; v2: with
   * the controllers enabled in cgroup.subtree_control from the root down.
   * Idempotent; on failure the directories this call made are removed.
   */
  create(resources?: LinuxResources): Promise<void>;
  /**
   * Move a process (all its threads) into the cgroup in every hierarchy, or
   * only in `dirs` (directories of `paths()`). The kernel write-locks a
   * global rwsem for this, which waits for an RCU grace period (10-20 ms).
   */
  addProcess(pid: number, dirs?: readonly string[]): Promise<void>;
  /**
   * How a new process can join the cgroup by itself, which the kernel does
   * without that lock: `tasks`, the v1 hierarchies' `tasks` files, to which
   * a single-threaded process writes "0"; `into`, with `cloneInto` (Linux
   * 5.7's clone3 CLONE_INTO_CGROUP), the v2 directory (v2, or the hybrid
   * unified hierarchy) to create it in. `rest`: directories that neither
   * covers, for `addProcess(pid, rest)`.
   */
  selfJoin(options: { cloneInto: boolean }): CgroupSelfJoin;
  update(resources: LinuxResources): Promise<void>;
  /** Every pid in the cgroup and its descendants. */
  pids(): Promise<number[]>;
  /** Freeze and wait until the kernel reports every task frozen. */
  freeze(): Promise<void>;
  /** Thaw and wait until the kernel reports the cgroup thawed. */
  thaw(): Promise<void>;
  freezerState(): Promise<FreezerState>;
  stats(): Promise<CgroupStats>;
  /** OOM kills in the cgroup so far (v1 memory.oom_control, v2 memory.events `oom_kill`). */
  oomKillCount(): Promise<number>;
  /**
   * Call `onOom` each time the OOM kill count rises, until `signal` aborts
   * or the cgroup disappears. Node cannot register the eventfd that v1 uses
   * for OOM notification (cgroup.event_control), so this polls.
   */
  watchOom(signal: AbortSignal, onOom: () => void, options?: WatchOomOptions): void;
  /**
   * Remove the cgroup (child cgroups first) in every hierarchy. EBUSY, which
   * the kernel returns for a moment after the last task exits, is retried a
   * few times; a cgroup that is already gone is fine. Idempotent.
   */
  destroy(): Promise<void>;
  /** True while the cgroup directory exists in any hierarchy. */
  exists(): Promise<boolean>;
}

/**
 * What the v2 driver does with device rules. cgroup v2 enforces device
 * access only through an eBPF program attached to the cgroup, which Node
 * cannot build or load.
 *
 * - `reject` (default): rules that restrict anything are refused with
 *   CGROUP_UNSUPPORTED. Running such a container unrestricted would let a
 *   process with CAP_MKNOD (in Docker's default set) create and open, say,
 *   the host's disk; failing loudly is the only safe default.
 * - `warn-standard`: the usual deny-all-but-the-standard-set rules run
 *   unenforced, with a warning; anything else is still refused. For hosts
 *   where that trade-off is understood.
 * - `external`: the caller attaches the device filter itself (berth-init can
 *   load eBPF from C); this layer only validates the rules.
 */
export type V2DevicePolicy = 'reject' | 'warn-standard' | 'external';

export interface CgroupManagerOptions {
  /** Receives notes about settings that are ignored (deprecated kmem limits and the like). */
  onWarning?: (message: string) => void;
  /** How long freeze/thaw wait for the kernel; default 10 s. */
  freezeTimeoutMs?: number;
  v2DevicePolicy?: V2DevicePolicy;
}
