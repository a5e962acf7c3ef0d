/** Writing image archives to files and reading them back, for the archive tests. */
import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import type { Writable } from 'node:stream';
import * as tar from 'tar-stream';

/** Runs an exporter into a file and waits until the file is closed, also when the exporter fails. */
export async function toFile(path: string, write: (out: Writable) => Promise<void>): Promise<void> {
  const out = createWriteStream(path);
  const closed = once(out, 'close');
  try {
    await write(out);
  } finally {
    out.end();
    await closed;
  }
}

/** Every file entry of a tar file, by name (the archives in the tests are a few MiB). */
export async function readTar(path: string): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  const extract = tar.extract();
  createReadStream(path).pipe(extract as unknown as NodeJS.WritableStream);
  for await (const entry of extract) {
    const chunks: Buffer[] = [];
    for await (const c of entry) chunks.push(c as Buffer);
    if (entry.header.type === 'file') files.set(entry.header.name, Buffer.concat(chunks));
  }
  return files;
}
