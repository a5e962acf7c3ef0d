/**
 * Compression detection and the zstd decoder: magic bytes, streaming with
 * bounded output, concatenated and skippable frames, truncated and corrupt
 * input, oversized windows, and a zstd bomb against applyLayer's maxBytes.
 *
 * Frames are made two ways: by the zstd library (`zstd-napi`'s compressor,
 * with checksums) and by hand from raw and RLE blocks (RFC 8878 section 3),
 * which owe nothing to any encoder and make a bomb of any size from a few
 * bytes per 128 KiB.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gzipSync } from 'node:zlib';
import * as tar from 'tar-stream';
import zstd from 'zstd-napi';
import { isBerthError } from '../../errors/index.js';
import { applyLayer } from './apply-layer.js';
import { decompressor, detectCompression, peekCompression } from './decompress.js';

const MAGIC = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);
const BLOCK_MAX = 128 << 10;

/** A frame header without content size, checksum or dictionary, with a 2^windowLog window. */
function frameHeader(windowLog = 17): Buffer {
  return Buffer.concat([MAGIC, Buffer.from([0x00, (windowLog - 10) << 3])]);
}

function blockHeader(type: 0 | 1, size: number, last: boolean): Buffer {
  const v = (size << 3) | (type << 1) | (last ? 1 : 0);
  return Buffer.from([v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff]);
}

/** One frame of raw (stored) blocks holding `data`. */
function rawFrame(data: Buffer): Buffer {
  const parts = [frameHeader()];
  for (let i = 0; i === 0 || i < data.byteLength; i += BLOCK_MAX) {
    const piece = data.subarray(i, i + BLOCK_MAX);
    parts.push(blockHeader(0, piece.byteLength, i + BLOCK_MAX >= data.byteLength), piece);
  }
  return Buffer.concat(parts);
}

/** One frame of `blocks` RLE blocks of 128 KiB of `byte` each: 4 bytes per 128 KiB. */
function rleFrame(blocks: number, byte = 0): Buffer {
  const parts = [frameHeader()];
  for (let i = 0; i < blocks; i++) parts.push(blockHeader(1, BLOCK_MAX, i === blocks - 1), Buffer.from([byte]));
  return Buffer.concat(parts);
}

/** A skippable frame (ignored by decoders) with the magic 0x184D2A5n. */
function skippableFrame(payload: Buffer, n = 0xe): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32LE(0x184d2a50 + n, 0);
  head.writeUInt32LE(payload.byteLength, 4);
  return Buffer.concat([head, payload]);
}

function zstdOf(data: Buffer): Buffer {
  return zstd.compress(data, { compressionLevel: 3, checksumFlag: true });
}

async function* pieces(buf: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < buf.byteLength; i += size) yield buf.subarray(i, i + size);
}

async function decode(input: Uint8Array, pieceBytes = 64 << 10): Promise<Buffer> {
  const out: Buffer[] = [];
  await pipeline(Readable.from(pieces(input, pieceBytes)), decompressor('zstd')!, async (src: AsyncIterable<Buffer>) => {
    for await (const c of src) out.push(c);
  });
  return Buffer.concat(out);
}

function rejectsInvalid(...words: string[]) {
  return (err: unknown) => {
    assert.ok(isBerthError(err, 'LAYER_INVALID'), `want LAYER_INVALID, got ${String(err)}`);
    for (const w of words) assert.match(err.message, new RegExp(w, 'i'));
    return true;
  };
}

async function makeTar(entries: Array<{ name: string; data: Buffer }>): Promise<Buffer> {
  const pack = tar.pack();
  for (const e of entries) pack.entry({ name: e.name, mode: 0o644, mtime: new Date(0) }, e.data);
  pack.finalize();
  const out: Buffer[] = [];
  for await (const c of pack as unknown as AsyncIterable<Buffer>) out.push(c);
  return Buffer.concat(out);
}

const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

test('detectCompression tells zstd by 28 B5 2F FD, and by a skippable frame first', () => {
  assert.equal(detectCompression(MAGIC), 'zstd');
  assert.equal(detectCompression(zstdOf(Buffer.from('x'))), 'zstd');
  for (const n of [0x0, 0x7, 0xf]) assert.equal(detectCompression(skippableFrame(Buffer.from('meta'), n)), 'zstd');
  assert.equal(detectCompression(MAGIC.subarray(0, 3)), 'none', 'three bytes of the magic are not zstd');
  assert.equal(detectCompression(Buffer.from([0x28, 0xb5, 0x2f, 0xfe])), 'none');
  assert.equal(detectCompression(Buffer.from([0x60, 0x2a, 0x4d, 0x18])), 'none', 'only 0x184D2A50-5F are skippable');
  assert.equal(detectCompression(gzipSync(Buffer.from('x'))), 'gzip');
  assert.equal(detectCompression(Buffer.from('etc/passwd\0')), 'none');
  assert.equal(detectCompression(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])), 'xz');
});

test('peekCompression finds zstd in a stream that arrives a byte at a time, and loses no byte', async () => {
  const frame = zstdOf(Buffer.from('hello zstd'));
  const { compression, stream } = await peekCompression(pieces(frame, 1));
  assert.equal(compression, 'zstd');
  const back: Buffer[] = [];
  for await (const c of stream) back.push(c as Buffer);
  assert.ok(Buffer.concat(back).equals(frame));
});

test('zstd decodes the same whatever the input pieces, and pushes at most 1 MiB at a time', async () => {
  const data = Buffer.concat([randomBytes(3 << 20), Buffer.alloc(5 << 20, 'berth ')]);
  const frame = zstdOf(data);
  const inputs: Array<[string, () => AsyncGenerator<Uint8Array>]> = [
    // Byte by byte through the frame header and first block, then the rest at once.
    ['bytes, then the rest', async function* () {
      yield* pieces(frame.subarray(0, 2048), 1);
      yield frame.subarray(2048);
    }],
    ['pieces of 1000', () => pieces(frame, 1000)],
    ['pieces of 1 MiB', () => pieces(frame, 1 << 20)],
    ['one piece', () => pieces(frame, frame.byteLength)],
  ];
  for (const [what, input] of inputs) {
    const out: Buffer[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        out.push(chunk);
        callback(chunk.byteLength <= 1 << 20 ? null : new Error(`a chunk of ${chunk.byteLength} bytes`));
      },
    });
    await pipeline(Readable.from(input()), decompressor('zstd')!, sink);
    assert.ok(Buffer.concat(out).equals(data), what);
  }
});

test('zstd decodes no further ahead of a slow reader than its buffer, even from one small written chunk', async () => {
  // 4 KiB that expand to 128 MiB, written as one chunk.
  const bomb = rleFrame(1024, 0x61);
  const dec = decompressor('zstd')!;
  dec.end(bomb);
  let read = 0;
  for (let i = 0; i < 8; i++) {
    const chunk = (await once(dec, 'readable'), dec.read()) as Buffer | null;
    assert.ok(chunk);
    assert.ok(chunk.byteLength <= 2 << 20, `${chunk.byteLength} bytes decoded at once`);
    read += chunk.byteLength;
    // Give the decoder every chance to run ahead: it must wait for this reader.
    await new Promise((resolve) => setImmediate(resolve));
    assert.ok(dec.readableLength <= 2 << 20, `${dec.readableLength} bytes decoded ahead of the reader`);
  }
  assert.ok(read >= 8 << 20 && read <= 16 << 20, `${read} bytes read`);
  dec.destroy();
});

test('concatenated frames and skippable frames (first, between, last) decode as one stream', async () => {
  const a = Buffer.from('first frame, ');
  const b = randomBytes(300 << 10);
  const c = Buffer.alloc(2 * BLOCK_MAX, 0x62);
  const input = Buffer.concat([
    skippableFrame(Buffer.from('leading metadata')),
    zstdOf(a),
    skippableFrame(Buffer.alloc(0), 0x5),
    rawFrame(b),
    skippableFrame(randomBytes(1000), 0xf),
    rleFrame(2, 0x62),
    skippableFrame(Buffer.from('trailing footer')),
  ]);
  for (const size of [997, 64 << 10, input.byteLength]) {
    const out = await decode(input, size);
    assert.ok(out.equals(Buffer.concat([a, b, c])), `pieces of ${size}`);
  }
});

test('a zstd stream cut inside a frame fails as truncated; one cut between frames is whole', async () => {
  const frame = zstdOf(Buffer.alloc(2 << 20, 'truncate me '));
  for (const keep of [4, 6, 100, frame.byteLength - 1]) {
    await assert.rejects(decode(frame.subarray(0, keep)), rejectsInvalid('zstd', 'truncated'), `cut at ${keep}`);
  }
  const out = await decode(Buffer.concat([rawFrame(Buffer.from('one')), rawFrame(Buffer.from('two'))]).subarray(0, rawFrame(Buffer.from('one')).byteLength));
  assert.equal(out.toString(), 'one');
});

test('corrupt zstd input fails with LAYER_INVALID saying what zstd found', async () => {
  const data = Buffer.alloc(1 << 20, 'corrupt me ');
  const frame = zstdOf(data);
  // The checksum (the frame's last 4 bytes) no longer matches.
  const badSum = Buffer.from(frame);
  badSum[badSum.byteLength - 1]! ^= 0xff;
  await assert.rejects(decode(badSum), rejectsInvalid('zstd', 'checksum'));
  // A reserved bit set in the frame header descriptor.
  const badHeader = Buffer.from(frame);
  badHeader[4]! |= 0x08;
  await assert.rejects(decode(badHeader), rejectsInvalid('zstd'));
  // A reserved block type (3).
  await assert.rejects(decode(Buffer.concat([frameHeader(), Buffer.from([0x07, 0x00, 0x00, 0x00])])), rejectsInvalid('zstd'));
  // Garbage after a good frame is neither a frame nor a skippable frame.
  await assert.rejects(decode(Buffer.concat([frame, Buffer.from('trailing garbage')])), rejectsInvalid('zstd'));
});

test('a frame asking for a window over 128 MiB is refused, not allocated', async () => {
  // windowLog 31: 2 GiB of history. The first block is never reached.
  const frame = Buffer.concat([frameHeader(31), blockHeader(1, 16, true), Buffer.from([0])]);
  await assert.rejects(decode(frame), rejectsInvalid('zstd', '128 MiB'));
  // windowLog 27 is accepted.
  assert.equal((await decode(Buffer.concat([frameHeader(27), blockHeader(1, 16, true), Buffer.from([0])]))).byteLength, 16);
});

test('applyLayer unpacks a multi-frame zstd layer and reports its diffID', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'berth-zstd-'));
  try {
    const big = randomBytes(1 << 20);
    const layer = await makeTar([
      { name: 'a.txt', data: Buffer.from('alpha\n') },
      { name: 'big', data: big },
    ]);
    // Split mid-entry: frames do not follow tar boundaries.
    const compressed = Buffer.concat([zstdOf(layer.subarray(0, 1000)), skippableFrame(Buffer.from('toc')), zstdOf(layer.subarray(1000))]);
    const r = await applyLayer(pieces(compressed, 64 << 10), dir, { expectedDiffId: sha256(layer) });
    assert.equal(r.compression, 'zstd');
    assert.equal(r.diffId, sha256(layer));
    assert.equal(r.sizeBytes, layer.byteLength);
    assert.deepEqual((await readdir(dir)).sort(), ['a.txt', 'big']);
    assert.equal((await stat(join(dir, 'big'))).size, big.byteLength);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('applyLayer stops a zstd bomb at maxBytes, with bounded memory and disk', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'berth-zstd-'));
  try {
    // A tar header for a 4 GiB file, then 4 GiB of zeros from 128 KiB of RLE blocks.
    const header = Buffer.from((await makeTar([{ name: 'bomb', data: Buffer.alloc(512) }])).subarray(0, 512));
    header.write(`${(4 * 2 ** 30).toString(8).padStart(11, '0')}\0`, 124, 'latin1');
    header.fill(' ', 148, 156);
    let sum = 0;
    for (const b of header) sum += b;
    header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
    const bomb = Buffer.concat([rawFrame(header), rleFrame(32 << 10)]);
    assert.ok(bomb.byteLength < 256 << 10);
    const maxBytes = 64 << 20;
    const rssBefore = process.memoryUsage().rss;
    await assert.rejects(applyLayer(pieces(bomb, 1 << 20), dir, { maxBytes }), (err: unknown) => {
      assert.ok(isBerthError(err, 'LAYER_INVALID'), String(err));
      assert.match(err.message, new RegExp(`larger than ${maxBytes} bytes`));
      return true;
    });
    assert.ok(process.memoryUsage().rss - rssBefore < 256 << 20, 'memory stayed bounded');
    const written = await stat(join(dir, 'bomb')).then((s) => s.size, () => 0);
    assert.ok(written <= maxBytes, `${written} bytes on disk`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('applyLayer names zstd when a zstd layer is corrupt', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'berth-zstd-'));
  try {
    const layer = await makeTar([{ name: 'f', data: randomBytes(200 << 10) }]);
    const frame = zstdOf(layer);
    await assert.rejects(applyLayer(pieces(frame.subarray(0, frame.byteLength - 10), 4096), dir), rejectsInvalid('zstd', 'truncated'));
    const flipped = Buffer.from(frame);
    flipped[flipped.byteLength - 2]! ^= 0x55;
    await assert.rejects(applyLayer(pieces(flipped, 4096), dir), rejectsInvalid('zstd'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
