import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { isBerthError } from '../../errors/index.js';
import { ImageStore } from './image-store.js';
import { LeaseManager } from './lease-manager.js';
import { openMetadataDb } from './metadata-db.js';

const sqlitePath = createRequire(import.meta.url).resolve('better-sqlite3');

/**
 * Another process that opens the database at `path` and holds its write
 * lock (BEGIN IMMEDIATE) until `release` closes its stdin.
 */
async function holdWriteLock(path: string): Promise<{ child: ChildProcess; release(): Promise<void> }> {
  const script = `
    const Database = require(${JSON.stringify(sqlitePath)});
    const db = new Database(${JSON.stringify(path)});
    db.exec('BEGIN IMMEDIATE');
    process.stdout.write('locked\\n');
    process.stdin.resume();
    process.stdin.on('end', () => { db.exec('ROLLBACK'); db.close(); process.exit(0); });`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (c: Buffer) => {
      if (c.toString().includes('locked')) resolve();
    });
    void exited.then((code) => reject(new Error(`the lock holder exited (${code}) before locking: ${stderr}`)));
  });
  return {
    child,
    async release() {
      child.stdin!.end();
      assert.equal(await exited, 0, stderr);
    },
  };
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-metadata-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const busy = (path: string) => (err: unknown) =>
  isBerthError(err, 'METADATA_BUSY') && err.kind === 'unavailable' && err.message.includes(path) && /locked by another process.*one berthd per root/.test(err.message);

const target = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${'a'.repeat(64)}`, size: 10 };

test('writes while another process holds the write lock past busy_timeout fail with METADATA_BUSY naming the database; reads go on; writes work once it lets go', () =>
  withDir(async (dir) => {
    const path = join(dir, 'metadata.db');
    const db = openMetadataDb(path, { busyTimeoutMs: 50 });
    const images = new ImageStore(db);
    const leases = new LeaseManager(db);
    images.create({ name: 'before', target });
    const lease = leases.create({ id: 'pull' });
    const holder = await holdWriteLock(path);
    try {
      assert.throws(() => images.create({ name: 'busybox', target }), busy(path));
      assert.throws(() => images.upsert({ name: 'before', target: { ...target, size: 11 } }), busy(path));
      assert.throws(() => images.delete('before'), busy(path));
      assert.throws(() => leases.create({ id: 'other' }), busy(path));
      assert.throws(() => lease.add({ type: 'content', digest: target.digest }), busy(path));
      assert.throws(() => leases.deleteExpired(new Date()), busy(path));
      assert.throws(() => lease.delete(), busy(path));
      // WAL: readers never wait for the writer.
      assert.deepEqual(images.list().map((i) => i.name), ['docker.io/library/before:latest']);
      assert.deepEqual(leases.list().map((l) => l.id), ['pull']);
    } finally {
      await holder.release();
    }
    images.create({ name: 'busybox', target });
    lease.add({ type: 'content', digest: target.digest });
    assert.deepEqual(images.list().map((i) => i.name), ['docker.io/library/before:latest', 'docker.io/library/busybox:latest']);
    assert.deepEqual(leases.resources('pull'), [{ type: 'content', digest: target.digest }]);
    db.close();
  }));

test('opening a database another process is writing for the first time fails with METADATA_BUSY, not as a corrupt file', () =>
  withDir(async (dir) => {
    const path = join(dir, 'metadata.db');
    const holder = await holdWriteLock(path);
    try {
      assert.throws(() => openMetadataDb(path, { busyTimeoutMs: 50 }), busy(path));
    } finally {
      await holder.release();
    }
    const db = openMetadataDb(path, { busyTimeoutMs: 50 });
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    db.close();
  }));
