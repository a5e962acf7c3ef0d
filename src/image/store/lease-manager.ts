/**
 * `LeaseManager`: leases in the metadata database (containerd's leases).
 * A lease names resources (blobs, snapshots, ingests) that garbage
 * collection must keep although no image references them yet: a pull
 * creates one, passes it down (`PullOptions.lease`), writes the image
 * record, then deletes the lease.
 *
 *   const lease = leases.create({ expiresInMs: 24 * 3600_000, labels: { 'berth.io/pull': ref } });
 *   try {
 *     await pullAndUnpack(client, content, ref, layersRoot, { lease });
 *     images.upsert({ name: ref, target });
 *   } finally {
 *     lease.delete();
 *   }
 *
 * `add` is synchronous (one SQLite insert), so the resource is recorded
 * before the caller's next step: a collection cannot run in between (it
 * sweeps in one synchronous turn; see gc.ts). A lease past its expiry
 * protects nothing; the next collection deletes it, and adding to it after
 * that fails with `LEASE_NOT_FOUND`. An expiry bounds what a crashed pull
 * can pin.
 */
import { randomBytes } from 'node:crypto';

import { BerthError } from '../../errors/index.js';
import type { LeaseResource, ResourceLease } from '../content/index.js';
import { parseDigest } from '../digest/digest.js';
import { checkLabels } from './labels.js';
import { writeTransaction, writing, type MetadataDb } from './metadata-db.js';

export interface LeaseInfo {
  id: string;
  createdAt: Date;
  /** Absent: never expires. */
  expiresAt?: Date;
  labels: Record<string, string>;
}

/** A handle on one lease: the pull functions' `ResourceLease`, plus `delete`. */
export interface Lease extends ResourceLease {
  readonly expiresAt: Date | undefined;
  /** Deletes the lease; idempotent (a lease a collection already deleted is fine). */
  delete(): void;
  [Symbol.dispose](): void;
}

export interface CreateLeaseOptions {
  /** Default: `lease-` and 16 random hex digits. */
  id?: string;
  /** Expiry relative to now; or give `expiresAt`. Default: never. */
  expiresInMs?: number;
  expiresAt?: Date;
  labels?: Record<string, string>;
}

export interface LeaseManagerOptions {
  /** Clock for creation and expiry (tests pass their own). */
  now?: () => Date;
}

const ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
const RESOURCE_TYPES = new Set(['content', 'snapshot', 'ingest']);

/** The key a resource is stored under: the digest, snapshot key or ingest ref. */
export function resourceKey(resource: LeaseResource): string {
  switch (resource.type) {
    case 'content':
      return resource.digest;
    case 'snapshot':
      return resource.key;
    case 'ingest':
      return resource.ref;
  }
}

function checkResource(leaseId: string, resource: unknown): { type: LeaseResource['type']; key: string } {
  const r = resource as LeaseResource | undefined;
  if (typeof r !== 'object' || r === null || !RESOURCE_TYPES.has(r.type)) {
    throw new BerthError('LEASE_INVALID', `lease \`${leaseId}\`: a resource must be { type: 'content' | 'snapshot' | 'ingest', … }, got ${JSON.stringify(resource)}`);
  }
  const key = resourceKey(r);
  if (typeof key !== 'string' || key === '' || key.length > 4096 || key.includes('\0')) {
    throw new BerthError('LEASE_INVALID', `lease \`${leaseId}\`: ${r.type} resource has no valid ${r.type === 'content' ? 'digest' : r.type === 'snapshot' ? 'key' : 'ref'}`);
  }
  if (r.type === 'content') {
    try {
      parseDigest(key);
    } catch (err) {
      throw new BerthError('LEASE_INVALID', `lease \`${leaseId}\`: ${(err as Error).message}`, { cause: err });
    }
  }
  return { type: r.type, key };
}

function sqliteCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null ? ((err as { code?: string }).code ?? undefined) : undefined;
}

export class LeaseManager {
  readonly #db: MetadataDb;
  readonly #now: () => Date;

  constructor(db: MetadataDb, options: LeaseManagerOptions = {}) {
    this.#db = db;
    this.#now = options.now ?? (() => new Date());
  }

  /** Creates a lease and returns a handle on it; fails with `LEASE_EXISTS` for a taken id. */
  create(options: CreateLeaseOptions = {}): Lease {
    const id = options.id ?? `lease-${randomBytes(8).toString('hex')}`;
    if (typeof id !== 'string' || !ID_RE.test(id)) {
      throw new BerthError('LEASE_INVALID', `lease id ${JSON.stringify(id)} must be 1-128 letters, digits, '_', '.' or '-', starting with a letter or digit`);
    }
    const now = this.#now().getTime();
    let expiresMs: number | null = null;
    if (options.expiresInMs !== undefined && options.expiresAt !== undefined) {
      throw new BerthError('LEASE_INVALID', `lease \`${id}\`: give expiresInMs or expiresAt, not both`);
    }
    if (options.expiresInMs !== undefined) {
      if (!Number.isFinite(options.expiresInMs) || options.expiresInMs <= 0) {
        throw new BerthError('LEASE_INVALID', `lease \`${id}\`: expiresInMs must be a positive number of milliseconds, got ${options.expiresInMs}`);
      }
      expiresMs = now + Math.ceil(options.expiresInMs);
    } else if (options.expiresAt !== undefined) {
      const t = options.expiresAt instanceof Date ? options.expiresAt.getTime() : NaN;
      if (!Number.isFinite(t)) throw new BerthError('LEASE_INVALID', `lease \`${id}\`: expiresAt must be a valid Date`);
      expiresMs = t;
    }
    const labels = checkLabels(options.labels, `lease \`${id}\``, 'LEASE_INVALID');
    try {
      writeTransaction(this.#db, () => {
        this.#db.prepare('INSERT INTO leases (id, created_ms, expires_ms) VALUES (?, ?, ?)').run(id, now, expiresMs);
        const insert = this.#db.prepare('INSERT INTO lease_labels (lease_id, key, value) VALUES (?, ?, ?)');
        for (const [key, value] of Object.entries(labels)) insert.run(id, key, value);
      });
    } catch (err) {
      if (sqliteCode(err) === 'SQLITE_CONSTRAINT_PRIMARYKEY') throw new BerthError('LEASE_EXISTS', `lease \`${id}\` already exists`, { cause: err });
      throw err;
    }
    return this.#handle(id, expiresMs === null ? undefined : new Date(expiresMs));
  }

  /** A handle on an existing lease; fails with `LEASE_NOT_FOUND`. */
  lease(id: string): Lease {
    return this.#handle(id, this.get(id).expiresAt);
  }

  find(id: string): LeaseInfo | undefined {
    const row = this.#db.prepare('SELECT id, created_ms, expires_ms FROM leases WHERE id = ?').get(id) as LeaseRow | undefined;
    return row && this.#info(row);
  }

  get(id: string): LeaseInfo {
    const info = this.find(id);
    if (!info) throw notFound(id);
    return info;
  }

  /** Every lease, expired ones included, sorted by id. */
  list(): LeaseInfo[] {
    return (this.#db.prepare('SELECT id, created_ms, expires_ms FROM leases ORDER BY id').all() as LeaseRow[]).map((r) => this.#info(r));
  }

  /** Records `resource` under lease `id`; fails with `LEASE_NOT_FOUND` when the lease is gone. */
  add(id: string, resource: LeaseResource): void {
    const { type, key } = checkResource(id, resource);
    try {
      writing(this.#db, () => this.#db.prepare('INSERT OR IGNORE INTO lease_resources (lease_id, type, key) VALUES (?, ?, ?)').run(id, type, key));
    } catch (err) {
      if (sqliteCode(err) === 'SQLITE_CONSTRAINT_FOREIGNKEY') throw notFound(id, err);
      throw err;
    }
  }

  /** Drops `resource` from lease `id` (a pull that gave it up); no error when it was not there. */
  remove(id: string, resource: LeaseResource): void {
    const { type, key } = checkResource(id, resource);
    writing(this.#db, () => this.#db.prepare('DELETE FROM lease_resources WHERE lease_id = ? AND type = ? AND key = ?').run(id, type, key));
  }

  /** The resources of lease `id`, sorted; fails with `LEASE_NOT_FOUND`. */
  resources(id: string): LeaseResource[] {
    this.get(id);
    const rows = this.#db.prepare('SELECT type, key FROM lease_resources WHERE lease_id = ? ORDER BY type, key').all(id) as ResourceRow[];
    return rows.map(toResource);
  }

  /** Deletes lease `id` and its resources; fails with `LEASE_NOT_FOUND`. */
  delete(id: string): void {
    const { changes } = writing(this.#db, () => this.#db.prepare('DELETE FROM leases WHERE id = ?').run(id));
    if (changes === 0) throw notFound(id);
  }

  /** The resources of every lease that has not expired at `now`. */
  activeResources(now: Date = this.#now()): LeaseResource[] {
    const rows = this.#db
      .prepare(
        `SELECT DISTINCT r.type, r.key FROM lease_resources r JOIN leases l ON l.id = r.lease_id
         WHERE l.expires_ms IS NULL OR l.expires_ms > ? ORDER BY r.type, r.key`,
      )
      .all(now.getTime()) as ResourceRow[];
    return rows.map(toResource);
  }

  /** Whether a lease that has not expired at `now` holds `resource`. */
  isLeased(resource: LeaseResource, now: Date = this.#now()): boolean {
    const row = this.#db
      .prepare(
        `SELECT 1 FROM lease_resources r JOIN leases l ON l.id = r.lease_id
         WHERE r.type = ? AND r.key = ? AND (l.expires_ms IS NULL OR l.expires_ms > ?) LIMIT 1`,
      )
      .get(resource.type, resourceKey(resource), now.getTime());
    return row !== undefined;
  }

  /** Deletes every lease expired at `now`; returns their ids. */
  deleteExpired(now: Date = this.#now()): string[] {
    return writeTransaction(this.#db, () => {
      const ids = this.#db.prepare('SELECT id FROM leases WHERE expires_ms IS NOT NULL AND expires_ms <= ? ORDER BY id').pluck().all(now.getTime()) as string[];
      this.#db.prepare('DELETE FROM leases WHERE expires_ms IS NOT NULL AND expires_ms <= ?').run(now.getTime());
      return ids;
    });
  }

  #handle(id: string, expiresAt: Date | undefined): Lease {
    const manager = this;
    const del = (): void => {
      writing(manager.#db, () => manager.#db.prepare('DELETE FROM leases WHERE id = ?').run(id));
    };
    return {
      id,
      expiresAt,
      add: (resource) => manager.add(id, resource),
      delete: del,
      [Symbol.dispose]: del,
    };
  }

  #info(row: LeaseRow): LeaseInfo {
    const labels: Record<string, string> = {};
    for (const l of this.#db.prepare('SELECT key, value FROM lease_labels WHERE lease_id = ? ORDER BY key').all(row.id) as Array<{ key: string; value: string }>) {
      labels[l.key] = l.value;
    }
    const info: LeaseInfo = { id: row.id, createdAt: new Date(row.created_ms), labels };
    if (row.expires_ms !== null) info.expiresAt = new Date(row.expires_ms);
    return info;
  }
}

interface LeaseRow {
  id: string;
  created_ms: number;
  expires_ms: number | null;
}

interface ResourceRow {
  type: LeaseResource['type'];
  key: string;
}

function toResource(row: ResourceRow): LeaseResource {
  switch (row.type) {
    case 'content':
      return { type: 'content', digest: row.key };
    case 'snapshot':
      return { type: 'snapshot', key: row.key };
    case 'ingest':
      return { type: 'ingest', ref: row.key };
  }
}

function notFound(id: string, cause?: unknown): BerthError {
  return new BerthError('LEASE_NOT_FOUND', `lease \`${id}\` does not exist (it expired and was collected, or was deleted)`, cause === undefined ? {} : { cause });
}
