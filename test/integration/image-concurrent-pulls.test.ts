/**
 * Pulls at the same time into one root (issue 4): three images built from
 * busybox-static that share layers at the same and at different positions
 * (so the same diffID under different chain IDs), pushed to docker-registry
 * by skopeo and pulled four at a time, through `pullAndStoreImage` and
 * through `pullAndUnpack` + `snapshotsFromLayers`. Every pull succeeds,
 * every image's chain mounts and runs `/bin/sh -c true`, and nothing is
 * left in the layers root. A pull killed midway leaves an unpack directory
 * that the next collection removes.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';

import { LocalContentStore } from '../../src/image/content/index.js';
import { RegistryClient } from '../../src/image/distribution/index.js';
import { pullAndUnpack, type PullUnpackProgress } from '../../src/image/distribution/pull-and-unpack.js';
import { OverlaySnapshotter, chainIds, snapshotsFromLayers, type Snapshotter } from '../../src/image/snapshot/index.js';
import { pullAndStoreImage } from '../../src/image/store/index.js';
import { openServices, withRootfs } from '../helpers/image-services.js';
import { withLeakCheck } from '../helpers/leaks.js';
import { TEST_TMP_PREFIX, repoRoot, testTmpRoot } from '../helpers/paths.js';
import { pushLayout, type BuiltImage } from '../helpers/registry/image-builder.js';
import { DOCKER_REGISTRY_BIN, startDockerRegistry, type RegistryServer } from '../helpers/registry/docker-registry.js';
import { buildImageLayout, busyboxLayer, type LayerEntry } from '../helpers/registry/image-with-config.js';
import { requires, which } from '../helpers/requires.js';

const skip =
  requires('root', 'overlay') ??
  (!existsSync(DOCKER_REGISTRY_BIN) ? 'needs docker-registry (apt docker-registry)' : !which('skopeo') ? 'needs skopeo' : !existsSync('/bin/busybox') ? 'needs busybox-static' : undefined);

const retry = { attempts: 2, baseDelayMs: 10 };

/** Mounts a fresh container snapshot on `parent` at `target` and runs `/bin/sh -c true` in it by chroot. */
async function runsShell(sn: Snapshotter, parent: string, target: string): Promise<void> {
  await withRootfs(sn, parent, target, async (dir) => {
    execFileSync('chroot', [dir, '/bin/sh', '-c', 'true'], { stdio: 'pipe' });
    assert.ok(existsSync(join(dir, 'shared/blob')), 'the shared layer is in the rootfs');
  });
}

withLeakCheck();

describe('concurrent pulls of images that share layers', { skip }, () => {
  let work: string;
  let reg: RegistryServer;
  let mnt: string;
  /** one: [busybox, shared, own]; two: [busybox, own, shared]; three: [shared, busybox, own]. */
  const built = new Map<string, BuiltImage>();
  const refs: string[] = [];

  before(async () => {
    work = await mkdtemp(join(testTmpRoot(), `${TEST_TMP_PREFIX}concurrent-pulls-`));
    mnt = join(work, 'mnt');
    await mkdir(mnt);
    reg = await startDockerRegistry();
    const busybox = await busyboxLayer(['sh', 'true']);
    const shared: LayerEntry[] = [{ name: 'shared/' }, { name: 'shared/blob', data: randomBytes(2 << 20) }];
    const own = (n: string): LayerEntry[] => [{ name: `own-${n}/` }, { name: `own-${n}/blob`, data: randomBytes(1 << 20) }];
    const layouts: Record<string, LayerEntry[][]> = {
      one: [busybox, shared, own('one')],
      two: [busybox, own('two'), shared],
      three: [shared, busybox, own('three')],
    };
    for (const [name, layers] of Object.entries(layouts)) {
      const image = await buildImageLayout(join(work, 'layouts', name), { layers, config: { Cmd: ['/bin/sh'] } });
      pushLayout(image, `${reg.host}/${name}:1`);
      built.set(name, image);
      refs.push(`${reg.host}/${name}:1`);
    }
    const [one, two, three] = [built.get('one')!, built.get('two')!, built.get('three')!];
    assert.equal(one.diffIds[0], two.diffIds[0], 'busybox at the same position');
    assert.equal(one.diffIds[1], two.diffIds[2], 'the shared layer at different positions');
    assert.equal(one.diffIds[1], three.diffIds[0]);
    assert.notEqual(chainIds(one.diffIds)[1], chainIds(two.diffIds)[2], 'so under different chain IDs');
  });
  after(async () => {
    await reg?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  test('4 concurrent pullAndStoreImage calls of 3 images sharing layers all succeed, every image runs, nothing is left in layersRoot; a second pull fetches and unpacks nothing', async () => {
    const s = await openServices(join(work, 'root-store'));
    try {
      // `one` twice: the same chains at the same time.
      const pulls = await Promise.all([refs[0]!, refs[1]!, refs[2]!, refs[0]!].map((ref) => pullAndStoreImage(s, ref)));
      for (const [i, name] of ['one', 'two', 'three', 'one'].entries()) {
        assert.equal(pulls[i]!.chainId, chainIds(built.get(name)!.diffIds).at(-1));
      }
      assert.deepEqual(s.images.list().map((i) => i.name), refs.slice().sort());
      const expected = new Set(['one', 'two', 'three'].flatMap((n) => chainIds(built.get(n)!.diffIds)));
      assert.deepEqual((await s.snapshotter.list()).map((x) => x.name).sort(), [...expected].sort());
      for (const p of pulls.slice(0, 3)) await runsShell(s.snapshotter, p.chainId!, mnt);
      assert.deepEqual(await readdir(s.layersRoot), [], 'nothing is left in layersRoot');
      assert.deepEqual(await s.content.listIngests(), []);
      assert.deepEqual(s.leases.list(), []);

      const events: PullUnpackProgress[] = [];
      const again = await pullAndStoreImage(s, refs[1]!, { onProgress: (e) => events.push(e) });
      assert.ok(again.pull.layers.every((l) => l.inSnapshot && l.cached), 'every layer was a snapshot already');
      assert.deepEqual(events.filter((e) => e.phase === 'downloading' || e.phase === 'extracting'), [], 'no download, no unpack');
      assert.deepEqual(await readdir(s.layersRoot), []);
      const report = await s.collector.collect();
      assert.deepEqual([report.content, report.snapshots, report.layerDirs], [[], [], []]);
    } finally {
      await s.close();
    }
  });

  test('4 concurrent pullAndUnpack + snapshotsFromLayers in one process, one snapshotter, all succeed and every image runs', async () => {
    const root = join(work, 'root-plain');
    const store = new LocalContentStore(join(root, 'content'));
    const sn = await new OverlaySnapshotter(join(root, 'snapshots')).init();
    const layersRoot = join(root, 'layers');
    const client = new RegistryClient({ retry });
    try {
      const results = await Promise.all(
        [refs[2]!, refs[1]!, refs[0]!, refs[2]!].map(async (ref) => {
          const pulled = await pullAndUnpack(client, store, ref, layersRoot, { snapshotter: sn });
          return snapshotsFromLayers(sn, pulled.layers);
        }),
      );
      for (const snaps of results.slice(0, 3)) await runsShell(sn, snaps.at(-1)!.chainId, mnt);
      assert.deepEqual(await readdir(layersRoot), [], 'nothing is left in layersRoot');
      assert.deepEqual(await store.listIngests(), []);
    } finally {
      await client.close();
      for (const x of (await sn.list()).reverse()) await sn.remove(x.name).catch(() => {});
    }
  });

  test('a pull killed midway leaves its unpack directory; the next collection removes it, and a live pull keeps its own', async () => {
    const s = await openServices(join(work, 'root-killed'));
    try {
      // A child process pulls `one` and is killed by SIGKILL as its own (third) layer starts to download.
      const image = built.get('one')!;
      const modules = (p: string): string => JSON.stringify(pathToFileURL(join(repoRoot, 'dist/src/image', p)).href);
      const script = `
        import { LocalContentStore } from ${modules('content/index.js')};
        import { RegistryClient, pullAndUnpack } from ${modules('distribution/index.js')};
        const store = new LocalContentStore(${JSON.stringify(join(work, 'root-killed', 'content'))});
        const client = new RegistryClient();
        await pullAndUnpack(client, store, ${JSON.stringify(refs[0])}, ${JSON.stringify(s.layersRoot)}, {
          concurrency: 1,
          onProgress: (e) => { if (e.id === ${JSON.stringify(image.layerDigests[2])} && e.phase === 'downloading') process.kill(process.pid, 'SIGKILL'); },
        });
        process.exit(3);`;
      const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      const signal = await new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, sig) => resolve(sig)));
      assert.equal(signal, 'SIGKILL', stderr);
      const left = await readdir(s.layersRoot);
      assert.ok(left.length >= 3, `the killed pull left its unpack directories: ${left.join(', ')}`);

      // A pull of this process running meanwhile: the collection keeps its directories.
      let collecting: ReturnType<typeof s.collector.collect> | undefined;
      const pulled = await pullAndStoreImage(s, refs[1]!, {
        onProgress: (e) => {
          if (e.phase === 'downloading' && !collecting) collecting = s.collector.collect();
        },
      });
      assert.ok(collecting, 'the collection ran during the pull');
      const collected = await collecting;
      assert.deepEqual(collected.layerDirs.slice().sort(), left.slice().sort(), "only the dead pull's directories were removed");
      assert.ok(collected.bytesFreed > 0);
      await runsShell(s.snapshotter, pulled.chainId!, mnt);
      assert.deepEqual(await readdir(s.layersRoot), []);
    } finally {
      await s.close();
    }
  });
});
