import assert from 'node:assert/strict';
import { test } from 'node:test';

import { MEDIA_TYPE } from '../manifest/media-types.js';
import { markReferenced } from './gc-mark.js';
import { makeStoreFixture, putBlob, putImage, sha256, type StoreFixture } from './testing.js';

async function withFixture(fn: (fx: StoreFixture) => Promise<void>): Promise<void> {
  const fx = await makeStoreFixture();
  try {
    await fn(fx);
  } finally {
    await fx.close();
  }
}

const sorted = (s: Set<string>): string[] => [...s].sort();

test('an image marks its index, the manifests of it in the store, their configs and layers, and the chain snapshots', () =>
  withFixture(async (fx) => {
    const a = await putImage(fx, ['base', 'a-top']);
    const absent = { mediaType: MEDIA_TYPE.ociManifest, digest: sha256('another platform, never pulled'), size: 30 };
    const index = await putBlob(
      fx.content,
      JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPE.ociIndex, manifests: [{ ...a.manifest, platform: { os: 'linux', architecture: 'amd64' } }, absent] }),
      MEDIA_TYPE.ociIndex,
    );
    fx.images.create({ name: 'a', target: index });
    // Garbage: another image's blobs and snapshots, no record.
    const b = await putImage(fx, ['base', 'b-top']);
    const stray = await putBlob(fx.content, 'nobody references me');

    const marked = await markReferenced(fx, fx.clock.now);
    assert.deepEqual(sorted(marked.content), [index.digest, a.manifest.digest, a.config.digest, ...a.layers.map((l) => l.digest), absent.digest].sort());
    assert.deepEqual(sorted(marked.snapshots), [...a.chainIds].sort());
    assert.deepEqual(sorted(marked.ingests), []);
    assert.equal(marked.imagesRevision, fx.images.revision());
    for (const d of [b.manifest.digest, b.config.digest, b.layers[1]!.digest, stray.digest]) assert.ok(!marked.content.has(d), d);
    assert.ok(!marked.snapshots.has(b.chainIds[1]!));
    // The shared base layer is marked through image a.
    assert.equal(b.chainIds[0], a.chainIds[0]);
  }));

test('leases mark their resources; active and view snapshots mark their parent chains; expired leases mark nothing', () =>
  withFixture(async (fx) => {
    const a = await putImage(fx, ['l0', 'l1', 'l2']);
    const b = await putImage(fx, ['m0', 'm1']);
    const c = await putImage(fx, ['n0']);
    await fx.snapshotter.prepare('container-1', a.chainIds[1]!);
    await fx.snapshotter.view('view-1', b.chainIds[0]!);
    const lease = fx.leases.create({ id: 'pull' });
    lease.add({ type: 'content', digest: c.config.digest });
    lease.add({ type: 'snapshot', key: c.chainIds[0]! });
    lease.add({ type: 'ingest', ref: 'ensure-x' });
    const old = fx.leases.create({ id: 'old', expiresInMs: 1000 });
    old.add({ type: 'content', digest: c.manifest.digest });

    const marked = await markReferenced(fx, new Date(fx.clock.now.getTime() + 1000));
    assert.deepEqual(sorted(marked.snapshots), ['container-1', 'view-1', a.chainIds[0]!, a.chainIds[1]!, b.chainIds[0]!, c.chainIds[0]!].sort());
    assert.deepEqual(sorted(marked.content), [c.config.digest]);
    assert.deepEqual(sorted(marked.ingests), ['ensure-x']);
  }));

test('an image whose target is not in the store marks the target only; a non-image media type is not walked', () =>
  withFixture(async (fx) => {
    const target = { mediaType: MEDIA_TYPE.ociManifest, digest: sha256('not here'), size: 8 };
    fx.images.create({ name: 'gone', target });
    const artifact = await putBlob(fx.content, JSON.stringify({ schemaVersion: 2, layers: [] }), 'application/vnd.example.thing+json');
    fx.images.create({ name: 'artifact', target: artifact });
    const marked = await markReferenced(fx, fx.clock.now);
    assert.deepEqual(sorted(marked.content), [target.digest, artifact.digest].sort());
  }));

test('a manifest in the store that does not parse stops the mark with an error naming the image', () =>
  withFixture(async (fx) => {
    const broken = await putBlob(fx.content, '{"schemaVersion": 2, "layers": "no"}', MEDIA_TYPE.ociManifest);
    fx.images.create({ name: 'broken', target: broken });
    await assert.rejects(markReferenced(fx, fx.clock.now), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'MANIFEST_INVALID');
      assert.match(err.message, /^image `docker.io\/library\/broken:latest`: manifest `sha256:[0-9a-f]{64}`: .*garbage collection stopped before removing anything$/);
      return true;
    });
  }));
