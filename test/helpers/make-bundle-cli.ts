/**
 * Makes a test bundle from the shell, for scripts (scripts/demo.sh):
 *
 *   node dist/test/helpers/make-bundle-cli.js DIR [--rootfs-only] [--spec berth|runc] [-- ARGS...]
 *
 * DIR gets rootfs/ (busybox, the probe, /etc files) and, unless
 * --rootfs-only, a config.json whose process.args are ARGS when given.
 * Prints DIR.
 */
import { makeBundle } from './bundle.js';

function usage(): never {
  process.stderr.write('usage: make-bundle-cli DIR [--rootfs-only] [--spec berth|runc] [-- ARGS...]\n');
  process.exit(2);
}

const argv = process.argv.slice(2);
let dir: string | undefined;
let rootfsOnly = false;
let specSource: 'berth' | 'runc' | undefined;
let args: string[] | undefined;
for (let i = 0; i < argv.length; i++) {
  const a = argv[i]!;
  if (a === '--') {
    args = argv.slice(i + 1);
    break;
  } else if (a === '--rootfs-only') {
    rootfsOnly = true;
  } else if (a === '--spec') {
    const v = argv[++i];
    if (v !== 'berth' && v !== 'runc') usage();
    specSource = v;
  } else if (!a.startsWith('-') && dir === undefined) {
    dir = a;
  } else {
    usage();
  }
}
if (!dir) usage();

const bundle = await makeBundle({
  dir,
  rootfsOnly,
  ...(specSource ? { specSource } : {}),
  config: (spec) => {
    if (args?.length) spec.process.args = args;
  },
});
process.stdout.write(`${bundle.dir}\n`);
