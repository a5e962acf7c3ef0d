/**
 * `LocalContentStore`: the content store on a local filesystem.
 *
 *   <root>/blobs/<alg>/<hex>          committed blobs, read-only (0444)
 *   <root>/ingest/<sha256(ref)>/      one in-progress write per ref:
 *       ref        the ref, as given
 *       expected   {"digest", "size", "startedAt"} as JSON
 *       data       the bytes so far
 *       lock       holder pid + start time (util/lock-file): one writer per ref
 *   <root>/ingest/.removed-<random>/  an ingest being deleted (see `#discard`)
 *
 * Ingest directories are named by a hash of the ref because refs are free
 * text. A resumed ingest re-hashes its data on open (a hash state cannot be
 * saved from Node), so resuming costs a read of what is there; bytes torn by
 * a crash only make the final digest check fail, which discards the ingest.
 *
 * An ingest directory is deleted only by the holder of its lock, and is
 * renamed away before it is deleted: a writer waiting for the lock then
 * finds no directory and makes a new one, instead of failing (ENOENT) or
 * taking a lock inside a directory that is about to go.
 */
import { createHash, randomBytes, type Hash } from 'node:crypto';
import { createReadStream, unlinkSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, unlink, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { BerthError, isBerthError, isErrno } from '../../errors/index.js';
import { acquireLock, type Lock } from '../../util/lock-file.js';
import { parseDigest } from '../digest/digest.js';
import type {
  BlobSource,
  BrokenIngest,
  ContentDescriptor,
  ContentInfo,
  ContentReaderAt,
  ContentStore,
  ContentWriter,
  IngestStatus,
} from './content-store.js';

export interface LocalContentStoreOptions {
  /** How long `openWriter` waits for another process writing the same ref. */
  lockTimeoutMs?: number;
}

const ALGORITHMS = ['sha256', 'sha384', 'sha512'] as const;

async function fsyncDir(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

function checkDescriptor(expected: ContentDescriptor): void {
  parseDigest(expected.digest);
  if (!Number.isSafeInteger(expected.size) || expected.size < 0) {
    throw new BerthError('CONTENT_SIZE_MISMATCH', `blob ${expected.digest}: size ${expected.size} is not a valid byte count`);
  }
}

export class LocalContentStore implements ContentStore {
  readonly root: string;
  readonly #lockTimeoutMs: number;
  /** Writes in progress in this process, by digest, so concurrent pulls share one. */
  readonly #inflight = new Map<string, Promise<ContentInfo>>();

  constructor(root: string, options: LocalContentStoreOptions = {}) {
    this.root = root;
    this.#lockTimeoutMs = options.lockTimeoutMs ?? 10 * 60_000;
  }

  /** Path of a committed blob (it may not exist). */
  blobPath(digest: string): string {
    const { algorithm, encoded } = parseDigest(digest);
    return join(this.root, 'blobs', algorithm, encoded);
  }

  #ingestDir(ref: string): string {
    return join(this.root, 'ingest', createHash('sha256').update(ref).digest('hex'));
  }

  async findInfo(digest: string): Promise<ContentInfo | undefined> {
    try {
      const st = await stat(this.blobPath(digest));
      return { digest, sizeBytes: st.size, createdAt: st.mtime };
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return undefined;
      throw err;
    }
  }

  async info(digest: string): Promise<ContentInfo> {
    const info = await this.findInfo(digest);
    if (!info) throw new BerthError('CONTENT_NOT_FOUND', `blob ${digest} is not in the content store`);
    return info;
  }

  async readerAt(digest: string): Promise<ContentReaderAt> {
    let fh: FileHandle;
    try {
      fh = await open(this.blobPath(digest), 'r');
    } catch (err) {
      if (isErrno(err, 'ENOENT')) throw new BerthError('CONTENT_NOT_FOUND', `blob ${digest} is not in the content store`);
      throw err;
    }
    const { size } = await fh.stat();
    let closed = false;
    return {
      sizeBytes: size,
      async readAt(buffer, position, length = buffer.byteLength) {
        const { bytesRead } = await fh.read(buffer, 0, Math.min(length, buffer.byteLength), position);
        return bytesRead;
      },
      async close() {
        if (closed) return;
        closed = true;
        await fh.close();
      },
    };
  }

  async createReadStream(digest: string, options: { start?: number; end?: number } = {}): Promise<Readable> {
    await this.info(digest);
    return createReadStream(this.blobPath(digest), options);
  }

  async readBlob(digest: string, options: { maxBytes?: number } = {}): Promise<Buffer> {
    const info = await this.info(digest);
    const max = options.maxBytes ?? 16 * 1024 * 1024;
    if (info.sizeBytes > max) {
      throw new BerthError('CONTENT_SIZE_MISMATCH', `blob ${digest} is ${info.sizeBytes} bytes, more than the ${max} allowed here`);
    }
    const data = await readFile(this.blobPath(digest));
    const { algorithm, encoded } = parseDigest(digest);
    if (createHash(algorithm).update(data).digest('hex') !== encoded) {
      throw new BerthError('CONTENT_DIGEST_MISMATCH', `blob ${digest} in the content store does not match its digest; delete it and pull again`);
    }
    return data;
  }

  async openWriter(ref: string, expected: ContentDescriptor): Promise<ContentWriter> {
    checkDescriptor(expected);
    const dir = this.#ingestDir(ref);
    const deadline = Date.now() + this.#lockTimeoutMs;
    for (;;) {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      let lock: Lock;
      try {
        lock = await acquireLock(join(dir, 'lock'), { timeoutMs: Math.max(0, deadline - Date.now()), what: `ingest \`${ref}\`` });
      } catch (err) {
        // The holder committed or discarded the ingest while we waited: its directory is gone, start a new one.
        if (isErrno(err, 'ENOENT')) continue;
        throw err;
      }
      try {
        return await this.#resume(ref, dir, expected, lock);
      } catch (err) {
        await lock.release();
        throw err;
      }
    }
  }

  /**
   * Deletes the ingest directory `dir`, whose `lock` the caller holds: a
   * rename out of the way (atomic: a waiter sees the whole ingest or none),
   * then the delete. The lock file goes with the directory and is not
   * released by name: by then that name may be a new holder's lock.
   */
  async #discard(dir: string, lock: Lock): Promise<void> {
    const removed = join(this.root, 'ingest', `.removed-${randomBytes(8).toString('hex')}`);
    try {
      await rename(dir, removed);
    } catch (err) {
      await lock.release();
      if (isErrno(err, 'ENOENT')) return;
      throw err;
    }
    await rm(removed, { recursive: true, force: true });
  }

  async #resume(ref: string, dir: string, expected: ContentDescriptor, lock: Lock): Promise<ContentWriter> {
    const dataPath = join(dir, 'data');
    const expectedPath = join(dir, 'expected');
    const hash = createHash(parseDigest(expected.digest).algorithm);
    let offset = 0;
    let startedAt = new Date();
    const previous = await readFile(expectedPath, 'utf8').then((t) => JSON.parse(t) as { digest: string; size: number; startedAt: string }, () => undefined);
    const sameBlob = previous !== undefined && previous.digest === expected.digest && previous.size === expected.size;
    if (sameBlob) {
      // Resume: re-hash what an earlier attempt wrote.
      startedAt = new Date(previous.startedAt);
      try {
        for await (const chunk of createReadStream(dataPath)) {
          hash.update(chunk as Buffer);
          offset += (chunk as Buffer).length;
        }
      } catch (err) {
        if (!isErrno(err, 'ENOENT')) throw err;
      }
    }
    if (!sameBlob || offset > expected.size) {
      await writeFile(join(dir, 'ref'), ref);
      await writeFile(expectedPath, JSON.stringify({ digest: expected.digest, size: expected.size, startedAt: startedAt.toISOString() }));
      await writeFile(dataPath, new Uint8Array(0));
      return this.#writer(ref, dir, expected, lock, createHash(parseDigest(expected.digest).algorithm), 0);
    }
    return this.#writer(ref, dir, expected, lock, hash, offset);
  }

  async #writer(ref: string, dir: string, expected: ContentDescriptor, lock: Lock, hash: Hash, startOffset: number): Promise<ContentWriter> {
    const store = this;
    const fh = await open(join(dir, 'data'), 'r+', 0o600);
    let offset = startOffset;
    let done = false;
    const finish = async (removeIngest: boolean): Promise<void> => {
      if (done) return;
      done = true;
      await fh.close().catch(() => {});
      if (removeIngest) await store.#discard(dir, lock);
      else await lock.release();
    };
    const reject = async (code: 'CONTENT_SIZE_MISMATCH' | 'CONTENT_DIGEST_MISMATCH', message: string): Promise<never> => {
      // A blob that lied cannot be resumed into a good one: start over next time.
      await finish(true);
      throw new BerthError(code, message);
    };
    return {
      ref,
      expected,
      get offset() {
        return offset;
      },
      async write(chunk: Uint8Array) {
        if (done) throw new BerthError('INTERNAL', `ingest \`${ref}\` is already closed`);
        if (offset + chunk.byteLength > expected.size) {
          await reject('CONTENT_SIZE_MISMATCH', `blob ${expected.digest}: got more than the expected ${expected.size} bytes; nothing was committed`);
        }
        let written = 0;
        while (written < chunk.byteLength) {
          const { bytesWritten } = await fh.write(chunk, written, chunk.byteLength - written, offset + written);
          written += bytesWritten;
        }
        hash.update(chunk);
        offset += chunk.byteLength;
      },
      async commit() {
        if (done) throw new BerthError('INTERNAL', `ingest \`${ref}\` is already closed`);
        if (offset !== expected.size) {
          await reject('CONTENT_SIZE_MISMATCH', `blob ${expected.digest}: got ${offset} bytes, expected ${expected.size}; nothing was committed`);
        }
        const { algorithm, encoded } = parseDigest(expected.digest);
        const actual = hash.digest('hex');
        if (actual !== encoded) {
          await reject('CONTENT_DIGEST_MISMATCH', `blob ${expected.digest}: content hashes to ${algorithm}:${actual}; nothing was committed`);
        }
        // Data durable before the rename makes it visible, the directory
        // durable after, so a crash leaves either no blob or a whole one.
        await fh.chmod(0o444);
        await fh.sync();
        await fh.close();
        const blobDir = join(store.root, 'blobs', algorithm);
        await mkdir(blobDir, { recursive: true, mode: 0o755 });
        const target = join(blobDir, encoded);
        await rename(join(dir, 'data'), target);
        await fsyncDir(blobDir);
        done = true;
        await store.#discard(dir, lock);
        return store.info(expected.digest);
      },
      close: () => finish(false),
      abort: () => finish(true),
    };
  }

  async ensure(expected: ContentDescriptor, source: BlobSource, options: { ref?: string; signal?: AbortSignal } = {}): Promise<ContentInfo> {
    checkDescriptor(expected);
    const running = this.#inflight.get(expected.digest);
    if (running) return running;
    const p = this.#ensure(expected, source, options).finally(() => this.#inflight.delete(expected.digest));
    this.#inflight.set(expected.digest, p);
    return p;
  }

  async #ensure(expected: ContentDescriptor, source: BlobSource, options: { ref?: string; signal?: AbortSignal }): Promise<ContentInfo> {
    const existing = await this.findInfo(expected.digest);
    if (existing) return this.#checkExisting(existing, expected);
    const writer = await this.openWriter(options.ref ?? `ensure-${expected.digest}`, expected);
    // Another process may have committed it while we waited for the lock.
    const raced = await this.findInfo(expected.digest);
    if (raced) {
      await writer.abort();
      return this.#checkExisting(raced, expected);
    }
    try {
      if (writer.offset < expected.size) {
        for await (const chunk of await source(writer.offset)) {
          options.signal?.throwIfAborted();
          await writer.write(chunk);
        }
      }
      return await writer.commit();
    } catch (err) {
      // Keep what was written for a resume, unless the content itself was bad
      // (commit and write discard the ingest on a mismatch already).
      await writer.close();
      throw err;
    }
  }

  #checkExisting(info: ContentInfo, expected: ContentDescriptor): ContentInfo {
    if (info.sizeBytes !== expected.size) {
      throw new BerthError('CONTENT_SIZE_MISMATCH', `blob ${expected.digest} is in the store with ${info.sizeBytes} bytes, but ${expected.size} were expected`);
    }
    return info;
  }

  async delete(digest: string): Promise<void> {
    try {
      await unlink(this.blobPath(digest));
    } catch (err) {
      if (isErrno(err, 'ENOENT')) throw new BerthError('CONTENT_NOT_FOUND', `blob ${digest} is not in the content store`);
      throw err;
    }
  }

  deleteSync(digest: string): boolean {
    try {
      unlinkSync(this.blobPath(digest));
      return true;
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return false;
      throw err;
    }
  }

  async *list(): AsyncIterable<ContentInfo> {
    for (const algorithm of ALGORITHMS) {
      let names: string[];
      try {
        names = await readdir(join(this.root, 'blobs', algorithm));
      } catch (err) {
        if (isErrno(err, 'ENOENT')) continue;
        throw err;
      }
      for (const name of names.sort()) {
        const digest = `${algorithm}:${name}`;
        try {
          parseDigest(digest);
        } catch {
          continue;
        }
        const info = await this.findInfo(digest);
        if (info) yield info;
      }
    }
  }

  /** Names in `ingest/`: ingests, and ingests being deleted (`.removed-*`). */
  async #ingestNames(): Promise<string[]> {
    try {
      return (await readdir(join(this.root, 'ingest'))).sort();
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return [];
      throw err;
    }
  }

  /** The ingest in `dir`, or undefined when it cannot be read (gone, or never fully described). */
  async #readIngest(dir: string): Promise<IngestStatus | undefined> {
    try {
      const ref = await readFile(join(dir, 'ref'), 'utf8');
      const exp = JSON.parse(await readFile(join(dir, 'expected'), 'utf8')) as { digest: string; size: number; startedAt: string };
      const st = await stat(join(dir, 'data'));
      return { ref, offset: st.size, expected: { digest: exp.digest, size: exp.size }, startedAt: new Date(exp.startedAt) };
    } catch (err) {
      if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR') || err instanceof SyntaxError) return undefined;
      throw err;
    }
  }

  async listIngests(): Promise<IngestStatus[]> {
    const out: IngestStatus[] = [];
    for (const name of await this.#ingestNames()) {
      if (name.startsWith('.')) continue;
      const ingest = await this.#readIngest(join(this.root, 'ingest', name));
      if (ingest) out.push(ingest);
    }
    return out;
  }

  async abortIngest(ref: string): Promise<void> {
    const dir = this.#ingestDir(ref);
    let lock: Lock;
    try {
      // No wait: a live writer keeps its ingest (CONTAINER_LOCKED).
      lock = await acquireLock(join(dir, 'lock'), { timeoutMs: 0, what: `ingest \`${ref}\`` });
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return;
      throw err;
    }
    await this.#discard(dir, lock);
  }

  async removeBrokenIngests(changedBefore: Date): Promise<BrokenIngest[]> {
    const removed: BrokenIngest[] = [];
    // An ingest being deleted is garbage however readable it is (a crash between the rename and the delete).
    const broken = async (name: string, dir: string): Promise<boolean> => name.startsWith('.') || !(await this.#readIngest(dir));
    for (const name of await this.#ingestNames()) {
      const dir = join(this.root, 'ingest', name);
      if (!(await broken(name, dir))) continue;
      const st = await stat(dir).catch((err: unknown) => {
        if (isErrno(err, 'ENOENT')) return undefined;
        throw err;
      });
      // Young: maybe a writer between making the directory and describing it.
      if (!st?.isDirectory() || st.mtime >= changedBefore) continue;
      let lock: Lock;
      try {
        lock = await acquireLock(join(dir, 'lock'), { timeoutMs: 0, what: `ingest directory ${name}` });
      } catch (err) {
        if (isErrno(err, 'ENOENT') || isBerthError(err, 'CONTAINER_LOCKED')) continue;
        throw err;
      }
      if (!(await broken(name, dir))) {
        await lock.release();
        continue;
      }
      const sizeBytes = await stat(join(dir, 'data')).then(
        (d) => d.size,
        () => 0,
      );
      await this.#discard(dir, lock);
      removed.push({ id: name, sizeBytes });
    }
    return removed;
  }

  async usage(): Promise<{ sizeBytes: number; count: number }> {
    let sizeBytes = 0;
    let count = 0;
    for await (const info of this.list()) {
      sizeBytes += info.sizeBytes;
      count += 1;
    }
    return { sizeBytes, count };
  }
}

