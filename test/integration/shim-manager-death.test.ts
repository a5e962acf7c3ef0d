/**
 * A shim outlives its manager: a launcher process (a stand-in for berthd)
 * launches the shim, starts the container and attaches; it is killed with
 * SIGKILL; a new manager (this test) then finds everything again from the
 * paths on disk: the container still runs, its output during the gap is in
 * the log, it can be attached and controlled, and its exit status is found
 * after it exits.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

import { attachShim } from '../../src/shim/attach-stream.js';
import { reopenLog } from '../../src/shim/control.js';
import { findExitStatus } from '../../src/shim/exit-file.js';
import { watchExitDir, type ExitEvent } from '../../src/shim/exit-watcher.js';
import type { LaunchedShim } from '../../src/shim/launch-shim.js';
import { withLeakCheck } from '../helpers/leaks.js';
import { criLines, eventually, isAlive, RUNTIMES, shimCase, skipFor, waitGone } from './shim-harness.js';

withLeakCheck();

const shimModule = (name: string) => fileURLToPath(new URL(`../../src/shim/${name}.js`, import.meta.url));

/**
 * The manager stand-in, run as `node --input-type=module -e LAUNCHER OPTIONS_JSON`: launches the
 * shim, prints its pids as a JSON line, starts the container through the runtime, attaches, prints
 * `attached` and then every line of output, and waits to be killed.
 */
const LAUNCHER = `
import { execFileSync } from 'node:child_process';
const { launchShim } = await import(${JSON.stringify(shimModule('launch-shim'))});
const { attachShim } = await import(${JSON.stringify(shimModule('attach-stream'))});
const opts = JSON.parse(process.argv[1]);
const shim = await launchShim(opts);
process.stdout.write(JSON.stringify(shim) + '\\n');
execFileSync(opts.runtime, [...opts.runtimeArgs, 'start', opts.id], { stdio: 'ignore' });
const io = await attachShim(opts.attachSocket);
io.on('data', (b) => process.stdout.write(b));
process.stdout.write('attached\\n');
setInterval(() => {}, 1 << 30);
`;

const tickNumbers = (lines: string[]) => lines.map((l) => Number(/^tick-(\d+)$/.exec(l)?.[1] ?? NaN));

for (const runtime of RUNTIMES) {
  test(`${runtime}: after the manager is killed with SIGKILL a new one finds the container, its log, its attach socket and its exit`, { skip: skipFor(runtime) }, async () => {
    await using c = await shimCase(runtime, { args: ['/bin/sh', '-c', 'i=0; while true; do echo tick-$i; i=$((i+1)); usleep 20000; done'] });
    const launcher = spawn(process.execPath, ['--input-type=module', '-e', LAUNCHER, JSON.stringify(c.options())], { stdio: ['ignore', 'pipe', 'pipe'] });
    let launcherErr = '';
    launcher.stderr.on('data', (b: Buffer) => (launcherErr += b.toString('utf8')));
    const launcherExit = new Promise((r) => launcher.once('exit', r));
    try {
      const lines = createInterface({ input: launcher.stdout })[Symbol.asyncIterator]();
      const first = await lines.next();
      assert.ok(!first.done, `the launcher printed nothing: ${launcherErr}`);
      const shim = JSON.parse(first.value as string) as LaunchedShim;
      c.shim = shim;
      for (let l = await lines.next(); !l.done && l.value !== 'attached'; l = await lines.next()) {
        // waiting for the launcher to attach
      }
      // The old manager sees output live before it dies.
      const live = await lines.next();
      assert.match(String(live.value), /^tick-\d+$/);

      launcher.kill('SIGKILL');
      await launcherExit;
      const ticksAtDeath = tickNumbers(criLines(await c.readLog(), 'stdout')).at(-1)!;
      await new Promise((r) => setTimeout(r, 500));

      // The new manager knows only the paths.
      assert.ok(isAlive(shim.shimPid), 'the shim survived its manager');
      assert.ok(isAlive(shim.pid), 'the container survived its manager');
      assert.equal(await findExitStatus(c.exitFile), undefined, 'no exit file while the container runs');
      const state = JSON.parse((await c.rt.ok(['state', c.id])).stdout) as { status: string; pid: number };
      assert.deepEqual([state.status, state.pid], ['running', shim.pid]);

      // Output went on into the log while no manager was there, without a gap.
      const during = tickNumbers(criLines(await c.readLog(), 'stdout'));
      assert.ok(during.at(-1)! > ticksAtDeath + 5, `the log stopped at tick ${during.at(-1)} (manager died at ${ticksAtDeath})`);
      during.forEach((n, i) => assert.equal(n, i, 'every tick is in the log, in order'));

      // Attach again and see live output; the control socket answers.
      const io = await attachShim(c.attachSocket);
      let out = '';
      io.on('data', (b: Buffer) => (out += b.toString('utf8')));
      await eventually(() => (/tick-\d+\n/.test(out) ? true : undefined), 10_000, () => `no live output after re-attaching: ${JSON.stringify(out)}`);
      await reopenLog(c.controlSocket);

      // And the exit is found by a watcher of the exit directory.
      const exits: ExitEvent[] = [];
      await using watcher = await watchExitDir(c.dir, { onExit: (e) => exits.push(e) });
      await c.rt.ok(['kill', c.id, 'KILL']);
      const exit = await eventually(() => exits.find((e) => e.path === c.exitFile), 10_000, () => 'the watcher saw no exit file');
      assert.deepEqual([exit.status.signal, exit.status.pid], [9, shim.pid]);
      await new Promise((r) => (io.readableEnded ? r(undefined) : io.once('end', r)));
      assert.ok(await waitGone(shim.shimPid, 5000), 'the shim exits after the container');
    } finally {
      if (launcher.exitCode === null && launcher.signalCode === null) launcher.kill('SIGKILL');
      await launcherExit;
    }
  });
}
