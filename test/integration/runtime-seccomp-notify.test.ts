/**
 * Seccomp user notification (SCMP_ACT_NOTIFY with linux.seccomp.listenerPath):
 * the runtime connects to the listener's socket and sends it the container
 * process state JSON with the notify fd attached; the listener then answers
 * the container's notified syscalls. seccomp-agent (test/fixtures/seccomp-agent)
 * plays the listener: it answers mkdir with success but creates PATH-METADATA
 * instead, so the container sees mkdir succeed and the directory it asked
 * for missing, while the one named after listenerMetadata exists.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import { seccompAgentMissing, startSeccompAgent, type AgentEvent, type SeccompAgent } from '../fixtures/seccomp-agent/seccomp-agent.js';
import { makeBundle, type BundleSpec } from '../helpers/bundle.js';
import { withLeakCheck } from '../helpers/leaks.js';
import { requires } from '../helpers/requires.js';
import { describeResult, runtimeCli, type RuntimeCli, type RuntimeName } from '../helpers/run.js';

withLeakCheck();

const skip = requires('root', 'busybox', 'berth-runtime', 'cgroup-v1') ?? seccompAgentMissing();
let seq = 0;
const newId = (name: string) => `notify-${name}-${process.pid}-${seq++}`;

const METADATA = 'from-metadata';
const ANNOTATIONS = { 'org.berth.test': 'seccomp-notify' };

/** What the runtime sends the listener (runtime-spec runtime.md, "Container process state"). */
interface ProcessState {
  ociVersion: string;
  fds: string[];
  pid: number;
  metadata?: string;
  state: { ociVersion: string; id: string; status: string; pid: number; bundle: string; annotations?: Record<string, string> };
}

/**
 * The container's script: mkdir under the NOTIFY rule, its status, which of
 * the two directories exist, then the shell's own fds with their targets.
 */
function script(dir: string): string {
  return [
    `mkdir ${dir}`,
    'echo rc=$?',
    `for d in ${dir} ${dir}-${METADATA}; do if [ -d $d ]; then echo exists=$d; else echo missing=$d; fi; done`,
    'for f in /proc/$$/fd/*; do echo fd=$f:$(readlink $f); done',
  ].join('; ');
}

function notifySpec(agent: SeccompAgent, opts: { noNewPrivileges: boolean; args: string[] }): (s: BundleSpec) => void {
  return (s) => {
    s.process.args = opts.args;
    s.process.noNewPrivileges = opts.noNewPrivileges;
    s.root.readonly = false;
    s.annotations = { ...ANNOTATIONS };
    s.linux.seccomp = {
      defaultAction: 'SCMP_ACT_ALLOW',
      listenerPath: agent.socketPath,
      listenerMetadata: METADATA,
      architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
      syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_NOTIFY' }],
    };
  };
}

/** The process state the agent received, after checking the fd that came with it. */
function receivedState(ev: AgentEvent): ProcessState {
  assert.equal(ev.event, 'received', `the runtime closed the connection without a message: ${JSON.stringify(ev)}`);
  assert.equal(ev.fds, 1, 'exactly one fd comes with the message');
  assert.equal(ev.fdLink, 'anon_inode:seccomp notify', 'the fd is a seccomp notify fd');
  return JSON.parse(ev.message!) as ProcessState;
}

/** Checks the script's output: mkdir "succeeded", yet only the agent's directory exists; no seccomp fd in the container. */
function assertAgentAnswered(out: string, dir: string): void {
  assert.match(out, /^rc=0$/m, out);
  assert.match(out, new RegExp(`^missing=${dir}$`, 'm'), out);
  assert.match(out, new RegExp(`^exists=${dir}-${METADATA}$`, 'm'), out);
  const fds = out.split('\n').filter((l) => l.startsWith('fd='));
  assert.ok(fds.length >= 3, `the fd listing ran: ${out}`);
  assert.deepEqual(fds.filter((l) => /seccomp|anon_inode/.test(l)), [], `the container holds no seccomp notify fd:\n${fds.join('\n')}`);
}

async function waitStopped(rt: RuntimeCli, id: string): Promise<void> {
  for (;;) {
    const st = JSON.parse((await rt.ok(['state', id])).stdout) as { status: string };
    if (st.status === 'stopped') return;
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * create, check the process state against `state`, start, and return the
 * script's output (written to /out in the rootfs: the container's stdio is
 * the create command's, gone by then).
 */
async function createAndStart(rt: RuntimeCli, agent: SeccompAgent, noNewPrivileges: boolean): Promise<{ sent: ProcessState; out: string; bundle: string; statePid: number; id: string }> {
  await using b = await makeBundle({ config: notifySpec(agent, { noNewPrivileges, args: ['sh', '-c', `(${script('/tmp/x')}) > /out 2>&1`] }) });
  const id = newId(noNewPrivileges ? 'nnp' : 'caps');
  const created = await rt.run(['create', '--bundle', b.dir, id]);
  assert.equal(created.code, 0, describeResult(created));
  const st = JSON.parse((await rt.ok(['state', id])).stdout) as { pid: number; status: string };
  assert.equal(st.status, 'created');
  let sent: ProcessState | undefined;
  if (!noNewPrivileges) {
    // Without no_new_privs the filter is loaded during create: the listener has it before start.
    sent = receivedState(await agent.nextReceived());
  } else {
    // With it the filter goes in last, after start released the container: nothing can have come yet.
    assert.deepEqual(agent.events('received'), [], 'no filter (and no fd) before start');
  }
  await rt.ok(['start', id]);
  sent ??= receivedState(await agent.nextReceived());
  await waitStopped(rt, id);
  const out = readFileSync(join(b.rootfs, 'out'), 'utf8');
  await rt.ok(['delete', id]);
  return { sent, out, bundle: b.dir, statePid: st.pid, id };
}

for (const noNewPrivileges of [false, true]) {
  test(`create with noNewPrivileges ${noNewPrivileges}: the listener gets the process state and the fd, and answers mkdir`, { skip }, async () => {
    await using rt = await runtimeCli();
    await using agent = await startSeccompAgent();
    const { sent, out, bundle, statePid, id } = await createAndStart(rt, agent, noNewPrivileges);
    assert.deepEqual(Object.keys(sent), ['ociVersion', 'fds', 'pid', 'metadata', 'state']);
    assert.deepEqual(sent.fds, ['seccompFd']);
    assert.equal(sent.pid, statePid, 'pid is the host pid of the container process, as `state` reports it');
    assert.equal(sent.metadata, METADATA);
    assert.deepEqual(sent.state, { ociVersion: sent.ociVersion, id, status: 'creating', pid: statePid, bundle, annotations: ANNOTATIONS });
    assertAgentAnswered(out, '/tmp/x');
    const notified = agent.events('notify').filter((e) => e.syscall === 'mkdir' || e.syscall === 'mkdirat');
    assert.equal(notified.length, 1, JSON.stringify(agent.events()));
    assert.equal(notified[0]!.path, '/tmp/x');
    assert.equal(notified[0]!.created, `/tmp/x-${METADATA}`);
  });
}

for (const noNewPrivileges of [false, true]) {
  test(`exec with noNewPrivileges ${noNewPrivileges}: the exec'd process gets its own notify fd, sent as "running" with its host pid and the init's`, { skip }, async () => {
    await using rt = await runtimeCli();
    await using agent = await startSeccompAgent();
    await using b = await makeBundle({ config: notifySpec(agent, { noNewPrivileges, args: ['sleep', '1000'] }) });
    const id = newId(`exec-${noNewPrivileges}`);
    await rt.ok(['run', '--detach', '--bundle', b.dir, id]);
    const init = receivedState(await agent.nextReceived());
    const st = JSON.parse((await rt.ok(['state', id])).stdout) as { pid: number };
    assert.equal(init.pid, st.pid);

    const pidFile = join(b.dir, 'exec.pid');
    const ex = await rt.run(['exec', '--pid-file', pidFile, id, 'sh', '-c', script('/tmp/y')]);
    assert.equal(ex.code, 0, describeResult(ex));
    const execPid = Number(readFileSync(pidFile, 'utf8'));
    const sent = receivedState(await agent.nextReceived());
    assert.deepEqual(Object.keys(sent), ['ociVersion', 'fds', 'pid', 'metadata', 'state']);
    assert.deepEqual(sent.fds, ['seccompFd']);
    assert.equal(sent.pid, execPid, 'pid is the exec\'d process');
    assert.notEqual(execPid, st.pid);
    assert.equal(sent.metadata, METADATA);
    assert.deepEqual(sent.state, { ociVersion: sent.ociVersion, id, status: 'running', pid: st.pid, bundle: b.dir, annotations: ANNOTATIONS });
    assertAgentAnswered(ex.stdout, '/tmp/y');
    await rt.ok(['delete', '--force', id]);
  });
}

test('when the listener dies, the notified syscalls fail with ENOSYS (kernel behaviour) and the rest runs', { skip }, async () => {
  await using rt = await runtimeCli();
  const agent = await startSeccompAgent();
  await using b = await makeBundle({ config: notifySpec(agent, { noNewPrivileges: false, args: ['sh', '-c', `(${script('/tmp/x')}) > /out 2>&1`] }) });
  const id = newId('orphan');
  await rt.ok(['create', '--bundle', b.dir, id]);
  receivedState(await agent.nextReceived());
  await agent.dispose();
  await rt.ok(['start', id]);
  await waitStopped(rt, id);
  const out = readFileSync(join(b.rootfs, 'out'), 'utf8');
  assert.match(out, /Function not implemented/, out);
  assert.match(out, /^rc=1$/m, out);
  assert.match(out, /^missing=\/tmp\/x$/m, out);
  assert.match(out, /^fd=/m, 'the script went on after the failed mkdir');
  await rt.ok(['delete', id]);
});

test('listenerPath without a NOTIFY rule: the runtime neither connects nor sends (as runc)', { skip }, async () => {
  await using rt = await runtimeCli();
  await using agent = await startSeccompAgent();
  await using b = await makeBundle({
    config: (s) => {
      notifySpec(agent, { noNewPrivileges: true, args: ['sh', '-c', 'mkdir /tmp/z; echo rc=$?'] })(s);
      s.linux.seccomp!.syscalls = [{ names: ['reboot'], action: 'SCMP_ACT_ERRNO' }];
    },
  });
  const r = await rt.run(['run', '--bundle', b.dir, newId('quiet')]);
  assert.equal(r.code, 0, describeResult(r));
  assert.match(r.stdout, /^rc=0$/m);
  assert.equal(existsSync(join(b.rootfs, 'tmp/z')), true, 'mkdir ran in the kernel, not through the agent');
  // The agent logs every connection; a later one (below) proves the log is live.
  await using b2 = await makeBundle({ config: notifySpec(agent, { noNewPrivileges: true, args: ['true'] }) });
  await rt.ok(['run', '--bundle', b2.dir, newId('loud')]);
  await agent.nextReceived();
  assert.equal(agent.events().filter((e) => e.event === 'received' || e.event === 'no-message').length, 1, JSON.stringify(agent.events()));
});

test('NOTIFY only on syscall names unknown here: no notify fd, the connection closes without a message', { skip }, async () => {
  await using rt = await runtimeCli();
  await using agent = await startSeccompAgent();
  await using b = await makeBundle({
    config: (s) => {
      notifySpec(agent, { noNewPrivileges: false, args: ['sh', '-c', 'mkdir /tmp/z; echo rc=$?'] })(s);
      s.linux.seccomp!.syscalls = [{ names: ['no_such_syscall_berth'], action: 'SCMP_ACT_NOTIFY' }];
    },
  });
  const r = await rt.run(['run', '--bundle', b.dir, newId('unknown')]);
  assert.equal(r.code, 0, describeResult(r));
  assert.match(r.stdout, /^rc=0$/m);
  const ev = await agent.nextReceived();
  assert.equal(ev.event, 'no-message', JSON.stringify(ev));
});

for (const [what, prepare, errno] of [
  ['missing', (_path: string) => undefined, /ENOENT|no such file/],
  ['refusing (a file, not a listening socket)', (path: string) => writeFileSync(path, ''), /ECONNREFUSED|connection refused/],
] as const) {
  test(`create with the listener socket ${what} fails naming listenerPath and leaves nothing`, { skip }, async () => {
    await using rt = await runtimeCli();
    await using agent = await startSeccompAgent();
    const gone = join(agent.socketPath, '..', 'not-the-agent.sock');
    prepare(gone);
    await using b = await makeBundle({
      config: (s) => {
        notifySpec(agent, { noNewPrivileges: false, args: ['true'] })(s);
        s.linux.seccomp!.listenerPath = gone;
      },
    });
    const id = newId('nolistener');
    const r = await rt.run(['create', '--bundle', b.dir, id]);
    assert.notEqual(r.code, 0, describeResult(r));
    assert.match(r.stderr, /seccomp listenerPath/, describeResult(r));
    assert.ok(r.stderr.includes(gone), describeResult(r));
    assert.match(r.stderr, errno, describeResult(r));
    assert.deepEqual(readdirSync(rt.root).filter((e) => e.startsWith(id)), [], 'no state or lock left');
    assert.deepEqual(agent.events('received'), []);
  });
}

const badConfigs: Array<[string, (s: BundleSpec) => void, RegExp]> = [
  ['SCMP_ACT_NOTIFY as the default action', (s) => { s.linux.seccomp!.defaultAction = 'SCMP_ACT_NOTIFY'; }, /linux\.seccomp\.defaultAction: SCMP_ACT_NOTIFY cannot be used as default action/],
  ['SCMP_ACT_NOTIFY without listenerPath', (s) => { delete s.linux.seccomp!.listenerPath; delete s.linux.seccomp!.listenerMetadata; }, /linux\.seccomp\.listenerPath: is required: linux\.seccomp\.syscalls\[0\]\.action is SCMP_ACT_NOTIFY/],
  ['SCMP_ACT_NOTIFY on sendmsg', (s) => {
    s.linux.seccomp!.syscalls = [{ names: ['reboot'], action: 'SCMP_ACT_ERRNO' }, { names: ['mkdir'], action: 'SCMP_ACT_NOTIFY' }, { names: ['sendmsg'], action: 'SCMP_ACT_NOTIFY' }];
  }, /linux\.seccomp\.syscalls\[2\]\.action: SCMP_ACT_NOTIFY cannot be used for sendmsg/],
  ['a relative listenerPath', (s) => { s.linux.seccomp!.listenerPath = 'agent.sock'; }, /linux\.seccomp\.listenerPath: must be an absolute path/],
  ['a process state over the 4096 bytes a sync record carries', (s) => { s.linux.seccomp!.listenerMetadata = 'm'.repeat(5000); }, /linux\.seccomp\.listenerMetadata: the container process state for the seccomp listener would be \d+ bytes, over the 4096/],
  ['listenerMetadata without listenerPath', (s) => { s.linux.seccomp!.syscalls = []; delete s.linux.seccomp!.listenerPath; }, /linux\.seccomp\.listenerMetadata: must not be set without listenerPath/],
];

for (const [name, mutate, message] of badConfigs) {
  test(`create rejects ${name}, naming the field`, { skip }, async () => {
    await using rt = await runtimeCli();
    await using agent = await startSeccompAgent();
    await using b = await makeBundle({
      config: (s) => {
        notifySpec(agent, { noNewPrivileges: true, args: ['true'] })(s);
        mutate(s);
      },
    });
    const id = newId('bad');
    const r = await rt.run(['create', '--bundle', b.dir, id]);
    assert.equal(r.code, 1, describeResult(r));
    assert.match(r.stderr, message, describeResult(r));
    assert.deepEqual(readdirSync(rt.root).filter((e) => e.startsWith(id)), [], 'no state or lock left');
    assert.deepEqual(agent.events('received'), [], 'nothing reached the listener');
  });
}

const runcSkip = skip ?? requires('runc');

test('differential: runc and berth send the listener the same process state shape for one bundle', { skip: runcSkip }, async () => {
  const shapes: Record<string, unknown> = {};
  for (const name of ['runc', 'berth-runtime'] as RuntimeName[]) {
    await using rt = await runtimeCli(name);
    await using agent = await startSeccompAgent();
    const { sent, out, bundle, statePid, id } = await createAndStart(rt, agent, false);
    assertAgentAnswered(out, '/tmp/x');
    assert.equal(sent.pid, statePid, `${name}: pid`);
    assert.equal(sent.state.pid, statePid, `${name}: state.pid`);
    assert.equal(sent.state.id, id, `${name}: state.id`);
    assert.equal(sent.state.bundle, bundle, `${name}: state.bundle`);
    // Values that differ by run (pids, ids, paths) and by runtime (its spec version) are replaced by their types.
    shapes[name] = JSON.parse(JSON.stringify(sent, (k, v: unknown) => (['ociVersion', 'pid', 'id', 'bundle'].includes(k) ? typeof v : v)));
  }
  assert.deepEqual(shapes['berth-runtime'], shapes['runc']);
  const keys = (o: unknown): string[] => Object.keys(o as object);
  const berth = shapes['berth-runtime'] as ProcessState;
  const runc = shapes['runc'] as ProcessState;
  assert.deepEqual(keys(berth), keys(runc), 'same keys in the same order');
  assert.deepEqual(keys(berth.state), keys(runc.state), 'same state keys in the same order');
});
