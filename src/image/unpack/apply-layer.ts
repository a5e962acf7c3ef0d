/**
 * Applies one layer (a tar stream, gzip/zstd/plain) to a directory, in one
 * pass: decompress, hash the uncompressed bytes (the diffID), and write
 * entries. Docker/OCI whiteouts are converted to overlayfs form (`.wh.NAME`
 * → a 0:0 character device NAME; `.wh..wh..opq` → `trusted.overlay.opaque=y`
 * on the directory) or, for a plain directory tree, applied by deleting.
 *
 * Security (DESIGN.md rule 5): entry names are cleaned and refused when they
 * climb out of the target; parents are resolved inside the target
 * (`safe-path.ts`); the final component is never followed (files are created
 * with O_EXCL|O_NOFOLLOW after removing what was there, metadata is set
 * through the file descriptor or with the l* calls); hardlink targets are
 * resolved the same way; whiteouts naming `.`/`..` are refused. Absolute
 * symlink targets are kept as they are: they are resolved against the
 * container root when used.
 */
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { chmod, lchown, link, lstat, lutimes, mkdir, open, readdir, rm, symlink, type FileHandle } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { once } from 'node:events';
import { BerthError, isBerthError, isErrno } from '../../errors/index.js';
import { cleanEntryPath, resolveParentInRoot } from './safe-path.js';
import { decompressor, peekCompression, type Compression } from './decompress.js';
import { SpecialFiles } from './special-files.js';
import { createTarExtract, type TarHeader } from './tar-extract.js';

export interface ApplyLayerOptions {
  /** `overlay`: whiteouts become overlayfs whiteouts (target is an upper dir). `delete`: whiteouts remove paths (target is a full tree). */
  whiteouts?: 'overlay' | 'delete';
  /** Set owners from the tar (default: when running as root). */
  ownership?: boolean;
  /** What to do with block and character device entries (default `create`). */
  devices?: 'create' | 'reject' | 'skip';
  /** Fail when the uncompressed stream exceeds this many bytes (a zip bomb). */
  maxBytes?: number;
  /** When given, the computed diffID must equal it. */
  expectedDiffId?: string;
  signal?: AbortSignal;
}

export interface ApplyLayerResult {
  /** sha256 of the uncompressed tar stream. */
  diffId: string;
  /** Bytes of the uncompressed tar stream. */
  sizeBytes: number;
  compression: Compression;
  entries: number;
}

const WHITEOUT_PREFIX = '.wh.';
const OPAQUE_MARKER = '.wh..wh..opq';
/** Other `.wh..wh.` names (aufs hardlink dirs) carry nothing for us. */
const WHITEOUT_META_PREFIX = '.wh..wh.';

type Header = TarHeader;

function unsafe(entry: string, why: string): BerthError {
  return new BerthError('LAYER_UNSAFE', `layer entry \`${entry}\` ${why}`);
}

/**
 * Applies the layer read from `source` to `target` (an existing directory).
 * Throws `LAYER_UNSAFE` or `LAYER_INVALID` naming the entry, or
 * `CONTENT_DIGEST_MISMATCH` when `expectedDiffId` does not match.
 */
export async function applyLayer(source: AsyncIterable<Uint8Array>, target: string, options: ApplyLayerOptions = {}): Promise<ApplyLayerResult> {
  const root = target.replace(/\/+$/, '') || '/';
  const st = await lstat(root);
  if (!st.isDirectory()) throw new BerthError('LAYER_INVALID', `unpack target \`${target}\` is not a directory`);
  const applier = new LayerApplier(root, options);
  const { compression, stream } = await peekCompression(source);
  const gunzip = decompressor(compression);
  const hash = createHash('sha256');
  const maxBytes = options.maxBytes ?? Number.POSITIVE_INFINITY;
  let sizeBytes = 0;
  const extract = createTarExtract();
  const abort = new AbortController();
  const onOuterAbort = () => abort.abort(options.signal?.reason);
  options.signal?.addEventListener('abort', onOuterAbort, { once: true });

  // The first error of the feeding side; the pipeline may report it as an AbortError.
  let feedError: unknown;
  const sink = async function (decompressed: AsyncIterable<Buffer>): Promise<void> {
    for await (const chunk of decompressed) {
      sizeBytes += chunk.byteLength;
      if (sizeBytes > maxBytes) {
        feedError ??= new BerthError('LAYER_INVALID', `layer is larger than ${maxBytes} bytes uncompressed`);
        throw feedError;
      }
      hash.update(chunk);
      if (!extract.write(chunk)) await once(extract as unknown as NodeJS.EventEmitter, 'drain');
    }
    (extract as unknown as NodeJS.WritableStream).end();
  };
  const runPipeline = pipeline as unknown as (...stages: unknown[]) => Promise<void>;
  const feed = runPipeline(stream, ...(gunzip ? [gunzip] : []), sink
  ).catch((err: unknown) => {
    feedError ??= err;
    extract.destroy(feedError as Error);
    throw err;
  });
  // Keep an early failure of the feed from being reported unhandled before the loop sees it.
  feed.catch(() => {});

  let entries = 0;
  try {
    for await (const entry of extract) {
      abort.signal.throwIfAborted();
      entries += 1;
      try {
        await applier.apply(entry.header, entry as unknown as AsyncIterable<Buffer>);
      } finally {
        entry.resume();
      }
    }
    await feed;
    await applier.finish();
    await applier.close();
  } catch (caught) {
    // A failed feed (bad gzip, too large) destroys the tar stream, and the
    // unpacker then sees only "stream destroyed": report the cause.
    const err = feedError ?? caught;
    await applier.close().catch(() => {});
    abort.abort(err);
    stream.destroy();
    gunzip?.destroy();
    extract.destroy();
    await feed.catch(() => {});
    if (isBerthError(err)) throw err;
    if (err instanceof Error && /zlib|incorrect header|unexpected end|invalid/i.test(err.message)) {
      throw new BerthError('LAYER_INVALID', `layer is not a readable ${compression === 'none' ? 'tar' : `${compression} tar`} stream: ${err.message}`, { cause: err });
    }
    throw err;
  } finally {
    options.signal?.removeEventListener('abort', onOuterAbort);
  }
  const diffId = `sha256:${hash.digest('hex')}`;
  if (options.expectedDiffId !== undefined && options.expectedDiffId !== diffId) {
    throw new BerthError('CONTENT_DIGEST_MISMATCH', `layer diffID is ${diffId}, but the image config says ${options.expectedDiffId}`);
  }
  return { diffId, sizeBytes, compression, entries };
}

/** File data is gathered into writes of about this size. */
const FILE_WRITE_BATCH_BYTES = 1 << 20;

/**
 * Writes an entry's data at the start of `fh`. Chunks are gathered into
 * ~1 MiB writes, and one write is in flight while the next batch fills, so
 * reading the tar stream (and inflating it) goes on during the write's trip
 * to the thread pool instead of waiting for it.
 */
async function writeBody(fh: FileHandle, body: AsyncIterable<Buffer>): Promise<void> {
  let position = 0;
  let pending: Promise<void> | undefined;
  let batch: Buffer[] = [];
  let batched = 0;
  const writeAll = async (data: Buffer, at: number): Promise<void> => {
    for (let done = 0; done < data.byteLength; ) {
      const { bytesWritten } = await fh.write(data, done, data.byteLength - done, at + done);
      done += bytesWritten;
    }
  };
  const flush = async (): Promise<void> => {
    const data = batch.length === 1 ? batch[0]! : Buffer.concat(batch, batched);
    batch = [];
    batched = 0;
    if (pending) await pending;
    pending = writeAll(data, position);
    // Its failure is taken up by the next flush or the end; until then it must not count as unhandled.
    pending.catch(() => {});
    position += data.byteLength;
  };
  try {
    for await (const chunk of body) {
      batch.push(chunk);
      batched += chunk.byteLength;
      if (batched >= FILE_WRITE_BATCH_BYTES) await flush();
    }
    if (batched > 0) await flush();
    await pending;
  } finally {
    // A failure midway must not leave a write running on a handle about to be closed.
    await pending?.catch(() => {});
  }
}

class LayerApplier {
  readonly #root: string;
  readonly #whiteouts: 'overlay' | 'delete';
  readonly #ownership: boolean;
  readonly #devices: 'create' | 'reject' | 'skip';
  /** Directory times are set last, deepest first, so writing children does not change them. */
  readonly #dirTimes: { path: string; mtime: Date }[] = [];
  /** Entry parent (cleaned, joined) → resolved absolute directory, valid while nothing is removed. */
  readonly #dirCache = new Map<string, string>();
  /** Paths this layer wrote: an opaque marker hides lower layers only, whatever the entry order. */
  readonly #written = new Set<string>();
  readonly #specials: SpecialFiles;

  constructor(root: string, options: ApplyLayerOptions) {
    this.#root = root;
    this.#specials = new SpecialFiles(root);
    this.#whiteouts = options.whiteouts ?? 'overlay';
    this.#ownership = options.ownership ?? process.getuid?.() === 0;
    this.#devices = options.devices ?? 'create';
  }

  async apply(h: Header, body: AsyncIterable<Buffer>): Promise<void> {
    const name = h.name;
    const parts = cleanEntryPath(name);
    if (parts.length === 0) return; // the layer's root: the target keeps its own metadata
    const base = parts[parts.length - 1]!;

    if (base.startsWith(WHITEOUT_PREFIX)) {
      await this.#whiteout(name, parts, base);
      return;
    }

    const parent = await this.#parentDir(parts, name);
    const path = `${parent}/${base}`;
    if (this.#whiteouts === 'delete') this.#written.add(path);

    if (h.type === 'directory') {
      const existing = await lstat(path).catch((err) => (isErrno(err, 'ENOENT') ? undefined : Promise.reject(err)));
      if (existing && !existing.isDirectory()) await this.#remove(path, existing.isDirectory() || existing.isSymbolicLink());
      if (!existing || !existing.isDirectory()) await mkdir(path, { mode: 0o700 });
      await this.#meta(path, h, 'dir');
      this.#dirTimes.push({ path, mtime: h.mtime ?? new Date(0) });
      return;
    }

    await this.#clear(path);
    switch (h.type) {
      case 'file':
      case 'contiguous-file':
        await this.#writeFile(path, h, body as AsyncIterable<Buffer>);
        return;
      case 'symlink':
        await symlink(h.linkname ?? '', path);
        await this.#meta(path, h, 'symlink');
        return;
      case 'link': {
        const targetParts = cleanEntryPath(h.linkname ?? '', `hardlink target of \`${name}\`:`);
        if (targetParts.length === 0) throw unsafe(name, `links to the target directory itself`);
        const tparent = await resolveParentInRoot(this.#root, targetParts, name);
        const tpath = `${this.#root}/${[...tparent.parent, tparent.name].join('/')}`;
        const tst = await lstat(tpath).catch(() => undefined);
        if (!tst) throw new BerthError('LAYER_INVALID', `layer entry \`${name}\` links to \`${h.linkname}\`, which the layer does not contain`);
        if (tst.isDirectory()) throw new BerthError('LAYER_INVALID', `layer entry \`${name}\` is a hardlink to a directory`);
        await link(tpath, path);
        return;
      }
      case 'fifo':
        await this.#specials.makeNode(parent, base, 'p', h.mode ?? 0o644, 0, 0, name);
        await this.#meta(path, h, 'node');
        return;
      case 'character-device':
      case 'block-device':
        if (this.#devices === 'skip') return;
        if (this.#devices === 'reject') throw unsafe(name, `is a device node, which is not allowed here`);
        await this.#specials.makeNode(parent, base, h.type === 'block-device' ? 'b' : 'c', h.mode ?? 0o600, h.devmajor ?? 0, h.devminor ?? 0, name);
        await this.#meta(path, h, 'node');
        return;
      default:
        throw new BerthError('LAYER_INVALID', `layer entry \`${name}\` has type \`${String(h.type)}\`, which cannot be unpacked`);
    }
  }

  /** Ends the special-files helper, if one was started. */
  close(): Promise<void> {
    return this.#specials.close();
  }

  async finish(): Promise<void> {
    for (let i = this.#dirTimes.length - 1; i >= 0; i--) {
      const { path, mtime } = this.#dirTimes[i]!;
      await lutimes(path, mtime, mtime).catch((err) => (isErrno(err, 'ENOENT') ? undefined : Promise.reject(err)));
    }
  }

  async #whiteout(name: string, parts: string[], base: string): Promise<void> {
    const parent = await this.#parentDir(parts, name);
    if (base === OPAQUE_MARKER) {
      if (this.#whiteouts === 'overlay') {
        await this.#specials.setXattr(parent, '.', 'trusted.overlay.opaque', Buffer.from('y'), name);
      } else {
        // Opaque in a full tree: drop what lower layers put in the directory.
        await this.#removeLowerChildren(parent);
      }
      return;
    }
    if (base.startsWith(WHITEOUT_META_PREFIX)) return;
    const victim = base.slice(WHITEOUT_PREFIX.length);
    if (victim === '' || victim === '.' || victim === '..') throw unsafe(name, `is a whiteout naming \`${victim}\``);
    const path = `${parent}/${victim}`;
    if (this.#whiteouts === 'overlay') {
      await this.#clear(path);
      await this.#specials.makeNode(parent, victim, 'c', 0, 0, 0, name);
    } else {
      await this.#clear(path);
    }
  }

  async #removeLowerChildren(dir: string): Promise<void> {
    for (const child of await readdir(dir)) {
      const path = `${dir}/${child}`;
      if (!this.#written.has(path)) await rm(path, { recursive: true, force: true });
    }
    this.#dirCache.clear();
  }

  /** The resolved parent directory of `parts`, created (0755, root-owned) where missing. */
  async #parentDir(parts: string[], name: string): Promise<string> {
    const key = parts.slice(0, -1).join('/');
    const cached = this.#dirCache.get(key);
    if (cached !== undefined) return cached;
    const r = await resolveParentInRoot(this.#root, parts, name);
    let dir = this.#root;
    for (let i = 0; i < r.parent.length; i++) {
      dir = `${dir}/${r.parent[i]}`;
      if (i >= r.existing) {
        try {
          await mkdir(dir, { mode: 0o755 });
          if (this.#whiteouts === 'delete') this.#written.add(dir);
        } catch (err) {
          if (!isErrno(err, 'EEXIST')) throw err;
          const st = await lstat(dir);
          if (!st.isDirectory()) throw new BerthError('LAYER_INVALID', `layer entry \`${name}\`: \`${dir}\` is not a directory`);
        }
      }
    }
    this.#dirCache.set(key, dir);
    return dir;
  }

  /** Removes whatever is at `path` (never following it). */
  async #clear(path: string): Promise<void> {
    const st = await lstat(path).catch((err) => (isErrno(err, 'ENOENT') ? undefined : Promise.reject(err)));
    if (st) await this.#remove(path, st.isDirectory() || st.isSymbolicLink());
  }

  async #remove(path: string, invalidates: boolean): Promise<void> {
    // rm on a symlink removes the link, never what it points to.
    await rm(path, { recursive: true, force: true });
    // A removed directory or symlink may be a cached parent or on the way to one.
    if (invalidates) this.#dirCache.clear();
  }

  async #writeFile(path: string, h: Header, body: AsyncIterable<Buffer>): Promise<void> {
    const fh = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    try {
      await writeBody(fh, body);
      // chown before chmod: chown clears setuid/setgid bits.
      if (this.#ownership) await fh.chown(h.uid ?? 0, h.gid ?? 0);
      await fh.chmod((h.mode ?? 0o644) & 0o7777);
      const mtime = h.mtime ?? new Date(0);
      await fh.utimes(mtime, mtime);
    } finally {
      await fh.close();
    }
    await this.#xattrs(path, h);
  }

  /** Owner, mode and times without following `path` (dirs and nodes are never symlinks here). */
  async #meta(path: string, h: Header, kind: 'dir' | 'symlink' | 'node'): Promise<void> {
    if (this.#ownership) await lchown(path, h.uid ?? 0, h.gid ?? 0);
    if (kind !== 'symlink') await chmod(path, (h.mode ?? 0o755) & 0o7777);
    await this.#xattrs(path, h);
    if (kind !== 'dir') {
      const mtime = h.mtime ?? new Date(0);
      await lutimes(path, mtime, mtime);
    }
  }

  async #xattrs(path: string, h: Header): Promise<void> {
    if (!h.xattrs) return;
    const slash = path.lastIndexOf('/');
    for (const [attr, value] of h.xattrs) {
      await this.#specials.setXattr(path.slice(0, slash), path.slice(slash + 1), attr, value, h.name);
    }
  }
}

