/**
 * berth-shim given bad input: missing or contradictory options, a runtime
 * that is missing, fails or crashes, an invalid bundle, a socket path too
 * long for sun_path, an exit directory it cannot write. Each time the sync
 * pipe carries a clear error, the shim exits non-zero, and nothing is left
 * behind: no process, no socket, no log file, no private directory, no
 * container in the runtime's root.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, readdirSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { test } from 'node:test';

import { isBerthError, type ErrorCode } from '../../src/errors/index.js';
import { launchShim } from '../../src/shim/launch-shim.js';
import type { ShimOptions } from '../../src/shim/shim-options.js';
import { withLeakCheck } from '../helpers/leaks.js';
import { RUNTIMES, shimBinary, shimCase, skipFor, type ShimCase } from './shim-harness.js';

withLeakCheck();

interface RawResult {
  code: number | null;
  /** The sync line, parsed. */
  report: { error?: string; errno?: number; stage?: string; pid?: number } | undefined;
  stderr: string;
}

/** Runs berth-shim with `args` and fd 3 as its sync pipe. */
function runShim(args: string[]): Promise<RawResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(shimBinary, [...args, '--sync-fd', '3'], { stdio: ['ignore', 'ignore', 'pipe', 'pipe'] });
    let sync = '';
    let stderr = '';
    (child.stdio[3] as Readable).on('data', (b: Buffer) => (sync += b.toString('utf8')));
    child.stderr!.on('data', (b: Buffer) => (stderr += b.toString('utf8')));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, report: sync ? JSON.parse(sync.split('\n')[0]!) : undefined, stderr }));
  });
}

const shimDirs = () => readdirSync('/tmp').filter((n) => n.startsWith('berth-shim-')).sort();

/**
 * Runs `fn` (which must fail) and checks that the case's directory, the
 * shim's private directories under /tmp and the runtime's root are as
 * they were.
 */
async function leavesNothing(c: ShimCase, fn: () => Promise<void>): Promise<void> {
  const before = readdirSync(c.dir).sort();
  const tmpBefore = shimDirs();
  await fn();
  assert.deepEqual(readdirSync(c.dir).sort(), before, 'the shim left files behind');
  assert.deepEqual(shimDirs(), tmpBefore, 'the shim left a private directory in /tmp');
  const listed = (await c.rt.ok(['list', '--format', 'json'])).stdout.trim();
  assert.ok(listed === '' || listed === 'null' || JSON.parse(listed).length === 0, `a container was left: ${listed}`);
}

/** Launches through the TypeScript client and expects a BerthError with `code` and a message matching `message`. */
async function expectLaunchError(c: ShimCase, extra: Partial<ShimOptions>, code: ErrorCode, message: RegExp): Promise<void> {
  await leavesNothing(c, () =>
    assert.rejects(launchShim(c.options(extra)), (e) => {
      assert.ok(isBerthError(e), `not a BerthError: ${e}`);
      assert.equal(e.code, code, e.message);
      assert.match(e.message, message);
      return true;
    }),
  );
}

const skip = skipFor('runc');

test('missing, unknown and contradictory options: a clear error on the sync pipe and exit status 1', { skip }, async () => {
  await using c = await shimCase('runc', { args: ['/probe'] });
  const base = ['--id', 'x', '--runtime', 'runc', '--bundle', c.bundle.dir, '--exit-file', c.exitFile];
  const cases: Array<[string[], RegExp]> = [
    [[], /--id is required/],
    [['--id', 'x', '--runtime', 'runc', '--bundle', c.bundle.dir], /--exit-file is required/],
    [['--id', 'x', '--runtime', 'runc', '--exit-file', c.exitFile], /one of --bundle .* or --exec-process .* is required/],
    [[...base, '--exec-process', join(c.dir, 'p.json')], /exclude each other/],
    [[...base, '--frobnicate'], /unknown option --frobnicate/],
    [[...base, '--id', 'y'], /--id is given more than once/],
    [[...base, '--log-max-files', '0'], /--log-max-files must be between 1 and 1000/],
    [[...base, '--log-size-max', '1000', '--log-line-max', '4096'], /--log-size-max 1000 is too small/],
    [[...base, '--log-size-max', 'lots'], /--log-size-max needs a non-negative integer/],
    [[...base, '--log-path', 'relative.log'], /--log-path must be an absolute path/],
    [[...base, '--log-path', c.exitFile], /given for two purposes/],
    [[...base, 'stray'], /unexpected argument `stray`/],
  ];
  for (const [args, message] of cases) {
    await leavesNothing(c, async () => {
      const r = await runShim(args);
      assert.equal(r.code, 1, `berth-shim ${args.join(' ')} exited ${r.code}`);
      assert.equal(r.report?.stage, 'options', JSON.stringify(r.report));
      assert.match(r.report?.error ?? '', message);
      assert.match(r.stderr, /^berth-shim: /, 'the error is on stderr too');
    });
  }
  // Through the client the same failure is a typed error.
  await expectLaunchError(c, { logMaxFiles: 0 }, 'ARGUMENT_INVALID', /--log-max-files must be between 1 and 1000/);
});

test('a runtime that does not exist or cannot be executed', { skip }, async () => {
  await using c = await shimCase('runc', { args: ['/probe'] });
  await expectLaunchError(c, { runtime: '/nonexistent/runc' }, 'ARGUMENT_INVALID', /runtime \/nonexistent\/runc.*ENOENT/);
  await expectLaunchError(c, { runtime: 'no-such-runtime-anywhere' }, 'ARGUMENT_INVALID', /`no-such-runtime-anywhere` was not found on PATH/);
  const notExec = join(c.bundle.dir, 'not-executable');
  await writeFile(notExec, '#!/bin/sh\nexit 0\n');
  chmodSync(notExec, 0o644);
  await expectLaunchError(c, { runtime: notExec }, 'ARGUMENT_INVALID', /is not executable/);
});

test('a runtime that fails reports its own last words; one that crashes reports the signal', { skip }, async () => {
  await using c = await shimCase('runc', { args: ['/probe'] });
  const failing = join(c.bundle.dir, 'failing-runtime');
  await writeFile(failing, '#!/bin/sh\necho "some warning first" >&2\necho "failing-runtime: the bundle is cursed" >&2\nexit 3\n');
  chmodSync(failing, 0o755);
  await expectLaunchError(c, { runtime: failing }, 'RUNTIME_FAILED', /: failing-runtime: the bundle is cursed$/);

  const crashing = join(c.bundle.dir, 'crashing-runtime');
  await writeFile(crashing, '#!/bin/sh\nkill -SEGV $$\n');
  chmodSync(crashing, 0o755);
  await expectLaunchError(c, { runtime: crashing }, 'RUNTIME_FAILED', /crashing-runtime create was killed by signal 11/);

  // With a terminal the runtime's stderr is a pipe of its own, read while it runs: a runtime that
  // writes more than a pipe holds before failing does not block.
  const noisy = join(c.bundle.dir, 'noisy-runtime');
  await writeFile(noisy, "#!/bin/sh\nhead -c 300000 /dev/zero | tr '\\0' w >&2\necho >&2\necho 'noisy-runtime: gave up' >&2\nexit 1\n");
  chmodSync(noisy, 0o755);
  await expectLaunchError(c, { runtime: noisy, terminal: true }, 'RUNTIME_FAILED', /: noisy-runtime: gave up$/);

  // A runtime that says it created the process but wrote no pid file: the shim cannot take charge
  // of it, so it deletes it through the runtime.
  const liar = join(c.bundle.dir, 'lying-runtime');
  const mark = join(c.bundle.dir, 'delete-called');
  await writeFile(liar, `#!/bin/sh\ncase " $* " in *" delete "*) echo "$*" > ${mark};; esac\nexit 0\n`);
  chmodSync(liar, 0o755);
  await expectLaunchError(c, { runtime: liar }, 'RUNTIME_FAILED', /the runtime wrote no pid file/);
  assert.equal((await readFile(mark, 'utf8')).trim(), `--root ${c.rt.root} delete --force ${c.id}`, 'with the runtime\'s global flags');

  // The raw shim: exit status 1 and the runtime stage.
  const r = await runShim(['--id', 'x', '--runtime', failing, '--bundle', c.bundle.dir, '--exit-file', c.exitFile]);
  assert.equal(r.code, 1);
  assert.deepEqual(r.report, { error: 'failing-runtime: the bundle is cursed', errno: 0, stage: 'runtime' });
});

for (const runtime of RUNTIMES) {
  test(`${runtime}: an invalid bundle is refused with the runtime's message, and no container is left`, { skip: skipFor(runtime) }, async () => {
    await using c = await shimCase(runtime, { args: ['/probe'] });
    // No config.json at all: the shim itself says so.
    const empty = join(c.dir, 'empty-bundle');
    await mkdir(empty);
    await expectLaunchError(c, { bundle: empty }, 'ARGUMENT_INVALID', /has no config\.json/);
    // A config.json that is not JSON, and one whose process cannot be run: the runtime's own errors.
    const good = await readFile(c.bundle.configPath, 'utf8');
    await writeFile(c.bundle.configPath, '{ this is not json');
    await expectLaunchError(c, {}, 'RUNTIME_FAILED', /json|JSON|invalid character/);
    await writeFile(c.bundle.configPath, good.replace('"/probe"', '"/no/such/binary"'));
    await expectLaunchError(c, {}, 'RUNTIME_FAILED', /\/no\/such\/binary/);
  });

  test(`${runtime}: --terminal for a process without process.terminal fails and deletes what was created`, { skip: skipFor(runtime) }, async () => {
    await using c = await shimCase(runtime, { args: ['/probe', 'sleep', '30'] });
    await expectLaunchError(c, { terminal: true }, 'RUNTIME_FAILED', /console|terminal|tty/i);
  });
}

test('a socket path too long for sun_path is refused before anything is made', { skip }, async () => {
  await using c = await shimCase('runc', { args: ['/probe'] });
  const long = join(c.dir, `${'s'.repeat(120)}.sock`);
  await expectLaunchError(c, { attachSocket: long }, 'ARGUMENT_INVALID', /--attach-socket .* is \d+ bytes long; a unix socket path holds at most 107.*ENAMETOOLONG/);
  await expectLaunchError(c, { controlSocket: long }, 'ARGUMENT_INVALID', /--control-socket .* holds at most 107/);
});

test('an exit file the shim cannot write, or one that exists already, is refused', { skip }, async () => {
  await using c = await shimCase('runc', { args: ['/probe'] });
  await expectLaunchError(c, { exitFile: join(c.dir, 'missing-dir', 'exit.json') }, 'SHIM_FAILED', /cannot write in the directory of exit file .*ENOENT/);
  const file = join(c.dir, 'a-file');
  await writeFile(file, '');
  await expectLaunchError(c, { exitFile: join(file, 'exit.json') }, 'SHIM_FAILED', /ENOTDIR/);
  await writeFile(c.exitFile, '{}');
  await expectLaunchError(c, {}, 'SHIM_FAILED', /already exists.*EEXIST/);
});

test('a log file in a missing directory is refused, and the sockets bound before it are removed', { skip }, async () => {
  await using c = await shimCase('runc', { args: ['/probe'] });
  await expectLaunchError(c, { logPath: join(c.dir, 'missing-dir', 'ctr.log') }, 'SHIM_FAILED', /open the log file .*ENOENT/);
  // The attach socket is bound after the log is opened; a failing control socket undoes both.
  const dirAsSocket = join(c.dir, 'taken');
  await mkdir(dirAsSocket);
  await expectLaunchError(c, { controlSocket: dirAsSocket }, 'SHIM_FAILED', /control socket .*EADDRINUSE/);
});
