/**
 * Import of a `docker save` archive in the legacy layout that Docker before
 * 25, podman and skopeo (`docker-archive:`) write:
 *
 *   manifest.json        [{"Config": "<hex>.json", "RepoTags": ["busybox:1"], "Layers": ["<id>/layer.tar", ...]}]
 *   <hex>.json           the image config
 *   <id>/layer.tar       a layer, usually uncompressed; Docker writes a layer two images
 *                        share once and links the second path to it
 *   repositories, <id>/json, <id>/VERSION   legacy metadata, not read
 *
 * The format gives no layer digests, so each layer is hashed (it is
 * spooled already); its diff ID (the digest of the uncompressed tar, hashed
 * through gunzip when a writer compressed it) must equal the config's
 * `rootfs.diff_ids` entry. berth then builds the Docker schema 2 manifest
 * the image would have had in a registry, as containerd's importer does:
 * config `application/vnd.docker.container.image.v1+json`, layers
 * `application/vnd.docker.image.rootfs.diff.tar` (or `.tar.gzip`).
 */
import { createHash } from 'node:crypto';
import { BerthError } from '../../errors/index.js';
import type { ContentStore } from '../content/index.js';
import { sha256Of } from '../digest/digest.js';
import { MEDIA_TYPE } from '../manifest/media-types.js';
import { parseImageConfig } from '../manifest/parse-manifest.js';
import type { Descriptor, ImageManifest } from '../manifest/types.js';
import { parseDockerReference } from '../reference/index.js';
import { decompressor, peekCompression } from '../unpack/decompress.js';
import { readEntry, type ArchiveView } from './archive-view.js';
import { DOCKER_LAYER_TAR, MAX_CONFIG_BYTES, MAX_JSON_BYTES, type ArchiveImage } from './archive-image.js';
import { addPending, commitBlobs, type PendingBlob } from './commit-blobs.js';
import { cleanEntryName } from './entry-name.js';
import type { ImportOptions } from './oci-layout-import.js';

interface ManifestEntry {
  Config: string;
  RepoTags: string[];
  Layers: string[];
}

function parseManifestJson(bytes: Buffer, label: string): ManifestEntry[] {
  const bad = (why: string): BerthError => new BerthError('ARCHIVE_INVALID', `${label}: \`manifest.json\` ${why}`);
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw bad(`is not valid JSON (${(err as Error).message})`);
  }
  if (!Array.isArray(doc)) throw bad('must be an array of images');
  return doc.map((item: unknown, i): ManifestEntry => {
    if (typeof item !== 'object' || item === null || Array.isArray(item)) throw bad(`[${i}] must be an object`);
    const { Config, RepoTags, Layers, LayerSources } = item as Record<string, unknown>;
    if (typeof Config !== 'string') throw bad(`[${i}].Config must be a string`);
    if (RepoTags !== undefined && RepoTags !== null && !(Array.isArray(RepoTags) && RepoTags.every((t) => typeof t === 'string'))) {
      throw bad(`[${i}].RepoTags must be an array of strings`);
    }
    if (!Array.isArray(Layers) || !Layers.every((l) => typeof l === 'string')) throw bad(`[${i}].Layers must be an array of strings`);
    if (LayerSources !== undefined && LayerSources !== null) {
      throw new BerthError('MANIFEST_UNSUPPORTED', `${label}: \`manifest.json\` [${i}] has LayerSources (foreign layers), which berth does not import`);
    }
    return { Config, RepoTags: (RepoTags as string[] | null | undefined) ?? [], Layers };
  });
}

/** Digest and diff ID of a layer entry, and its media type by what its bytes are. */
async function describeLayer(view: ArchiveView, entry: string): Promise<{ digest: string; diffId: string; mediaType: string; size: number }> {
  const info = await view.find(entry);
  if (!info) throw new BerthError('INTERNAL', `layer entry ${entry} vanished`);
  const digest = await view.digestOf(entry, 'sha256');
  const { compression, stream } = await peekCompression(await view.open(entry));
  if (compression === 'none') {
    stream.destroy();
    return { digest, diffId: digest, mediaType: DOCKER_LAYER_TAR, size: info.sizeBytes };
  }
  if (compression !== 'gzip') {
    stream.destroy();
    throw new BerthError('MANIFEST_UNSUPPORTED', `${view.label}: layer \`${entry}\` is ${compression}-compressed; a docker archive holds tar or gzip layers`);
  }
  const hash = createHash('sha256');
  try {
    for await (const chunk of stream.pipe(decompressor('gzip')!)) hash.update(chunk as Buffer);
  } catch (err) {
    stream.destroy();
    throw new BerthError('ARCHIVE_INVALID', `${view.label}: layer \`${entry}\` is not a readable gzip stream: ${(err as Error).message}`, { cause: err });
  }
  return { digest, diffId: `sha256:${hash.digest('hex')}`, mediaType: MEDIA_TYPE.dockerLayerGzip, size: info.sizeBytes };
}

export async function importDockerArchive(view: ArchiveView, store: ContentStore, options: ImportOptions = {}): Promise<ArchiveImage[]> {
  const maxJson = options.maxJsonBytes ?? MAX_JSON_BYTES;
  const entries = parseManifestJson(await readEntry(view, 'manifest.json', maxJson), view.label);
  const pending = new Map<string, PendingBlob>();
  const layerCache = new Map<string, Awaited<ReturnType<typeof describeLayer>>>();
  const images: ArchiveImage[] = [];
  for (const [i, image] of entries.entries()) {
    options.signal?.throwIfAborted();
    const where = `\`manifest.json\` [${i}]`;
    for (const tag of image.RepoTags) {
      try {
        parseDockerReference(tag);
      } catch (err) {
        throw new BerthError('ARCHIVE_INVALID', `${view.label}: ${where} RepoTags has \`${tag}\`, which is not an image reference`, { cause: err });
      }
    }
    const configName = cleanEntryName(image.Config, `${where} Config`);
    const configBytes = await readEntry(view, configName, Math.max(maxJson, MAX_CONFIG_BYTES), `config \`${configName}\` named by ${where}`);
    const config = parseImageConfig(configBytes, { name: configName, layerCount: image.Layers.length });
    const layers: Descriptor[] = [];
    for (const [j, path] of image.Layers.entries()) {
      const entry = cleanEntryName(path, `${where} Layers[${j}]`);
      if (!(await view.find(entry))) {
        throw new BerthError('ARCHIVE_INVALID', `${view.label}: ${where} Layers[${j}] is \`${entry}\`, which the archive does not have`);
      }
      let layer = layerCache.get(entry);
      if (!layer) {
        layer = await describeLayer(view, entry);
        layerCache.set(entry, layer);
      }
      if (layer.diffId !== config.rootfs.diff_ids[j]) {
        throw new BerthError(
          'CONTENT_DIGEST_MISMATCH',
          `${view.label}: layer \`${entry}\` has diff ID ${layer.diffId}, but config \`${configName}\` says rootfs.diff_ids[${j}] is ${config.rootfs.diff_ids[j]}; nothing was committed`,
        );
      }
      const descriptor: Descriptor = { mediaType: layer.mediaType, digest: layer.digest, size: layer.size };
      layers.push(descriptor);
      addPending(pending, { descriptor, entry });
    }
    const configDescriptor: Descriptor = { mediaType: MEDIA_TYPE.dockerConfig, digest: sha256Of(configBytes), size: configBytes.length };
    addPending(pending, { descriptor: configDescriptor, bytes: configBytes });
    const manifest: ImageManifest = { schemaVersion: 2, mediaType: MEDIA_TYPE.dockerManifest, config: configDescriptor, layers };
    // Compact, fields in the order containerd marshals them: the same archive gives the same digest in both.
    const manifestBytes = Buffer.from(JSON.stringify(manifest));
    const descriptor: Descriptor = { mediaType: MEDIA_TYPE.dockerManifest, digest: sha256Of(manifestBytes), size: manifestBytes.length };
    addPending(pending, { descriptor, bytes: manifestBytes });
    if (image.RepoTags.length === 0) images.push({ descriptor });
    for (const name of image.RepoTags) images.push({ name, descriptor });
  }
  await commitBlobs(store, view, pending.values(), options.signal);
  return images;
}
