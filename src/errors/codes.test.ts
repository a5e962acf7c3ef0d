import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ERROR_CODES } from './codes.js';
import { BerthError } from './berth-error.js';

const docPath = fileURLToPath(new URL('../../../docs/errors.md', import.meta.url));

test('docs/errors.md lists every error code with its kind, and nothing else', () => {
  const rows = new Map<string, string>();
  for (const line of readFileSync(docPath, 'utf8').split('\n')) {
    const m = /^\| `([A-Z_]+)` \| ([a-z-]+) \|/.exec(line);
    if (m) rows.set(m[1]!, m[2]!);
  }
  for (const [code, { kind }] of Object.entries(ERROR_CODES)) {
    assert.equal(rows.get(code), kind, `docs/errors.md: ${code} should be listed as ${kind}`);
  }
  assert.deepEqual([...rows.keys()].sort(), Object.keys(ERROR_CODES).sort());
});

test('BerthError carries code, kind and field, and serializes as data', () => {
  const err = new BerthError('CONFIG_INVALID', 'linux.namespaces[2].path: `/x` is not a namespace', { field: 'linux.namespaces[2].path' });
  assert.equal(err.kind, 'invalid-argument');
  assert.deepEqual(JSON.parse(JSON.stringify(err)), {
    code: 'CONFIG_INVALID',
    kind: 'invalid-argument',
    message: 'linux.namespaces[2].path: `/x` is not a namespace',
    field: 'linux.namespaces[2].path',
  });
});
