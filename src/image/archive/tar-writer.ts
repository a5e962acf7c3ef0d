/**
 * Writes a tar of the entries given, deterministically: the caller's order
 * (the writers sort), every mtime the epoch, owner 0:0 without names, mode
 * 0644 for files and 0755 for directories, so the same images give the
 * same bytes. File contents stream from their source (a content store
 * blob, a spool file) with the size declared up front; a source that
 * yields another size fails the write.
 */
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar-stream';

export type TarEntry =
  | { name: string; type: 'directory' }
  | { name: string; type: 'file'; bytes: Buffer }
  | { name: string; type: 'file'; sizeBytes: number; open: () => Promise<Readable> };

const EPOCH = new Date(0);

export async function writeTar(entries: readonly TarEntry[], out: Writable, signal?: AbortSignal): Promise<void> {
  const pack = tar.pack();
  const done = pipeline(pack as unknown as Readable, out, signal ? { signal } : {});
  done.catch(() => {});
  // An output that fails (a closed socket) must end the write, not leave it waiting on an entry.
  const outputFailed = done.then(
    () => new Promise<never>(() => {}),
    (err: unknown) => Promise.reject(err),
  );
  outputFailed.catch(() => {});
  const step = <T>(p: Promise<T>): Promise<T> => Promise.race([p, outputFailed]);
  try {
    for (const e of entries) {
      signal?.throwIfAborted();
      const base = { name: e.name, mtime: EPOCH, uid: 0, gid: 0, uname: '', gname: '' };
      if (e.type === 'directory') {
        await step(new Promise<void>((resolve, reject) => pack.entry({ ...base, type: 'directory', mode: 0o755 }, (err) => (err ? reject(err) : resolve()))));
      } else if ('bytes' in e) {
        await step(new Promise<void>((resolve, reject) => pack.entry({ ...base, type: 'file', mode: 0o644, size: e.bytes.length }, e.bytes, (err) => (err ? reject(err) : resolve()))));
      } else {
        const source = await e.open();
        const written = new Promise<void>((resolve, reject) => {
          const sink = pack.entry({ ...base, type: 'file', mode: 0o644, size: e.sizeBytes }, (err) => (err ? reject(err) : resolve()));
          pipeline(source, sink).catch(reject);
        });
        written.catch(() => {});
        await step(written).finally(() => source.destroy());
      }
    }
    pack.finalize();
    await done;
  } catch (err) {
    pack.destroy(err as Error);
    await done.catch(() => {});
    throw err;
  }
}
