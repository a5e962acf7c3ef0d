/**
 * The cgroup v1 driver (also the hybrid layout: v1 controllers plus a
 * controller-less cgroup2 mount at /sys/fs/cgroup/unified). Each controller
 * has its own hierarchy; the container gets a directory in every mounted one
 * (including name=systemd and the hybrid unified hierarchy, so tools that
 * look there find it), and resources are written controller by controller.
 * File names, formats and write orders follow runc's libcontainer/cgroups/fs
 * and the kernel's Documentation/admin-guide/cgroup-v1/.
 */
import { statfsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { BerthError } from '../../errors/index.js';
import {
  cgroupFailed, cgroupFileExists, cgroupUnsupported, errnoCode, nodeCgroupFs, parseKeyValues, parseNumberList, parseUint,
  readCgroupFile, readOptionalCgroupFile, writeCgroupFile, type CgroupFs,
} from './cgroup-fs.js';
import { collectPids, mkdirLevels, pollOom, removeAll, sleep, waitFor, writePid } from './common.js';
import { DeviceRuleState, normalizeDeviceRule } from './devices.js';
import type {
  BlkioEntry, CgroupManager, CgroupManagerOptions, CgroupSelfJoin, CgroupStats, FreezerState, MemoryEntry, WatchOomOptions,
} from './manager.js';
import { CGROUP_SUPER_MAGIC } from './paths.js';
import type { LinuxResources } from './resources.js';

export interface CgroupV1ManagerInit extends CgroupManagerOptions {
  /** The cgroup path in the primary hierarchy (see CgroupManager.path). */
  path: string;
  /** Controller (`name=systemd`, `` for the hybrid unified mount) → directory. */
  dirs: Record<string, string>;
  fs?: CgroupFs;
}

/** Hierarchies tried, in order, for the pid walk and `path`. */
export const PRIMARY_ORDER = ['freezer', 'devices', 'memory', 'pids', 'cpu', 'cpuacct', 'cpuset', 'blkio', 'name=systemd', ''];

/** sysconf(_SC_CLK_TCK), the unit of cpuacct.stat; USER_HZ is 100 on every Linux ABI. */
const CLOCK_TICKS = 100;
const NS_PER_TICK = 1e9 / CLOCK_TICKS;

type Mode = 'create' | 'update';

export class CgroupV1Manager implements CgroupManager {
  readonly version = 1 as const;
  readonly path: string;
  readonly #dirs: Record<string, string>;
  readonly #fs: CgroupFs;
  readonly #warn: (message: string) => void;
  readonly #freezeTimeoutMs: number;

  constructor(init: CgroupV1ManagerInit) {
    this.path = init.path;
    this.#dirs = { ...init.dirs };
    this.#fs = init.fs ?? nodeCgroupFs;
    this.#warn = init.onWarning ?? (() => {});
    this.#freezeTimeoutMs = init.freezeTimeoutMs ?? 10_000;
  }

  paths(): Record<string, string> {
    return { ...this.#dirs };
  }

  #uniqueDirs(): string[] {
    return [...new Set(Object.values(this.#dirs))];
  }

  #primaryDir(): string {
    for (const key of PRIMARY_ORDER) {
      const dir = this.#dirs[key];
      if (dir !== undefined) return dir;
    }
    const any = Object.values(this.#dirs)[0];
    if (any === undefined) throw cgroupUnsupported('no cgroup v1 hierarchy is mounted on this host');
    return any;
  }

  /** The directory of a controller the config needs, or CGROUP_UNSUPPORTED. */
  #need(controller: string, field: string): string {
    const dir = this.#dirs[controller];
    if (dir === undefined) {
      throw cgroupUnsupported(`linux.resources.${field} needs the \`${controller}\` cgroup controller, which is not mounted on this host`);
    }
    return dir;
  }

  async create(resources: LinuxResources = {}): Promise<void> {
    this.#precheck(resources);
    const created: string[] = [];
    try {
      for (const dir of this.#uniqueDirs()) {
        if (dir === this.#dirs['cpuset']) await this.#mkdirCpuset(dir, created);
        else await mkdirLevels(this.#fs, await this.#existingAncestor(dir), dir, created);
      }
      await this.#apply(resources, 'create');
      // Only now inherit the cpuset from the parent where none was asked for:
      // copying first could clash with cpuset.cpu_exclusive (runc's order).
      // A task cannot join a cpuset whose cpus or mems are empty.
      const cpuset = this.#dirs['cpuset'];
      if (cpuset !== undefined) await this.#cpusetCopyIfEmpty(cpuset, dirname(cpuset));
    } catch (err) {
      for (const dir of created.reverse()) await this.#fs.rmdir(dir).catch(() => {});
      throw err;
    }
  }

  async update(resources: LinuxResources): Promise<void> {
    this.#precheck(resources);
    await this.#apply(resources, 'update');
  }

  async addProcess(pid: number, dirs?: readonly string[]): Promise<void> {
    for (const dir of this.#uniqueDirs()) if (!dirs || dirs.includes(dir)) await writePid(this.#fs, dir, pid);
  }

  selfJoin({ cloneInto }: { cloneInto: boolean }): CgroupSelfJoin {
    const out: CgroupSelfJoin = { tasks: [], rest: [] };
    const unified = this.#dirs[''];
    for (const dir of this.#uniqueDirs()) {
      if (dir !== unified) out.tasks.push(join(dir, 'tasks'));
      else if (cloneInto) out.into = dir;
      else out.rest.push(dir);
    }
    return out;
  }

  async pids(): Promise<number[]> {
    return collectPids(this.#fs, this.#primaryDir());
  }

  async exists(): Promise<boolean> {
    for (const dir of this.#uniqueDirs()) if (await this.#fs.isDirectory(dir)) return true;
    return false;
  }

  async destroy(): Promise<void> {
    await removeAll(this.#fs, this.#uniqueDirs());
  }

  // ---- directories -------------------------------------------------------

  async #existingAncestor(dir: string): Promise<string> {
    let current = dirname(dir);
    while (!(await this.#fs.isDirectory(current))) {
      const up = dirname(current);
      if (up === current) throw cgroupFailed(`no existing parent directory for cgroup ${dir}`);
      current = up;
    }
    return current;
  }

  /**
   * A new cpuset cgroup starts with empty cpus and mems, and a task cannot
   * join it until both are set (ENOSPC), so every level from the hierarchy's
   * mount point down to the container's parent gets its parent's values when
   * empty (runc's cpusetEnsureParent).
   */
  async #mkdirCpuset(dir: string, created: string[]): Promise<void> {
    const top = cpusetMountpoint(dir);
    await mkdirLevels(this.#fs, top, dir, created, async (level, parent) => {
      if (level !== dir) await this.#cpusetCopyIfEmpty(level, parent);
    });
  }

  async #cpusetCopyIfEmpty(dir: string, parent: string): Promise<void> {
    for (const file of ['cpuset.cpus', 'cpuset.mems']) {
      const mine = (await readCgroupFile(this.#fs, dir, file)).trim();
      if (mine !== '') continue;
      const theirs = (await readCgroupFile(this.#fs, parent, file)).trim();
      await writeCgroupFile(this.#fs, dir, file, theirs);
    }
  }

  // ---- resources ---------------------------------------------------------

  /** Refuse what cannot be applied before anything is created or written. */
  #precheck(r: LinuxResources): void {
    if (r.unified !== undefined && Object.keys(r.unified).length > 0) {
      throw cgroupUnsupported('linux.resources.unified needs cgroup v2, and this host uses cgroup v1; express the limits in the v1 fields');
    }
    if (r.hugepageLimits !== undefined && r.hugepageLimits.length > 0) this.#need('hugetlb', 'hugepageLimits');
    if (r.network?.classID !== undefined) this.#need('net_cls', 'network.classID');
    if (r.network?.priorities !== undefined && r.network.priorities.length > 0) this.#need('net_prio', 'network.priorities');
    if (r.rdma !== undefined && Object.keys(r.rdma).length > 0) this.#need('rdma', 'rdma');
    if (r.devices !== undefined && r.devices.length > 0) {
      const target = DeviceRuleState.fromRules(r.devices.map(normalizeDeviceRule));
      // Running without the devices controller would leave every device
      // open to the container; runc treats its absence as fatal too.
      if (!target.isAllowAll()) this.#need('devices', 'devices');
    }
  }

  // The controller order is runc's (fs.go subsystems): cpuset before the
  // rest, devices early so the container never runs with them open.
  async #apply(r: LinuxResources, mode: Mode): Promise<void> {
    await this.#setCpuset(r);
    await this.#setDevices(r);
    await this.#setMemory(r, mode);
    await this.#setCpu(r);
    await this.#setPids(r);
    await this.#setBlkio(r);
    await this.#setHugetlb(r);
    await this.#setNetwork(r);
    await this.#setRdma(r);
  }

  async #write(dir: string, file: string, value: string): Promise<void> {
    await writeCgroupFile(this.#fs, dir, file, value);
  }

  async #setCpuset(r: LinuxResources): Promise<void> {
    const cpus = r.cpu?.cpus ?? '';
    const mems = r.cpu?.mems ?? '';
    if (cpus !== '') await this.#write(this.#need('cpuset', 'cpu.cpus'), 'cpuset.cpus', cpus);
    if (mems !== '') await this.#write(this.#need('cpuset', 'cpu.mems'), 'cpuset.mems', mems);
  }

  async #setDevices(r: LinuxResources): Promise<void> {
    if (r.devices === undefined || r.devices.length === 0) return;
    const target = DeviceRuleState.fromRules(r.devices.map(normalizeDeviceRule));
    const dir = this.#dirs['devices'];
    if (dir === undefined) return; // allow-all without the controller; #precheck refused the rest
    const current = DeviceRuleState.fromList(await readCgroupFile(this.#fs, dir, 'devices.list'));
    for (const write of current.transitionTo(target)) await this.#write(dir, write.file, write.line);
    if (!target.defaultAllow) {
      // The kernel silently drops grants the parent does not have; check
      // that what it now enforces is what was asked for (runc does too).
      const now = DeviceRuleState.fromList(await readCgroupFile(this.#fs, dir, 'devices.list'));
      if (now.transitionTo(target).length !== 0) {
        throw cgroupFailed(`the device rules in ${dir} do not match linux.resources.devices after writing them; the parent cgroup may not allow some of the devices`);
      }
    }
  }

  async #setMemory(r: LinuxResources, mode: Mode): Promise<void> {
    const m = r.memory;
    if (m === undefined) return;
    if ((m.kernel ?? 0) !== 0 || (m.kernelTCP ?? 0) !== 0) {
      this.#warn('linux.resources.memory.kernel and kernelTCP are ignored: kernel memory limits are deprecated by the kernel (runc 1.1 ignores them too)');
    }
    const limit = m.limit ?? 0;
    const swap = m.swap ?? 0;
    const reservation = m.reservation ?? 0;
    const swappiness = m.swappiness === undefined || m.swappiness === -1 ? undefined : m.swappiness;
    if (limit === 0 && swap === 0 && reservation === 0 && swappiness === undefined && m.disableOOMKiller !== true && m.useHierarchy === undefined) {
      return;
    }
    const dir = this.#need('memory', 'memory');
    if (swappiness !== undefined && (!Number.isInteger(swappiness) || swappiness < 0 || swappiness > 100)) {
      throw new BerthError('CONFIG_INVALID', `memory swappiness ${swappiness} is not valid; use 0 to 100`, { field: 'linux.resources.memory.swappiness' });
    }
    if (mode === 'update' && m.checkBeforeUpdate === true && limit > 0) {
      const usage = parseUint(await readCgroupFile(this.#fs, dir, 'memory.usage_in_bytes'));
      if (usage > limit) {
        throw cgroupFailed(`cannot lower the memory limit of ${dir} to ${limit} bytes: the cgroup already uses ${usage} bytes (checkBeforeUpdate is set)`);
      }
    }
    await this.#setMemoryAndSwap(dir, limit, swap);
    if (reservation !== 0) await this.#write(dir, 'memory.soft_limit_in_bytes', String(reservation));
    if (m.disableOOMKiller !== undefined) await this.#write(dir, 'memory.oom_control', m.disableOOMKiller ? '1' : '0');
    if (swappiness !== undefined) await this.#write(dir, 'memory.swappiness', String(swappiness));
    if (m.useHierarchy !== undefined) {
      const want = m.useHierarchy ? '1' : '0';
      // Since Linux 5.16 the file is fixed at 1 and refuses 0.
      if ((await readCgroupFile(this.#fs, dir, 'memory.use_hierarchy')).trim() !== want) await this.#write(dir, 'memory.use_hierarchy', want);
    }
  }

  /**
   * The kernel keeps memsw.limit >= limit at every moment, so the order of
   * the two writes depends on the direction (runc's setMemoryAndSwap): when
   * the new memsw exceeds the current limit, raise memsw first; otherwise
   * lower the limit first.
   */
  async #setMemoryAndSwap(dir: string, limit: number, swap: number): Promise<void> {
    const memswExists = await cgroupFileExists(this.#fs, dir, 'memory.memsw.limit_in_bytes');
    // Unlimited memory with swap unset means both unlimited.
    if (limit === -1 && swap === 0 && memswExists) swap = -1;
    if (swap !== 0 && !memswExists) {
      throw cgroupUnsupported(`linux.resources.memory.swap cannot be applied: ${dir} has no memory.memsw.limit_in_bytes (swap accounting is off; boot with swapaccount=1)`);
    }
    if (limit !== 0 && swap !== 0) {
      const current = parseUint(await readCgroupFile(this.#fs, dir, 'memory.limit_in_bytes'));
      if (swap === -1 || current < swap) {
        await this.#write(dir, 'memory.memsw.limit_in_bytes', String(swap));
        await this.#setMemoryLimit(dir, limit);
        return;
      }
    }
    if (limit !== 0) await this.#setMemoryLimit(dir, limit);
    if (swap !== 0) await this.#write(dir, 'memory.memsw.limit_in_bytes', String(swap));
  }

  async #setMemoryLimit(dir: string, limit: number): Promise<void> {
    try {
      await this.#write(dir, 'memory.limit_in_bytes', String(limit));
    } catch (err) {
      // EBUSY: the kernel could not reclaim down to the new limit.
      if (!(err instanceof BerthError) || errnoCode(err.cause) !== 'EBUSY') throw err;
      const usage = parseUint(await readCgroupFile(this.#fs, dir, 'memory.usage_in_bytes'));
      const peak = parseUint(await readCgroupFile(this.#fs, dir, 'memory.max_usage_in_bytes'));
      throw new BerthError('CGROUP_FAILED', `${err.message}: cannot set the memory limit to ${limit} bytes below the current usage of ${usage} bytes (peak ${peak})`, {
        cause: err,
        errno: err.errno,
      });
    }
  }

  async #setCpu(r: LinuxResources): Promise<void> {
    const c = r.cpu;
    if (c === undefined) return;
    const shares = c.shares ?? 0;
    const period = c.period ?? 0;
    const quota = c.quota ?? 0;
    const rtPeriod = c.realtimePeriod ?? 0;
    const rtRuntime = c.realtimeRuntime ?? 0;
    if (shares === 0 && period === 0 && quota === 0 && c.burst === undefined && c.idle === undefined && rtPeriod === 0 && rtRuntime === 0) return;
    const dir = this.#need('cpu', 'cpu');
    if (shares !== 0) {
      await this.#write(dir, 'cpu.shares', String(shares));
      // The kernel clamps silently; read back so a bad value is an error.
      const stored = parseUint(await readCgroupFile(this.#fs, dir, 'cpu.shares'));
      if (stored !== shares) {
        throw new BerthError('CONFIG_INVALID', `cpu shares ${shares} are out of range: the kernel stored ${stored} (${shares > stored ? 'maximum' : 'minimum'})`, {
          field: 'linux.resources.cpu.shares',
        });
      }
    }
    // Period before quota. A smaller period can be refused (EINVAL) because
    // old quota / new period would exceed the parent's bandwidth; then set
    // the quota first and the period after it (runc does the same).
    let pendingPeriod = false;
    if (period !== 0) {
      try {
        await this.#write(dir, 'cpu.cfs_period_us', String(period));
      } catch (err) {
        if (!(err instanceof BerthError) || errnoCode(err.cause) !== 'EINVAL' || quota === 0) throw err;
        pendingPeriod = true;
      }
    }
    if (quota !== 0) {
      await this.#write(dir, 'cpu.cfs_quota_us', String(quota));
      if (pendingPeriod) await this.#write(dir, 'cpu.cfs_period_us', String(period));
    }
    if (c.burst !== undefined) await this.#write(dir, 'cpu.cfs_burst_us', String(c.burst));
    if (c.idle !== undefined) await this.#write(dir, 'cpu.idle', String(c.idle));
    if (rtPeriod !== 0) await this.#write(dir, 'cpu.rt_period_us', String(rtPeriod));
    if (rtRuntime !== 0) await this.#write(dir, 'cpu.rt_runtime_us', String(rtRuntime));
  }

  async #setPids(r: LinuxResources): Promise<void> {
    const limit = r.pids?.limit;
    if (limit === undefined) return;
    await this.#write(this.#need('pids', 'pids'), 'pids.max', limit > 0 ? String(limit) : 'max');
  }

  async #setBlkio(r: LinuxResources): Promise<void> {
    const b = r.blockIO;
    if (b === undefined) return;
    const weight = b.weight ?? 0;
    const leafWeight = b.leafWeight ?? 0;
    const devices = b.weightDevice ?? [];
    const throttles: Array<[string, { major: number; minor: number; rate: number }[] | undefined]> = [
      ['blkio.throttle.read_bps_device', b.throttleReadBpsDevice],
      ['blkio.throttle.write_bps_device', b.throttleWriteBpsDevice],
      ['blkio.throttle.read_iops_device', b.throttleReadIOPSDevice],
      ['blkio.throttle.write_iops_device', b.throttleWriteIOPSDevice],
    ];
    if (weight === 0 && leafWeight === 0 && devices.length === 0 && throttles.every(([, list]) => (list ?? []).length === 0)) return;
    const dir = this.#need('blkio', 'blockIO');
    // CFQ offered blkio.weight; with BFQ (the only proportional scheduler
    // since Linux 5.0) the files are blkio.bfq.weight{,_device}.
    const bfq = await cgroupFileExists(this.#fs, dir, 'blkio.bfq.weight');
    const weightFile = bfq ? 'blkio.bfq.weight' : 'blkio.weight';
    const weightDeviceFile = bfq ? 'blkio.bfq.weight_device' : 'blkio.weight_device';
    if (weight !== 0) await this.#write(dir, weightFile, String(weight));
    if (leafWeight !== 0) await this.#write(dir, 'blkio.leaf_weight', String(leafWeight));
    for (const d of devices) {
      if (d.weight !== undefined) await this.#write(dir, weightDeviceFile, `${d.major}:${d.minor} ${d.weight}`);
      if (d.leafWeight !== undefined) await this.#write(dir, 'blkio.leaf_weight_device', `${d.major}:${d.minor} ${d.leafWeight}`);
    }
    for (const [file, list] of throttles) {
      for (const t of list ?? []) await this.#write(dir, file, `${t.major}:${t.minor} ${t.rate}`);
    }
  }

  async #setHugetlb(r: LinuxResources): Promise<void> {
    const limits = r.hugepageLimits ?? [];
    if (limits.length === 0) return;
    const dir = this.#need('hugetlb', 'hugepageLimits');
    for (const [i, l] of limits.entries()) {
      checkPageSize(l.pageSize, i);
      await this.#write(dir, `hugetlb.${l.pageSize}.limit_in_bytes`, String(l.limit));
    }
  }

  async #setNetwork(r: LinuxResources): Promise<void> {
    const n = r.network;
    if (n === undefined) return;
    if (n.classID !== undefined) await this.#write(this.#need('net_cls', 'network.classID'), 'net_cls.classid', String(n.classID));
    for (const [i, p] of (n.priorities ?? []).entries()) {
      if (!/^[^\s/]+$/.test(p.name)) {
        throw new BerthError('CONFIG_INVALID', `interface name \`${p.name}\` is not valid`, { field: `linux.resources.network.priorities[${i}].name` });
      }
      await this.#write(this.#need('net_prio', 'network.priorities'), 'net_prio.ifpriomap', `${p.name} ${p.priority}`);
    }
  }

  async #setRdma(r: LinuxResources): Promise<void> {
    const entries = Object.entries(r.rdma ?? {});
    if (entries.length === 0) return;
    const dir = this.#need('rdma', 'rdma');
    for (const [device, limits] of entries) await this.#write(dir, 'rdma.max', rdmaLine(device, limits));
  }

  // ---- freezer -----------------------------------------------------------

  /**
   * Write FROZEN until freezer.state reads FROZEN. A v1 cgroup can stay in
   * FREEZING while new tasks keep arriving, so the write is repeated, with
   * an occasional thaw and pause as runc found helps; on failure the cgroup
   * is thawed again rather than left half frozen.
   */
  async freeze(): Promise<void> {
    const dir = this.#need('freezer', 'freezer');
    const deadline = Date.now() + this.#freezeTimeoutMs;
    try {
      for (let i = 0; ; i++) {
        if (i % 50 === 49) {
          await this.#write(dir, 'freezer.state', 'THAWED');
          await sleep(10);
        }
        await this.#write(dir, 'freezer.state', 'FROZEN');
        const state = (await readCgroupFile(this.#fs, dir, 'freezer.state')).trim();
        if (state === 'FROZEN') return;
        if (state !== 'FREEZING') throw cgroupFailed(`cannot freeze ${dir}: freezer.state is ${state}`);
        if (Date.now() >= deadline) {
          throw cgroupFailed(`cannot freeze ${dir}: it is still FREEZING after ${this.#freezeTimeoutMs} ms; a task may be stuck in the kernel or processes keep being added`);
        }
        await sleep(i < 10 ? 1 : 10);
      }
    } catch (err) {
      await this.#write(dir, 'freezer.state', 'THAWED').catch(() => {});
      throw err;
    }
  }

  async thaw(): Promise<void> {
    const dir = this.#need('freezer', 'freezer');
    await this.#write(dir, 'freezer.state', 'THAWED');
    const thawed = await waitFor(async () => (await readCgroupFile(this.#fs, dir, 'freezer.state')).trim() === 'THAWED', this.#freezeTimeoutMs);
    if (!thawed) throw cgroupFailed(`cannot thaw ${dir}: freezer.state did not become THAWED within ${this.#freezeTimeoutMs} ms; is a parent cgroup frozen?`);
  }

  /**
   * As runc reports it: FROZEN only counts when this cgroup itself was
   * frozen (freezer.self_freezing), not when an ancestor was.
   */
  async freezerState(): Promise<FreezerState> {
    const dir = this.#dirs['freezer'];
    if (dir === undefined) return 'undefined';
    const state = (await readOptionalCgroupFile(this.#fs, dir, 'freezer.state'))?.trim();
    switch (state) {
      case undefined:
        return 'undefined';
      case 'THAWED':
        return 'thawed';
      case 'FREEZING':
        return 'freezing';
      case 'FROZEN': {
        const self = await readOptionalCgroupFile(this.#fs, dir, 'freezer.self_freezing');
        return self?.trim() === '0' ? 'thawed' : 'frozen';
      }
      default:
        throw cgroupFailed(`unknown freezer.state \`${state}\` in ${dir}`);
    }
  }

  // ---- stats and events --------------------------------------------------

  async oomKillCount(): Promise<number> {
    const dir = this.#dirs['memory'];
    if (dir === undefined) return 0;
    return parseKeyValues(await readCgroupFile(this.#fs, dir, 'memory.oom_control'))['oom_kill'] ?? 0;
  }

  watchOom(signal: AbortSignal, onOom: () => void, options?: WatchOomOptions): void {
    const dir = this.#dirs['memory'];
    if (dir === undefined) return;
    const sample = async (): Promise<{ events: number; underOom: boolean }> => {
      const c = parseKeyValues(await readCgroupFile(this.#fs, dir, 'memory.oom_control'));
      return { events: c['oom_kill'] ?? 0, underOom: c['under_oom'] === 1 };
    };
    pollOom(sample, () => this.exists(), signal, onOom, options);
  }

  async stats(): Promise<CgroupStats> {
    const [cpu, memory, pids, blkio, hugetlb] = await Promise.all([
      this.#cpuStats(), this.#memoryStats(), this.#pidsStats(), this.#blkioStats(), this.#hugetlbStats(),
    ]);
    return { cpu, memory, pids, blkio, hugetlb };
  }

  async #read(dir: string, file: string): Promise<string | undefined> {
    return readOptionalCgroupFile(this.#fs, dir, file);
  }

  async #cpuStats(): Promise<CgroupStats['cpu']> {
    const out: CgroupStats['cpu'] = { usage: { total: 0, kernel: 0, user: 0 }, throttling: { periods: 0, throttledPeriods: 0, throttledTime: 0 } };
    const acct = this.#dirs['cpuacct'];
    if (acct !== undefined) {
      out.usage.total = parseUint((await this.#read(acct, 'cpuacct.usage')) ?? '0');
      const percpu = await this.#read(acct, 'cpuacct.usage_percpu');
      if (percpu !== undefined) out.usage.percpu = parseNumberList(percpu);
      // cpuacct.usage_all: a header line, then `cpu user system` in ns.
      const all = await this.#read(acct, 'cpuacct.usage_all');
      if (all !== undefined) {
        const rows = all.trim().split('\n').slice(1).map((l) => l.trim().split(/\s+/).map(Number));
        out.usage.percpu_user = rows.map((r) => r[1] ?? 0);
        out.usage.percpu_kernel = rows.map((r) => r[2] ?? 0);
      }
      const stat = parseKeyValues((await this.#read(acct, 'cpuacct.stat')) ?? '');
      out.usage.user = (stat['user'] ?? 0) * NS_PER_TICK;
      out.usage.kernel = (stat['system'] ?? 0) * NS_PER_TICK;
    }
    const cpu = this.#dirs['cpu'];
    if (cpu !== undefined) {
      const stat = parseKeyValues((await this.#read(cpu, 'cpu.stat')) ?? '');
      out.throttling = { periods: stat['nr_periods'] ?? 0, throttledPeriods: stat['nr_throttled'] ?? 0, throttledTime: stat['throttled_time'] ?? 0 };
    }
    return out;
  }

  async #memoryStats(): Promise<CgroupStats['memory']> {
    const empty = (): MemoryEntry => ({ limit: 0, usage: 0, max: 0, failcnt: 0 });
    const out: CgroupStats['memory'] = { cache: 0, usage: empty(), swap: empty(), kernel: empty(), kernelTCP: empty(), raw: {} };
    const dir = this.#dirs['memory'];
    if (dir === undefined) return out;
    out.raw = parseKeyValues((await this.#read(dir, 'memory.stat')) ?? '');
    out.cache = out.raw['cache'] ?? 0;
    const entry = async (prefix: string): Promise<MemoryEntry> => {
      const usage = await this.#read(dir, `${prefix}.usage_in_bytes`);
      // memsw and kmem are optional in the kernel.
      if (usage === undefined) return empty();
      return {
        usage: parseUint(usage),
        max: parseUint((await this.#read(dir, `${prefix}.max_usage_in_bytes`)) ?? '0'),
        failcnt: parseUint((await this.#read(dir, `${prefix}.failcnt`)) ?? '0'),
        limit: parseUint((await this.#read(dir, `${prefix}.limit_in_bytes`)) ?? '0'),
      };
    };
    out.usage = await entry('memory');
    out.swap = await entry('memory.memsw');
    out.kernel = await entry('memory.kmem');
    out.kernelTCP = await entry('memory.kmem.tcp');
    return out;
  }

  async #pidsStats(): Promise<CgroupStats['pids']> {
    const dir = this.#dirs['pids'];
    if (dir === undefined) return { current: 0, limit: 0 };
    const max = ((await this.#read(dir, 'pids.max')) ?? 'max').trim();
    return { current: parseUint((await this.#read(dir, 'pids.current')) ?? '0'), limit: max === 'max' ? 0 : parseUint(max) };
  }

  /**
   * The first group of files the kernel offers wins, as in runc: BFQ's
   * (blkio.bfq.*), CFQ's, then the throttling layer's, which every kernel has.
   */
  async #blkioStats(): Promise<CgroupStats['blkio']> {
    const out: CgroupStats['blkio'] = {
      ioServiceBytesRecursive: [], ioServicedRecursive: [], ioQueueRecursive: [], ioServiceTimeRecursive: [],
      ioWaitTimeRecursive: [], ioMergedRecursive: [], ioTimeRecursive: [], sectorsRecursive: [],
    };
    const dir = this.#dirs['blkio'];
    if (dir === undefined) return out;
    type Key = keyof CgroupStats['blkio'];
    const groups: Array<Array<[string, Key]>> = [
      [['blkio.bfq.io_serviced_recursive', 'ioServicedRecursive'], ['blkio.bfq.io_service_bytes_recursive', 'ioServiceBytesRecursive']],
      [
        ['blkio.io_serviced_recursive', 'ioServicedRecursive'], ['blkio.io_service_bytes_recursive', 'ioServiceBytesRecursive'],
        ['blkio.sectors_recursive', 'sectorsRecursive'], ['blkio.io_service_time_recursive', 'ioServiceTimeRecursive'],
        ['blkio.io_wait_time_recursive', 'ioWaitTimeRecursive'], ['blkio.io_merged_recursive', 'ioMergedRecursive'],
        ['blkio.io_queued_recursive', 'ioQueueRecursive'], ['blkio.time_recursive', 'ioTimeRecursive'],
      ],
      [['blkio.throttle.io_serviced_recursive', 'ioServicedRecursive'], ['blkio.throttle.io_service_bytes_recursive', 'ioServiceBytesRecursive']],
      [['blkio.throttle.io_serviced', 'ioServicedRecursive'], ['blkio.throttle.io_service_bytes', 'ioServiceBytesRecursive']],
    ];
    for (const group of groups) {
      const first = await this.#read(dir, group[0]![0]);
      if (first === undefined) continue;
      for (const [file, key] of group) out[key] = parseBlkioStat((await this.#read(dir, file)) ?? '');
      return out;
    }
    return out;
  }

  async #hugetlbStats(): Promise<CgroupStats['hugetlb']> {
    const out: CgroupStats['hugetlb'] = {};
    const dir = this.#dirs['hugetlb'];
    if (dir === undefined) return out;
    for (const name of await this.#fs.readFileNames(dir)) {
      const m = /^hugetlb\.([^.]+)\.usage_in_bytes$/.exec(name);
      if (!m) continue;
      const size = m[1]!;
      out[size] = {
        usage: parseUint((await this.#read(dir, name)) ?? '0'),
        max: parseUint((await this.#read(dir, `hugetlb.${size}.max_usage_in_bytes`)) ?? '0'),
        failcnt: parseUint((await this.#read(dir, `hugetlb.${size}.failcnt`)) ?? '0'),
      };
    }
    return out;
  }
}

/**
 * The mount point of the cpuset hierarchy that holds `dir`: the highest
 * ancestor still on cgroupfs. Levels that do not exist yet count as cgroupfs.
 */
function cpusetMountpoint(dir: string): string {
  let current = dir;
  for (;;) {
    const parent = dirname(current);
    if (parent === current) return current;
    let type: number | undefined;
    try {
      type = statfsSync(parent).type;
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw cgroupFailed(`cannot inspect ${parent}: ${String(err)}`, err);
    }
    if (type !== undefined && type !== CGROUP_SUPER_MAGIC) return current;
    current = parent;
  }
}

/** `8:0 Read 1024` lines (and the trailing `Total N`) into entries. */
export function parseBlkioStat(text: string): BlkioEntry[] {
  const out: BlkioEntry[] = [];
  for (const line of text.split('\n')) {
    const fields = line.trim().split(/[\s:]+/).filter((f) => f !== '');
    if (fields.length < 3) continue; // blank or `Total N`
    const [major, minor] = [Number(fields[0]), Number(fields[1])];
    if (!Number.isInteger(major) || !Number.isInteger(minor)) continue;
    if (fields.length >= 4) out.push({ major, minor, op: fields[2]!, value: parseUint(fields[3]!) });
    else out.push({ major, minor, op: '', value: parseUint(fields[2]!) });
  }
  return out;
}

/** Page sizes become part of a file name: accept only the kernel's forms. */
export function checkPageSize(pageSize: string, index: number): void {
  if (!/^\d+[KMG]B$/.test(pageSize)) {
    throw new BerthError('CONFIG_INVALID', `hugepage size \`${pageSize}\` is not valid; use the kernel's form such as 2MB or 1GB`, {
      field: `linux.resources.hugepageLimits[${index}].pageSize`,
    });
  }
}

export function rdmaLine(device: string, limits: { hcaHandles?: number; hcaObjects?: number }): string {
  if (!/^[^\s/]+$/.test(device)) {
    throw new BerthError('CONFIG_INVALID', `rdma device name \`${device}\` is not valid`, { field: `linux.resources.rdma.${device}` });
  }
  let line = device;
  if (limits.hcaHandles !== undefined) line += ` hca_handle=${limits.hcaHandles}`;
  if (limits.hcaObjects !== undefined) line += ` hca_object=${limits.hcaObjects}`;
  return line;
}
