/**
 * process.terminal through `--console-socket`: the executor allocates a pty
 * inside the container, makes it the process's controlling terminal and
 * stdio, and sends the master to the socket, where recvtty
 * (test/fixtures/recvtty) plays the manager's part: it reports the fd and
 * then copies between the terminal and the test.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { test } from 'node:test';

import { recvttyMissing, startRecvtty, type Recvtty } from '../fixtures/recvtty/recvtty.js';
import { makeBundle, type BundleSpec } from '../helpers/bundle.js';
import { withLeakCheck } from '../helpers/leaks.js';
import { parseProbe, type ProbeReport, type ProbeResult } from '../helpers/probe.js';
import { requires } from '../helpers/requires.js';
import { describeResult, runCmd, runtimeCli, type RuntimeCli } from '../helpers/run.js';

withLeakCheck();

const skip = requires('root', 'busybox', 'probe', 'berth-runtime', 'cgroup-v1') ?? recvttyMissing();
let seq = 0;
const newId = (name: string) => `tty-${name}-${process.pid}-${seq++}`;

const CONSOLE_SIZE = { height: 30, width: 100 };

function terminalSpec(args: string[]): (s: BundleSpec) => void {
  return (s) => {
    s.process.args = args;
    s.process.terminal = true;
    s.process.consoleSize = { ...CONSOLE_SIZE };
  };
}

/** Rejects with `what` when `p` has not settled after `ms`. */
async function within<T>(p: Promise<T>, ms: number, what: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what()}`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The terminal's output once recvtty saw the pty close (the container's process exited). */
async function finalOutput(tty: Recvtty): Promise<string> {
  const ex = await within(tty.exited, 20_000, () => `the terminal never closed; output so far: ${JSON.stringify(tty.output())}`);
  assert.equal(ex.code, 0, `recvtty failed: ${ex.stderr}`);
  return ex.output;
}

async function waitStopped(rt: RuntimeCli, id: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const st = JSON.parse((await rt.ok(['state', id])).stdout) as { status: string };
    if (st.status === 'stopped') return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`container ${id} never stopped`);
}

/** Checks what the probe reports about its terminal, and that recvtty got the master of the same pty. */
function assertControllingPty(report: ProbeReport, ttyName: string, size: { rows: number; cols: number }): void {
  assert.deepEqual(report.tty.isatty, [1, 1, 1], 'stdin, stdout and stderr are the terminal');
  assert.match(report.tty.ttyname ?? '', /^\/dev\/pts\/\d+$/);
  assert.equal(report.tty.ttyname, ttyName, 'the process has the pty whose master was sent');
  for (const fd of ['0', '1', '2']) assert.equal(report.fds[fd], ttyName, `fd ${fd} is the pty slave`);
  assert.deepEqual(report.tty.winsize, size);
  assert.equal(report.tty.sid, report.pid, 'the process leads its own session');
  assert.equal(report.tty.pgrp, report.pid, 'the process leads its process group');
  // tcgetpgrp(0) succeeds only on the caller's controlling terminal.
  assert.equal(report.tty.foreground, report.pid, 'the pty is the controlling terminal, with the process in the foreground');
}

test('create --console-socket: the container has a pty of the configured size as its controlling terminal', { skip }, async () => {
  await using rt = await runtimeCli();
  await using b = await makeBundle({ config: terminalSpec(['/probe']) });
  await using tty = await startRecvtty();
  const id = newId('probe');
  const created = await rt.run(['create', '--console-socket', tty.socketPath, '--bundle', b.dir, id]);
  assert.equal(created.code, 0, describeResult(created));
  const info = await within(tty.info, 10_000, () => 'no pty master arrived on the console socket');
  assert.equal(info.devpts, true, 'the master is on a devpts filesystem');
  assert.equal(info.isatty, 1);
  assert.equal(info.rdevMajor, 5, 'the master is a ptmx (5:2)');
  assert.equal(info.rdevMinor, 2);
  assert.match(info.name, /^\/dev\/pts\/\d+$/);
  assert.deepEqual([info.rows, info.cols], [CONSOLE_SIZE.height, CONSOLE_SIZE.width]);

  await rt.ok(['start', id]);
  const out = await finalOutput(tty);
  const report = parseProbe<ProbeReport>(out);
  assert.equal(report.pid, 1);
  assertControllingPty(report, info.name, { rows: CONSOLE_SIZE.height, cols: CONSOLE_SIZE.width });
  // The line discipline turns \n into \r\n on output: the output really went through a terminal.
  assert.match(out, /\}\r\n$/);
  await rt.ok(['delete', '--force', id]);
});

test('create sends the pty master at create time, before start', { skip }, async () => {
  await using rt = await runtimeCli();
  await using b = await makeBundle({ config: terminalSpec(['/probe']) });
  // Only the fd matters here: recvtty exits once it has it.
  await using tty = await startRecvtty({ exitAfterReceive: true });
  const id = newId('fdonly');
  await rt.ok(['create', '--console-socket', tty.socketPath, '--bundle', b.dir, id]);
  const info = await within(tty.info, 10_000, () => 'no pty master arrived on the console socket');
  const ex = await within(tty.exited, 10_000, () => 'recvtty did not exit after receiving');
  assert.equal(ex.code, 0, ex.stderr);
  assert.equal(info.devpts, true);
  assert.deepEqual([info.rdevMajor, info.rdevMinor], [5, 2]);
  assert.deepEqual([info.rows, info.cols], [CONSOLE_SIZE.height, CONSOLE_SIZE.width]);
  const st = JSON.parse((await rt.ok(['state', id])).stdout) as { status: string };
  assert.equal(st.status, 'created');
  await rt.ok(['delete', '--force', id]);
});

test('input typed through the console socket reaches `probe echo-stdin`, and ^D ends it', { skip }, async () => {
  await using rt = await runtimeCli();
  await using b = await makeBundle({ config: terminalSpec(['/probe', 'echo-stdin']) });
  await using tty = await startRecvtty();
  const id = newId('echo');
  await rt.ok(['create', '--console-socket', tty.socketPath, '--bundle', b.dir, id]);
  await within(tty.info, 10_000, () => 'no pty master arrived on the console socket');
  await rt.ok(['start', id]);
  tty.write('ping-through-the-pty\n');
  tty.write('\x04');
  const out = await finalOutput(tty);
  // Once echoed by the line discipline, once written back by the probe; then ^D was read as end of file.
  const seen = out.split('ping-through-the-pty').length - 1;
  assert.equal(seen, 2, `expected the line echoed and copied back; output: ${JSON.stringify(out)}`);
  await waitStopped(rt, id);
  await rt.ok(['delete', id]);
});

test('an interactive sh in a `run --detach --console-socket` container runs what is typed', { skip }, async () => {
  await using rt = await runtimeCli();
  await using b = await makeBundle({ config: terminalSpec(['sh']) });
  await using tty = await startRecvtty();
  const id = newId('sh');
  const r = await rt.run(['run', '--detach', '--console-socket', tty.socketPath, '--bundle', b.dir, id]);
  assert.equal(r.code, 0, describeResult(r));
  await within(tty.info, 10_000, () => 'no pty master arrived on the console socket');
  // The shell's own output (42), not the echo of what was typed ($((6*7))).
  tty.write('echo $((6*7))-answer; tty\n');
  await tty.waitFor(/42-answer\r\n\/dev\/pts\/\d+\r\n/);
  tty.write('exit\n');
  await finalOutput(tty);
  await waitStopped(rt, id);
  await rt.ok(['delete', id]);
});

test('exec -t --console-socket gives the exec\'d process its own controlling pty', { skip }, async () => {
  await using rt = await runtimeCli();
  await using b = await makeBundle({ config: (s) => { s.process.args = ['/probe', 'sleep', '60']; } });
  const id = newId('exec');
  await rt.ok(['run', '--detach', '--bundle', b.dir, id]);

  await using tty = await startRecvtty();
  const ex = await rt.run(['exec', '-t', '--console-socket', tty.socketPath, id, '/probe']);
  assert.equal(ex.code, 0, describeResult(ex));
  const info = await within(tty.info, 10_000, () => 'no pty master arrived on the console socket');
  assert.equal(info.devpts, true);
  const report = parseProbe<ProbeReport>(await finalOutput(tty));
  assert.notEqual(report.pid, 1, 'an exec is not the container init');
  assert.deepEqual(report.tty.isatty, [1, 1, 1]);
  assert.equal(report.tty.ttyname, info.name);
  assert.equal(report.tty.sid, report.pid);
  assert.equal(report.tty.foreground, report.tty.pgrp);
  assert.equal(report.tty.foreground, report.pid);

  // The same with a shell reading what is typed.
  await using tty2 = await startRecvtty();
  const shell = rt.run(['exec', '-t', '--console-socket', tty2.socketPath, id, 'sh']);
  await within(tty2.info, 10_000, () => 'no pty master arrived for the second exec');
  tty2.write('echo $((7*6))-from-exec\nexit 0\n');
  const out = await finalOutput(tty2);
  assert.match(out, /42-from-exec\r\n/);
  const sr = await shell;
  assert.equal(sr.code, 0, describeResult(sr));
  await rt.ok(['delete', '--force', id]);
});

test('exec --detach -t --console-socket (the containerd shim\'s way) hands over a working terminal', { skip }, async () => {
  await using rt = await runtimeCli();
  await using b = await makeBundle({ config: (s) => { s.process.args = ['/probe', 'sleep', '60']; } });
  const id = newId('execd');
  await rt.ok(['run', '--detach', '--bundle', b.dir, id]);
  await using tty = await startRecvtty();
  const ex = await rt.run(['exec', '--detach', '--tty', '--console-socket', tty.socketPath, id, 'sh']);
  assert.equal(ex.code, 0, describeResult(ex));
  await within(tty.info, 10_000, () => 'no pty master arrived on the console socket');
  tty.write('echo $((3*14))-detached; exit\n');
  assert.match(await finalOutput(tty), /42-detached\r\n/);
  await rt.ok(['delete', '--force', id]);
});

test('a terminal without --console-socket is refused with a clear error when nobody would hold the pty', { skip }, async () => {
  await using rt = await runtimeCli();
  await using b = await makeBundle({ config: terminalSpec(['/probe']) });
  const id = newId('nosock');
  for (const args of [['create', '--bundle', b.dir, id], ['run', '--detach', '--bundle', b.dir, id]]) {
    const r = await rt.run(args);
    assert.notEqual(r.code, 0, describeResult(r));
    assert.match(r.stderr, /console-socket/);
    assert.equal((await rt.run(['state', id])).code === 0, false, 'no container was created');
  }
});

/*
 * runc's foreground `run -t` / `exec -t` without --console-socket:
 * berth-init stays the container's parent and copies between the pty and
 * the runtime's own stdio, here pipes.
 */
test('run in the foreground without --console-socket is the container\'s console through its own stdio', { skip }, async () => {
  await using rt = await runtimeCli();
  await using b = await makeBundle({ config: terminalSpec(['/probe']) });
  const r = await rt.run(['run', '--bundle', b.dir, newId('proxy')]);
  assert.equal(r.code, 0, describeResult(r));
  const report = parseProbe<ProbeReport>(r.stdout);
  assert.equal(report.pid, 1);
  assert.deepEqual(report.tty.isatty, [1, 1, 1], 'stdin, stdout and stderr are a terminal, not the runtime\'s pipes');
  assert.match(report.tty.ttyname ?? '', /^\/dev\/pts\/\d+$/);
  assert.equal(report.tty.sid, report.pid, 'the process leads its own session');
  assert.equal(report.tty.foreground, report.pid, 'the pty is its controlling terminal');
  assert.deepEqual(report.tty.winsize, { rows: CONSOLE_SIZE.height, cols: CONSOLE_SIZE.width }, 'without a terminal outside, consoleSize holds');
  assert.match(r.stdout, /\}\r\n$/, 'the output went through the pty\'s line discipline');
});

test('what is piped into a foreground `run -t` is typed into the container\'s terminal, and its exit code comes back', { skip }, async () => {
  await using rt = await runtimeCli();
  await using b = await makeBundle({ config: terminalSpec(['sh']) });
  const r = await rt.run(['run', '--bundle', b.dir, newId('proxy-sh')], { input: 'tty; echo $((6*7))-typed; exit 7\n' });
  assert.equal(r.code, 7, describeResult(r));
  assert.match(r.stdout, /\/dev\/pts\/\d+\r\n/);
  assert.match(r.stdout, /42-typed\r\n/);
});

test('exec -t in the foreground without --console-socket proxies the exec\'d process\'s own pty', { skip }, async () => {
  await using rt = await runtimeCli();
  await using b = await makeBundle({ config: (s) => { s.process.args = ['/probe', 'sleep', '60']; } });
  const id = newId('proxy-exec');
  await rt.ok(['run', '--detach', '--bundle', b.dir, id]);
  const r = await rt.run(['exec', '-t', id, 'sh'], { input: 'echo $((7*6))-exec; exit 3\n' });
  assert.equal(r.code, 3, describeResult(r));
  assert.match(r.stdout, /42-exec\r\n/);
  const d = await rt.run(['exec', '-t', '--detach', id, 'true']);
  assert.notEqual(d.code, 0, 'a detached exec with a terminal needs a console socket');
  assert.match(d.stderr, /console-socket/);
  await rt.ok(['delete', '--force', id]);
});

test('under a real terminal, `run -t` takes its size and puts it back as it was', { skip: skip ?? requires('script') }, async () => {
  await using rt = await runtimeCli();
  await using b = await makeBundle({ config: (s) => { s.process.args = ['sh', '-c', 'stty size; exit 6']; s.process.terminal = true; } });
  const id = newId('proxy-tty');
  // script(1) gives the shell a terminal; the shell sizes it, runs berth-runtime and compares termios before and after.
  const inner = [
    'stty cols 101 rows 33',
    'before=$(stty -g)',
    `${rt.bin} --root ${rt.root} run --bundle ${b.dir} ${id}`,
    'echo "rc=$?"',
    '[ "$before" = "$(stty -g)" ] && echo termios-restored || echo termios-changed',
  ].join('; ');
  const r = await runCmd('script', ['-qec', `sh -c '${inner}'`, '/dev/null']);
  assert.equal(r.code, 0, describeResult(r));
  assert.match(r.stdout, /33 101\r\n/, 'the container\'s pty has the size of the terminal outside');
  assert.match(r.stdout, /rc=6/);
  assert.match(r.stdout, /termios-restored/, 'raw mode was undone');
});

test('exec --process with terminal and consoleSize sizes the exec\'d pty', { skip }, async () => {
  await using rt = await runtimeCli();
  await using b = await makeBundle({ config: (s) => { s.process.args = ['/probe', 'sleep', '60']; } });
  const id = newId('execsize');
  await rt.ok(['run', '--detach', '--bundle', b.dir, id]);
  const spec = await b.readConfig();
  const proc = { ...spec.process, args: ['/probe'], terminal: true, consoleSize: { height: 41, width: 123 } };
  const procFile = `${b.dir}/exec-process.json`;
  await writeFile(procFile, JSON.stringify(proc));
  await using tty = await startRecvtty();
  const ex = await rt.run(['exec', '--process', procFile, '--console-socket', tty.socketPath, id]);
  assert.equal(ex.code, 0, describeResult(ex));
  const info = await within(tty.info, 10_000, () => 'no pty master arrived on the console socket');
  assert.deepEqual([info.rows, info.cols], [41, 123]);
  const report = parseProbe<ProbeReport>(await finalOutput(tty));
  assertControllingPty(report, info.name, { rows: 41, cols: 123 });
  await rt.ok(['delete', '--force', id]);
});

test('with a terminal, /dev/console is the container\'s pty (runtime-spec config-linux "Default Devices")', { skip }, async () => {
  await using rt = await runtimeCli();
  await using b = await makeBundle({ config: terminalSpec(['sh', '-c', '/probe stat /dev/console; /probe stat /proc/self/fd/0']) });
  await using tty = await startRecvtty();
  const id = newId('console');
  await rt.ok(['create', '--console-socket', tty.socketPath, '--bundle', b.dir, id]);
  await within(tty.info, 10_000, () => 'no pty master arrived on the console socket');
  await rt.ok(['start', id]);
  const lines = (await finalOutput(tty)).split('\n').map((l) => l.trim()).filter(Boolean);
  const [console, stdin] = lines.map((l) => JSON.parse(l) as ProbeResult);
  assert.equal(console!.errno, 0, `/dev/console must exist when process.terminal is true (runc bind-mounts the pty there): ${lines[0]}`);
  assert.equal(console!.type, 'char');
  assert.deepEqual([console!.rdevMajor, console!.rdevMinor], [stdin!.rdevMajor, stdin!.rdevMinor], '/dev/console is the process\'s pty');
  await rt.ok(['delete', '--force', id]);
});
