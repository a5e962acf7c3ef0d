/**
 * Garbage collection of the content store and the snapshotter: mark what
 * images, leases and containers reference (gc-mark.ts), then sweep
 *
 *   1. blobs that are not marked;
 *   2. ingests older than a grace period whose writer is gone (its lock
 *      file names a dead process) and that no lease holds, and ingests a
 *      crash left unreadable (no ref), older than the same grace period;
 *   3. committed snapshots that are not marked, children before parents;
 *   4. with `layersRoot`, unpack directories whose pull's process is gone
 *      (killed or crashed before it registered them: see pull-and-unpack.ts).
 *
 * Leases expired at the start are deleted first and protect nothing.
 *
 * Safety while pulls run. A pull adds each resource to its lease *before*
 * it checks whether the resource exists (`PullOptions.lease`), with a
 * synchronous SQLite insert. The sweep of blobs re-reads the leases and the
 * image revision and deletes, all in one synchronous turn of the event
 * loop (the content store's `deleteSync`, not its async `delete`, whose
 * unlink would run on the thread pool after a pull's `stat` may already
 * have seen the blob). So for every blob, either the pull's `add` came
 * first and the blob is kept, or the delete did and the pull finds the
 * blob missing and fetches it. A blob a pull has just committed was leased
 * before it was written. If an image was added or retargeted since the
 * mark (the revision changed: something that was garbage may be
 * referenced again), the collection marks again, up to three times, then
 * leaves the rest for the next one (`complete: false`).
 *
 * Snapshots are removed under the lock held exclusively (`lock`); a pull
 * registers its layers as snapshots under the same lock held shared, after
 * adding their chain IDs to its lease, so "this chain is there already"
 * cannot turn false before its image record is written. A container's
 * snapshot made meanwhile on a parent being swept makes that `remove` fail
 * with `SNAPSHOT_STATE`, which the sweep skips.
 *
 * All of this holds within one process: berthd is the one writer of its
 * root (DESIGN.md section 3). Another process pulling into the same root
 * must not run while berthd collects. Code that writes an image record
 * pointing at content it did not lease (tagging, importing) should run
 * under `lock.shared`.
 */
import { isBerthError } from '../../errors/index.js';
import type { ContentStore } from '../content/index.js';
import { removeStaleUnpackDirs } from '../distribution/pull-and-unpack.js';
import type { SnapshotInfo, Snapshotter } from '../snapshot/index.js';
import { markReferenced, type MarkedResources } from './gc-mark.js';
import { GcLock } from './gc-lock.js';
import type { ImageStore } from './image-store.js';
import type { LeaseManager } from './lease-manager.js';

export interface GarbageCollectorOptions {
  images: ImageStore;
  leases: LeaseManager;
  content: ContentStore;
  snapshotter: Snapshotter;
  /** Where pulls unpack layers (`ImageServices.layersRoot`); its dead pulls' directories are removed. */
  layersRoot?: string;
  /**
   * Ingests started (or, unreadable ones, last changed) less than this long
   * ago are kept even with no writer (a pull between two retries keeps its
   * partial download). Default 1 hour.
   */
  ingestGraceMs?: number;
  /** Clock for lease expiry and the ingest grace (tests pass their own). */
  now?: () => Date;
}

export interface GcReport {
  /** Digests of removed blobs. */
  content: string[];
  /** Names of removed committed snapshots, children first. */
  snapshots: string[];
  /** Refs of removed ingests. */
  ingests: string[];
  /** Store ids of removed unreadable ingests (their ref is unknown). */
  brokenIngests: string[];
  /** Names of removed unpack directories in `layersRoot`. */
  layerDirs: string[];
  /** Ids of expired leases deleted. */
  expiredLeases: string[];
  /** Blob sizes, ingest bytes, snapshot usage and unpack directories' usage, added up. */
  bytesFreed: number;
  /** False when images kept changing and some garbage was left for the next collection. */
  complete: boolean;
}

const MAX_ROUNDS = 3;

/** The number of parents above a snapshot. */
function depthOf(s: SnapshotInfo, byName: Map<string, SnapshotInfo>): number {
  let depth = 0;
  const seen = new Set<string>();
  for (let p = s.parent; p !== undefined && !seen.has(p); p = byName.get(p)?.parent) {
    seen.add(p);
    depth += 1;
  }
  return depth;
}

export class GarbageCollector {
  /** Held exclusively by `collect`; hold it shared around steps a sweep must not interleave with. */
  readonly lock = new GcLock();
  readonly #images: ImageStore;
  readonly #leases: LeaseManager;
  readonly #content: ContentStore;
  readonly #layersRoot: string | undefined;
  readonly #snapshotter: Snapshotter;
  readonly #ingestGraceMs: number;
  readonly #now: () => Date;

  constructor(options: GarbageCollectorOptions) {
    this.#images = options.images;
    this.#leases = options.leases;
    this.#content = options.content;
    this.#snapshotter = options.snapshotter;
    this.#layersRoot = options.layersRoot;
    this.#ingestGraceMs = options.ingestGraceMs ?? 60 * 60_000;
    this.#now = options.now ?? (() => new Date());
  }

  /** Runs one collection (after any running one) and reports what it removed. */
  collect(): Promise<GcReport> {
    return this.lock.exclusive(() => this.#collect());
  }

  async #collect(): Promise<GcReport> {
    const report: GcReport = { content: [], snapshots: [], ingests: [], brokenIngests: [], layerDirs: [], expiredLeases: [], bytesFreed: 0, complete: false };
    report.expiredLeases = this.#leases.deleteExpired(this.#now());
    const sources = { images: this.#images, leases: this.#leases, content: this.#content, snapshotter: this.#snapshotter };
    for (let round = 0; round < MAX_ROUNDS && !report.complete; round++) {
      const marked = await markReferenced(sources, this.#now());
      const unmarked: Array<{ digest: string; sizeBytes: number }> = [];
      for await (const info of this.#content.list()) {
        if (!marked.content.has(info.digest)) unmarked.push(info);
      }
      if (!this.#sweepContent(marked, unmarked, report)) continue;
      await this.#sweepIngests(marked, report);
      report.complete = await this.#sweepSnapshots(marked, report);
    }
    if (this.#layersRoot !== undefined) {
      for (const removed of await removeStaleUnpackDirs(this.#layersRoot)) {
        report.layerDirs.push(removed.name);
        report.bytesFreed += removed.sizeBytes;
      }
    }
    return report;
  }

  /** Synchronous from start to end: see the header. False when images changed since the mark. */
  #sweepContent(marked: MarkedResources, unmarked: ReadonlyArray<{ digest: string; sizeBytes: number }>, report: GcReport): boolean {
    if (this.#images.revision() !== marked.imagesRevision) return false;
    const leased = new Set(
      this.#leases
        .activeResources(this.#now())
        .filter((r) => r.type === 'content')
        .map((r) => r.digest),
    );
    for (const blob of unmarked) {
      if (leased.has(blob.digest) || !this.#content.deleteSync(blob.digest)) continue;
      report.content.push(blob.digest);
      report.bytesFreed += blob.sizeBytes;
    }
    return true;
  }

  async #sweepIngests(marked: MarkedResources, report: GcReport): Promise<void> {
    for (const ingest of await this.#content.listIngests()) {
      const now = this.#now();
      if (now.getTime() - ingest.startedAt.getTime() < this.#ingestGraceMs) continue;
      if (
        marked.ingests.has(ingest.ref) ||
        this.#leases.isLeased({ type: 'ingest', ref: ingest.ref }, now) ||
        this.#leases.isLeased({ type: 'content', digest: ingest.expected.digest }, now)
      ) {
        continue;
      }
      try {
        // Takes the ingest's lock without waiting: a live writer keeps it.
        await this.#content.abortIngest(ingest.ref);
      } catch (err) {
        if (isBerthError(err, 'CONTAINER_LOCKED')) continue;
        throw err;
      }
      report.ingests.push(ingest.ref);
      report.bytesFreed += ingest.offset;
    }
    for (const broken of await this.#content.removeBrokenIngests(new Date(this.#now().getTime() - this.#ingestGraceMs))) {
      report.brokenIngests.push(broken.id);
      report.bytesFreed += broken.sizeBytes;
    }
  }

  /** False when images changed since the mark (the rest is left for another round). */
  async #sweepSnapshots(marked: MarkedResources, report: GcReport): Promise<boolean> {
    const all = await this.#snapshotter.list();
    const byName = new Map(all.map((s) => [s.name, s]));
    const unmarked = all
      .filter((s) => s.kind === 'committed' && !marked.snapshots.has(s.name))
      .map((s) => ({ s, depth: depthOf(s, byName) }))
      .sort((a, b) => b.depth - a.depth || (a.s.name < b.s.name ? -1 : 1));
    for (const { s } of unmarked) {
      const sizeBytes = await this.#snapshotter.usage(s.name).then(
        (u) => u.sizeBytes,
        () => 0,
      );
      if (this.#images.revision() !== marked.imagesRevision) return false;
      if (this.#leases.isLeased({ type: 'snapshot', key: s.name }, this.#now())) continue;
      try {
        await this.#snapshotter.remove(s.name);
      } catch (err) {
        // A child made since the mark (a container's rootfs), or removed meanwhile.
        if (isBerthError(err, 'SNAPSHOT_STATE') || isBerthError(err, 'SNAPSHOT_NOT_FOUND')) continue;
        throw err;
      }
      report.snapshots.push(s.name);
      report.bytesFreed += sizeBytes;
    }
    return true;
  }
}
