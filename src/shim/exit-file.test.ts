import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { isBerthError } from '../errors/index.js';
import { findExitStatus, parseExitStatus } from './exit-file.js';

const GOOD = '{"exitCode":137,"signal":9,"oomKilled":true,"pid":42,"startedAt":"2024-05-01T12:00:00.000000001Z","finishedAt":"2024-05-01T12:00:05.123456789Z"}\n';

test('parseExitStatus reads what berth-shim writes', () => {
  assert.deepEqual(parseExitStatus(GOOD, '/x'), {
    exitCode: 137,
    signal: 9,
    oomKilled: true,
    pid: 42,
    startedAt: '2024-05-01T12:00:00.000000001Z',
    finishedAt: '2024-05-01T12:00:05.123456789Z',
  });
});

test('parseExitStatus refuses what is not an exit status, naming the file', () => {
  for (const bad of ['', '{', '{}', GOOD.replace('"signal":9', '"signal":"KILL"'), GOOD.replace('2024-05-01T12:00:00.000000001Z', 'yesterday')]) {
    assert.throws(() => parseExitStatus(bad, '/run/exits/c1'), (e) => isBerthError(e, 'STATE_CORRUPT') && e.message.includes('/run/exits/c1'));
  }
});

test('findExitStatus is undefined while there is no exit file', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'berth-unit-exit-'));
  try {
    assert.equal(await findExitStatus(join(dir, 'c1')), undefined);
    await writeFile(join(dir, 'c1'), GOOD);
    assert.equal((await findExitStatus(join(dir, 'c1')))?.exitCode, 137);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
