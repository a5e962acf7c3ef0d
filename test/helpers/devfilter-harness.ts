/**
 * Drives berth-init directly for the cgroup v2 device filter tests, playing
 * berth-runtime's part of the create and start sync sequence, so that they
 * run on a cgroup v1 host too: any cgroup2 directory takes a
 * BPF_PROG_TYPE_CGROUP_DEVICE program, even one with no controllers enabled
 * (on a hybrid host /sys/fs/cgroup/unified). The container's pid goes into a
 * fresh directory's cgroup.procs before CONTINUE, as `create` does.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, open, readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import type { Spec } from '../../src/oci/runtime-spec.js';
import { spawnInit, type SpawnedInit } from '../../src/runtime/executor/spawn-init.js';
import { SYNC } from '../../src/runtime/plan/attrs.js';
import type { Plan, PlanDeviceRule } from '../../src/runtime/plan/plan.js';
import { specToPlan } from '../../src/runtime/spec/to-plan.js';
import { makeBundle, type BundleSpec } from './bundle.js';
import { TEST_TMP_PREFIX, testTmpRoot } from './paths.js';
import type { ProbeResult } from './probe.js';
import { requires } from './requires.js';

/** The mount point of a cgroup2 filesystem (/sys/fs/cgroup, or .../unified on a hybrid host). */
function cgroup2Mount(): string | undefined {
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const [left, right] = line.split(' - ');
    if (right?.split(' ')[0] === 'cgroup2') return left!.split(' ')[4];
  }
  return undefined;
}

const cgroup2 = cgroup2Mount();

/** The skip reason for a device filter test, or undefined when it can run. */
export const devfilterSkip = requires('root', 'busybox', 'probe') ?? (cgroup2 === undefined ? 'needs a cgroup2 mount' : undefined);

export const ACC = { m: 1, r: 2, w: 4, rwm: 7 } as const;
export const any = -1;
export const rule = (allow: boolean, type: 'a' | 'b' | 'c', major: number, minor: number, access: number): PlanDeviceRule =>
  ({ allow, type, major, minor, access });

let seq = 0;

/** A fresh, empty cgroup2 directory named after `name` for `body`, removed after it. */
export async function withCgroup<T>(name: string, body: (dir: string) => Promise<T>): Promise<T> {
  const dir = join(cgroup2!, `${TEST_TMP_PREFIX}${name}-${process.pid}-${seq++}`);
  await mkdir(dir);
  try {
    return await body(dir);
  } finally {
    await removeCgroup(dir);
  }
}

/** rmdir a cgroup, retrying while its last process is still exiting (EBUSY). */
async function removeCgroup(dir: string): Promise<void> {
  for (let i = 0; ; i++) {
    try {
      await rmdir(dir);
      return;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return;
      if (code !== 'EBUSY' || i >= 50) throw e;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

export interface FilteredContainer {
  id: string;
  spec: Spec;
  cgroupDir: string;
  init: SpawnedInit;
  /** With stdio 'files': where the container's stdout went. */
  stdoutPath: string;
  /** What berth-init and the container wrote to stderr so far. */
  stderr(): Promise<string>;
}

export interface FilteredContainerOptions {
  /** Names the container id, cgroup and temp dir. */
  name: string;
  /** The container's sh script. */
  script: string;
  /** 'files': no stdin, stdout to a file; 'pipes': stdin and stdout are pipes on `init.child`. */
  stdio: 'files' | 'pipes';
  /** Changes the plan specToPlan made (cgroup v2, device cgroup `cgroupDir`) before berth-init gets it. */
  edit: (plan: Plan, cgroupDir: string) => void;
}

/**
 * Run `script` in a busybox container in a fresh cgroup2 directory, through
 * the whole sync sequence of `create` and `start`, and hand it to `body`
 * while it runs. Everything (processes, cgroup, temp dir) is removed after.
 */
export async function withFilteredContainer<T>(options: FilteredContainerOptions, body: (c: FilteredContainer) => Promise<T>): Promise<T> {
  return withCgroup(options.name, async (cgroupDir) => {
    const id = `${options.name}-${process.pid}-${seq++}`;
    const tmp = await mkdtemp(join(testTmpRoot(), `${TEST_TMP_PREFIX}${options.name}-`));
    await using bundle = await makeBundle({
      config: (s: BundleSpec) => {
        s.process.args = ['/bin/sh', '-c', options.script];
        // mknod(2) needs the capability before the device filter has its say.
        const caps = ['CAP_MKNOD', 'CAP_KILL'];
        s.process.capabilities = { bounding: caps, effective: caps, permitted: caps };
        // The container's own cgroup mount is not what is tested here.
        s.mounts = (s.mounts ?? []).filter((m) => m.type !== 'cgroup' && m.type !== 'cgroup2');
      },
    });
    const spec = await bundle.readConfig();
    const stdoutPath = join(tmp, 'stdout');
    const stderrPath = join(tmp, 'stderr');
    let init: SpawnedInit | undefined;
    let childPid = 0;
    try {
      const plan = specToPlan(spec, {
        id,
        bundle: bundle.dir,
        rootfs: bundle.rootfs,
        execFifo: join(tmp, 'exec.fifo'),
        parentWaits: true,
        cgroupVersion: 2,
        deviceCgroup: cgroupDir,
      });
      options.edit(plan, cgroupDir);
      const err = await open(stderrPath, 'w');
      const out = options.stdio === 'files' ? await open(stdoutPath, 'w') : undefined;
      try {
        init = spawnInit(plan, { stdio: out === undefined ? ['pipe', 'pipe', err.fd] : ['ignore', out.fd, err.fd] });
      } finally {
        await out?.close();
        await err.close();
      }
      const { sync } = init;
      childPid = (await sync.expect(SYNC.CHILD_PID, 'it created the container process')).value;
      await writeFile(join(cgroupDir, 'cgroup.procs'), String(childPid));
      sync.send(SYNC.CONTINUE);
      await sync.expect(SYNC.HOOKS, 'it set up the mounts');
      sync.send(SYNC.CONTINUE);
      await sync.expect(SYNC.READY, 'it finished setting up the container');
      sync.close();
      // `start`: the read side of the fifo releases the container.
      const fifo = await open(join(tmp, 'exec.fifo'), 'r');
      await fifo.read(Buffer.alloc(1), 0, 1);
      await fifo.close();
      return await body({ id, spec, cgroupDir, init, stdoutPath, stderr: () => readFile(stderrPath, 'utf8') });
    } finally {
      if (init !== undefined) {
        init.sync.close();
        init.child.stdin?.destroy();
        if (init.child.exitCode === null && init.child.signalCode === null) init.child.kill('SIGKILL');
        await init.exited;
      }
      if (childPid > 0) {
        try {
          process.kill(childPid, 'SIGKILL');
        } catch {
          // ESRCH: gone already.
        }
      }
      await rm(tmp, { recursive: true, force: true });
    }
  });
}

/** Lines of `/probe syscall ...`, one per check. */
export const probes = (...calls: string[]): string => calls.map((c) => `/probe syscall ${c}`).join('; ');

export function assertOpened(r: ProbeResult | undefined, what: string): void {
  assert.ok(r !== undefined, `no result for ${what}`);
  assert.ok(r.ret >= 0, `${what}: expected success, got ${r.error} (${r.errno})`);
}

export function assertRefused(r: ProbeResult | undefined, what: string): void {
  assert.ok(r !== undefined, `no result for ${what}`);
  assert.equal(r.error, 'EPERM', `${what}: expected EPERM, got ret ${r.ret} ${r.error ?? ''}`);
}
