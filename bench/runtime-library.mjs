#!/usr/bin/env node
// The in-process fast path: create + start + wait + delete of /bin/true
// called through the runtime library, with no Node start-up per operation
// (what berthd will do). Prints the median in ms over RUNS runs.
//
//   node bench/runtime-library.mjs BUNDLE [RUNS] [--tsv]
//
// With --tsv it prints one row for bench/runtime.sh's table instead:
//   run<TAB>berth-runtime library (in-process)<TAB>MEDIAN_MS
// BUNDLE is a bundle whose config.json runs a short-lived process.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRuntimeContext } from '../dist/src/runtime/container/context.js';
import { createContainer } from '../dist/src/runtime/container/create.js';
import { startContainer } from '../dist/src/runtime/container/start.js';
import { deleteContainer } from '../dist/src/runtime/container/delete.js';

const args = process.argv.slice(2);
const tsv = args.includes('--tsv');
const [bundle, runsArg] = args.filter((a) => a !== '--tsv');
if (!bundle) {
  console.error('usage: node bench/runtime-library.mjs BUNDLE [RUNS]');
  process.exit(2);
}
const runs = Number(runsArg ?? 30);
const root = await mkdtemp(join(tmpdir(), 'berth-bench-lib-'));
const ctx = createRuntimeContext({ root });
const times = [];
try {
  for (let i = -3; i < runs; i++) {
    const id = `lib-${process.pid}-${i + 3}`;
    const t0 = process.hrtime.bigint();
    const created = await createContainer(ctx, { id, bundle, foreground: true, stdio: ['ignore', 'ignore', 'ignore'] });
    await startContainer(ctx, id);
    await created.exited;
    await deleteContainer(ctx, id, { force: true });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (i >= 0) times.push(ms);
  }
} finally {
  await rm(root, { recursive: true, force: true });
}
times.sort((a, b) => a - b);
const median = times.length % 2 ? times[(times.length - 1) / 2] : (times[times.length / 2 - 1] + times[times.length / 2]) / 2;
if (tsv) console.log(`run\tberth-runtime library (in-process)\t${median.toFixed(2)}`);
else console.log(`library run: berth-runtime in-process ${median.toFixed(1)} ms (median of ${runs})`);
