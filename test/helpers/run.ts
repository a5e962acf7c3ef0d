/**
 * Running commands from tests: spawn (never a shell), a timeout, captured
 * output, and runtime command lines (berth-runtime, runc, crun) each bound to
 * its own `--root` state directory.
 */
import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';

import { berthRuntimePath, TEST_TMP_PREFIX, testTmpRoot } from './paths.js';

export interface RunOptions {
  /** Written to the child's stdin, which is then closed. Without it stdin is /dev/null. */
  input?: string | Buffer;
  /** The child is killed with SIGKILL after this long; default 60 000. */
  timeoutMs?: number;
  /** The whole environment of the child; default: this process's. */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  signal?: AbortSignal;
}

export interface CmdResult {
  /** The command line as run, for messages. */
  command: string;
  /** The exit code, or null when the child was killed by a signal. */
  code: number | null;
  /** The signal that killed the child, or null. */
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  durationMs: number;
}

const DEFAULT_TIMEOUT_MS = 60_000;

/** Quotes an argument for display only; nothing here is run by a shell. */
function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** Formats a finished command for an assertion message. */
export function describeResult(r: CmdResult): string {
  const status = r.timedOut
    ? `timed out after ${r.durationMs} ms`
    : r.signal
      ? `killed by ${r.signal}`
      : `exited ${r.code}`;
  return `\`${r.command}\` ${status}\n--- stdout\n${r.stdout}--- stderr\n${r.stderr}---`;
}

let outputDir: string | undefined;
let outputSeq = 0;

/** A directory for captured output, removed when the process exits. */
function captureDir(): string {
  if (!outputDir) {
    const dir = mkdtempSync(join(testTmpRoot(), `${TEST_TMP_PREFIX}output-`));
    outputDir = dir;
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  }
  return outputDir;
}

/**
 * Runs `bin` with `args` and resolves when it has exited, whatever the exit
 * status; rejects only when it cannot be started (ENOENT, EACCES).
 *
 * stdout and stderr are captured through files, not pipes: a runtime's
 * `create` (and `run --detach`) hands its stdio to the container, which keeps
 * it open long after the runtime has exited, so waiting for a pipe's EOF
 * would hang. The result is complete when the command exits.
 */
export function runCmd(bin: string, args: readonly string[], opts: RunOptions = {}): Promise<CmdResult> {
  const command = [bin, ...args].map(shellQuote).join(' ');
  const started = Date.now();
  const base = join(captureDir(), String(++outputSeq));
  const outPath = `${base}.out`;
  const errPath = `${base}.err`;
  const outFd = openSync(outPath, 'w');
  const errFd = openSync(errPath, 'w');
  const collect = (): { stdout: string; stderr: string } => {
    const stdout = readFileSync(outPath, 'utf8');
    const stderr = readFileSync(errPath, 'utf8');
    rmSync(outPath, { force: true });
    rmSync(errPath, { force: true });
    return { stdout, stderr };
  };
  return new Promise((resolvePromise, reject) => {
    let child;
    try {
      child = spawn(bin, args, {
        cwd: opts.cwd,
        env: opts.env ?? process.env,
        stdio: [opts.input === undefined ? 'ignore' : 'pipe', outFd, errFd],
        signal: opts.signal,
      });
    } finally {
      closeSync(outFd);
      closeSync(errFd);
    }
    let timedOut = false;
    let settled = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    child.on('error', (e) => {
      clearTimeout(timer);
      if (settled) return;
      settled = true;
      collect();
      reject(e);
    });
    if (opts.input !== undefined && child.stdin) {
      // EPIPE when the child exits without reading is not the test's concern.
      child.stdin.on('error', () => {});
      child.stdin.end(opts.input);
    }
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (settled) return;
      settled = true;
      resolvePromise({ command, code, signal, ...collect(), timedOut, durationMs: Date.now() - started });
    });
  });
}

/** Like {@link runCmd}, but rejects unless the command exited 0. */
export async function runOk(bin: string, args: readonly string[], opts: RunOptions = {}): Promise<CmdResult> {
  const r = await runCmd(bin, args, opts);
  if (r.code !== 0) throw new Error(describeResult(r));
  return r;
}

/** The runtimes tests can drive through the runc command line. */
export type RuntimeName = 'berth-runtime' | 'runc' | 'crun';

/** Where each runtime's binary is; berth-runtime is this repository's. */
export function runtimeBinary(name: RuntimeName): string {
  return name === 'berth-runtime' ? berthRuntimePath : name;
}

/**
 * One runtime command line bound to its own state root. `cleanup()` force
 * deletes whatever containers are still listed in that root and removes it;
 * it is idempotent.
 */
export interface RuntimeCli extends AsyncDisposable {
  readonly name: RuntimeName;
  readonly bin: string;
  /** The `--root` state directory. */
  readonly root: string;
  /** Runs `BIN --root ROOT ...args`. */
  run(args: readonly string[], opts?: RunOptions): Promise<CmdResult>;
  /** Like run, but rejects unless the command exited 0. */
  ok(args: readonly string[], opts?: RunOptions): Promise<CmdResult>;
  cleanup(): Promise<void>;
}

/** Container ids listed in a runtime root: one directory per container for runc, crun and berth-runtime. */
async function listedIds(root: string): Promise<string[]> {
  try {
    const entries = await readdir(root, { withFileTypes: true });
    return entries.filter((e) => e.isDirectory()).map((e) => e.name);
  } catch {
    return [];
  }
}

/**
 * Makes a runtime command line with a fresh `--root` under the test temp
 * folder. Use one per test: `await using rt = await runtimeCli('runc')`.
 */
export async function runtimeCli(name: RuntimeName = 'berth-runtime', opts: { root?: string } = {}): Promise<RuntimeCli> {
  const bin = runtimeBinary(name);
  const root = opts.root ?? (await mkdtemp(join(testTmpRoot(), `${TEST_TMP_PREFIX}root-${name}-`)));
  let cleaned = false;
  const run = (args: readonly string[], o?: RunOptions) => runCmd(bin, ['--root', root, ...args], o);
  const cleanup = async () => {
    if (cleaned) return;
    cleaned = true;
    for (const id of await listedIds(root)) {
      await runCmd(bin, ['--root', root, 'delete', '--force', id], { timeoutMs: 30_000 }).catch(() => undefined);
    }
    await rm(root, { recursive: true, force: true });
  };
  return {
    name,
    bin,
    root,
    run,
    async ok(args, o) {
      const r = await run(args, o);
      if (r.code !== 0) throw new Error(describeResult(r));
      return r;
    },
    cleanup,
    [Symbol.asyncDispose]: cleanup,
  };
}

/**
 * A state root per test file process for the one-call helpers below, removed
 * when the process exits. Containers must be deleted by the test; anything
 * left is a leak that `assertNoLeaks` reports.
 */
const fileRoots = new Map<RuntimeName, string>();

function fileRoot(name: RuntimeName): string {
  let root = fileRoots.get(name);
  if (!root) {
    root = mkdtempSync(join(testTmpRoot(), `${TEST_TMP_PREFIX}root-${name}-`));
    fileRoots.set(name, root);
    if (fileRoots.size === 1) {
      process.on('exit', () => {
        for (const r of fileRoots.values()) rmSync(r, { recursive: true, force: true });
      });
    }
  }
  return root;
}

/** Runs `bin/berth-runtime --root ROOT ...args`; ROOT is this test file's own, unless given. */
export function berthRuntime(args: readonly string[], opts: RunOptions & { root?: string } = {}): Promise<CmdResult> {
  return runCmd(berthRuntimePath, ['--root', opts.root ?? fileRoot('berth-runtime'), ...args], opts);
}

/** Runs `runc --root ROOT ...args`, for differential tests against the reference runtime. */
export function runc(args: readonly string[], opts: RunOptions & { root?: string } = {}): Promise<CmdResult> {
  return runCmd('runc', ['--root', opts.root ?? fileRoot('runc'), ...args], opts);
}

/** Runs `crun --root ROOT ...args`. */
export function crun(args: readonly string[], opts: RunOptions & { root?: string } = {}): Promise<CmdResult> {
  return runCmd('crun', ['--root', opts.root ?? fileRoot('crun'), ...args], opts);
}
