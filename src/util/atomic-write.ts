import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';

export interface AtomicWriteOptions {
  mode?: number;
  /** fsync the file and its directory; off for state under /run (tmpfs), on for disk. */
  durable?: boolean;
}

/**
 * Write a file so that readers see either the old or the new content, never
 * a torn one: write a temp file in the same directory, then rename over.
 * Synchronous on purpose: these are small files, and a short command that
 * never touches the libuv thread pool never pays for starting it.
 */
export async function atomicWriteFile(path: string, data: string | Uint8Array, options: AtomicWriteOptions = {}): Promise<void> {
  atomicWriteFileSync(path, data, options);
}

export function atomicWriteFileSync(path: string, data: string | Uint8Array, options: AtomicWriteOptions = {}): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  const fd = openSync(tmp, 'w', options.mode ?? 0o600);
  try {
    writeAll(fd, typeof data === 'string' ? Buffer.from(data) : data);
    if (options.durable) fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch {
      // Already gone.
    }
    throw err;
  }
  closeSync(fd);
  try {
    renameSync(tmp, path);
  } catch (err) {
    try {
      unlinkSync(tmp);
    } catch {
      // Already gone.
    }
    throw err;
  }
  if (options.durable) {
    const dir = openSync(dirname(path), 'r');
    try {
      fsyncSync(dir);
    } finally {
      closeSync(dir);
    }
  }
}

function writeAll(fd: number, data: Uint8Array): void {
  let off = 0;
  while (off < data.length) off += writeSync(fd, data, off, data.length - off);
}
