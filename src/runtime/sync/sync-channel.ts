/**
 * berth-runtime's end of the sync socket shared with berth-init (see the
 * sequence diagram in src/native/include/berth-plan.h). Records are a fixed
 * 20-byte header plus a message; this class frames them in both directions
 * and turns an ERROR record into a BerthError that names the stage.
 */
import type { Duplex } from 'node:stream';
import { constants as osConstants } from 'node:os';
import { BerthError } from '../../errors/index.js';
import { STAGE_NAMES, SYNC, SYNC_HDR_SIZE, SYNC_MAX_MSG } from '../plan/attrs.js';

export interface SyncRecord {
  type: number;
  stage: number;
  err: number;
  value: number;
  message: string;
}

const ERRNO_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(osConstants.errno).map(([name, num]) => [num, name]),
);

/** A readable description of an errno: `ENOENT (2)`. */
export function errnoName(errno: number): string {
  return `${ERRNO_NAMES[errno] ?? 'errno'} (${errno})`;
}

const SYNC_NAMES: Record<number, string> = Object.fromEntries(Object.entries(SYNC).map(([k, v]) => [v, k]));

export class SyncChannel {
  private buffer: Buffer = Buffer.alloc(0);
  private readonly queue: SyncRecord[] = [];
  private waiter: { resolve: (r: SyncRecord | undefined) => void; reject: (e: Error) => void } | undefined;
  private ended = false;
  private failure: Error | undefined;

  constructor(private readonly socket: Duplex) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('end', () => this.onEnd());
    socket.on('close', () => this.onEnd());
    socket.on('error', (err: NodeJS.ErrnoException) => {
      // EPIPE/ECONNRESET just mean the other side is gone: same as end of file.
      if (err.code !== 'EPIPE' && err.code !== 'ECONNRESET') this.failure = err;
      this.onEnd();
    });
  }

  private onData(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    while (this.buffer.length >= SYNC_HDR_SIZE) {
      const msgLen = this.buffer.readUInt32LE(16);
      if (msgLen > SYNC_MAX_MSG) {
        this.failure = new BerthError('EXECUTOR_PROTOCOL', `berth-init sent a sync record with a ${msgLen}-byte message`);
        this.onEnd();
        return;
      }
      if (this.buffer.length < SYNC_HDR_SIZE + msgLen) break;
      const rec: SyncRecord = {
        type: this.buffer.readUInt32LE(0),
        stage: this.buffer.readUInt32LE(4),
        err: this.buffer.readInt32LE(8),
        value: this.buffer.readUInt32LE(12),
        message: this.buffer.toString('utf8', SYNC_HDR_SIZE, SYNC_HDR_SIZE + msgLen),
      };
      this.buffer = this.buffer.subarray(SYNC_HDR_SIZE + msgLen);
      this.deliver(rec);
    }
  }

  private deliver(rec: SyncRecord): void {
    const w = this.waiter;
    if (w) {
      this.waiter = undefined;
      w.resolve(rec);
    } else {
      this.queue.push(rec);
    }
  }

  private onEnd(): void {
    if (this.ended) return;
    this.ended = true;
    const w = this.waiter;
    this.waiter = undefined;
    if (w) {
      if (this.failure) w.reject(this.failure);
      else w.resolve(undefined);
    }
  }

  /** The next record, or undefined at end of file. */
  next(): Promise<SyncRecord | undefined> {
    const rec = this.queue.shift();
    if (rec) return Promise.resolve(rec);
    if (this.ended) return this.failure ? Promise.reject(this.failure) : Promise.resolve(undefined);
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  /**
   * The next record, which must be `type`. An ERROR record becomes the
   * executor's error; end of file or another type is a protocol error.
   */
  async expect(type: number, what: string): Promise<SyncRecord> {
    const rec = await this.next();
    if (rec === undefined) {
      throw new BerthError('EXECUTOR_FAILED', `berth-init exited before ${what}`);
    }
    if (rec.type === SYNC.ERROR) throw executorError(rec);
    if (rec.type !== type) {
      throw new BerthError(
        'EXECUTOR_PROTOCOL',
        `berth-init sent ${SYNC_NAMES[rec.type] ?? rec.type} while berth-runtime waited for ${SYNC_NAMES[type] ?? type}`,
      );
    }
    return rec;
  }

  send(type: number, message = ''): void {
    const msg = Buffer.from(message, 'utf8');
    const head = Buffer.alloc(SYNC_HDR_SIZE);
    head.writeUInt32LE(type, 0);
    head.writeUInt32LE(msg.length, 16);
    this.socket.write(msg.length ? Buffer.concat([head, msg]) : head);
  }

  write(data: Buffer): void {
    this.socket.write(data);
  }

  close(): void {
    this.socket.destroy();
  }
}

export function executorError(rec: SyncRecord): BerthError {
  const stage = STAGE_NAMES[rec.stage] ?? `stage ${rec.stage}`;
  const errno = rec.err ? `: ${errnoName(rec.err)}` : '';
  return new BerthError('EXECUTOR_FAILED', `container init failed at ${stage}: ${rec.message}${errno}`, { errno: rec.err || undefined });
}
