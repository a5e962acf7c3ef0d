import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseArgs, bytes, int } from './args.js';

const specs = {
  bundle: { type: 'string', short: 'b' },
  detach: { type: 'boolean', short: 'd' },
  env: { type: 'strings', short: 'e' },
} as const;

test('parseArgs takes long, short and --flag=value forms anywhere among positionals', () => {
  const p = parseArgs(['--bundle', '/b', 'id1', '-d', '-e', 'A=1', '--env=B=2'], specs);
  assert.deepEqual(p.flags, { bundle: '/b', detach: true, env: ['A=1', 'B=2'] });
  assert.deepEqual(p.positionals, ['id1']);
  assert.equal(parseArgs(['-b=/x'], specs).flags['bundle'], '/x');
  assert.equal(parseArgs(['--detach=false'], specs).flags['detach'], false);
});

test('parseArgs keeps the process command line verbatim after the id (exec)', () => {
  const p = parseArgs(['-d', 'ctr', 'sh', '-c', 'echo --bundle'], specs, { stopAfterPositionals: 1 });
  assert.deepEqual(p.positionals, ['ctr', 'sh', '-c', 'echo --bundle']);
  assert.equal(p.flags['detach'], true);
});

test('parseArgs rejects unknown flags and flags without their value, naming them', () => {
  assert.throws(() => parseArgs(['--nope'], specs), /unknown flag `--nope`/);
  assert.throws(() => parseArgs(['--bundle'], specs), /flag `--bundle` needs a value/);
});

test('bytes parses runc sizes and int rejects non-numbers', () => {
  const p = parseArgs(['--bundle', '10M'], specs);
  assert.equal(bytes(p, 'bundle'), 10 * 1024 * 1024);
  assert.equal(bytes(parseArgs(['--bundle', '512KiB'], specs), 'bundle'), 512 * 1024);
  assert.equal(bytes(parseArgs(['--bundle', '-1'], specs), 'bundle'), -1);
  assert.throws(() => bytes(parseArgs(['--bundle', 'lots'], specs), 'bundle'), /needs a size/);
  assert.throws(() => int(parseArgs(['--bundle', '1.5'], specs), 'bundle'), /needs an integer/);
});
