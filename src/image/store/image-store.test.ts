import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';

import { ImageStore } from './image-store.js';
import { METADATA_SCHEMA_VERSION, openMetadataDb, type MetadataDb } from './metadata-db.js';

const T1 = new Date('2026-01-02T03:04:05Z');
const T2 = new Date('2026-01-03T00:00:00Z');
const INDEX = { mediaType: 'application/vnd.oci.image.index.v1+json', digest: `sha256:${'a'.repeat(64)}`, size: 500 };
const MANIFEST = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${'b'.repeat(64)}`, size: 400 };

async function withDb(fn: (ctx: { path: string; db: MetadataDb; images: ImageStore; clock: { now: Date } }) => Promise<void> | void): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-test-images-'));
  const path = join(dir, 'meta', 'metadata.db');
  const db = openMetadataDb(path);
  const clock = { now: T1 };
  try {
    await fn({ path, db, images: new ImageStore(db, { now: () => clock.now }), clock });
  } finally {
    if (db.open) db.close();
    await rm(dir, { recursive: true, force: true });
  }
}

test('create stores the normalized name, target, labels and times; get, find and list read them back', () =>
  withDb(({ images }) => {
    const rec = images.create({ name: 'busybox', target: INDEX, labels: { 'org.example/a': '1', b: '' } });
    const expected = {
      name: 'docker.io/library/busybox:latest',
      target: INDEX,
      labels: { b: '', 'org.example/a': '1' },
      createdAt: T1,
      updatedAt: T1,
    };
    assert.deepEqual(rec, expected);
    assert.deepEqual(images.get('docker.io/library/busybox:latest'), expected);
    assert.deepEqual(images.get('index.docker.io/library/busybox'), expected);
    assert.deepEqual(images.find('busybox:latest'), expected);
    assert.equal(images.find('busybox:1'), undefined);
    assert.deepEqual(images.list(), [expected]);
  }));

test('a digest-only name stays without a tag, and is a different image from the tagged one', () =>
  withDb(({ images }) => {
    const byDigest = images.create({ name: `localhost:5000/app@${MANIFEST.digest}`, target: MANIFEST });
    assert.equal(byDigest.name, `localhost:5000/app@${MANIFEST.digest}`);
    images.create({ name: 'localhost:5000/app', target: MANIFEST });
    assert.deepEqual(
      images.list().map((i) => i.name),
      ['localhost:5000/app:latest', `localhost:5000/app@${MANIFEST.digest}`],
    );
  }));

test('list filters by name prefix, labels (key or key=value) and target digest', () =>
  withDb(({ images }) => {
    images.create({ name: 'busybox', target: INDEX, labels: { tier: 'base', keep: '' } });
    images.create({ name: 'alpine', target: MANIFEST, labels: { tier: 'base' } });
    images.create({ name: 'localhost:5000/my_app:1', target: MANIFEST, labels: { tier: 'app' } });
    images.create({ name: 'localhost:5000/myxapp:1', target: MANIFEST });
    const names = (f: Parameters<ImageStore['list']>[0]): string[] => images.list(f).map((i) => i.name);
    assert.deepEqual(names({ namePrefix: 'docker.io/library/' }), ['docker.io/library/alpine:latest', 'docker.io/library/busybox:latest']);
    // `_` is not a wildcard.
    assert.deepEqual(names({ namePrefix: 'localhost:5000/my_' }), ['localhost:5000/my_app:1']);
    assert.deepEqual(names({ labels: ['tier=base'] }), ['docker.io/library/alpine:latest', 'docker.io/library/busybox:latest']);
    assert.deepEqual(names({ labels: ['tier=base', 'keep'] }), ['docker.io/library/busybox:latest']);
    assert.deepEqual(names({ labels: ['tier'] }).length, 3);
    assert.deepEqual(names({ targetDigest: INDEX.digest }), ['docker.io/library/busybox:latest']);
    assert.throws(() => images.list({ labels: ['=x'] }), { code: 'IMAGE_INVALID', message: /label filter "=x"/ });
  }));

test('update changes target and labels and the updated time; upsert creates or retargets, keeping created time and labels', () =>
  withDb(({ images, clock }) => {
    images.create({ name: 'busybox', target: INDEX, labels: { a: '1' } });
    clock.now = T2;
    const updated = images.update('busybox', { target: MANIFEST });
    assert.deepEqual(updated.target, MANIFEST);
    assert.deepEqual(updated.labels, { a: '1' });
    assert.deepEqual([updated.createdAt, updated.updatedAt], [T1, T2]);
    assert.deepEqual(images.update('busybox', { labels: { b: '2' } }).labels, { b: '2' });

    const again = images.upsert({ name: 'busybox', target: INDEX });
    assert.deepEqual([again.target, again.labels, again.createdAt], [INDEX, { b: '2' }, T1]);
    const fresh = images.upsert({ name: 'alpine', target: MANIFEST, labels: { c: '3' } });
    assert.deepEqual([fresh.name, fresh.labels, fresh.createdAt], ['docker.io/library/alpine:latest', { c: '3' }, T2]);
  }));

test('delete returns the record and removes it with its labels; a second delete is IMAGE_NOT_FOUND', () =>
  withDb(({ images, db }) => {
    images.create({ name: 'busybox', target: INDEX, labels: { a: '1' } });
    assert.equal(images.delete('busybox').name, 'docker.io/library/busybox:latest');
    assert.deepEqual(images.list(), []);
    assert.equal(db.prepare('SELECT count(*) FROM image_labels').pluck().get(), 0);
    assert.throws(() => images.delete('busybox'), { code: 'IMAGE_NOT_FOUND', message: 'image `docker.io/library/busybox:latest` is not in the image store' });
    assert.throws(() => images.get('nothing'), { code: 'IMAGE_NOT_FOUND' });
    assert.throws(() => images.update('nothing', { labels: {} }), { code: 'IMAGE_NOT_FOUND' });
  }));

test('a taken name is IMAGE_EXISTS and changes nothing', () =>
  withDb(({ images }) => {
    images.create({ name: 'busybox', target: INDEX });
    assert.throws(() => images.create({ name: 'docker.io/library/busybox:latest', target: MANIFEST, labels: { x: 'y' } }), {
      code: 'IMAGE_EXISTS',
      message: 'image `docker.io/library/busybox:latest` already exists',
    });
    assert.deepEqual(images.get('busybox').target, INDEX);
    assert.deepEqual(images.get('busybox').labels, {});
  }));

test('bad names, targets and labels fail naming what is wrong, and write nothing', () =>
  withDb(({ images, db }) => {
    const revision = images.revision();
    assert.throws(() => images.create({ name: 'Busybox', target: INDEX }), { code: 'REFERENCE_INVALID', message: /`Busybox`.*lowercase/ });
    assert.throws(() => images.create({ name: '', target: INDEX }), { code: 'REFERENCE_INVALID' });
    assert.throws(() => images.create({ name: 'a'.repeat(64), target: INDEX }), { code: 'REFERENCE_INVALID', message: /64-byte hexadecimal/ });
    assert.throws(() => images.get('bad name'), { code: 'REFERENCE_INVALID' });
    assert.throws(() => images.create({ name: 'busybox', target: { ...INDEX, digest: 'sha256:short' } }), {
      code: 'IMAGE_INVALID',
      message: /image `docker.io\/library\/busybox:latest`: target digest "sha256:short" is not valid/,
    });
    assert.throws(() => images.create({ name: 'busybox', target: { ...INDEX, size: -1 } }), { code: 'IMAGE_INVALID', message: /target size -1/ });
    assert.throws(() => images.create({ name: 'busybox', target: { ...INDEX, size: 1.5 } }), { code: 'IMAGE_INVALID' });
    assert.throws(() => images.create({ name: 'busybox', target: { ...INDEX, mediaType: 'not a type' } }), { code: 'IMAGE_INVALID', message: /media type "not a type"/ });
    assert.throws(() => images.create({ name: 'busybox', target: null as never }), { code: 'IMAGE_INVALID' });
    assert.throws(() => images.create({ name: 'busybox', target: INDEX, labels: { a: 1 as never } }), { code: 'IMAGE_INVALID', message: /label "a"/ });
    assert.throws(() => images.create({ name: 'busybox', target: INDEX, labels: { a: 'x'.repeat(5000) } }), { code: 'IMAGE_INVALID', message: /longer than 4096 bytes/ });
    assert.deepEqual(images.list(), []);
    assert.equal(db.prepare('SELECT count(*) FROM image_labels').pluck().get(), 0);
    assert.equal(images.revision(), revision);
  }));

test('revision changes on every create, update and delete, and not on reads', () =>
  withDb(({ images }) => {
    const r0 = images.revision();
    images.create({ name: 'busybox', target: INDEX });
    const r1 = images.revision();
    images.get('busybox');
    images.list();
    assert.equal(images.revision(), r1);
    images.update('busybox', { target: MANIFEST });
    const r2 = images.revision();
    images.delete('busybox');
    const r3 = images.revision();
    assert.ok(r0 < r1 && r1 < r2 && r2 < r3, `${r0} ${r1} ${r2} ${r3}`);
  }));

test('the database is in WAL mode and the records survive closing and reopening it', () =>
  withDb(({ path, db, images }) => {
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    assert.equal(db.pragma('user_version', { simple: true }), METADATA_SCHEMA_VERSION);
    images.create({ name: 'busybox', target: INDEX, labels: { a: '1' } });
    db.close();
    const again = openMetadataDb(path);
    try {
      assert.deepEqual(new ImageStore(again).get('busybox'), { name: 'docker.io/library/busybox:latest', target: INDEX, labels: { a: '1' }, createdAt: T1, updatedAt: T1 });
    } finally {
      again.close();
    }
  }));

test('a file that is not a database is STATE_CORRUPT; a newer schema is METADATA_UNSUPPORTED; neither is changed', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'berth-test-images-'));
  try {
    const garbage = join(dir, 'garbage.db');
    await writeFile(garbage, 'this is not an sqlite file, not at all; '.repeat(40));
    const before = await readFile(garbage);
    assert.throws(() => openMetadataDb(garbage), { code: 'STATE_CORRUPT', message: new RegExp(`metadata database ${garbage} could not be read: .*not a database`) });
    assert.ok((await readFile(garbage)).equals(before));

    const newer = join(dir, 'newer.db');
    const raw = new Database(newer);
    raw.pragma(`user_version = ${METADATA_SCHEMA_VERSION + 1}`);
    raw.close();
    assert.throws(() => openMetadataDb(newer), {
      code: 'METADATA_UNSUPPORTED',
      message: `metadata database ${newer} has schema version ${METADATA_SCHEMA_VERSION + 1}, newer than the ${METADATA_SCHEMA_VERSION} this berth knows; run a newer berth`,
    });
    const check = new Database(newer);
    assert.equal(check.pragma('user_version', { simple: true }), METADATA_SCHEMA_VERSION + 1);
    assert.deepEqual(check.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all(), []);
    check.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
