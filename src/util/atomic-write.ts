import { open, rename, unlink } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';

export interface AtomicWriteOptions {
  mode?: number;
  /** fsync the file and its directory; off for state under /run (tmpfs), on for disk. */
  durable?: boolean;
}

/**
 * Write a file so that readers see either the old or the new content, never
 * a torn one: write a temp file in the same directory, then rename over.
 */
export async function atomicWriteFile(path: string, data: string | Uint8Array, options: AtomicWriteOptions = {}): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  const fh = await open(tmp, 'w', options.mode ?? 0o600);
  try {
    await fh.writeFile(data);
    if (options.durable) await fh.sync();
  } catch (err) {
    await fh.close();
    await unlink(tmp).catch(() => {});
    throw err;
  }
  await fh.close();
  try {
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw err;
  }
  if (options.durable) {
    const dir = await open(dirname(path), 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }
}
