/**
 * A private podman for the compatibility tests: storage, run root, tmp dir,
 * locks, events and network config all under a temp directory, through a
 * containers.conf and storage.conf of its own (CONTAINERS_CONF,
 * CONTAINERS_STORAGE_CONF) and the matching global flags.
 *
 *   const pm = await makePodman(dir);
 *   await pm.ok(['load', '-i', archive]);
 *   await pm.run(berthRuntimePath, ['run', '--rm', ...pm.containerFlags(), image, 'echo', 'hi']);
 *   await pm.cleanup();
 *
 * Choices that keep it self-contained: the cgroupfs manager (no systemd),
 * the file events backend (no journald), no network (no CNI or netavark set
 * up), file locks instead of /dev/shm/libpod_lock, and containers in a
 * cgroup parent named after the temp directory (conmon goes in its
 * `conmon` child). Podman as root sets RLIMIT_NOFILE and RLIMIT_NPROC to
 * 1048576 by default, which a runtime cannot do without CAP_SYS_RESOURCE
 * (a sandbox may lack it; runc fails the same way), so the default
 * ulimits are set low.
 *
 * What cannot be moved: podman 4.3 keeps its blob-info cache in
 * /var/lib/containers/cache; `cleanup()` removes it again when it did not
 * exist before.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { requires } from '../../helpers/requires.js';
import { describeResult, runCmd, type CmdResult, type RunOptions } from '../../helpers/run.js';
import { cgroupParentFor, hostDirGuard, reapProcessesNaming, removeCgroupTree, runInPty, unmountUnder } from './host.js';

export interface Podman extends AsyncDisposable {
  readonly dir: string;
  /** The cgroup parent of the containers (relative to each hierarchy's root). */
  readonly cgroupParent: string;
  /** The environment podman runs with (points at the private config files). */
  readonly env: NodeJS.ProcessEnv;
  /** Runs `podman GLOBAL-FLAGS --runtime RUNTIME ...args`. */
  run(runtime: string, args: readonly string[], opts?: RunOptions): Promise<CmdResult>;
  /** Like run, under a pseudo-terminal (for `-it`). */
  runInPty(runtime: string, args: readonly string[], opts?: RunOptions): Promise<CmdResult>;
  /** `podman GLOBAL-FLAGS ...args` with the default runtime (runc), rejecting unless it exited 0: load, images, rm. */
  ok(args: readonly string[], opts?: RunOptions): Promise<CmdResult>;
  /** Flags for `podman run`/`create` that keep the container in the test's cgroup parent, without a network. */
  containerFlags(): string[];
  /**
   * Removes every container and image, waits for conmon and podman's exit
   * commands, unmounts what is left under the directory, removes it, the
   * cgroup parent and what podman made outside the directory. Idempotent.
   */
  cleanup(): Promise<void>;
}

/** Makes the directories and config files under `dir`, an existing `berth-test-*` temp directory whose name becomes the cgroup parent. */
export async function makePodman(dir: string): Promise<Podman> {
  const storage = join(dir, 'storage');
  const runroot = join(dir, 'run');
  const tmp = join(dir, 'tmp');
  const cgroupParent = cgroupParentFor(dir);
  for (const d of [storage, runroot, tmp, join(dir, 'net'), join(dir, 'volumes')]) await mkdir(d, { recursive: true });
  const driver = requires('overlay') ? 'vfs' : 'overlay';
  const containersConf = join(dir, 'containers.conf');
  const storageConf = join(dir, 'storage.conf');
  const q = (s: string): string => JSON.stringify(s);
  await writeFile(
    containersConf,
    [
      '[containers]',
      'netns = "none"',
      'cgroupns = "private"',
      'default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]',
      '[engine]',
      'cgroup_manager = "cgroupfs"',
      'events_logger = "file"',
      `events_logfile_path = ${q(join(dir, 'events.log'))}`,
      'lock_type = "file"',
      `tmp_dir = ${q(tmp)}`,
      `volume_path = ${q(join(dir, 'volumes'))}`,
      `static_dir = ${q(join(storage, 'libpod'))}`,
      '[network]',
      `network_config_dir = ${q(join(dir, 'net'))}`,
      '',
    ].join('\n'),
  );
  await writeFile(
    storageConf,
    ['[storage]', `driver = ${q(driver)}`, `graphroot = ${q(storage)}`, `runroot = ${q(runroot)}`, ''].join('\n'),
  );
  const env: NodeJS.ProcessEnv = { ...process.env, CONTAINERS_CONF: containersConf, CONTAINERS_STORAGE_CONF: storageConf };
  const globalFlags = [
    '--root', storage,
    '--runroot', runroot,
    '--tmpdir', tmp,
    '--storage-driver', driver,
    '--cgroup-manager', 'cgroupfs',
    '--events-backend', 'file',
  ];
  const hostDirs = hostDirGuard(['/var/lib/containers', '/var/lib/containers/cache'], ['/var/lib/containers/cache']);

  const run = (runtime: string, args: readonly string[], opts: RunOptions = {}): Promise<CmdResult> =>
    runCmd('podman', [...globalFlags, '--runtime', runtime, ...args], { env, ...opts });
  const ok = async (args: readonly string[], opts: RunOptions = {}): Promise<CmdResult> => {
    const r = await runCmd('podman', [...globalFlags, ...args], { env, ...opts });
    if (r.code !== 0) throw new Error(describeResult(r));
    return r;
  };

  let cleaned = false;
  const cleanup = async (): Promise<void> => {
    if (cleaned) return;
    cleaned = true;
    const opts = { env, timeoutMs: 60_000 };
    await runCmd('podman', [...globalFlags, 'rm', '--all', '--force', '--time', '0'], opts).catch(() => undefined);
    // conmon and the `podman container cleanup` it runs at exit name the directory.
    await reapProcessesNaming(dir, 20_000);
    await runCmd('podman', [...globalFlags, 'system', 'reset', '--force'], opts).catch(() => undefined);
    await reapProcessesNaming(dir, 10_000);
    const stuck = unmountUnder(dir);
    removeCgroupTree(cgroupParent);
    hostDirs.undo();
    if (stuck.length === 0) await rm(dir, { recursive: true, force: true });
    else throw new Error(`podman left mounts that could not be unmounted: ${stuck.join(', ')}`);
  };

  return {
    dir,
    cgroupParent,
    env,
    run,
    runInPty: (runtime, args, opts = {}) => runInPty('podman', [...globalFlags, '--runtime', runtime, ...args], { env, ...opts }),
    ok,
    containerFlags: () => ['--cgroup-parent', `/${cgroupParent}`, '--network', 'none'],
    cleanup,
    [Symbol.asyncDispose]: cleanup,
  };
}
