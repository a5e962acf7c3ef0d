/**
 * One cold pull + unpack with berth, for bench/pull.sh:
 *
 *   node dist/bench/pull/berth-pull.js REF STORE_DIR LAYERS_DIR
 *
 * Pulls into a content store (plain HTTP for 127.0.0.1) and unpacks each
 * layer, in the same streaming pass as its download, into a directory of
 * the pull's own, LAYERS_DIR/unpack-<pid>-<start time>-<random>-<diffID
 * hex, 12>, in overlayfs form (what ctr and podman produce: one lower
 * directory per layer). The directories are left for bench/pull.sh to
 * remove. Prints the peak RSS in MiB on stderr.
 */
import { LocalContentStore } from '../../src/image/content/index.js';
import { RegistryClient } from '../../src/image/distribution/index.js';
import { pullAndUnpack } from '../../src/image/distribution/pull-and-unpack.js';

const [ref, storeDir, layersDir] = process.argv.slice(2);
if (!ref || !storeDir || !layersDir) {
  console.error('usage: berth-pull.js REF STORE_DIR LAYERS_DIR');
  process.exit(2);
}
const store = new LocalContentStore(storeDir);
const client = new RegistryClient();
try {
  await pullAndUnpack(client, store, ref, layersDir, { platform: 'linux/amd64' });
} finally {
  await client.close();
}
console.error(`peak-rss-mib ${(process.resourceUsage().maxRSS / 1024).toFixed(0)}`);
