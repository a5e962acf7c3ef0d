/**
 * OCI bundles for tests: a busybox rootfs with the probe, and a config.json.
 *
 *   await using bundle = await makeBundle({
 *     config: (spec) => { spec.process.args = ['/probe']; },
 *   });
 *   await runc(['run', '-b', bundle.dir, id]);
 *
 * The rootfs holds /bin/busybox (copied from the host's busybox-static) with a
 * symlink per applet in /bin, /probe, /etc/passwd and /etc/group (root,
 * nobody, and `berth` with uid and gid 1000), /etc/hostname, and empty /proc,
 * /sys, /dev, /tmp, /root and /home/berth.
 *
 * The config is berth's `defaultSpec()` (src/runtime/spec/default-spec.ts);
 * where that module is not built, `runc spec` writes it instead. Either way
 * `process.terminal` is false, so the container's stdio is the caller's.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, copyFile, mkdir, mkdtemp, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';

import type { Linux, Process, Root, Spec } from '../../src/oci/runtime-spec.js';
import { isStaticElf } from './elf.js';
import { ensureProbe } from './probe.js';
import { TEST_TMP_PREFIX, testTmpRoot } from './paths.js';
import { mountsUnder } from './mounts.js';

/** The host busybox the rootfs is made from. */
export const HOST_BUSYBOX = '/bin/busybox';

/** The `berth` user in the test rootfs. */
export const TEST_USER = { name: 'berth', uid: 1000, gid: 1000 } as const;

/**
 * The bundle's spec: berth's OCI `Spec` with the sections every test bundle
 * has (the default spec always sets them) made non-optional, so a test can
 * write `spec.process.args = [...]` or `spec.linux.cgroupsPath = ...`.
 */
export type BundleSpec = Spec & { process: Process; root: Root; linux: Linux };

export interface MakeBundleOptions {
  /** The bundle directory to fill (made if missing); default a new `berth-test-*` temp directory. */
  dir?: string;
  /** Edits the spec before config.json is written. */
  config?: (spec: BundleSpec) => void;
  /** Ask for the rootless default spec (berth's `defaultSpec({ rootless })`, `runc spec --rootless`). */
  rootless?: boolean;
  /** Where the default spec comes from; default 'berth' with 'runc' as the fallback. */
  specSource?: 'berth' | 'runc';
  /** Only make the rootfs; write no config.json. */
  rootfsOnly?: boolean;
}

export interface Bundle extends AsyncDisposable {
  /** The bundle directory (absolute). */
  readonly dir: string;
  /** `<dir>/rootfs`. */
  readonly rootfs: string;
  /** `<dir>/config.json`. */
  readonly configPath: string;
  /** Reads config.json back. */
  readConfig(): Promise<BundleSpec>;
  /** Replaces config.json; any JSON value, so a test can also write an invalid config. */
  writeConfig(spec: BundleSpec | object): Promise<void>;
  /**
   * Removes the bundle directory. Mounts left under it are unmounted first
   * and then reported by a thrown error (they are a leak), so that removing
   * never reaches through a mount into the host. Idempotent.
   */
  cleanup(): Promise<void>;
}

const PASSWD = `root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
${TEST_USER.name}:x:${TEST_USER.uid}:${TEST_USER.gid}:berth test user:/home/${TEST_USER.name}:/bin/sh
`;

const GROUP = `root:x:0:
tty:x:5:
users:x:100:${TEST_USER.name}
nogroup:x:65534:
${TEST_USER.name}:x:${TEST_USER.gid}:
`;

let appletCache: string[] | undefined;

/** The applets the host busybox provides (`busybox --list`). */
function busyboxApplets(): string[] {
  if (!appletCache) {
    const r = spawnSync(HOST_BUSYBOX, ['--list'], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${HOST_BUSYBOX} --list failed: ${r.stderr}`);
    appletCache = r.stdout.split('\n').filter((a) => /^[\w.[-]+$/.test(a) && a !== 'busybox');
  }
  return appletCache;
}

/** Fills `rootfs` with busybox, the probe and a few /etc files. */
export async function makeRootfs(rootfs: string): Promise<void> {
  if (!existsSync(HOST_BUSYBOX)) throw new Error(`${HOST_BUSYBOX} is missing: install the Debian package busybox-static`);
  if (!isStaticElf(HOST_BUSYBOX)) throw new Error(`${HOST_BUSYBOX} is not statically linked: install busybox-static, not busybox`);
  const probe = ensureProbe();

  for (const d of ['bin', 'etc', 'proc', 'sys', 'dev', 'root', `home/${TEST_USER.name}`]) {
    await mkdir(join(rootfs, d), { recursive: true });
  }
  await mkdir(join(rootfs, 'tmp'), { recursive: true });
  await chmod(join(rootfs, 'tmp'), 0o1777);
  await chmod(join(rootfs, 'root'), 0o700);

  await copyFile(HOST_BUSYBOX, join(rootfs, 'bin/busybox'));
  await chmod(join(rootfs, 'bin/busybox'), 0o755);
  await Promise.all(busyboxApplets().map((a) => symlink('busybox', join(rootfs, 'bin', a))));
  await copyFile(probe, join(rootfs, 'probe'));
  await chmod(join(rootfs, 'probe'), 0o755);

  await writeFile(join(rootfs, 'etc/passwd'), PASSWD);
  await writeFile(join(rootfs, 'etc/group'), GROUP);
  await writeFile(join(rootfs, 'etc/hostname'), 'berth-test\n');
}

/**
 * The default spec: berth's own `defaultSpec()` when its module is built,
 * else `runc spec`. The module is imported at run time, by a computed path,
 * so that the helpers keep working in a tree where the spec layer is not
 * built; a module that is there but fails to load is an error, not a fallback.
 */
async function defaultSpecFor(dir: string, opts: MakeBundleOptions): Promise<BundleSpec> {
  if ((opts.specSource ?? 'berth') === 'berth') {
    const modulePath = '../../src/runtime/spec/default-spec.js';
    try {
      const mod = (await import(modulePath)) as { defaultSpec?: (o?: { rootless?: boolean }) => unknown };
      if (typeof mod.defaultSpec === 'function') {
        return structuredClone(mod.defaultSpec({ rootless: opts.rootless ?? false })) as BundleSpec;
      }
    } catch (e) {
      const missing = (e as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND' && String((e as Error).message).includes('default-spec.js');
      if (!missing) throw e;
    }
  }
  // `runc spec` refuses to overwrite, and writes into its working directory.
  const scratch = await mkdtemp(join(dir, '.spec-'));
  try {
    const r = spawnSync('runc', ['spec', ...(opts.rootless ? ['--rootless'] : [])], { cwd: scratch, encoding: 'utf8' });
    if (r.error || r.status !== 0) {
      throw new Error(`no default spec: dist/src/runtime/spec/default-spec.js is not built and \`runc spec\` failed: ${r.error?.message ?? r.stderr}`);
    }
    return JSON.parse(await readFile(join(scratch, 'config.json'), 'utf8')) as BundleSpec;
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, `${JSON.stringify(value, null, 2)}\n`);
  await rename(tmp, path);
}

/** Makes a test bundle; see the module comment. */
export async function makeBundle(opts: MakeBundleOptions = {}): Promise<Bundle> {
  let dir: string;
  if (opts.dir) {
    dir = resolve(opts.dir);
    await mkdir(dir, { recursive: true });
  } else {
    dir = await mkdtemp(join(testTmpRoot(), `${TEST_TMP_PREFIX}bundle-`));
  }
  const rootfs = join(dir, 'rootfs');
  const configPath = join(dir, 'config.json');
  let cleaned = false;

  const cleanup = async (): Promise<void> => {
    if (cleaned) return;
    cleaned = true;
    const leaked = mountsUnder(dir);
    // Deepest first, detached: a busy mount still goes away from the tree.
    for (const m of [...leaked].reverse()) spawnSync('umount', ['-l', m], { stdio: 'ignore' });
    const still = mountsUnder(dir);
    if (still.length === 0) await rm(dir, { recursive: true, force: true });
    if (leaked.length) {
      throw new Error(
        `bundle ${dir} had mounts under it (a leak): ${leaked.join(', ')}` +
          (still.length ? `; could not unmount ${still.join(', ')}, directory left in place` : ''),
      );
    }
  };

  try {
    await mkdir(rootfs, { recursive: true });
    await makeRootfs(rootfs);
    if (!opts.rootfsOnly) {
      const spec = await defaultSpecFor(dir, opts);
      spec.root = { ...spec.root, path: 'rootfs' };
      spec.linux ??= {};
      spec.process.terminal = false;
      opts.config?.(spec);
      await writeJsonAtomic(configPath, spec);
    }
  } catch (e) {
    await cleanup().catch(() => undefined);
    throw e;
  }

  return {
    dir,
    rootfs,
    configPath,
    async readConfig() {
      return JSON.parse(await readFile(configPath, 'utf8')) as BundleSpec;
    },
    writeConfig: (spec) => writeJsonAtomic(configPath, spec),
    cleanup,
    [Symbol.asyncDispose]: cleanup,
  };
}
