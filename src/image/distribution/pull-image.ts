/**
 * Pull: resolve a reference, choose the platform, and bring the manifest,
 * config and layers into the content store, each verified before commit.
 *
 *   const client = new RegistryClient({ credentials: await loadDockerConfig() });
 *   const { manifest, config } = await pullImage(client, store, 'busybox', {
 *     onProgress: (e) => console.log(e.id, e.phase, e.current, e.total),
 *   });
 *
 * Layers download in parallel (3 at a time by default, as containerd). A
 * download cut midway is resumed from what the store's ingest holds (a
 * Range request); 5xx and network errors are retried with backoff. Blobs
 * already in the store are not fetched. Unpacking into snapshots is a
 * separate step.
 */
import { mapLimit } from '../../util/map-limit.js';
import { BerthError } from '../../errors/index.js';
import type { ContentStore, ResourceLease } from '../content/index.js';
import { layerMediaTypeInfo } from '../manifest/media-types.js';
import { parseImageConfig, parseManifest } from '../manifest/parse-manifest.js';
import { defaultPlatform, parsePlatform, selectManifest } from '../manifest/platform.js';
import type { Descriptor, ImageConfig, ImageManifest, ParsedManifest, Platform } from '../manifest/types.js';
import { formatReference, parseDockerReference, type ImageReference } from '../reference/index.js';
import type { RegistryClient } from './registry-client.js';
import { withRetry } from './retry.js';

export type PullPhase = 'waiting' | 'downloading' | 'verifying' | 'done';

/** One layer's (or the config's) progress. `id` is the blob's digest. */
export interface PullProgress {
  id: string;
  kind: 'config' | 'layer';
  phase: PullPhase;
  /** Bytes held, resumed bytes included. */
  current: number;
  total: number;
  /** True on `done` when the blob was already in the store. */
  cached?: boolean;
}

export interface PullOptions {
  /** `linux/arm64/v8` or a platform object; default: this host's. */
  platform?: Platform | string;
  onProgress?: (event: PullProgress) => void;
  /** Layers fetched at once. Default 3. */
  concurrency?: number;
  signal?: AbortSignal;
  /** Least time between two `downloading` events of one blob. Default 100 ms. */
  progressIntervalMs?: number;
  /**
   * Every manifest, index, config and layer blob is added to this lease
   * before the pull checks whether the store has it, so a garbage collection
   * running meanwhile keeps it (see `content/lease.ts`).
   */
  lease?: ResourceLease;
}

export interface PullResult {
  ref: ImageReference;
  /** What the reference resolved to: an index or a manifest. */
  descriptor: Descriptor;
  /** The platform's manifest (the same as `descriptor` when there is no index). */
  manifestDescriptor: Descriptor;
  manifest: ImageManifest;
  config: ImageConfig;
}

export const MAX_CONFIG_BYTES = 8 << 20;

/** Stores verified manifest bytes (already checked by the client) in the content store. */
export async function storeBytes(store: ContentStore, descriptor: Descriptor, bytes: Buffer, signal?: AbortSignal): Promise<void> {
  await store.ensure(
    { digest: descriptor.digest, size: bytes.length, mediaType: descriptor.mediaType },
    (offset) =>
      (async function* one() {
        yield bytes.subarray(offset);
      })(),
    { signal },
  );
}

/** A manifest or index from the store when it is there, else from the bytes or the registry (then stored). */
export async function manifestFromStoreOrRegistry(
  client: RegistryClient,
  store: ContentStore,
  ref: ImageReference,
  descriptor: Descriptor,
  bytes: Buffer | undefined,
  signal?: AbortSignal,
): Promise<{ descriptor: Descriptor; parsed: ParsedManifest }> {
  if (!bytes && (await store.findInfo(descriptor.digest))) {
    const stored = await store.readBlob(descriptor.digest, { maxBytes: 4 << 20 });
    return { descriptor, parsed: parseManifest(stored, { name: descriptor.digest, mediaType: descriptor.mediaType }) };
  }
  if (bytes) {
    const parsed = parseManifest(bytes, { name: descriptor.digest, mediaType: descriptor.mediaType });
    await storeBytes(store, descriptor, bytes, signal);
    return { descriptor: { ...descriptor, mediaType: parsed.mediaType }, parsed };
  }
  const got = await client.fetchManifest(ref, descriptor, { signal });
  await storeBytes(store, got.descriptor, got.bytes, signal);
  return { descriptor: got.descriptor, parsed: got.parsed };
}


/**
 * Fetches one blob into the store with progress, retrying network failures
 * and resuming from the ingest's offset.
 */
async function fetchBlob(
  client: RegistryClient,
  store: ContentStore,
  ref: ImageReference,
  desc: Descriptor,
  kind: PullProgress['kind'],
  options: PullOptions,
): Promise<void> {
  const emit = options.onProgress ?? (() => {});
  const interval = options.progressIntervalMs ?? 100;
  options.lease?.add({ type: 'content', digest: desc.digest });
  if (await store.findInfo(desc.digest)) {
    emit({ id: desc.digest, kind, phase: 'done', current: desc.size, total: desc.size, cached: true });
    return;
  }
  await withRetry(
    () =>
      store.ensure(
        desc,
        async (offset) => {
          const body = await client.openBlob(ref, desc, { offset, signal: options.signal });
          return (async function* progress() {
            let current = offset;
            let last = 0;
            emit({ id: desc.digest, kind, phase: 'downloading', current, total: desc.size });
            for await (const chunk of body) {
              current += chunk.length;
              const now = Date.now();
              if (now - last >= interval) {
                last = now;
                emit({ id: desc.digest, kind, phase: 'downloading', current, total: desc.size });
              }
              yield chunk;
            }
            emit({ id: desc.digest, kind, phase: 'downloading', current, total: desc.size });
            emit({ id: desc.digest, kind, phase: 'verifying', current, total: desc.size });
          })();
        },
        { signal: options.signal },
      ),
    `fetching blob ${desc.digest} of ${formatReference(ref)}`,
    { ...client.retryOptions, signal: options.signal },
  );
  emit({ id: desc.digest, kind, phase: 'done', current: desc.size, total: desc.size });
}

export interface ResolvedImage {
  ref: ImageReference;
  /** The reference as text, for messages. */
  name: string;
  /** What the reference resolved to: an index or a manifest. */
  descriptor: Descriptor;
  /** The platform's manifest. */
  manifestDescriptor: Descriptor;
  manifest: ImageManifest;
}

/**
 * Resolves a reference to the manifest for `platform` (through an index when
 * there is one), storing the manifests it fetched, and refuses layers of a
 * media type berth cannot unpack before anything is downloaded.
 */
export async function resolveImageManifest(
  client: RegistryClient,
  store: ContentStore,
  input: ImageReference | string,
  options: Pick<PullOptions, 'platform' | 'signal' | 'lease'> = {},
): Promise<ResolvedImage> {
  const ref = typeof input === 'string' ? parseDockerReference(input) : input;
  const name = formatReference(ref);
  const platform = typeof options.platform === 'string' ? parsePlatform(options.platform) : (options.platform ?? defaultPlatform());
  const { signal, lease } = options;

  const resolved = await client.resolve(ref, { signal });
  lease?.add({ type: 'content', digest: resolved.descriptor.digest });
  const root = await manifestFromStoreOrRegistry(client, store, ref, resolved.descriptor, resolved.bytes, signal);
  let manifestDescriptor = root.descriptor;
  let manifest: ImageManifest;
  if (root.parsed.kind === 'index') {
    const chosen = selectManifest(root.parsed.index, platform, name);
    lease?.add({ type: 'content', digest: chosen.digest });
    const m = await manifestFromStoreOrRegistry(client, store, ref, chosen, undefined, signal);
    if (m.parsed.kind !== 'manifest') {
      throw new BerthError('MANIFEST_INVALID', `manifest \`${chosen.digest}\` of \`${name}\`: an index entry for a platform points to another index`);
    }
    manifestDescriptor = m.descriptor;
    manifest = m.parsed.manifest;
  } else {
    manifest = root.parsed.manifest;
  }
  for (const layer of manifest.layers) {
    if (!layerMediaTypeInfo(layer.mediaType)) {
      throw new BerthError('MANIFEST_UNSUPPORTED', `layer ${layer.digest} of \`${name}\` has unsupported media type \`${layer.mediaType}\``);
    }
  }
  return { ref, name, descriptor: root.descriptor, manifestDescriptor, manifest };
}

export async function pullImage(client: RegistryClient, store: ContentStore, input: ImageReference | string, options: PullOptions = {}): Promise<PullResult> {
  const { ref, descriptor, manifestDescriptor, manifest } = await resolveImageManifest(client, store, input, options);

  for (const layer of manifest.layers) options.onProgress?.({ id: layer.digest, kind: 'layer', phase: 'waiting', current: 0, total: layer.size });
  await fetchBlob(client, store, ref, manifest.config, 'config', options);
  const config = parseImageConfig(await store.readBlob(manifest.config.digest, { maxBytes: MAX_CONFIG_BYTES }), {
    name: manifest.config.digest,
    layerCount: manifest.layers.length,
  });

  // One download per digest, even when a manifest lists a layer twice.
  const unique = [...new Map(manifest.layers.map((l) => [l.digest, l])).values()];
  await mapLimit(unique, options.concurrency ?? 3, (layer) => fetchBlob(client, store, ref, layer, 'layer', options));
  return { ref: { ...ref, digest: descriptor.digest }, descriptor, manifestDescriptor, manifest, config };
}
