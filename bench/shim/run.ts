/**
 * The shim benchmark (run by bench/shim.sh, which documents it): N
 * long-running containers through berth-shim and through conmon, with the
 * same runtime and bundle, then one container writing as fast as it can.
 *
 * For each shim it prints the total start time (launching the shim, the
 * runtime's create, and the runtime's start, one container after another),
 * the average RSS, PSS and private memory (Private_Clean + Private_Dirty of
 * /proc/PID/smaps_rollup, measured while all N run, so that pages every shim
 * maps from the same binary count as shared), and the log throughput (the
 * median of BENCH_LOG_ROUNDS rounds, the shims taking turns). The last line
 * is the summary the issue asks for.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { chmod, copyFile, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { promisify } from 'node:util';

import { launchShim } from '../../src/shim/launch-shim.js';
import { shimPath } from '../../src/shim/shim-path.js';

const run = promisify(execFile);

const N = Number(process.env['BENCH_N'] ?? 50);
const LOG_SECONDS = Number(process.env['BENCH_LOG_SECONDS'] ?? 3);
const LOG_ROUNDS = Number(process.env['BENCH_LOG_ROUNDS'] ?? 3);
const RUNTIME = process.env['BENCH_RUNTIME'] ?? 'runc';
const SHIMS = (process.env['BENCH_SHIMS'] ?? 'berth-shim conmon').split(/\s+/).filter(Boolean);
const repo = resolve(new URL('../../..', import.meta.url).pathname);
const WORK_PARENT = process.env['BENCH_WORK'] ?? join(repo, 'bench/.work');

function which(name: string): string | undefined {
  if (name.includes('/')) return existsSync(name) ? name : undefined;
  for (const dir of (process.env['PATH'] ?? '').split(':')) {
    if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

const runtimeBin = RUNTIME === 'berth-runtime' ? join(repo, 'bin/berth-runtime') : which(RUNTIME);

/**
 * The shim binary the benchmark runs: a copy in the work directory, so that
 * a rebuild of dist/native during a long run cannot pull it away.
 */
let shimCopy = shimPath();

interface Started {
  id: string;
  dir: string;
  shimPid: number;
  pid: number;
  exitFile: string;
  logFile: string;
}

interface Shim {
  name: string;
  /** Launches the shim for a container whose bundle is `dir` (create done when it resolves). */
  launch(id: string, dir: string, root: string, opts: { unboundedLog: boolean }): Promise<Started>;
}

const berthShim: Shim = {
  name: 'berth-shim',
  async launch(id, dir, root, opts) {
    const exitFile = join(dir, 'exit.json');
    const logFile = join(dir, 'ctr.log');
    const r = await launchShim(
      {
      id,
      runtime: runtimeBin!,
      runtimeArgs: ['--root', root],
      bundle: dir,
      exitFile,
      logPath: logFile,
      attachSocket: join(dir, 'attach.sock'),
      controlSocket: join(dir, 'control.sock'),
      ...(opts.unboundedLog ? { logSizeMaxBytes: 0 } : {}),
      },
      { shimPath: shimCopy },
    );
    return { id, dir, shimPid: r.shimPid, pid: r.pid, exitFile, logFile };
  },
};

/** conmon 2.x as podman drives it: the sync pipe in _OCI_SYNCPIPE, `{"data": PID}` once created. */
const conmon: Shim = {
  name: 'conmon',
  async launch(id, dir, root) {
    const exits = join(dir, 'exits');
    await mkdir(exits, { recursive: true });
    // conmon links DIR/sockets/ID to the bundle for its attach socket; the directory must exist.
    await mkdir(join(dir, 'sockets'), { recursive: true });
    const logFile = join(dir, 'ctr.log');
    const child = spawn(
      'conmon',
      [
        '--api-version', '1', '-c', id, '-u', id, '-n', id, '-r', runtimeBin!, '-b', dir,
        '-p', join(dir, 'pid'), '-P', join(dir, 'conmon.pid'), '-l', `k8s-file:${logFile}`,
        '--exit-dir', exits, '--socket-dir-path', join(dir, 'sockets'), '--log-level', 'error',
        '--runtime-arg', '--root', '--runtime-arg', root,
      ],
      { stdio: ['ignore', 'ignore', 'ignore', 'pipe'], env: { ...process.env, _OCI_SYNCPIPE: '3' } },
    );
    const sync = child.stdio[3] as Readable;
    const line = await new Promise<string>((res, rej) => {
      let buf = '';
      sync.on('data', (b: Buffer) => {
        buf += b.toString();
        const nl = buf.indexOf('\n');
        if (nl >= 0) {
          sync.destroy();
          res(buf.slice(0, nl));
        }
      });
      sync.on('end', () => rej(new Error(`conmon for ${id} reported nothing`)));
    });
    const msg = JSON.parse(line) as { data: number; message?: string };
    if (msg.data < 0) throw new Error(`conmon for ${id}: ${msg.message ?? line}`);
    const shimPid = Number(readFileSync(join(dir, 'conmon.pid'), 'utf8'));
    return { id, dir, shimPid, pid: msg.data, exitFile: join(exits, id), logFile };
  },
};

interface Memory {
  rss: number;
  pss: number;
  privateClean: number;
  privateDirty: number;
}

function smapsRollup(pid: number): Memory {
  const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const kib = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN);
  return { rss: kib('Rss'), pss: kib('Pss'), privateClean: kib('Private_Clean'), privateDirty: kib('Private_Dirty') };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(path: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(path)) {
    if (Date.now() > deadline) throw new Error(`no ${path} after ${timeoutMs} ms`);
    await sleep(10);
  }
}

/** A bundle directory for one container: config.json pointing at the shared rootfs. */
async function bundleFor(dir: string, spec: Record<string, unknown>, rootfs: string, args: string[]): Promise<void> {
  await mkdir(dir, { recursive: true });
  const s = structuredClone(spec) as { process: { args: string[]; terminal: boolean }; root: { path: string; readonly: boolean } };
  s.process.args = args;
  s.process.terminal = false;
  s.root = { path: rootfs, readonly: true };
  await writeFile(join(dir, 'config.json'), JSON.stringify(s));
}

interface FleetResult {
  n: number;
  startSeconds: number;
  memory: Memory;
}

async function stopAll(started: Started[], root: string): Promise<void> {
  for (const c of started) await run(runtimeBin!, ['--root', root, 'kill', c.id, 'KILL']).catch(() => undefined);
  for (const c of started) {
    await waitFor(c.exitFile, 30_000).catch((e: Error) => console.error(`bench: ${e.message}`));
    await run(runtimeBin!, ['--root', root, 'delete', '--force', c.id]).catch(() => undefined);
  }
}

/** N long-running containers, started one after another; memory read while all run. */
async function benchFleet(shim: Shim, work: string, spec: Record<string, unknown>, rootfs: string): Promise<FleetResult> {
  const base = join(work, `${shim.name}-fleet`);
  const root = join(base, 'root');
  await mkdir(root, { recursive: true });
  const started: Started[] = [];
  try {
    for (let i = 0; i < N; i++) await bundleFor(join(base, `c${i}`), spec, rootfs, ['/bin/sleep', '1000000']);
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < N; i++) {
      const id = `bench-${shim.name}-${process.pid}-${i}`;
      const c = await shim.launch(id, join(base, `c${i}`), root, { unboundedLog: false });
      started.push(c);
      await run(runtimeBin!, ['--root', root, 'start', id]);
    }
    const startSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
    await sleep(1000);
    const mems = started.map((c) => smapsRollup(c.shimPid));
    const avg = (k: keyof Memory) => mems.reduce((sum, m) => sum + m[k], 0) / mems.length;
    return { n: N, startSeconds, memory: { rss: avg('rss'), pss: avg('pss'), privateClean: avg('privateClean'), privateDirty: avg('privateDirty') } };
  } finally {
    await stopAll(started, root);
    await rm(base, { recursive: true, force: true });
  }
}

/**
 * One container writing 100-byte lines as fast as it can (busybox `yes`);
 * the log file's growth over LOG_SECONDS after a warm-up, in MiB/s. The
 * log is removed and written back (sync) afterwards, so that one round's
 * dirty pages do not slow the next.
 */
async function benchLog(shim: Shim, work: string, spec: Record<string, unknown>, rootfs: string, round: number): Promise<number> {
  const base = join(work, `${shim.name}-log-${round}`);
  const root = join(base, 'root');
  await mkdir(root, { recursive: true });
  await bundleFor(base, spec, rootfs, ['/bin/yes', 'x'.repeat(99)]);
  const id = `bench-${shim.name}-${process.pid}-log-${round}`;
  const started: Started[] = [];
  try {
    const c = await shim.launch(id, base, root, { unboundedLog: true });
    started.push(c);
    await run(runtimeBin!, ['--root', root, 'start', id]);
    await sleep(500);
    const size = () => (existsSync(c.logFile) ? statSync(c.logFile).size : 0);
    const s0 = size();
    const t0 = process.hrtime.bigint();
    await sleep(LOG_SECONDS * 1000);
    const s1 = size();
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    return (s1 - s0) / seconds / (1024 * 1024);
  } finally {
    await stopAll(started, root);
    await rm(base, { recursive: true, force: true });
    await run('sync', []);
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  if (!runtimeBin) throw new Error(`runtime ${RUNTIME} not found`);
  if (!existsSync(shimPath())) throw new Error(`${shimPath()} is missing: make -C src/native`);
  await mkdir(WORK_PARENT, { recursive: true });
  const work = await mkdtemp(join(WORK_PARENT, 'shim-'));
  try {
    // A busybox rootfs shared read-only by every container, and the runtime's default spec.
    await mkdir(join(work, 'bin'));
    shimCopy = join(work, 'bin', 'berth-shim');
    await copyFile(shimPath(), shimCopy);
    await chmod(shimCopy, 0o755);
    // A file just written has dirty page-cache pages, which smaps counts as private memory of
    // every process that maps them: write them back first.
    await run('sync', []);
    const rootfs = join(work, 'rootfs');
    await mkdir(join(rootfs, 'bin'), { recursive: true });
    for (const d of ['proc', 'sys', 'dev', 'tmp']) await mkdir(join(rootfs, d));
    await copyFile('/bin/busybox', join(rootfs, 'bin/busybox'));
    for (const a of ['sh', 'sleep', 'yes']) await symlink('busybox', join(rootfs, 'bin', a));
    const specDir = join(work, 'spec');
    await mkdir(specDir);
    await run(runtimeBin, ['spec'], { cwd: specDir });
    const spec = JSON.parse(await readFile(join(specDir, 'config.json'), 'utf8')) as Record<string, unknown>;

    const shims: Shim[] = [];
    for (const name of SHIMS) {
      const shim = name === 'conmon' ? conmon : name === 'berth-shim' ? berthShim : undefined;
      if (!shim) throw new Error(`unknown shim ${name}`);
      if (name === 'conmon' && !which('conmon')) {
        console.log('bench: conmon is not installed; skipping it');
        continue;
      }
      shims.push(shim);
    }

    const fleets = new Map<string, FleetResult>();
    for (const shim of shims) {
      console.log(`bench: ${shim.name}: ${N} containers with ${RUNTIME} ...`);
      const r = await benchFleet(shim, work, spec, rootfs);
      fleets.set(shim.name, r);
      const m = r.memory;
      console.log(
        `${shim.name.padEnd(10)} start ${r.startSeconds.toFixed(2)} s (${((r.startSeconds / r.n) * 1000).toFixed(1)} ms each)` +
          `  RSS ${m.rss.toFixed(0)} KiB  PSS ${m.pss.toFixed(0)} KiB` +
          `  private ${(m.privateClean + m.privateDirty).toFixed(0)} KiB (clean ${m.privateClean.toFixed(0)}, dirty ${m.privateDirty.toFixed(0)})`,
      );
    }

    // The shims take turns, so that neither always runs on a colder or dirtier page cache.
    const rates = new Map<string, number[]>(shims.map((sh) => [sh.name, []]));
    for (let round = 0; round < LOG_ROUNDS; round++) {
      for (const shim of round % 2 ? [...shims].reverse() : shims) {
        const r = await benchLog(shim, work, spec, rootfs, round);
        rates.get(shim.name)!.push(r);
        console.log(`${shim.name.padEnd(10)} log round ${round + 1}: ${r.toFixed(1)} MiB/s`);
      }
    }

    const part = (name: string) => {
      const f = fleets.get(name);
      if (!f) return `${name} n/a`;
      const m = f.memory;
      return `${name} ${f.n} containers, start ${f.startSeconds.toFixed(2)} s, private ${(m.privateClean + m.privateDirty).toFixed(0)} KiB each, log ${median(rates.get(name)!).toFixed(1)} MiB/s`;
    };
    console.log(`shim: ${part('berth-shim')}; ${part('conmon')}`);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

await main();
