/**
 * Bearer token authentication against a real registry: Debian's
 * docker-registry (distribution 2.8) configured with `auth.token` to trust
 * a token issuer written for the tests (test/helpers/registry/token-issuer.ts:
 * ES256 JWTs with an x5c chain to a test CA). alice may pull and push
 * `a/*`; bob may pull `a/*` and push `b/*`. skopeo, as an independent
 * client, shows the issuer and the registry agree before berth is judged.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';

import { isBerthError, type ErrorCode } from '../../src/errors/index.js';
import { LocalContentStore } from '../../src/image/content/index.js';
import { pullImage, pushImage, RegistryClient, type RegistryClientOptions } from '../../src/image/distribution/index.js';
import { withLeakCheck } from '../helpers/leaks.js';
import { TEST_TMP_PREFIX, testTmpRoot } from '../helpers/paths.js';
import { buildBusyboxLayout, type BuiltImage } from '../helpers/registry/busybox-image.js';
import { DOCKER_REGISTRY_BIN, startDockerRegistry, type RegistryServer } from '../helpers/registry/docker-registry.js';
import { startTokenIssuer, type TokenIssuer, type TokenRequest } from '../helpers/registry/token-issuer.js';
import { which } from '../helpers/requires.js';

const skip = !existsSync(DOCKER_REGISTRY_BIN)
  ? 'needs docker-registry (apt docker-registry)'
  : !which('skopeo')
    ? 'needs skopeo'
    : !which('openssl')
      ? 'needs openssl'
      : !existsSync('/bin/busybox')
        ? 'needs busybox-static'
        : undefined;

withLeakCheck();

const retry = { attempts: 3, baseDelayMs: 10 };
const ALICE = { username: 'alice', password: 'alice-pw' };
const BOB = { username: 'bob', password: 'bob-pw' };

/** skopeo, run asynchronously: the token issuer lives in this process and must go on answering meanwhile. */
async function skopeo(...args: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)('skopeo', ['--insecure-policy', ...args], { encoding: 'utf8', timeout: 120_000 });
  return stdout;
}

async function skopeoFails(...args: string[]): Promise<string> {
  try {
    await skopeo(...args);
  } catch (err) {
    return String((err as { stderr?: string }).stderr ?? err);
  }
  assert.fail(`skopeo ${args.join(' ')} succeeded`);
}

/** The claims of a JWT (not verified: the registry does that). */
function claimsOf(token: string): { sub: string; aud: string; access: Array<{ type: string; name: string; actions: string[] }> } {
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8'));
}

async function rejectsWith(p: Promise<unknown>, code: ErrorCode, ...names: string[]): Promise<string> {
  let message = '';
  await assert.rejects(p, (err: unknown) => {
    assert.ok(isBerthError(err, code), `want ${code}, got ${String(err)}`);
    for (const n of names) assert.ok(err.message.includes(n), `message names ${n}: ${err.message}`);
    message = err.message;
    return true;
  });
  return message;
}

async function storeDigests(store: LocalContentStore): Promise<{ blobs: string[]; ingests: number }> {
  const blobs: string[] = [];
  for await (const b of store.list()) blobs.push(b.digest);
  return { blobs, ingests: (await store.listIngests()).length };
}

describe('registry with token authentication', { skip }, () => {
  let work: string;
  let issuer: TokenIssuer;
  let reg: RegistryServer;
  let image: BuiltImage;
  let manifestText: string;
  let stores = 0;
  const clients: RegistryClient[] = [];

  const client = (opts: RegistryClientOptions = {}): RegistryClient => {
    const c = new RegistryClient({ retry, ...opts });
    clients.push(c);
    return c;
  };
  const as = (user: { username: string; password: string }, opts: RegistryClientOptions = {}): RegistryClient =>
    client({ credentials: (host) => (host === reg.host ? user : undefined), ...opts });
  const newStore = (): LocalContentStore => new LocalContentStore(join(work, `store-${++stores}`));
  const requestsSince = (n: number): TokenRequest[] => issuer.requests.slice(n);

  before(async () => {
    work = await mkdtemp(join(testTmpRoot(), `${TEST_TMP_PREFIX}token-`));
    issuer = await startTokenIssuer({
      users: {
        alice: { password: ALICE.password, grants: [{ repository: 'a/*', actions: ['pull', 'push'] }] },
        bob: {
          password: BOB.password,
          grants: [
            { repository: 'a/*', actions: ['pull'] },
            { repository: 'b/*', actions: ['pull', 'push'] },
          ],
        },
      },
    });
    reg = await startDockerRegistry({ token: issuer.registryConfig });
    image = await buildBusyboxLayout(join(work, 'layout'), { extraLayerBytes: randomBytes(512 << 10) });
    manifestText = await readFile(join(image.dir, 'blobs/sha256', image.manifestDigest.slice(7)), 'utf8');
    await skopeo('copy', '--dest-tls-verify=false', `--dest-creds=${ALICE.username}:${ALICE.password}`, `oci:${image.dir}:1`, `docker://${reg.host}/a/app:1`);
  });
  after(async () => {
    for (const c of clients) await c.close();
    await reg?.stop();
    await issuer?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  test('skopeo agrees with the setup: bob reads a/ but may not push there, and no credentials read nothing', async () => {
    assert.equal(await skopeo('inspect', '--tls-verify=false', `--creds=${BOB.username}:${BOB.password}`, '--raw', `docker://${reg.host}/a/app:1`), manifestText);
    const n = issuer.requests.length;
    const pushErr = await skopeoFails('copy', '--dest-tls-verify=false', `--dest-creds=${BOB.username}:${BOB.password}`, `oci:${image.dir}:1`, `docker://${reg.host}/a/by-bob:1`);
    assert.match(pushErr, /unauthorized|denied|authentication required/i);
    assert.ok(
      requestsSince(n).some((r) => r.user === 'bob' && r.refused.includes('repository:a/by-bob:push')),
      JSON.stringify(requestsSince(n)),
    );
    assert.match(await skopeoFails('inspect', '--tls-verify=false', '--raw', `docker://${reg.host}/a/app:1`), /unauthorized|denied|authentication required/i);
  });

  test('an anonymous pull is refused with REGISTRY_UNAUTHORIZED naming the registry and the scope, nothing stored', async () => {
    const store = newStore();
    const n = issuer.requests.length;
    const message = await rejectsWith(pullImage(client(), store, `${reg.host}/a/app:1`), 'REGISTRY_UNAUTHORIZED', `registry ${reg.host}`, '`repository:a/app:pull`');
    assert.match(message, /anonymous/);
    assert.match(message, /log in/);
    const asked = requestsSince(n);
    assert.ok(asked.length >= 1);
    for (const r of asked) {
      assert.equal(r.user, undefined);
      assert.deepEqual(r.scopes, ['repository:a/app:pull']);
      assert.deepEqual(r.refused, ['repository:a/app:pull']);
    }
    assert.deepEqual(await storeDigests(store), { blobs: [], ingests: 0 });
  });

  test('a wrong password is refused by the token service, naming the user and the registry', async () => {
    const n = issuer.requests.length;
    await rejectsWith(as({ username: 'bob', password: 'nope' }).resolve(`${reg.host}/a/app:1`), 'REGISTRY_UNAUTHORIZED', '`bob`', `registry ${reg.host}`, 'repository:a/app:pull');
    assert.deepEqual(
      requestsSince(n).map((r) => r.status),
      [401],
    );
  });

  test('a user with a pull grant pulls; one token for `repository:NAME:pull` serves the manifest, config and every layer', async () => {
    const c = as(BOB, { now: Date.now });
    const store = newStore();
    const n = issuer.requests.length;
    const r = await pullImage(c, store, `${reg.host}/a/app:1`);
    assert.equal(r.descriptor.digest, image.manifestDigest);
    for (const d of [image.manifestDigest, image.configDigest, ...image.layerDigests]) assert.ok(await store.findInfo(d), `${d} stored`);
    const asked = requestsSince(n);
    assert.equal(asked.length, 1, JSON.stringify(asked));
    assert.equal(asked[0]!.user, 'bob');
    assert.equal(asked[0]!.service, issuer.service);
    assert.deepEqual(asked[0]!.scopes, ['repository:a/app:pull']);
    const claims = claimsOf(asked[0]!.token!);
    assert.equal(claims.sub, 'bob');
    assert.equal(claims.aud, issuer.service);
    assert.deepEqual(claims.access, [{ type: 'repository', name: 'a/app', actions: ['pull'] }]);
    // The token is cached: another pull of the repository (by tag, then by digest) asks the issuer nothing.
    await pullImage(c, newStore(), `${reg.host}/a/app:1`);
    await pullImage(c, newStore(), `${reg.host}/a/app@${image.manifestDigest}`);
    assert.equal(requestsSince(n).length, 1);
  });

  test('a push asks for `pull,push`: alice pushes, and skopeo as bob reads it back', async () => {
    const c = as(ALICE);
    const store = newStore();
    const pulled = await pullImage(c, store, `${reg.host}/a/app:1`);
    const n = issuer.requests.length;
    const results: string[] = [];
    await pushImage(c, store, `${reg.host}/a/copy:1`, pulled.manifestDescriptor, { onProgress: (e) => e.result && results.push(e.result) });
    assert.deepEqual(results.sort(), ['uploaded', 'uploaded', 'uploaded']);
    const asked = requestsSince(n);
    assert.deepEqual(
      asked.map((r) => r.scopes),
      [['repository:a/copy:pull,push']],
    );
    assert.deepEqual(claimsOf(asked[0]!.token!).access, [{ type: 'repository', name: 'a/copy', actions: ['pull', 'push'] }]);
    assert.equal(await skopeo('inspect', '--tls-verify=false', `--creds=${BOB.username}:${BOB.password}`, '--raw', `docker://${reg.host}/a/copy:1`), manifestText);
  });

  test("bob's push to a/ is refused naming bob and the scope, and nothing is tagged", async () => {
    const c = as(BOB);
    const store = newStore();
    const pulled = await pullImage(c, store, `${reg.host}/a/app:1`);
    const n = issuer.requests.length;
    const message = await rejectsWith(
      pushImage(c, store, `${reg.host}/a/by-bob-too:1`, pulled.manifestDescriptor),
      'REGISTRY_UNAUTHORIZED',
      `registry ${reg.host}`,
      '`bob`',
    );
    // The scope as the registry's challenge words it: docker-registry lists the actions in no fixed order.
    assert.match(message, /`repository:a\/by-bob-too:(pull,push|push,pull)`/);
    assert.match(message, /insufficient_scope/);
    const asked = requestsSince(n);
    assert.ok(asked.length >= 1);
    for (const r of asked) {
      assert.deepEqual(r.scopes, ['repository:a/by-bob-too:pull,push']);
      assert.deepEqual(r.refused, ['repository:a/by-bob-too:push']);
    }
    await rejectsWith(as(ALICE).resolve(`${reg.host}/a/by-bob-too:1`), 'MANIFEST_NOT_FOUND', 'a/by-bob-too:1');
  });

  test('a cross-repository mount asks `repository:FROM:pull` too, and the registry mounts (201) instead of an upload', async () => {
    const c = as(ALICE);
    const store = newStore();
    const pulled = await pullImage(c, store, `${reg.host}/a/app:1`);
    const n = issuer.requests.length;
    const results: string[] = [];
    await pushImage(c, store, `${reg.host}/a/mounted:1`, pulled.manifestDescriptor, { mountFrom: 'a/app', onProgress: (e) => e.result && results.push(e.result) });
    assert.deepEqual(results.sort(), ['mounted', 'mounted', 'mounted']);
    const mountRequest = requestsSince(n).find((r) => r.scopes.includes('repository:a/app:pull'));
    assert.ok(mountRequest, JSON.stringify(requestsSince(n)));
    assert.deepEqual(mountRequest.scopes, ['repository:a/mounted:pull,push', 'repository:a/app:pull']);
    assert.deepEqual(mountRequest.refused, []);
    assert.equal(await skopeo('inspect', '--tls-verify=false', `--creds=${ALICE.username}:${ALICE.password}`, '--raw', `docker://${reg.host}/a/mounted:1`), manifestText);
  });

  test('a mount from a repository the user may not read is refused by the registry, and the blob is uploaded instead', async () => {
    // bob puts the image in b/app, which alice may not read.
    const bobStore = newStore();
    const bob = as(BOB);
    const pulled = await pullImage(bob, bobStore, `${reg.host}/a/app:1`);
    await pushImage(bob, bobStore, `${reg.host}/b/app:1`, pulled.manifestDescriptor);
    const c = as(ALICE);
    const store = newStore();
    await pullImage(c, store, `${reg.host}/a/app:1`);
    const n = issuer.requests.length;
    const results: string[] = [];
    await pushImage(c, store, `${reg.host}/a/from-b:1`, pulled.manifestDescriptor, { mountFrom: 'b/app', onProgress: (e) => e.result && results.push(e.result) });
    assert.deepEqual(results.sort(), ['uploaded', 'uploaded', 'uploaded']);
    assert.ok(
      requestsSince(n).some((r) => r.user === 'alice' && r.refused.includes('repository:b/app:pull')),
      JSON.stringify(requestsSince(n)),
    );
    assert.equal(await skopeo('inspect', '--tls-verify=false', `--creds=${ALICE.username}:${ALICE.password}`, '--raw', `docker://${reg.host}/a/from-b:1`), manifestText);
  });

  test('a pull-through cache of the token registry, given credentials for it, serves berth as a mirror', async () => {
    const cache = await startDockerRegistry({ proxy: { remoteurl: reg.url, username: BOB.username, password: BOB.password } });
    try {
      const n = issuer.requests.length;
      const log: string[] = [];
      const c = client({ mirrors: { [reg.host]: [cache.url] }, logger: { debug: (m) => log.push(m) } });
      const store = newStore();
      const r = await pullImage(c, store, `${reg.host}/a/app:1`);
      assert.equal(r.descriptor.digest, image.manifestDigest);
      assert.ok(log.some((l) => l.includes(image.layerDigests[0]!) && l.includes(`from mirror ${cache.url}`)), log.join('\n'));
      // The cache asked the issuer as bob; berth, anonymous and served by the mirror, asked nothing.
      const asked = requestsSince(n);
      assert.ok(asked.length >= 1);
      assert.ok(asked.every((x) => x.user === 'bob' && x.refused.length === 0), JSON.stringify(asked));
    } finally {
      await cache.stop();
    }
  });

  test('a token past its expires_in on the client clock is renewed before use', async () => {
    let now = Date.now();
    const c = as(BOB, { now: () => now });
    issuer.expiresInSeconds = 30;
    try {
      const n = issuer.requests.length;
      await c.resolve(`${reg.host}/a/app:1`);
      assert.equal(requestsSince(n).length, 1);
      // berth renews 10 s before expiry: at +15 s the token is still good, at +25 s it is not.
      now += 15_000;
      await c.resolve(`${reg.host}/a/app:1`);
      assert.equal(requestsSince(n).length, 1);
      now += 10_000;
      await c.resolve(`${reg.host}/a/app:1`);
      const asked = requestsSince(n);
      assert.equal(asked.length, 2);
      assert.notEqual(asked[0]!.token, asked[1]!.token);
      assert.deepEqual(asked[1]!.scopes, ['repository:a/app:pull']);
    } finally {
      issuer.expiresInSeconds = 300;
    }
  });

  test('a token the registry finds expired is replaced once, and the request goes through', async () => {
    const c = as(BOB);
    const n = issuer.requests.length;
    issuer.faults.push('expired');
    const r = await c.resolve(`${reg.host}/a/app:1`);
    assert.equal(r.descriptor.digest, image.manifestDigest);
    assert.deepEqual(
      requestsSince(n).map((x) => [x.fault, x.scopes]),
      [
        ['expired', ['repository:a/app:pull']],
        [undefined, ['repository:a/app:pull']],
      ],
    );
  });

  for (const fault of ['expired', 'untrusted-key', 'wrong-audience', 'wrong-issuer'] as const) {
    test(`the registry verifies tokens: one ${fault} every time ends in REGISTRY_UNAUTHORIZED (invalid_token)`, async () => {
      const c = as(BOB);
      issuer.faults.push(fault, fault);
      try {
        await rejectsWith(c.resolve(`${reg.host}/a/app:1`), 'REGISTRY_UNAUTHORIZED', `registry ${reg.host}`, 'invalid_token');
      } finally {
        issuer.faults.length = 0;
      }
    });
  }
});
