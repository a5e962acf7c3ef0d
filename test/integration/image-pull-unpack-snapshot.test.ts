/**
 * pullAndUnpack with a snapshotter: a layer whose chain is committed as a
 * snapshot already is neither fetched nor unpacked, so a second image on
 * the same base does not fetch the base blob again, even when that blob has
 * been removed from the store while its snapshot lives on. Every config and
 * layer blob, and every chain, is added to the pull's lease. A skipped
 * layer whose snapshot is gone by the time it is registered is a clear
 * error that leaves no directory.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { isBerthError } from '../../src/errors/index.js';
import type { LeaseResource, ResourceLease } from '../../src/image/content/lease.js';
import { LocalContentStore } from '../../src/image/content/index.js';
import { RegistryClient } from '../../src/image/distribution/index.js';
import { pullAndUnpack, type PullUnpackProgress } from '../../src/image/distribution/pull-and-unpack.js';
import { OverlaySnapshotter, chainIds, snapshotsFromLayers } from '../../src/image/snapshot/index.js';
import { buildBusyboxLayout, type BuiltImage } from '../helpers/registry/busybox-image.js';
import { DOCKER_REGISTRY_BIN, startDockerRegistry, type RegistryServer } from '../helpers/registry/docker-registry.js';
import { which } from '../helpers/requires.js';

const skip = !existsSync(DOCKER_REGISTRY_BIN) ? 'needs docker-registry (apt docker-registry)' : !which('skopeo') ? 'needs skopeo' : !existsSync('/bin/busybox') ? 'needs busybox-static' : undefined;

function recordingLease(): ResourceLease & { added: LeaseResource[] } {
  const added: LeaseResource[] = [];
  return { id: 'test', added, add: (r) => void added.push(r) };
}

describe('pullAndUnpack skips layers whose snapshot is committed', { skip }, () => {
  let work: string;
  let reg: RegistryServer;
  let one: BuiltImage;
  let two: BuiltImage;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'berth-pull-snap-'));
    reg = await startDockerRegistry();
    one = await buildBusyboxLayout(join(work, 'one'), { extraLayerBytes: randomBytes(1 << 20) });
    two = await buildBusyboxLayout(join(work, 'two'), { extraLayerBytes: randomBytes(1 << 20) });
    for (const [img, tag] of [[one, '1'], [two, '2']] as const) {
      execFileSync('skopeo', ['--insecure-policy', 'copy', '-q', '--dest-tls-verify=false', `oci:${img.dir}:1`, `docker://${reg.host}/app:${tag}`], { stdio: 'pipe' });
    }
  });
  after(async () => {
    await reg?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  test('a second image on a shared, committed base fetches only its own layer', async () => {
    assert.equal(one.layerDigests[0], two.layerDigests[0], 'the two images share the busybox layer');
    assert.notEqual(one.layerDigests[1], two.layerDigests[1]);
    const store = new LocalContentStore(join(work, 'store'));
    const sn = await new OverlaySnapshotter(join(work, 'snapshots')).init();
    const layersRoot = join(work, 'layers');
    const client = new RegistryClient();
    try {
      const first = await pullAndUnpack(client, store, `${reg.host}/app:1`, layersRoot, { snapshotter: sn });
      assert.deepEqual(first.layers.map((l) => l.inSnapshot), [false, false]);
      assert.deepEqual(first.layers.map((l) => l.chainId), chainIds(one.diffIds));
      await snapshotsFromLayers(sn, first.layers);
      // The base blob is collected; its snapshot stays in use.
      await store.delete(one.layerDigests[0]!);

      const events: PullUnpackProgress[] = [];
      const lease = recordingLease();
      const second = await pullAndUnpack(client, store, `${reg.host}/app:2`, layersRoot, { snapshotter: sn, lease, onProgress: (e) => events.push(e) });
      const [base, own] = second.layers;
      assert.equal(base!.inSnapshot, true);
      assert.equal(base!.cached, true);
      assert.equal(base!.dir, undefined, 'nothing unpacked for the base');
      assert.equal(await store.findInfo(two.layerDigests[0]!), undefined, 'the base blob was not fetched again');
      assert.deepEqual(
        events.filter((e) => e.id === two.layerDigests[0] && e.phase !== 'waiting').map((e) => [e.phase, e.cached]),
        [['done', true]],
        'no download event for the base layer',
      );
      assert.equal(own!.inSnapshot, false);
      assert.ok(existsSync(own!.dir!));
      assert.ok(await store.findInfo(two.layerDigests[1]!));

      const chains = chainIds(two.diffIds);
      for (const chainId of chains) assert.ok(lease.added.some((r) => r.type === 'snapshot' && r.key === chainId), `chain ${chainId} is leased`);
      for (const digest of [two.configDigest, ...two.layerDigests]) {
        assert.ok(lease.added.some((r) => r.type === 'content' && r.digest === digest), `blob ${digest} is leased`);
      }

      // The base's chain is the snapshot's: registering takes the own layer only.
      assert.deepEqual(await snapshotsFromLayers(sn, second.layers), [
        { chainId: chains[0], imported: false },
        { chainId: chains[1], imported: true },
      ]);
      assert.equal(existsSync(own!.dir!), false, 'the own layer directory was taken');

      // Without the snapshotter the base blob is fetched again: the skip above is the snapshotter's doing.
      const third = await pullAndUnpack(client, store, `${reg.host}/app:2`, layersRoot);
      assert.equal(third.layers[0]!.inSnapshot, false);
      assert.ok(await store.findInfo(two.layerDigests[0]!), 'fetched when no snapshotter is asked');
      for (const l of third.layers) await rm(l.dir!, { recursive: true, force: true });
      assert.deepEqual(await readdir(layersRoot), []);
    } finally {
      await client.close();
      for (const s of (await sn.list()).reverse()) await sn.remove(s.name).catch(() => {});
    }
  });
});

test('snapshotsFromLayers: a skipped layer whose snapshot is gone fails with SNAPSHOT_NOT_FOUND, and the directories it was given are deleted', async () => {
  const work = await mkdtemp(join(tmpdir(), 'berth-pull-snap-gone-'));
  try {
    const sn = await new OverlaySnapshotter(join(work, 'snapshots')).init();
    const top = join(work, 'layers', 'top');
    await mkdir(top, { recursive: true });
    await writeFile(join(top, 'file'), 'top');
    const gone = `sha256:${'1'.repeat(64)}`;
    await assert.rejects(snapshotsFromLayers(sn, [{ diffId: gone }, { dir: top, diffId: `sha256:${'2'.repeat(64)}` }]), (err: unknown) => {
      assert.ok(isBerthError(err, 'SNAPSHOT_NOT_FOUND'), String(err));
      assert.match(err.message, new RegExp(`layer ${gone}: snapshot \`${chainIds([gone])[0]}\` is gone.*pull the image again`));
      return true;
    });
    assert.equal(existsSync(top), false, 'the directory handed over is deleted');
    assert.deepEqual(await sn.list(), []);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
});
