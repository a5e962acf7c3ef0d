import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { LeaseManager } from './lease-manager.js';
import { openMetadataDb, type MetadataDb } from './metadata-db.js';

const T0 = new Date('2026-01-02T03:04:05Z');
const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;

async function withLeases(fn: (ctx: { leases: LeaseManager; db: MetadataDb; clock: { now: Date } }) => Promise<void> | void): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-test-leases-'));
  const db = openMetadataDb(join(dir, 'metadata.db'));
  const clock = { now: T0 };
  try {
    await fn({ leases: new LeaseManager(db, { now: () => clock.now }), db, clock });
  } finally {
    db.close();
    await rm(dir, { recursive: true, force: true });
  }
}

test('a lease records resources once each, lists them, and leases them until it is deleted', () =>
  withLeases(({ leases }) => {
    const lease = leases.create({ id: 'pull-1', labels: { 'berth.io/pull': 'busybox' } });
    assert.equal(lease.id, 'pull-1');
    lease.add({ type: 'content', digest: D1 });
    lease.add({ type: 'content', digest: D1 });
    lease.add({ type: 'snapshot', key: D2 });
    lease.add({ type: 'ingest', ref: 'ensure-x' });
    assert.deepEqual(leases.resources('pull-1'), [
      { type: 'content', digest: D1 },
      { type: 'ingest', ref: 'ensure-x' },
      { type: 'snapshot', key: D2 },
    ]);
    assert.deepEqual(leases.get('pull-1'), { id: 'pull-1', createdAt: T0, labels: { 'berth.io/pull': 'busybox' } });
    assert.ok(leases.isLeased({ type: 'content', digest: D1 }));
    assert.ok(!leases.isLeased({ type: 'content', digest: D2 }), 'a digest leased as a snapshot key is not leased as content');
    assert.equal(leases.activeResources().length, 3);

    leases.remove('pull-1', { type: 'content', digest: D1 });
    assert.ok(!leases.isLeased({ type: 'content', digest: D1 }));

    lease.delete();
    lease.delete();
    assert.deepEqual(leases.list(), []);
    assert.deepEqual(leases.activeResources(), []);
    assert.throws(() => lease.add({ type: 'content', digest: D1 }), {
      code: 'LEASE_NOT_FOUND',
      message: 'lease `pull-1` does not exist (it expired and was collected, or was deleted)',
    });
    assert.throws(() => leases.delete('pull-1'), { code: 'LEASE_NOT_FOUND' });
    assert.throws(() => leases.resources('pull-1'), { code: 'LEASE_NOT_FOUND' });
  }));

test('an expired lease protects nothing and deleteExpired removes it with its resources', () =>
  withLeases(({ leases, db, clock }) => {
    const short = leases.create({ id: 'short', expiresInMs: 1000 });
    const long = leases.create({ id: 'long', expiresAt: new Date(T0.getTime() + 60_000) });
    leases.create({ id: 'forever' });
    assert.deepEqual(short.expiresAt, new Date(T0.getTime() + 1000));
    short.add({ type: 'content', digest: D1 });
    long.add({ type: 'content', digest: D2 });
    assert.ok(leases.isLeased({ type: 'content', digest: D1 }));

    clock.now = new Date(T0.getTime() + 1000);
    assert.ok(!leases.isLeased({ type: 'content', digest: D1 }), 'expired at its expiry time');
    assert.deepEqual(leases.activeResources(), [{ type: 'content', digest: D2 }]);
    assert.deepEqual(leases.deleteExpired(), ['short']);
    assert.deepEqual(leases.list().map((l) => l.id), ['forever', 'long']);
    assert.equal(db.prepare("SELECT count(*) FROM lease_resources WHERE lease_id = 'short'").pluck().get(), 0);
    assert.throws(() => short.add({ type: 'content', digest: D1 }), { code: 'LEASE_NOT_FOUND' });
  }));

test('bad ids, expiries and resources fail naming what is wrong, and write nothing', () =>
  withLeases(({ leases }) => {
    assert.throws(() => leases.create({ id: '../x' }), { code: 'LEASE_INVALID', message: /lease id "..\/x"/ });
    assert.throws(() => leases.create({ id: '' }), { code: 'LEASE_INVALID' });
    assert.throws(() => leases.create({ id: 'a', expiresInMs: 0 }), { code: 'LEASE_INVALID', message: /expiresInMs must be a positive/ });
    assert.throws(() => leases.create({ id: 'a', expiresAt: new Date('nope') }), { code: 'LEASE_INVALID', message: /expiresAt must be a valid Date/ });
    assert.throws(() => leases.create({ id: 'a', expiresInMs: 5, expiresAt: T0 }), { code: 'LEASE_INVALID', message: /not both/ });
    assert.throws(() => leases.create({ id: 'a', labels: { k: 5 as never } }), { code: 'LEASE_INVALID' });
    assert.deepEqual(leases.list(), []);

    const lease = leases.create({ id: 'a' });
    assert.throws(() => lease.add({ type: 'content', digest: 'sha256:nothex' }), { code: 'LEASE_INVALID', message: /lease `a`: .*sha256:nothex/ });
    assert.throws(() => lease.add({ type: 'blob', digest: D1 } as never), { code: 'LEASE_INVALID', message: /type: 'content' \| 'snapshot' \| 'ingest'/ });
    assert.throws(() => lease.add({ type: 'snapshot', key: '' }), { code: 'LEASE_INVALID', message: /snapshot resource has no valid key/ });
    assert.deepEqual(leases.resources('a'), []);
    assert.throws(() => leases.create({ id: 'a' }), { code: 'LEASE_EXISTS', message: 'lease `a` already exists' });
    assert.throws(() => leases.lease('b'), { code: 'LEASE_NOT_FOUND' });
    leases.lease('a').add({ type: 'ingest', ref: 'r' });
    assert.deepEqual(leases.resources('a'), [{ type: 'ingest', ref: 'r' }]);
  }));
