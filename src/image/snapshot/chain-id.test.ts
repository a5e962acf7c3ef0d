import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';

import { chainId, chainIds } from './chain-id.js';

const D0 = `sha256:${'a'.repeat(64)}`;
const D1 = `sha256:${'b'.repeat(64)}`;
const D2 = `sha256:${'c'.repeat(64)}`;

function sha256sum(text: string): string {
  return `sha256:${execFileSync('sha256sum', { input: text, encoding: 'utf8' }).split(' ')[0]}`;
}

test('chain IDs follow the image-spec formula, checked against sha256sum', () => {
  const c1 = sha256sum(`${D0} ${D1}`);
  const c2 = sha256sum(`${c1} ${D2}`);
  assert.deepEqual(chainIds([D0, D1, D2]), [D0, c1, c2]);
  assert.equal(chainId([D0]), D0);
  assert.throws(() => chainIds(['nope']), { code: 'DIGEST_INVALID' });
});
