/**
 * Starts berth-init, hands it the encoded plan and returns the sync channel.
 * The executor gets the caller's stdio (it becomes the container's stdio),
 * the preserved fds at their own numbers, and the sync socket right after
 * them; libuv marks every other fd close-on-exec.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { constants } from 'node:os';
import type { Duplex } from 'node:stream';
import { BerthError } from '../../errors/index.js';
import { SYNC_FD_ENV } from '../plan/attrs.js';
import { encodePlan } from '../plan/encode-plan.js';
import type { Plan } from '../plan/plan.js';
import { SyncChannel } from '../sync/sync-channel.js';
import { kernelAtLeast } from '../../util/kernel-version.js';
import { nativeProgramPath } from '../../util/native-path.js';

/** Where berth-init is: BERTH_INIT, else `native/berth-init` in the nearest `dist/`. */
export function initPath(): string {
  return nativeProgramPath('berth-init', 'BERTH_INIT');
}

/**
 * Whether berth-init can create the process inside its cgroup v2 directory
 * (clone3 with CLONE_INTO_CGROUP, Linux 5.7), which Plan.cgroupInto asks
 * for. Not when it joins a cgroup namespace before the clone: the kernel
 * then wants berth-init's own cgroup to lie inside that namespace's root,
 * and refuses with ENOENT (cgroup_attach_permissions).
 */
export function canCloneIntoCgroup(joinsCgroupNamespace: boolean): boolean {
  return !joinsCgroupNamespace && kernelAtLeast('5.7') === true;
}

export interface SpawnedInit {
  child: ChildProcess;
  sync: SyncChannel;
  /** Resolves with the executor's exit code (128+n for a signal). */
  exited: Promise<number>;
}

export interface SpawnInitOptions {
  /** Stdio of the executor and so of the container; default: inherit ours. */
  stdio?: Array<'inherit' | 'ignore' | 'pipe' | number>;
}

export function spawnInit(plan: Plan, options: SpawnInitOptions = {}): SpawnedInit {
  const path = initPath();
  if (!existsSync(path)) {
    throw new BerthError('EXECUTOR_MISSING', `berth-init not found at ${path}; run \`npm run build\``);
  }
  const stdio: Array<'inherit' | 'ignore' | 'pipe' | number> = options.stdio ?? ['inherit', 'inherit', 'inherit'];
  for (let i = 0; i < plan.preserveFds; i++) stdio.push(3 + i);
  const syncFd = stdio.length;
  stdio.push('pipe');
  const child = spawn(path, [], {
    stdio,
    env: { [SYNC_FD_ENV]: String(syncFd) },
  });
  const exited = new Promise<number>((resolve) => {
    child.on('exit', (code, signal) => {
      resolve(code ?? 128 + (signal ? osSignalNumber(signal) : 0));
    });
    child.on('error', () => resolve(127));
  });
  const sock = child.stdio[syncFd] as Duplex;
  const sync = new SyncChannel(sock);
  sync.write(encodePlan(plan));
  return { child, sync, exited };
}

function osSignalNumber(signal: NodeJS.Signals): number {
  return constants.signals[signal] ?? 0;
}
