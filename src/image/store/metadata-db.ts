/**
 * The image store's metadata database: one SQLite file (better-sqlite3 12;
 * 13 crashes on Node 20) in WAL mode, so readers never wait for the writer,
 * with `synchronous=FULL` so a committed image record survives a power cut.
 * berthd is its one writer; `busy_timeout` only covers a short-lived second
 * process (a CLI reading it, a test). A write that still finds another
 * connection holding the write lock after it fails with `METADATA_BUSY`
 * (`writing`, `writeTransaction`), not with SQLite's own error.
 *
 * Schema, version 1 (`PRAGMA user_version`):
 *
 *   images            name TEXT PRIMARY KEY        normalized reference:
 *                                                  docker.io/library/busybox:latest,
 *                                                  or …/busybox@sha256:… (digest only)
 *                     media_type, digest, size     the target descriptor (an index or a manifest)
 *                     created_ms, updated_ms       milliseconds since the epoch
 *   image_labels      (name → images.name ON DELETE CASCADE, key) PRIMARY KEY, value
 *   leases            id TEXT PRIMARY KEY, created_ms, expires_ms (NULL: never)
 *   lease_labels      (lease_id → leases.id ON DELETE CASCADE, key) PRIMARY KEY, value
 *   lease_resources   (lease_id → leases.id ON DELETE CASCADE, type, key) PRIMARY KEY
 *                     type content: key is a digest; snapshot: a snapshot key or
 *                     name; ingest: a content-store ingest ref
 *   counters          name TEXT PRIMARY KEY, value INTEGER
 *                     `images` is bumped by triggers on every insert, update and
 *                     delete in `images`, whoever writes, so a garbage collection
 *                     can tell that an image appeared or was retargeted after it
 *                     marked (containerd's "dirty" flag).
 *
 * Migrations are SQL scripts in `MIGRATIONS`; script i takes version i to
 * i + 1 and runs in one transaction with the version bump. A database of a
 * newer version than this code knows is refused, never downgraded.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';

import { BerthError } from '../../errors/index.js';

export type MetadataDb = Database.Database;

const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE images (
    name TEXT PRIMARY KEY NOT NULL,
    media_type TEXT NOT NULL,
    digest TEXT NOT NULL,
    size INTEGER NOT NULL CHECK (size >= 0),
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL
  ) STRICT;
  CREATE INDEX images_by_digest ON images (digest);
  CREATE TABLE image_labels (
    name TEXT NOT NULL REFERENCES images (name) ON DELETE CASCADE ON UPDATE CASCADE,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (name, key)
  ) STRICT;
  CREATE INDEX image_labels_by_key ON image_labels (key, value);
  CREATE TABLE leases (
    id TEXT PRIMARY KEY NOT NULL,
    created_ms INTEGER NOT NULL,
    expires_ms INTEGER
  ) STRICT;
  CREATE TABLE lease_labels (
    lease_id TEXT NOT NULL REFERENCES leases (id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (lease_id, key)
  ) STRICT;
  CREATE TABLE lease_resources (
    lease_id TEXT NOT NULL REFERENCES leases (id) ON DELETE CASCADE,
    type TEXT NOT NULL CHECK (type IN ('content', 'snapshot', 'ingest')),
    key TEXT NOT NULL,
    PRIMARY KEY (lease_id, type, key)
  ) STRICT;
  CREATE INDEX lease_resources_by_key ON lease_resources (type, key);
  CREATE TABLE counters (
    name TEXT PRIMARY KEY NOT NULL,
    value INTEGER NOT NULL
  ) STRICT;
  INSERT INTO counters (name, value) VALUES ('images', 0);
  CREATE TRIGGER images_inserted AFTER INSERT ON images BEGIN
    UPDATE counters SET value = value + 1 WHERE name = 'images';
  END;
  CREATE TRIGGER images_updated AFTER UPDATE ON images BEGIN
    UPDATE counters SET value = value + 1 WHERE name = 'images';
  END;
  CREATE TRIGGER images_deleted AFTER DELETE ON images BEGIN
    UPDATE counters SET value = value + 1 WHERE name = 'images';
  END;
  `,
];

/** SQLITE_BUSY and its extended codes (SQLITE_BUSY_SNAPSHOT, _RECOVERY, _TIMEOUT). */
function isBusy(err: unknown): boolean {
  const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
  return typeof code === 'string' && code.startsWith('SQLITE_BUSY');
}

function busyError(db: MetadataDb, err: unknown): BerthError {
  const waitedMs = db.open ? (db.pragma('busy_timeout', { simple: true }) as number) : 0;
  return new BerthError(
    'METADATA_BUSY',
    `metadata database ${db.name} is locked by another process (waited ${waitedMs} ms for its write lock); stop the other process using this root (one berthd per root) or try again`,
    { cause: err },
  );
}

/**
 * Runs `fn`, which writes (one statement, or a transaction), and turns
 * SQLITE_BUSY into `METADATA_BUSY` naming the database. Other errors pass
 * unchanged.
 */
export function writing<T>(db: MetadataDb, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw isBusy(err) ? busyError(db, err) : err;
  }
}

/**
 * Runs `fn` in a write transaction (BEGIN IMMEDIATE: the write lock is
 * taken at the start, so a busy database fails before anything is read),
 * as `writing` does. Nested calls become savepoints of the outer one.
 */
export function writeTransaction<T>(db: MetadataDb, fn: () => T): T {
  return writing(db, () => db.transaction(fn).immediate());
}

/** The schema version this code writes. */
export const METADATA_SCHEMA_VERSION = MIGRATIONS.length;

export interface OpenMetadataDbOptions {
  /** How long a statement waits for another connection's write lock. Default 5000 ms. */
  busyTimeoutMs?: number;
}

/**
 * Opens (creating it and its directory when missing) the metadata database
 * at `path` and brings its schema up to date. Close it with `db.close()`.
 *
 *   const db = openMetadataDb('/var/lib/berth/metadata.db');
 *   const images = new ImageStore(db);
 */
export function openMetadataDb(path: string, options: OpenMetadataDbOptions = {}): MetadataDb {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  let db: MetadataDb;
  try {
    db = new Database(path);
  } catch (err) {
    throw new BerthError('STATE_CORRUPT', `metadata database ${path} could not be opened: ${(err as Error).message}`, { cause: err });
  }
  try {
    // busy_timeout first: switching to WAL itself needs the write lock.
    db.pragma(`busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? 5000))}`);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = ON');
    migrate(db, path);
    return db;
  } catch (err) {
    const busy = isBusy(err) ? busyError(db, err) : undefined;
    db.close();
    if (busy) throw busy;
    if (err instanceof BerthError) throw err;
    // SQLITE_NOTADB and kin: a file that is not (or no longer) a database.
    throw new BerthError('STATE_CORRUPT', `metadata database ${path} could not be read: ${(err as Error).message}; move it away to start empty`, { cause: err });
  }
}

function migrate(db: MetadataDb, path: string): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > MIGRATIONS.length) {
    throw new BerthError(
      'METADATA_UNSUPPORTED',
      `metadata database ${path} has schema version ${version}, newer than the ${MIGRATIONS.length} this berth knows; run a newer berth`,
    );
  }
  for (let v = version; v < MIGRATIONS.length; v++) {
    writeTransaction(db, () => {
      db.exec(MIGRATIONS[v]!);
      db.pragma(`user_version = ${v + 1}`);
    });
  }
}
