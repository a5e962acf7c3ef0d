/**
 * bin/berth-runtime loads its one-file bundle with the V8 code cache that the
 * build writes (scripts/code-cache.cjs, bin/load-bundle.cjs). These tests
 * check that the built cache is one V8 accepts, and that a cache which does
 * not belong to the bundle beside it is never handed to V8.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { berthRuntimePath, repoRoot, testTmpRoot } from '../helpers/paths.js';
import { runCmd, runOk } from '../helpers/run.js';

const bundle = join(repoRoot, 'dist/bin/berth-runtime.cjs');
const loader = join(repoRoot, 'bin/load-bundle.cjs');

/** Loads `file` through the loader in a fresh node and reports what V8 did with the cache. */
async function probeLoad(file: string, cacheFile = `${file}.cache`): Promise<{ rejected: boolean | null; version: string }> {
  const script = `
    const { loadBundle } = require(${JSON.stringify(loader)});
    const { exports, script } = loadBundle(${JSON.stringify(file)}, { cacheFile: ${JSON.stringify(cacheFile)} });
    console.log(JSON.stringify({ rejected: script.cachedDataRejected ?? null, version: exports.VERSION }));`;
  const r = await runOk(process.execPath, ['-e', script]);
  return JSON.parse(r.stdout) as { rejected: boolean | null; version: string };
}

test('the build leaves code caches that V8 accepts for the bundle: the full one and the smaller light one', async () => {
  for (const cache of [`${bundle}.cache`, `${bundle}.light.cache`]) {
    const got = await probeLoad(bundle, cache);
    assert.equal(got.rejected, false, `${cache} was handed to V8 and accepted (null would mean none was found)`);
    assert.match(got.version, /^\d+\.\d+\.\d+$/);
  }
  assert.ok(statSync(`${bundle}.light.cache`).size < statSync(`${bundle}.cache`).size, 'the light cache leaves out create, run and exec');
});

test('a cache made for another build of the bundle is not used, and the bundle still loads', async () => {
  const dir = mkdtempSync(join(testTmpRoot(), 'code-cache-'));
  try {
    const copy = join(dir, 'berth-runtime.cjs');
    copyFileSync(bundle, copy);
    copyFileSync(`${bundle}.cache`, `${copy}.cache`);
    // Same length, same content, another modification time: the stamp differs.
    const later = new Date(Date.now() + 60_000);
    utimesSync(copy, later, later);
    assert.equal((await probeLoad(copy)).rejected, null, 'no cache may be passed to V8');

    // A cache whose stamp matches but whose body is garbage: V8 rejects it, the code still runs.
    const cache = readFileSync(`${copy}.cache`);
    const stat = statSync(copy, { bigint: true });
    cache.writeBigUInt64LE(stat.size, 0);
    cache.writeBigUInt64LE(stat.mtimeNs, 8);
    cache.fill(0x5a, 64);
    writeFileSync(`${copy}.cache`, cache);
    const got = await probeLoad(copy);
    assert.equal(got.rejected, true);
    assert.match(got.version, /^\d+\.\d+\.\d+$/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the launcher starts Node without NODE_EXTRA_CA_CERTS, which only slows the runtime down', async () => {
  // Node reads the file before any script runs and warns when it cannot: a
  // missing file makes the variable's presence visible on stderr.
  const env = { ...process.env, NODE_EXTRA_CA_CERTS: join(testTmpRoot(), 'no-such-ca-bundle.pem') };
  const plain = await runCmd(process.execPath, ['-e', '0'], { env });
  assert.match(plain.stderr, /extra certs/, 'node itself warns, so the check below can fail');
  const r = await runOk(berthRuntimePath, ['--version'], { env });
  assert.equal(r.stderr, '');
  assert.match(r.stdout, /^berth-runtime version /);
});

test('the bundle is ASCII, so V8 keeps its source as a one-byte string', () => {
  const bytes = readFileSync(bundle);
  const at = bytes.findIndex((b) => b > 0x7f);
  assert.equal(at, -1, `byte ${at} of ${bundle} is not ASCII`);
});
