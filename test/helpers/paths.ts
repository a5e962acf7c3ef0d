/**
 * Where things are, for tests and test helpers. Helpers run compiled from
 * `dist/test/helpers/`, so the repository root is three levels up.
 */
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (the directory holding package.json). */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

/** The static probe built by `test/fixtures/probe/Makefile`. */
export const probePath = join(repoRoot, 'dist/test/probe');

/** The probe's sources, for building it on demand. */
export const probeSourceDir = join(repoRoot, 'test/fixtures/probe');

/** The runc-compatible runtime command line. */
export const berthRuntimePath = join(repoRoot, 'bin/berth-runtime');

/**
 * Every temporary directory a test helper makes starts with this prefix, so
 * that the leak check and a human can recognise them (`/tmp/berth-test-*`).
 */
export const TEST_TMP_PREFIX = 'berth-test-';

/** The folder temporary test directories are made in. */
export function testTmpRoot(): string {
  return process.env.BERTH_TEST_TMPDIR ?? tmpdir();
}
