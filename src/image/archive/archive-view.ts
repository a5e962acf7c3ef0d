/**
 * `ArchiveView`: random access by entry name to the files of an image
 * archive, whether it is an OCI layout directory (`DirectoryView`) or a tar
 * stream spooled to disk (`TarView`). The importers read archives only
 * through this, so each format is parsed once whatever its container.
 */
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { BerthError } from '../../errors/index.js';
import { parseDigest } from '../digest/digest.js';
import { blobEntryName } from './entry-name.js';

export interface ArchiveView {
  /** How errors name the archive (its path, or `archive`). */
  readonly label: string;
  /** Whether the entry exists (links followed); undefined when absent. Throws for entries that are not files. */
  find(name: string): Promise<{ name: string; sizeBytes: number } | undefined>;
  /** The entry's bytes from `start` on. */
  open(name: string, options?: { start?: number }): Promise<Readable>;
  /** The entry's digest in `algorithm` (sha256 may be known already). */
  digestOf(name: string, algorithm: string): Promise<string>;
  /** Releases what the view holds (a spool directory). Idempotent. */
  close(): Promise<void>;
}

/** Hashes an entry by reading it. */
export async function hashEntry(view: ArchiveView, name: string, algorithm: string): Promise<string> {
  const hash = createHash(algorithm);
  for await (const chunk of await view.open(name)) hash.update(chunk as Buffer);
  return `${algorithm}:${hash.digest('hex')}`;
}

/**
 * A small entry (JSON) read whole: absent is `ARCHIVE_INVALID`, larger than
 * `maxBytes` too, before a byte is read (an archive cannot make berth hold
 * an arbitrarily large document in memory).
 */
export async function readEntry(view: ArchiveView, name: string, maxBytes: number, what = `\`${name}\``): Promise<Buffer> {
  const info = await view.find(name);
  if (!info) throw new BerthError('ARCHIVE_INVALID', `${view.label}: ${what} is missing from the archive`);
  if (info.sizeBytes > maxBytes) {
    throw new BerthError('ARCHIVE_INVALID', `${view.label}: archive entry \`${info.name}\` is ${info.sizeBytes} bytes, more than the ${maxBytes} allowed for a JSON document`);
  }
  const chunks: Buffer[] = [];
  for await (const chunk of await view.open(name)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/**
 * Checks that the archive holds the blob a descriptor names, with the
 * descriptor's size and digest, and returns its entry name. `owner` says
 * who named the blob, for the error (`manifest sha256:… layers[0]`).
 */
export async function verifyBlobEntry(view: ArchiveView, desc: { digest: string; size: number }, owner: string): Promise<string> {
  const { algorithm, encoded } = parseDigest(desc.digest);
  const name = blobEntryName(algorithm, encoded);
  const info = await view.find(name);
  if (!info) throw new BerthError('ARCHIVE_INVALID', `${view.label}: ${owner} names blob ${desc.digest}, but the archive has no \`${name}\``);
  if (info.sizeBytes !== desc.size) {
    throw new BerthError('CONTENT_SIZE_MISMATCH', `${view.label}: archive entry \`${name}\` is ${info.sizeBytes} bytes, but ${owner} says ${desc.size}; nothing was committed`);
  }
  const actual = await view.digestOf(name, algorithm);
  if (actual !== desc.digest) {
    throw new BerthError('CONTENT_DIGEST_MISMATCH', `${view.label}: archive entry \`${name}\` hashes to ${actual}, not the digest its name says; nothing was committed`);
  }
  return name;
}

/** A verified blob's bytes (manifests, indexes, configs), capped. */
export async function readBlobEntry(view: ArchiveView, desc: { digest: string; size: number }, owner: string, maxBytes: number): Promise<Buffer> {
  const name = await verifyBlobEntry(view, desc, owner);
  return readEntry(view, name, maxBytes);
}
