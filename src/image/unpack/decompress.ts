/**
 * Layer compression, detected from the stream's first bytes (the media type
 * may lie or be the generic `tar`): gzip, zstd, or plain tar.
 */
import { Readable, type Transform } from 'node:stream';
import * as zlib from 'node:zlib';
import { BerthError } from '../../errors/index.js';

export type Compression = 'gzip' | 'zstd' | 'none';

const MAGIC: [Compression | 'bzip2' | 'xz', number[]][] = [
  ['gzip', [0x1f, 0x8b, 0x08]],
  ['zstd', [0x28, 0xb5, 0x2f, 0xfd]],
  ['bzip2', [0x42, 0x5a, 0x68]],
  ['xz', [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
];

export function detectCompression(head: Uint8Array): Compression | 'bzip2' | 'xz' {
  for (const [kind, magic] of MAGIC) {
    if (head.byteLength >= magic.length && magic.every((b, i) => head[i] === b)) return kind;
  }
  return 'none';
}

/** Reads enough of `source` to see its magic, then returns it whole with the compression found. */
export async function peekCompression(source: AsyncIterable<Uint8Array>): Promise<{ compression: Compression; stream: Readable }> {
  const it = source[Symbol.asyncIterator]();
  const head: Uint8Array[] = [];
  let have = 0;
  let done = false;
  while (have < 6) {
    const r = await it.next();
    if (r.done) {
      done = true;
      break;
    }
    head.push(r.value);
    have += r.value.byteLength;
  }
  const kind = detectCompression(Buffer.concat(head));
  if (kind === 'bzip2' || kind === 'xz') {
    throw new BerthError('LAYER_UNSUPPORTED', `layer is ${kind}-compressed, which the OCI image spec does not allow`);
  }
  async function* rest(): AsyncIterable<Uint8Array> {
    yield* head;
    if (done) return;
    for (;;) {
      const r = await it.next();
      if (r.done) return;
      yield r.value;
    }
  }
  return { compression: kind, stream: Readable.from(rest(), { objectMode: false }) };
}

/**
 * Output buffer of one inflate call. Each call is a trip to the thread pool
 * and back (two thread switches); 1 MiB outputs keep those trips few when
 * the input comes in 1 MiB pieces (pull-and-unpack gathers it so).
 */
const INFLATE_CHUNK_BYTES = 1 << 20;
/**
 * Inflated bytes kept ready ahead of the unpacker, so that inflating (on the
 * thread pool) goes on while the unpacker hashes, parses and waits for its
 * file writes, instead of the two taking turns.
 */
const INFLATE_AHEAD_BYTES = 4 << 20;

/** A decompressor for the compression, or undefined for plain tar. */
export function decompressor(compression: Compression): Transform | undefined {
  if (compression === 'gzip') {
    return zlib.createGunzip({ chunkSize: INFLATE_CHUNK_BYTES, readableHighWaterMark: INFLATE_AHEAD_BYTES } as zlib.ZlibOptions);
  }
  if (compression === 'zstd') {
    // zlib gained zstd in Node 22.15 / 23.8; use it when this Node has it.
    const create = (zlib as unknown as { createZstdDecompress?: () => Transform }).createZstdDecompress;
    if (!create) throw new BerthError('LAYER_UNSUPPORTED', `layer is zstd-compressed and this Node.js (${process.version}) cannot decompress zstd; use Node 22.15 or later`);
    return create();
  }
  return undefined;
}
