#!/usr/bin/env node
// Writes V8's code caches for a command-line bundle (see bin/load-bundle.cjs):
//
//   node scripts/code-cache.cjs dist/bin/berth-runtime.cjs
//
// V8 caches only the functions that have been compiled when the cache is
// made, so this first runs the commands a manager calls most, in this
// process: the read-only ones always, and, as root on a machine with
// /bin/busybox, a real container's run, create, start, state, kill and
// delete in a scratch root. A step that fails only leaves its functions out
// of the cache. The commands' own output is discarded.
//
// Two caches: <bundle>.cache with everything, and <bundle>.light.cache,
// made in a second process that runs only the commands that look at or
// signal a container (state, kill, start, delete, list, ps, pause, resume).
// V8 deserializes a whole cache at load, so those commands, which managers
// call most often and which should cost little more than Node's start-up,
// load the smaller one (bin/berth-runtime picks it by the command name).
'use strict';
const { execFileSync, spawnSync } = require('node:child_process');
const { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync, copyFileSync, existsSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join, resolve } = require('node:path');
const { loadBundle } = require('../bin/load-bundle.cjs');

/** The commands that load the light cache; bin/berth-runtime has the same list. */
const LIGHT = ['state', 'kill', 'start', 'delete', 'list', 'ps', 'pause', 'resume'];

async function warmUpLight(main) {
  const work = mkdtempSync(join(tmpdir(), 'berth-code-cache-'));
  const root = join(work, 'root');
  const id = `code-cache-light-${process.pid}`;
  const step = async (...args) => {
    try {
      return await main(['--root', root, ...args]);
    } catch {
      return -1;
    }
  };
  // Containers are made by another berth-runtime process, so that create's functions stay out of this cache.
  const cli = (...args) => execFileSync(process.execPath, [resolve(__dirname, '../bin/berth-runtime'), '--root', root, ...args], { stdio: 'ignore' });
  try {
    await step('state', id);
    await step('list', '--format', 'json');
    await step('list');
    if (process.getuid?.() !== 0 || !existsSync('/bin/busybox')) return;
    const bundle = makeBundle(work, ['/bin/sleep', '60']);
    cli('create', '--bundle', bundle, id);
    await step('state', id);
    await step('list');
    await step('start', id);
    await step('state', id);
    await step('ps', id);
    await step('ps', '--format', 'json', id);
    await step('pause', id);
    await step('resume', id);
    await step('kill', id, 'KILL');
    for (let i = 0; i < 100 && !(await stopped(root, id)); i++) await new Promise((r) => setTimeout(r, 10));
    await step('state', id);
    await step('delete', id);
    cli('create', '--bundle', bundle, id);
    await step('delete', '--force', id);
  } finally {
    await step('delete', '--force', id);
    rmSync(work, { recursive: true, force: true });
  }
}

/** A busybox bundle in work/bundle running `args`; returns its directory. */
function makeBundle(work, args) {
  const bundle = join(work, 'bundle');
  const rootfs = join(bundle, 'rootfs');
  if (!existsSync(rootfs)) {
    for (const d of ['bin', 'proc', 'sys', 'dev', 'tmp']) mkdirSync(join(rootfs, d), { recursive: true });
    copyFileSync('/bin/busybox', join(rootfs, 'bin/busybox'));
    for (const applet of ['true', 'sleep']) symlinkSync('busybox', join(rootfs, 'bin', applet));
  }
  if (!existsSync(join(work, 'config.json'))) {
    execFileSync(process.execPath, [resolve(__dirname, '../bin/berth-runtime'), 'spec', '--bundle', work], { stdio: 'ignore' });
  }
  const spec = JSON.parse(readFileSync(join(work, 'config.json'), 'utf8'));
  spec.process.terminal = false;
  writeFileSync(join(bundle, 'config.json'), JSON.stringify({ ...spec, process: { ...spec.process, args } }));
  return bundle;
}

async function stopped(root, id) {
  const out = execFileSync(process.execPath, [resolve(__dirname, '../bin/berth-runtime'), '--root', root, 'state', id], { encoding: 'utf8' });
  return out.includes('"stopped"');
}

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

    makeBundle(work, ['/bin/true']);
    await step('run', '--bundle', bundle, id);
    await step('create', '--bundle', bundle, id);
    await step('state', id);
    await step('start', id);
    for (let i = 0; i < 100 && !(await stopped(root, id)); i++) await new Promise((r) => setTimeout(r, 10));
    await step('delete', id);

    makeBundle(work, ['/bin/sleep', '60']);
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

async function writeCache(file, light) {
  const { exports, script, stamp } = loadBundle(file, { useCache: false });
  await (light ? warmUpLight : warmUp)(exports.main);
  const target = light ? `${file}.light.cache` : `${file}.cache`;
  const tmp = `${target}.${process.pid}`;
  writeFileSync(tmp, Buffer.concat([stamp, script.createCachedData()]), { mode: 0o644 });
  renameSync(tmp, target);
}

// Each cache is made in a child of its own, whose stdout and stderr (where
// the commands write, straight to the fds) are kept from the build's output
// unless it fails.
async function writeCaches(file) {
  const mode = process.argv[3];
  if (mode === '--full' || mode === '--light') return writeCache(file, mode === '--light');
  for (const m of ['--full', '--light']) {
    const r = spawnSync(process.execPath, [__filename, file, m], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${m.slice(2)} cache: exit ${r.status ?? r.signal}\n${r.stderr}`);
  }
}

writeCaches(resolve(process.argv[2])).then(
  () => process.exit(0),
  (err) => {
    console.error(`code-cache: ${err.message}`);
    process.exit(1);
  },
);
