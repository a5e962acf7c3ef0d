import { test } from 'node:test';
import assert from 'node:assert/strict';
import { features } from './features.js';

test('features has the shape of runc features and lists only what berth honours', () => {
  const f = features();
  assert.equal(f.ociVersionMin, '1.0.0');
  assert.equal(f.ociVersionMax, '1.3.0');
  assert.deepEqual(f.hooks, ['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop']);
  assert.ok(f.mountOptions!.includes('rbind'));
  assert.ok(!f.mountOptions!.includes('tmpcopyup'));
  assert.deepEqual(f.linux!.namespaces, ['cgroup', 'ipc', 'mount', 'network', 'pid', 'time', 'user', 'uts']);
  assert.equal(f.linux!.capabilities!.length, 41);
  assert.deepEqual(f.linux!.cgroup, { v1: true, v2: true, systemd: false, systemdUser: false, rdma: false });
  const sc = f.linux!.seccomp!;
  assert.equal(sc.enabled, true);
  // Every action runc 1.1 lists, SCMP_ACT_NOTIFY (with listenerPath) included.
  assert.deepEqual(sc.actions, [
    'SCMP_ACT_ALLOW',
    'SCMP_ACT_ERRNO',
    'SCMP_ACT_KILL',
    'SCMP_ACT_KILL_PROCESS',
    'SCMP_ACT_KILL_THREAD',
    'SCMP_ACT_LOG',
    'SCMP_ACT_NOTIFY',
    'SCMP_ACT_TRACE',
    'SCMP_ACT_TRAP',
  ]);
  assert.ok(sc.actions!.includes('SCMP_ACT_KILL_PROCESS'));
  assert.equal(sc.operators!.length, 7);
  assert.ok(sc.archs!.includes('SCMP_ARCH_X86_64'));
  assert.ok(sc.knownFlags!.includes('SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV'));
  assert.ok(!sc.supportedFlags!.includes('SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV'));
  assert.deepEqual(f.linux!.mountExtensions, { idmap: { enabled: false } });
  assert.equal(f.annotations, undefined);
  assert.deepEqual(features({ annotations: { a: 'b' }, cgroup: { rdma: true } }).annotations, { a: 'b' });
  assert.equal(features({ cgroup: { rdma: true } }).linux!.cgroup!.rdma, true);
});
