import assert from 'node:assert/strict';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import type { BerthError } from '../errors/index.js';
import { watchExitDir, type ExitEvent } from './exit-watcher.js';
import { waitForExitFile } from './wait-exit-file.js';

const status = (code: number) =>
  `{"exitCode":${code},"signal":null,"oomKilled":false,"pid":1,"startedAt":"2024-05-01T12:00:00.000000001Z","finishedAt":"2024-05-01T12:00:01.000000001Z"}\n`;

/** Writes like the shim: a dot-named temp file, then rename. */
async function writeExit(dir: string, name: string, code: number): Promise<void> {
  await writeFile(join(dir, `.${name}.tmp`), status(code));
  await rename(join(dir, `.${name}.tmp`), join(dir, name));
}

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(cond(), what);
}

test('the watcher reports files already there, then each new exit once, and skips temp files', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'berth-unit-exits-'));
  try {
    await writeExit(dir, 'before', 1);
    await writeFile(join(dir, '.half-written.tmp'), '{');
    const seen: ExitEvent[] = [];
    const errors: Array<[BerthError, string | undefined]> = [];
    await using w = await watchExitDir(dir, { onExit: (e) => seen.push(e), onError: (e, n) => errors.push([e, n]), rescanIntervalMs: 50 });
    assert.deepEqual(seen.map((e) => [e.name, e.status.exitCode]), [['before', 1]], 'the first scan reports what was there');

    await writeExit(dir, 'c1', 0);
    await until(() => seen.length === 2, 'the new exit file was reported');
    await w.rescan();
    await new Promise((r) => setTimeout(r, 120));
    assert.equal(seen.length, 2, 'no exit is reported twice');

    // A restarted container's new exit replaces the file: a new inode, a new event.
    await writeExit(dir, 'c1', 3);
    await until(() => seen.length === 3, 'the replaced exit file was reported');
    assert.deepEqual([seen[2]!.name, seen[2]!.status.exitCode], ['c1', 3]);

    await writeFile(join(dir, 'garbage'), 'not json');
    await until(() => errors.length === 1, 'a corrupt file is reported as an error');
    assert.equal(errors[0]![0].code, 'STATE_CORRUPT');
    assert.equal(errors[0]![1], 'garbage');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('waitForExitFile resolves when the file appears and times out with DEADLINE_EXCEEDED', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'berth-unit-exits-'));
  try {
    const p = waitForExitFile(join(dir, 'c2'), { timeoutMs: 5000 });
    setTimeout(() => void writeExit(dir, 'c2', 7), 50);
    assert.equal((await p).exitCode, 7);
    await assert.rejects(waitForExitFile(join(dir, 'never'), { timeoutMs: 100 }), { code: 'DEADLINE_EXCEEDED' });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
