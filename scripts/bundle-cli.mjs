// Bundles each command-line front into one CommonJS file, dist/bin/<name>.cjs,
// with esbuild. A short command such as `berth-runtime state` then costs
// little beyond Node's own start-up: one synchronous require instead of the
// ES module loader, whose asynchronous file reads start libuv's thread pool
// for each module. Command modules are still initialized only when used
// (esbuild turns their dynamic imports into lazy initializers).
import { build } from 'esbuild';
import { readFile, rm } from 'node:fs/promises';
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
    // Modules find files next to themselves through import.meta.url: the
    // bundle's own URL, computed when first asked for (pathToFileURL costs
    // a few ms at the first call, which most commands never make).
    define: { 'import.meta.url': '__berthModule.url' },
    banner: { js: 'const __berthModule = { get url() { return require("node:url").pathToFileURL(__filename).href; } };' },
    sourcemap: 'linked',
    logLevel: 'warning',
  });
  // bin/load-bundle.cjs runs the bundle as a vm.Script, which has no loader
  // for import(): an import() left in the bundle (esbuild keeps those of
  // external modules such as node:*) would fail only when it runs.
  const out = await readFile(`${root}dist/bin/${name}.cjs`, 'utf8');
  const left = /\bimport\((["'`])[^"'`]*\1\)/.exec(out);
  if (left) {
    console.error(`bundle-cli: dist/bin/${name}.cjs still has ${left[0]}; import a module of ours that imports it statically`);
    process.exit(1);
  }
}
