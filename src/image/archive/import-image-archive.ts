/**
 * Import of any image archive berth reads, by what it contains:
 *
 *   an OCI image layout directory                       → importOciLayout
 *   a tar (or tar.gz) with `oci-layout` and `index.json` → importOciLayout
 *     (`oci-archive`, and Docker 25+ `docker save`, whose index.json names
 *     the images with `io.containerd.image.name` and keeps their real
 *     manifest digests)
 *   a tar with `manifest.json` only                      → importDockerArchive
 *     (Docker before 25, podman, skopeo `docker-archive:`)
 *
 *   const images = await importImageArchive('/tmp/busybox.tar', store);
 *   // [{ name: 'busybox:latest', descriptor: { mediaType, digest, size } }]
 *
 * Nothing reaches the store unless the whole archive verified: a bad entry
 * name, a link where a blob should be, a blob that lies about its digest or
 * size, a document over the cap, a missing layer, an unknown media type
 * each fail with an error naming the entry or digest, and leave no blob and
 * no ingest.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { BerthError } from '../../errors/index.js';
import type { ContentStore } from '../content/index.js';
import type { ArchiveView } from './archive-view.js';
import type { ArchiveImage } from './archive-image.js';
import { DirectoryView } from './directory-view.js';
import { importDockerArchive } from './docker-archive-import.js';
import { importOciLayout, type ImportOptions } from './oci-layout-import.js';
import { spoolTar } from './tar-view.js';

export interface ImportArchiveOptions extends ImportOptions {
  /** Where a tar stream is spooled while it is checked (default: the OS temp dir). */
  spoolDir?: string;
}

export type ArchiveFormat = 'oci' | 'docker';

/** Which format a view holds; `ARCHIVE_INVALID` when neither. */
export async function detectArchiveFormat(view: ArchiveView): Promise<ArchiveFormat> {
  if ((await view.find('index.json')) && (await view.find('oci-layout'))) return 'oci';
  if (await view.find('manifest.json')) return 'docker';
  throw new BerthError('ARCHIVE_INVALID', `${view.label}: neither an OCI image layout (\`oci-layout\` and \`index.json\`) nor a docker save archive (\`manifest.json\`)`);
}

/** Imports from a view already opened; the caller closes it. */
export async function importFromView(view: ArchiveView, store: ContentStore, options: ImportOptions = {}): Promise<ArchiveImage[]> {
  const format = await detectArchiveFormat(view);
  return format === 'oci' ? importOciLayout(view, store, options) : importDockerArchive(view, store, options);
}

/**
 * Imports from a path (an OCI layout directory, or a tar or tar.gz file) or
 * from a stream of tar bytes (a `docker load` request body).
 */
export async function importImageArchive(source: string | AsyncIterable<Uint8Array>, store: ContentStore, options: ImportArchiveOptions = {}): Promise<ArchiveImage[]> {
  let view: ArchiveView;
  if (typeof source === 'string') {
    const st = await stat(source).catch((err: unknown) => {
      throw new BerthError('ARCHIVE_INVALID', `image archive \`${source}\` cannot be read: ${(err as Error).message}`, { cause: err });
    });
    view = st.isDirectory()
      ? new DirectoryView(source)
      : await spoolTar(createReadStream(source), { label: `image archive \`${source}\``, ...spoolOptions(options) });
  } else {
    view = await spoolTar(source, spoolOptions(options));
  }
  try {
    return await importFromView(view, store, options);
  } finally {
    await view.close();
  }
}

function spoolOptions(options: ImportArchiveOptions): { spoolDir?: string; signal?: AbortSignal } {
  return { ...(options.spoolDir ? { spoolDir: options.spoolDir } : {}), ...(options.signal ? { signal: options.signal } : {}) };
}
