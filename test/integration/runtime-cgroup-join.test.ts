/**
 * How container processes get into their cgroups. berth-init does it
 * without writing their pid into cgroup.procs (which costs a RCU grace
 * period): the process writes "0" to each v1 hierarchy's `tasks` file, which
 * stage 0 opened on the host, and stage 0 clones it into the cgroup v2
 * directory (CLONE_INTO_CGROUP). These tests read /proc/PID/cgroup from the
 * host for init and exec'd processes, under berth-runtime and runc alike,
 * across the cases that change the mechanism: user namespaces, new and
 * joined cgroup namespaces, exec with and without one, a pids limit of 1.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import { BerthError } from '../../src/errors/index.js';
import { makeBundle, type BundleSpec } from '../helpers/bundle.js';
import { devfilterSkip, withFilteredContainer } from '../helpers/devfilter-harness.js';
import { withLeakCheck } from '../helpers/leaks.js';
import { testTmpRoot } from '../helpers/paths.js';
import { requires } from '../helpers/requires.js';
import { runtimeCli, type RuntimeName } from '../helpers/run.js';

withLeakCheck();

const skip = requires('root', 'busybox', 'probe', 'berth-runtime', 'cgroup-v1');
const skipRunc = skip ?? requires('runc');
let seq = 0;
const newId = (name: string) => `cj-${name}-${process.pid}-${seq++}`;

/** /proc/PID/cgroup with the container id made neutral, sorted by hierarchy. */
function hostCgroups(pid: number, id: string): string[] {
  return readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim().split('\n').map((l) => l.split(id).join('ID')).sort();
}

const userns = (s: BundleSpec): void => {
  s.linux.namespaces = [...(s.linux.namespaces ?? []), { type: 'user' }];
  s.linux.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
  s.linux.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
  // sysfs and cgroup mounts need the network and cgroup namespaces' owner to be ours.
  s.mounts = (s.mounts ?? []).filter((m) => m.type !== 'sysfs' && m.type !== 'cgroup');
};
const cgroupns = (s: BundleSpec): void => {
  s.linux.namespaces = [...(s.linux.namespaces ?? []).filter((n) => n.type !== 'cgroup'), { type: 'cgroup' }];
};

interface Placement {
  init: string[];
  exec: string[];
  /** The cgroups of the test process itself, to show the container is elsewhere. */
  mine: string[];
}

/** Creates a sleeping container, execs a detached sleep into it, reports where both are. */
async function placement(runtime: RuntimeName, edit: (s: BundleSpec) => void): Promise<Placement> {
  await using rt = await runtimeCli(runtime);
  await using b = await makeBundle({
    config: (s) => {
      s.process.args = ['/probe', 'sleep', '60'];
      s.linux.resources = { ...s.linux.resources, pids: { limit: 10 } };
      edit(s);
    },
  });
  // mkdtemp's 0700 would keep a user namespace's root (host uid 100000) out of the rootfs.
  chmodSync(b.dir, 0o755);
  const id = newId(runtime);
  const initPidFile = join(b.dir, 'init.pid');
  await rt.ok(['create', '--bundle', b.dir, '--pid-file', initPidFile, id]);
  const init = hostCgroups(Number(readFileSync(initPidFile, 'utf8')), id);
  await rt.ok(['start', id]);
  const execPidFile = join(b.dir, 'exec.pid');
  await rt.ok(['exec', '--detach', '--pid-file', execPidFile, id, '/probe', 'sleep', '60']);
  const exec = hostCgroups(Number(readFileSync(execPidFile, 'utf8')), id);
  await rt.ok(['delete', '--force', id]);
  return { init, exec, mine: hostCgroups(process.pid, id) };
}

const cases: Array<[string, (s: BundleSpec) => void]> = [
  ['no cgroup namespace', () => {}],
  ['a new cgroup namespace', cgroupns],
  ['a user namespace', userns],
  ['a user and a cgroup namespace', (s) => { userns(s); cgroupns(s); }],
];

for (const [name, edit] of cases) {
  test(`init and exec'd processes are in the container's cgroups in every hierarchy, as under runc: ${name}`, { skip: skipRunc }, async () => {
    const berth = await placement('berth-runtime', edit);
    const runc = await placement('runc', edit);
    assert.deepEqual(berth.init, runc.init, 'init');
    assert.deepEqual(berth.exec, runc.exec, 'exec');
    assert.deepEqual(berth.exec, berth.init);
    // Every hierarchy, the hybrid unified one too, names the container.
    for (const line of berth.init) assert.match(line, /:\/(.+\/)?ID$/, line);
    assert.equal(berth.init.length, berth.mine.length);
  });
}

test('a container that joins another\'s cgroup namespace by path is still created in its own cgroups', { skip }, async () => {
  await using rt = await runtimeCli();
  await using first = await makeBundle({ config: (s) => { s.process.args = ['/probe', 'sleep', '60']; cgroupns(s); } });
  const firstId = newId('ns-owner');
  await rt.ok(['run', '--detach', '--bundle', first.dir, firstId]);
  const owner = JSON.parse((await rt.ok(['state', firstId])).stdout) as { pid: number };
  await using second = await makeBundle({
    config: (s) => {
      s.process.args = ['/probe', 'sleep', '60'];
      s.linux.namespaces = [...(s.linux.namespaces ?? []), { type: 'cgroup', path: `/proc/${owner.pid}/ns/cgroup` }];
    },
  });
  const id = newId('ns-joiner');
  await rt.ok(['create', '--bundle', second.dir, id]);
  const st = JSON.parse((await rt.ok(['state', id])).stdout) as { pid: number };
  for (const line of hostCgroups(st.pid, id)) assert.match(line, /:\/(.+\/)?ID$/, line);
  const execPidFile = join(second.dir, 'exec.pid');
  await rt.ok(['exec', '--detach', '--pid-file', execPidFile, id, '/probe', 'sleep', '60']);
  assert.deepEqual(hostCgroups(Number(readFileSync(execPidFile, 'utf8')), id), hostCgroups(st.pid, id));
  await rt.ok(['delete', '--force', id]);
  await rt.ok(['delete', '--force', firstId]);
});

test('a pids limit of 1 leaves room for the container process alone: berth-init itself never joins', { skip }, async () => {
  await using rt = await runtimeCli();
  await using b = await makeBundle({ config: (s) => { s.process.args = ['/probe', 'exit', '7']; s.linux.resources = { pids: { limit: 1 } }; } });
  const r = await rt.run(['run', '--bundle', b.dir, newId('pids1')]);
  assert.equal(r.code, 7, r.stderr);
});

test('berth-init refuses a cgroup tasks file that is not on a cgroup v1 filesystem, before any clone', { skip: skip ?? devfilterSkip }, async () => {
  const fake = join(testTmpRoot(), `not-a-cgroup-${process.pid}`);
  writeFileSync(fake, '');
  try {
    await assert.rejects(
      withFilteredContainer({ name: 'cj-fake-tasks', script: 'true', stdio: 'files', edit: (plan) => { plan.cgroupTasks = [fake]; } }, async () => {}),
      (e) => e instanceof BerthError && /failed at cgroup: cgroup tasks file .*not-a-cgroup.* is not on a cgroup v1 filesystem/.test(e.message),
    );
    assert.equal(readFileSync(fake, 'utf8'), '', 'nothing was written to it');
  } finally {
    rmSync(fake, { force: true });
  }
});

test('a cgroup the container process cannot join fails create at stage cgroup, naming the file', { skip: skip ?? devfilterSkip }, async () => {
  // A new cpuset cgroup has no cpus and no mems: the kernel refuses every task (ENOSPC).
  const dir = join('/sys/fs/cgroup/cpuset', `berth-test-cj-empty-${process.pid}`);
  mkdirSync(dir);
  try {
    await assert.rejects(
      withFilteredContainer(
        { name: 'cj-empty-cpuset', script: 'true', stdio: 'files', edit: (plan) => { plan.cgroupTasks = [join(dir, 'tasks')]; } },
        async () => {},
      ),
      (e) => e instanceof BerthError && /failed at cgroup: join cgroup \(write 0 to .*berth-test-cj-empty-.*\/tasks\).*ENOSPC/.test(e.message),
    );
    assert.equal(readFileSync(join(dir, 'tasks'), 'utf8'), '', 'nobody joined');
  } finally {
    for (let i = 0; ; i++) {
      try {
        rmdirSync(dir);
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EBUSY' || i > 50) throw e;
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  }
});
