/**
 * Bad input to berth-runtime: a clear error that names the field or the
 * state, a non-zero exit, and nothing left behind (no state directory,
 * cgroup, mount or process; the leak check after the file enforces the
 * last three).
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';

import { makeBundle } from '../helpers/bundle.js';
import { withLeakCheck } from '../helpers/leaks.js';
import { requires } from '../helpers/requires.js';
import { describeResult, runtimeCli } from '../helpers/run.js';

withLeakCheck();

const skip = requires('root', 'busybox', 'probe', 'berth-runtime', 'cgroup-v1');
let seq = 0;
const newId = (name: string) => `bad-${name}-${process.pid}-${seq++}`;

type Rt = Awaited<ReturnType<typeof runtimeCli>>;

/** A failed command: exit 1, the message on stderr, and no trace of the container under the root. */
async function expectFailure(rt: Rt, args: string[], message: RegExp, id?: string): Promise<void> {
  const r = await rt.run(args);
  assert.equal(r.code, 1, describeResult(r));
  assert.match(r.stderr, message, describeResult(r));
  if (id !== undefined) {
    assert.equal(existsSync(join(rt.root, id)), false, `state of ${id} left behind`);
    assert.equal(existsSync(join(rt.root, `${id}.lock`)), false, `lock of ${id} left behind`);
  }
}

test('create with malformed config.json names the parse error and leaves nothing', { skip }, async () => {
  await using rt = await runtimeCli();
  await using b = await makeBundle();
  await writeFile(b.configPath, '{"ociVersion": "1.0.2", "process": {');
  const id = newId('json');
  await expectFailure(rt, ['create', '--bundle', b.dir, id], /config\.json/, id);
});

test('create without config.json names the missing file', { skip }, async () => {
  await using rt = await runtimeCli();
  await using b = await makeBundle({ rootfsOnly: true });
  const id = newId('nofile');
  await expectFailure(rt, ['create', '--bundle', b.dir, id], /config\.json/, id);
});

const badConfigs: Array<[string, (s: any) => void, RegExp]> = [
  ['missing root.path', (s) => { delete s.root; }, /root/],
  ['wrong type of process.args', (s) => { s.process.args = 'sh'; }, /process\.args/],
  ['relative cwd', (s) => { s.process.cwd = 'tmp'; }, /process\.cwd/],
  ['unknown capability', (s) => { s.process.capabilities.bounding.push('CAP_NOPE'); }, /CAP_NOPE/],
  ['unknown namespace type', (s) => { s.linux.namespaces.push({ type: 'bogus' }); }, /linux\.namespaces\[\d+\]/],
  ['user namespace without mappings', (s) => { s.linux.namespaces.push({ type: 'user' }); }, /uidMappings|mapping/i],
  ['joined namespace path that is not a namespace', (s) => {
    s.linux.namespaces = s.linux.namespaces.map((ns: { type: string }) => (ns.type === 'network' ? { type: 'network', path: '/etc/hostname' } : ns));
  }, /linux\.namespaces\[\d+\]\.path/],
  ['joined namespace path that does not exist', (s) => {
    s.linux.namespaces = s.linux.namespaces.map((ns: { type: string }) => (ns.type === 'ipc' ? { type: 'ipc', path: '/no/such/ns' } : ns));
  }, /linux\.namespaces\[\d+\]\.path/],
  ['ociVersion 2.0', (s) => { s.ociVersion = '2.0.0'; }, /ociVersion/],
  ['rlimit with soft above hard', (s) => { s.process.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 10, hard: 5 }]; }, /rlimits\[0\]/],
  ['seccomp with an unknown action', (s) => { s.linux.seccomp = { defaultAction: 'SCMP_ACT_NOPE' }; }, /linux\.seccomp\.defaultAction/],
  ['cgroupsPath escaping with ..', (s) => { s.linux.cgroupsPath = '/../../etc'; }, /cgroupsPath/],
];

for (const [name, mutate, message] of badConfigs) {
  test(`create rejects ${name}, naming the field`, { skip }, async () => {
    await using rt = await runtimeCli();
    await using b = await makeBundle({ config: mutate });
    const id = newId('cfg');
    await expectFailure(rt, ['create', '--bundle', b.dir, id], message, id);
    assert.deepEqual(readdirSync(rt.root).filter((e) => e.startsWith(id)), []);
  });
}

test('a failure inside the container init (a bad mount) is reported by stage and cleaned up', { skip }, async () => {
  await using rt = await runtimeCli();
  await using b = await makeBundle({ config: (s) => {
    s.mounts!.push({ destination: '/mnt', type: 'bind', source: '/no/such/host/dir', options: ['rbind'] });
  } });
  const id = newId('mount');
  await expectFailure(rt, ['create', '--bundle', b.dir, id], /\/mnt|no\/such\/host\/dir/, id);
});

test('ids that exist, do not exist, or are malformed get clear errors', { skip }, async () => {
  await using rt = await runtimeCli();
  await using b = await makeBundle({ config: (s) => { s.process.args = ['/probe', 'sleep', '60']; } });
  const id = newId('dup');
  await rt.ok(['create', '--bundle', b.dir, id]);
  const again = await rt.run(['create', '--bundle', b.dir, id]);
  assert.equal(again.code, 1);
  assert.match(again.stderr, new RegExp(`container \`${id}\` already exists`));
  assert.equal(existsSync(join(rt.root, id, 'state.json')), true, 'the first container is untouched');

  for (const cmd of ['state', 'start', 'kill', 'delete', 'pause', 'resume', 'ps']) {
    await expectFailure(rt, [cmd, 'no-such-container'], /container `no-such-container` does not exist/);
  }
  await expectFailure(rt, ['create', '--bundle', b.dir, '../escape'], /invalid container id/);
  await expectFailure(rt, ['state'], /requires a container id/);
  await expectFailure(rt, ['resume', id], /cannot resume container .*: it is created/);
  await rt.ok(['start', id]);
  await expectFailure(rt, ['start', id], /cannot start container .*: it is running/);
  await expectFailure(rt, ['delete', id], /not stopped: it is running/);
  await expectFailure(rt, ['kill', id, 'SIGNOPE'], /SIGNOPE/);
  await rt.ok(['delete', '--force', id]);
});

test('unknown commands and flags are named', { skip: requires('berth-runtime') }, async () => {
  await using rt = await runtimeCli();
  await expectFailure(rt, ['frobnicate'], /unknown command `frobnicate`/);
  await expectFailure(rt, ['create', '--bundel', '/x', 'id'], /unknown flag `--bundel`/);
  await expectFailure(rt, ['--systemd-cgroup', 'list'], /systemd cgroup driver is not supported/);
});

test('concurrent creates of one id: exactly one wins, the others are told it exists', { skip }, async () => {
  await using rt = await runtimeCli();
  await using b = await makeBundle({ config: (s) => { s.process.args = ['/probe', 'sleep', '60']; } });
  const id = newId('race');
  const results = await Promise.all([0, 1, 2, 3].map(() => rt.run(['create', '--bundle', b.dir, id])));
  assert.equal(results.filter((r) => r.code === 0).length, 1, results.map(describeResult).join('\n'));
  for (const r of results.filter((x) => x.code !== 0)) assert.match(r.stderr, /already exists/);
  await rt.ok(['delete', id]);
});

test('a terminal without --console-socket is refused before anything is made', { skip }, async () => {
  await using rt = await runtimeCli();
  await using b = await makeBundle({ config: (s) => { s.process.terminal = true; } });
  const id = newId('tty');
  await expectFailure(rt, ['create', '--bundle', b.dir, id], /--console-socket/, id);
});
