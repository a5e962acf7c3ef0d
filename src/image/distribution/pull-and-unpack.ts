/**
 * Pull and unpack in one streaming pass per layer:
 *
 *   const { layers } = await pullAndUnpack(client, store, 'busybox', '/var/lib/berth/layers', { snapshotter });
 *   await snapshotsFromLayers(snapshotter, layers); // takes the directories
 *
 * Each layer's blob response is teed: every chunk is appended to the content
 * store's ingest (hashed against the layer digest) and handed to
 * `applyLayer`, which decompresses it, hashes the tar stream (the diffID,
 * checked against the config's `rootfs.diff_ids`) and writes the entries
 * into the layer's unpack directory. Only when the diffID matches is the
 * blob committed (size and digest checked). On any mismatch or bad entry
 * the ingest and the directory are removed: no blob and no layer directory.
 * Chunks are gathered into 1 MiB batches and go through an async generator
 * that advances only when the unpacker asks for more, so the response is
 * read no faster than the slower of disk and decompression (never a whole
 * layer in memory).
 *
 * Unpack directories are private: every pull unpacks every layer it needs
 * into a directory of its own, `<layersRoot>/unpack-<pid>-<start time>-
 * <random>-<diffID hex, 12>`, and hands it to the caller, who owns it from
 * then on (`snapshotsFromLayers` moves it into the snapshotter, or deletes
 * it when the chain is there already). So pulls running at the same time,
 * in one process or several, never see each other's half-made or moved-away
 * directories, whichever layers they share at whatever positions. What is
 * unpacked already is found through the snapshotter, by chain ID: with
 * `options.snapshotter`, a layer whose chain is committed there is neither
 * fetched nor unpacked (a second pull of an image does nothing but resolve).
 * A blob in the store is unpacked from the store; an interrupted download
 * is resumed into the store (Range request) and then unpacked from it.
 * Concurrent downloads of one blob wait for one another on the store's
 * ingest lock, so a blob is fetched once.
 *
 * A failed pull removes the directories it made. One whose process died
 * (killed, crashed) leaves them behind; the directory name carries the
 * owner's pid and start time, so `removeStaleUnpackDirs` (run by garbage
 * collection) can tell them from a live pull's and remove them.
 *
 * In overlay form no layer depends on another, so layers run in parallel
 * (3 at a time by default). Every config and layer blob and every chain ID
 * is added to `options.lease` before it is looked at.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';

import { BerthError, isBerthError, isErrno } from '../../errors/index.js';
import { mapLimit } from '../../util/map-limit.js';
import { isProcessAlive, readProcStat } from '../../util/proc.js';
import type { ContentStore, ContentWriter } from '../content/index.js';
import { parseDigest } from '../digest/digest.js';
import { parseImageConfig } from '../manifest/parse-manifest.js';
import { chainIds } from '../snapshot/chain-id.js';
import type { Snapshotter } from '../snapshot/snapshotter.js';
import { directoryUsage } from '../snapshot/usage.js';
import type { Descriptor } from '../manifest/types.js';
import { formatReference, type ImageReference } from '../reference/index.js';
import { applyLayer, type ApplyLayerOptions } from '../unpack/index.js';
import { MAX_CONFIG_BYTES, resolveImageManifest, type PullOptions, type PullPhase, type PullProgress, type PullResult } from './pull-image.js';
import type { RegistryClient } from './registry-client.js';
import { isNetworkError, withRetry } from './retry.js';

export type PullUnpackPhase = PullPhase | 'extracting';

export interface PullUnpackProgress extends Omit<PullProgress, 'phase'> {
  phase: PullUnpackPhase;
}

export interface PullUnpackOptions extends Omit<PullOptions, 'onProgress'> {
  onProgress?: (event: PullUnpackProgress) => void;
  /**
   * Where the image's layers end up as committed snapshots named by chain
   * ID (`snapshotsFromLayers`). A layer whose chain is committed there
   * already is neither fetched nor unpacked: its blob may be gone from the
   * store (collected) while the snapshot is still in use.
   */
  snapshotter?: Pick<Snapshotter, 'find'>;
  /** Passed to `applyLayer` (whiteouts are always `overlay`: one directory per layer). */
  unpack?: Pick<ApplyLayerOptions, 'ownership' | 'devices' | 'maxBytes'>;
}

export interface UnpackedLayer {
  digest: string;
  diffId: string;
  /** The layer's chain ID: the name of its committed snapshot. */
  chainId: string;
  /**
   * The layer in overlayfs form, in a directory of this pull's own under
   * `layersRoot`; the caller owns it (`snapshotsFromLayers` takes it).
   * Absent when `inSnapshot`.
   */
  dir?: string;
  /** True when the blob was not downloaded: it was in the store, or the chain is `inSnapshot`. */
  cached: boolean;
  /** True when `options.snapshotter` has the chain committed already: nothing was fetched or unpacked. */
  inSnapshot: boolean;
}

export interface PullUnpackResult extends PullResult {
  /** One per `manifest.layers` entry, in order (lowest first). */
  layers: UnpackedLayer[];
}

/** Downloaded bytes are gathered into batches of this size (see `tee`). */
const WRITE_BATCH_BYTES = 1 << 20;
/** Reads of a stored blob to unpack. */
const READ_CHUNK_BYTES = 1 << 20;

/** `<pid>-<start time>` of this process, the owner part of its unpack directories' names. */
let ownerTag: string | undefined;
function owner(): string {
  ownerTag ??= `${process.pid}-${readProcStat(process.pid)?.startTime ?? 0}`;
  return ownerTag;
}

const UNPACK_DIR = /^unpack-(\d+)-(\d+)-[0-9a-f]{16}-/;

/** A fresh name for an unpack directory owned by this process; `what` ends it, for people reading `ls`. */
function unpackDirName(what: string): string {
  return `unpack-${owner()}-${randomBytes(8).toString('hex')}-${what}`;
}

/** Whether the process named by an unpack directory's name is gone; false for names that are not ours. */
function ownerIsGone(name: string): boolean {
  const m = UNPACK_DIR.exec(name);
  if (!m) return false;
  const startTime = Number(m[2]);
  // A start time of 0 means /proc could not be read when the name was made: the pid alone must do.
  return !isProcessAlive(Number(m[1]), startTime === 0 ? undefined : startTime);
}

export interface RemovedUnpackDir {
  name: string;
  /** Its size before removal (st_blocks × 512, hard links once). */
  sizeBytes: number;
}

/**
 * Removes the unpack directories in `layersRoot` whose owning process is
 * gone: a pull killed or crashed midway, or a caller that died before
 * registering what it pulled. Directories of live processes stay, whatever
 * their age (a live pull, or a caller holding the result). Each is renamed
 * to a name of this process first, so that two sweepers never delete one
 * tree together and a sweep that dies midway is swept in turn.
 */
export async function removeStaleUnpackDirs(layersRoot: string): Promise<RemovedUnpackDir[]> {
  let names: string[];
  try {
    names = await readdir(layersRoot);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return [];
    throw err;
  }
  const removed: RemovedUnpackDir[] = [];
  for (const name of names.sort()) {
    if (!ownerIsGone(name)) continue;
    const claimed = join(layersRoot, unpackDirName('removing'));
    try {
      await rename(join(layersRoot, name), claimed);
    } catch (err) {
      // Another sweeper took it first.
      if (isErrno(err, 'ENOENT')) continue;
      throw err;
    }
    const { sizeBytes } = await directoryUsage(claimed).catch(() => ({ sizeBytes: 0 }));
    await rm(claimed, { recursive: true, force: true });
    removed.push({ name, sizeBytes });
  }
  return removed;
}

/** Reads a stored blob in chunks of `READ_CHUNK_BYTES`. */
async function* readStoredBlob(store: ContentStore, digest: string): AsyncGenerator<Uint8Array> {
  const reader = await store.readerAt(digest);
  try {
    for (let position = 0; position < reader.sizeBytes; ) {
      const buf = Buffer.allocUnsafe(Math.min(READ_CHUNK_BYTES, reader.sizeBytes - position));
      const n = await reader.readAt(buf, position);
      if (n === 0) break;
      position += n;
      yield buf.subarray(0, n);
    }
  } finally {
    await reader.close();
  }
}

/** The ingest ref `store.ensure` uses, so that pullImage and pullAndUnpack share (and resume) one ingest. */
const ingestRef = (digest: string): string => `ensure-${digest}`;

class LayerPuller {
  constructor(
    private readonly client: RegistryClient,
    private readonly store: ContentStore,
    private readonly ref: ImageReference,
    private readonly root: string,
    private readonly options: PullUnpackOptions,
  ) {}

  #emit(e: PullUnpackProgress): void {
    this.options.onProgress?.(e);
  }

  /** Unpacks one layer into a new directory of this pull's and returns it. */
  async pull(desc: Descriptor, diffId: string): Promise<{ dir: string; cached: boolean }> {
    let dir: string;
    let cached = false;
    if (await this.store.findInfo(desc.digest)) {
      dir = await this.#unpackFromStore(desc, diffId);
      cached = true;
    } else {
      dir = await withRetry(() => this.#stream(desc, diffId), `fetching blob ${desc.digest} of ${formatReference(this.ref)}`, {
        ...this.client.retryOptions,
        signal: this.options.signal,
      });
    }
    this.#emit({ id: desc.digest, kind: 'layer', phase: 'done', current: desc.size, total: desc.size, ...(cached ? { cached } : {}) });
    return { dir, cached };
  }

  #applyOptions(diffId: string): ApplyLayerOptions {
    return { ...this.options.unpack, whiteouts: 'overlay', expectedDiffId: diffId, signal: this.options.signal };
  }

  async #newDir(diffId: string): Promise<string> {
    const dir = join(this.root, unpackDirName(parseDigest(diffId).encoded.slice(0, 12)));
    await mkdir(dir, { mode: 0o755 });
    return dir;
  }

  async #unpackFromStore(desc: Descriptor, diffId: string): Promise<string> {
    this.#emit({ id: desc.digest, kind: 'layer', phase: 'extracting', current: desc.size, total: desc.size });
    const dir = await this.#newDir(diffId);
    try {
      await applyLayer(readStoredBlob(this.store, desc.digest), dir, this.#applyOptions(diffId));
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      throw withLayer(err, desc);
    }
    return dir;
  }

  /** Download only, through the store (resuming an earlier ingest). */
  async #download(desc: Descriptor): Promise<void> {
    await withRetry(
      () =>
        this.store.ensure(desc, (offset) => this.client.openBlob(this.ref, desc, { offset, signal: this.options.signal }), {
          ref: ingestRef(desc.digest),
          signal: this.options.signal,
        }),
      `fetching blob ${desc.digest} of ${formatReference(this.ref)}`,
      { ...this.client.retryOptions, signal: this.options.signal },
    );
  }

  /** One try: download, verify, decompress and unpack as one stream, into a new directory (returned). */
  async #stream(desc: Descriptor, diffId: string): Promise<string> {
    const { store, options } = this;
    let writer: ContentWriter | undefined = await store.openWriter(ingestRef(desc.digest), desc);
    if (await store.findInfo(desc.digest)) {
      // Another process committed it while we waited for the ingest lock.
      await writer.abort();
      writer = undefined;
    } else if (writer.offset > 0) {
      // An interrupted earlier attempt: the unpacker needs the bytes from 0,
      // so finish the blob in the store (a Range request), then unpack it.
      await writer.close();
      writer = undefined;
      await this.#download(desc);
    }
    if (!writer) return this.#unpackFromStore(desc, diffId);

    const w = writer;
    let dir: string;
    try {
      dir = await this.#newDir(diffId);
    } catch (err) {
      await w.close();
      throw err;
    }
    const interval = options.progressIntervalMs ?? 100;
    const emit = (phase: PullUnpackPhase, current: number): void => this.#emit({ id: desc.digest, kind: 'layer', phase, current, total: desc.size });
    let ended = false;
    try {
      const body = await this.client.openBlob(this.ref, desc, { signal: options.signal });
      async function* tee(): AsyncGenerator<Uint8Array> {
        // Chunks are gathered into ~1 MiB batches; each batch is appended to
        // the ingest and handed to the unpacker. Socket reads are 64 KiB at
        // most: a batch makes one ingest write, one inflate call on the
        // thread pool and one trip through the unpacker's streams instead
        // of sixteen, and each trip to the pool costs two thread switches
        // (the largest CPU cost after inflate and hashing on a 2-CPU host).
        // One write is in flight while the next batch fills; it is awaited
        // before another starts (ordered writes, bounded memory).
        let pending: Promise<void> | undefined;
        let batch: Uint8Array[] = [];
        let batched = 0;
        const flush = async (): Promise<Uint8Array> => {
          if (pending) await pending;
          const data = batch.length === 1 ? batch[0]! : Buffer.concat(batch, batched);
          batch = [];
          batched = 0;
          pending = w.write(data);
          pending.catch(() => {});
          return data;
        };
        let current = 0;
        let last = 0;
        emit('downloading', 0);
        try {
          for await (const chunk of body) {
            batch.push(chunk);
            batched += chunk.byteLength;
            current += chunk.byteLength;
            const now = Date.now();
            if (now - last >= interval) {
              last = now;
              emit('downloading', current);
            }
            if (batched >= WRITE_BATCH_BYTES) yield await flush();
          }
          if (batched > 0) yield await flush();
          if (pending) await pending;
          pending = undefined;
          ended = true;
          emit('downloading', current);
        } catch (err) {
          // A cut download: keep what arrived in the ingest, for the resume.
          if (isNetworkError(err) && batched > 0) await flush().catch(() => {});
          throw err;
        } finally {
          if (pending) await pending.catch(() => {});
        }
      }
      await applyLayer(tee(), dir, this.#applyOptions(diffId));
      if (!ended) throw new BerthError('LAYER_INVALID', `layer ${desc.digest}: the unpacker stopped before the end of the blob`);
      emit('verifying', desc.size);
      await w.commit();
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      // Keep a partial download for a resume; drop content that was bad.
      if (isNetworkError(err)) await w.close();
      else await w.abort();
      throw withLayer(err, desc);
    }
    return dir;
  }
}

/** Names the layer's digest in unpack errors (a diffID mismatch names only the diffIDs). */
function withLayer(err: unknown, desc: Descriptor): unknown {
  if (isBerthError(err) && !err.message.includes(desc.digest)) {
    return new BerthError(err.code, `layer ${desc.digest}: ${err.message}`, { cause: err });
  }
  return err;
}

/**
 * Pulls `input` and unpacks each layer (but those `options.snapshotter` has
 * committed) into a new directory under `layersRoot`, in overlayfs form.
 * Manifest, config and layer blobs end in `store` exactly as with
 * `pullImage`. The directories are the caller's: hand them to
 * `snapshotsFromLayers`, or remove them.
 */
export async function pullAndUnpack(
  client: RegistryClient,
  store: ContentStore,
  input: ImageReference | string,
  layersRoot: string,
  options: PullUnpackOptions = {},
): Promise<PullUnpackResult> {
  const { ref, name, descriptor, manifestDescriptor, manifest } = await resolveImageManifest(client, store, input, options);
  const { signal } = options;

  // The config first: the diffIDs are what each layer's unpack is checked against.
  const configDesc = manifest.config;
  options.lease?.add({ type: 'content', digest: configDesc.digest });
  if (!(await store.findInfo(configDesc.digest))) {
    options.onProgress?.({ id: configDesc.digest, kind: 'config', phase: 'downloading', current: 0, total: configDesc.size });
    await withRetry(
      () => store.ensure(configDesc, (offset) => client.openBlob(ref, configDesc, { offset, signal }), { ref: ingestRef(configDesc.digest), signal }),
      `fetching blob ${configDesc.digest} of ${name}`,
      { ...client.retryOptions, signal },
    );
  }
  options.onProgress?.({ id: configDesc.digest, kind: 'config', phase: 'done', current: configDesc.size, total: configDesc.size });
  const config = parseImageConfig(await store.readBlob(configDesc.digest, { maxBytes: MAX_CONFIG_BYTES }), {
    name: configDesc.digest,
    layerCount: manifest.layers.length,
  });
  const diffIds = config.rootfs.diff_ids;
  if (diffIds.length !== manifest.layers.length) {
    throw new BerthError('MANIFEST_INVALID', `image \`${name}\`: ${manifest.layers.length} layers but ${diffIds.length} diff_ids in config ${configDesc.digest}`);
  }
  for (const d of diffIds) parseDigest(d);

  await mkdir(layersRoot, { recursive: true, mode: 0o755 });
  for (const layer of manifest.layers) options.onProgress?.({ id: layer.digest, kind: 'layer', phase: 'waiting', current: 0, total: layer.size });

  const chains = chainIds(diffIds);
  const committed = new Set<string>();
  for (const [i, layer] of manifest.layers.entries()) {
    const chainId = chains[i]!;
    // Leased before they are looked at, so a collection meanwhile keeps what this pull decides to reuse.
    options.lease?.add({ type: 'content', digest: layer.digest });
    options.lease?.add({ type: 'snapshot', key: chainId });
    if (options.snapshotter && (await options.snapshotter.find(chainId))?.kind === 'committed') {
      committed.add(chainId);
      options.onProgress?.({ id: layer.digest, kind: 'layer', phase: 'done', current: layer.size, total: layer.size, cached: true });
    }
  }

  // One task per position: a layer listed twice gets a directory for each of its chains.
  const tasks = manifest.layers.flatMap((_, i) => (committed.has(chains[i]!) ? [] : [i]));
  const unpacked = new Map<number, { dir: string; cached: boolean }>();
  const puller = new LayerPuller(client, store, ref, layersRoot, options);
  try {
    await mapLimit(tasks, options.concurrency ?? 3, async (i) => {
      unpacked.set(i, await puller.pull(manifest.layers[i]!, diffIds[i]!));
    });
  } catch (err) {
    // The directories are this pull's own until it returns: none outlives a failure.
    await Promise.all([...unpacked.values()].map((u) => rm(u.dir, { recursive: true, force: true })));
    throw err;
  }

  const layers = manifest.layers.map((l, i): UnpackedLayer => {
    const inSnapshot = committed.has(chains[i]!);
    const u = unpacked.get(i);
    return {
      digest: l.digest,
      diffId: diffIds[i]!,
      chainId: chains[i]!,
      ...(u ? { dir: u.dir } : {}),
      cached: inSnapshot || (u?.cached ?? false),
      inSnapshot,
    };
  });
  return { ref: { ...ref, digest: descriptor.digest }, descriptor, manifestDescriptor, manifest, config, layers };
}
