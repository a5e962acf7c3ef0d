/**
 * Push: copy an image that is in the content store to a registry. Blobs
 * first (config and layers, skipped when the repository has them, mounted
 * from `mountFrom` when the registry agrees), then the platform manifests,
 * then the index, and the tag last, so a tag never points to something
 * incomplete.
 */
import { BerthError } from '../../errors/index.js';
import type { ContentStore } from '../content/index.js';
import { layerMediaTypeInfo } from '../manifest/media-types.js';
import { parseManifest } from '../manifest/parse-manifest.js';
import type { Descriptor } from '../manifest/types.js';
import { formatReference, parseDockerReference, type ImageReference } from '../reference/index.js';
import type { BlobPushResult, RegistryClient } from './registry-client.js';

export interface PushProgress {
  id: string;
  phase: 'waiting' | 'pushing' | 'done';
  result?: BlobPushResult;
  total: number;
}

export interface PushOptions {
  /** Repository on the same registry that may already hold the blobs (cross-repository mount). */
  mountFrom?: string;
  /** Upload blobs in PATCH chunks of this size (default: one PUT per blob). */
  chunkSizeBytes?: number;
  concurrency?: number;
  onProgress?: (event: PushProgress) => void;
  signal?: AbortSignal;
}

/** Pushes the image whose root (manifest or index) is `root`, tagging it with the reference's tag. Returns the root digest. */
export async function pushImage(client: RegistryClient, store: ContentStore, input: ImageReference | string, root: Descriptor, options: PushOptions = {}): Promise<string> {
  const ref = typeof input === 'string' ? parseDockerReference(input) : input;
  const name = formatReference(ref);
  const emit = options.onProgress ?? (() => {});

  const pushBlob = async (d: Descriptor): Promise<void> => {
    const info = layerMediaTypeInfo(d.mediaType);
    if (info?.nondistributable) return; // the spec: non-distributable layers are not pushed
    emit({ id: d.digest, phase: 'pushing', total: d.size });
    const result = await client.pushBlob(ref, d, (start) => store.createReadStream(d.digest, start > 0 ? { start } : {}), {
      mountFrom: options.mountFrom,
      chunkSizeBytes: options.chunkSizeBytes,
      signal: options.signal,
    });
    emit({ id: d.digest, phase: 'done', result, total: d.size });
  };

  const pushManifestTree = async (d: Descriptor, tag?: string): Promise<void> => {
    const bytes = await store.readBlob(d.digest, { maxBytes: 4 << 20 });
    const parsed = parseManifest(bytes, { name: d.digest, mediaType: d.mediaType });
    if (parsed.kind === 'index') {
      for (const m of parsed.index.manifests) await pushManifestTree(m);
    } else {
      const blobs = [parsed.manifest.config, ...parsed.manifest.layers];
      for (const b of blobs) emit({ id: b.digest, phase: 'waiting', total: b.size });
      let next = 0;
      const worker = async (): Promise<void> => {
        while (next < blobs.length) await pushBlob(blobs[next++]!);
      };
      await Promise.all(Array.from({ length: Math.min(options.concurrency ?? 3, blobs.length) }, worker));
    }
    const digest = await client.pushManifest(ref, bytes, parsed.mediaType, { tag: tag ?? d.digest, signal: options.signal });
    if (digest !== d.digest) throw new BerthError('CONTENT_DIGEST_MISMATCH', `manifest ${d.digest} of \`${name}\` was pushed as ${digest}`);
  };

  await pushManifestTree(root, ref.tag ?? ref.digest ?? 'latest');
  return root.digest;
}
