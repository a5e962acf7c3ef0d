/**
 * How processes end, as berth-shim records it in the exit file: exit codes,
 * signals, OOM kills, exec'd processes; and signals to the shim itself.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';

import { launchShim } from '../../src/shim/launch-shim.js';
import { waitForExitFile } from '../../src/shim/wait-exit-file.js';
import { withLeakCheck } from '../helpers/leaks.js';
import { criLines, eventually, isAlive, parseCriLog, RUNTIMES, shimCase, skipFor, waitGone } from './shim-harness.js';
import { readFile } from 'node:fs/promises';

withLeakCheck();

for (const runtime of RUNTIMES) {
  test(`${runtime}: the exit file has the exit code, no signal, and the times`, { skip: skipFor(runtime) }, async () => {
    await using c = await shimCase(runtime, { args: ['/probe', 'exit', '3'] });
    const shim = await c.launch();
    await c.start();
    const status = await c.waitExit();
    assert.equal(status.exitCode, 3);
    assert.equal(status.signal, null);
    assert.equal(status.oomKilled, false);
    assert.equal(status.pid, shim.pid);
    assert.ok(status.startedAt <= status.finishedAt, `${status.startedAt} <= ${status.finishedAt}`);
    assert.ok(await waitGone(shim.shimPid, 5000), 'the shim exits after writing the exit file');
  });

  test(`${runtime}: a process killed by a signal is recorded with the signal and 128 + its number`, { skip: skipFor(runtime) }, async () => {
    await using c = await shimCase(runtime, { args: ['/probe', 'sleep', '60'] });
    await c.launch();
    await c.start();
    await c.rt.ok(['kill', c.id, 'KILL']);
    const status = await c.waitExit();
    assert.deepEqual([status.exitCode, status.signal, status.oomKilled], [137, 9, false]);
  });

  test(`${runtime}: an OOM kill in the container's memory cgroup is recorded as such`, { skip: skipFor(runtime) }, async () => {
    await using c = await shimCase(runtime, {
      args: ['/probe', 'spin-mem', '200'],
      config: (s) => {
        s.linux.resources = { ...s.linux.resources, memory: { limit: 32 * 1024 * 1024 } };
      },
    });
    await c.launch();
    await c.start();
    const status = await c.waitExit();
    assert.equal(status.oomKilled, true, `not recorded as an OOM kill: ${JSON.stringify(status)}`);
    assert.equal(status.signal, 9);
    assert.equal(status.exitCode, 137);
  });

  test(`${runtime}: an exec'd process gets its own shim, log and exit file`, { skip: skipFor(runtime) }, async () => {
    await using c = await shimCase(runtime, { args: ['/probe', 'sleep', '60'] });
    await c.launch();
    await c.start();
    const spec = await c.bundle.readConfig();
    const processFile = join(c.dir, 'exec-process.json');
    await writeFile(processFile, JSON.stringify({ ...spec.process, args: ['/bin/sh', '-c', 'echo from-exec; exec /probe sleep 60'], terminal: false }));
    const exitFile = join(c.dir, 'exec-exit.json');
    const logPath = join(c.dir, 'exec.log');
    const exec = await launchShim({ ...c.options(), bundle: undefined, execProcess: processFile, exitFile, logPath, attachSocket: undefined, controlSocket: join(c.dir, 'exec-control.sock') });
    assert.notEqual(exec.pid, c.shim!.pid);
    await eventually(async () => ((await readFile(logPath, 'utf8')).includes('from-exec') ? true : undefined), 10_000, () => 'no output from the exec');
    process.kill(exec.pid, 'SIGTERM');
    const status = await waitForExitFile(exitFile, { timeoutMs: 10_000 });
    assert.deepEqual([status.exitCode, status.signal, status.pid], [143, 15, exec.pid]);
    assert.ok(await waitGone(exec.shimPid, 5000), 'the exec shim exits');
    assert.deepEqual(criLines(parseCriLog(await readFile(logPath, 'utf8')), 'stdout'), ['from-exec']);
    assert.ok(isAlive(c.shim!.pid), 'the container itself still runs');
  });
}

test('SIGTERM, SIGINT and SIGHUP to the shim neither stop it nor reach the container', { skip: skipFor('runc') }, async () => {
  await using c = await shimCase('runc', { args: ['/bin/sh', '-c', 'trap "echo got-signal; exit 9" TERM INT HUP; while true; do sleep 0.05; done'] });
  const shim = await c.launch();
  await c.start();
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.kill(shim.shimPid, sig);
  await new Promise((r) => setTimeout(r, 300));
  assert.ok(isAlive(shim.shimPid), 'the shim still runs');
  assert.ok(isAlive(shim.pid), 'the container still runs');
  await c.rt.ok(['kill', c.id, 'KILL']);
  const status = await c.waitExit();
  assert.equal(status.signal, 9);
  assert.deepEqual(criLines(await c.readLog(), 'stdout'), [], 'the container never saw a signal');
});
