/**
 * berth-shim's attach socket and control commands: stdin through attach,
 * several clients, slow clients, close-stdin, and the pty (resize) under
 * berth-runtime and runc.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';

import { isBerthError } from '../../src/errors/index.js';
import { attachShim, type AttachStream } from '../../src/shim/attach-stream.js';
import { closeIO, resizePty, sendControl } from '../../src/shim/control.js';
import { launchShim } from '../../src/shim/launch-shim.js';
import { waitForExitFile } from '../../src/shim/wait-exit-file.js';
import { withLeakCheck } from '../helpers/leaks.js';
import { parseProbe, type ProbeReport } from '../helpers/probe.js';
import { criLines, eventually, RUNTIMES, shimCase, skipFor } from './shim-harness.js';

withLeakCheck();

/** Collects what an attach client reads. */
function collect(io: AttachStream): { out: () => string; err: () => string } {
  let out = '';
  let err = '';
  io.on('data', (b: Buffer) => (out += b.toString('utf8')));
  io.stderr.on('data', (b: Buffer) => (err += b.toString('utf8')));
  return { out: () => out, err: () => err };
}

/** Resolves when a stream that is being read has ended. */
function ended(s: AttachStream): Promise<void> {
  return new Promise((r) => (s.readableEnded ? r() : s.once('end', () => r())));
}

const seen = (get: () => string, text: string) => () => (get().includes(text) ? true : undefined);

for (const runtime of RUNTIMES) {
  test(`${runtime}: what an attach client writes reaches the process's stdin; close-stdin ends it`, { skip: skipFor(runtime) }, async () => {
    await using c = await shimCase(runtime, { args: ['/probe', 'echo-stdin'] });
    await c.launch({ stdin: true });
    const io = await attachShim(c.attachSocket);
    const got = collect(io);
    await c.start();
    io.write('ping-through-the-shim\n');
    await eventually(seen(got.out, 'ping-through-the-shim\n'), 10_000, () => `attach output: ${JSON.stringify(got.out())}`);
    // A client leaving does not close stdin: the process is still there for the next one.
    io.end();
    await new Promise((r) => setTimeout(r, 200));
    const again = await attachShim(c.attachSocket);
    const got2 = collect(again);
    again.write('second\n');
    await eventually(seen(got2.out, 'second\n'), 10_000, () => `second client's output: ${JSON.stringify(got2.out())}`);
    await closeIO(c.controlSocket);
    const status = await c.waitExit();
    assert.equal(status.exitCode, 0, 'echo-stdin saw end of file and exited');
    again.destroy();
    io.destroy();
    assert.deepEqual(criLines(await c.readLog(), 'stdout'), ['ping-through-the-shim', 'second']);
  });
}

test('every attach client receives the output, tagged stdout or stderr', { skip: skipFor('runc') }, async () => {
  await using c = await shimCase('runc', { args: ['/bin/sh', '-c', 'read x; echo "out:$x"; echo "err:$x" >&2; read y'] });
  await c.launch({ stdin: true });
  const a = await attachShim(c.attachSocket);
  const b = await attachShim(c.attachSocket);
  const ga = collect(a);
  const gb = collect(b);
  await c.start();
  a.write('hello\n');
  for (const g of [ga, gb]) {
    await eventually(seen(g.out, 'out:hello\n'), 10_000, () => `stdout: ${JSON.stringify(g.out())}`);
    await eventually(seen(g.err, 'err:hello\n'), 10_000, () => `stderr: ${JSON.stringify(g.err())}`);
    assert.doesNotMatch(g.out(), /err:/);
  }
  b.write('bye\n');
  await c.waitExit();
  // The shim closes every client once the process has exited.
  await Promise.all([ended(a), ended(b)]);
  a.destroy();
  b.destroy();
});

test('a client that stops reading is dropped; the process, the log and the other clients go on', { skip: skipFor('runc') }, async () => {
  // 128 lines of 64 KiB, a little apart: a client that reads keeps up, one that does not falls
  // past the shim's bound (1 MiB beyond what its socket holds) and is cut off.
  const CHUNKS = 128;
  const CHUNK = 65536;
  await using c = await shimCase('runc', {
    args: ['/bin/sh', '-c', `i=0; while [ $i -lt ${CHUNKS} ]; do head -c ${CHUNK} /dev/zero | tr '\\0' z; echo; usleep 2000; i=$((i+1)); done`],
  });
  await c.launch({ logSizeMaxBytes: 0 });
  const stuck = connect({ path: c.attachSocket });
  await new Promise((r, j) => stuck.once('connect', r).once('error', j));
  stuck.pause();
  let closed = false;
  stuck.on('close', () => (closed = true));
  stuck.on('error', () => undefined);
  const reader = await attachShim(c.attachSocket);
  let readBytes = 0;
  reader.on('data', (b: Buffer) => (readBytes += b.length));
  await c.start();
  const status = await c.waitExit(60_000);
  assert.equal(status.exitCode, 0);
  await ended(reader);
  assert.equal(readBytes, CHUNKS * (CHUNK + 1), 'the reading client got every byte');
  stuck.resume();
  let stuckBytes = 0;
  stuck.on('data', (b: Buffer) => (stuckBytes += b.length));
  await eventually(() => (closed ? true : undefined), 10_000, () => 'the stuck client was never disconnected');
  assert.ok(stuckBytes < (CHUNKS * CHUNK) / 2, `the stuck client received ${stuckBytes} bytes`);
  const lines = criLines(await c.readLog(), 'stdout');
  assert.deepEqual(lines.map((l) => l.length), new Array(CHUNKS).fill(CHUNK), 'the log has every line whole');
  stuck.destroy();
  reader.destroy();
});

for (const runtime of RUNTIMES) {
  test(`${runtime}: resize changes the size of the pty the process sees`, { skip: skipFor(runtime) }, async () => {
    await using c = await shimCase(runtime, {
      terminal: true,
      args: ['/bin/sh', '-c', 'read x; /probe'],
      config: (s) => {
        s.process.consoleSize = { height: 24, width: 80 };
      },
    });
    await c.launch({ stdin: true });
    const io = await attachShim(c.attachSocket);
    const got = collect(io);
    await c.start();
    await resizePty(c.controlSocket, { rows: 33, cols: 121 });
    io.write('go\n');
    const status = await c.waitExit();
    assert.equal(status.exitCode, 0);
    await ended(io);
    const report = parseProbe<ProbeReport>(got.out());
    assert.deepEqual(report.tty.winsize, { rows: 33, cols: 121 });
    assert.deepEqual(report.tty.isatty, [1, 1, 1]);
    assert.equal(got.err(), '', 'a terminal has one stream');
    // The terminal's output (with its \r\n) is in the log as stdout.
    assert.ok(criLines(await c.readLog(), 'stdout').some((l) => l.startsWith('{"pid"')));
    io.destroy();
  });
}

for (const runtime of RUNTIMES) {
  test(`${runtime}: an exec'd process with a terminal gets its own pty through its shim`, { skip: skipFor(runtime) }, async () => {
    await using c = await shimCase(runtime, { args: ['/probe', 'sleep', '60'] });
    await c.launch();
    await c.start();
    const spec = await c.bundle.readConfig();
    const processFile = join(c.dir, 'exec-process.json');
    await writeFile(processFile, JSON.stringify({ ...spec.process, args: ['/bin/sh', '-c', 'read x; /probe'], terminal: true }));
    const paths = { exitFile: join(c.dir, 'exec-exit.json'), attachSocket: join(c.dir, 'exec-attach.sock'), controlSocket: join(c.dir, 'exec-control.sock') };
    const exec = await launchShim({ ...c.options(), bundle: undefined, execProcess: processFile, logPath: undefined, terminal: true, stdin: true, ...paths });
    const io = await attachShim(paths.attachSocket);
    const got = collect(io);
    await resizePty(paths.controlSocket, { rows: 50, cols: 160 });
    io.write('go\n');
    const status = await waitForExitFile(paths.exitFile, { timeoutMs: 20_000 });
    assert.equal(status.exitCode, 0);
    assert.equal(status.pid, exec.pid);
    await ended(io);
    const report = parseProbe<ProbeReport>(got.out());
    assert.notEqual(report.pid, 1, 'an exec, not the container init');
    assert.deepEqual(report.tty.isatty, [1, 1, 1]);
    assert.deepEqual(report.tty.winsize, { rows: 50, cols: 160 });
    io.destroy();
  });
}

test('resize without a terminal and unknown commands are refused with typed errors', { skip: skipFor('runc') }, async () => {
  await using c = await shimCase('runc', { args: ['/probe', 'sleep', '30'] });
  await c.launch();
  await assert.rejects(resizePty(c.controlSocket, { rows: 10, cols: 10 }), (e) => isBerthError(e, 'CONTAINER_STATE'));
  await assert.rejects(sendControl(c.controlSocket, 'launch-missiles'), (e) => isBerthError(e, 'ARGUMENT_INVALID') && /unknown command/.test(e.message));
  await assert.rejects(sendControl(c.controlSocket, 'resize 1'), (e) => isBerthError(e, 'ARGUMENT_INVALID'));
  await assert.rejects(closeIO(c.controlSocket), (e) => isBerthError(e, 'ARGUMENT_INVALID') && /without --stdin/.test(e.message));
});
