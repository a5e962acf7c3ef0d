/**
 * Skip reasons for tests that need something the machine may lack:
 *
 *   test('runs a container', { skip: requires('root', 'runc') }, async () => { ... });
 *
 * `requires` returns undefined when everything is there, else a reason such as
 * "needs runc (not on PATH)", which node:test prints beside the skipped test.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';

import { isStaticElf } from './elf.js';
import { ensureProbe } from './probe.js';
import { berthRuntimePath } from './paths.js';

export type Requirement =
  /** Running as uid 0. */
  | 'root'
  | 'runc'
  | 'crun'
  /** /bin/busybox from busybox-static, statically linked. */
  | 'busybox'
  /** dist/test/probe, built here by `make -C test/fixtures/probe` when missing. */
  | 'probe'
  /** bin/berth-runtime exists and answers `--version`. */
  | 'berth-runtime'
  /** The kernel knows overlayfs. */
  | 'overlay'
  /** Some cgroup v1 hierarchy is mounted (a hybrid host counts). */
  | 'cgroup-v1'
  /** /sys/fs/cgroup is a pure cgroup v2 mount. */
  | 'cgroup-v2'
  /** Unprivileged user namespaces can be made. */
  | 'userns'
  /** `ip` from iproute2. */
  | 'ip'
  | 'hyperfine'
  | 'script';

/** Finds an executable on PATH; undefined when absent. */
export function which(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

function filesystems(): string {
  try {
    return readFileSync('/proc/filesystems', 'utf8');
  } catch {
    return '';
  }
}

function mountTypes(): string[] {
  try {
    return readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .map((line) => line.split(' - ')[1]?.split(' ')[0] ?? '');
  } catch {
    return [];
  }
}

function check(req: Requirement): string | undefined {
  switch (req) {
    case 'root':
      return process.getuid?.() === 0 ? undefined : 'needs root';
    case 'runc':
    case 'crun':
    case 'ip':
    case 'hyperfine':
    case 'script':
      return which(req) ? undefined : `needs ${req} (not on PATH)`;
    case 'busybox':
      if (!existsSync('/bin/busybox')) return 'needs /bin/busybox (Debian package busybox-static)';
      return isStaticElf('/bin/busybox') ? undefined : 'needs a static /bin/busybox (Debian package busybox-static)';
    case 'probe':
      try {
        ensureProbe();
        return undefined;
      } catch (e) {
        return `needs the test probe: ${(e as Error).message.split('\n')[0]}`;
      }
    case 'berth-runtime': {
      if (!existsSync(berthRuntimePath)) return `needs ${berthRuntimePath}`;
      const r = spawnSync(berthRuntimePath, ['--version'], { stdio: 'ignore', timeout: 30_000 });
      return r.status === 0 ? undefined : `needs a working ${berthRuntimePath} (--version failed)`;
    }
    case 'overlay':
      if (/\toverlay\n/.test(filesystems())) return undefined;
      // The module may simply not be loaded yet.
      spawnSync('modprobe', ['overlay'], { stdio: 'ignore' });
      return /\toverlay\n/.test(filesystems()) ? undefined : 'needs overlayfs';
    case 'cgroup-v1':
      return mountTypes().includes('cgroup') ? undefined : 'needs a cgroup v1 hierarchy';
    case 'cgroup-v2':
      return existsSync('/sys/fs/cgroup/cgroup.controllers') ? undefined : 'needs a pure cgroup v2 host';
    case 'userns': {
      const r = spawnSync('unshare', ['--user', '--map-root-user', 'true'], { stdio: 'ignore', timeout: 10_000 });
      return r.status === 0 ? undefined : 'needs user namespaces (unshare --user failed)';
    }
  }
}

const cache = new Map<Requirement, string | undefined>();

/**
 * Undefined when every requirement holds, else the reasons of those that do
 * not, joined, for `{ skip: requires(...) }`. Results are cached per process.
 */
export function requires(...reqs: Requirement[]): string | undefined {
  const reasons: string[] = [];
  for (const req of reqs) {
    if (!cache.has(req)) cache.set(req, check(req));
    const reason = cache.get(req);
    if (reason) reasons.push(reason);
  }
  return reasons.length ? reasons.join('; ') : undefined;
}
