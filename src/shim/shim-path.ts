import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let found: string | undefined;

/**
 * Where berth-shim is: BERTH_SHIM, else `native/berth-shim` in the nearest
 * `dist/` above this module (dist/src/shim/ when built by tsc).
 */
export function shimPath(): string {
  const override = process.env['BERTH_SHIM'];
  if (override) return override;
  if (found) return found;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (basename(dir) === 'dist') return (found = join(dir, 'native', 'berth-shim'));
    const parent = dirname(dir);
    if (parent === dir) return (found = join(process.cwd(), 'dist', 'native', 'berth-shim'));
    dir = parent;
  }
}
