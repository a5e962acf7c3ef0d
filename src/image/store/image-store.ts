/**
 * `ImageStore`: image names and what they point to, in the metadata database
 * (containerd's image store). A record maps a name to a target descriptor
 * (the index or manifest a pull resolved), with labels and created/updated
 * times. Blobs and snapshots are not touched here: deleting a record only
 * makes what it referenced collectable (see `GarbageCollector`).
 *
 * Names are normalized as Docker does: `busybox` is stored, found and
 * deleted as `docker.io/library/busybox:latest`; a reference with a digest
 * and no tag (`busybox@sha256:…`) stays tagless.
 *
 *   const images = new ImageStore(openMetadataDb(join(root, 'metadata.db')));
 *   images.create({ name: 'busybox', target: { mediaType, digest, size } });
 *   images.get('docker.io/library/busybox:latest').target.digest;
 *
 * All calls are synchronous (better-sqlite3): a record written here is
 * visible to a garbage collection from the next statement on.
 */
import { BerthError } from '../../errors/index.js';
import { parseDigest } from '../digest/digest.js';
import { formatReference, parseDockerReference } from '../reference/index.js';
import { checkLabels } from './labels.js';
import { writeTransaction, type MetadataDb } from './metadata-db.js';

/** The descriptor an image name points to: an index or a manifest. */
export interface ImageTarget {
  mediaType: string;
  digest: string;
  size: number;
}

export interface ImageRecord {
  /** The normalized reference. */
  name: string;
  target: ImageTarget;
  labels: Record<string, string>;
  createdAt: Date;
  updatedAt: Date;
}

export interface NewImage {
  /** Any reference Docker accepts; stored normalized. */
  name: string;
  target: ImageTarget;
  labels?: Record<string, string>;
}

export interface ImageChanges {
  target?: ImageTarget;
  /** Replaces every label. */
  labels?: Record<string, string>;
}

export interface ImageFilter {
  /** Stored (normalized) names starting with this text, such as `docker.io/library/`. */
  namePrefix?: string;
  /** Docker's label filters: `key` (present) or `key=value`; all must match. */
  labels?: string[];
  /** Images whose target has this digest. */
  targetDigest?: string;
}

export interface ImageStoreOptions {
  /** Clock for created/updated times (tests pass a fixed one). */
  now?: () => Date;
}

interface ImageRow {
  name: string;
  media_type: string;
  digest: string;
  size: number;
  created_ms: number;
  updated_ms: number;
}

/**
 * The stored form of an image name: `busybox` → `docker.io/library/busybox:latest`.
 * Throws `REFERENCE_INVALID` naming the input.
 */
export function normalizeImageName(name: string): string {
  if (typeof name !== 'string') throw new BerthError('REFERENCE_INVALID', `image name must be a string, got ${typeof name}`);
  return formatReference(parseDockerReference(name));
}

function checkTarget(name: string, target: unknown): ImageTarget {
  if (typeof target !== 'object' || target === null) throw new BerthError('IMAGE_INVALID', `image \`${name}\`: target must be a descriptor { mediaType, digest, size }`);
  const { mediaType, digest, size } = target as Record<string, unknown>;
  if (typeof mediaType !== 'string' || !/^[\w.+-]+\/[\w.+-]+$/.test(mediaType)) {
    throw new BerthError('IMAGE_INVALID', `image \`${name}\`: target media type ${JSON.stringify(mediaType)} is not a media type`);
  }
  try {
    parseDigest(digest as string);
  } catch (err) {
    throw new BerthError('IMAGE_INVALID', `image \`${name}\`: target digest ${JSON.stringify(digest)} is not valid: ${(err as Error).message}`, { cause: err });
  }
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    throw new BerthError('IMAGE_INVALID', `image \`${name}\`: target size ${JSON.stringify(size)} must be a non-negative integer`);
  }
  return { mediaType, digest: digest as string, size };
}

function isUniqueViolation(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}

export class ImageStore {
  readonly #db: MetadataDb;
  readonly #now: () => Date;

  constructor(db: MetadataDb, options: ImageStoreOptions = {}) {
    this.#db = db;
    this.#now = options.now ?? (() => new Date());
  }

  /** Adds an image; fails with `IMAGE_EXISTS` when the name is taken. */
  create(image: NewImage): ImageRecord {
    const name = normalizeImageName(image.name);
    const target = checkTarget(name, image.target);
    const labels = checkLabels(image.labels, `image \`${name}\``, 'IMAGE_INVALID');
    const now = this.#now().getTime();
    try {
      writeTransaction(this.#db, () => {
        this.#db
          .prepare('INSERT INTO images (name, media_type, digest, size, created_ms, updated_ms) VALUES (?, ?, ?, ?, ?, ?)')
          .run(name, target.mediaType, target.digest, target.size, now, now);
        this.#writeLabels(name, labels);
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw new BerthError('IMAGE_EXISTS', `image \`${name}\` already exists`, { cause: err });
      throw err;
    }
    return this.get(name);
  }

  /** Changes an image's target and/or labels; fails with `IMAGE_NOT_FOUND`. */
  update(name: string, changes: ImageChanges): ImageRecord {
    const normalized = normalizeImageName(name);
    const target = changes.target === undefined ? undefined : checkTarget(normalized, changes.target);
    const labels = changes.labels === undefined ? undefined : checkLabels(changes.labels, `image \`${normalized}\``, 'IMAGE_INVALID');
    writeTransaction(this.#db, () => {
      const row = this.#row(normalized);
      if (!row) throw notFound(normalized);
      const t = target ?? { mediaType: row.media_type, digest: row.digest, size: row.size };
      this.#db
        .prepare('UPDATE images SET media_type = ?, digest = ?, size = ?, updated_ms = ? WHERE name = ?')
        .run(t.mediaType, t.digest, t.size, this.#now().getTime(), normalized);
      if (labels) {
        this.#db.prepare('DELETE FROM image_labels WHERE name = ?').run(normalized);
        this.#writeLabels(normalized, labels);
      }
    });
    return this.get(normalized);
  }

  /**
   * Creates the image, or points an existing one at `target` (what a pull
   * does); labels are replaced only when given. `createdAt` is kept.
   */
  upsert(image: NewImage): ImageRecord {
    const name = normalizeImageName(image.name);
    return writeTransaction(this.#db, () => {
      if (this.#row(name)) {
        const changes: ImageChanges = { target: image.target };
        if (image.labels !== undefined) changes.labels = image.labels;
        return this.update(name, changes);
      }
      return this.create({ ...image, name });
    });
  }

  /** The image, or undefined. Throws `REFERENCE_INVALID` for a name that does not parse. */
  find(name: string): ImageRecord | undefined {
    const normalized = normalizeImageName(name);
    const row = this.#row(normalized);
    return row && this.#record(row);
  }

  /** The image; fails with `IMAGE_NOT_FOUND`. */
  get(name: string): ImageRecord {
    const normalized = normalizeImageName(name);
    const row = this.#row(normalized);
    if (!row) throw notFound(normalized);
    return this.#record(row);
  }

  /** Images sorted by name, optionally filtered. */
  list(filter: ImageFilter = {}): ImageRecord[] {
    const where: string[] = [];
    const params: unknown[] = [];
    if (filter.namePrefix !== undefined) {
      // substr, not LIKE: names hold `_`, which LIKE takes as a wildcard.
      where.push('substr(name, 1, ?) = ?');
      params.push(filter.namePrefix.length, filter.namePrefix);
    }
    if (filter.targetDigest !== undefined) {
      where.push('digest = ?');
      params.push(filter.targetDigest);
    }
    for (const f of filter.labels ?? []) {
      const eq = f.indexOf('=');
      if (f === '' || eq === 0) throw new BerthError('IMAGE_INVALID', `label filter ${JSON.stringify(f)} must be \`key\` or \`key=value\``);
      if (eq === -1) {
        where.push('EXISTS (SELECT 1 FROM image_labels l WHERE l.name = images.name AND l.key = ?)');
        params.push(f);
      } else {
        where.push('EXISTS (SELECT 1 FROM image_labels l WHERE l.name = images.name AND l.key = ? AND l.value = ?)');
        params.push(f.slice(0, eq), f.slice(eq + 1));
      }
    }
    const sql = `SELECT * FROM images${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY name`;
    return (this.#db.prepare(sql).all(...params) as ImageRow[]).map((r) => this.#record(r));
  }

  /** Removes the image record and returns it; fails with `IMAGE_NOT_FOUND`. */
  delete(name: string): ImageRecord {
    const normalized = normalizeImageName(name);
    return writeTransaction(this.#db, () => {
      const record = this.get(normalized);
      this.#db.prepare('DELETE FROM images WHERE name = ?').run(normalized);
      return record;
    });
  }

  /**
   * A number that changes whenever any image is added, retargeted or
   * deleted, by any connection: garbage collection compares it before and
   * after marking.
   */
  revision(): number {
    return (this.#db.prepare("SELECT value FROM counters WHERE name = 'images'").pluck().get() as number | undefined) ?? 0;
  }

  #row(name: string): ImageRow | undefined {
    return this.#db.prepare('SELECT * FROM images WHERE name = ?').get(name) as ImageRow | undefined;
  }

  #writeLabels(name: string, labels: Record<string, string>): void {
    const insert = this.#db.prepare('INSERT INTO image_labels (name, key, value) VALUES (?, ?, ?)');
    for (const [key, value] of Object.entries(labels)) insert.run(name, key, value);
  }

  #record(row: ImageRow): ImageRecord {
    const labels: Record<string, string> = {};
    for (const l of this.#db.prepare('SELECT key, value FROM image_labels WHERE name = ? ORDER BY key').all(row.name) as Array<{ key: string; value: string }>) {
      labels[l.key] = l.value;
    }
    return {
      name: row.name,
      target: { mediaType: row.media_type, digest: row.digest, size: row.size },
      labels,
      createdAt: new Date(row.created_ms),
      updatedAt: new Date(row.updated_ms),
    };
  }
}

function notFound(name: string): BerthError {
  return new BerthError('IMAGE_NOT_FOUND', `image \`${name}\` is not in the image store`);
}
