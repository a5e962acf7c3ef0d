import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import { DOCKER_DEFAULT_CAPABILITIES } from './default-spec.js';
import { DOCKER_DEFAULT_PROFILE, defaultSeccomp } from './seccomp-default.js';

const amd64 = { arch: 'amd64', kernel: '6.1.0-13-amd64' };

function allowed(seccomp: ReturnType<typeof defaultSeccomp>): Set<string> {
  return new Set(seccomp.syscalls!.filter((s) => s.action === 'SCMP_ACT_ALLOW' && !s.args).flatMap((s) => s.names));
}

test('Docker default profile for amd64 with Docker capabilities: EPERM default, x86 arches, no namespace or mount syscalls', () => {
  const s = defaultSeccomp(DOCKER_DEFAULT_CAPABILITIES, amd64);
  assert.equal(s.defaultAction, 'SCMP_ACT_ERRNO');
  assert.equal(s.defaultErrnoRet, 1);
  assert.deepEqual(s.architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
  const allow = allowed(s);
  for (const name of ['read', 'write', 'execve', 'arch_prctl', 'modify_ldt', 'chroot', 'ptrace', 'name_to_handle_at', 'pkey_alloc']) {
    assert.ok(allow.has(name), `${name} is allowed`);
  }
  for (const name of ['mount', 'umount2', 'unshare', 'setns', 'reboot', 'bpf', 'open_by_handle_at', 'kcmp', 'init_module', 'clock_settime', 'set_tls', 'keyctl', 'add_key']) {
    assert.ok(!allow.has(name), `${name} is not allowed`);
  }
  // clone only without namespace flags, clone3 ENOSYS so that libc falls back to clone.
  const clone = s.syscalls!.filter((c) => c.names.includes('clone'));
  assert.deepEqual(clone, [{ names: ['clone'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 2114060288, op: 'SCMP_CMP_MASKED_EQ' }] }]);
  assert.deepEqual(
    s.syscalls!.find((c) => c.names.includes('clone3')),
    { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 },
  );
  assert.deepEqual(s.syscalls!.find((c) => c.names.includes('socket')), { names: ['socket'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 40, op: 'SCMP_CMP_NE' }] });
  assert.equal(s.syscalls!.filter((c) => c.names.includes('personality')).length, 5);
  // No rule carries the profile's own conditions.
  assert.ok(s.syscalls!.every((c) => !('includes' in c) && !('excludes' in c)));
});

test('capability-conditional rules follow the bounding set', () => {
  const s = defaultSeccomp([...DOCKER_DEFAULT_CAPABILITIES, 'CAP_SYS_ADMIN', 'CAP_SYS_PTRACE'], amd64);
  const allow = allowed(s);
  for (const name of ['mount', 'unshare', 'setns', 'clone', 'clone3', 'kcmp', 'pidfd_getfd']) assert.ok(allow.has(name), name);
  assert.ok(!s.syscalls!.some((c) => c.names.includes('clone3') && c.action === 'SCMP_ACT_ERRNO'));
  assert.ok(!s.syscalls!.some((c) => c.names.includes('clone') && c.args));
  const none = allowed(defaultSeccomp([], amd64));
  assert.ok(!none.has('chroot'), 'chroot needs CAP_SYS_CHROOT');
});

test('architecture and kernel conditions', () => {
  const arm = defaultSeccomp(DOCKER_DEFAULT_CAPABILITIES, { arch: 'arm64', kernel: '6.1' });
  assert.deepEqual(arm.architectures, ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM']);
  assert.ok(allowed(arm).has('set_tls') && !allowed(arm).has('arch_prctl'));
  const s390 = defaultSeccomp(DOCKER_DEFAULT_CAPABILITIES, { arch: 's390x', kernel: '6.1' });
  assert.deepEqual(s390.syscalls!.filter((c) => c.names.includes('clone')).map((c) => c.args![0]!.index), [1]);
  const old = allowed(defaultSeccomp(DOCKER_DEFAULT_CAPABILITIES, { arch: 'amd64', kernel: '4.4.0' }));
  assert.ok(!old.has('ptrace'), 'ptrace needs CAP_SYS_PTRACE before 4.8');
  assert.ok(allowed(defaultSeccomp(DOCKER_DEFAULT_CAPABILITIES, { arch: 'amd64', kernel: '4.8.0' })).has('ptrace'));
});

test('every rule name of the profile is a syscall name; the allow list has no duplicates', () => {
  const all = DOCKER_DEFAULT_PROFILE.syscalls.flatMap((r) => r.names);
  assert.ok(all.every((n) => /^_?[a-z][a-z0-9_]*$/.test(n)));
  const first = DOCKER_DEFAULT_PROFILE.syscalls[0]!.names;
  assert.equal(new Set(first).size, first.length);
});

test('the profile differs from podman containers-common seccomp.json only where Docker and podman differ', { skip: (() => { try { readFileSync('/usr/share/containers/seccomp.json'); return undefined; } catch { return 'needs /usr/share/containers/seccomp.json'; } })() }, () => {
  const podman = JSON.parse(readFileSync('/usr/share/containers/seccomp.json', 'utf8')) as { syscalls: Array<{ names: string[]; action: string; includes?: object; excludes?: object; args?: unknown[] }> };
  const unconditional = (rules: Array<{ names: string[]; action: string; includes?: object; excludes?: object; args?: unknown[] }>): Set<string> =>
    new Set(rules.filter((r) => r.action === 'SCMP_ACT_ALLOW' && !r.args?.length && (!r.includes || Object.keys(r.includes).length === 0) && (!r.excludes || Object.keys(r.excludes).length === 0)).flatMap((r) => r.names));
  const docker = unconditional(DOCKER_DEFAULT_PROFILE.syscalls);
  const theirs = unconditional(podman.syscalls);
  const common = [...docker].filter((n) => theirs.has(n));
  // Both descend from the same list: nearly all of Docker's allowlist is in podman's.
  assert.ok(common.length / docker.size > 0.9, `${common.length} of ${docker.size} in common`);
});
