/**
 * Export to an OCI image layout, as a directory (`exportOciLayout`, what
 * skopeo reads as `oci:DIR`) or as a tar stream (`exportOciArchive`,
 * `oci-archive:FILE`, what `podman load` takes). Blobs are written as the
 * store holds them (compressed layers stay compressed); `index.json` names
 * each image with `io.containerd.image.name` (the full reference) and
 * `org.opencontainers.image.ref.name` (its tag), as containerd and Docker
 * 25+ do.
 *
 *   await exportOciArchive([{ name: 'busybox:1', descriptor }], store, createWriteStream('busybox.tar'));
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, rename, rm, rmdir, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BerthError, isErrno } from '../../errors/index.js';
import type { ContentStore } from '../content/index.js';
import { parseDigest } from '../digest/digest.js';
import type { ArchiveImage } from './archive-image.js';
import { blobEntryName } from './entry-name.js';
import { planOciExport, type ExportOptions } from './export-plan.js';
import { writeTar, type TarEntry } from './tar-writer.js';

const OCI_LAYOUT = Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' }));

/**
 * Writes a layout directory at `dir`, which must not exist or be empty. It
 * is built beside `dir` and renamed into place, so a failure leaves nothing.
 */
export async function exportOciLayout(images: readonly ArchiveImage[], store: ContentStore, dir: string, options: ExportOptions = {}): Promise<void> {
  const plan = await planOciExport(images, store, options);
  const existing = await readdir(dir).catch((err: unknown) => {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw err;
  });
  if (existing && existing.length > 0) throw new BerthError('ARGUMENT_INVALID', `export target \`${dir}\` exists and is not empty`);
  const tmp = join(dirname(dir), `.${basename(dir)}.tmp-${randomBytes(6).toString('hex')}`);
  try {
    await mkdir(tmp, { mode: 0o755 });
    for (const blob of plan.blobs) {
      options.signal?.throwIfAborted();
      const { algorithm, encoded } = parseDigest(blob.digest);
      const path = join(tmp, blobEntryName(algorithm, encoded));
      await mkdir(dirname(path), { recursive: true, mode: 0o755 });
      await pipeline(await store.createReadStream(blob.digest), createWriteStream(path, { flags: 'wx', mode: 0o644 }));
    }
    await writeFile(join(tmp, 'oci-layout'), OCI_LAYOUT, { mode: 0o644 });
    await writeFile(join(tmp, 'index.json'), JSON.stringify(plan.index), { mode: 0o644 });
    if (existing) await rmdir(dir);
    await rename(tmp, dir);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
}

/** Writes the layout as a tar stream to `out` (entries sorted, epoch mtimes). Nothing is written when a blob is missing. */
export async function exportOciArchive(images: readonly ArchiveImage[], store: ContentStore, out: Writable, options: ExportOptions = {}): Promise<void> {
  const plan = await planOciExport(images, store, options);
  const entries: TarEntry[] = [{ name: 'blobs/', type: 'directory' }];
  const algorithms = new Set<string>();
  for (const blob of plan.blobs) {
    const { algorithm, encoded } = parseDigest(blob.digest);
    if (!algorithms.has(algorithm)) {
      algorithms.add(algorithm);
      entries.push({ name: `blobs/${algorithm}/`, type: 'directory' });
    }
    entries.push({ name: blobEntryName(algorithm, encoded), type: 'file', sizeBytes: blob.size, open: () => store.createReadStream(blob.digest) });
  }
  entries.push({ name: 'index.json', type: 'file', bytes: Buffer.from(JSON.stringify(plan.index)) });
  entries.push({ name: 'oci-layout', type: 'file', bytes: OCI_LAYOUT });
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  await writeTar(entries, out, options.signal);
}
