/**
 * Where berth's native programs (built into dist/native/) are. This module
 * may run from dist/src/util/ (tsc) or from a bundle in dist/bin/, so the
 * nearest `dist/` above it is looked for rather than a fixed distance.
 */
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let distDir: string | undefined;

function findDist(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (basename(dir) === 'dist') return dir;
    const parent = dirname(dir);
    if (parent === dir) return join(process.cwd(), 'dist');
    dir = parent;
  }
}

/** The program `name`: the path in environment variable `override` when set, else dist/native/NAME. */
export function nativeProgramPath(name: string, override: string): string {
  const fromEnv = process.env[override];
  if (fromEnv) return fromEnv;
  distDir ??= findDist();
  return join(distDir, 'native', name);
}
