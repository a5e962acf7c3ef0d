/**
 * `exec`: runs another process in a running container. berth-init joins the
 * init's namespaces through /proc/PID/ns (opened before any is entered),
 * forks, the runtime puts the child into the container's cgroups, and the
 * child applies the process settings and execs. The sync socket is
 * close-on-exec, so end of file after CONTINUE means execve succeeded.
 */
import { resolve } from 'node:path';
import { BerthError } from '../../errors/index.js';
import type { Process } from '../../oci/runtime-spec.js';
import { atomicWriteFile } from '../../util/atomic-write.js';
import { SYNC } from '../plan/attrs.js';
import { canCloneIntoCgroup, spawnInit } from '../executor/spawn-init.js';
import { processToPlan } from '../spec/to-plan.js';
import { validateProcess } from '../spec/validate-spec.js';
import { validateId } from '../state/state-store.js';
import type { RuntimeContext } from './context.js';
import { cgroupOf, containerStatus, requireStatus } from './status.js';
import { containerProcessState, LONGEST_PID } from './container-process-state.js';

export interface ExecOptions {
  process: Process;
  detach?: boolean;
  pidFile?: string;
  consoleSocket?: string;
  preserveFds?: number;
  stdio?: Array<'inherit' | 'ignore' | number>;
}

export interface Execed {
  pid: number;
  /** Foreground only: resolves with the process's exit code. */
  exited?: Promise<number>;
}

export async function execInContainer(ctx: RuntimeContext, idArg: string, options: ExecOptions): Promise<Execed> {
  const id = validateId(idArg);
  const state = await ctx.store.get(id);
  requireStatus(id, await containerStatus(ctx, state), ['created', 'running'], 'exec in');
  validateProcess(options.process, 'process');
  if (options.process.terminal && !options.consoleSocket && options.detach) {
    throw new BerthError('ARGUMENT_INVALID', 'the process has a terminal: pass --console-socket to receive the pty master (or exec in the foreground)');
  }
  const cg = await cgroupOf(state);
  // The process joins the container's namespaces first, its cgroup namespace too if it has one.
  const joinsCgroupNs = (state.spec.linux?.namespaces ?? []).some((ns) => ns.type === 'cgroup');
  const cgroupJoin = (await cg.exists()) ? cg.selfJoin({ cloneInto: canCloneIntoCgroup(joinsCgroupNs) }) : undefined;
  const plan = processToPlan(options.process, {
    cgroupJoin,
    id,
    initPid: state.pid,
    rootfs: state.rootfs,
    spec: state.spec,
    consoleSocket: options.consoleSocket,
    preserveFds: options.preserveFds ?? 0,
    parentWaits: !options.detach,
  });
  // The seccomp listener's message (runc reports an exec as "running"), checked for size before anything runs.
  const processState = (pid: number): string =>
    plan.seccomp?.listenerPath === undefined
      ? ''
      : containerProcessState({ id, bundle: state.bundle, spec: state.spec, annotations: state.annotations, pid, initPid: state.pid, status: 'running' });
  processState(LONGEST_PID);
  const init = spawnInit(plan, options.stdio ? { stdio: [...options.stdio] } : {});
  let pid = 0;
  try {
    pid = (await init.sync.expect(SYNC.CHILD_PID, 'it forked the process')).value;
    // The process joins the rest itself, after this CONTINUE.
    if (cgroupJoin && cgroupJoin.rest.length > 0) await cg.addProcess(pid, cgroupJoin.rest);
    init.sync.send(SYNC.CONTINUE, processState(pid));
    const rec = await init.sync.next();
    if (rec !== undefined) {
      if (rec.type === SYNC.ERROR) {
        const { executorError } = await import('../sync/sync-channel.js');
        throw executorError(rec);
      }
      throw new BerthError('EXECUTOR_PROTOCOL', `berth-init sent record type ${rec.type} after CONTINUE in exec mode`);
    }
  } catch (err) {
    init.sync.close();
    if (pid > 0) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // ESRCH: already gone.
      }
    }
    await init.exited;
    throw err;
  }
  init.sync.close();
  if (options.pidFile) await atomicWriteFile(resolve(options.pidFile), String(pid), { mode: 0o644 });
  const out: Execed = { pid };
  if (!options.detach) out.exited = init.exited;
  return out;
}
