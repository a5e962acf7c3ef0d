/**
 * The v2 driver against a cgroup v2 fixture, not a real unified hierarchy:
 * this CI host runs cgroup v1 (hybrid; its cgroup2 mount offers only
 * hugetlb), so a real v2 cgroup with controllers cannot be made here. The
 * fixture (test/fixtures/cgroup-v2/fixture-kernel.ts) is a temp directory
 * with the files the kernel shows, plus the kernel behaviour the driver
 * relies on: files appearing with subtree_control, ENOENT for missing files,
 * io.max merging, EBUSY on rmdir. Freezing is completed by the tests, which
 * update cgroup.events as the kernel would.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile, readFile, access } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isBerthError } from '../../errors/index.js';
import { CgroupV2Fixture, type FixtureOptions } from '../../../test/fixtures/cgroup-v2/fixture-kernel.js';
import { createCgroupManager, type CreateCgroupManagerOptions } from './create-cgroup-manager.js';
import { DEFAULT_DEVICE_RULES } from './devices.js';
import type { CgroupManager } from './manager.js';
import type { LinuxResources } from './resources.js';
import { UNLIMITED } from './cgroup-fs.js';

async function withFixture(
  fn: (f: CgroupV2Fixture, make: (o?: Partial<CreateCgroupManagerOptions>) => CgroupManager) => Promise<void>,
  options?: FixtureOptions,
): Promise<void> {
  const fixture = await CgroupV2Fixture.create(options);
  try {
    const make = (o: Partial<CreateCgroupManagerOptions> = {}): CgroupManager =>
      createCgroupManager({ id: 'abc', cgroupsPath: '/berth/abc', version: 2, root: fixture.root, fs: fixture.fs, ...o });
    await fn(fixture, make);
  } finally {
    await fixture.dispose();
  }
}

const trim = (s: string): string => s.trim();

test('v2 create enables controllers from the root down and writes every resource file', async () => {
  await withFixture(async (f, make) => {
    const cg = make();
    const resources: LinuxResources = {
      memory: { limit: 64 << 20, swap: 96 << 20, reservation: 32 << 20 },
      cpu: { shares: 1024, quota: 50000, period: 100000, cpus: '0-1', mems: '0', burst: 1000, idle: 0 },
      pids: { limit: 100 },
      blockIO: {
        weight: 500,
        weightDevice: [{ major: 8, minor: 0, weight: 300 }],
        throttleReadBpsDevice: [{ major: 8, minor: 0, rate: 1048576 }],
        throttleWriteIOPSDevice: [{ major: 8, minor: 0, rate: 100 }],
      },
      hugepageLimits: [{ pageSize: '2MB', limit: 4 << 21 }],
    };
    await cg.create(resources);
    assert.deepEqual(cg.paths(), { '': join(f.root, 'berth/abc') });
    assert.equal(trim(await f.read('', 'cgroup.subtree_control')), 'cpuset cpu io memory hugetlb pids rdma misc');
    assert.equal(trim(await f.read('berth', 'cgroup.subtree_control')), 'cpuset cpu io memory hugetlb pids rdma misc');
    assert.equal(trim(await f.read('berth/abc', 'cgroup.subtree_control')), '', 'the leaf keeps no controllers for children');
    assert.equal(trim(await f.read('berth/abc', 'memory.max')), String(64 << 20));
    assert.equal(trim(await f.read('berth/abc', 'memory.swap.max')), String(32 << 20), 'swap.max is memory+swap minus memory');
    assert.equal(trim(await f.read('berth/abc', 'memory.low')), String(32 << 20));
    assert.equal(trim(await f.read('berth/abc', 'cpu.weight')), '39', '1024 shares convert to weight 39');
    assert.equal(trim(await f.read('berth/abc', 'cpu.max')), '50000 100000');
    assert.equal(trim(await f.read('berth/abc', 'cpu.max.burst')), '1000');
    assert.equal(trim(await f.read('berth/abc', 'cpuset.cpus')), '0-1');
    assert.equal(trim(await f.read('berth/abc', 'cpuset.mems')), '0');
    assert.equal(trim(await f.read('berth/abc', 'pids.max')), '100');
    assert.equal(trim(await f.read('berth/abc', 'io.bfq.weight')), 'default 500\n8:0 300', 'io.bfq.weight takes the blkio range as is');
    assert.equal(trim(await f.read('berth/abc', 'io.max')), '8:0 rbps=1048576 wbps=max riops=max wiops=100');
    assert.equal(trim(await f.read('berth/abc', 'hugetlb.2MB.max')), String(4 << 21));
    assert.equal(trim(await f.read('berth/abc', 'hugetlb.2MB.rsvd.max')), String(4 << 21));
    // The swap limit is written before the memory limit (runc's order).
    const files = f.writes.map((w) => w.path.split('/').pop());
    assert.ok(files.indexOf('memory.swap.max') < files.indexOf('memory.max'));
    assert.equal(await cg.exists(), true);
    await cg.destroy();
    assert.equal(await cg.exists(), false);
  });
});

test('v2 create is idempotent and does not rewrite subtree_control that is already enabled', async () => {
  await withFixture(async (f, make) => {
    const cg = make();
    await cg.create({ pids: { limit: 10 } });
    const before = f.writes.filter((w) => w.path.endsWith('cgroup.subtree_control')).length;
    await cg.create({ pids: { limit: 20 } });
    assert.equal(f.writes.filter((w) => w.path.endsWith('cgroup.subtree_control')).length, before);
    assert.equal(trim(await f.read('berth/abc', 'pids.max')), '20');
    await cg.destroy();
  });
});

test('v2 memory: equal memory and memory+swap disables swap, -1 means max for both', async () => {
  await withFixture(async (f, make) => {
    const cg = make();
    await cg.create({ memory: { limit: 1 << 20, swap: 1 << 20 } });
    assert.equal(trim(await f.read('berth/abc', 'memory.swap.max')), '0');
    await cg.update({ memory: { limit: -1 } });
    assert.equal(trim(await f.read('berth/abc', 'memory.max')), 'max');
    assert.equal(trim(await f.read('berth/abc', 'memory.swap.max')), 'max');
    await cg.destroy();
  });
});

test('v2 io.weight gets the converted weight when BFQ is absent', async () => {
  await withFixture(async (f, make) => {
    const cg = make();
    await cg.create({ blockIO: { weight: 500 } });
    assert.equal(trim(await f.read('berth/abc', 'io.weight')), 'default 4950');
    await cg.destroy();
  }, { bfq: false });
});

test('v2 update keeps the half of cpu.max the config leaves out', async () => {
  await withFixture(async (f, make) => {
    const cg = make();
    await cg.create({ cpu: { quota: 20000, period: 50000 } });
    await cg.update({ cpu: { quota: 30000 } });
    assert.equal(trim(await f.read('berth/abc', 'cpu.max')), '30000 50000');
    await cg.update({ cpu: { quota: -1 } });
    assert.equal(trim(await f.read('berth/abc', 'cpu.max')), 'max 50000');
    await cg.destroy();
  });
});

test('v2 unified values are written verbatim, after and over the converted ones', async () => {
  await withFixture(async (f, make) => {
    const cg = make();
    await cg.create({ cpu: { shares: 1024 }, unified: { 'cpu.weight': '77', 'memory.high': '1000000' } });
    assert.equal(trim(await f.read('berth/abc', 'cpu.weight')), '77');
    assert.equal(trim(await f.read('berth/abc', 'memory.high')), '1000000');
    await cg.destroy();
  });
});

test('v2 unified keys that are paths or core files are refused before anything is made', async () => {
  await withFixture(async (_f, make) => {
    const cg = make();
    await assert.rejects(cg.create({ unified: { '../cgroup.procs': '1' } }), (e) => isBerthError(e, 'CONFIG_INVALID') && e.field === 'linux.resources.unified.../cgroup.procs');
    await assert.rejects(cg.create({ unified: { 'cgroup.procs': '1' } }), (e) => isBerthError(e, 'CONFIG_INVALID'));
    assert.equal(await cg.exists(), false);
  });
});

test('v2 a value the kernel refuses is CGROUP_FAILED naming the file and directory', async () => {
  await withFixture(async (f, make) => {
    const cg = make();
    await assert.rejects(cg.create({ unified: { 'memory.max': 'lots' } }), (e) => {
      assert.ok(isBerthError(e, 'CGROUP_FAILED'));
      assert.equal(e.message, `cannot write \`memory.max\` in ${join(f.root, 'berth/abc')}: Invalid argument`);
      return true;
    });
    assert.equal(await cg.exists(), false, 'a failed create removes what it made');
  });
});

test('v2 a controller the hierarchy does not offer is CGROUP_UNSUPPORTED and nothing is left behind', async () => {
  await withFixture(async (f, make) => {
    const cg = make();
    await assert.rejects(cg.create({ memory: { limit: 1 << 20 } }), (e) => isBerthError(e, 'CGROUP_UNSUPPORTED') && /`memory` controller/.test(e.message));
    assert.equal(await cg.exists(), false);
    await assert.rejects(access(f.path('berth')), 'the intermediate cgroup is removed too');
  }, { controllers: ['cpu', 'pids'] });
});

test('v2 a threaded subtree refuses domain controllers and nothing new is left behind', async () => {
  await withFixture(async (f, make) => {
    await f.fs.mkdir(f.path('tree'));
    await f.put('tree', 'cgroup.type', 'threaded\n');
    const cg = make({ cgroupsPath: '/tree/mid/abc' });
    await assert.rejects(cg.create({ memory: { limit: 1 << 20 } }), (e) => isBerthError(e, 'CGROUP_FAILED') && /`threaded` cgroup/.test(e.message));
    await assert.rejects(access(f.path('tree/mid')), 'no level below it was made');
    await access(f.path('tree'));
  });
});

test('v2 a unified file the kernel lacks is CGROUP_UNSUPPORTED', async () => {
  await withFixture(async (_f, make) => {
    const cg = make();
    await cg.create();
    await assert.rejects(cg.update({ unified: { 'memory.zswap.max': '0' } }), (e) => isBerthError(e, 'CGROUP_UNSUPPORTED') && /memory\.zswap\.max/.test(e.message));
    await cg.destroy();
  });
});

test('v2 refuses what cgroup v2 cannot do: realtime, net_cls/net_prio', async () => {
  await withFixture(async (_f, make) => {
    const cg = make();
    await assert.rejects(cg.create({ cpu: { realtimeRuntime: 1000 } }), (e) => isBerthError(e, 'CGROUP_UNSUPPORTED'));
    await assert.rejects(cg.create({ network: { classID: 0x100001 } }), (e) => isBerthError(e, 'CGROUP_UNSUPPORTED'));
    assert.equal(await cg.exists(), false);
  });
});

test('v2 ignores deprecated and v1-only memory settings with a warning', async () => {
  await withFixture(async (_f, make) => {
    const warnings: string[] = [];
    const cg = make({ onWarning: (m) => warnings.push(m) });
    await cg.create({ memory: { kernel: 1 << 20, swappiness: 10, disableOOMKiller: true } });
    assert.equal(warnings.length, 3);
    assert.ok(warnings.some((w) => /kernel/.test(w)) && warnings.some((w) => /swappiness/.test(w)) && warnings.some((w) => /OOM/.test(w)));
    await cg.destroy();
  });
});

test('v2 device rules: allow-all passes; restrictive rules are refused unless the policy says otherwise', async () => {
  await withFixture(async (_f, make) => {
    const standard = [{ allow: false, access: 'rwm' }, ...DEFAULT_DEVICE_RULES.map((r) => ({ ...r }))];
    const custom = [{ allow: false, access: 'rwm' }, { allow: true, type: 'b', major: 8, minor: 0, access: 'rw' }];
    await make().create({ devices: [{ allow: true, access: 'rwm' }] });
    await make().destroy();

    await assert.rejects(make().create({ devices: standard }), (e) => isBerthError(e, 'CGROUP_UNSUPPORTED') && /eBPF/.test(e.message));

    const warnings: string[] = [];
    const lenient = make({ v2DevicePolicy: 'warn-standard', onWarning: (m) => warnings.push(m) });
    await lenient.create({ devices: standard });
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /not enforced/);
    await assert.rejects(lenient.update({ devices: custom }), (e) => isBerthError(e, 'CGROUP_UNSUPPORTED'));

    await make({ v2DevicePolicy: 'external' }).update({ devices: custom });
    await lenient.destroy();
  });
});

test('v2 checkBeforeUpdate refuses a limit below the current usage', async () => {
  await withFixture(async (f, make) => {
    const cg = make();
    await cg.create({ memory: { limit: 100 << 20 } });
    await f.put('berth/abc', 'memory.current', String(50 << 20));
    await assert.rejects(cg.update({ memory: { limit: 10 << 20, checkBeforeUpdate: true } }), (e) => isBerthError(e, 'CGROUP_FAILED') && /already uses/.test(e.message));
    await cg.update({ memory: { limit: 10 << 20 } });
    assert.equal(trim(await f.read('berth/abc', 'memory.max')), String(10 << 20));
    await cg.destroy();
  });
});

test('v2 relative cgroupsPath lands beside our own cgroup, with the parents enabled', async () => {
  await withFixture(async (f, make) => {
    await f.fs.mkdir(f.path('user.slice'));
    await f.fs.mkdir(f.path('user.slice/session-1.scope'));
    const dir = await mkdtemp(join(tmpdir(), 'berth-cgroup-own-'));
    try {
      await writeFile(join(dir, 'cgroup'), '0::/user.slice/session-1.scope\n');
      const cg = make({ cgroupsPath: undefined, id: 'ctr', ownCgroupFile: join(dir, 'cgroup') });
      await cg.create({ pids: { limit: 5 } });
      assert.equal(cg.path, '/user.slice/ctr');
      assert.match(await f.read('user.slice', 'cgroup.subtree_control'), /pids/);
      assert.equal(trim(await f.read('user.slice/ctr', 'pids.max')), '5');
      await cg.destroy();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

test('v2 selfJoin: the directory to clone into, or nothing but addProcess', async () => {
  await withFixture(async (f, make) => {
    const cg = make();
    const dir = cg.paths()['']!;
    assert.deepEqual(cg.selfJoin({ cloneInto: true }), { tasks: [], into: dir, rest: [] });
    assert.deepEqual(cg.selfJoin({ cloneInto: false }), { tasks: [], rest: [dir] });
    await cg.create();
    await cg.addProcess(4242, ['/elsewhere']);
    assert.equal(trim(await f.read('berth/abc', 'cgroup.procs')), '', 'a directory not named is not written');
  });
});

test('v2 addProcess writes cgroup.procs and pids() walks child cgroups', async () => {
  await withFixture(async (f, make) => {
    const cg = make();
    await cg.create();
    await cg.addProcess(4242);
    await f.fs.mkdir(f.path('berth/abc/inner'));
    await f.fs.writeFile(f.path('berth/abc/inner/cgroup.procs'), '4343');
    assert.deepEqual((await cg.pids()).sort(), [4242, 4343]);
    assert.match(await f.read('berth/abc', 'cgroup.events'), /populated 1/);
    await assert.rejects(cg.addProcess(0), (e) => isBerthError(e));
  });
});

test('v2 freeze writes cgroup.freeze and waits for cgroup.events to report frozen', async () => {
  await withFixture(async (f, make) => {
    const cg = make();
    await cg.create();
    assert.equal(await cg.freezerState(), 'thawed');
    let resolved = false;
    const freezing = cg.freeze().then(() => { resolved = true; });
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(resolved, false, 'freeze waits for the kernel');
    assert.equal(trim(await f.read('berth/abc', 'cgroup.freeze')), '1');
    assert.equal(await cg.freezerState(), 'freezing');
    await f.setEvents('berth/abc', { frozen: 1 }); // the kernel, once every task stopped
    await freezing;
    assert.equal(await cg.freezerState(), 'frozen');

    const thawing = cg.thaw();
    await new Promise((r) => setTimeout(r, 20));
    await f.setEvents('berth/abc', { frozen: 0 });
    await thawing;
    assert.equal(trim(await f.read('berth/abc', 'cgroup.freeze')), '0');
    assert.equal(await cg.freezerState(), 'thawed');
    await cg.destroy();
  });
});

test('v2 freeze that never completes times out and thaws again', async () => {
  await withFixture(async (f, make) => {
    const cg = make({ freezeTimeoutMs: 100 });
    await cg.create();
    await assert.rejects(cg.freeze(), (e) => isBerthError(e, 'CGROUP_FAILED') && /did not report frozen 1/.test(e.message));
    assert.equal(trim(await f.read('berth/abc', 'cgroup.freeze')), '0');
    await cg.destroy();
  });
});

test('v2 stats map the v2 files onto runc\'s events --stats shape', async () => {
  await withFixture(async (f, make) => {
    const cg = make();
    await cg.create({ memory: { limit: 1 << 30, swap: 2 * 2 ** 30 }, pids: { limit: 50 } });
    await f.put('berth/abc', 'cpu.stat', 'usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 10\nnr_throttled 2\nthrottled_usec 30\n');
    await f.put('berth/abc', 'memory.stat', 'anon 4096\nfile 8192\n');
    await f.put('berth/abc', 'memory.current', '12288\n');
    await f.put('berth/abc', 'memory.swap.current', '4096\n');
    await f.put('berth/abc', 'memory.events', 'low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n');
    await f.put('berth/abc', 'pids.current', '7\n');
    await f.put('berth/abc', 'io.stat', '8:0 rbytes=100 wbytes=200 rios=1 wios=2 dbytes=0 dios=0\n');
    await f.put('berth/abc', 'hugetlb.2MB.current', '2097152\n');
    const s = await cg.stats();
    assert.deepEqual(s.cpu.usage, { total: 1_500_000, user: 1_000_000, kernel: 500_000 });
    assert.deepEqual(s.cpu.throttling, { periods: 10, throttledPeriods: 2, throttledTime: 30_000 });
    assert.equal(s.memory.cache, 8192);
    assert.deepEqual(s.memory.usage, { usage: 12288, limit: 1 << 30, max: 0, failcnt: 3 });
    assert.equal(s.memory.swap.usage, 12288 + 4096, 'swap is reported as memory+swap, like v1');
    assert.equal(s.memory.swap.limit, 2 * 2 ** 30);
    assert.equal(s.memory.raw['anon'], 4096);
    assert.deepEqual(s.pids, { current: 7, limit: 50 });
    assert.deepEqual(s.blkio.ioServiceBytesRecursive, [{ major: 8, minor: 0, op: 'Read', value: 100 }, { major: 8, minor: 0, op: 'Write', value: 200 }]);
    assert.deepEqual(s.blkio.ioServicedRecursive, [{ major: 8, minor: 0, op: 'Read', value: 1 }, { major: 8, minor: 0, op: 'Write', value: 2 }]);
    assert.deepEqual(s.hugetlb['2MB'], { usage: 2097152, max: UNLIMITED, failcnt: 0 });
    assert.equal(s.hugetlb['1GB']?.usage, 0);
    // The JSON survives a Go uint64 and int64 decoder: no value above 2^63.
    assert.ok(!/\d{20}/.test(JSON.stringify(s)));
    await cg.destroy();
  });
});

test('v2 oomKillCount reads memory.events and watchOom reports a rise', async () => {
  await withFixture(async (f, make) => {
    const cg = make();
    await cg.create({ memory: { limit: 1 << 20 } });
    assert.equal(await cg.oomKillCount(), 0);
    const ac = new AbortController();
    let calls = 0;
    const seen = new Promise<void>((resolve) => cg.watchOom(ac.signal, () => { calls++; resolve(); }, { intervalMs: 10 }));
    await new Promise((r) => setTimeout(r, 30));
    await f.put('berth/abc', 'memory.events', 'low 0\nhigh 0\nmax 1\noom 1\noom_kill 1\n');
    await seen;
    ac.abort();
    assert.equal(calls, 1);
    assert.equal(await cg.oomKillCount(), 1);
    await cg.destroy();
  });
});

test('v2 destroy removes child cgroups first, retries EBUSY, fails naming the cgroup while processes remain', async () => {
  await withFixture(async (f, make) => {
    const cg = make();
    await cg.create();
    await f.fs.mkdir(f.path('berth/abc/a'));
    await f.fs.mkdir(f.path('berth/abc/a/b'));
    await cg.addProcess(777);
    const started = Date.now();
    await assert.rejects(cg.destroy(), (e) => isBerthError(e, 'CGROUP_FAILED') && e.message.includes(join(f.root, 'berth/abc')) && /Device or resource busy/.test(e.message));
    assert.ok(Date.now() - started >= 100, 'EBUSY was retried');
    await f.put('berth/abc', 'cgroup.procs', '');
    await cg.destroy();
    assert.equal(await cg.exists(), false);
    await cg.destroy(); // idempotent
    assert.equal(trim(await f.read('berth', 'cgroup.subtree_control')).length > 0, true, 'the parent stays');
  });
});

test('v2 with the real file access against a plain directory: no file is ever created', async () => {
  // Here the driver uses node's fs directly (nodeCgroupFs) on a fixture the
  // kernel simulation populated: writes must truncate and must not create.
  await withFixture(async (f) => {
    await f.fs.writeFile(f.path('cgroup.subtree_control'), '+memory +pids');
    await f.fs.mkdir(f.path('plain'));
    const cg = createCgroupManager({ id: 'plain', cgroupsPath: '/plain', version: 2, root: f.root });
    await cg.update({ memory: { limit: 5 } });
    assert.equal(await readFile(f.path('plain/memory.max'), 'utf8'), '5', 'max\\n was truncated, not overwritten in place');
    await assert.rejects(cg.update({ unified: { 'memory.zswap.max': '0' } }), (e) => isBerthError(e, 'CGROUP_UNSUPPORTED'));
    await assert.rejects(access(f.path('plain/memory.zswap.max')));
  });
});
