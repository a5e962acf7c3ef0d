/**
 * Import of an OCI image layout (a directory, an `oci-archive` tarball, or
 * a Docker 25+ `docker save`, which is also a layout): `oci-layout`,
 * `index.json`, `blobs/<alg>/<hex>`.
 *
 * Every manifest, index and config named from `index.json` is read
 * (capped), checked against its descriptor's size and digest and parsed;
 * every layer is checked the same way and must have a layer media type
 * berth knows (an uncompressed one must hash to its `diff_id`). Only when
 * the whole graph verified do blobs go into the store, so an archive that
 * lies anywhere leaves the store as it was.
 *
 * An index may name manifests the layout does not hold (a single-platform
 * export of a multi-platform image); those are skipped, as containerd
 * does, but at least one must be there.
 */
import { BerthError, isBerthError } from '../../errors/index.js';
import type { ContentStore } from '../content/index.js';
import { parseDigest } from '../digest/digest.js';
import { isIndexMediaType, isManifestMediaType } from '../manifest/media-types.js';
import { parseImageConfig, parseManifest } from '../manifest/parse-manifest.js';
import type { Descriptor } from '../manifest/types.js';
import { readBlobEntry, readEntry, verifyBlobEntry, type ArchiveView } from './archive-view.js';
import {
  ANNOTATION_IMAGE_NAME,
  ANNOTATION_REF_NAME,
  isImageConfigMediaType,
  layerCompression,
  MAX_CONFIG_BYTES,
  MAX_JSON_BYTES,
  type ArchiveImage,
} from './archive-image.js';
import { addPending, commitBlobs, type PendingBlob } from './commit-blobs.js';
import { blobEntryName } from './entry-name.js';

export interface ImportOptions {
  /** Cap of each JSON document; default `MAX_JSON_BYTES` (configs: the larger of this and `MAX_CONFIG_BYTES`). */
  maxJsonBytes?: number;
  signal?: AbortSignal;
}

/** Docker marks buildx attestation manifests in an index so; their layers are in-toto JSON, not filesystem layers. */
const ATTESTATION = { key: 'vnd.docker.reference.type', value: 'attestation-manifest' };
const MAX_DEPTH = 4;

export async function importOciLayout(view: ArchiveView, store: ContentStore, options: ImportOptions = {}): Promise<ArchiveImage[]> {
  const maxJson = options.maxJsonBytes ?? MAX_JSON_BYTES;
  const layoutText = (await readEntry(view, 'oci-layout', maxJson)).toString('utf8');
  let layout: unknown;
  try {
    layout = JSON.parse(layoutText);
  } catch {
    layout = undefined;
  }
  const version = (layout as { imageLayoutVersion?: unknown } | undefined)?.imageLayoutVersion;
  if (typeof version !== 'string' || !/^1\./.test(version)) {
    throw new BerthError('ARCHIVE_INVALID', `${view.label}: \`oci-layout\` must be {"imageLayoutVersion": "1.0.0"}, got ${JSON.stringify(layoutText.slice(0, 100))}`);
  }
  const indexBytes = await readEntry(view, 'index.json', maxJson);
  let parsed;
  try {
    parsed = parseManifest(indexBytes, { name: 'index.json' });
  } catch (err) {
    throw isBerthError(err) ? new BerthError(err.code, `${view.label}: ${err.message}`, { cause: err }) : err;
  }
  if (parsed.kind !== 'index') throw new BerthError('ARCHIVE_INVALID', `${view.label}: \`index.json\` must be an image index, not ${parsed.mediaType}`);

  const pending = new Map<string, PendingBlob>();
  const walker = new GraphWalker(view, pending, maxJson);
  const images: ArchiveImage[] = [];
  for (const [i, d] of parsed.index.manifests.entries()) {
    options.signal?.throwIfAborted();
    await walker.walk(d, `index.json manifests[${i}]`, 0, false);
    const { [ANNOTATION_IMAGE_NAME]: fullName, [ANNOTATION_REF_NAME]: refName, ...rest } = d.annotations ?? {};
    const descriptor: Descriptor = { mediaType: d.mediaType, digest: d.digest, size: d.size };
    if (d.platform) descriptor.platform = d.platform;
    if (Object.keys(rest).length > 0) descriptor.annotations = rest;
    const name = fullName ?? refName;
    images.push(name === undefined ? { descriptor } : { name, descriptor });
  }
  await commitBlobs(store, view, pending.values(), options.signal);
  return images;
}

class GraphWalker {
  readonly #view: ArchiveView;
  readonly #pending: Map<string, PendingBlob>;
  readonly #maxJson: number;

  constructor(view: ArchiveView, pending: Map<string, PendingBlob>, maxJson: number) {
    this.#view = view;
    this.#pending = pending;
    this.#maxJson = maxJson;
  }

  /** Verifies `d` and what it names, then queues them, children first. */
  async walk(d: Descriptor, owner: string, depth: number, attestation: boolean): Promise<void> {
    if (this.#pending.has(d.digest)) return;
    const view = this.#view;
    if (isIndexMediaType(d.mediaType)) {
      if (depth >= MAX_DEPTH) throw new BerthError('ARCHIVE_INVALID', `${view.label}: indexes nested deeper than ${MAX_DEPTH} at ${owner}`);
      const bytes = await readBlobEntry(view, d, owner, this.#maxJson);
      const parsed = parseManifest(bytes, { name: d.digest, mediaType: d.mediaType });
      if (parsed.kind !== 'index') throw new BerthError('MANIFEST_INVALID', `manifest \`${d.digest}\`: ${owner} says it is an index, but it is not`);
      let present = 0;
      for (const [i, child] of parsed.index.manifests.entries()) {
        // A layout may hold only some platforms of an index.
        if (!(await this.#has(child))) continue;
        present += 1;
        const isAttestation = child.annotations?.[ATTESTATION.key] === ATTESTATION.value;
        await this.walk(child, `index ${d.digest} manifests[${i}]`, depth + 1, isAttestation);
      }
      if (present === 0 && parsed.index.manifests.length > 0) {
        throw new BerthError('ARCHIVE_INVALID', `${view.label}: index ${d.digest} (${owner}) names ${parsed.index.manifests.length} manifests, and the archive holds none of them`);
      }
      addPending(this.#pending, { descriptor: d, bytes });
      return;
    }
    if (!isManifestMediaType(d.mediaType)) {
      throw new BerthError('MANIFEST_UNSUPPORTED', `${view.label}: ${owner} (${d.digest}) has media type \`${d.mediaType}\`, which is not an image manifest or index`);
    }
    const bytes = await readBlobEntry(view, d, owner, this.#maxJson);
    const parsed = parseManifest(bytes, { name: d.digest, mediaType: d.mediaType });
    if (parsed.kind !== 'manifest') throw new BerthError('MANIFEST_INVALID', `manifest \`${d.digest}\`: ${owner} says it is a manifest, but it is an index`);
    const { config, layers } = parsed.manifest;
    const image = isImageConfigMediaType(config.mediaType) && !attestation;
    let diffIds: string[] | undefined;
    if (image) {
      const configBytes = await readBlobEntry(view, config, `manifest ${d.digest} config`, Math.max(this.#maxJson, MAX_CONFIG_BYTES));
      diffIds = parseImageConfig(configBytes, { name: config.digest, layerCount: layers.length }).rootfs.diff_ids;
      addPending(this.#pending, { descriptor: config, bytes: configBytes });
    } else {
      addPending(this.#pending, { descriptor: config, entry: await verifyBlobEntry(view, config, `manifest ${d.digest} config`) });
    }
    for (const [i, layer] of layers.entries()) {
      const what = `manifest ${d.digest} layers[${i}]`;
      const compression = layerCompression(layer.mediaType);
      if (image && compression === undefined) {
        throw new BerthError('MANIFEST_UNSUPPORTED', `${view.label}: ${what} (${layer.digest}) has media type \`${layer.mediaType}\`, which is not a layer type berth knows`);
      }
      const entry = await verifyBlobEntry(view, layer, what);
      // An uncompressed layer is its own diff: a config that disagrees lies.
      if (compression === 'none' && diffIds && diffIds[i] !== layer.digest) {
        throw new BerthError('CONTENT_DIGEST_MISMATCH', `${view.label}: ${what} is ${layer.digest} uncompressed, but image config ${config.digest} says rootfs.diff_ids[${i}] is ${diffIds[i]}`);
      }
      addPending(this.#pending, { descriptor: layer, entry });
    }
    addPending(this.#pending, { descriptor: d, bytes });
  }

  async #has(d: Descriptor): Promise<boolean> {
    const { algorithm, encoded } = parseDigest(d.digest);
    return (await this.#view.find(blobEntryName(algorithm, encoded))) !== undefined;
  }
}
