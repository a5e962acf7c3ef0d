import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isBerthError } from '../../errors/index.js';
import type { LinuxSeccomp } from '../../oci/runtime-spec.js';
import { SCMP_ACT, seccompAction, seccompToPlan, toU64 } from './seccomp.js';

test('seccompAction maps OCI names to libseccomp action values', () => {
  assert.equal(seccompAction('SCMP_ACT_KILL', undefined, 'f'), 0);
  assert.equal(seccompAction('SCMP_ACT_KILL_THREAD', undefined, 'f'), 0);
  assert.equal(seccompAction('SCMP_ACT_KILL_PROCESS', undefined, 'f'), 0x80000000);
  assert.equal(seccompAction('SCMP_ACT_TRAP', undefined, 'f'), 0x00030000);
  assert.equal(seccompAction('SCMP_ACT_LOG', undefined, 'f'), 0x7ffc0000);
  assert.equal(seccompAction('SCMP_ACT_ALLOW', undefined, 'f'), 0x7fff0000);
  assert.equal(seccompAction('SCMP_ACT_NOTIFY', undefined, 'f'), 0x7fc00000);
});

test('ERRNO and TRACE carry errnoRet, EPERM by default', () => {
  assert.equal(seccompAction('SCMP_ACT_ERRNO', undefined, 'f'), 0x00050001);
  assert.equal(seccompAction('SCMP_ACT_ERRNO', 38, 'f'), 0x00050026);
  assert.equal(seccompAction('SCMP_ACT_TRACE', undefined, 'f'), 0x7ff00001);
  assert.equal(seccompAction('SCMP_ACT_TRACE', 0x12345, 'f'), 0x7ff02345);
});

test('errnoRet on an action without an errno is CONFIG_INVALID naming the field', () => {
  assert.throws(
    () => seccompAction('SCMP_ACT_ALLOW', 1, 'linux.seccomp.syscalls[2].action'),
    (err: unknown) => isBerthError(err, 'CONFIG_INVALID') && err.field === 'linux.seccomp.syscalls[2].action',
  );
  assert.throws(() => seccompAction('SCMP_ACT_BOGUS', undefined, 'x'), (err: unknown) => isBerthError(err, 'CONFIG_INVALID') && /SCMP_ACT_BOGUS/.test(err.message));
});

test('seccompToPlan converts a docker-like profile', () => {
  const sc: LinuxSeccomp = {
    defaultAction: 'SCMP_ACT_ERRNO',
    defaultErrnoRet: 1,
    architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
    syscalls: [
      { names: ['read', 'write'], action: 'SCMP_ACT_ALLOW' },
      {
        names: ['personality'],
        action: 'SCMP_ACT_ALLOW',
        args: [{ index: 0, value: 0, op: 'SCMP_CMP_EQ' }],
      },
      {
        names: ['clone'],
        action: 'SCMP_ACT_ALLOW',
        args: [{ index: 0, value: 2114060288, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }],
      },
      { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 },
    ],
  };
  const plan = seccompToPlan(sc)!;
  assert.equal(plan.defaultAction, SCMP_ACT.ERRNO | 1);
  assert.deepEqual(plan.architectures, ['x86_64', 'x86', 'x32']);
  // flags absent: SPEC_ALLOW, runc's default.
  assert.equal(plan.flags, 4);
  assert.deepEqual(plan.syscalls, [
    { names: ['read', 'write'], action: SCMP_ACT.ALLOW, args: [] },
    { names: ['personality'], action: SCMP_ACT.ALLOW, args: [{ index: 0, value: 0n, valueTwo: 0n, op: 4 }] },
    { names: ['clone'], action: SCMP_ACT.ALLOW, args: [{ index: 0, value: 2114060288n, valueTwo: 0n, op: 7 }] },
    { names: ['clone3'], action: SCMP_ACT.ERRNO | 38, args: [] },
  ]);
});

test('seccompToPlan maps every operator to libseccomp numbers', () => {
  const ops = ['SCMP_CMP_NE', 'SCMP_CMP_LT', 'SCMP_CMP_LE', 'SCMP_CMP_EQ', 'SCMP_CMP_GE', 'SCMP_CMP_GT', 'SCMP_CMP_MASKED_EQ'];
  const plan = seccompToPlan({
    defaultAction: 'SCMP_ACT_ALLOW',
    syscalls: ops.map((op, i) => ({ names: ['x'], action: 'SCMP_ACT_KILL', args: [{ index: i % 6, value: 1, op }] })),
  })!;
  assert.deepEqual(plan.syscalls.map((r) => r.args[0]!.op), [1, 2, 3, 4, 5, 6, 7]);
});

test('seccompToPlan drops rules whose action is the default action (runc skips them)', () => {
  const plan = seccompToPlan({
    defaultAction: 'SCMP_ACT_ERRNO',
    syscalls: [
      { names: ['a'], action: 'SCMP_ACT_ERRNO' },
      { names: ['b'], action: 'SCMP_ACT_ERRNO', errnoRet: 2 },
    ],
  })!;
  assert.deepEqual(plan.syscalls.map((r) => r.names[0]), ['b']);
});

test('seccompToPlan splits conditions on the same argument into separate rules', () => {
  const plan = seccompToPlan({
    defaultAction: 'SCMP_ACT_ALLOW',
    syscalls: [
      {
        names: ['socket'],
        action: 'SCMP_ACT_ERRNO',
        args: [
          { index: 0, value: 16, op: 'SCMP_CMP_EQ' },
          { index: 0, value: 17, op: 'SCMP_CMP_EQ' },
        ],
      },
      {
        names: ['kill'],
        action: 'SCMP_ACT_ERRNO',
        args: [
          { index: 0, value: 1, op: 'SCMP_CMP_EQ' },
          { index: 1, value: 9, op: 'SCMP_CMP_EQ' },
        ],
      },
    ],
  })!;
  assert.equal(plan.syscalls.length, 3);
  assert.deepEqual(plan.syscalls[0]!.args.map((a) => a.value), [16n]);
  assert.deepEqual(plan.syscalls[1]!.args.map((a) => a.value), [17n]);
  assert.equal(plan.syscalls[2]!.args.length, 2);
});

test('seccompToPlan reads flags, an empty flag list means none', () => {
  assert.equal(seccompToPlan({ defaultAction: 'SCMP_ACT_ALLOW', flags: [] })!.flags, 0);
  assert.equal(
    seccompToPlan({ defaultAction: 'SCMP_ACT_ALLOW', flags: ['SECCOMP_FILTER_FLAG_TSYNC', 'SECCOMP_FILTER_FLAG_LOG', 'SECCOMP_FILTER_FLAG_SPEC_ALLOW'] })!.flags,
    1 | 2 | 4,
  );
});

test('seccompToPlan is undefined without a default action and rules', () => {
  assert.equal(seccompToPlan(undefined), undefined);
  assert.equal(seccompToPlan({ defaultAction: '' }), undefined);
});

test('seccompToPlan carries listenerPath only when a rule notifies (runc sends nothing otherwise)', () => {
  const notify = seccompToPlan({
    defaultAction: 'SCMP_ACT_ALLOW',
    listenerPath: '/run/agent.sock',
    listenerMetadata: 'meta',
    syscalls: [
      { names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_NOTIFY' },
      { names: ['reboot'], action: 'SCMP_ACT_ERRNO' },
    ],
  })!;
  assert.equal(notify.listenerPath, '/run/agent.sock');
  assert.deepEqual(notify.syscalls[0], { names: ['mkdir', 'mkdirat'], action: SCMP_ACT.NOTIFY, args: [] });
  const quiet = seccompToPlan({ defaultAction: 'SCMP_ACT_ALLOW', listenerPath: '/run/agent.sock', syscalls: [{ names: ['reboot'], action: 'SCMP_ACT_ERRNO' }] })!;
  assert.equal(quiet.listenerPath, undefined);
  assert.equal('listenerPath' in quiet, false);
});

test('seccompToPlan refuses notify setups that would hang or have nowhere to go, naming the field', () => {
  const invalid = (sc: LinuxSeccomp, field: string, re: RegExp): void =>
    assert.throws(
      () => seccompToPlan(sc),
      (err: unknown) => isBerthError(err, 'CONFIG_INVALID') && err.field === field && re.test(err.message),
      field,
    );
  const l = '/run/agent.sock';
  invalid({ defaultAction: 'SCMP_ACT_NOTIFY', listenerPath: l }, 'linux.seccomp.defaultAction', /cannot be used as default action/);
  invalid(
    { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['x'], action: 'SCMP_ACT_KILL' }, { names: ['mkdir'], action: 'SCMP_ACT_NOTIFY' }] },
    'linux.seccomp.listenerPath',
    /is required: linux\.seccomp\.syscalls\[1\]\.action is SCMP_ACT_NOTIFY/,
  );
  invalid(
    {
      defaultAction: 'SCMP_ACT_ALLOW',
      listenerPath: l,
      syscalls: [{ names: ['x'], action: 'SCMP_ACT_KILL' }, { names: ['y'], action: 'SCMP_ACT_KILL' }, { names: ['write', 'sendmsg'], action: 'SCMP_ACT_NOTIFY' }],
    },
    'linux.seccomp.syscalls[2].action',
    /SCMP_ACT_NOTIFY cannot be used for sendmsg/,
  );
  invalid({ defaultAction: 'SCMP_ACT_ALLOW', listenerPath: 'agent.sock', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_NOTIFY' }] }, 'linux.seccomp.listenerPath', /absolute/);
  invalid({ defaultAction: 'SCMP_ACT_ALLOW', listenerMetadata: 'm' }, 'linux.seccomp.listenerMetadata', /without listenerPath/);
  invalid({ defaultAction: 'SCMP_ACT_ALLOW', listenerPath: l, syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_NOTIFY', errnoRet: 1 }] }, 'linux.seccomp.syscalls[0].action', /errnoRet/);
});

test('seccompToPlan lets write, read and close notify: berth-init has handed the fd over before it makes them', () => {
  const plan = seccompToPlan({ defaultAction: 'SCMP_ACT_ALLOW', listenerPath: '/a', syscalls: [{ names: ['write', 'read', 'close'], action: 'SCMP_ACT_NOTIFY' }] })!;
  assert.equal(plan.syscalls[0]!.action, SCMP_ACT.NOTIFY);
});

test('seccompToPlan rejects WAIT_KILLABLE_RECV as unsupported', () => {
  assert.throws(
    () => seccompToPlan({ defaultAction: 'SCMP_ACT_ALLOW', flags: ['SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV'] }),
    (err: unknown) => isBerthError(err, 'CONFIG_UNSUPPORTED') && err.field === 'linux.seccomp.flags[0]',
  );
});

test('seccompToPlan rejects unknown arches, operators, flags and argument indexes', () => {
  const invalid = (sc: LinuxSeccomp, field: string): void =>
    assert.throws(() => seccompToPlan(sc), (err: unknown) => isBerthError(err, 'CONFIG_INVALID') && err.field === field, field);
  invalid({ defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_Z80'] }, 'linux.seccomp.architectures[0]');
  invalid({ defaultAction: 'SCMP_ACT_ALLOW', flags: ['SECCOMP_FILTER_FLAG_X'] }, 'linux.seccomp.flags[0]');
  invalid({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['x'], action: 'SCMP_ACT_KILL', args: [{ index: 0, value: 1, op: 'SCMP_CMP_XX' }] }] }, 'linux.seccomp.syscalls[0].args[0].op');
  invalid({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['x'], action: 'SCMP_ACT_KILL', args: [{ index: 6, value: 1, op: 'SCMP_CMP_EQ' }] }] }, 'linux.seccomp.syscalls[0].args[0].index');
});

test('toU64 maps the float 2^64 that 18446744073709551615 parses to onto 2^64-1', () => {
  assert.equal(toU64(JSON.parse('18446744073709551615') as number), (1n << 64n) - 1n);
  assert.equal(toU64(4294967295), 4294967295n);
});
