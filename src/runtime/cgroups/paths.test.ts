import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isBerthError } from '../../errors/index.js';
import { createCgroupManager } from './create-cgroup-manager.js';
import { detectCgroupVersion, parseCgroupMounts, parseCgroupsPath, parseProcCgroup } from './paths.js';

// This machine's layout: v1 hierarchies, cpu and cpuacct apart, name=systemd,
// and a controller-less cgroup2 at /sys/fs/cgroup/unified.
const MOUNTINFO = `24 30 0:22 / /sys rw,nosuid - sysfs sysfs rw
35 24 0:30 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
36 35 0:31 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
37 35 0:32 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
38 35 0:33 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
39 35 0:34 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 35 0:35 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
41 35 0:36 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
42 35 0:37 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
43 35 0:38 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
44 35 0:39 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
45 35 0:40 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
46 35 0:41 / /sys/fs/cgroup/net_cls,net_prio rw,relatime - cgroup cgroup rw,net_cls,net_prio
47 35 0:42 / /sys/fs/cgroup/misc-tool rw,relatime - cgroup cgroup rw,name=mytool
`;
const OWN = `10:net_cls,net_prio:/
9:name=systemd:/
8:pids:/
7:blkio:/
6:freezer:/
5:devices:/
4:memory:/process_api/abc
3:cpuset:/
2:cpuacct:/
1:cpu:/
0::/
`;

async function withFiles(fn: (files: { mountinfo: string; own: string; dir: string }) => Promise<void> | void, own = OWN, mountinfo = MOUNTINFO): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-cgroup-paths-'));
  try {
    await writeFile(join(dir, 'mountinfo'), mountinfo);
    await writeFile(join(dir, 'cgroup'), own);
    await fn({ mountinfo: join(dir, 'mountinfo'), own: join(dir, 'cgroup'), dir });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('parseProcCgroup reads ids, controller lists and paths', () => {
  const entries = parseProcCgroup(OWN);
  assert.deepEqual(entries[0], { id: 10, controllers: ['net_cls', 'net_prio'], path: '/' });
  assert.deepEqual(entries.find((e) => e.id === 4), { id: 4, controllers: ['memory'], path: '/process_api/abc' });
  assert.deepEqual(entries.at(-1), { id: 0, controllers: [], path: '/' });
});

test('parseCgroupMounts finds v1 controllers, named hierarchies and cgroup2 mounts', () => {
  const mounts = parseCgroupMounts(MOUNTINFO);
  assert.equal(mounts.length, 12);
  assert.deepEqual(mounts.find((m) => m.mountpoint === '/sys/fs/cgroup/systemd')?.controllers, ['name=systemd']);
  assert.deepEqual(mounts.find((m) => m.mountpoint === '/sys/fs/cgroup/net_cls,net_prio')?.controllers, ['net_cls', 'net_prio']);
  assert.equal(mounts.find((m) => m.mountpoint === '/sys/fs/cgroup/unified')?.fstype, 'cgroup2');
});

test('parseCgroupsPath: absolute, relative, and the id when empty (as runc 1.1)', () => {
  assert.deepEqual(parseCgroupsPath('/berth/abc', 'abc'), { absolute: true, components: ['berth', 'abc'] });
  assert.deepEqual(parseCgroupsPath('berth/./abc/', 'abc'), { absolute: false, components: ['berth', 'abc'] });
  assert.deepEqual(parseCgroupsPath(undefined, 'abc'), { absolute: false, components: ['abc'] });
  assert.deepEqual(parseCgroupsPath('', 'abc'), { absolute: false, components: ['abc'] });
});

test('parseCgroupsPath rejects .. with the config field', () => {
  assert.throws(() => parseCgroupsPath('/berth/../../etc', 'abc'), (e) => isBerthError(e, 'CONFIG_INVALID') && e.field === 'linux.cgroupsPath');
  assert.throws(() => parseCgroupsPath('..', 'abc'), (e) => isBerthError(e, 'CONFIG_INVALID'));
  assert.throws(() => parseCgroupsPath('/', 'abc'), (e) => isBerthError(e, 'CONFIG_INVALID'));
});

test('parseCgroupsPath refuses the systemd driver form', () => {
  assert.throws(
    () => parseCgroupsPath('system.slice:docker:abc', 'abc'),
    (e) => isBerthError(e, 'CGROUP_UNSUPPORTED') && /systemd cgroup driver.*not supported.*cgroupfs path/.test(e.message),
  );
});

test('v1: an empty cgroupsPath puts the container under our own cgroup in each hierarchy', async () => {
  await withFiles(({ mountinfo, own }) => {
    const cg = createCgroupManager({ id: 'c1', version: 1, mountinfoFile: mountinfo, ownCgroupFile: own });
    const paths = cg.paths();
    assert.equal(paths['memory'], '/sys/fs/cgroup/memory/process_api/abc/c1');
    assert.equal(paths['cpu'], '/sys/fs/cgroup/cpu/c1');
    assert.equal(paths['cpuacct'], '/sys/fs/cgroup/cpuacct/c1');
    assert.equal(paths['name=systemd'], '/sys/fs/cgroup/systemd/c1');
    assert.equal(paths[''], '/sys/fs/cgroup/unified/c1', 'the hybrid unified hierarchy is included');
    assert.equal(paths['net_cls'], '/sys/fs/cgroup/net_cls,net_prio/c1');
    assert.equal(paths['net_prio'], paths['net_cls']);
    assert.equal(paths['name=mytool'], undefined, 'other named hierarchies are left alone');
    assert.equal(cg.path, '/c1', 'path is the one in the freezer hierarchy');
  });
});

test('v1: an absolute cgroupsPath is taken from each hierarchy root', async () => {
  await withFiles(({ mountinfo, own }) => {
    const cg = createCgroupManager({ id: 'c1', cgroupsPath: '/berth/c1', version: 1, mountinfoFile: mountinfo, ownCgroupFile: own });
    assert.equal(cg.paths()['memory'], '/sys/fs/cgroup/memory/berth/c1');
    assert.equal(cg.path, '/berth/c1');
    assert.equal(cg.version, 1);
  });
});

test('v1: a relative path respects a mount that shows only part of the hierarchy', async () => {
  const mountinfo = '39 35 0:34 /docker/x /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n';
  await withFiles(({ mountinfo: mi, own }) => {
    const cg = createCgroupManager({ id: 'c1', cgroupsPath: 'sub', version: 1, mountinfoFile: mi, ownCgroupFile: own });
    assert.equal(cg.paths()['memory'], '/sys/fs/cgroup/memory/inner/sub');
    assert.equal(cg.path, '/docker/x/inner/sub');
  }, '4:memory:/docker/x/inner\n', mountinfo);
});

test('v2: a relative cgroupsPath hangs off the parent of our own cgroup (runc fs2)', async () => {
  await withFiles(({ own }) => {
    const cg = createCgroupManager({ id: 'c1', version: 2, root: '/sys/fs/cgroup', ownCgroupFile: own });
    assert.deepEqual(cg.paths(), { '': '/sys/fs/cgroup/user.slice/c1' });
    assert.equal(cg.path, '/user.slice/c1');
    const abs = createCgroupManager({ id: 'c1', cgroupsPath: '/berth/c1', version: 2, ownCgroupFile: own });
    assert.deepEqual(abs.paths(), { '': '/sys/fs/cgroup/berth/c1' });
  }, '0::/user.slice/session-1.scope\n');
});

test('saved paths re-open the same cgroup whatever our own cgroup is now', async () => {
  await withFiles(({ mountinfo, own }) => {
    const saved = { memory: '/sys/fs/cgroup/memory/process_api/abc/c1', freezer: '/sys/fs/cgroup/freezer/c1', '': '/sys/fs/cgroup/unified/c1' };
    const cg = createCgroupManager({ id: 'c1', paths: saved, mountinfoFile: mountinfo, ownCgroupFile: own });
    assert.equal(cg.version, 1);
    assert.deepEqual(cg.paths(), saved);
    assert.equal(cg.path, '/c1');
    const v2 = createCgroupManager({ id: 'c1', paths: { '': '/sys/fs/cgroup/berth/c1' } });
    assert.equal(v2.version, 2);
    assert.equal(v2.path, '/berth/c1');
  });
});

test('detectCgroupVersion: hybrid counts as 1, the cgroup2 mount itself as 2', (t) => {
  let v: 1 | 2;
  try {
    v = detectCgroupVersion('/sys/fs/cgroup');
  } catch {
    t.skip('no cgroupfs mounted at /sys/fs/cgroup');
    return;
  }
  const unified = detectCgroupVersion('/sys/fs/cgroup/unified');
  // On this CI host: hybrid. On a unified host /sys/fs/cgroup is itself cgroup2.
  if (v === 1) assert.equal(unified, 2);
  else assert.equal(v, 2);
});
