/**
 * `create`: the container's init process exists, isolated, in its cgroups,
 * with createRuntime and createContainer hooks run, blocked on the exec fifo
 * before the user's program. Either all of that happens or nothing is left
 * behind: no state directory, cgroup, fifo or process.
 */
import { isAbsolute, resolve } from 'node:path';
import { userInfo } from 'node:os';
import { BerthError } from '../../errors/index.js';
import type { Spec } from '../../oci/runtime-spec.js';
import { atomicWriteFile } from '../../util/atomic-write.js';
import { readProcStat, waitForExit } from '../../util/proc.js';
import { createCgroupManager, detectCgroupVersion, type CgroupManager } from '../cgroups/index.js';
import { runHooks } from '../hooks/run-hooks.js';
import { SYNC, SYNC_MAX_MSG } from '../plan/attrs.js';
import { canCloneIntoCgroup, spawnInit, type SpawnedInit } from '../executor/spawn-init.js';
import { loadSpec } from '../spec/load-spec.js';
import { validateSpec } from '../spec/validate-spec.js';
import { specToPlan } from '../spec/to-plan.js';
import { effectiveResources } from '../spec/device-rules.js';
import type { ContainerState } from '../state/container-state.js';
import { validateId } from '../state/state-store.js';
import type { RuntimeContext } from './context.js';
import { ociState } from './status.js';
import { containerProcessState, LONGEST_PID, type ContainerProcessStateInput } from './container-process-state.js';
import { writeIdMappings } from './id-mappings.js';

export interface CreateOptions {
  id: string;
  /** Bundle directory; default the current directory. */
  bundle?: string;
  pidFile?: string;
  consoleSocket?: string;
  noPivot?: boolean;
  noNewKeyring?: boolean;
  preserveFds?: number;
  /** Stdio of the container; default: inherit the caller's. */
  stdio?: Array<'inherit' | 'ignore' | number>;
  /**
   * Keep berth-init as the container's parent, waiting for it (foreground
   * `run`); `created.exited` then resolves with the container's exit code.
   */
  foreground?: boolean;
}

export interface Created {
  state: ContainerState;
  /** Foreground only: resolves with the container's exit code. */
  exited?: Promise<number>;
}

function rootfsOf(spec: Spec, bundle: string): string {
  const root = spec.root?.path;
  if (!root) throw new BerthError('CONFIG_INVALID', 'root.path is required', { field: 'root.path' });
  return isAbsolute(root) ? root : resolve(bundle, root);
}

export async function createContainer(ctx: RuntimeContext, options: CreateOptions): Promise<Created> {
  const id = validateId(options.id);
  const bundle = resolve(options.bundle ?? process.cwd());
  // Date, not performance: the global `performance` loads perf_hooks, a cost at every start.
  const t0 = Date.now();
  const step = (what: string): void => ctx.log.debug(`create ${options.id}: ${what} at ${Date.now() - t0} ms`);
  const spec = await loadSpec(bundle);
  const cgroupVersion = detectCgroupVersion();
  validateSpec(spec, { bundle, rootless: process.geteuid?.() !== 0, cgroupVersion });
  const rootfs = rootfsOf(spec, bundle);
  // In the foreground without a console socket berth-init proxies the pty (runc's `run -t`).
  if (spec.process?.terminal && !options.consoleSocket && !options.foreground) {
    throw new BerthError('ARGUMENT_INVALID', 'process.terminal is true: pass --console-socket to receive the pty master (or run in the foreground)');
  }
  if (!spec.process?.terminal && options.consoleSocket) {
    throw new BerthError('ARGUMENT_INVALID', '--console-socket was given but process.terminal is false in config.json');
  }

  const lock = await ctx.store.lock(id);
  let init: SpawnedInit | undefined;
  let cgroup: CgroupManager | undefined;
  let childPid = 0;
  let reserved = false;
  try {
    await ctx.store.reserve(id);
    reserved = true;
    const userns = (spec.linux?.namespaces ?? []).some((ns) => ns.type === 'user');
    // On v2 berth-init attaches the device filter (plan deviceCgroup).
    cgroup = createCgroupManager({ id, cgroupsPath: spec.linux?.cgroupsPath, version: cgroupVersion, v2DevicePolicy: 'external' });
    step('validated');
    const resources = effectiveResources(spec);
    await cgroup.create(resources);
    step('cgroup created');
    const joinsCgroupNs = (spec.linux?.namespaces ?? []).some((ns) => ns.type === 'cgroup' && ns.path);
    const cgroupJoin = cgroup.selfJoin({ cloneInto: canCloneIntoCgroup(joinsCgroupNs) });

    const plan = specToPlan(spec, {
      id,
      bundle,
      rootfs,
      execFifo: ctx.store.fifoPath(id),
      consoleSocket: options.consoleSocket,
      preserveFds: options.preserveFds ?? 0,
      noPivot: options.noPivot ?? false,
      noNewKeyring: options.noNewKeyring ?? false,
      parentWaits: options.foreground ?? false,
      cgroupBinds: cgroupBinds(cgroup),
      cgroupJoin,
      cgroupVersion: cgroup.version,
      deviceCgroup: cgroup.version === 2 ? cgroup.paths()[''] : undefined,
      deviceRules: resources.devices,
      userns,
    });

    step('plan built');
    // The seccomp listener's message, checked for size before anything runs.
    const processState = (pid: number): string => {
      if (plan.seccomp?.listenerPath === undefined) return '';
      const input: ContainerProcessStateInput = { id, bundle, spec, annotations: spec.annotations ?? {}, pid, initPid: pid, status: 'creating' };
      return containerProcessState(input);
    };
    processState(LONGEST_PID);
    init = spawnInit(plan, options.stdio ? { stdio: [...options.stdio] } : {});
    const { sync } = init;
    childPid = (await sync.expect(SYNC.CHILD_PID, 'it created the container process')).value;
    step(`init pid ${childPid}`);

    const userNs = spec.linux?.namespaces?.find((ns) => ns.type === 'user');
    if (userNs && !userNs.path) {
      await writeIdMappings(childPid, spec.linux?.uidMappings ?? [], spec.linux?.gidMappings ?? []);
    }
    // The container process joins the rest itself, after this CONTINUE.
    if (cgroupJoin.rest.length > 0) await cgroup.addProcess(childPid, cgroupJoin.rest);
    sync.send(SYNC.CONTINUE, processState(childPid));

    await sync.expect(SYNC.HOOKS, 'it set up the mounts');
    step('mounts done');
    const creating = ociState(
      { id, bundle, pid: childPid, annotations: spec.annotations ?? {} } as ContainerState,
      'creating',
    );
    try {
      // prestart is deprecated but still run, in the runtime namespace, with createRuntime (runc's order).
      await runHooks('prestart', spec.hooks?.prestart, creating);
      await runHooks('createRuntime', spec.hooks?.createRuntime, creating);
      await runHooks('createContainer', spec.hooks?.createContainer, creating);
    } catch (err) {
      sync.send(SYNC.ABORT);
      throw err;
    }
    // startContainer hooks run inside the container and read this state.
    const startState = plan.startHooks.length > 0 ? JSON.stringify({ ...creating, status: 'created' }) : '';
    if (Buffer.byteLength(startState) > SYNC_MAX_MSG) {
      throw new BerthError('CONFIG_UNSUPPORTED', `the state for startContainer hooks is over ${SYNC_MAX_MSG} bytes; use fewer annotations`, { field: 'annotations' });
    }
    sync.send(SYNC.CONTINUE, startState);
    await sync.expect(SYNC.READY, 'it finished setting up the container');
    step('init ready');

    const stat = readProcStat(childPid);
    if (!stat) throw new BerthError('EXECUTOR_FAILED', `container init (pid ${childPid}) exited during create`);
    const state: ContainerState = {
      version: 1,
      id,
      bundle,
      rootfs,
      pid: childPid,
      pidStartTime: stat.startTime,
      created: new Date().toISOString(),
      spec,
      cgroupPath: cgroup.path,
      cgroupPaths: cgroup.paths(),
      cgroupVersion: cgroup.version,
      owner: userInfo().username,
      annotations: spec.annotations ?? {},
    };
    await ctx.store.write(state);
    if (options.pidFile) await atomicWriteFile(resolve(options.pidFile), String(childPid), { mode: 0o644 });
    if (!options.foreground) sync.close();
    const created: Created = { state };
    if (options.foreground) created.exited = init.exited;
    return created;
  } catch (err) {
    await rollback(ctx, id, { init, childPid, cgroup, reserved });
    throw err;
  } finally {
    await lock.release();
  }
}

function cgroupBinds(cgroup: CgroupManager): Array<{ hostPath: string; containerPath: string }> {
  return Object.entries(cgroup.paths()).map(([controller, hostPath]) => ({
    hostPath,
    containerPath: controller === '' ? '' : controller,
  }));
}

/** Undo a failed create: kill what was started, then remove cgroup and state. */
async function rollback(
  ctx: RuntimeContext,
  id: string,
  made: { init: SpawnedInit | undefined; childPid: number; cgroup: CgroupManager | undefined; reserved: boolean },
): Promise<void> {
  if (made.init) {
    made.init.sync.close();
    if (made.init.child.exitCode === null) made.init.child.kill('SIGKILL');
    await made.init.exited;
  }
  if (made.childPid > 0) {
    try {
      process.kill(made.childPid, 'SIGKILL');
    } catch {
      // ESRCH: it already exited.
    }
    await waitForExit(made.childPid, undefined, 5000);
  }
  if (made.cgroup) {
    await made.cgroup.destroy().catch((err: Error) => ctx.log.warn(`container ${id}: ${err.message}`));
  }
  if (made.reserved) await ctx.store.remove(id);
}

