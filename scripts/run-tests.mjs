#!/usr/bin/env node
/**
 * Runs berth's tests with node's test runner, from the compiled tree:
 *
 *   node scripts/run-tests.mjs            unit, then integration, then compat tests
 *   node scripts/run-tests.mjs FILTER...  only the test files whose path contains a FILTER
 *                                         (test/integration/fixtures.test.ts and
 *                                         dist/test/integration/fixtures.test.js both work)
 *
 * Unit tests are dist/src/**\/*.test.js, run in parallel. Integration tests
 * are dist/test/integration/**\/*.test.js and dist/test/regress/**\/*.test.js,
 * then the client-compatibility tests dist/test/compat/**\/*.test.js, each
 * run one file at a time (they run real containers as root).
 *
 * Output is the spec reporter's, streamed. A TAP copy of each run goes to a
 * temp file so the counts can be added up; the last lines are a TAP-style
 * summary and `tests: N passed, N failed, N skipped`. Exits non-zero when
 * any test failed, any file failed to load, or a filter matched nothing.
 *
 * Environment: BERTH_TEST_TIMEOUT_MS, per-test timeout (default 300000).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
process.chdir(root);

/** Files under `dir` (relative to the repo) whose name ends in .test.js, sorted. */
function testFiles(dir) {
  const out = [];
  const walk = (d) => {
    let entries;
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && e.name.endsWith('.test.js')) out.push(relative(root, p));
    }
  };
  walk(join(root, dir));
  return out.sort();
}

/** test/x/y.test.ts -> dist/test/x/y.test.js, so a source path works as a filter. */
function normalizeFilter(f) {
  let s = relative(root, resolve(f)).startsWith('..') ? f : relative(root, resolve(f));
  if (s.endsWith('.ts')) s = `${s.slice(0, -3)}.js`;
  if ((s.startsWith('src/') || s.startsWith('test/')) && existsSync(join(root, 'dist', s))) s = `dist/${s}`;
  return s;
}

const filters = process.argv.slice(2).map(normalizeFilter);
const pick = (files) => (filters.length ? files.filter((f) => filters.some((x) => f.includes(x))) : files);

const suites = [
  { name: 'unit', files: pick(testFiles('dist/src')), concurrency: undefined },
  {
    name: 'integration',
    files: pick([...testFiles('dist/test/integration'), ...testFiles('dist/test/regress')]),
    concurrency: 1,
  },
  { name: 'compat', files: pick(testFiles('dist/test/compat')), concurrency: 1 },
];

if (!existsSync(join(root, 'dist'))) {
  console.error('run-tests: dist/ is missing; run `npm run build` (or scripts/setup.sh) first');
  process.exit(1);
}
if (filters.length && suites.every((s) => s.files.length === 0)) {
  console.error(`run-tests: no test file matches ${filters.join(', ')}`);
  process.exit(1);
}

const timeoutMs = process.env.BERTH_TEST_TIMEOUT_MS ?? '300000';
const tapDir = mkdtempSync(join(tmpdir(), 'berth-run-tests-'));
const totals = { tests: 0, pass: 0, fail: 0, cancelled: 0, skipped: 0, todo: 0 };
let failed = false;

/** Adds the top-level summary of a TAP file (its last `# key N` lines) to the totals. */
function addCounts(tapFile) {
  let text = '';
  try {
    text = readFileSync(tapFile, 'utf8');
  } catch {
    return false;
  }
  const found = {};
  for (const m of text.matchAll(/^# (tests|pass|fail|cancelled|skipped|todo) (\d+)$/gm)) found[m[1]] = Number(m[2]);
  for (const k of Object.keys(totals)) totals[k] += found[k] ?? 0;
  return 'tests' in found;
}

function runSuite(suite) {
  return new Promise((resolvePromise) => {
    const tapFile = join(tapDir, `${suite.name}.tap`);
    const args = [
      '--test',
      '--test-reporter=spec',
      '--test-reporter-destination=stdout',
      '--test-reporter=tap',
      `--test-reporter-destination=${tapFile}`,
      `--test-timeout=${timeoutMs}`,
      ...(suite.concurrency ? [`--test-concurrency=${suite.concurrency}`] : []),
      ...suite.files,
    ];
    console.log(`\n=== ${suite.name} tests: ${suite.files.length} file(s) ===`);
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('exit', (code, signal) => {
      const counted = addCounts(tapFile);
      if (code !== 0 || !counted) {
        failed = true;
        console.log(`=== ${suite.name} tests failed (${signal ? `signal ${signal}` : `exit code ${code}`}) ===`);
      }
      resolvePromise();
    });
  });
}

try {
  for (const suite of suites) {
    if (suite.files.length === 0) {
      if (!filters.length) console.log(`\n=== ${suite.name} tests: no test files ===`);
      continue;
    }
    await runSuite(suite);
  }
} finally {
  rmSync(tapDir, { recursive: true, force: true });
}

if (totals.tests === 0) {
  console.error('run-tests: no test ran');
  failed = true;
}
console.log('\n# all suites');
for (const [k, v] of Object.entries(totals)) console.log(`# ${k} ${v}`);
console.log(`tests: ${totals.pass} passed, ${totals.fail + totals.cancelled} failed, ${totals.skipped} skipped`);
process.exit(failed || totals.fail > 0 || totals.cancelled > 0 ? 1 : 0);
