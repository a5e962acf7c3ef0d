#!/usr/bin/env node
// Writes V8's code cache for a command-line bundle (see bin/load-bundle.cjs):
//
//   node scripts/code-cache.cjs dist/bin/berth-runtime.cjs
//
// V8 caches only the functions that have been compiled when the cache is
// made, so this first runs the commands a manager calls most, in this
// process: the read-only ones always, and, as root on a machine with
// /bin/busybox, a real container's run, create, start, state, kill and
// delete in a scratch root. A step that fails only leaves its functions out
// of the cache. The commands' own output is discarded.
'use strict';
const { execFileSync } = require('node:child_process');
const { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync, copyFileSync, existsSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join, resolve } = require('node:path');
const { loadBundle } = require('../bin/load-bundle.cjs');

async function warmUp(main) {
  const work = mkdtempSync(join(tmpdir(), 'berth-code-cache-'));
  const root = join(work, 'root');
  const bundle = join(work, 'bundle');
  const id = `code-cache-${process.pid}`;
  const step = async (...args) => {
    try {
      return await main(['--root', root, ...args]);
    } catch {
      return -1;
    }
  };
  try {
    await step('--version');
    await step('features');
    await step('spec', '--bundle', work);
    await step('spec', '--rootless', '--bundle', bundle);
    await step('state', id);
    await step('list', '--format', 'json');
    if (process.getuid?.() !== 0 || !existsSync('/bin/busybox')) return;

    const rootfs = join(bundle, 'rootfs');
    for (const d of ['bin', 'proc', 'sys', 'dev', 'tmp']) mkdirSync(join(rootfs, d), { recursive: true });
    copyFileSync('/bin/busybox', join(rootfs, 'bin/busybox'));
    for (const applet of ['true', 'sleep']) symlinkSync('busybox', join(rootfs, 'bin', applet));
    const spec = JSON.parse(readFileSync(join(work, 'config.json'), 'utf8'));
    spec.process.terminal = false;
    const writeSpec = (args) => writeFileSync(join(bundle, 'config.json'), JSON.stringify({ ...spec, process: { ...spec.process, args } }));

    writeSpec(['/bin/true']);
    await step('run', '--bundle', bundle, id);
    await step('create', '--bundle', bundle, id);
    await step('state', id);
    await step('start', id);
    for (let i = 0; i < 100; i++) {
      const out = execFileSync(process.execPath, [resolve(__dirname, '../bin/berth-runtime'), '--root', root, 'state', id], { encoding: 'utf8' });
      if (out.includes('"stopped"')) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    await step('delete', id);

    writeSpec(['/bin/sleep', '60']);
    await step('create', '--bundle', bundle, id);
    await step('start', id);
    await step('ps', id);
    await step('kill', id, 'KILL');
    await step('delete', '--force', id);
  } finally {
    await step('delete', '--force', id);
    rmSync(work, { recursive: true, force: true });
  }
}

async function writeCache(file) {
  const { exports, script, stamp } = loadBundle(file, { useCache: false });
  const [out, err] = [process.stdout.write, process.stderr.write];
  process.stdout.write = process.stderr.write = () => true;
  try {
    await warmUp(exports.main);
  } finally {
    [process.stdout.write, process.stderr.write] = [out, err];
  }
  const tmp = `${file}.cache.${process.pid}`;
  writeFileSync(tmp, Buffer.concat([stamp, script.createCachedData()]), { mode: 0o644 });
  renameSync(tmp, `${file}.cache`);
}

writeCache(resolve(process.argv[2])).then(
  () => process.exit(0),
  (err) => {
    console.error(`code-cache: ${err.message}`);
    process.exit(1);
  },
);
