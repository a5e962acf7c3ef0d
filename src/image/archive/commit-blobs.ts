/**
 * The last step of an import: blobs that were all verified already go into
 * the content store, each through `ensure` (which verifies size and digest
 * again on commit). Layers and configs first, the manifests and indexes
 * that name them after, so a reader of the store never meets a manifest
 * whose blobs are missing.
 */
import type { ContentDescriptor, ContentStore } from '../content/index.js';
import type { ArchiveView } from './archive-view.js';

export type PendingBlob = { descriptor: ContentDescriptor } & ({ entry: string } | { bytes: Buffer });

/** Adds a blob once; later duplicates (a layer two images share) are dropped. */
export function addPending(pending: Map<string, PendingBlob>, blob: PendingBlob): void {
  if (!pending.has(blob.descriptor.digest)) pending.set(blob.descriptor.digest, blob);
}

export async function commitBlobs(store: ContentStore, view: ArchiveView, pending: Iterable<PendingBlob>, signal?: AbortSignal): Promise<void> {
  for (const blob of pending) {
    signal?.throwIfAborted();
    const { digest, size, mediaType } = blob.descriptor;
    await store.ensure(
      { digest, size, ...(mediaType ? { mediaType } : {}) },
      (offset) =>
        'bytes' in blob
          ? (async function* one() {
              yield blob.bytes.subarray(offset);
            })()
          : view.open(blob.entry, { start: offset }),
      signal ? { signal } : {},
    );
  }
}
