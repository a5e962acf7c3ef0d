/**
 * Watching a directory of exit files, for the manager: every exit file that
 * appears is reported once. fs.watch gives the prompt path; a rescan on a
 * timer catches what inotify can miss (an overflowed queue, a directory
 * replaced under it), and the first scan reports files written while no
 * manager was running. Names starting with `.` are the shims' temp files
 * and are skipped.
 *
 *   await using w = await watchExitDir('/run/berth/exits', {
 *     onExit: ({ name, status }) => markStopped(name, status),
 *   });
 */
import { watch, type FSWatcher } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

import { BerthError, isBerthError, isErrno } from '../errors/index.js';
import { findExitStatus, type ExitStatus } from './exit-file.js';

export interface ExitEvent {
  /** The file's name in the directory (the manager's key: a container or exec id). */
  name: string;
  path: string;
  status: ExitStatus;
}

export interface ExitWatcherOptions {
  onExit: (event: ExitEvent) => void;
  /** A file that is not an exit status (STATE_CORRUPT), or the directory failing; default: ignored. */
  onError?: (err: BerthError, name?: string) => void;
  /** Default 2000. */
  rescanIntervalMs?: number;
  signal?: AbortSignal;
}

export class ExitWatcher implements Disposable, AsyncDisposable {
  readonly dir: string;
  readonly #opts: ExitWatcherOptions;
  /** Name to the inode reported: a file replaced by a new exit (a restarted container) is a new inode. */
  readonly #seen = new Map<string, number>();
  #watcher: FSWatcher | undefined;
  #timer: NodeJS.Timeout | undefined;
  #scanning: Promise<void> | undefined;
  #again = false;
  #closed = false;

  constructor(dir: string, opts: ExitWatcherOptions) {
    this.dir = dir;
    this.#opts = opts;
  }

  /** Starts watching; resolves after the first scan has reported what is there already. */
  async start(): Promise<void> {
    try {
      this.#watcher = watch(this.dir, { persistent: false }, () => void this.rescan());
      this.#watcher.on('error', (e) => this.#fail(e));
    } catch (e) {
      if (isErrno(e, 'ENOENT') || isErrno(e, 'ENOTDIR')) {
        throw new BerthError('ARGUMENT_INVALID', `exit directory ${this.dir} does not exist`, { cause: e });
      }
      throw new BerthError('INTERNAL', `cannot watch exit directory ${this.dir}: ${(e as Error).message}`, { cause: e });
    }
    this.#timer = setInterval(() => void this.rescan(), this.#opts.rescanIntervalMs ?? 2000);
    this.#timer.unref();
    this.#opts.signal?.addEventListener('abort', this.close, { once: true });
    await this.rescan();
  }

  #fail(e: unknown): void {
    const err = isBerthError(e) ? e : new BerthError('INTERNAL', `watching exit directory ${this.dir}: ${(e as Error).message}`, { cause: e });
    this.#opts.onError?.(err);
  }

  /** Scans the directory now; concurrent calls share one scan and ask for one more. */
  rescan(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    if (this.#scanning) {
      this.#again = true;
      return this.#scanning;
    }
    this.#scanning = (async () => {
      do {
        this.#again = false;
        await this.#scanOnce().catch((e) => this.#fail(e));
      } while (this.#again && !this.#closed);
    })().finally(() => {
      this.#scanning = undefined;
    });
    return this.#scanning;
  }

  async #scanOnce(): Promise<void> {
    const names = (await readdir(this.dir)).filter((n) => !n.startsWith('.'));
    const present = new Set(names);
    for (const name of this.#seen.keys()) if (!present.has(name)) this.#seen.delete(name);
    for (const name of names) {
      if (this.#closed) return;
      const path = join(this.dir, name);
      let ino: number;
      try {
        const st = await stat(path);
        if (!st.isFile()) continue;
        ino = st.ino;
      } catch {
        continue; // removed meanwhile
      }
      if (this.#seen.get(name) === ino) continue;
      this.#seen.set(name, ino);
      try {
        const status = await findExitStatus(path);
        if (status && !this.#closed) this.#opts.onExit({ name, path, status });
      } catch (e) {
        if (isBerthError(e)) this.#opts.onError?.(e, name);
        else throw e;
      }
    }
  }

  /** Stops watching; idempotent. */
  close = (): void => {
    if (this.#closed) return;
    this.#closed = true;
    this.#watcher?.close();
    clearInterval(this.#timer);
    this.#opts.signal?.removeEventListener('abort', this.close);
  };

  [Symbol.dispose](): void {
    this.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
    await this.#scanning;
  }
}

/** Starts an {@link ExitWatcher} on `dir`. */
export async function watchExitDir(dir: string, opts: ExitWatcherOptions): Promise<ExitWatcher> {
  const w = new ExitWatcher(dir, opts);
  try {
    await w.start();
  } catch (e) {
    w.close();
    throw e;
  }
  return w;
}
