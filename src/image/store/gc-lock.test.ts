import assert from 'node:assert/strict';
import { test } from 'node:test';

import { GcLock } from './gc-lock.js';

/** A promise with its resolve function, to hold a lock until the test says so. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

test('shared holders run together; an exclusive holder waits for them and runs alone', async () => {
  const lock = new GcLock();
  const log: string[] = [];
  const g1 = gate();
  const g2 = gate();
  const s1 = lock.shared(async () => {
    log.push('s1 start');
    await g1.promise;
    log.push('s1 end');
  });
  const s2 = lock.shared(async () => {
    log.push('s2 start');
    await g2.promise;
    log.push('s2 end');
  });
  const x = lock.exclusive(() => {
    log.push('x');
    return 42;
  });
  // Queued behind the exclusive holder, not beside the running shared ones: no starvation.
  const s3 = lock.shared(() => {
    log.push('s3');
  });
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(log, ['s1 start', 's2 start']);
  g2.open();
  await s2;
  assert.deepEqual(log, ['s1 start', 's2 start', 's2 end']);
  g1.open();
  assert.equal(await x, 42);
  await Promise.all([s1, s3]);
  assert.deepEqual(log, ['s1 start', 's2 start', 's2 end', 's1 end', 'x', 's3']);
});

test('a holder that throws releases the lock', async () => {
  const lock = new GcLock();
  await assert.rejects(
    lock.exclusive(() => {
      throw new Error('boom');
    }),
    /boom/,
  );
  await assert.rejects(lock.shared(() => Promise.reject(new Error('again'))), /again/);
  assert.equal(await lock.exclusive(() => 'free'), 'free');
});
