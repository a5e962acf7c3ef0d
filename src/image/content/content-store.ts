/**
 * The content store holds blobs (layers, manifests, configs) by digest.
 *
 * Lifecycle of a blob, as in containerd's `content.Store`:
 *
 *   1. `openWriter(ref, expected)` opens (or resumes) an ingest named `ref`.
 *      `writer.offset` says how many bytes an earlier, interrupted attempt
 *      already holds; fetch the rest from there (an HTTP Range request).
 *   2. `writer.write(chunk)` appends, hashing as it goes; writing past the
 *      expected size fails at once (a lying registry cannot fill the disk).
 *   3. `writer.commit()` checks size and digest, makes the data durable and
 *      renames it to `blobs/<alg>/<hex>`, then fsyncs the directory. On a
 *      mismatch the ingest is discarded and nothing is committed.
 *      `writer.close()` instead keeps the ingest for a later resume;
 *      `writer.abort()` discards it.
 *
 * `ensure(desc, open)` wraps the three steps for a pull, and lets concurrent
 * callers of the same digest share one write:
 *
 *   const info = await store.ensure(layer, (offset) => registry.fetchBlob(layer, { offset }));
 */
import type { Readable } from 'node:stream';

/** The part of an OCI descriptor that the store checks. */
export interface ContentDescriptor {
  digest: string;
  size: number;
  mediaType?: string;
}

export interface ContentInfo {
  digest: string;
  sizeBytes: number;
  /** When the blob was committed (its mtime). */
  createdAt: Date;
}

export interface IngestStatus {
  ref: string;
  /** Bytes held so far. */
  offset: number;
  expected: ContentDescriptor;
  startedAt: Date;
}

/** An ingest that cannot be resumed (see `ContentStore.removeBrokenIngests`). */
export interface BrokenIngest {
  /** The store's name for it (its ref is unknown). */
  id: string;
  /** Bytes it held. */
  sizeBytes: number;
}

export interface ContentWriter {
  readonly ref: string;
  readonly expected: ContentDescriptor;
  /** Bytes written so far, including what a resumed ingest already held. */
  readonly offset: number;
  write(chunk: Uint8Array): Promise<void>;
  /** Verify and commit; returns the committed blob's info. */
  commit(): Promise<ContentInfo>;
  /** Stop writing, keep the partial ingest for a resume. Idempotent. */
  close(): Promise<void>;
  /** Stop writing and discard the ingest. Idempotent. */
  abort(): Promise<void>;
}

/** Random access to a committed blob. */
export interface ContentReaderAt {
  readonly sizeBytes: number;
  /** Reads up to `length` bytes at `position` into `buffer`; returns bytes read. */
  readAt(buffer: Uint8Array, position: number, length?: number): Promise<number>;
  close(): Promise<void>;
}

/** Supplies a blob's bytes starting at `offset` (for a resume). */
export type BlobSource = (offset: number) => AsyncIterable<Uint8Array> | Promise<AsyncIterable<Uint8Array>>;

export interface ContentStore {
  /** The blob's info; throws `CONTENT_NOT_FOUND`. */
  info(digest: string): Promise<ContentInfo>;
  /** The blob's info, or undefined when absent. */
  findInfo(digest: string): Promise<ContentInfo | undefined>;
  readerAt(digest: string): Promise<ContentReaderAt>;
  createReadStream(digest: string, options?: { start?: number; end?: number }): Promise<Readable>;
  /** The whole blob, re-verified against its digest (for manifests and configs). */
  readBlob(digest: string, options?: { maxBytes?: number }): Promise<Buffer>;
  openWriter(ref: string, expected: ContentDescriptor): Promise<ContentWriter>;
  ensure(expected: ContentDescriptor, source: BlobSource, options?: { ref?: string; signal?: AbortSignal }): Promise<ContentInfo>;
  delete(digest: string): Promise<void>;
  /**
   * Deletes a blob before returning, in the caller's turn of the event loop;
   * false when it was not there. For a caller that must order the delete
   * against other synchronous steps (garbage collection against a pull's
   * lease records: see store/gc.ts); everyone else uses `delete`.
   */
  deleteSync(digest: string): boolean;
  list(): AsyncIterable<ContentInfo>;
  /** Ingests that can be resumed (their ref and expected blob are readable). */
  listIngests(): Promise<IngestStatus[]>;
  /**
   * Discards the ingest `ref`; fails with `CONTAINER_LOCKED` while a writer
   * holds it. A writer waiting for the ingest meanwhile starts a new one.
   */
  abortIngest(ref: string): Promise<void>;
  /**
   * Removes what `listIngests` cannot show: ingests a crash left unreadable
   * (no ref or expected file, as when it came between creating the ingest
   * and describing it), last changed before `changedBefore`, whose writer is
   * gone. Returns what was removed.
   */
  removeBrokenIngests(changedBefore: Date): Promise<BrokenIngest[]>;
  usage(): Promise<{ sizeBytes: number; count: number }>;
}
