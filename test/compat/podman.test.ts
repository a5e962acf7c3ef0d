/**
 * berth-runtime as a drop-in for runc under podman 4 and conmon (Debian
 * 12's packages): `podman --runtime bin/berth-runtime`. A private podman
 * (storage, run root, locks and config in a temp directory) loads a busybox
 * image built here from busybox-static. Every case runs with runc first, as
 * the reference, then with berth-runtime.
 *
 * conmon drives the runtime with: create --bundle --pid-file
 * [--console-socket], start, exec --pid-file --process --detach [--tty
 * --console-socket], kill ID SIGNAL, delete --force. Podman reads the
 * runtime's error text to choose exit codes (127 for "no such file or
 * directory", 126 for "permission denied") and runs `delete --force` after
 * a failed create, which must succeed when nothing is left.
 */
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { withLeakCheck } from '../helpers/leaks.js';
import { berthRuntimePath, TEST_TMP_PREFIX, testTmpRoot } from '../helpers/paths.js';
import { which } from '../helpers/requires.js';
import { describeResult, runCmd, type CmdResult } from '../helpers/run.js';
import { ptyLines, requireTools } from './helpers/host.js';
import { buildBusyboxImage } from './helpers/image-archive.js';
import { makePodman, type Podman } from './helpers/podman.js';

withLeakCheck();

const skip = requireTools('podman', 'conmon', 'script');
const IMAGE = 'docker.io/library/berth-busybox:latest';

const RUNTIMES: Array<{ name: string; bin: string }> = [
  ...(which('runc') ? [{ name: 'runc', bin: which('runc')! }] : []),
  { name: 'berth-runtime', bin: berthRuntimePath },
];

let seq = 0;
const newName = (name: string): string => `${name}-${process.pid}-${seq++}`;

function assertOk(r: CmdResult): CmdResult {
  assert.equal(r.code, 0, describeResult(r));
  return r;
}

describe('podman 4 with conmon', { skip }, () => {
  let pm: Podman;
  let dir: string;

  before(async () => {
    dir = await mkdtemp(join(testTmpRoot(), `${TEST_TMP_PREFIX}compat-podman-`));
    const image = await buildBusyboxImage(join(dir, 'image'));
    pm = await makePodman(dir);
    await pm.ok(['load', '--input', image.archive]);
    assert.match((await pm.ok(['images', '--format', '{{.Repository}}:{{.Tag}}'])).stdout, /berth-busybox:latest/);
  });

  after(async () => {
    await pm?.cleanup();
    if (dir) await runCmd('rm', ['-rf', '--one-file-system', dir]);
  });

  for (const rt of RUNTIMES) {
    const podman = (args: readonly string[]) => pm.run(rt.bin, args);
    const status = async (name: string): Promise<string> =>
      assertOk(await podman(['inspect', '--format', '{{.State.Status}}', name])).stdout.trim();

    test(`${rt.name}: podman run --rm prints the output and returns the exit code`, async () => {
      const r = await podman(['run', '--rm', ...pm.containerFlags(), IMAGE, 'sh', '-c', 'echo hello; echo oops >&2; exit 7']);
      assert.equal(r.code, 7, describeResult(r));
      assert.equal(r.stdout, 'hello\n');
      assert.match(r.stderr, /oops\n/);
      const plain = assertOk(await podman(['run', '--rm', ...pm.containerFlags(), IMAGE, 'echo', 'hello']));
      assert.equal(plain.stdout, 'hello\n');
      // -i: conmon hands the runtime a pipe as the container's stdin, and closes it at end of input.
      const piped = assertOk(await pm.run(rt.bin, ['run', '--rm', '-i', ...pm.containerFlags(), IMAGE, 'sh', '-c', 'cat; echo done'], { input: 'from-stdin\n' }));
      assert.equal(piped.stdout, 'from-stdin\ndone\n');
      assert.equal(assertOk(await podman(['ps', '--all', '--quiet'])).stdout, '');
    });

    test(`${rt.name}: podman run -t gives the container a terminal, with and without a tty on podman's side`, async () => {
      // conmon makes the runtime send the pty master to its --console-socket.
      const t = await podman(['run', '--rm', '-t', ...pm.containerFlags(), IMAGE, 'sh', '-c', 'tty; echo on-tty; exit 4']);
      assert.equal(t.code, 4, describeResult(t));
      assert.match(ptyLines(t.stdout)[0] ?? '', /^\/dev\/pts\/\d+$/, describeResult(t));
      assert.ok(ptyLines(t.stdout).includes('on-tty'), describeResult(t));

      // The sleep gives podman's attach time to copy the output: with -it, podman 4.3 drops
      // output a container writes right before it exits, whatever the runtime (seen with runc too).
      const it = await pm.runInPty(rt.bin, ['run', '--rm', '-it', ...pm.containerFlags(), IMAGE, 'sh', '-c', 'tty; stty size >/dev/null && echo size-ok; sleep 1']);
      assert.equal(it.code, 0, describeResult(it));
      const lines = ptyLines(it.stdout);
      assert.ok(lines.some((l) => /^\/dev\/pts\/\d+$/.test(l)), describeResult(it));
      assert.ok(lines.includes('size-ok'), describeResult(it));
    });

    test(`${rt.name}: a detached container takes exec, exec -t, pause, unpause and stop`, async () => {
      const name = newName('detached');
      assertOk(await podman(['run', '--detach', '--name', name, ...pm.containerFlags(), IMAGE, 'sleep', '1000']));
      try {
        assert.equal(await status(name), 'running');

        const exec = await podman(['exec', name, 'sh', '-c', 'echo from-exec; exit 5']);
        assert.equal(exec.code, 5, describeResult(exec));
        assert.equal(exec.stdout, 'from-exec\n');

        const user = assertOk(await podman(['exec', '--user', '1000', name, 'id', '-u']));
        assert.equal(user.stdout, '1000\n');

        const tty = assertOk(await podman(['exec', '-t', name, 'sh', '-c', 'tty; echo exec-tty']));
        assert.match(ptyLines(tty.stdout)[0] ?? '', /^\/dev\/pts\/\d+$/, describeResult(tty));
        assert.ok(ptyLines(tty.stdout).includes('exec-tty'), describeResult(tty));

        const missing = await podman(['exec', name, '/nonexistent']);
        assert.equal(missing.code, 127, describeResult(missing));

        assertOk(await podman(['pause', name]));
        assert.equal(await status(name), 'paused');
        assertOk(await podman(['unpause', name]));
        assert.equal(await status(name), 'running');

        // sleep as pid 1 ignores SIGTERM: stop falls back to SIGKILL after the timeout.
        assertOk(await podman(['stop', '--time', '1', name]));
        assert.equal(await status(name), 'exited');
        assert.equal(assertOk(await podman(['inspect', '--format', '{{.State.ExitCode}}', name])).stdout.trim(), '137');
        assertOk(await podman(['rm', name]));
      } finally {
        await podman(['rm', '--force', '--time', '0', name]);
      }
    });

    test(`${rt.name}: podman stop delivers SIGTERM to a container that handles it`, async () => {
      const name = newName('term');
      assertOk(await podman(['run', '--detach', '--name', name, ...pm.containerFlags(), IMAGE,
        'sh', '-c', 'trap "exit 42" TERM; echo ready; while :; do sleep 0.1; done']));
      try {
        for (let i = 0; i < 100 && !(await podman(['logs', name])).stdout.includes('ready'); i++) {
          await new Promise((r) => setTimeout(r, 50));
        }
        const started = Date.now();
        assertOk(await podman(['stop', '--time', '30', name]));
        assert.ok(Date.now() - started < 20_000, 'stopped by SIGTERM, not by the SIGKILL after the timeout');
        assert.equal(assertOk(await podman(['inspect', '--format', '{{.State.ExitCode}}', name])).stdout.trim(), '42');
      } finally {
        await podman(['rm', '--force', '--time', '0', name]);
      }
    });

    test(`${rt.name}: podman maps programs that cannot run to exit codes 127 and 126`, async () => {
      const missing = await podman(['run', '--rm', ...pm.containerFlags(), IMAGE, '/nonexistent']);
      assert.equal(missing.code, 127, describeResult(missing));
      assert.match(missing.stderr, /no such file or directory/i);
      const notExecutable = await podman(['run', '--rm', ...pm.containerFlags(), IMAGE, '/etc/passwd']);
      assert.equal(notExecutable.code, 126, describeResult(notExecutable));
      assert.match(notExecutable.stderr, /permission denied/i);
      // The failed creates were cleaned up with `delete --force`, quietly.
      assert.doesNotMatch(missing.stderr + notExecutable.stderr, /does not exist/, 'delete --force of a missing container succeeds');
      assert.equal(assertOk(await podman(['ps', '--all', '--quiet'])).stdout, '');
    });
  }
});
