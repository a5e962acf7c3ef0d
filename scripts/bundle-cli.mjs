// Bundles each command-line front into one CommonJS file, dist/bin/<name>.cjs,
// with esbuild. A short command such as `berth-runtime state` then costs
// little beyond Node's own start-up: one synchronous require instead of the
// ES module loader, whose asynchronous file reads start libuv's thread pool
// for each module. Command modules are still initialized only when used
// (esbuild turns their dynamic imports into lazy initializers).
import { build } from 'esbuild';
import { rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const fronts = { 'berth-runtime': 'src/cli/runtime/main.ts' };

for (const [name, entry] of Object.entries(fronts)) {
  await rm(`${root}dist/bin/${name}`, { recursive: true, force: true });
  await build({
    entryPoints: [`${root}${entry}`],
    bundle: true,
    format: 'cjs',
    platform: 'node',
    target: 'node20',
    outfile: `${root}dist/bin/${name}.cjs`,
    // Modules find files next to themselves through import.meta.url.
    define: { 'import.meta.url': '__berthModuleUrl' },
    banner: { js: 'const __berthModuleUrl = require("node:url").pathToFileURL(__filename).href;' },
    sourcemap: 'linked',
    logLevel: 'warning',
  });
}
