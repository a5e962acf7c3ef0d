/**
 * A private containerd for the compatibility tests: its own config, root,
 * state and socket under a temp directory, never the system's paths.
 *
 *   const cd = await startContainerd(dir);
 *   await cd.ctr(['images', 'import', archive]);
 *   await cd.ctr(['run', ...cd.runtimeFlags(berthRuntimePath, 'c1'), '--rm', image, 'c1', 'echo', 'hi']);
 *   await cd.stop();
 *
 * The config turns off CRI and the other plugins the tests do not need
 * (opt writes to /opt/containerd, tracing, restart, the extra snapshotters).
 * `ctr` is told where to put its fifos and the runtime's state root, and
 * each container gets a cgroup under a parent named after the temp
 * directory, so that everything can be found and removed afterwards.
 *
 * What cannot be moved: containerd 1.6's shims put their sockets in
 * /run/containerd/s (a constant in the shim package); `stop()` removes that
 * directory (and /run/containerd) again when it did not exist before.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';

import { describeResult, runCmd, type CmdResult, type RunOptions } from '../../helpers/run.js';
import { cgroupParentFor, hostDirGuard, reapProcessesNaming, removeCgroupTree, unmountUnder } from './host.js';

/** The ctr namespace the tests use. */
export const CTR_NAMESPACE = 'berth-compat';

const DISABLED_PLUGINS = [
  'io.containerd.grpc.v1.cri',
  'io.containerd.internal.v1.opt',
  'io.containerd.internal.v1.restart',
  'io.containerd.internal.v1.tracing',
  'io.containerd.tracing.processor.v1.otlp',
  'io.containerd.snapshotter.v1.aufs',
  'io.containerd.snapshotter.v1.btrfs',
  'io.containerd.snapshotter.v1.devmapper',
  'io.containerd.snapshotter.v1.zfs',
];

export interface Containerd extends AsyncDisposable {
  /** The temp directory that holds everything. */
  readonly dir: string;
  /** The gRPC socket. */
  readonly address: string;
  readonly pid: number;
  /** containerd's state directory; the runc shim's bundles are in `io.containerd.runtime.v2.task/<ns>/<id>`. */
  readonly stateDir: string;
  /** The cgroup parent of the tests' containers (relative to each hierarchy's root). */
  readonly cgroupParent: string;
  /** Runs `ctr --address ADDRESS --namespace NS ...args`. */
  ctr(args: readonly string[], opts?: RunOptions): Promise<CmdResult>;
  /** Like ctr, but rejects unless it exited 0. */
  ctrOk(args: readonly string[], opts?: RunOptions): Promise<CmdResult>;
  /**
   * The `ctr run` flags that pick the runtime binary and keep its state, the
   * fifos and the container's cgroup inside the test's directories.
   */
  runtimeFlags(runtimeBin: string, id: string): string[];
  /** The runtime's `--root` as the shim passes it (`<runc-root>/<namespace>`). */
  runtimeRoot(runtimeBin: string): string;
  /** The bundle directory the shim made for a task. */
  bundleDir(id: string): string;
  /** The shim's runtime log for a task (`log.json` in the bundle). */
  readRuntimeLog(id: string): string;
  /**
   * Kills and deletes every task and container in the namespace, stops
   * containerd by its pid, waits for the shims, unmounts what is left under
   * the directory and removes the cgroup parent. Idempotent.
   */
  stop(): Promise<void>;
}

function tomlString(s: string): string {
  return JSON.stringify(s);
}

async function waitForExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return true;
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/**
 * Starts containerd with everything under `dir`, an existing `berth-test-*`
 * temp directory whose name becomes the cgroup parent, and waits until it serves.
 */
export async function startContainerd(dir: string): Promise<Containerd> {
  const root = join(dir, 'root');
  const stateDir = join(dir, 'state');
  const address = join(dir, 'containerd.sock');
  const fifoDir = join(dir, 'fifo');
  const runtimeRoots = join(dir, 'runtime-roots');
  const configPath = join(dir, 'config.toml');
  const logPath = join(dir, 'containerd.log');
  const cgroupParent = cgroupParentFor(dir);
  for (const d of [root, stateDir, fifoDir, runtimeRoots]) await mkdir(d, { recursive: true });
  await writeFile(
    configPath,
    [
      'version = 2',
      `root = ${tomlString(root)}`,
      `state = ${tomlString(stateDir)}`,
      `disabled_plugins = [${DISABLED_PLUGINS.map(tomlString).join(', ')}]`,
      '[grpc]',
      `  address = ${tomlString(address)}`,
      '[ttrpc]',
      `  address = ${tomlString(`${address}.ttrpc`)}`,
      '[debug]',
      '  address = ""',
      '[metrics]',
      '  address = ""',
      '',
    ].join('\n'),
  );

  // The shim sockets' directory, and the defaults a ctr call made without the
  // test's flags would use (fifos, the runtime root), if they appear.
  const hostDirs = hostDirGuard([
    '/run/containerd', '/run/containerd/s', '/run/containerd/fifo',
    '/run/containerd/runc', `/run/containerd/runc/${CTR_NAMESPACE}`,
  ]);
  const logFd = openSync(logPath, 'a');
  let child: ChildProcess;
  try {
    child = spawn('containerd', ['--config', configPath], { stdio: ['ignore', logFd, logFd] });
  } finally {
    closeSync(logFd);
  }
  const pid = child.pid;
  if (pid === undefined) throw new Error('containerd did not start');
  let exited = false;
  child.on('exit', () => {
    exited = true;
  });

  const ctr = (args: readonly string[], opts?: RunOptions): Promise<CmdResult> =>
    runCmd('ctr', ['--address', address, '--namespace', CTR_NAMESPACE, ...args], opts);

  const runtimeRoot = (bin: string): string => join(runtimeRoots, basename(bin), CTR_NAMESPACE);

  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    if (!exited) {
      // Leave nothing running: tasks first (their shims exit with them), then containers.
      const tasks = await ctr(['tasks', 'list', '--quiet'], { timeoutMs: 20_000 }).catch(() => undefined);
      for (const id of tasks?.stdout.split('\n').filter(Boolean) ?? []) {
        await ctr(['tasks', 'kill', '--all', '--signal', 'SIGKILL', id], { timeoutMs: 20_000 }).catch(() => undefined);
        await ctr(['tasks', 'delete', '--force', id], { timeoutMs: 20_000 }).catch(() => undefined);
      }
      const containers = await ctr(['containers', 'list', '--quiet'], { timeoutMs: 20_000 }).catch(() => undefined);
      for (const id of containers?.stdout.split('\n').filter(Boolean) ?? []) {
        await ctr(['containers', 'delete', id], { timeoutMs: 20_000 }).catch(() => undefined);
      }
      child.kill('SIGTERM');
      if (!(await waitForExit(child, 10_000))) {
        child.kill('SIGKILL');
        await waitForExit(child, 5_000);
      }
    }
    // Shims (containerd-shim-runc-v2 -address DIR/containerd.sock) are ours too.
    await reapProcessesNaming(address, 10_000);
    const stuck = unmountUnder(dir);
    removeCgroupTree(cgroupParent);
    hostDirs.undo();
    if (stuck.length === 0) await rm(dir, { recursive: true, force: true });
    else throw new Error(`containerd left mounts that could not be unmounted: ${stuck.join(', ')}`);
  };

  // Serving once `ctr version` answers; give up when containerd exits or after 30 s.
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (exited) {
      await stop().catch(() => undefined);
      throw new Error(`containerd exited during start-up:\n${readFileSync(logPath, 'utf8')}`);
    }
    if (existsSync(address)) {
      const r = await ctr(['version'], { timeoutMs: 10_000 });
      if (r.code === 0) break;
    }
    if (Date.now() > deadline) {
      await stop().catch(() => undefined);
      throw new Error(`containerd did not serve ${address} within 30 s:\n${readFileSync(logPath, 'utf8')}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }

  return {
    dir,
    address,
    pid,
    stateDir,
    cgroupParent,
    ctr,
    async ctrOk(args, opts) {
      const r = await ctr(args, opts);
      if (r.code !== 0) throw new Error(describeResult(r));
      return r;
    },
    runtimeFlags(bin, id) {
      return [
        '--runc-binary', bin,
        '--runc-root', join(runtimeRoots, basename(bin)),
        '--fifo-dir', fifoDir,
        '--cgroup', `/${cgroupParent}/${id}`,
      ];
    },
    runtimeRoot,
    bundleDir: (id) => join(stateDir, 'io.containerd.runtime.v2.task', CTR_NAMESPACE, id),
    readRuntimeLog(id) {
      try {
        return readFileSync(join(stateDir, 'io.containerd.runtime.v2.task', CTR_NAMESPACE, id, 'log.json'), 'utf8');
      } catch {
        return '';
      }
    },
    stop,
    [Symbol.asyncDispose]: stop,
  };
}
