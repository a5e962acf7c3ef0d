// Bundles each command-line front into one CommonJS file, dist/bin/<name>.cjs,
// with esbuild. A short command such as `berth-runtime state` then costs
// little beyond Node's own start-up: one synchronous require instead of the
// ES module loader, whose asynchronous file reads start libuv's thread pool
// for each module. Command modules are still initialized only when used
// (esbuild turns their dynamic imports into lazy initializers).
import { build } from 'esbuild';
import { readFile, rm, writeFile } from 'node:fs/promises';
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
  // One character beyond ASCII makes V8 hold the whole source as a two-byte
  // string: slower to read and to check against the code cache, ~1.7 ms of
  // every start. esbuild escapes them in code (charset ascii) but keeps
  // comments as written, so those are escaped here; in a comment an escape
  // is as good as the character. Columns after one shift in the source map.
  const file = `${root}dist/bin/${name}.cjs`;
  let out = await readFile(file, 'utf8');
  if (/[^\x00-\x7f]/.test(out)) {
    out = out.replace(/[^\x00-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
    await writeFile(file, out);
  }
  // bin/load-bundle.cjs runs the bundle as a vm.Script, which has no loader
  // for import(): an import() left in the bundle (esbuild keeps those of
  // external modules such as node:*) would fail only when it runs.
  const left = /\bimport\((["'`])[^"'`]*\1\)/.exec(out);
  if (left) {
    console.error(`bundle-cli: dist/bin/${name}.cjs still has ${left[0]}; import a module of ours that imports it statically`);
    process.exit(1);
  }
}
