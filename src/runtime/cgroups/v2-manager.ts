/**
 * The cgroup v2 (unified hierarchy) driver. One directory holds every
 * controller's files; a controller's files appear in a cgroup only once its
 * parent lists the controller in cgroup.subtree_control, and that in turn
 * needs the grandparent's, up to the root. Values are converted from the
 * v1-shaped OCI fields as runc's libcontainer/cgroups/fs2 does; see the
 * kernel's Documentation/admin-guide/cgroup-v2.rst for the file formats.
 */
import { posix } from 'node:path';
import { BerthError } from '../../errors/index.js';
import {
  cgroupFailed, cgroupFileExists, cgroupUnsupported, errnoCode, nodeCgroupFs, parseKeyValues, parseUint,
  readCgroupFile, readOptionalCgroupFile, writeCgroupFile, UNLIMITED, type CgroupFs,
} from './cgroup-fs.js';
import { collectPids, mkdirLevels, pollOom, removeAll, waitFor, writePid } from './common.js';
import { blkioWeightToIoWeight, cpuSharesToWeight, limitToV2, memorySwapToV2 } from './convert.js';
import { classifyDeviceRules, normalizeDeviceRule } from './devices.js';
import type {
  BlkioEntry, CgroupManager, CgroupManagerOptions, CgroupSelfJoin, CgroupStats, FreezerState, MemoryEntry, V2DevicePolicy, WatchOomOptions,
} from './manager.js';
import type { LinuxResources, LinuxThrottleDevice } from './resources.js';
import { checkPageSize, rdmaLine } from './v1-manager.js';

export interface CgroupV2ManagerInit extends CgroupManagerOptions {
  /** The unified hierarchy's mount point, e.g. /sys/fs/cgroup. */
  root: string;
  /** The cgroup path below the root, e.g. /berth/abc. */
  path: string;
  fs?: CgroupFs;
}

type Mode = 'create' | 'update';

/** The default CFS period, Documentation/admin-guide/cgroup-v2.rst (cpu.max). */
const DEFAULT_CPU_PERIOD_US = 100000;

export class CgroupV2Manager implements CgroupManager {
  readonly version = 2 as const;
  readonly path: string;
  readonly #root: string;
  readonly #dir: string;
  readonly #fs: CgroupFs;
  readonly #warn: (message: string) => void;
  readonly #freezeTimeoutMs: number;
  readonly #devicePolicy: V2DevicePolicy;

  constructor(init: CgroupV2ManagerInit) {
    this.#root = init.root;
    this.path = posix.join('/', init.path);
    if (this.path === '/') throw cgroupFailed('refusing to manage the root cgroup');
    this.#dir = posix.join(init.root, this.path);
    this.#fs = init.fs ?? nodeCgroupFs;
    this.#warn = init.onWarning ?? (() => {});
    this.#freezeTimeoutMs = init.freezeTimeoutMs ?? 10_000;
    this.#devicePolicy = init.v2DevicePolicy ?? 'reject';
  }

  paths(): Record<string, string> {
    return { '': this.#dir };
  }

  async create(resources: LinuxResources = {}): Promise<void> {
    this.#precheck(resources);
    const created: string[] = [];
    try {
      await this.#makePath(resources, created);
      await this.#checkControllers(resources);
      await this.#apply(resources, 'create');
    } catch (err) {
      for (const dir of created.reverse()) await this.#fs.rmdir(dir).catch(() => {});
      throw err;
    }
  }

  async update(resources: LinuxResources): Promise<void> {
    this.#precheck(resources);
    await this.#checkControllers(resources);
    await this.#apply(resources, 'update');
  }

  async addProcess(pid: number, dirs?: readonly string[]): Promise<void> {
    if (dirs && !dirs.includes(this.#dir)) return;
    await writePid(this.#fs, this.#dir, pid);
  }

  selfJoin({ cloneInto }: { cloneInto: boolean }): CgroupSelfJoin {
    return cloneInto ? { tasks: [], into: this.#dir, rest: [] } : { tasks: [], rest: [this.#dir] };
  }

  async pids(): Promise<number[]> {
    return collectPids(this.#fs, this.#dir);
  }

  async exists(): Promise<boolean> {
    return this.#fs.isDirectory(this.#dir);
  }

  async destroy(): Promise<void> {
    await removeAll(this.#fs, [this.#dir]);
  }

  // ---- directories and controllers ---------------------------------------

  /**
   * Create the path level by level from the root, enabling every controller
   * each level offers in its cgroup.subtree_control before descending, as
   * runc's CreateCgroupPath does: enabling all, not just the ones this
   * config needs, lets later updates and stats use any of them. A controller
   * that cannot be enabled is only an error if the config needs it
   * (#checkControllers). The directories it makes are pushed to `created`
   * as it goes, so a failure half way can still be undone.
   */
  async #makePath(r: LinuxResources, created: string[]): Promise<void> {
    const rel = posix.relative(this.#root, this.#dir).split('/');
    const enable = async (dir: string): Promise<void> => {
      const available = (await readCgroupFile(this.#fs, dir, 'cgroup.controllers')).trim().split(/\s+/).filter((c) => c !== '');
      if (available.length === 0) return;
      const enabled = new Set((await readCgroupFile(this.#fs, dir, 'cgroup.subtree_control')).trim().split(/\s+/).map((c) => c.replace(/^\+/, '')));
      const missing = available.filter((c) => !enabled.has(c));
      if (missing.length === 0) return;
      try {
        await writeCgroupFile(this.#fs, dir, 'cgroup.subtree_control', missing.map((c) => `+${c}`).join(' '));
      } catch {
        // One refusal fails the whole write (a threaded subtree refuses
        // domain controllers, for instance): enable what can be, one by one.
        for (const c of missing) await writeCgroupFile(this.#fs, dir, 'cgroup.subtree_control', `+${c}`).catch(() => {});
      }
    };
    await enable(this.#root);
    let current = this.#root;
    for (const part of rel) {
      const parent = current;
      current = posix.join(current, part);
      await mkdirLevels(this.#fs, parent, current, created);
      await this.#checkType(current, r);
      if (current !== this.#dir) await enable(current);
    }
  }

  /**
   * A cgroup in a threaded subtree, or in the invalid state the kernel gives
   * a domain cgroup that got processes next to children, cannot host the
   * memory, io or hugetlb controllers (cgroups(7), "thread mode").
   */
  async #checkType(dir: string, r: LinuxResources): Promise<void> {
    const type = (await readOptionalCgroupFile(this.#fs, dir, 'cgroup.type'))?.trim();
    if (type === undefined || type === 'domain') return;
    if (needsDomainControllers(r)) {
      throw cgroupFailed(`cannot use the memory, io or hugetlb controllers under ${dir}: it is a \`${type}\` cgroup; place the container outside threaded or mixed subtrees`);
    }
    if (type === 'domain invalid') await writeCgroupFile(this.#fs, dir, 'cgroup.type', 'threaded');
  }

  /** Every controller the config needs must be usable in the container's cgroup. */
  async #checkControllers(r: LinuxResources): Promise<void> {
    const needed = neededControllers(r);
    if (needed.size === 0) return;
    const available = new Set((await readCgroupFile(this.#fs, this.#dir, 'cgroup.controllers')).trim().split(/\s+/));
    for (const [controller, field] of needed) {
      if (!available.has(controller)) {
        throw cgroupUnsupported(
          `linux.resources.${field} needs the \`${controller}\` controller, which is not enabled for ${this.#dir} (its cgroup.controllers lists: ${[...available].join(' ') || 'none'}); is it enabled in the parent's cgroup.subtree_control?`,
        );
      }
    }
  }

  // ---- resources ---------------------------------------------------------

  /** Refuse what cgroup v2 cannot do before anything is created or written. */
  #precheck(r: LinuxResources): void {
    if ((r.cpu?.realtimeRuntime ?? 0) !== 0 || (r.cpu?.realtimePeriod ?? 0) !== 0) {
      throw cgroupUnsupported('linux.resources.cpu.realtimeRuntime and realtimePeriod need cgroup v1: cgroup v2 has no real-time group scheduling');
    }
    if (r.network?.classID !== undefined || (r.network?.priorities ?? []).length > 0) {
      throw cgroupUnsupported('linux.resources.network needs the net_cls and net_prio controllers, which cgroup v2 does not have; use eBPF or tc classification instead');
    }
    for (const key of Object.keys(r.unified ?? {})) {
      if (key.includes('/') || key === '.' || key === '..' || key === '') {
        throw new BerthError('CONFIG_INVALID', `unified key \`${key}\` is not a cgroup file name`, { field: `linux.resources.unified.${key}` });
      }
      if (key.startsWith('cgroup.')) {
        throw new BerthError('CONFIG_INVALID', `unified key \`${key}\` is a cgroup core file; only controller files can be set`, {
          field: `linux.resources.unified.${key}`,
        });
      }
    }
    for (const [i, l] of (r.hugepageLimits ?? []).entries()) checkPageSize(l.pageSize, i);
    this.#checkDevices(r);
  }

  /** See V2DevicePolicy for why restrictive device rules are refused by default. */
  #checkDevices(r: LinuxResources): void {
    if (r.devices === undefined || r.devices.length === 0) return;
    const kind = classifyDeviceRules(r.devices.map(normalizeDeviceRule));
    if (kind === 'allow-all' || this.#devicePolicy === 'external') return;
    if (kind === 'standard' && this.#devicePolicy === 'warn-standard') {
      this.#warn(`linux.resources.devices are not enforced for ${this.#dir}: cgroup v2 device control needs an eBPF program, which this cgroup manager cannot load; the container can open any device node it can create`);
      return;
    }
    throw cgroupUnsupported(
      'linux.resources.devices cannot be enforced by the cgroup v2 manager alone: device control there is an eBPF program, which only berth-init can load (berth-runtime create and update attach it); run privileged (allow all devices) or go through berth-runtime',
    );
  }

  async #apply(r: LinuxResources, mode: Mode): Promise<void> {
    await this.#setCpuset(r);
    await this.#setMemory(r, mode);
    await this.#setCpu(r);
    await this.#setPids(r);
    await this.#setIo(r);
    await this.#setHugetlb(r);
    await this.#setRdma(r);
    await this.#setUnified(r);
  }

  async #write(file: string, value: string): Promise<void> {
    await writeCgroupFile(this.#fs, this.#dir, file, value);
  }

  async #setCpuset(r: LinuxResources): Promise<void> {
    if ((r.cpu?.cpus ?? '') !== '') await this.#write('cpuset.cpus', r.cpu!.cpus!);
    if ((r.cpu?.mems ?? '') !== '') await this.#write('cpuset.mems', r.cpu!.mems!);
  }

  async #setMemory(r: LinuxResources, mode: Mode): Promise<void> {
    const m = r.memory;
    if (m === undefined) return;
    if ((m.kernel ?? 0) !== 0 || (m.kernelTCP ?? 0) !== 0) {
      this.#warn('linux.resources.memory.kernel and kernelTCP are ignored: cgroup v2 has no separate kernel memory limit');
    }
    if (m.swappiness !== undefined && m.swappiness !== -1) {
      this.#warn('linux.resources.memory.swappiness is ignored: cgroup v2 has no per-cgroup swappiness');
    }
    if (m.disableOOMKiller === true) {
      this.#warn('linux.resources.memory.disableOOMKiller is ignored: cgroup v2 cannot disable the OOM killer for a cgroup');
    }
    const limit = m.limit ?? 0;
    const swap = m.swap ?? 0;
    const reservation = m.reservation ?? 0;
    if (limit === 0 && swap === 0 && reservation === 0) return;
    if (mode === 'update' && m.checkBeforeUpdate === true && limit > 0) {
      const usage = parseUint(await readCgroupFile(this.#fs, this.#dir, 'memory.current'));
      if (usage > limit) {
        throw cgroupFailed(`cannot lower the memory limit of ${this.#dir} to ${limit} bytes: the cgroup already uses ${usage} bytes (checkBeforeUpdate is set)`);
      }
    }
    const v2swap = memorySwapToV2(swap, limit);
    // swap.max = 0 when memory and memory+swap are equal: no swap at all.
    const swapValue = v2swap === 0 ? (swap > 0 ? '0' : undefined) : limitToV2(v2swap);
    if (swapValue !== undefined) {
      try {
        await this.#write('memory.swap.max', swapValue);
      } catch (err) {
        // Without swap accounting the file is absent; "no swap" and "any
        // swap" are then what the kernel does anyway.
        const absent = err instanceof BerthError && err.code === 'CGROUP_UNSUPPORTED';
        if (!absent || (swapValue !== 'max' && swapValue !== '0')) throw err;
      }
    }
    const max = limitToV2(limit);
    if (max !== undefined) await this.#write('memory.max', max);
    const low = limitToV2(reservation);
    if (low !== undefined) await this.#write('memory.low', low);
  }

  async #setCpu(r: LinuxResources): Promise<void> {
    const c = r.cpu;
    if (c === undefined) return;
    const weight = cpuSharesToWeight(c.shares ?? 0);
    if (weight !== 0) await this.#write('cpu.weight', String(weight));
    const quota = c.quota ?? 0;
    const period = c.period ?? 0;
    if (quota !== 0 || period !== 0) {
      // cpu.max holds both; keep the half the config leaves out.
      const [curQuota, curPeriod] = ((await readCgroupFile(this.#fs, this.#dir, 'cpu.max')).trim().split(/\s+/));
      const q = quota > 0 ? String(quota) : quota < 0 ? 'max' : (curQuota ?? 'max');
      const p = period !== 0 ? String(period) : (curPeriod ?? String(DEFAULT_CPU_PERIOD_US));
      await this.#write('cpu.max', `${q} ${p}`);
    }
    if (c.burst !== undefined) await this.#write('cpu.max.burst', String(c.burst));
    if (c.idle !== undefined) await this.#write('cpu.idle', String(c.idle));
  }

  async #setPids(r: LinuxResources): Promise<void> {
    const limit = r.pids?.limit;
    if (limit === undefined) return;
    await this.#write('pids.max', limit > 0 ? String(limit) : 'max');
  }

  /**
   * blkio weight → io.bfq.weight, which takes the v1 range [10, 1000] as is;
   * without BFQ, io.weight with the range converted. Throttles → io.max
   * lines; a rate of 0 removes the limit, as it does in v1.
   */
  async #setIo(r: LinuxResources): Promise<void> {
    const b = r.blockIO;
    if (b === undefined) return;
    const weight = b.weight ?? 0;
    const devices = b.weightDevice ?? [];
    if ((b.leafWeight ?? 0) !== 0 || devices.some((d) => d.leafWeight !== undefined)) {
      this.#warn('linux.resources.blockIO leafWeight is ignored: cgroup v2 has no leaf weights');
    }
    const throttles: Array<[string, LinuxThrottleDevice[] | undefined]> = [
      ['rbps', b.throttleReadBpsDevice], ['wbps', b.throttleWriteBpsDevice],
      ['riops', b.throttleReadIOPSDevice], ['wiops', b.throttleWriteIOPSDevice],
    ];
    const anyWeight = weight !== 0 || devices.some((d) => d.weight !== undefined);
    if (!anyWeight && throttles.every(([, l]) => (l ?? []).length === 0)) return;
    if (anyWeight) {
      const bfq = await cgroupFileExists(this.#fs, this.#dir, 'io.bfq.weight');
      const file = bfq ? 'io.bfq.weight' : 'io.weight';
      const value = (w: number): number => (bfq ? w : blkioWeightToIoWeight(w));
      if (weight !== 0) await this.#write(file, String(value(weight)));
      for (const d of devices) {
        if (d.weight !== undefined) await this.#write(file, `${d.major}:${d.minor} ${value(d.weight)}`);
      }
    }
    for (const [key, list] of throttles) {
      for (const t of list ?? []) await this.#write('io.max', `${t.major}:${t.minor} ${key}=${t.rate === 0 ? 'max' : t.rate}`);
    }
  }

  async #setHugetlb(r: LinuxResources): Promise<void> {
    for (const l of r.hugepageLimits ?? []) {
      await this.#write(`hugetlb.${l.pageSize}.max`, String(l.limit));
      // Since Linux 5.7 reservations are limited separately; limit them
      // alike, or a process could reserve pages it then cannot fault in.
      if (await cgroupFileExists(this.#fs, this.#dir, `hugetlb.${l.pageSize}.rsvd.max`)) {
        await this.#write(`hugetlb.${l.pageSize}.rsvd.max`, String(l.limit));
      }
    }
  }

  async #setRdma(r: LinuxResources): Promise<void> {
    for (const [device, limits] of Object.entries(r.rdma ?? {})) await this.#write('rdma.max', rdmaLine(device, limits));
  }

  /** Written last and verbatim, so they override the converted values (runc's order). */
  async #setUnified(r: LinuxResources): Promise<void> {
    for (const [key, value] of Object.entries(r.unified ?? {})) await this.#write(key, value);
  }

  // ---- freezer -----------------------------------------------------------

  async #setFrozen(frozen: boolean): Promise<void> {
    const want = frozen ? '1' : '0';
    try {
      await this.#write('cgroup.freeze', want);
    } catch (err) {
      if (err instanceof BerthError && err.code === 'CGROUP_UNSUPPORTED') {
        throw cgroupUnsupported(`cannot ${frozen ? 'freeze' : 'thaw'} ${this.#dir}: the kernel has no cgroup.freeze (Linux 5.2 or later is needed)`, err);
      }
      throw err;
    }
    // Writing cgroup.freeze only starts the change; cgroup.events says
    // `frozen 1` once every task has stopped.
    const done = await waitFor(async () => (await this.#eventsFrozen()) === frozen, this.#freezeTimeoutMs);
    if (!done) {
      if (frozen) await this.#write('cgroup.freeze', '0').catch(() => {});
      throw cgroupFailed(`cannot ${frozen ? 'freeze' : 'thaw'} ${this.#dir}: cgroup.events did not report frozen ${want} within ${this.#freezeTimeoutMs} ms`);
    }
  }

  async #eventsFrozen(): Promise<boolean> {
    return parseKeyValues(await readCgroupFile(this.#fs, this.#dir, 'cgroup.events'))['frozen'] === 1;
  }

  freeze(): Promise<void> {
    return this.#setFrozen(true);
  }

  thaw(): Promise<void> {
    return this.#setFrozen(false);
  }

  async freezerState(): Promise<FreezerState> {
    const want = await readOptionalCgroupFile(this.#fs, this.#dir, 'cgroup.freeze');
    if (want === undefined) return 'undefined';
    if (want.trim() === '0') return 'thawed';
    return (await this.#eventsFrozen()) ? 'frozen' : 'freezing';
  }

  // ---- stats and events --------------------------------------------------

  async oomKillCount(): Promise<number> {
    const events = await readOptionalCgroupFile(this.#fs, this.#dir, 'memory.events');
    return events === undefined ? 0 : (parseKeyValues(events)['oom_kill'] ?? 0);
  }

  /** Fires on a rise of `oom` (the limit was hit and reclaim failed) or `oom_kill` in memory.events. */
  watchOom(signal: AbortSignal, onOom: () => void, options?: WatchOomOptions): void {
    const sample = async (): Promise<{ events: number; underOom: boolean }> => {
      const e = parseKeyValues((await readCgroupFile(this.#fs, this.#dir, 'memory.events')));
      return { events: (e['oom'] ?? 0) + (e['oom_kill'] ?? 0), underOom: false };
    };
    pollOom(sample, () => this.exists(), signal, onOom, options);
  }

  async #read(file: string): Promise<string | undefined> {
    return readOptionalCgroupFile(this.#fs, this.#dir, file);
  }

  async stats(): Promise<CgroupStats> {
    const [cpu, memory, pids, blkio, hugetlb] = await Promise.all([
      this.#cpuStats(), this.#memoryStats(), this.#pidsStats(), this.#ioStats(), this.#hugetlbStats(),
    ]);
    return { cpu, memory, pids, blkio, hugetlb };
  }

  /** cpu.stat is in microseconds; runc reports nanoseconds. */
  async #cpuStats(): Promise<CgroupStats['cpu']> {
    const s = parseKeyValues((await this.#read('cpu.stat')) ?? '');
    return {
      usage: { total: (s['usage_usec'] ?? 0) * 1000, user: (s['user_usec'] ?? 0) * 1000, kernel: (s['system_usec'] ?? 0) * 1000 },
      throttling: { periods: s['nr_periods'] ?? 0, throttledPeriods: s['nr_throttled'] ?? 0, throttledTime: (s['throttled_usec'] ?? 0) * 1000 },
    };
  }

  async #memoryStats(): Promise<CgroupStats['memory']> {
    const empty = (): MemoryEntry => ({ limit: 0, usage: 0, max: 0, failcnt: 0 });
    const raw = parseKeyValues((await this.#read('memory.stat')) ?? '');
    const events = parseKeyValues((await this.#read('memory.events')) ?? '');
    const usage: MemoryEntry = {
      usage: parseUint((await this.#read('memory.current')) ?? '0'),
      limit: parseUint((await this.#read('memory.max')) ?? 'max'),
      max: parseUint((await this.#read('memory.peak')) ?? '0'),
      failcnt: events['max'] ?? 0,
    };
    // v1 reports swap as memory+swap; so does runc on v2, and so do we.
    const swap = empty();
    const swapCurrent = await this.#read('memory.swap.current');
    if (swapCurrent !== undefined) {
      const swapMax = parseUint((await this.#read('memory.swap.max')) ?? 'max');
      swap.usage = parseUint(swapCurrent) + usage.usage;
      swap.limit = swapMax === UNLIMITED || usage.limit === UNLIMITED ? UNLIMITED : swapMax + usage.limit;
      swap.failcnt = parseKeyValues((await this.#read('memory.swap.events')) ?? '')['max'] ?? 0;
    }
    return { cache: raw['file'] ?? 0, usage, swap, kernel: empty(), kernelTCP: empty(), raw };
  }

  async #pidsStats(): Promise<CgroupStats['pids']> {
    const max = ((await this.#read('pids.max')) ?? 'max').trim();
    return { current: parseUint((await this.#read('pids.current')) ?? '0'), limit: max === 'max' ? 0 : parseUint(max) };
  }

  /** io.stat `MAJ:MIN rbytes=.. wbytes=.. rios=.. wios=..` mapped to the v1 tables, as runc does. */
  async #ioStats(): Promise<CgroupStats['blkio']> {
    const bytes: BlkioEntry[] = [];
    const ios: BlkioEntry[] = [];
    for (const line of ((await this.#read('io.stat')) ?? '').split('\n')) {
      const [dev, ...pairs] = line.trim().split(/\s+/);
      const m = /^(\d+):(\d+)$/.exec(dev ?? '');
      if (!m) continue;
      const major = Number(m[1]);
      const minor = Number(m[2]);
      for (const pair of pairs) {
        const [k, v] = pair.split('=');
        if (v === undefined) continue;
        const value = parseUint(v);
        if (k === 'rbytes') bytes.push({ major, minor, op: 'Read', value });
        else if (k === 'wbytes') bytes.push({ major, minor, op: 'Write', value });
        else if (k === 'rios') ios.push({ major, minor, op: 'Read', value });
        else if (k === 'wios') ios.push({ major, minor, op: 'Write', value });
      }
    }
    return {
      ioServiceBytesRecursive: bytes, ioServicedRecursive: ios, ioQueueRecursive: [], ioServiceTimeRecursive: [],
      ioWaitTimeRecursive: [], ioMergedRecursive: [], ioTimeRecursive: [], sectorsRecursive: [],
    };
  }

  async #hugetlbStats(): Promise<CgroupStats['hugetlb']> {
    const out: CgroupStats['hugetlb'] = {};
    let names: string[];
    try {
      names = await this.#fs.readFileNames(this.#dir);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return out;
      throw err;
    }
    for (const name of names) {
      const m = /^hugetlb\.([^.]+)\.current$/.exec(name);
      if (!m) continue;
      const size = m[1]!;
      out[size] = {
        usage: parseUint((await this.#read(name)) ?? '0'),
        max: parseUint((await this.#read(`hugetlb.${size}.max`)) ?? 'max'),
        failcnt: parseKeyValues((await this.#read(`hugetlb.${size}.events`)) ?? '')['max'] ?? 0,
      };
    }
    return out;
  }
}

function needsDomainControllers(r: LinuxResources): boolean {
  for (const controller of neededControllers(r).keys()) if (['memory', 'io', 'hugetlb'].includes(controller)) return true;
  return false;
}

/** Controller → the config field that needs it. */
function neededControllers(r: LinuxResources): Map<string, string> {
  const out = new Map<string, string>();
  const m = r.memory;
  if (m !== undefined && ((m.limit ?? 0) !== 0 || (m.swap ?? 0) !== 0 || (m.reservation ?? 0) !== 0)) out.set('memory', 'memory');
  const c = r.cpu;
  if (c !== undefined && ((c.shares ?? 0) !== 0 || (c.quota ?? 0) !== 0 || (c.period ?? 0) !== 0 || c.burst !== undefined || c.idle !== undefined)) {
    out.set('cpu', 'cpu');
  }
  if (c !== undefined && ((c.cpus ?? '') !== '' || (c.mems ?? '') !== '')) out.set('cpuset', 'cpu.cpus');
  if (r.pids?.limit !== undefined) out.set('pids', 'pids');
  const b = r.blockIO;
  if (b !== undefined && ((b.weight ?? 0) !== 0 || (b.weightDevice ?? []).some((d) => d.weight !== undefined)
    || [b.throttleReadBpsDevice, b.throttleWriteBpsDevice, b.throttleReadIOPSDevice, b.throttleWriteIOPSDevice].some((l) => (l ?? []).length > 0))) {
    out.set('io', 'blockIO');
  }
  if ((r.hugepageLimits ?? []).length > 0) out.set('hugetlb', 'hugepageLimits');
  if (Object.keys(r.rdma ?? {}).length > 0) out.set('rdma', 'rdma');
  for (const key of Object.keys(r.unified ?? {})) {
    const controller = key.slice(0, key.indexOf('.'));
    if (controller !== '' && !out.has(controller)) out.set(controller, `unified.${key}`);
  }
  return out;
}
