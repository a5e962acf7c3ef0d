/**
 * Export as a `docker save` archive in the legacy layout, which `docker
 * load` (every version), `podman load` and skopeo (`docker-archive:`)
 * read:
 *
 *   manifest.json          [{"Config": "<config hex>.json", "RepoTags": ["busybox:1"], "Layers": ["<id>/layer.tar", ...]}]
 *   repositories           {"busybox": {"1": "<top layer id>"}}
 *   <config hex>.json      the config, byte for byte (so the image ID stays the same)
 *   <id>/layer.tar         the layer, uncompressed (the format says so)
 *   <id>/VERSION, <id>/json  legacy per-layer metadata (Docker before 1.10 read these)
 *
 * A layer id is the hex of the layer's chain ID, as skopeo writes it:
 * unique per stack, so a layer two images share is written once. The
 * format holds one platform per image: the manifest of `platform` (default
 * the host's) when a record names an index. Compressed layers (gzip,
 * zstd) are decompressed to a spool file first (a tar header needs the size
 * before the data), and their diff ID checked against the config on the
 * way; everything is prepared before the first byte of output.
 */
import { createReadStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { BerthError, isBerthError } from '../../errors/index.js';
import type { ContentStore } from '../content/index.js';
import { parseDigest } from '../digest/digest.js';
import { parseImageConfig } from '../manifest/parse-manifest.js';
import type { Descriptor } from '../manifest/types.js';
import { familiarName, familiarString } from '../reference/index.js';
import { chainIds } from '../snapshot/chain-id.js';
import { decompressor } from '../unpack/decompress.js';
import { layerCompression, MAX_CONFIG_BYTES, type ArchiveImage } from './archive-image.js';
import { imageLabel, parseExportName, platformManifest, requireBlob, type ExportOptions } from './export-plan.js';
import { spoolFile, type Spooled } from './spool-file.js';
import { writeTar, type TarEntry } from './tar-writer.js';

export interface DockerExportOptions extends ExportOptions {
  /** Where compressed layers are decompressed before they are written (default: the OS temp dir). */
  spoolDir?: string;
}

interface SavedImage {
  config: string;
  repoTags: string[];
  layers: string[];
}

export async function exportDockerArchive(images: readonly ArchiveImage[], store: ContentStore, out: Writable, options: DockerExportOptions = {}): Promise<void> {
  const spool = await mkdtemp(join(options.spoolDir ?? tmpdir(), 'berth-export-'));
  try {
    const files = new Map<string, TarEntry>();
    const saved = new Map<string, SavedImage>();
    const repositories: Record<string, Record<string, string>> = {};
    const plainLayers = new Map<string, { sizeBytes: number; open: () => Promise<Readable> }>();

    for (const image of images) {
      options.signal?.throwIfAborted();
      const label = imageLabel(image);
      const ref = parseExportName(image);
      const { manifest } = await platformManifest(store, image, options.platform);
      await requireBlob(store, manifest.config, label);
      const configBytes = await store.readBlob(manifest.config.digest, { maxBytes: MAX_CONFIG_BYTES });
      const diffIds = parseImageConfig(configBytes, { name: manifest.config.digest, layerCount: manifest.layers.length }).rootfs.diff_ids;
      const ids = chainIds(diffIds).map((c) => parseDigest(c).encoded);
      const configName = `${parseDigest(manifest.config.digest).encoded}.json`;
      files.set(configName, { name: configName, type: 'file', bytes: configBytes });

      const layerPaths: string[] = [];
      for (const [j, layer] of manifest.layers.entries()) {
        const id = ids[j]!;
        const path = `${id}/layer.tar`;
        layerPaths.push(path);
        if (files.has(path)) continue;
        const plain = await plainLayer(store, layer, diffIds[j]!, spool, plainLayers, `${label} layers[${j}]`);
        files.set(`${id}/`, { name: `${id}/`, type: 'directory' });
        files.set(`${id}/VERSION`, { name: `${id}/VERSION`, type: 'file', bytes: Buffer.from('1.0') });
        const legacy = j === 0 ? { id } : { id, parent: ids[j - 1] };
        files.set(`${id}/json`, { name: `${id}/json`, type: 'file', bytes: Buffer.from(JSON.stringify(legacy)) });
        files.set(path, { name: path, type: 'file', ...plain });
      }

      // One manifest.json item per image ID (the config), holding all its tags, as Docker writes it.
      const item = saved.get(configName) ?? { config: configName, repoTags: [], layers: layerPaths };
      saved.set(configName, item);
      if (ref?.tag !== undefined) {
        const tagged = { domain: ref.domain, path: ref.path, tag: ref.tag };
        const repoTag = familiarString(tagged);
        if (!item.repoTags.includes(repoTag)) item.repoTags.push(repoTag);
        const top = ids[ids.length - 1];
        if (top !== undefined) (repositories[familiarName(tagged)] ??= {})[ref.tag] = top;
      }
    }

    const manifestJson = [...saved.values()].map((s) => ({ Config: s.config, RepoTags: s.repoTags.length ? s.repoTags : null, Layers: s.layers }));
    files.set('manifest.json', { name: 'manifest.json', type: 'file', bytes: Buffer.from(JSON.stringify(manifestJson)) });
    files.set('repositories', { name: 'repositories', type: 'file', bytes: Buffer.from(JSON.stringify(repositories)) });
    const entries = [...files.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    await writeTar(entries, out, options.signal);
  } finally {
    await rm(spool, { recursive: true, force: true });
  }
}

/**
 * Where a layer's uncompressed tar comes from: the blob itself when the
 * store holds it uncompressed (its digest must be the diff ID), else a
 * spool file decompressed and checked against the diff ID now.
 */
async function plainLayer(
  store: ContentStore,
  layer: Descriptor,
  diffId: string,
  spool: string,
  done: Map<string, { sizeBytes: number; open: () => Promise<Readable> }>,
  owner: string,
): Promise<{ sizeBytes: number; open: () => Promise<Readable> }> {
  const known = done.get(diffId);
  if (known) return known;
  const compression = layerCompression(layer.mediaType);
  if (compression === undefined) throw new BerthError('MANIFEST_UNSUPPORTED', `${owner}: layer ${layer.digest} has media type \`${layer.mediaType}\`, which is not a layer type berth knows`);
  await requireBlob(store, layer, owner);
  let result: { sizeBytes: number; open: () => Promise<Readable> };
  if (compression === 'none') {
    if (layer.digest !== diffId) throw new BerthError('CONTENT_DIGEST_MISMATCH', `${owner}: uncompressed layer ${layer.digest} is not the config's diff ID ${diffId}`);
    result = { sizeBytes: layer.size, open: () => store.createReadStream(layer.digest) };
  } else {
    const path = join(spool, parseDigest(diffId).encoded);
    let spooled: Spooled;
    try {
      spooled = await spoolFile(path, parseDigest(diffId).algorithm, await store.createReadStream(layer.digest), decompressor(compression)!);
    } catch (err) {
      // The zstd decoder's own errors say what is wrong but not which layer.
      if (isBerthError(err, 'LAYER_INVALID')) throw new BerthError('LAYER_INVALID', `${owner}: layer ${layer.digest}: ${err.message}`, { cause: err });
      if (err instanceof BerthError) throw err;
      throw new BerthError('LAYER_INVALID', `${owner}: layer ${layer.digest} does not decompress as ${compression}: ${(err as Error).message}`, { cause: err });
    }
    const actual = `${parseDigest(diffId).algorithm}:${spooled.hex}`;
    if (actual !== diffId) throw new BerthError('CONTENT_DIGEST_MISMATCH', `${owner}: layer ${layer.digest} decompresses to ${actual}, but the config says its diff ID is ${diffId}`);
    result = { sizeBytes: spooled.sizeBytes, open: async () => createReadStream(path) };
  }
  done.set(diffId, result);
  return result;
}
