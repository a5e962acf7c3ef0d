/**
 * `start`: releases a created container by opening the read side of its
 * exec fifo, then runs the poststart hooks. The fifo is opened and read
 * non-blocking, so that an init that died meanwhile is noticed instead of
 * blocking forever.
 */
import { closeSync, constants, openSync, readSync, unlinkSync } from 'node:fs';
import { BerthError, isErrno } from '../../errors/index.js';
import { isProcessAlive, sleep } from '../../util/proc.js';
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

/**
 * Open the fifo's read side, which lets the init's blocked open for writing
 * return, and wait for its "0". Non-blocking reads, polled: EAGAIN means the
 * init has the fifo open and has not written yet, 0 bytes that it has not
 * opened it yet (it runs as soon as it is scheduled) or never will, which
 * the liveness check tells apart. (A net.Socket on the fd would do the
 * waiting in libuv, but loading node:net costs `start` more than the wait.)
 */
async function releaseFifo(path: string, state: ContainerState): Promise<void> {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (cause) {
    throw new BerthError('CONTAINER_STATE', `cannot start container \`${state.id}\`: its exec fifo is gone`, { cause });
  }
  try {
    const buf = Buffer.alloc(1);
    for (let round = 0; ; round++) {
      // Alive is sampled before the read: an init that wrote and then exited
      // (a program that ends at once) has its "0" seen by this read.
      const alive = isProcessAlive(state.pid, state.pidStartTime);
      let n = 0;
      try {
        n = readSync(fd, buf, 0, 1, null);
      } catch (err) {
        if (!isErrno(err, 'EAGAIN')) throw new BerthError('CONTAINER_STATE', `cannot read the exec fifo of container \`${state.id}\`: ${(err as Error).message}`, { cause: err });
      }
      if (n > 0) break;
      if (!alive) {
        throw new BerthError('CONTAINER_STATE', `container \`${state.id}\` init exited before it was started`);
      }
      // The init answers within microseconds of being scheduled: yield first, then back off to 50 ms.
      await (round < 20 ? new Promise<void>((r) => setImmediate(r)) : sleep(Math.min(2 ** (round - 20), 50)));
    }
  } finally {
    closeSync(fd);
  }
  try {
    unlinkSync(path);
  } catch {
    // Already removed by a concurrent start that lost the lock race.
  }
}
