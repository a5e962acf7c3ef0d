/**
 * Picks the snapshotter for a root: overlayfs where it works on the root's
 * filesystem, else the copying one. Whether overlayfs works is found out by
 * mounting a tiny overlay under the root, as containerd's
 * overlayutils.Supported does: the kernel may lack the module, and the
 * filesystem may refuse to be an upper dir (an overlayfs mount itself, as
 * when berth runs in a container: "filesystem ... not supported as
 * upperdir" on Linux 6.18), which nothing short of a mount reliably
 * tells. An explicit choice is taken as is, unprobed.
 *
 * Each driver lives in its own folder, `<root>/overlay` or `<root>/copy`:
 * an overlay layer tree holds only its changes, a copy tree is whole, so a
 * root made by one must never be read by the other.
 */
import { execFile } from 'node:child_process';
import { lstat, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { CopySnapshotter } from './copy-snapshotter.js';
import { OverlaySnapshotter } from './overlay-snapshotter.js';

export type SnapshotterDriver = 'overlay' | 'copy';

export interface SelectSnapshotterOptions {
  /** `auto` (the default) probes; a driver name is used without probing. */
  driver?: SnapshotterDriver | 'auto';
  /** Clock for created/updated times, passed to the snapshotter. */
  now?: () => Date;
}

export interface SelectedSnapshotter {
  driver: SnapshotterDriver;
  snapshotter: OverlaySnapshotter | CopySnapshotter;
  /** Why this driver: `requested`, `overlay mount works`, or what failed. */
  reason: string;
}

export type OverlayProbe = { ok: true } | { ok: false; reason: string };

/**
 * Initialises the snapshotter for `root` (at `<root>/<driver>`), probing
 * overlayfs unless a driver is asked for.
 *
 *   const { snapshotter, driver, reason } = await selectSnapshotter('/var/lib/berth/snapshots');
 */
export async function selectSnapshotter(root: string, options: SelectSnapshotterOptions = {}): Promise<SelectedSnapshotter> {
  const asked = options.driver ?? 'auto';
  let driver: SnapshotterDriver;
  let reason: string;
  if (asked === 'auto') {
    const probe = await probeOverlay(root);
    driver = probe.ok ? 'overlay' : 'copy';
    reason = probe.ok ? 'overlay mount works' : probe.reason;
  } else {
    driver = asked;
    reason = 'requested';
  }
  const snapshotterOptions = options.now ? { now: options.now } : {};
  const dir = join(root, driver);
  const snapshotter = driver === 'overlay' ? new OverlaySnapshotter(dir, snapshotterOptions) : new CopySnapshotter(dir, snapshotterOptions);
  await snapshotter.init();
  return { driver, snapshotter, reason };
}

/** Characters that overlay mount options give a meaning to (option, lowerdir and escape separators). */
const UNSAFE_IN_OPTIONS = /[,:\\]/;

/**
 * Mounts an overlay with two lower dirs under `root` (created if missing),
 * deletes a lower file through it (overlayfs must create a whiteout in the
 * upper dir, the thing the overlay snapshotter's layers rely on), then
 * unmounts and removes everything. Never throws: a failure is the reason.
 */
export async function probeOverlay(root: string): Promise<OverlayProbe> {
  if (UNSAFE_IN_OPTIONS.test(root)) return { ok: false, reason: `root ${root} holds a character (, : \\) that overlay mount options cannot carry` };
  let probe: string;
  try {
    await mkdir(root, { recursive: true, mode: 0o700 });
    probe = await mkdtemp(join(root, '.overlay-probe-'));
  } catch (err) {
    return { ok: false, reason: `cannot make a probe directory under ${root}: ${(err as Error).message}` };
  }
  const [lower1, lower2, upper, work, merged] = ['l1', 'l2', 'u', 'w', 'm'].map((d) => join(probe, d)) as [string, string, string, string, string];
  let mounted = false;
  try {
    for (const d of [lower1, lower2, upper, work, merged]) await mkdir(d);
    await writeFile(join(lower2, 'f'), 'probe\n');
    const mountResult = await run('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lower1}:${lower2},upperdir=${upper},workdir=${work}`, merged]);
    if (mountResult !== undefined) return { ok: false, reason: `overlay mount under ${root} failed: ${mountResult}` };
    mounted = true;
    await rm(join(merged, 'f'));
    const wh = await lstat(join(upper, 'f')).catch(() => undefined);
    if (!wh?.isCharacterDevice() || wh.rdev !== 0) return { ok: false, reason: `overlay under ${root} did not leave a whiteout device for a deleted file` };
    if ((await readdir(merged)).length !== 0) return { ok: false, reason: `overlay under ${root} still shows a deleted file` };
    return { ok: true };
  } catch (err) {
    return { ok: false, reason: `overlay probe under ${root} failed: ${(err as Error).message}` };
  } finally {
    if (mounted && (await run('umount', [merged])) !== undefined) {
      // Busy (something opened it meanwhile): detach, so that the probe never stays mounted.
      await run('umount', ['-l', merged]);
    }
    await rm(probe, { recursive: true, force: true }).catch(() => {});
  }
}

/** Runs a command; undefined on success, else its error text. */
function run(cmd: string, args: string[]): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile(cmd, args, { encoding: 'utf8' }, (err, _stdout, stderr) => {
      if (!err) return resolve(undefined);
      resolve(stderr.trim().split('\n')[0] || err.message);
    });
  });
}
