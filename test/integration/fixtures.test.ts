/**
 * The test fixtures themselves: the probe, the bundle helper and the leak
 * check, proven against runc, the reference runtime. When these fail, every
 * other integration test is suspect.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, lstatSync, readFileSync, readlinkSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';

import { makeBundle, TEST_USER } from '../helpers/bundle.js';
import { isStaticElf } from '../helpers/elf.js';
import { assertNoLeaks, snapshotHost, withLeakCheck } from '../helpers/leaks.js';
import { parseProbe, type ProbeReport, type ProbeResult } from '../helpers/probe.js';
import { requires } from '../helpers/requires.js';
import { describeResult, runCmd, runtimeCli } from '../helpers/run.js';
import { probePath, TEST_TMP_PREFIX, testTmpRoot } from '../helpers/paths.js';

withLeakCheck();

const uniqueId = (name: string) => `berth-fixtures-${name}-${process.pid}-${Date.now() % 100000}`;

test('the probe is a static binary that reports itself as JSON', { skip: requires('probe') }, async () => {
  assert.ok(isStaticElf(probePath), `${probePath} must be statically linked`);
  const r = await runCmd(probePath, []);
  assert.equal(r.code, 0, describeResult(r));
  const report = parseProbe(r.stdout);
  assert.equal(report.pid > 0, true);
  assert.equal(report.ppid, process.pid);
  assert.equal(report.uid.effective, process.geteuid?.());
  assert.match(report.caps.bounding, /^[0-9a-f]{16}$/);
  assert.ok(report.mounts.some((m) => m.mountPoint === '/'), 'mountinfo has the root mount');
  assert.ok(report.namespaces.pid?.startsWith('pid:['));
  assert.deepEqual(report.tty.isatty, [0, 0, 0]);
});

test('probe subcommands report results and errnos', { skip: requires('probe') }, async () => {
  const dir = await mkdtemp(join(testTmpRoot(), `${TEST_TMP_PREFIX}probe-`));
  try {
    const mk = parseProbe<ProbeResult>((await runCmd(probePath, ['syscall', 'mkdir', join(dir, 'a')])).stdout);
    assert.deepEqual(mk, { ret: 0, errno: 0, error: null });
    const again = parseProbe<ProbeResult>((await runCmd(probePath, ['syscall', 'mkdir', join(dir, 'a')])).stdout);
    assert.equal(again.error, 'EEXIST');

    const w = parseProbe<ProbeResult>((await runCmd(probePath, ['write', join(dir, 'f'), 'hello'])).stdout);
    assert.equal(w.ret, 5);
    const rd = parseProbe<ProbeResult>((await runCmd(probePath, ['read', join(dir, 'f')])).stdout);
    assert.equal(rd.data, 'hello');
    const st = parseProbe<ProbeResult>((await runCmd(probePath, ['stat', '/dev/null'])).stdout);
    assert.deepEqual([st.type, st.rdevMajor, st.rdevMinor], ['char', 1, 3]);

    const echo = await runCmd(probePath, ['echo-stdin'], { input: 'line one\nline two\n' });
    assert.equal(echo.stdout, 'line one\nline two\n');
    const exit = await runCmd(probePath, ['exit', '7']);
    assert.equal(exit.code, 7);
    const mem = parseProbe<{ allocatedMb: number }>((await runCmd(probePath, ['spin-mem', '4'])).stdout);
    assert.equal(mem.allocatedMb, 4);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('makeBundle makes a busybox rootfs with the probe and a config', { skip: requires('busybox', 'probe') }, async () => {
  let dir: string;
  {
    await using bundle = await makeBundle({ config: (spec) => (spec.process.args = ['/probe', 'exit', '3']) });
    dir = bundle.dir;
    assert.ok(bundle.dir.includes(TEST_TMP_PREFIX));
    assert.ok(isStaticElf(join(bundle.rootfs, 'bin/busybox')));
    assert.equal(readlinkSync(join(bundle.rootfs, 'bin/sh')), 'busybox');
    for (const applet of ['ls', 'cat', 'echo', 'sleep', 'id', 'hostname', 'mount', 'ps', 'true', 'false', 'env', 'grep', 'mkdir', 'touch']) {
      assert.ok(lstatSync(join(bundle.rootfs, 'bin', applet)).isSymbolicLink(), `applet ${applet}`);
    }
    assert.ok(existsSync(join(bundle.rootfs, 'probe')));
    assert.match(readFileSync(join(bundle.rootfs, 'etc/passwd'), 'utf8'), new RegExp(`^${TEST_USER.name}:x:1000:1000:`, 'm'));
    assert.equal(lstatSync(join(bundle.rootfs, 'tmp')).mode & 0o7777, 0o1777);
    for (const d of ['proc', 'sys', 'dev']) assert.ok(lstatSync(join(bundle.rootfs, d)).isDirectory());

    const spec = await bundle.readConfig();
    assert.deepEqual(spec.process.args, ['/probe', 'exit', '3']);
    assert.equal(spec.process.terminal, false);
    assert.equal(spec.root.path, 'rootfs');

    spec.hostname = 'changed';
    await bundle.writeConfig(spec);
    assert.equal((await bundle.readConfig()).hostname, 'changed');
  }
  assert.equal(existsSync(dir), false, 'await using removed the bundle');
});

test('runc runs the probe in a bundle, where it is pid 1', { skip: requires('root', 'runc', 'busybox', 'probe') }, async () => {
  await using rt = await runtimeCli('runc');
  await using bundle = await makeBundle({
    config: (spec) => {
      spec.process.args = ['/probe'];
      spec.hostname = 'probe-host';
    },
  });
  const r = await rt.run(['run', '--bundle', bundle.dir, uniqueId('run')], { timeoutMs: 30_000 });
  assert.equal(r.code, 0, describeResult(r));
  const report: ProbeReport = parseProbe(r.stdout);
  assert.equal(report.pid, 1);
  assert.equal(report.hostname, 'probe-host');
  assert.deepEqual(report.argv, ['/probe']);
  assert.equal(report.cwd, '/');
  assert.equal(report.uid.effective, 0);
  assert.ok(report.env.some((e) => e.startsWith('PATH=')));
  assert.deepEqual(Object.keys(report.fds).sort(), ['0', '1', '2'], 'only stdio is open');
  const host = parseProbe((await runCmd(probePath, [])).stdout);
  for (const ns of ['pid', 'mnt', 'uts', 'ipc', 'net']) {
    assert.notEqual(report.namespaces[ns], host.namespaces[ns], `${ns} namespace is the container's own`);
  }
  const root = report.mounts.find((m) => m.mountPoint === '/');
  assert.ok(root, 'the container has a root mount');
  assert.match(root.options, /^ro\b/, 'the default spec makes the root read-only');
  assert.ok(report.mounts.some((m) => m.mountPoint === '/proc' && m.fstype === 'proc'));
  // `runc run` deletes the container when it exits.
  assert.equal((await rt.ok(['list', '--quiet'])).stdout.trim(), '');
});

test('runc passes stdin through, and the probe reports errnos inside the container', { skip: requires('root', 'runc', 'busybox', 'probe') }, async () => {
  await using rt = await runtimeCli('runc');
  await using bundle = await makeBundle({ config: (spec) => (spec.process.args = ['/probe', 'echo-stdin']) });
  const echo = await rt.run(['run', '--bundle', bundle.dir, uniqueId('echo')], { input: 'through the container\n', timeoutMs: 30_000 });
  assert.equal(echo.code, 0, describeResult(echo));
  assert.equal(echo.stdout, 'through the container\n');

  const spec = await bundle.readConfig();
  spec.process.args = ['/probe', 'syscall', 'mkdir', '/new-dir'];
  await bundle.writeConfig(spec);
  const mk = await rt.run(['run', '--bundle', bundle.dir, uniqueId('erofs')], { timeoutMs: 30_000 });
  assert.equal(mk.code, 0, describeResult(mk));
  assert.equal(parseProbe<ProbeResult>(mk.stdout).error, 'EROFS');
});

test('a leak check passes after runc deletes a detached container', { skip: requires('root', 'runc', 'busybox', 'probe') }, async () => {
  await using rt = await runtimeCli('runc');
  await using bundle = await makeBundle({ config: (spec) => (spec.process.args = ['/probe', 'sleep', '60']) });
  const before = snapshotHost({ markers: [bundle.dir] });
  const id = uniqueId('leak');
  await rt.ok(['create', '--bundle', bundle.dir, id], { timeoutMs: 30_000 });
  await rt.ok(['start', id]);
  const state = JSON.parse((await rt.ok(['state', id])).stdout) as { status: string; pid: number };
  assert.equal(state.status, 'running');
  await assert.rejects(assertNoLeaks(before, { graceMs: 0, markers: [bundle.dir] }), (e: Error) => {
    assert.match(e.message, new RegExp(`process pid ${state.pid} \\(.*in another namespace`));
    assert.match(e.message, new RegExp(`cgroup .*/${id}`));
    return true;
  });
  await rt.ok(['delete', '--force', id]);
  await assertNoLeaks(before, { markers: [bundle.dir] });
});

test('the leak check reports a leftover mount and child process', { skip: requires('root') }, async () => {
  const dir = await mkdtemp(join(testTmpRoot(), `${TEST_TMP_PREFIX}leak-`));
  const before = snapshotHost();
  const mnt = join(dir, 'mnt');
  await mkdir(mnt);
  const child = spawn('sleep', ['60'], { stdio: 'ignore' });
  try {
    const mounted = await runCmd('mount', ['-t', 'tmpfs', 'leak-test', mnt]);
    assert.equal(mounted.code, 0, describeResult(mounted));
    await assert.rejects(assertNoLeaks(before, { graceMs: 0 }), (e: Error) => {
      assert.match(e.message, new RegExp(`mount ${mnt} \\(tmpfs\\)`));
      assert.match(e.message, new RegExp(`process pid ${child.pid} \\(child of the test process\\): sleep 60`));
      return true;
    });
  } finally {
    await runCmd('umount', [mnt]);
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    await rm(dir, { recursive: true, force: true });
  }
  await assertNoLeaks(before);
});
