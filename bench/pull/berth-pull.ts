/**
 * One cold pull + unpack with berth, for bench/pull.sh:
 *
 *   node dist/bench/pull/berth-pull.js REF STORE_DIR ROOTFS_DIR
 *
 * Pulls into a content store (plain HTTP for 127.0.0.1), then applies the
 * layers in order into ROOTFS_DIR (a full tree). Prints the peak RSS in MiB
 * on stderr.
 */
import { mkdir } from 'node:fs/promises';

import { LocalContentStore } from '../../src/image/content/index.js';
import { pullImage, RegistryClient } from '../../src/image/distribution/index.js';
import { applyLayer } from '../../src/image/unpack/index.js';

const [ref, storeDir, rootfs] = process.argv.slice(2);
if (!ref || !storeDir || !rootfs) {
  console.error('usage: berth-pull.js REF STORE_DIR ROOTFS_DIR');
  process.exit(2);
}
const store = new LocalContentStore(storeDir);
const client = new RegistryClient();
try {
  const { manifest, config } = await pullImage(client, store, ref, { platform: 'linux/amd64' });
  await mkdir(rootfs, { recursive: true });
  for (const [i, layer] of manifest.layers.entries()) {
    await applyLayer(await store.createReadStream(layer.digest), rootfs, { whiteouts: 'delete', expectedDiffId: config.rootfs.diff_ids[i] });
  }
} finally {
  await client.close();
}
console.error(`peak-rss-mib ${(process.resourceUsage().maxRSS / 1024).toFixed(0)}`);
