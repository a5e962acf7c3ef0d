/**
 * berth-runtime as a drop-in for runc under containerd's runc shim
 * (containerd-shim-runc-v2 from Debian's containerd 1.6): `ctr run
 * --runc-binary bin/berth-runtime`. A private containerd serves a busybox
 * image built here from busybox-static. Every case runs with runc first, as
 * the reference that shows what the shim expects, then with berth-runtime.
 *
 * The shim drives the runtime with `--root R --log B/log.json --log-format
 * json` and: create --bundle --pid-file [--console-socket], start, delete
 * [--force], kill [--all], exec --process --detach --pid-file
 * [--console-socket], ps --format json, pause, resume, update --resources -.
 * It reads the last error line of log.json to explain a failure, and
 * tolerates kill and delete errors only by their wording ("container not
 * running", "does not exist").
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { withLeakCheck } from '../helpers/leaks.js';
import { berthRuntimePath, TEST_TMP_PREFIX, testTmpRoot } from '../helpers/paths.js';
import { which } from '../helpers/requires.js';
import { describeResult, runCmd, type CmdResult } from '../helpers/run.js';
import { CTR_NAMESPACE, startContainerd, type Containerd } from './helpers/containerd.js';
import { ptyLines, requireTools, runInPty } from './helpers/host.js';
import { buildBusyboxImage } from './helpers/image-archive.js';

withLeakCheck();

const skip = requireTools('containerd', 'ctr', 'containerd-shim-runc-v2', 'script');
const IMAGE = 'docker.io/library/berth-busybox:latest';

/** The reference runtime first (when installed), then berth-runtime. */
const RUNTIMES: Array<{ name: string; bin: string }> = [
  ...(which('runc') ? [{ name: 'runc', bin: 'runc' }] : []),
  { name: 'berth-runtime', bin: berthRuntimePath },
];

let seq = 0;
const newId = (name: string): string => `${name}-${process.pid}-${seq++}`;

function assertOk(r: CmdResult): CmdResult {
  assert.equal(r.code, 0, describeResult(r));
  return r;
}

/** The error lines the runtime wrote to the shim's log.json. */
function runtimeErrors(log: string): string[] {
  return log
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { level?: string; msg?: string })
    .filter((e) => e.level === 'error')
    .map((e) => e.msg ?? '');
}

async function waitTaskStatus(cd: Containerd, id: string, status: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const r = assertOk(await cd.ctr(['tasks', 'list']));
    const line = r.stdout.split('\n').find((l) => l.split(/\s+/)[0] === id);
    if (line?.split(/\s+/)[2] === status) return;
    await new Promise((res) => setTimeout(res, 50));
  }
  throw new Error(`task ${id} never became ${status}:\n${(await cd.ctr(['tasks', 'list'])).stdout}`);
}

describe('containerd 1.6 runc shim', { skip }, () => {
  let cd: Containerd;
  let dir: string;

  before(async () => {
    dir = await mkdtemp(join(testTmpRoot(), `${TEST_TMP_PREFIX}compat-containerd-`));
    const image = await buildBusyboxImage(join(dir, 'image'));
    cd = await startContainerd(dir);
    assertOk(await cd.ctr(['images', 'import', image.archive]));
    assert.match(assertOk(await cd.ctr(['images', 'list', '--quiet'])).stdout, /berth-busybox:latest/);
  });

  after(async () => {
    await cd?.stop();
    if (dir) await runCmd('rm', ['-rf', '--one-file-system', dir]);
  });

  for (const rt of RUNTIMES) {
    test(`${rt.name}: ctr run --rm prints the output and returns the exit code`, async () => {
      const id = newId('run');
      const r = await cd.ctr(['run', ...cd.runtimeFlags(rt.bin, id), '--rm', IMAGE, id, 'sh', '-c', 'echo hello; echo oops >&2; exit 7']);
      assert.equal(r.code, 7, describeResult(r));
      assert.equal(r.stdout, 'hello\n');
      assert.equal(r.stderr, 'oops\n');
      const again = assertOk(await cd.ctr(['run', ...cd.runtimeFlags(rt.bin, id), '--rm', IMAGE, id, 'echo', 'hello']));
      assert.equal(again.stdout, 'hello\n', 'the id is free again after --rm');
      assert.equal(assertOk(await cd.ctr(['containers', 'list', '--quiet'])).stdout, '');
    });

    test(`${rt.name}: ctr run -t gives the container a terminal`, async () => {
      const id = newId('tty');
      const r = await runInPty('ctr', [
        '--address', cd.address, '--namespace', CTR_NAMESPACE,
        'run', ...cd.runtimeFlags(rt.bin, id), '-t', '--rm', IMAGE, id,
        'sh', '-c', 'tty; stty size >/dev/null && echo size-ok; echo on-tty; exit 3',
      ]);
      assert.equal(r.code, 3, describeResult(r));
      const lines = ptyLines(r.stdout);
      assert.ok(lines.some((l) => /^\/dev\/pts\/\d+$/.test(l)), describeResult(r));
      assert.ok(lines.includes('size-ok'), describeResult(r));
      assert.ok(lines.includes('on-tty'), describeResult(r));
    });

    test(`${rt.name}: a detached task takes exec, ps, pause, resume, update, kill and delete`, async () => {
      const id = newId('task');
      assertOk(await cd.ctr(['run', ...cd.runtimeFlags(rt.bin, id), '-d', IMAGE, id, 'sleep', '1000']));
      try {
        await waitTaskStatus(cd, id, 'RUNNING');
        const initPid = Number((await readFile(join(cd.bundleDir(id), 'init.pid'), 'utf8')).trim());
        assert.ok(initPid > 0);

        const exec = await cd.ctr(['tasks', 'exec', '--fifo-dir', join(cd.dir, 'fifo'), '--exec-id', 'e1', id, 'sh', '-c', 'echo from-exec; exit 5']);
        assert.equal(exec.code, 5, describeResult(exec));
        assert.equal(exec.stdout, 'from-exec\n');

        const user = assertOk(await cd.ctr(['tasks', 'exec', '--fifo-dir', join(cd.dir, 'fifo'), '--user', '1000', '--exec-id', 'e2', id, 'id', '-u']));
        assert.equal(user.stdout, '1000\n');

        const ttyExec = await runInPty('ctr', [
          '--address', cd.address, '--namespace', CTR_NAMESPACE,
          'tasks', 'exec', '--fifo-dir', join(cd.dir, 'fifo'), '-t', '--exec-id', 'e3', id, 'sh', '-c', 'tty; echo exec-tty',
        ]);
        assert.equal(ttyExec.code, 0, describeResult(ttyExec));
        assert.ok(ptyLines(ttyExec.stdout).some((l) => /^\/dev\/pts\/\d+$/.test(l)), describeResult(ttyExec));
        assert.ok(ptyLines(ttyExec.stdout).includes('exec-tty'), describeResult(ttyExec));

        // A program that cannot run: the error names the runtime's reason (read from log.json).
        const missing = await cd.ctr(['tasks', 'exec', '--fifo-dir', join(cd.dir, 'fifo'), '--exec-id', 'e4', id, '/nonexistent']);
        assert.notEqual(missing.code, 0, describeResult(missing));
        assert.match(missing.stderr, /no such file or directory/i, describeResult(missing));

        const ps = assertOk(await cd.ctr(['tasks', 'ps', id]));
        assert.match(ps.stdout, new RegExp(`^${initPid}\\s`, 'm'), describeResult(ps));

        assertOk(await cd.ctr(['tasks', 'pause', id]));
        await waitTaskStatus(cd, id, 'PAUSED');
        assertOk(await cd.ctr(['tasks', 'resume', id]));
        await waitTaskStatus(cd, id, 'RUNNING');

        // The shim's Update (CRI's UpdateContainerResources) is `update --resources -` with the JSON on stdin.
        const limit = 64 * 1024 * 1024;
        const update = await runCmd(rt.bin, [
          '--root', cd.runtimeRoot(rt.bin), '--log', join(cd.bundleDir(id), 'log.json'), '--log-format', 'json',
          'update', '--resources', '-', id,
        ], { input: JSON.stringify({ memory: { limit } }) });
        assertOk(update);
        const memCgroup = /^\d+:memory:(.*)$/m.exec(await readFile(`/proc/${initPid}/cgroup`, 'utf8'))?.[1];
        if (memCgroup !== undefined) {
          assert.equal(memCgroup, `/${cd.cgroupParent}/${id}`, 'the container is in the cgroup ctr asked for');
          assert.equal(Number(await readFile(`/sys/fs/cgroup/memory${memCgroup}/memory.limit_in_bytes`, 'utf8')), limit);
        }

        assert.deepEqual(runtimeErrors(cd.readRuntimeLog(id)).filter((m) => !/nonexistent/.test(m)), [], cd.readRuntimeLog(id));

        // sleep is pid 1 and has no SIGTERM handler, so only SIGKILL stops it.
        assertOk(await cd.ctr(['tasks', 'kill', '--signal', 'SIGKILL', id]));
        await waitTaskStatus(cd, id, 'STOPPED');
        // Killing a stopped task is "process already finished", which the shim makes of runc's "container not running".
        const late = await cd.ctr(['tasks', 'kill', id]);
        assert.notEqual(late.code, 0);
        assert.match(late.stderr, /process already finished: not found/, describeResult(late));

        const del = assertOk(await cd.ctr(['tasks', 'delete', id]));
        assert.match(del.stderr, /exit code 137/, describeResult(del));
      } finally {
        await cd.ctr(['tasks', 'delete', '--force', id]);
        await cd.ctr(['containers', 'delete', id]);
      }
      assert.equal(assertOk(await cd.ctr(['containers', 'list', '--quiet'])).stdout, '');
    });

    test(`${rt.name}: kill --all stops a task whose init ignores SIGTERM, and the task is deleted`, async () => {
      const id = newId('killall');
      assertOk(await cd.ctr(['run', ...cd.runtimeFlags(rt.bin, id), '-d', IMAGE, id, 'sh', '-c', 'sleep 1000 & sleep 1000 & wait']));
      try {
        await waitTaskStatus(cd, id, 'RUNNING');
        const before = assertOk(await cd.ctr(['tasks', 'ps', id])).stdout.trim().split('\n').length - 1;
        assert.ok(before >= 3, `sh and two sleeps, got ${before}`);
        assertOk(await cd.ctr(['tasks', 'kill', '--all', '--signal', 'SIGKILL', id]));
        await waitTaskStatus(cd, id, 'STOPPED');
        assertOk(await cd.ctr(['tasks', 'delete', id]));
      } finally {
        await cd.ctr(['tasks', 'delete', '--force', id]);
        await cd.ctr(['containers', 'delete', id]);
      }
    });

    test(`${rt.name}: a program that cannot run fails ctr run with the runtime's reason`, async () => {
      const id = newId('missing');
      const r = await cd.ctr(['run', ...cd.runtimeFlags(rt.bin, id), '--rm', IMAGE, id, '/nonexistent']);
      assert.notEqual(r.code, 0, describeResult(r));
      assert.match(r.stderr, /no such file or directory/i, describeResult(r));
      await cd.ctr(['containers', 'delete', id]);
      assert.equal(assertOk(await cd.ctr(['containers', 'list', '--quiet'])).stdout, '');
    });
  }
});
