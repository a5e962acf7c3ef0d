import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { shimArgs, type ShimOptions } from './shim-options.js';

const repo = (p: string) => fileURLToPath(new URL(`../../../${p}`, import.meta.url));

/** `--name ARG` for each row of OPTIONS[] in options.c. */
function cTable(): string[] {
  const text = readFileSync(repo('src/native/shim/options.c'), 'utf8');
  return [...text.matchAll(/^\s*\{"([a-z-]+)",\s+OPT_\w+,\s+FIELD\(\w+\),\s+(?:"([A-Z]+)"|NULL),/gm)].map((m) => (m[2] ? `--${m[1]} ${m[2]}` : `--${m[1]}`));
}

/** `--name ARG` for each row of the options table in docs/protocol-shim.md. */
function docTable(): string[] {
  const text = readFileSync(repo('docs/protocol-shim.md'), 'utf8');
  return [...text.matchAll(/^\| `(--[a-z-]+(?: [A-Z]+)?)` \|/gm)].map((m) => m[1]!);
}

const every: ShimOptions = {
  id: 'c1',
  runtime: 'runc',
  runtimeArgs: ['--root', '/run/x'],
  bundle: '/b',
  pidFile: '/p',
  exitFile: '/e',
  logPath: '/l',
  logSizeMaxBytes: 1,
  logMaxFiles: 2,
  logLineMaxBytes: 3,
  attachSocket: '/a',
  controlSocket: '/c',
  terminal: true,
  stdin: true,
};

test('docs/protocol-shim.md lists exactly the options of the C table, with the same value names', () => {
  const c = cTable();
  assert.ok(c.length >= 15, `only ${c.length} options found in options.c`);
  assert.deepEqual(docTable(), c);
});

test('shimArgs uses only options of the C table, and every option the manager can set', () => {
  const known = new Set(cTable().map((o) => o.split(' ')[0]!));
  const used = new Set<string>();
  for (const opts of [every, { ...every, bundle: undefined, execProcess: '/proc.json' } as ShimOptions]) {
    for (const a of shimArgs(opts)) if (a.startsWith('--')) used.add(a.split('=')[0]!);
  }
  for (const u of used) assert.ok(known.has(u), `shimArgs emits ${u}, which berth-shim does not know`);
  // --sync-fd is added by launchShim; --help and --version are not for managers.
  const expected = [...known].filter((k) => !['--sync-fd', '--help', '--version'].includes(k));
  assert.deepEqual([...used].sort(), expected.sort());
});

test('shimArgs passes runtime flags as --runtime-arg=VALUE, so values starting with -- stay values', () => {
  const args = shimArgs({ id: 'c1', runtime: 'runc', runtimeArgs: ['--root', '/run/x'], bundle: '/b', exitFile: '/e' });
  assert.deepEqual(args, ['--id', 'c1', '--runtime', 'runc', '--runtime-arg=--root', '--runtime-arg=/run/x', '--bundle', '/b', '--exit-file', '/e']);
});
