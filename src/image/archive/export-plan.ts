/**
 * Export planning: from the records the caller hands in, find every blob
 * an archive needs in the content store, and fail (naming the image and the
 * digest) before a byte of output is written when one is missing. Both
 * writers start from here.
 */
import { BerthError } from '../../errors/index.js';
import type { ContentStore } from '../content/index.js';
import { isIndexMediaType, isManifestMediaType } from '../manifest/media-types.js';
import { parseManifest } from '../manifest/parse-manifest.js';
import { defaultPlatform, parsePlatform, selectManifest } from '../manifest/platform.js';
import type { Descriptor, ImageIndex, ImageManifest, Platform } from '../manifest/types.js';
import { formatReference, parseDockerReference, type ImageReference } from '../reference/index.js';
import { ANNOTATION_IMAGE_NAME, ANNOTATION_REF_NAME, MAX_JSON_BYTES, type ArchiveImage } from './archive-image.js';

export interface ExportOptions {
  /**
   * OCI layouts: export only this platform's manifest of an index (default:
   * the whole index, with the platforms the store holds). Docker archives
   * always hold one platform: this one, or the host's.
   */
  platform?: Platform | string;
  signal?: AbortSignal;
}

/** The name of an export record, parsed (`REFERENCE_INVALID` naming it otherwise). */
export function parseExportName(image: ArchiveImage): ImageReference | undefined {
  return image.name === undefined ? undefined : parseDockerReference(image.name);
}

/** How errors name an image being exported. */
export function imageLabel(image: ArchiveImage): string {
  return `image \`${image.name ?? image.descriptor.digest}\``;
}

/** Checks a blob is in the store with the descriptor's size. */
export async function requireBlob(store: ContentStore, d: Descriptor, owner: string): Promise<void> {
  const info = await store.findInfo(d.digest);
  if (!info) throw new BerthError('CONTENT_NOT_FOUND', `${owner}: blob ${d.digest} is not in the content store; pull the image again`);
  if (info.sizeBytes !== d.size) {
    throw new BerthError('CONTENT_SIZE_MISMATCH', `${owner}: blob ${d.digest} is ${info.sizeBytes} bytes in the content store, but its descriptor says ${d.size}`);
  }
}

/** A manifest or index from the store, parsed. */
export async function readManifest(store: ContentStore, d: Descriptor, owner: string) {
  await requireBlob(store, d, owner);
  return parseManifest(await store.readBlob(d.digest, { maxBytes: MAX_JSON_BYTES }), { name: d.digest, mediaType: d.mediaType });
}

/** One platform's manifest: the descriptor itself, or the index entry for `platform` (default: the host's). */
export async function platformManifest(
  store: ContentStore,
  image: ArchiveImage,
  platform: Platform | string | undefined,
): Promise<{ descriptor: Descriptor; manifest: ImageManifest }> {
  let d = image.descriptor;
  const want = typeof platform === 'string' ? parsePlatform(platform) : (platform ?? defaultPlatform());
  for (let depth = 0; depth < 4; depth++) {
    const parsed = await readManifest(store, d, imageLabel(image));
    if (parsed.kind === 'manifest') return { descriptor: d, manifest: parsed.manifest };
    d = selectManifest(parsed.index, want, image.name ?? image.descriptor.digest);
  }
  throw new BerthError('MANIFEST_INVALID', `${imageLabel(image)}: indexes nested too deep`);
}

export interface OciExportPlan {
  /** `index.json`. */
  index: ImageIndex;
  /** Every blob, once, sorted by digest. */
  blobs: Descriptor[];
}

export async function planOciExport(images: readonly ArchiveImage[], store: ContentStore, options: ExportOptions = {}): Promise<OciExportPlan> {
  const blobs = new Map<string, Descriptor>();
  const entries: Descriptor[] = [];
  for (const image of images) {
    options.signal?.throwIfAborted();
    const ref = parseExportName(image);
    let root = image.descriptor;
    if (options.platform !== undefined && isIndexMediaType(root.mediaType)) {
      const chosen = await platformManifest(store, image, options.platform);
      root = chosen.descriptor;
    }
    await collect(store, root, imageLabel(image), blobs, 0);
    const annotations: Record<string, string> = { ...(root.annotations ?? {}) };
    // As containerd and Docker 25+ write it: the full name for berth and
    // Docker, the tag alone for skopeo's `oci:DIR:TAG` and podman.
    if (ref) {
      annotations[ANNOTATION_IMAGE_NAME] = formatReference(ref);
      if (ref.tag !== undefined) annotations[ANNOTATION_REF_NAME] = ref.tag;
    }
    const entry: Descriptor = { mediaType: root.mediaType, digest: root.digest, size: root.size };
    if (root.platform) entry.platform = root.platform;
    if (Object.keys(annotations).length > 0) entry.annotations = annotations;
    entries.push(entry);
  }
  return {
    index: { schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: entries },
    blobs: [...blobs.values()].sort((a, b) => (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0)),
  };
}

/**
 * Adds `d` and everything it names. Of an index, the manifests the store
 * holds are taken (a pull stores one platform); at least one must be there.
 */
async function collect(store: ContentStore, d: Descriptor, owner: string, blobs: Map<string, Descriptor>, depth: number): Promise<void> {
  if (blobs.has(d.digest)) return;
  if (!isIndexMediaType(d.mediaType) && !isManifestMediaType(d.mediaType)) {
    throw new BerthError('MANIFEST_UNSUPPORTED', `${owner}: ${d.digest} has media type \`${d.mediaType}\`, which is not an image manifest or index`);
  }
  const parsed = await readManifest(store, d, owner);
  if (parsed.kind === 'index') {
    if (depth >= 4) throw new BerthError('MANIFEST_INVALID', `${owner}: indexes nested too deep`);
    let present = 0;
    for (const child of parsed.index.manifests) {
      if (!(await store.findInfo(child.digest))) continue;
      present += 1;
      await collect(store, child, owner, blobs, depth + 1);
    }
    if (present === 0) throw new BerthError('CONTENT_NOT_FOUND', `${owner}: none of the manifests of index ${d.digest} is in the content store`);
  } else {
    for (const blob of [parsed.manifest.config, ...parsed.manifest.layers]) {
      await requireBlob(store, blob, owner);
      blobs.set(blob.digest, { mediaType: blob.mediaType, digest: blob.digest, size: blob.size });
    }
  }
  blobs.set(d.digest, { mediaType: d.mediaType, digest: d.digest, size: d.size });
}
