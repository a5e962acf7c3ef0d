// Bundles each command-line front into dist/bin/<name>/ with esbuild. A
// bundle loads a handful of files instead of dozens of modules, which is most
// of what a short command such as `berth-runtime state` costs beyond Node's
// own start-up. Dynamic imports stay separate chunks, so each command still
// loads only its own code.
import { build } from 'esbuild';
import { rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const fronts = { 'berth-runtime': 'src/cli/runtime/main.ts' };

for (const [name, entry] of Object.entries(fronts)) {
  const outdir = `${root}dist/bin/${name}`;
  await rm(outdir, { recursive: true, force: true });
  await build({
    entryPoints: { main: `${root}${entry}` },
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    outdir,
    outExtension: { '.js': '.mjs' },
    sourcemap: 'linked',
    logLevel: 'warning',
  });
}
