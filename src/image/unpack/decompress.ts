/**
 * Layer compression, detected from the stream's first bytes (the media type
 * may lie or be the generic `tar`): gzip, zstd, or plain tar.
 *
 * zstd comes from `zstd-napi` (Node-API bindings that statically link the
 * zstd 1.5 library they bundle): node:zlib has zstd only from Node 22.15,
 * and berth runs on Node 20 (one decoder on every Node, the one tested).
 * Chosen over the alternatives measured on a 110 MiB layer (docs/image.md,
 * "zstd layers"): `fzstd` (pure JavaScript) decompresses 5-7 times slower;
 * `@mongodb-js/zstd` has no streaming API and does not install without
 * GitHub (its fallback build script is not in the package); the `zstd`
 * command as a child process unpacks a layer about 1.7 times slower (pipe
 * reads of 64 KiB), is one more process per layer to supervise and one
 * more Debian package. `zstd-napi` builds from source with node-gyp when
 * its prebuilt binary cannot be fetched, as better-sqlite3 does, so it
 * installs from the npm registry alone. It is loaded on first use, so that
 * a process that never meets a zstd layer does not load it.
 */
import { createRequire } from 'node:module';
import { Duplex, Readable } from 'node:stream';
import * as zlib from 'node:zlib';
import type * as ZstdBinding from 'zstd-napi/binding.js';
import { BerthError } from '../../errors/index.js';

export type Compression = 'gzip' | 'zstd' | 'none';

const MAGIC: [Compression | 'bzip2' | 'xz', number[]][] = [
  ['gzip', [0x1f, 0x8b, 0x08]],
  ['zstd', [0x28, 0xb5, 0x2f, 0xfd]],
  ['bzip2', [0x42, 0x5a, 0x68]],
  ['xz', [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
];

/**
 * A zstd stream may also start with a skippable frame (magic 0x184D2A50 to
 * 0x184D2A5F, little-endian), which decoders pass over; containerd's
 * detection accepts it too.
 */
function isZstdSkippableFrame(head: Uint8Array): boolean {
  return head.byteLength >= 4 && (head[0]! & 0xf0) === 0x50 && head[1] === 0x2a && head[2] === 0x4d && head[3] === 0x18;
}

export function detectCompression(head: Uint8Array): Compression | 'bzip2' | 'xz' {
  for (const [kind, magic] of MAGIC) {
    if (head.byteLength >= magic.length && magic.every((b, i) => head[i] === b)) return kind;
  }
  if (isZstdSkippableFrame(head)) return 'zstd';
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

/**
 * Output of one zstd call, and so the most a zstd bomb (a few bytes that
 * expand to gigabytes: a 4-byte RLE block makes 128 KiB) can make before
 * the consumer gets to count it against its limit. zstd runs on the main
 * thread, so there is no read-ahead to gain: one output is kept ready.
 */
const ZSTD_OUT_BYTES = 1 << 20;
/**
 * The largest window (history a frame may refer back to, and so the memory
 * decoding it takes) accepted: 2^27 = 128 MiB, libzstd's and the `zstd`
 * command's default limit. Frames made with `--long` fit; a larger window
 * is refused instead of allocated.
 */
const ZSTD_WINDOW_LOG_MAX = 27;

/** A decompressor for the compression, or undefined for plain tar. */
export function decompressor(compression: Compression): Duplex | undefined {
  if (compression === 'gzip') {
    return zlib.createGunzip({ chunkSize: INFLATE_CHUNK_BYTES, readableHighWaterMark: INFLATE_AHEAD_BYTES } as zlib.ZlibOptions);
  }
  if (compression === 'zstd') return new ZstdDecompress(zstdBinding());
  return undefined;
}

let binding: typeof ZstdBinding | undefined;

function zstdBinding(): typeof ZstdBinding {
  if (!binding) {
    try {
      binding = createRequire(import.meta.url)('zstd-napi/binding.js') as typeof ZstdBinding;
    } catch (err) {
      throw new BerthError('LAYER_UNSUPPORTED', `layer is zstd-compressed and the zstd-napi module did not load (reinstall berth's npm dependencies): ${(err as Error).message}`, { cause: err });
    }
  }
  return binding;
}

const EMPTY = Buffer.alloc(0);

function zstdInvalid(why: string, cause?: unknown): BerthError {
  return new BerthError('LAYER_INVALID', `layer is not a readable zstd stream: ${why}`, cause === undefined ? {} : { cause });
}

/**
 * Streaming zstd decompression with backpressure inside a written chunk: a
 * Transform must turn a whole written chunk into output before it may take
 * the next, which for a bomb is gigabytes held in memory (zstd-napi's own
 * `DecompressStream` does that). Here each call makes at most
 * `ZSTD_OUT_BYTES`, and the next call waits until the reader wants more;
 * the write callback, which lets the writer send the next chunk, is called
 * only when the chunk is used up. Concatenated frames and skippable frames
 * are decoded as zstd defines them; the stream must not end inside a frame.
 */
class ZstdDecompress extends Duplex {
  readonly #dctx: ZstdBinding.DCtx;
  /** What is left of the written chunk being decoded, and the callback that asks for the next. */
  #input: Buffer | undefined;
  #inputDone: ((error?: Error | null) => void) | undefined;
  #finalDone: ((error?: Error | null) => void) | undefined;
  /** The last call filled its output: the context may hold more output without more input. */
  #outputFull = false;
  /** Between a frame's first byte and its last (the stream must not end there). */
  #inFrame = false;
  /** The reader wants more (a `_read` since `push` last returned false). */
  #wanted = false;
  /** `push` and the write callback can call back in synchronously: one loop at a time. */
  #running = false;
  /** An output buffer a call left empty (header bytes, small input pieces), for the next call. */
  #spare: Buffer | undefined;

  constructor(zstd: typeof ZstdBinding) {
    super({ readableHighWaterMark: ZSTD_OUT_BYTES, writableHighWaterMark: ZSTD_OUT_BYTES });
    this.#dctx = new zstd.DCtx();
    this.#dctx.setParameter(zstd.DParameter.windowLogMax, ZSTD_WINDOW_LOG_MAX);
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#input = chunk;
    this.#inputDone = callback;
    this.#run();
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.#finalDone = callback;
    this.#run();
  }

  override _read(): void {
    this.#wanted = true;
    this.#run();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#input = undefined;
    this.#inputDone = undefined;
    this.#finalDone = undefined;
    callback(error);
  }

  #run(): void {
    if (this.#running) return;
    this.#running = true;
    try {
      while (!this.destroyed) {
        if (this.#input !== undefined || this.#outputFull) {
          if (!this.#wanted) return;
          this.#step();
        } else {
          if (this.#finalDone) this.#end(this.#finalDone);
          return;
        }
      }
    } finally {
      this.#running = false;
    }
  }

  /** One call into zstd: at most `ZSTD_OUT_BYTES` out. */
  #step(): void {
    const input = this.#input ?? EMPTY;
    const out = this.#spare ?? Buffer.allocUnsafe(ZSTD_OUT_BYTES);
    this.#spare = undefined;
    let hint: number, produced: number, consumed: number;
    try {
      [hint, produced, consumed] = this.#dctx.decompressStream(out, input);
    } catch (err) {
      const message = (err as Error).message;
      const limit = /too much memory/i.test(message) ? ` (windows larger than ${1 << (ZSTD_WINDOW_LOG_MAX - 20)} MiB are refused)` : '';
      this.destroy(zstdInvalid(`${message}${limit}`, err));
      return;
    }
    // A call that neither reads nor writes (asked to flush with nothing
    // held) says nothing about frames; the others leave 0 at a frame's end.
    if (produced > 0 || consumed > 0) this.#inFrame = hint !== 0;
    this.#outputFull = produced === out.byteLength;
    if (this.#input !== undefined && consumed === input.byteLength) {
      const done = this.#inputDone!;
      this.#input = undefined;
      this.#inputDone = undefined;
      done();
    } else if (this.#input !== undefined) {
      if (produced === 0 && consumed === 0) {
        // Cannot happen with an output larger than a block; never spin.
        this.destroy(zstdInvalid('the decoder made no progress'));
        return;
      }
      this.#input = input.subarray(consumed);
    }
    if (produced > 0) this.#wanted = this.push(out.subarray(0, produced));
    else this.#spare = out;
  }

  #end(callback: (error?: Error | null) => void): void {
    this.#finalDone = undefined;
    if (this.#inFrame) {
      callback(zstdInvalid('it ends inside a frame (truncated)'));
      return;
    }
    this.push(null);
    callback();
  }
}
