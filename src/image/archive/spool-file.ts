/**
 * Writes a stream to a new private file while hashing it: how archive import
 * and export keep a member or a decompressed layer on disk with its digest
 * and size, in one pass.
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import type { Duplex, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

export interface Spooled {
  sizeBytes: number;
  /** Hex digest of the bytes written. */
  hex: string;
}

/** `source` (through `through`, if given) to a new file at `path` (mode 0600, never an existing one). */
export async function spoolFile(path: string, algorithm: string, source: Readable, through?: Duplex): Promise<Spooled> {
  const hash = createHash(algorithm);
  let sizeBytes = 0;
  async function* measure(chunks: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    for await (const chunk of chunks) {
      hash.update(chunk);
      sizeBytes += chunk.byteLength;
      yield chunk;
    }
  }
  const sink = createWriteStream(path, { flags: 'wx', mode: 0o600 });
  await (through ? pipeline(source, through, measure, sink) : pipeline(source, measure, sink));
  return { sizeBytes, hex: hash.digest('hex') };
}
