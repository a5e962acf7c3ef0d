/**
 * Mounting a snapshotter's mount descriptions the way a runtime would
 * (`mount -t TYPE -o OPTIONS SOURCE TARGET`): the snapshotters never mount
 * anything themselves.
 */
import { execFileSync } from 'node:child_process';

import type { Mount } from '../../src/image/snapshot/index.js';

/** Mounts each of `mounts` on `target`, in order. */
export function mountAll(mounts: Mount[], target: string): void {
  for (const m of mounts) {
    if (m.type === 'bind') {
      // util-linux turns `bind,ro` into a bind followed by a read-only remount.
      execFileSync('mount', ['--bind', '-o', m.options.join(','), m.source, target]);
    } else {
      execFileSync('mount', ['-t', m.type, '-o', m.options.join(','), m.source, target]);
    }
  }
}

/** Runs `fn` with `mounts` mounted on `target`, unmounting after. */
export async function withMounted<T>(mounts: Mount[], target: string, fn: () => Promise<T>): Promise<T> {
  mountAll(mounts, target);
  try {
    return await fn();
  } finally {
    execFileSync('umount', [target]);
  }
}
