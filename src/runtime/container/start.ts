/**
 * `start`: releases a created container by opening the read side of its
 * exec fifo, then runs the poststart hooks. The fifo is opened non-blocking
 * and read through libuv so that an init that died meanwhile is noticed
 * instead of blocking forever.
 */
import { constants, openSync, unlinkSync } from 'node:fs';
import { Socket } from 'node:net';
import { BerthError } from '../../errors/index.js';
import { isProcessAlive } from '../../util/proc.js';
import { runHooksLoggingFailures } from '../hooks/run-hooks.js';
import type { ContainerState } from '../state/container-state.js';
import { validateId } from '../state/state-store.js';
import type { RuntimeContext } from './context.js';
import { containerStatus, ociState, requireStatus } from './status.js';

export async function startContainer(ctx: RuntimeContext, idArg: string): Promise<ContainerState> {
  const id = validateId(idArg);
  const lock = await ctx.store.lock(id);
  try {
    const state = await ctx.store.get(id);
    const status = await containerStatus(ctx, state);
    requireStatus(id, status, ['created'], 'start');
    await releaseFifo(ctx.store.fifoPath(id), state);
    await runHooksLoggingFailures('poststart', state.spec.hooks?.poststart, ociState(state, 'running'), (m) =>
      ctx.log.warn(`container ${id}: ${m}`));
    return state;
  } finally {
    await lock.release();
  }
}

function releaseFifo(path: string, state: ContainerState): Promise<void> {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (cause) {
    throw new BerthError('CONTAINER_STATE', `cannot start container \`${state.id}\`: its exec fifo is gone`, { cause });
  }
  return new Promise<void>((resolve, reject) => {
    const sock = new Socket({ fd, readable: true, writable: false });
    let done = false;
    const finish = (err?: Error): void => {
      if (done) return;
      done = true;
      clearInterval(watch);
      sock.destroy();
      if (err) {
        reject(err);
        return;
      }
      try {
        unlinkSync(path);
      } catch {
        // Already removed by a concurrent start that lost the lock race.
      }
      resolve();
    };
    sock.on('data', () => finish());
    sock.on('error', (err) => finish(err));
    // EOF without data means the writer went away without releasing: init died.
    sock.on('end', () => finish(new BerthError('CONTAINER_STATE', `container \`${state.id}\` init exited before it was started`)));
    const watch = setInterval(() => {
      if (!isProcessAlive(state.pid, state.pidStartTime)) {
        finish(new BerthError('CONTAINER_STATE', `container \`${state.id}\` init exited before it was started`));
      }
    }, 50);
  });
}

