/**
 * The metadata records of a snapshotter root, the same for every driver
 * (`TreeSnapshotter`). On disk, under the root:
 *
 *   <root>/metadata/<sha256(key) hex>.json   one small file per snapshot,
 *       written atomically and fsynced: { version, id, kind, name, parent,
 *       labels, created, updated, usage (committed only) }
 *   <root>/snapshots/<id>/fs                 the snapshot's own tree (a
 *       driver may keep more beside it, as overlay's work dir)
 *
 * Records are named by a hash of the key, so keys and names may hold any
 * character (chain IDs hold ':'). A record's id names its directory; a
 * commit writes the committed record under the new name with the same id,
 * then deletes the active one, so an active record whose id a committed
 * record holds is the leftover of a commit cut by a crash: `readAll` drops
 * it, resolving the commit in favour of the committed snapshot.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';

import { BerthError, isErrno } from '../../errors/index.js';
import { atomicWriteFile } from '../../util/atomic-write.js';
import type { SnapshotInfo, SnapshotUsage } from './snapshotter.js';

const METADATA_VERSION = 1;

/** One snapshot's metadata file: its public info, plus where its tree is. */
export interface SnapshotRecord extends SnapshotInfo {
  version: number;
  /** Names the snapshot's directory, `<root>/snapshots/<id>`; kept across commit. */
  id: string;
  /** Measured at commit (committed only). */
  usage?: SnapshotUsage;
}

/** Fails with ARGUMENT_INVALID unless `key` can name a snapshot; `what` says which argument it is (`key`, `name`, `parent`). */
export function checkKey(key: string, what: string): void {
  if (typeof key !== 'string' || key.length === 0 || key.length > 4096 || key.includes('\0')) {
    throw new BerthError('ARGUMENT_INVALID', `snapshot ${what} must be a non-empty string without NUL of at most 4096 characters`);
  }
}

/** The public view of a record. */
export function toInfo(m: SnapshotRecord): SnapshotInfo {
  const info: SnapshotInfo = { kind: m.kind, name: m.name, labels: { ...m.labels }, created: m.created, updated: m.updated };
  if (m.parent !== undefined) info.parent = m.parent;
  return info;
}

/** Reads and writes the records under one root; serialising the operations that use it is the caller's job. */
export class SnapshotMetadata {
  readonly root: string;

  constructor(root: string) {
    this.root = root;
  }

  /** Creates `metadata/` and `snapshots/`. */
  async init(): Promise<void> {
    await mkdir(join(this.root, 'metadata'), { recursive: true, mode: 0o700 });
    await mkdir(join(this.root, 'snapshots'), { recursive: true, mode: 0o700 });
  }

  /** A fresh id for a new snapshot's directory. */
  newId(): string {
    return randomBytes(8).toString('hex');
  }

  snapshotDir(id: string): string {
    return join(this.root, 'snapshots', id);
  }

  fsDir(id: string): string {
    return join(this.snapshotDir(id), 'fs');
  }

  /** The ids of every directory under `snapshots/`, named by a record or not. */
  snapshotIds(): Promise<string[]> {
    return readdir(join(this.root, 'snapshots'));
  }

  #path(key: string): string {
    return join(this.root, 'metadata', `${createHash('sha256').update(key).digest('hex')}.json`);
  }

  /** The record of `key`, or undefined; fails with STATE_CORRUPT on a file that is not a record of this key. */
  async read(key: string): Promise<SnapshotRecord | undefined> {
    const path = this.#path(key);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return undefined;
      throw err;
    }
    let meta: SnapshotRecord;
    try {
      meta = JSON.parse(text) as SnapshotRecord;
    } catch (err) {
      throw new BerthError('STATE_CORRUPT', `snapshot \`${key}\`: metadata ${path} is not valid JSON`, { cause: err });
    }
    if (meta.version !== METADATA_VERSION || meta.name !== key) {
      throw new BerthError('STATE_CORRUPT', `snapshot \`${key}\`: metadata ${path} has version ${meta.version} or another name`);
    }
    return meta;
  }

  /** The record of `key`; fails with ARGUMENT_INVALID or SNAPSHOT_NOT_FOUND. */
  async get(key: string): Promise<SnapshotRecord> {
    checkKey(key, 'key');
    const meta = await this.read(key);
    if (!meta) throw new BerthError('SNAPSHOT_NOT_FOUND', `snapshot \`${key}\` does not exist`);
    return meta;
  }

  /** A new record, `version` filled in. */
  record(fields: Omit<SnapshotRecord, 'version'>): SnapshotRecord {
    return { version: METADATA_VERSION, ...fields };
  }

  /** Writes `meta` under its name, atomically and durably. */
  async write(meta: SnapshotRecord): Promise<void> {
    await atomicWriteFile(this.#path(meta.name), `${JSON.stringify(meta)}\n`, { durable: true, mode: 0o600 });
  }

  /** Deletes the record of `key`. */
  async delete(key: string): Promise<void> {
    await unlink(this.#path(key));
  }

  /** Every record, sorted by name; an active record whose id a committed one took over (a commit cut by a crash) is deleted and left out. */
  async readAll(): Promise<SnapshotRecord[]> {
    const dir = join(this.root, 'metadata');
    const all: SnapshotRecord[] = [];
    for (const f of await readdir(dir)) {
      if (!f.endsWith('.json') || f.startsWith('.')) continue;
      const text = await readFile(join(dir, f), 'utf8').catch((err: unknown) => {
        if (isErrno(err, 'ENOENT')) return undefined;
        throw err;
      });
      if (text === undefined) continue;
      try {
        all.push(JSON.parse(text) as SnapshotRecord);
      } catch (err) {
        throw new BerthError('STATE_CORRUPT', `snapshot metadata ${join(dir, f)} is not valid JSON`, { cause: err });
      }
    }
    const committedIds = new Set(all.filter((m) => m.kind === 'committed').map((m) => m.id));
    const out: SnapshotRecord[] = [];
    for (const m of all) {
      if (m.kind === 'active' && committedIds.has(m.id)) {
        await unlink(this.#path(m.name)).catch(() => {});
        continue;
      }
      out.push(m);
    }
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** The record of the committed snapshot `parent`, or undefined for none; fails if it is missing or not committed. */
  async checkParent(parent: string | undefined): Promise<SnapshotRecord | undefined> {
    if (parent === undefined) return undefined;
    checkKey(parent, 'parent');
    const p = await this.read(parent);
    if (!p) throw new BerthError('SNAPSHOT_NOT_FOUND', `parent snapshot \`${parent}\` does not exist`);
    if (p.kind !== 'committed') throw new BerthError('SNAPSHOT_STATE', `parent snapshot \`${parent}\` is ${p.kind}, not committed; commit it first`);
    return p;
  }

  /** Fails with SNAPSHOT_EXISTS if `key` names a snapshot already. */
  async checkFree(key: string, what: string): Promise<void> {
    checkKey(key, what);
    const existing = await this.read(key);
    if (existing) throw new BerthError('SNAPSHOT_EXISTS', `snapshot \`${key}\` already exists (${existing.kind})`);
  }
}
