/**
 * What the shim-*.test.ts files share: a berth-shim launched through the
 * TypeScript client (src/shim) for a real container, with its paths in one
 * temp directory, and the CRI log read back as entries.
 *
 *   await using c = await shimCase('runc', { args: ['/probe', 'exit', '3'] });
 *   await c.launch();
 *   await c.start();
 *   const status = await c.waitExit();
 *
 * `cleanup()` (also `await using`) force-deletes the container through its
 * runtime, waits for the shim to exit (SIGKILL to the shim's own pid after a
 * grace period, never anything else), and removes the bundle, the runtime
 * root and the temp directory.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';

import { launchShim, type LaunchedShim } from '../../src/shim/launch-shim.js';
import { findExitStatus, type ExitStatus } from '../../src/shim/exit-file.js';
import type { ShimOptions } from '../../src/shim/shim-options.js';
import { waitForExitFile } from '../../src/shim/wait-exit-file.js';
import { makeBundle, type Bundle, type BundleSpec } from '../helpers/bundle.js';
import { repoRoot, TEST_TMP_PREFIX, testTmpRoot } from '../helpers/paths.js';
import { requires } from '../helpers/requires.js';
import { runtimeCli, type RuntimeCli, type RuntimeName } from '../helpers/run.js';

/** The built shim. */
export const shimBinary = join(repoRoot, 'dist/native/berth-shim');

/** The runtimes every behaviour is checked with. */
export const RUNTIMES: readonly RuntimeName[] = ['berth-runtime', 'runc'];

/** A skip reason when berth-shim cannot be built, else undefined. */
export function shimMissing(): string | undefined {
  if (existsSync(shimBinary)) return undefined;
  const r = spawnSync('make', ['-s', '-C', join(repoRoot, 'src/native')], { encoding: 'utf8' });
  return existsSync(shimBinary) ? undefined : `needs berth-shim (make -C src/native failed: ${(r.stderr ?? '').split('\n')[0]})`;
}

/** The skip reason for a shim test that runs containers with `runtime`. */
export function skipFor(runtime: RuntimeName, ...more: Parameters<typeof requires>): string | undefined {
  // berth-runtime's integration tests run on cgroup v1 hosts (as the runtime-*.test.ts files do).
  const runtimeNeeds = runtime === 'berth-runtime' ? (['berth-runtime', 'cgroup-v1'] as const) : ([runtime] as const);
  return requires('root', 'busybox', 'probe', ...runtimeNeeds, ...more) ?? shimMissing();
}

let seq = 0;

export interface ShimCaseOptions {
  /** The container's process.args. */
  args: string[];
  /** More edits of the spec. */
  config?: (spec: BundleSpec) => void;
  terminal?: boolean;
}

export interface ShimCase extends AsyncDisposable {
  readonly runtime: RuntimeName;
  readonly rt: RuntimeCli;
  readonly bundle: Bundle;
  readonly id: string;
  /** The temp directory that holds the paths below. */
  readonly dir: string;
  readonly exitFile: string;
  readonly logPath: string;
  readonly attachSocket: string;
  readonly controlSocket: string;
  /** The options launch() uses, before its overrides. */
  options(extra?: Partial<ShimOptions>): ShimOptions;
  /** Launches the shim (create) and remembers its pids. */
  launch(extra?: Partial<ShimOptions>): Promise<LaunchedShim>;
  /** The pids of the launched shim (also settable, for a shim launched elsewhere). */
  shim: LaunchedShim | undefined;
  /** `RUNTIME start ID`. */
  start(): Promise<void>;
  /** The exit status, once the exit file is there. */
  waitExit(timeoutMs?: number): Promise<ExitStatus>;
  /** The entries of the log file (or of PATH.N with `suffix` '.N'). */
  readLog(suffix?: string): Promise<CriEntry[]>;
  cleanup(): Promise<void>;
}

/** One line of a CRI log. */
export interface CriEntry {
  time: string;
  stream: 'stdout' | 'stderr';
  tag: 'P' | 'F';
  content: string;
}

const CRI_LINE = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z) (stdout|stderr) (P|F) (.*)$/s;

/** Parses a CRI log; throws on a line that is not an entry. */
export function parseCriLog(text: string): CriEntry[] {
  if (text === '') return [];
  if (!text.endsWith('\n')) throw new Error(`the log does not end with a newline: ${JSON.stringify(text.slice(-80))}`);
  return text
    .slice(0, -1)
    .split('\n')
    .map((line) => {
      const m = CRI_LINE.exec(line);
      if (!m) throw new Error(`not a CRI log line: ${JSON.stringify(line)}`);
      return { time: m[1]!, stream: m[2] as CriEntry['stream'], tag: m[3] as CriEntry['tag'], content: m[4]! };
    });
}

/** Joins P entries with the F entry that ends them, per stream: the lines the process wrote. */
export function criLines(entries: readonly CriEntry[], stream: CriEntry['stream']): string[] {
  const out: string[] = [];
  let partial = '';
  for (const e of entries) {
    if (e.stream !== stream) continue;
    partial += e.content;
    if (e.tag === 'F') {
      out.push(partial);
      partial = '';
    }
  }
  if (partial) out.push(partial);
  return out;
}

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/\) [ZX] /.test(stat);
  } catch {
    return false;
  }
}

/** Waits until `pid` is gone; false after `timeoutMs`. */
export async function waitGone(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (alive(pid)) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}

/** True while `pid` runs (not a zombie). */
export const isAlive = alive;

/** Polls `check` every 20 ms until it returns a value; throws `what()` after `timeoutMs`. */
export async function eventually<T>(check: () => T | undefined | Promise<T | undefined>, timeoutMs: number, what: () => string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${what()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A container bundle, a runtime root and a temp directory for one shim. */
export async function shimCase(runtime: RuntimeName, opts: ShimCaseOptions): Promise<ShimCase> {
  const dir = await mkdtemp(join(testTmpRoot(), `${TEST_TMP_PREFIX}shim-`));
  const rt = await runtimeCli(runtime);
  const bundle = await makeBundle({
    config: (s) => {
      s.process.args = opts.args;
      if (opts.terminal) s.process.terminal = true;
      opts.config?.(s);
    },
  });
  const id = `shim-${process.pid}-${seq++}`;
  const paths = {
    exitFile: join(dir, 'exit.json'),
    logPath: join(dir, 'ctr.log'),
    attachSocket: join(dir, 'attach.sock'),
    controlSocket: join(dir, 'control.sock'),
  };
  let cleaned = false;
  const c: ShimCase = {
    runtime,
    rt,
    bundle,
    id,
    dir,
    ...paths,
    shim: undefined,
    options(extra = {}) {
      return {
        id,
        runtime: rt.bin,
        runtimeArgs: ['--root', rt.root],
        bundle: bundle.dir,
        ...paths,
        terminal: opts.terminal ?? false,
        ...extra,
      } as ShimOptions;
    },
    async launch(extra = {}) {
      c.shim = await launchShim(c.options(extra));
      return c.shim;
    },
    async start() {
      await rt.ok(['start', id]);
    },
    waitExit(timeoutMs = 30_000) {
      return waitForExitFile(paths.exitFile, { timeoutMs });
    },
    async readLog(suffix = '') {
      return parseCriLog(await readFile(`${paths.logPath}${suffix}`, 'utf8'));
    },
    async cleanup() {
      if (cleaned) return;
      cleaned = true;
      const problems: string[] = [];
      if (c.shim && alive(c.shim.shimPid)) {
        // Killing the container ends the shim the ordinary way.
        await rt.run(['kill', id, 'KILL']).catch(() => undefined);
        if (!(await waitGone(c.shim.shimPid, 5000))) {
          problems.push(`the shim (pid ${c.shim.shimPid}) did not exit after its container was killed`);
          process.kill(c.shim.shimPid, 'SIGKILL');
          await waitGone(c.shim.shimPid, 2000);
        }
      }
      await rt.cleanup();
      await bundle.cleanup();
      const leftovers = existsSync(dir) ? readdirSync(dir).filter((n) => n.endsWith('.sock')) : [];
      if (c.shim && (await findExitStatus(paths.exitFile).catch(() => undefined)) && leftovers.length) {
        problems.push(`sockets left after the shim exited: ${leftovers.join(', ')}`);
      }
      await rm(dir, { recursive: true, force: true });
      if (problems.length) throw new Error(problems.join('; '));
    },
    [Symbol.asyncDispose]: () => c.cleanup(),
  };
  return c;
}
