/**
 * The attach socket's output framing, the Docker Engine API's multiplexed
 * stream: an 8-byte header `[STREAM, 0, 0, 0, SIZE as u32 big-endian]`
 * then SIZE bytes, STREAM 1 for stdout (and a terminal) and 2 for stderr.
 */

export interface Frame {
  stream: 1 | 2;
  data: Buffer;
}

/** Turns chunks of the byte stream into frames, whatever their boundaries. */
export class FrameDecoder {
  #buf: Buffer = Buffer.alloc(0);

  /** Frames completed by `chunk`; throws on a header with an unknown stream. */
  push(chunk: Buffer): Frame[] {
    this.#buf = this.#buf.length ? Buffer.concat([this.#buf, chunk]) : chunk;
    const out: Frame[] = [];
    while (this.#buf.length >= 8) {
      const stream = this.#buf[0]!;
      if (stream !== 1 && stream !== 2) throw new Error(`attach stream: unknown stream ${stream} in a frame header`);
      const size = this.#buf.readUInt32BE(4);
      if (this.#buf.length < 8 + size) break;
      out.push({ stream, data: this.#buf.subarray(8, 8 + size) });
      this.#buf = this.#buf.subarray(8 + size);
    }
    return out;
  }

  /** Bytes of an unfinished frame. */
  get pendingBytes(): number {
    return this.#buf.length;
  }
}
