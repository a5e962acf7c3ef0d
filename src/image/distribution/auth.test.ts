import assert from 'node:assert/strict';
import { test } from 'node:test';

import { parseChallenges, repositoryScope } from './auth.js';
import { credentialsFromDockerConfig, normalizeAuthKey } from './credentials.js';

test('parseChallenges reads Docker Hub, GHCR and Basic challenges', () => {
  assert.deepEqual(parseChallenges('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"'), [
    { scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/busybox:pull' } },
  ]);
  assert.deepEqual(parseChallenges('Basic realm="Registry Realm"'), [{ scheme: 'basic', params: { realm: 'Registry Realm' } }]);
  assert.deepEqual(parseChallenges('Bearer realm="https://x/t",scope="repository:a:pull,push"'), [
    { scheme: 'bearer', params: { realm: 'https://x/t', scope: 'repository:a:pull,push' } },
  ]);
  assert.deepEqual(parseChallenges('Basic realm="a", Bearer realm="b", error=invalid_token'), [
    { scheme: 'basic', params: { realm: 'a' } },
    { scheme: 'bearer', params: { realm: 'b', error: 'invalid_token' } },
  ]);
  assert.deepEqual(parseChallenges('Bearer realm="with \\"quote\\""'), [{ scheme: 'bearer', params: { realm: 'with "quote"' } }]);
  assert.deepEqual(parseChallenges(''), []);
  assert.equal(repositoryScope('library/busybox', ['pull', 'push']), 'repository:library/busybox:pull,push');
});

test('credentials come from the auths of a Docker config.json, by host', () => {
  const lookup = credentialsFromDockerConfig({
    auths: {
      'https://index.docker.io/v1/': { auth: Buffer.from('hub:secret:with:colons').toString('base64') },
      'registry.example.com:5000': { username: 'u', password: 'p' },
      'https://ghcr.io': { identitytoken: 'refresh' },
      'empty.example.com': {},
    },
  });
  assert.deepEqual(lookup('docker.io'), { username: 'hub', password: 'secret:with:colons' });
  assert.deepEqual(lookup('registry.example.com:5000'), { username: 'u', password: 'p' });
  assert.deepEqual(lookup('ghcr.io'), { identityToken: 'refresh' });
  assert.equal(lookup('empty.example.com'), undefined);
  assert.equal(lookup('registry.example.com'), undefined);
  assert.equal(normalizeAuthKey('http://LOCALHOST:5000/v2/'), 'localhost:5000');
  assert.throws(() => credentialsFromDockerConfig({ auths: { x: { auth: Buffer.from('nocolon').toString('base64') } } }), /auths\["x"\]\.auth/);
});
