import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile, access } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { acquireLock } from './lock-file.js';

test('a second acquire waits for the first release, then succeeds', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'berth-lock-'));
  try {
    const path = join(dir, 'x.lock');
    const first = await acquireLock(path);
    let second = false;
    const pending = acquireLock(path).then((l) => {
      second = true;
      return l;
    });
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(second, false, 'the second holder must wait');
    await first.release();
    const l2 = await pending;
    assert.equal(second, true);
    await l2.release();
    await assert.rejects(access(path));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a lock whose holder died is broken; a live holder times out with CONTAINER_LOCKED', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'berth-lock-'));
  try {
    const path = join(dir, 'x.lock');
    await writeFile(path, '999999999 1\n');
    const l = await acquireLock(path, { timeoutMs: 500 });
    await assert.rejects(acquireLock(path, { timeoutMs: 50, what: 'container `c1`' }), (err: Error & { code?: string }) =>
      err.code === 'CONTAINER_LOCKED' && /container `c1` is locked by process \d+/.test(err.message));
    await l.release();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
