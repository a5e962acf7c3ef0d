/**
 * The v1 driver against the real kernel: these tests create cgroups under
 * /sys/fs/cgroup/<controller>/, move child processes into them and read the
 * kernel's files back. They need root and a cgroup v1 (or hybrid) host, and
 * skip otherwise. Every test kills what it spawned and removes what it made,
 * also when it fails (t.after).
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isBerthError } from '../../errors/index.js';
import { nodeCgroupFs, type CgroupFs } from './cgroup-fs.js';
import { createCgroupManager, type CreateCgroupManagerOptions } from './create-cgroup-manager.js';
import type { CgroupManager } from './manager.js';
import { detectCgroupVersion } from './paths.js';

function v1Available(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root';
  try {
    if (detectCgroupVersion('/sys/fs/cgroup') !== 1) return 'the host is not cgroup v1';
  } catch {
    return 'no cgroupfs at /sys/fs/cgroup';
  }
  for (const c of ['memory', 'cpu', 'pids', 'freezer', 'devices', 'cpuset']) {
    if (!existsSync(`/sys/fs/cgroup/${c}/cgroup.procs`)) return `no v1 ${c} hierarchy at /sys/fs/cgroup/${c}`;
  }
  return undefined;
}
const skip = v1Available();

let counter = 0;
const uniqueId = (): string => `berth-test-${process.pid}-${Date.now().toString(36)}-${counter++}`;

/** Remove a cgroup tree with plain rmdir, deepest first; the last line of cleanup. */
function forceRemove(dir: string): void {
  if (!existsSync(dir)) return;
  for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) forceRemove(join(dir, e.name));
  try {
    rmdirSync(dir);
  } catch {
    // reported by the leak check below
  }
}

interface Harness {
  make(o?: Partial<CreateCgroupManagerOptions>): CgroupManager;
  spawnSleep(): ChildProcess;
  /** `sh -c script` with stdin and stdout piped. */
  spawnShell(script: string): ChildProcess;
  writes: Array<{ path: string; data: string }>;
}

function harness(t: TestContext): Harness {
  const managers: CgroupManager[] = [];
  const children: ChildProcess[] = [];
  const writes: Array<{ path: string; data: string }> = [];
  const recording: CgroupFs = {
    ...nodeCgroupFs,
    writeFile: async (path, data) => {
      writes.push({ path, data });
      await nodeCgroupFs.writeFile(path, data);
    },
  };
  t.after(async () => {
    for (const cg of managers) {
      // A frozen v1 task does not die from SIGKILL until thawed.
      await cg.thaw().catch(() => {});
    }
    for (const child of children) {
      if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
        const gone = new Promise((resolve) => child.once('exit', resolve));
        try {
          process.kill(child.pid, 'SIGKILL');
        } catch {
          // already gone
        }
        await gone;
      }
    }
    const dirs = managers.flatMap((cg) => Object.values(cg.paths()));
    for (const cg of managers) await cg.destroy().catch(() => {});
    for (const dir of dirs) forceRemove(dir);
    const leaked = dirs.filter((d) => existsSync(d));
    assert.deepEqual(leaked, [], 'cgroup directories leaked');
  });
  return {
    writes,
    make(o = {}) {
      const id = o.id ?? uniqueId();
      const cg = createCgroupManager({ id, cgroupsPath: `/${id}`, fs: recording, ...o });
      managers.push(cg);
      return cg;
    },
    spawnSleep() {
      const child = spawn('sleep', ['1000'], { stdio: 'ignore' });
      children.push(child);
      return child;
    },
    spawnShell(script) {
      const child = spawn('sh', ['-c', script], { stdio: ['pipe', 'pipe', 'ignore'] });
      children.push(child);
      return child;
    },
  };
}

const read = (dir: string | undefined, file: string): string => readFileSync(join(dir ?? '/nonexistent', file), 'utf8').trim();

function procState(pid: number): string {
  return /^State:\s+(\S)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? '?';
}

/** Collect a child's stdout until it has `lines` lines or exits. */
function output(child: ChildProcess, lines = 1): Promise<string> {
  return new Promise((resolve) => {
    let buf = '';
    const done = (): void => resolve(buf.trim());
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      if (buf.split('\n').length > lines) done();
    });
    // 'close', not 'exit': 'exit' can come before the last stdout data is read.
    child.once('close', done);
  });
}

function exited(child: ChildProcess): Promise<NodeJS.Signals | number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.signalCode ?? child.exitCode);
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve(signal ?? code)));
}

test('v1 create makes the cgroup in every hierarchy and the kernel shows the limits', { skip }, async (t) => {
  const h = harness(t);
  const cg = h.make();
  await cg.create({
    memory: { limit: 64 << 20, swap: 128 << 20, reservation: 32 << 20, swappiness: 10, disableOOMKiller: false, useHierarchy: true },
    cpu: { shares: 512, quota: 50000, period: 100000, burst: 1000, cpus: '0', mems: '0' },
    pids: { limit: 42 },
    blockIO: { weight: 300 },
    devices: [{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' }, { allow: true, type: 'c', major: 136, access: 'rw' }],
  });
  const p = cg.paths();
  for (const key of ['cpu', 'cpuacct', 'cpuset', 'memory', 'devices', 'freezer', 'blkio', 'pids', 'name=systemd']) {
    assert.ok(p[key] !== undefined && statSync(p[key]).isDirectory(), `${key} directory exists`);
  }
  if (existsSync('/sys/fs/cgroup/unified/cgroup.procs')) assert.ok(existsSync(p['']!), 'the hybrid unified hierarchy has the cgroup too');
  assert.equal(read(p['memory'], 'memory.limit_in_bytes'), String(64 << 20));
  assert.equal(read(p['memory'], 'memory.memsw.limit_in_bytes'), String(128 << 20));
  assert.equal(read(p['memory'], 'memory.soft_limit_in_bytes'), String(32 << 20));
  assert.equal(read(p['memory'], 'memory.swappiness'), '10');
  assert.equal(read(p['cpu'], 'cpu.shares'), '512');
  assert.equal(read(p['cpu'], 'cpu.cfs_quota_us'), '50000');
  assert.equal(read(p['cpu'], 'cpu.cfs_period_us'), '100000');
  assert.equal(read(p['cpu'], 'cpu.cfs_burst_us'), '1000');
  assert.equal(read(p['cpuset'], 'cpuset.cpus'), '0');
  assert.equal(read(p['pids'], 'pids.max'), '42');
  assert.equal(read(p['blkio'], 'blkio.bfq.weight'), '300', 'BFQ kernels take the weight in blkio.bfq.weight');
  assert.deepEqual(read(p['devices'], 'devices.list').split('\n').sort(), ['c 136:* rw', 'c 1:3 rwm']);
  assert.equal(await cg.exists(), true);
  assert.equal(h.writes.some((w) => w.path.endsWith('memory.use_hierarchy')), false, 'use_hierarchy already 1 is not written');

  await cg.create({ pids: { limit: 43 } });
  assert.equal(read(p['pids'], 'pids.max'), '43', 'create is idempotent');

  await cg.destroy();
  for (const dir of Object.values(p)) assert.equal(existsSync(dir), false, `${dir} removed`);
  assert.equal(await cg.exists(), false);
  await cg.destroy(); // idempotent
});

test('v1 memory and swap are written in the order the kernel accepts, both ways', { skip }, async (t) => {
  const h = harness(t);
  const cg = h.make();
  const dir = cg.paths()['memory'];
  await cg.create({ memory: { limit: 64 << 20, swap: 128 << 20 } });
  h.writes.length = 0;
  await cg.update({ memory: { limit: 256 << 20, swap: 512 << 20 } });
  assert.deepEqual(h.writes.map((w) => w.path.split('/').pop()), ['memory.memsw.limit_in_bytes', 'memory.limit_in_bytes'], 'raising: memsw first');
  h.writes.length = 0;
  await cg.update({ memory: { limit: 32 << 20, swap: 48 << 20 } });
  assert.deepEqual(h.writes.map((w) => w.path.split('/').pop()), ['memory.limit_in_bytes', 'memory.memsw.limit_in_bytes'], 'lowering: limit first');
  assert.equal(read(dir, 'memory.limit_in_bytes'), String(32 << 20));
  assert.equal(read(dir, 'memory.memsw.limit_in_bytes'), String(48 << 20));
  await cg.update({ memory: { limit: -1 } });
  assert.equal(read(dir, 'memory.limit_in_bytes'), read(dir, 'memory.memsw.limit_in_bytes'), 'limit -1 lifts memory+swap too');
  assert.ok(Number(read(dir, 'memory.limit_in_bytes')) > 2 ** 62);
});

test('v1 addProcess puts a process in every hierarchy; pids, freeze and thaw act on it', { skip }, async (t) => {
  const h = harness(t);
  const cg = h.make();
  await cg.create();
  const child = h.spawnSleep();
  const pid = child.pid!;
  await cg.addProcess(pid);
  const own = readFileSync(`/proc/${pid}/cgroup`, 'utf8');
  for (const c of ['memory', 'pids', 'freezer', 'devices', 'cpu', 'cpuacct', 'cpuset', 'blkio', 'name=systemd']) {
    assert.match(own, new RegExp(`^\\d+:${c}:${cg.path}$`, 'm'), `${c} line of /proc/${pid}/cgroup`);
  }
  if (existsSync('/sys/fs/cgroup/unified/cgroup.procs')) assert.match(own, new RegExp(`^0::${cg.path}$`, 'm'));
  assert.deepEqual(await cg.pids(), [pid]);

  assert.equal(await cg.freezerState(), 'thawed');
  await cg.freeze();
  assert.equal(await cg.freezerState(), 'frozen');
  assert.equal(read(cg.paths()['freezer'], 'freezer.state'), 'FROZEN');
  assert.equal(procState(pid), 'D', 'a frozen task sleeps uninterruptibly in the refrigerator');
  await cg.thaw();
  assert.equal(await cg.freezerState(), 'thawed');
  assert.equal(procState(pid), 'S');
});

test('v1 selfJoin: each hierarchy\'s tasks file once, the hybrid unified one cloned into or left to addProcess', { skip }, async (t) => {
  const h = harness(t);
  const cg = h.make();
  const dirs = cg.paths();
  const unified = dirs[''];
  const v1Dirs = [...new Set(Object.entries(dirs).filter(([k]) => k !== '').map(([, d]) => d))];
  const into = cg.selfJoin({ cloneInto: true });
  assert.deepEqual([...into.tasks].sort(), v1Dirs.map((d) => join(d, 'tasks')).sort());
  assert.equal(into.into, unified);
  assert.deepEqual(into.rest, []);
  const byPid = cg.selfJoin({ cloneInto: false });
  assert.deepEqual(byPid.tasks, into.tasks);
  assert.equal(byPid.into, undefined);
  assert.deepEqual(byPid.rest, unified === undefined ? [] : [unified]);

  // addProcess limited to some directories writes only those.
  await cg.create();
  const child = h.spawnSleep();
  await cg.addProcess(child.pid!, [dirs['pids']!]);
  const own = readFileSync(`/proc/${child.pid}/cgroup`, 'utf8');
  assert.match(own, new RegExp(`^\\d+:pids:${cg.path}$`, 'm'));
  assert.doesNotMatch(own, new RegExp(`^\\d+:memory:${cg.path}$`, 'm'));
});

test('v1 pids() includes processes in child cgroups', { skip }, async (t) => {
  const h = harness(t);
  const cg = h.make();
  await cg.create();
  const a = h.spawnSleep();
  const b = h.spawnSleep();
  await cg.addProcess(a.pid!);
  const inner = join(cg.paths()['freezer']!, 'inner');
  await nodeCgroupFs.mkdir(inner);
  writeFileSync(join(inner, 'cgroup.procs'), String(b.pid));
  assert.deepEqual((await cg.pids()).sort((x, y) => x - y), [a.pid!, b.pid!].sort((x, y) => x - y));
  process.kill(b.pid!, 'SIGKILL');
  await exited(b);
  // destroy removes the child cgroup first (t.after checks nothing is left)
});

test('v1 device rules are enforced, and an update changes only what differs', { skip }, async (t) => {
  const h = harness(t);
  const cg = h.make();
  const probe = async (): Promise<string> => {
    const sh = h.spawnShell('read _; if (echo x > /dev/null) 2>/dev/null; then echo ok; else echo denied; fi');
    await cg.addProcess(sh.pid!);
    const out = output(sh);
    sh.stdin!.write('go\n');
    return out;
  };
  await cg.create({ devices: [{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 1, minor: 5, access: 'rwm' }] });
  assert.equal(await probe(), 'denied', '/dev/null is not in the allow list');

  h.writes.length = 0;
  await cg.update({ devices: [{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' }, { allow: true, type: 'c', major: 1, minor: 5, access: 'r' }] });
  assert.deepEqual(h.writes.map((w) => `${w.path.split('/').pop()} ${w.data}`), [
    'devices.allow c 1:3 rwm',
    'devices.deny c 1:5 wm',
  ], 'no deny-all window for the running container');
  assert.deepEqual(read(cg.paths()['devices'], 'devices.list').split('\n').sort(), ['c 1:3 rwm', 'c 1:5 r']);
  assert.equal(await probe(), 'ok');
});

test('v1 stats report the usage of a working process', { skip }, async (t) => {
  const h = harness(t);
  const cg = h.make();
  await cg.create({ pids: { limit: 20 }, memory: { limit: 256 << 20 } });
  // Work after joining: the cgroup charges only what happens inside it.
  const sh = h.spawnShell('read _; i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done; x=$(head -c 4000000 /dev/zero | tr "\\0" a); echo done; exec sleep 1000');
  await cg.addProcess(sh.pid!);
  const out = output(sh);
  sh.stdin!.write('go\n');
  assert.equal(await out, 'done');
  const s = await cg.stats();
  assert.ok(s.cpu.usage.total > 0, 'cpu total');
  assert.ok((s.cpu.usage.percpu ?? []).reduce((a, b) => a + b, 0) > 0, 'per-cpu usage');
  assert.ok(s.cpu.usage.user + s.cpu.usage.kernel > 0, 'user+kernel time');
  assert.ok(s.memory.usage.usage > 0, 'memory usage');
  assert.ok(s.memory.usage.max >= s.memory.usage.usage, 'peak');
  assert.equal(s.memory.usage.limit, 256 << 20);
  assert.ok('cache' in s.memory.raw && 'rss' in s.memory.raw, 'memory.stat is passed through');
  assert.deepEqual(s.pids, { current: 1, limit: 20 });
  assert.ok(Array.isArray(s.blkio.ioServiceBytesRecursive));
  assert.deepEqual(s.hugetlb, {}, 'no v1 hugetlb hierarchy here');
});

test('v1 an OOM kill is counted and reported by watchOom', { skip }, async (t) => {
  const h = harness(t);
  const cg = h.make();
  await cg.create({ memory: { limit: 16 << 20, swap: 16 << 20 } });
  assert.equal(await cg.oomKillCount(), 0);
  const ac = new AbortController();
  t.after(() => ac.abort());
  const reported = new Promise<void>((resolve) => cg.watchOom(ac.signal, resolve, { intervalMs: 20 }));
  const sh = h.spawnShell('read _; x=$(head -c 200000000 /dev/zero | tr "\\0" a); echo survived');
  await cg.addProcess(sh.pid!);
  sh.stdin!.write('go\n');
  await exited(sh);
  await reported;
  assert.ok((await cg.oomKillCount()) >= 1);
});

test('v1 with the OOM killer disabled, watchOom reports the cgroup going under OOM', { skip }, async (t) => {
  const h = harness(t);
  const cg = h.make();
  await cg.create({ memory: { limit: 16 << 20, swap: 16 << 20, disableOOMKiller: true } });
  assert.match(read(cg.paths()['memory'], 'memory.oom_control'), /^oom_kill_disable 1$/m);
  const ac = new AbortController();
  t.after(() => ac.abort());
  const reported = new Promise<void>((resolve) => cg.watchOom(ac.signal, resolve, { intervalMs: 20 }));
  const sh = h.spawnShell('read _; x=$(head -c 200000000 /dev/zero | tr "\\0" a); echo survived');
  await cg.addProcess(sh.pid!);
  sh.stdin!.write('go\n');
  await reported;
  assert.match(read(cg.paths()['memory'], 'memory.oom_control'), /^under_oom 1$/m);
  assert.equal(await cg.oomKillCount(), 0, 'nothing was killed');
  // t.after kills the waiting tasks: SIGKILL ends a task waiting under OOM.
});

test('v1 a memory limit below the current usage fails with the usage in the message', { skip }, async (t) => {
  const h = harness(t);
  const cg = h.make();
  await cg.create({ memory: { limit: 256 << 20, swap: 256 << 20 } });
  // The shell keeps a 20 MB string: anonymous memory, which cannot be
  // reclaimed without swap, so the kernel answers EBUSY.
  const sh = h.spawnShell('read _; x=$(head -c 20000000 /dev/zero | tr "\\0" a); echo held; read _');
  await cg.addProcess(sh.pid!);
  const out = output(sh);
  sh.stdin!.write('go\n');
  assert.equal(await out, 'held');
  await assert.rejects(cg.update({ memory: { limit: 4 << 20, checkBeforeUpdate: true } }), (e) => isBerthError(e, 'CGROUP_FAILED') && /already uses \d+ bytes/.test(e.message));
  const dir = cg.paths()['memory'];
  await assert.rejects(cg.update({ memory: { limit: 4 << 20 } }), (e) => {
    assert.ok(isBerthError(e, 'CGROUP_FAILED'));
    assert.match(e.message, new RegExp(`^cannot write \`memory\\.limit_in_bytes\` in ${dir}: Device or resource busy: cannot set the memory limit to ${4 << 20} bytes below the current usage of \\d+ bytes \\(peak \\d+\\)$`));
    return true;
  });
  assert.equal(read(dir, 'memory.limit_in_bytes'), String(256 << 20), 'the old limit stays');
});

test('v1 errors name the file: missing files are CGROUP_UNSUPPORTED, kernel refusals CGROUP_FAILED', { skip }, async (t) => {
  const h = harness(t);
  const cg = h.make();
  await cg.create();
  const blkio = cg.paths()['blkio'];
  if (!existsSync(join(blkio!, 'blkio.leaf_weight'))) {
    await assert.rejects(cg.update({ blockIO: { leafWeight: 100 } }), (e) => {
      assert.ok(isBerthError(e, 'CGROUP_UNSUPPORTED'));
      assert.match(e.message, new RegExp(`^cannot write \`blkio\\.leaf_weight\` in ${blkio}: the kernel does not provide it`));
      return true;
    });
  }
  await assert.rejects(cg.update({ blockIO: { throttleReadBpsDevice: [{ major: 259, minor: 4095, rate: 1000 }] } }), (e) => {
    assert.ok(isBerthError(e, 'CGROUP_FAILED'));
    assert.equal(e.message, `cannot write \`blkio.throttle.read_bps_device\` in ${blkio}: No such device`);
    assert.equal(e.errno, 19);
    return true;
  });
  await assert.rejects(cg.update({ cpu: { shares: 1 } }), (e) => isBerthError(e, 'CONFIG_INVALID') && e.field === 'linux.resources.cpu.shares');
  await assert.rejects(cg.update({ memory: { swappiness: 101 } }), (e) => isBerthError(e, 'CONFIG_INVALID'));
  await assert.rejects(cg.update({ unified: { 'memory.max': '1' } }), (e) => isBerthError(e, 'CGROUP_UNSUPPORTED') && /cgroup v2/.test(e.message));
  if (!existsSync('/sys/fs/cgroup/hugetlb')) {
    await assert.rejects(cg.update({ hugepageLimits: [{ pageSize: '2MB', limit: 1 << 21 }] }), (e) => isBerthError(e, 'CGROUP_UNSUPPORTED') && /`hugetlb`/.test(e.message));
  }
  if (!existsSync('/sys/fs/cgroup/net_cls')) {
    await assert.rejects(cg.update({ network: { classID: 1 } }), (e) => isBerthError(e, 'CGROUP_UNSUPPORTED') && /net_cls/.test(e.message));
  }
});

test('v1 warns about and ignores kernel memory limits', { skip }, async (t) => {
  const h = harness(t);
  const warnings: string[] = [];
  const cg = h.make({ onWarning: (m) => warnings.push(m) });
  await cg.create({ memory: { kernel: 1 << 20, kernelTCP: 1 << 20 } });
  assert.equal(warnings.length, 1);
  assert.equal(h.writes.some((w) => w.path.includes('kmem')), false);
});

test('v1 a failed create removes the directories it made', { skip }, async (t) => {
  const h = harness(t);
  const cg = h.make();
  await assert.rejects(cg.create({ pids: { limit: 5 }, blockIO: { throttleReadBpsDevice: [{ major: 259, minor: 4095, rate: 1 }] } }), (e) => isBerthError(e, 'CGROUP_FAILED'));
  assert.equal(await cg.exists(), false);
});

test('v1 destroy refuses while processes remain, after retrying EBUSY', { skip }, async (t) => {
  const h = harness(t);
  const cg = h.make();
  await cg.create();
  const child = h.spawnSleep();
  await cg.addProcess(child.pid!);
  await assert.rejects(cg.destroy(), (e) => isBerthError(e, 'CGROUP_FAILED') && /Device or resource busy; processes are still in it/.test(e.message));
  process.kill(child.pid!, 'SIGKILL');
  await exited(child);
  await cg.destroy();
  assert.equal(await cg.exists(), false);
});

test('v1 with no cgroupsPath the cgroup sits under our own cgroup in each hierarchy (runc 1.1)', { skip }, async (t) => {
  const h = harness(t);
  const id = uniqueId();
  const cg = h.make({ id, cgroupsPath: undefined });
  const own = readFileSync('/proc/self/cgroup', 'utf8');
  const memOwn = /^\d+:memory:(.*)$/m.exec(own)?.[1] ?? '/';
  assert.equal(cg.paths()['memory'], join('/sys/fs/cgroup/memory', memOwn, id));
  await cg.create({ memory: { limit: 32 << 20 } });
  assert.equal(read(cg.paths()['memory'], 'memory.limit_in_bytes'), String(32 << 20));
});

test('v1 nested cpuset cgroups inherit cpus and mems at every level', { skip }, async (t) => {
  const h = harness(t);
  const top = uniqueId();
  const cg = h.make({ cgroupsPath: `/${top}/inner` });
  t.after(() => forceRemove(`/sys/fs/cgroup/cpuset/${top}`));
  t.after(() => {
    for (const c of ['cpu', 'cpuacct', 'memory', 'devices', 'freezer', 'blkio', 'pids', 'systemd', 'unified']) forceRemove(`/sys/fs/cgroup/${c}/${top}`);
  });
  await cg.create();
  const parentCpus = read('/sys/fs/cgroup/cpuset', 'cpuset.cpus');
  assert.equal(read(`/sys/fs/cgroup/cpuset/${top}`, 'cpuset.cpus'), parentCpus);
  assert.equal(read(cg.paths()['cpuset'], 'cpuset.cpus'), parentCpus);
  assert.notEqual(read(cg.paths()['cpuset'], 'cpuset.mems'), '');
  const child = h.spawnSleep();
  await cg.addProcess(child.pid!); // ENOSPC if cpus or mems were empty
});
