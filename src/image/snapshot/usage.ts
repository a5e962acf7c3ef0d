import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';

import type { SnapshotUsage } from './snapshotter.js';

/**
 * Disk usage of a tree, as `du` counts it (and containerd's fs.DiskUsage):
 * allocated blocks (st_blocks × 512, so sparse files count what they use),
 * each inode once however many hard links reach it. Does not cross into
 * mounts' contents any differently: call it on unmounted trees.
 */
export async function directoryUsage(dir: string): Promise<SnapshotUsage> {
  const seen = new Set<string>();
  let sizeBytes = 0;
  const visit = async (path: string): Promise<void> => {
    const st = await lstat(path);
    const id = `${st.dev}:${st.ino}`;
    if (!seen.has(id)) {
      seen.add(id);
      sizeBytes += st.blocks * 512;
    }
    if (st.isDirectory()) {
      for (const name of await readdir(path)) await visit(join(path, name));
    }
  };
  await visit(dir);
  return { sizeBytes, inodes: seen.size };
}
