/**
 * `spoolTar`: reads an image archive tar stream (plain, gzip or zstd)
 * once and keeps each regular file in a spool directory, named by a
 * counter, with its size and sha256 taken on the way. `docker save` may put
 * `manifest.json` anywhere (often last), so nothing can be decided before
 * the stream ends; spooling lets the importers then read the archive in any
 * order, never holding a layer in memory, and validate everything before
 * the first blob reaches the content store.
 *
 * Entry names are cleaned (`..` and absolute names refused, naming the
 * entry) and are only ever keys into the spool's table: no file is created
 * under a name from the archive. Links are kept as table entries and
 * resolved inside the table; links under `blobs/` are refused (an OCI
 * layout holds blobs as files), devices and fifos too.
 */
import { createReadStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import * as tar from 'tar-stream';
import { BerthError, isBerthError } from '../../errors/index.js';
import { decompressor, peekCompression } from '../unpack/decompress.js';
import { hashEntry, type ArchiveView } from './archive-view.js';
import { cleanEntryName, linkTarget, MAX_LINK_HOPS } from './entry-name.js';
import { spoolFile } from './spool-file.js';

export interface SpoolTarOptions {
  /** Where the spool directory is made (default: the OS temp dir); pick a disk with room for the archive. */
  spoolDir?: string;
  /** How errors name the archive. Default `archive`. */
  label?: string;
  /** Most entries accepted (each costs a table row). Default 100000. */
  maxEntries?: number;
  signal?: AbortSignal;
}

type SpoolEntry =
  | { kind: 'file'; path: string; sizeBytes: number; sha256: string }
  | { kind: 'link'; type: 'symlink' | 'hardlink'; target: string };

export class TarView implements ArchiveView {
  readonly label: string;
  readonly #dir: string;
  readonly #entries: Map<string, SpoolEntry>;
  #closed = false;

  constructor(label: string, dir: string, entries: Map<string, SpoolEntry>) {
    this.label = label;
    this.#dir = dir;
    this.#entries = entries;
  }

  /** The file entry a name leads to, links followed inside the table. */
  #resolve(name: string): { name: string; entry: Extract<SpoolEntry, { kind: 'file' }> } | undefined {
    let current = cleanEntryName(name);
    for (let hop = 0; hop <= MAX_LINK_HOPS; hop++) {
      const entry = this.#entries.get(current);
      if (entry === undefined) {
        if (hop === 0) return undefined;
        throw new BerthError('ARCHIVE_INVALID', `${this.label}: archive entry \`${name}\` links to \`${current}\`, which the archive does not have`);
      }
      if (entry.kind === 'file') return { name: current, entry };
      current = entry.target;
    }
    throw new BerthError('ARCHIVE_INVALID', `${this.label}: archive entry \`${name}\` is a chain of more than ${MAX_LINK_HOPS} links`);
  }

  async find(name: string): Promise<{ name: string; sizeBytes: number } | undefined> {
    const found = this.#resolve(name);
    return found && { name: found.name, sizeBytes: found.entry.sizeBytes };
  }

  async open(name: string, options: { start?: number } = {}): Promise<Readable> {
    const found = this.#resolve(name);
    if (!found) throw new BerthError('ARCHIVE_INVALID', `${this.label}: archive entry \`${name}\` is missing`);
    return createReadStream(found.entry.path, { start: options.start ?? 0 });
  }

  async digestOf(name: string, algorithm: string): Promise<string> {
    const found = this.#resolve(name);
    if (found && algorithm === 'sha256') return `sha256:${found.entry.sha256}`;
    return hashEntry(this, name, algorithm);
  }

  /** Names of the entries, links included (for format detection and tests). */
  names(): string[] {
    return [...this.#entries.keys()];
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await rm(this.#dir, { recursive: true, force: true });
  }
}

/** Spools a tar stream; the caller must `close()` the view. On failure nothing is left behind. */
export async function spoolTar(source: AsyncIterable<Uint8Array>, options: SpoolTarOptions = {}): Promise<TarView> {
  const label = options.label ?? 'archive';
  const maxEntries = options.maxEntries ?? 100_000;
  const dir = await mkdtemp(join(options.spoolDir ?? tmpdir(), 'berth-archive-'));
  const entries = new Map<string, SpoolEntry>();
  const extract = tar.extract();
  let feedError: unknown;
  let input: Readable | undefined;
  try {
    const { compression, stream } = await peekCompression(source);
    input = stream;
    const gunzip = decompressor(compression);
    const tarBytes: AsyncIterable<Buffer> = gunzip ? stream.pipe(gunzip) : stream;
    if (gunzip) stream.on('error', (err) => gunzip.destroy(err));
    const feed = (async () => {
      for await (const chunk of tarBytes) {
        if (!extract.write(chunk)) await once(extract as unknown as NodeJS.EventEmitter, 'drain');
      }
      (extract as unknown as NodeJS.WritableStream).end();
    })().catch((err: unknown) => {
      feedError ??= err;
      extract.destroy(err as Error);
    });

    let count = 0;
    for await (const entry of extract) {
      options.signal?.throwIfAborted();
      const h = entry.header;
      if (++count > maxEntries) throw new BerthError('ARCHIVE_INVALID', `${label}: more than ${maxEntries} entries`);
      const name = cleanEntryName(h.name);
      if (h.type === 'directory') {
        entry.resume();
        continue;
      }
      if (entries.has(name)) throw new BerthError('ARCHIVE_INVALID', `${label}: archive entry \`${name}\` appears twice`);
      if (h.type === 'file' || h.type === 'contiguous-file') {
        const path = join(dir, String(count));
        const { sizeBytes, hex } = await spoolFile(path, 'sha256', entry as unknown as Readable);
        entries.set(name, { kind: 'file', path, sizeBytes, sha256: hex });
      } else if (h.type === 'symlink' || h.type === 'link') {
        const type = h.type === 'link' ? 'hardlink' : 'symlink';
        entry.resume();
        if (name.startsWith('blobs/')) {
          throw new BerthError('ARCHIVE_INVALID', `${label}: archive entry \`${name}\` is a ${type}; blobs must be regular files`);
        }
        entries.set(name, { kind: 'link', type, target: linkTarget(name, type, h.linkname ?? '') });
      } else {
        entry.resume();
        throw new BerthError('ARCHIVE_INVALID', `${label}: archive entry \`${name}\` is a ${h.type ?? 'entry of unknown type'}; an image archive holds only files, directories and links`);
      }
    }
    await feed;
    if (feedError !== undefined) throw feedError;
    return new TarView(label, dir, entries);
  } catch (caught) {
    const err = isBerthError(feedError) ? feedError : caught;
    extract.destroy();
    input?.destroy();
    await rm(dir, { recursive: true, force: true });
    // The decompression helpers speak of a layer (bzip2 and xz refused, a corrupt zstd stream): say archive.
    if (isBerthError(err, 'LAYER_UNSUPPORTED') || isBerthError(err, 'LAYER_INVALID')) {
      throw new BerthError('ARCHIVE_INVALID', `${label}: ${err.message.replace(/^layer/, 'the archive')}`, { cause: err });
    }
    if (isBerthError(err)) throw err;
    // File-system errors (a full spool disk) are the host's, not the archive's.
    const isSystemError = typeof (err as NodeJS.ErrnoException)?.syscall === 'string';
    if (err instanceof Error && err.name !== 'AbortError' && !isSystemError) {
      throw new BerthError('ARCHIVE_INVALID', `${label}: not a readable tar stream: ${err.message}`, { cause: err });
    }
    throw err;
  }
}
