/**
 * berth-runtime's lifecycle through its command line, as a manager drives
 * runc: create, state, start, kill, delete, run, list, ps, pause, resume,
 * exec, update, events. Real containers from a busybox bundle, as root.
 */
import assert from 'node:assert/strict';
import { readFileSync, readlinkSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import { makeBundle } from '../helpers/bundle.js';
import { withLeakCheck } from '../helpers/leaks.js';
import { parseProbe, type ProbeReport } from '../helpers/probe.js';
import { requires } from '../helpers/requires.js';
import { describeResult, runtimeCli } from '../helpers/run.js';

withLeakCheck();

const skip = requires('root', 'busybox', 'probe', 'berth-runtime', 'cgroup-v1');
let seq = 0;
const newId = (name: string) => `lc-${name}-${process.pid}-${seq++}`;

interface StateView { id: string; status: string; pid: number; bundle: string; rootfs: string; created: string; owner: string }

async function stateOf(rt: Awaited<ReturnType<typeof runtimeCli>>, id: string): Promise<StateView> {
  const r = await rt.ok(['state', id]);
  return JSON.parse(r.stdout) as StateView;
}

async function waitStatus(rt: Awaited<ReturnType<typeof runtimeCli>>, id: string, status: string): Promise<StateView> {
  for (let i = 0; i < 200; i++) {
    const st = await stateOf(rt, id);
    if (st.status === status) return st;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`container ${id} never became ${status}`);
}

test('create, state, start, kill, delete: the status follows each step', { skip }, async () => {
  await using rt = await runtimeCli();
  await using b = await makeBundle({ config: (s) => { s.process.args = ['/probe', 'sleep', '60']; } });
  const id = newId('basic');
  const pidFile = join(b.dir, 'init.pid');
  await rt.ok(['create', '--bundle', b.dir, '--pid-file', pidFile, id]);
  const created = await stateOf(rt, id);
  assert.equal(created.status, 'created');
  assert.equal(created.bundle, b.dir);
  assert.ok(created.pid > 0);
  assert.equal(Number(readFileSync(pidFile, 'utf8')), created.pid);
  // Blocked on the exec fifo: still berth-init, not the probe.
  assert.doesNotMatch(readFileSync(`/proc/${created.pid}/cmdline`, 'utf8'), /probe/);

  await rt.ok(['start', id]);
  const running = await stateOf(rt, id);
  assert.equal(running.status, 'running');
  assert.equal(running.pid, created.pid);
  assert.match(readFileSync(`/proc/${running.pid}/cmdline`, 'utf8'), /probe/);

  await rt.ok(['kill', id, 'KILL']);
  const stopped = await waitStatus(rt, id, 'stopped');
  assert.equal(stopped.pid, 0);
  await rt.ok(['delete', id]);
  const gone = await rt.run(['state', id]);
  assert.notEqual(gone.code, 0);
  assert.match(gone.stderr, new RegExp(`container \`${id}\` does not exist`));
  assert.equal(existsSync(join(rt.root, id)), false);
});

test('start waits for an init that has not answered yet, and fails when it dies instead', { skip }, async () => {
  await using rt = await runtimeCli();
  await using b = await makeBundle({ config: (s) => { s.process.args = ['/probe', 'exit', '0']; } });
  const id = newId('start-dies');
  await rt.ok(['create', '--bundle', b.dir, id]);
  const { pid } = await stateOf(rt, id);
  // Stopped, the init cannot finish opening the exec fifo nor write to it.
  process.kill(pid, 'SIGSTOP');
  const started = rt.run(['start', id]);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal((await stateOf(rt, id)).status, 'created', 'start is still waiting');
  process.kill(pid, 'SIGKILL');
  const r = await started;
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /container `[^`]+` init exited before it was started/);
  await rt.ok(['delete', '--force', id]);
});

test('run in the foreground returns the exit code and deletes the container', { skip }, async () => {
  await using rt = await runtimeCli();
  await using b = await makeBundle({ config: (s) => { s.process.args = ['/probe', 'exit', '7']; } });
  const id = newId('exit');
  const r = await rt.run(['run', '--bundle', b.dir, id]);
  assert.equal(r.code, 7, describeResult(r));
  assert.equal(existsSync(join(rt.root, id)), false);
});

test('run prints the container output on the runtime stdout and sees itself as pid 1', { skip }, async () => {
  await using rt = await runtimeCli();
  await using b = await makeBundle({ config: (s) => { s.process.args = ['/probe']; s.hostname = 'lifecycle'; } });
  const r = await rt.ok(['run', '--bundle', b.dir, newId('probe')]);
  const report = parseProbe<ProbeReport>(r.stdout);
  assert.equal(report.pid, 1);
  assert.equal(report.hostname, 'lifecycle');
});

test('run --detach returns at once; list, ps, pause, resume and delete --force act on it', { skip }, async () => {
  await using rt = await runtimeCli();
  await using b = await makeBundle({ config: (s) => { s.process.args = ['/probe', 'sleep', '60']; } });
  const id = newId('detach');
  await rt.ok(['run', '--detach', '--bundle', b.dir, id]);
  const st = await stateOf(rt, id);
  assert.equal(st.status, 'running');

  const list = JSON.parse((await rt.ok(['list', '--format', 'json'])).stdout) as StateView[];
  assert.deepEqual(list.map((c) => [c.id, c.status]), [[id, 'running']]);
  assert.equal((await rt.ok(['list', '-q'])).stdout, `${id}\n`);
  const table = (await rt.ok(['list'])).stdout.split('\n');
  assert.match(table[0]!, /^ID\s+PID\s+STATUS\s+BUNDLE\s+CREATED\s+OWNER$/);
  assert.match(table[1]!, new RegExp(`^${id}\\s+${st.pid}\\s+running\\s+`));

  assert.deepEqual(JSON.parse((await rt.ok(['ps', '--format', 'json', id])).stdout), [st.pid]);
  const psTable = (await rt.ok(['ps', id])).stdout;
  assert.match(psTable, /PID/);
  assert.match(psTable, new RegExp(`\\b${st.pid}\\b`));

  await rt.ok(['pause', id]);
  assert.equal((await stateOf(rt, id)).status, 'paused');
  assert.match(readFileSync(`/proc/${st.pid}/status`, 'utf8'), /State:\s+[DS]/);
  const refused = await rt.run(['delete', id]);
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, /not stopped: it is paused/);
  await rt.ok(['resume', id]);
  assert.equal((await stateOf(rt, id)).status, 'running');

  await rt.ok(['delete', '--force', id]);
  assert.equal(existsSync(`/proc/${st.pid}`) && !/State:\s+Z/.test(readFileSync(`/proc/${st.pid}/status`, 'utf8')), false);
});

test('kill --all signals every process of the container', { skip }, async () => {
  await using rt = await runtimeCli();
  await using b = await makeBundle({ config: (s) => { s.process.args = ['sh', '-c', '/probe sleep 60 & /probe sleep 60 & wait']; } });
  const id = newId('killall');
  await rt.ok(['run', '--detach', '--bundle', b.dir, id]);
  for (let i = 0; i < 100; i++) {
    if ((JSON.parse((await rt.ok(['ps', '--format', 'json', id])).stdout) as number[]).length >= 3) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  const pids = JSON.parse((await rt.ok(['ps', '--format', 'json', id])).stdout) as number[];
  assert.equal(pids.length, 3);
  await rt.ok(['kill', '--all', id, 'SIGKILL']);
  await waitStatus(rt, id, 'stopped');
  await rt.ok(['delete', id]);
});

test('exec runs a process in the container\'s namespaces and returns its exit code', { skip }, async () => {
  await using rt = await runtimeCli();
  await using b = await makeBundle({ config: (s) => { s.process.args = ['/probe', 'sleep', '60']; s.hostname = 'exec-host'; } });
  const id = newId('exec');
  await rt.ok(['run', '-d', '--bundle', b.dir, id]);
  const st = await stateOf(rt, id);
  const r = await rt.ok(['exec', '--env', 'EXTRA=1', '--cwd', '/tmp', id, '/probe']);
  const report = parseProbe<ProbeReport>(r.stdout);
  assert.equal(report.hostname, 'exec-host');
  assert.equal(report.cwd, '/tmp');
  assert.ok(report.env.includes('EXTRA=1'));
  assert.notEqual(report.pid, 1);
  for (const ns of ['pid', 'mnt', 'uts', 'ipc', 'net']) {
    assert.equal(report.namespaces[ns], readlinkNs(st.pid, ns), `exec joined the ${ns} namespace`);
  }
  assert.equal((await rt.run(['exec', id, '/probe', 'exit', '5'])).code, 5);

  const pidFile = join(b.dir, 'exec.pid');
  await rt.ok(['exec', '--detach', '--pid-file', pidFile, id, '/probe', 'sleep', '30']);
  const execPid = Number(readFileSync(pidFile, 'utf8'));
  assert.ok((JSON.parse((await rt.ok(['ps', '--format', 'json', id])).stdout) as number[]).includes(execPid));

  const missing = await rt.run(['exec', id, '/no/such/binary']);
  assert.notEqual(missing.code, 0);
  assert.match(missing.stderr, /no\/such\/binary/);
  await rt.ok(['delete', '--force', id]);
});

function readlinkNs(pid: number, ns: string): string {
  return readlinkSync(`/proc/${pid}/ns/${ns}`);
}

test('update changes the live cgroup limits and events --stats reports usage', { skip }, async () => {
  await using rt = await runtimeCli();
  await using b = await makeBundle({ config: (s) => { s.process.args = ['/probe', 'sleep', '60']; } });
  const id = newId('update');
  await rt.ok(['run', '-d', '--bundle', b.dir, id]);
  const st = await stateOf(rt, id);
  const memLine = readFileSync(`/proc/${st.pid}/cgroup`, 'utf8').split('\n').find((l) => /:memory:/.test(l))!;
  const memDir = join('/sys/fs/cgroup/memory', memLine.split(':')[2]!);
  await rt.ok(['update', '--memory', '64M', '--pids-limit', '50', id]);
  assert.equal(readFileSync(join(memDir, 'memory.limit_in_bytes'), 'utf8').trim(), String(64 * 1024 * 1024));
  await rt.ok(['update', '--resources', '-', id], { input: JSON.stringify({ memory: { limit: 32 * 1024 * 1024 } }) });
  assert.equal(readFileSync(join(memDir, 'memory.limit_in_bytes'), 'utf8').trim(), String(32 * 1024 * 1024));

  const ev = JSON.parse((await rt.ok(['events', '--stats', id])).stdout) as { type: string; id: string; data: { memory: { usage: { usage: number } }; pids: { current: number } } };
  assert.equal(ev.type, 'stats');
  assert.equal(ev.id, id);
  assert.ok(ev.data.memory.usage.usage > 0);
  assert.equal(ev.data.pids.current, 1);
  await rt.ok(['delete', '--force', id]);
});

test('spec writes runc\'s default config.json and refuses to overwrite it', { skip: requires('berth-runtime') }, async () => {
  await using b = await makeBundle({ rootfsOnly: true });
  await using rt = await runtimeCli();
  await rt.ok(['spec', '--bundle', b.dir]);
  const spec = JSON.parse(readFileSync(join(b.dir, 'config.json'), 'utf8')) as { process: { args: string[] }; root: { path: string } };
  assert.deepEqual(spec.process.args, ['sh']);
  assert.equal(spec.root.path, 'rootfs');
  const again = await rt.run(['spec', '--bundle', b.dir]);
  assert.notEqual(again.code, 0);
  assert.match(again.stderr, /exists/);
  const features = JSON.parse((await rt.ok(['features'])).stdout) as { ociVersionMin: string };
  assert.equal(features.ociVersionMin, '1.0.0');
});
