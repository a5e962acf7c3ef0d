/**
 * A cross-process lock held as a file created with O_EXCL that names its
 * holder (pid and start time). Node has no flock(2); the holder's identity
 * lets a later caller break a lock whose holder died without releasing it,
 * which mtime-based schemes can only guess at. File calls are synchronous:
 * tiny files on tmpfs, and no thread-pool start-up for short commands.
 */
import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { BerthError, isErrno } from '../errors/index.js';
import { isProcessAlive, readProcStat, sleep } from './proc.js';

export interface LockOptions {
  timeoutMs?: number;
  /** Names the locked object in the error message. */
  what?: string;
}

export interface Lock {
  release(): Promise<void>;
}

export async function acquireLock(path: string, options: LockOptions = {}): Promise<Lock> {
  const me = readProcStat(process.pid);
  const token = `${process.pid} ${me?.startTime ?? 0}\n`;
  const deadline = Date.now() + (options.timeoutMs ?? 10_000);
  let delay = 2;
  for (;;) {
    try {
      const fd = openSync(path, 'wx', 0o600);
      try {
        writeSync(fd, token);
      } finally {
        closeSync(fd);
      }
      let released = false;
      return {
        async release() {
          if (released) return;
          released = true;
          removeQuietly(path);
        },
      };
    } catch (err) {
      if (!isErrno(err, 'EEXIST')) throw err;
    }
    let holder = '';
    try {
      holder = readFileSync(path, 'utf8');
    } catch {
      // Released meanwhile: try again.
    }
    const [pidText, startText] = holder.trim().split(' ');
    const pid = Number(pidText);
    // An empty file is a holder between open and write: wait for it.
    if (holder !== '' && !isProcessAlive(pid, startText === undefined ? undefined : Number(startText))) {
      removeQuietly(path);
      continue;
    }
    if (Date.now() >= deadline) {
      throw new BerthError('CONTAINER_LOCKED', `${options.what ?? path} is locked by process ${pidText || '?'}; try again when it finishes`);
    }
    await sleep(delay);
    delay = Math.min(delay * 2, 50);
  }
}

function removeQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // Already removed.
  }
}
