/**
 * A client of a shim's attach socket, as a Duplex stream: what is written
 * goes to the process's stdin (when the shim runs with --stdin), what is
 * read is the process's stdout (with a terminal, all of its output); its
 * stderr is the separate `stderr` stream. Output starts at the moment of
 * attaching: earlier output is in the log.
 *
 *   const io = await attachShim('/run/berth/c1/attach.sock');
 *   io.on('data', (b) => process.stdout.write(b));
 *   io.write('hello\n');
 *
 * `end()` half-closes the socket: the shim stops reading from this client
 * but the process's stdin stays open (closing it is the control command
 * `close-stdin`), and output keeps arriving until the process exits, when
 * the shim closes the connection and the stream ends. `destroy()` drops the
 * connection at once.
 */
import { connect, type Socket } from 'node:net';
import { Duplex, Readable } from 'node:stream';

import { BerthError } from '../errors/index.js';
import { FrameDecoder } from './frame-decoder.js';

export class AttachStream extends Duplex {
  /** The process's stderr (empty with a terminal). */
  readonly stderr: Readable;
  readonly #socket: Socket;
  readonly #decoder = new FrameDecoder();

  constructor(socket: Socket) {
    super({ allowHalfOpen: true });
    this.#socket = socket;
    this.stderr = new Readable({ read: () => this.#socket.resume() });
    socket.on('data', (chunk: Buffer) => {
      let frames;
      try {
        frames = this.#decoder.push(chunk);
      } catch (e) {
        this.destroy(new BerthError('SHIM_PROTOCOL', (e as Error).message, { cause: e }));
        return;
      }
      for (const f of frames) {
        const more = f.stream === 1 ? this.push(f.data) : this.stderr.push(f.data);
        if (!more) socket.pause();
      }
    });
    socket.on('end', () => {
      this.push(null);
      this.stderr.push(null);
    });
    socket.on('error', (e) => this.destroy(e));
    socket.on('close', () => {
      // A connection that closes without 'end' (reset) still ends both streams.
      if (!this.readableEnded) this.push(null);
      if (!this.stderr.readableEnded) this.stderr.push(null);
    });
  }

  override _read(): void {
    this.#socket.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    this.#socket.write(chunk, cb);
  }

  override _final(cb: (e?: Error | null) => void): void {
    this.#socket.end(cb);
  }

  override _destroy(err: Error | null, cb: (e?: Error | null) => void): void {
    this.#socket.destroy();
    if (!this.stderr.destroyed) this.stderr.destroy();
    cb(err);
  }
}

/** Connects to a shim's attach socket; SHIM_UNAVAILABLE when nothing listens there. */
export function attachShim(socketPath: string, opts: { signal?: AbortSignal } = {}): Promise<AttachStream> {
  return new Promise((resolve, reject) => {
    opts.signal?.throwIfAborted();
    const socket = connect({ path: socketPath, allowHalfOpen: true });
    const onAbort = () => {
      socket.destroy();
      reject(opts.signal!.reason);
    };
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    socket.once('connect', () => {
      opts.signal?.removeEventListener('abort', onAbort);
      socket.removeAllListeners('error');
      resolve(new AttachStream(socket));
    });
    socket.once('error', (e: NodeJS.ErrnoException) => {
      opts.signal?.removeEventListener('abort', onAbort);
      reject(new BerthError('SHIM_UNAVAILABLE', `attach socket ${socketPath} does not answer (${e.code ?? e.message}); is the shim running?`, { cause: e }));
    });
  });
}
