/**
 * The parts of runc's command-line behaviour that containerd's runc shim
 * (through go-runc) and podman depend on, checked on runc and berth-runtime
 * side by side, without the managers themselves:
 *
 *  - the shim turns a kill error that says "container not running" into
 *    "process already finished", and tolerates delete errors that say
 *    "does not exist" (pkg/process: checkKillError, Init.delete);
 *  - podman runs `delete --force` after a failed create and expects success
 *    when nothing is left;
 *  - podman and dockerd pick exit code 127 or 126 from "no such file or
 *    directory" and "permission denied" in the runtime's error;
 *  - the shim reads the last `"level":"error"` line of `--log FILE
 *    --log-format json` to explain a failure;
 *  - `ps --format json` is a JSON array of pids; `state` has the fields
 *    go-runc's Container and podman's spec.State read.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import { makeBundle } from '../helpers/bundle.js';
import { withLeakCheck } from '../helpers/leaks.js';
import { requires } from '../helpers/requires.js';
import { describeResult, runtimeCli, type RuntimeName } from '../helpers/run.js';

withLeakCheck();

const RUNTIMES: RuntimeName[] = ['runc', 'berth-runtime'];
let seq = 0;
const newId = (name: string): string => `cli-${name}-${process.pid}-${seq++}`;

/** The messages of the error lines of a JSON runtime log. */
function logErrors(path: string): string[] {
  let text = '';
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { level?: string; msg?: string; time?: string })
    .filter((e) => e.level === 'error')
    .map((e) => {
      assert.equal(typeof e.time, 'string', 'every log line has a time');
      return e.msg ?? '';
    });
}

async function waitStopped(rt: Awaited<ReturnType<typeof runtimeCli>>, id: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const st = JSON.parse((await rt.ok(['state', id])).stdout) as { status: string };
    if (st.status === 'stopped') return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`container ${id} never stopped`);
}

for (const name of RUNTIMES) {
  const skip = requires('root', 'busybox', 'probe', ...(name === 'runc' ? (['runc'] as const) : (['berth-runtime'] as const)));

  test(`${name}: kill of a stopped container says "container not running"; delete then frees the id`, { skip }, async () => {
    await using rt = await runtimeCli(name);
    await using b = await makeBundle({ config: (s) => { s.process.args = ['sleep', '60']; } });
    const id = newId('kill');
    const log = join(b.dir, 'log.json');
    const withLog = (args: string[]): string[] => ['--log', log, '--log-format', 'json', ...args];
    await rt.ok(withLog(['run', '--detach', '--bundle', b.dir, id]));
    await rt.ok(withLog(['kill', id, 'KILL']));
    await waitStopped(rt, id);
    const late = await rt.run(withLog(['kill', id, 'TERM']));
    assert.equal(late.code, 1, describeResult(late));
    assert.match(late.stderr, /container not running/, describeResult(late));
    assert.match(logErrors(log).at(-1) ?? '', /container not running/);
    await rt.ok(withLog(['delete', id]));
    const again = await rt.run(withLog(['delete', id]));
    assert.equal(again.code, 1);
    assert.match(again.stderr, /does not exist/, describeResult(again));
    assert.match(logErrors(log).at(-1) ?? '', /does not exist/);
  });

  test(`${name}: delete --force of a container that does not exist succeeds`, { skip }, async () => {
    await using rt = await runtimeCli(name);
    const r = await rt.run(['delete', '--force', newId('missing')]);
    assert.equal(r.code, 0, describeResult(r));
    assert.equal(r.stderr, '');
  });

  test(`${name}: a program that cannot be executed fails create with the errno's text`, { skip }, async () => {
    await using rt = await runtimeCli(name);
    for (const [prog, text] of [['/nonexistent', /no such file or directory/], ['/etc/passwd', /permission denied/]] as const) {
      await using b = await makeBundle({ config: (s) => { s.process.args = [prog]; } });
      const id = newId('noexec');
      const log = join(b.dir, 'log.json');
      const r = await rt.run(['--log', log, '--log-format', 'json', 'create', '--bundle', b.dir, id]);
      assert.equal(r.code, 1, describeResult(r));
      assert.match(r.stderr, text, describeResult(r));
      assert.match(logErrors(log).at(-1) ?? '', text);
      // Nothing is left of the failed create, and the cleanup a manager runs next succeeds.
      await rt.ok(['delete', '--force', id]);
    }
  });

  test(`${name}: ps --format json and state give what go-runc and podman parse`, { skip }, async () => {
    await using rt = await runtimeCli(name);
    await using b = await makeBundle({ config: (s) => { s.process.args = ['sleep', '60']; } });
    const id = newId('ps');
    const pidFile = join(b.dir, 'init.pid');
    await rt.ok(['create', '--bundle', b.dir, '--pid-file', pidFile, id]);
    try {
      const pid = Number(readFileSync(pidFile, 'utf8'));
      await rt.ok(['start', id]);
      const pids = JSON.parse((await rt.ok(['ps', '--format', 'json', id])).stdout) as unknown;
      assert.ok(Array.isArray(pids) && pids.every((p) => typeof p === 'number'), `a JSON array of numbers: ${JSON.stringify(pids)}`);
      assert.ok((pids as number[]).includes(pid));
      const st = JSON.parse((await rt.ok(['state', id])).stdout) as Record<string, unknown>;
      assert.equal(st['id'], id);
      assert.equal(st['pid'], pid);
      assert.equal(st['status'], 'running');
      assert.equal(st['bundle'], b.dir);
      assert.equal(typeof st['ociVersion'], 'string');
      assert.ok(!Number.isNaN(Date.parse(String(st['created']))), `created is a timestamp: ${String(st['created'])}`);
    } finally {
      await rt.run(['delete', '--force', id]);
    }
  });
}
