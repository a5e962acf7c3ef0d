import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CLONE_NEW, PERSONALITY, RLIMIT, RLIM_INFINITY, S_IFBLK, S_IFCHR, S_IFIFO, S_IFMT } from './linux-constants.js';
import { NAMESPACE_TYPES, HOOK_NAMES, CAPABILITY_SETS } from './runtime-spec.js';

test('namespace clone flags have the kernel values', () => {
  assert.deepEqual(CLONE_NEW, {
    TIME: 0x80n,
    NS: 0x20000n,
    CGROUP: 0x02000000n,
    UTS: 0x04000000n,
    IPC: 0x08000000n,
    USER: 0x10000000n,
    PID: 0x20000000n,
    NET: 0x40000000n,
  });
});

test('file types, rlimits and personalities have the kernel values', () => {
  assert.equal(S_IFMT, 0o170000);
  assert.equal(S_IFCHR, 0o020000);
  assert.equal(S_IFBLK, 0o060000);
  assert.equal(S_IFIFO, 0o010000);
  assert.deepEqual(Object.values(RLIMIT), [...Array(16).keys()]);
  assert.equal(RLIMIT.RLIMIT_NOFILE, 7);
  assert.equal(RLIMIT.RLIMIT_RTTIME, 15);
  assert.equal(RLIM_INFINITY, 18446744073709551615n);
  assert.deepEqual(PERSONALITY, { LINUX: 0, LINUX32: 8 });
});

test('the runtime-spec name tables are complete', () => {
  assert.deepEqual([...NAMESPACE_TYPES].sort(), ['cgroup', 'ipc', 'mount', 'network', 'pid', 'time', 'user', 'uts']);
  assert.equal(HOOK_NAMES.length, 6);
  assert.equal(CAPABILITY_SETS.length, 5);
});
