/**
 * The runtime's on-disk state: one directory per container under the root,
 * holding state.json (written atomically) and, until `start`, exec.fifo. A
 * lock file per container serializes create, start, delete and friends.
 *
 *   <root>/<id>/state.json
 *   <root>/<id>/exec.fifo
 *   <root>/<id>.lock
 *
 * File calls are synchronous: the files are tiny and on tmpfs, and `state`
 * or `kill` then never start libuv's thread pool, which costs more than the
 * work itself.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { BerthError, isErrno } from '../../errors/index.js';
import { atomicWriteFile } from '../../util/atomic-write.js';
import { acquireLock, type Lock } from '../../util/lock-file.js';
import type { ContainerState } from './container-state.js';

export const DEFAULT_ROOT = '/run/berth-runtime';
const ID_PATTERN = /^[\w+\-.]+$/;

/** runc's rule for ids, so any manager's ids work and none escapes the root. */
export function validateId(id: string | undefined): string {
  if (id === undefined || id === '') {
    throw new BerthError('ID_INVALID', 'a container id is required');
  }
  if (!ID_PATTERN.test(id) || id === '.' || id === '..' || id.length > 1024) {
    throw new BerthError('ID_INVALID', `invalid container id \`${id}\`: use letters, digits and + - . _ only`);
  }
  return id;
}

export class StateStore {
  constructor(readonly root: string = DEFAULT_ROOT) {}

  dir(id: string): string {
    return join(this.root, id);
  }

  statePath(id: string): string {
    return join(this.root, id, 'state.json');
  }

  fifoPath(id: string): string {
    return join(this.root, id, 'exec.fifo');
  }

  async ensureRoot(): Promise<void> {
    mkdirSync(this.root, { recursive: true, mode: 0o700 });
  }

  /** The root may not exist yet: a manager can delete before it ever created. */
  async lock(id: string): Promise<Lock> {
    await this.ensureRoot();
    return acquireLock(join(this.root, `${id}.lock`), { what: `container \`${id}\`` });
  }

  async exists(id: string): Promise<boolean> {
    return existsSync(this.dir(id));
  }

  /** Create the container's directory; fails if the id is taken. */
  async reserve(id: string): Promise<void> {
    await this.ensureRoot();
    try {
      mkdirSync(this.dir(id), { mode: 0o711 });
    } catch (err) {
      if (isErrno(err, 'EEXIST')) throw new BerthError('CONTAINER_EXISTS', `container \`${id}\` already exists`);
      throw err;
    }
  }

  async write(state: ContainerState): Promise<void> {
    await atomicWriteFile(this.statePath(state.id), JSON.stringify(state));
  }

  /** get*() throws not-found; a directory without state.json is a create in progress or a crashed one. */
  async get(id: string): Promise<ContainerState> {
    validateId(id);
    let text: string;
    try {
      text = readFileSync(this.statePath(id), 'utf8');
    } catch (err) {
      if (isErrno(err, 'ENOENT')) throw new BerthError('CONTAINER_NOT_FOUND', `container \`${id}\` does not exist`);
      throw err;
    }
    try {
      return JSON.parse(text) as ContainerState;
    } catch (cause) {
      throw new BerthError('STATE_CORRUPT', `state of container \`${id}\` is unreadable: ${this.statePath(id)}`, { cause });
    }
  }

  async find(id: string): Promise<ContainerState | undefined> {
    try {
      return await this.get(id);
    } catch (err) {
      if (err instanceof BerthError && err.code === 'CONTAINER_NOT_FOUND') return undefined;
      throw err;
    }
  }

  async hasFifo(id: string): Promise<boolean> {
    return statSync(this.fifoPath(id), { throwIfNoEntry: false })?.isFIFO() ?? false;
  }

  async remove(id: string): Promise<void> {
    rmSync(this.dir(id), { recursive: true, force: true });
  }

  /** Ids of every container directory under the root. */
  async ids(): Promise<string[]> {
    try {
      const entries = readdirSync(this.root, { withFileTypes: true });
      return entries.filter((e) => e.isDirectory() && ID_PATTERN.test(e.name)).map((e) => e.name).sort();
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return [];
      throw err;
    }
  }
}
