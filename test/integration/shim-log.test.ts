/**
 * berth-shim's log: the CRI format, stream tags, order, partial lines,
 * rotation and reopen-log, with real containers under berth-runtime and runc.
 */
import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { readFile, rename } from 'node:fs/promises';
import { test } from 'node:test';

import { attachShim } from '../../src/shim/attach-stream.js';
import { reopenLog } from '../../src/shim/control.js';
import { withLeakCheck } from '../helpers/leaks.js';
import { criLines, eventually, parseCriLog, RUNTIMES, shimCase, skipFor } from './shim-harness.js';

withLeakCheck();

const LINES = 200;

for (const runtime of RUNTIMES) {
  test(`${runtime}: stdout and stderr reach the log in order, each line tagged with its stream`, { skip: skipFor(runtime) }, async () => {
    await using c = await shimCase(runtime, {
      args: ['/bin/sh', '-c', `i=0; while [ $i -lt ${LINES} ]; do echo out-$i; echo err-$i >&2; i=$((i+1)); done; printf tail`],
    });
    await c.launch();
    await c.start();
    const status = await c.waitExit();
    assert.equal(status.exitCode, 0);

    const entries = await c.readLog();
    const expect = (p: string) => Array.from({ length: LINES }, (_, i) => `${p}-${i}`);
    assert.deepEqual(criLines(entries, 'stdout'), [...expect('out'), 'tail']);
    assert.deepEqual(criLines(entries, 'stderr'), expect('err'));
    // Output without a final newline is a partial entry, and nothing ends it.
    const last = entries.filter((e) => e.stream === 'stdout').at(-1)!;
    assert.deepEqual([last.tag, last.content], ['P', 'tail']);
    // Timestamps never go back within a stream.
    for (const stream of ['stdout', 'stderr'] as const) {
      const times = entries.filter((e) => e.stream === stream).map((e) => e.time);
      assert.deepEqual(times, [...times].sort(), `${stream} timestamps are in order`);
    }
  });
}

test('a line longer than --log-line-max is split into partial entries that join back to the line', { skip: skipFor('runc') }, async () => {
  await using c = await shimCase('runc', {
    args: ['/bin/sh', '-c', `printf '%s\\n' "$(head -c 5000 /dev/zero | tr '\\0' x)"; printf 'short\\n'; printf '%s\\n' "$(head -c 1000 /dev/zero | tr '\\0' y)"`],
  });
  await c.launch({ logLineMaxBytes: 1000 });
  await c.start();
  await c.waitExit();
  const entries = await c.readLog();
  assert.deepEqual(criLines(entries, 'stdout'), ['x'.repeat(5000), 'short', 'y'.repeat(1000)]);
  for (const e of entries) assert.ok(e.content.length <= 1000, `an entry of ${e.content.length} bytes`);
  // 5000 bytes need at least four partial pieces of 1000 before the final one. A write over
  // PIPE_BUF (4096) may reach the shim in two reads, and a read that ends mid-line is written as
  // a partial entry (as conmon does), so more P pieces are allowed; each line still ends with F.
  assert.match(entries.map((e) => e.tag).join(''), /^P{4,}FP*FP*F$/);
});

for (const runtime of RUNTIMES) {
  test(`${runtime}: rotation keeps --log-max-files files of at most --log-size-max bytes, losing only the oldest lines`, { skip: skipFor(runtime) }, async () => {
    const SIZE = 8192;
    const N = 2000;
    await using c = await shimCase(runtime, {
      args: ['/bin/sh', '-c', `i=0; while [ $i -lt ${N} ]; do echo line-$i-abcdefghijklmnopqrstuvwxyz; i=$((i+1)); done`],
    });
    await c.launch({ logSizeMaxBytes: SIZE, logMaxFiles: 3, logLineMaxBytes: 1024 });
    await c.start();
    await c.waitExit();

    assert.ok(!existsSync(`${c.logPath}.3`), 'no fourth file');
    const files = ['.2', '.1', ''];
    const all = [];
    for (const suffix of files) {
      const size = statSync(`${c.logPath}${suffix}`).size;
      assert.ok(size <= SIZE, `${c.logPath}${suffix} is ${size} bytes, over the limit ${SIZE}`);
      all.push(...(await c.readLog(suffix)));
    }
    // Oldest file first, the lines are consecutive up to the very last one.
    const nums = criLines(all, 'stdout').map((l) => Number(/^line-(\d+)-/.exec(l)![1]));
    assert.equal(nums.at(-1), N - 1);
    assert.ok(nums.length > 100, `only ${nums.length} lines kept`);
    nums.forEach((n, i) => assert.equal(n, nums[0]! + i, 'no gap between the kept files'));
  });
}

test('reopen-log: after an outside rotation the shim writes to a new file at the path', { skip: skipFor('berth-runtime') }, async () => {
  await using c = await shimCase('berth-runtime', { args: ['/bin/sh', '-c', 'echo before; read x; echo after'] });
  await c.launch({ stdin: true });
  const io = await attachShim(c.attachSocket);
  await c.start();
  await eventually(async () => ((await readFile(c.logPath, 'utf8')).includes('before') ? true : undefined), 10_000, () => 'no `before` in the log');
  await rename(c.logPath, `${c.logPath}.moved`);
  await reopenLog(c.controlSocket);
  io.write('go\n');
  await c.waitExit();
  io.destroy();
  assert.deepEqual(criLines(parseCriLog(await readFile(`${c.logPath}.moved`, 'utf8')), 'stdout'), ['before']);
  assert.deepEqual(criLines(await c.readLog(), 'stdout'), ['after']);
});
