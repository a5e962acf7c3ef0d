import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isBerthError } from '../../errors/index.js';
import { loadSpec, parseSpec } from './load-spec.js';
import { JsonSyntaxError, parseJson } from './parse-json.js';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berth-load-spec-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('parseJson agrees with JSON.parse on valid documents', () => {
  const docs = [
    '{"a":1,"b":[true,false,null],"c":{"d":"e\\u00e9\\n\\"x"},"f":-1.5e3,"g":0}',
    '[]',
    '"s"',
    ' 12 ',
    '{"__proto__": {"x": 1}}',
  ];
  for (const text of docs) assert.deepEqual(parseJson(text).value, JSON.parse(text), text);
  const proto = parseJson('{"__proto__": {"x": 1}}').value as Record<string, unknown>;
  assert.equal(Object.getPrototypeOf(proto), Object.prototype);
  assert.ok(Object.hasOwn(proto, '__proto__'));
});

test('parseJson reports syntax errors with line and column', () => {
  for (const [text, line, column] of [
    ['{\n  "a": 1,\n  "b": }', 3, 8],
    ['{"a" 1}', 1, 6],
    ['[1, 2', 1, 6],
    ['{"a": tru}', 1, 7],
    ['{"a": 01}', 1, 8],
    ['{"a": "x\ty"}', 1, 9],
    ['{} x', 1, 4],
  ] as const) {
    assert.throws(
      () => parseJson(text),
      (err: unknown) => err instanceof JsonSyntaxError && err.line === line && err.column === column,
      text,
    );
  }
});

test('parseJson lists integer literals a number cannot hold exactly, with their path', () => {
  const r = parseJson('{"a":{"b-c":[9007199254740993, 18446744073709551616, 9007199254740992, 1.5]}}');
  assert.deepEqual(r.inexactIntegers, [{ path: 'a["b-c"][0]', literal: '9007199254740993' }]);
});

test('parseSpec rejects inexact seccomp values but accepts 2^64-1', () => {
  const base = (v: string): string =>
    `{"ociVersion":"1.0.0","linux":{"seccomp":{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["x"],"action":"SCMP_ACT_KILL","args":[{"index":0,"value":${v},"op":"SCMP_CMP_EQ"}]}]}}}`;
  assert.throws(
    () => parseSpec(base('12345678901234567891')),
    (err: unknown) => isBerthError(err, 'CONFIG_UNSUPPORTED') && err.field === 'linux.seccomp.syscalls[0].args[0].value',
  );
  assert.doesNotThrow(() => parseSpec(base('18446744073709551615')));
  assert.doesNotThrow(() => parseSpec('{"process":{"rlimits":[{"type":"RLIMIT_NOFILE","soft":9223372036854775807,"hard":9223372036854775807}]}}'));
});

test('parseSpec requires an object', () => {
  assert.throws(() => parseSpec('[1]'), (err: unknown) => isBerthError(err, 'CONFIG_INVALID'));
});

test('loadSpec reads <bundle>/config.json', async () => {
  const bundle = join(dir, 'ok');
  await mkdir(bundle);
  await writeFile(join(bundle, 'config.json'), '{"ociVersion": "1.0.2", "hostname": "h"}');
  assert.deepEqual(await loadSpec(bundle), { ociVersion: '1.0.2', hostname: 'h' });
});

test('loadSpec: a missing config.json is BUNDLE_INVALID naming the path', async () => {
  const bundle = join(dir, 'empty');
  await mkdir(bundle);
  await assert.rejects(loadSpec(bundle), (err: unknown) => isBerthError(err, 'BUNDLE_INVALID') && err.message.includes(join(bundle, 'config.json')));
  await assert.rejects(loadSpec(join(dir, 'nope')), (err: unknown) => isBerthError(err, 'BUNDLE_INVALID') && err.message.includes('does not exist'));
});

test('loadSpec: malformed JSON is CONFIG_INVALID with the parse position', async () => {
  const bundle = join(dir, 'bad');
  await mkdir(bundle);
  await writeFile(join(bundle, 'config.json'), '{\n  "ociVersion": "1.0.0",\n}\n');
  await assert.rejects(
    loadSpec(bundle),
    (err: unknown) => isBerthError(err, 'CONFIG_INVALID') && /line 3 column 1 \(position 27\)/.test(err.message),
  );
});
