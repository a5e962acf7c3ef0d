/**
 * Test vectors from distribution/reference (reference_test.go and
 * normalize_test.go), the package Docker uses, so berth and `docker pull`
 * agree on what a name means.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isBerthError } from '../../errors/index.js';
import {
  familiarName,
  familiarString,
  formatReference,
  parseAnyReference,
  parseDockerReference,
  parseNormalizedReference,
  parseReference,
  referenceName,
  withDigest,
  withTag,
} from './reference.js';

const F64 = 'f'.repeat(64);

interface ParseCase {
  input: string;
  err?: RegExp;
  repository?: string;
  domain?: string;
  tag?: string;
  digest?: string;
}

const parseCases: ParseCase[] = [
  { input: 'test_com', repository: 'test_com' },
  { input: 'test.com:tag', repository: 'test.com', tag: 'tag' },
  { input: 'test.com:5000', repository: 'test.com', tag: '5000' },
  { input: 'test.com/repo:tag', domain: 'test.com', repository: 'test.com/repo', tag: 'tag' },
  { input: 'test:5000/repo', domain: 'test:5000', repository: 'test:5000/repo' },
  { input: 'test:5000/repo:tag', domain: 'test:5000', repository: 'test:5000/repo', tag: 'tag' },
  { input: `test:5000/repo@sha256:${F64}`, domain: 'test:5000', repository: 'test:5000/repo', digest: `sha256:${F64}` },
  { input: `test:5000/repo:tag@sha256:${F64}`, domain: 'test:5000', repository: 'test:5000/repo', tag: 'tag', digest: `sha256:${F64}` },
  { input: '', err: /at least one component/ },
  { input: ':justtag', err: /invalid reference format/ },
  { input: `@sha256:${F64}`, err: /invalid reference format/ },
  { input: 'repo@sha256:ffffffffffffffffffffffffffffffffff', err: /64 lowercase hex/ },
  { input: `validname@invaliddigest:${F64}`, err: /unsupported algorithm/ },
  { input: 'Uppercase:tag', err: /must be lowercase/ },
  { input: 'test:5000/Uppercase/lowercase:tag', err: /must be lowercase/ },
  { input: 'lowercase:Uppercase', repository: 'lowercase', tag: 'Uppercase' },
  { input: 'a/'.repeat(128) + 'a:tag', err: /not be more than 255/ },
  { input: 'a/'.repeat(127) + 'a:tag-puts-this-over-max', domain: 'a', repository: 'a/'.repeat(127) + 'a', tag: 'tag-puts-this-over-max' },
  { input: 'aa/asdf$$^/aa', err: /invalid reference format/ },
  { input: 'sub-dom1.foo.com/bar/baz/quux', domain: 'sub-dom1.foo.com', repository: 'sub-dom1.foo.com/bar/baz/quux' },
  { input: 'sub-dom1.foo.com/bar/baz/quux:some-long-tag', domain: 'sub-dom1.foo.com', repository: 'sub-dom1.foo.com/bar/baz/quux', tag: 'some-long-tag' },
  { input: 'b.gcr.io/test.example.com/my-app:test.example.com', domain: 'b.gcr.io', repository: 'b.gcr.io/test.example.com/my-app', tag: 'test.example.com' },
  { input: 'xn--n3h.com/myimage:xn--n3h.com', domain: 'xn--n3h.com', repository: 'xn--n3h.com/myimage', tag: 'xn--n3h.com' },
  {
    input: `xn--7o8h.com/myimage:xn--7o8h.com@sha512:${'f'.repeat(128)}`,
    domain: 'xn--7o8h.com',
    repository: 'xn--7o8h.com/myimage',
    tag: 'xn--7o8h.com',
    digest: `sha512:${'f'.repeat(128)}`,
  },
  { input: 'foo_bar.com:8080', repository: 'foo_bar.com', tag: '8080' },
  { input: 'foo/foo_bar.com:8080', domain: 'foo', repository: 'foo/foo_bar.com', tag: '8080' },
  { input: '192.168.1.1', repository: '192.168.1.1' },
  { input: '192.168.1.1:tag', repository: '192.168.1.1', tag: 'tag' },
  { input: '192.168.1.1:5000', repository: '192.168.1.1', tag: '5000' },
  { input: '192.168.1.1/repo', domain: '192.168.1.1', repository: '192.168.1.1/repo' },
  { input: '192.168.1.1:5000/repo', domain: '192.168.1.1:5000', repository: '192.168.1.1:5000/repo' },
  { input: '192.168.1.1:5000/repo:5050', domain: '192.168.1.1:5000', repository: '192.168.1.1:5000/repo', tag: '5050' },
  { input: '[2001:db8::1]', err: /invalid reference format/ },
  { input: '[2001:db8::1]:5000', err: /invalid reference format/ },
  { input: '[2001:db8::1]:tag', err: /invalid reference format/ },
  { input: '[2001:db8::1]/repo', domain: '[2001:db8::1]', repository: '[2001:db8::1]/repo' },
  { input: '[2001:db8:1:2:3:4:5:6]/repo:tag', domain: '[2001:db8:1:2:3:4:5:6]', repository: '[2001:db8:1:2:3:4:5:6]/repo', tag: 'tag' },
  { input: '[2001:db8::1]:5000/repo', domain: '[2001:db8::1]:5000', repository: '[2001:db8::1]:5000/repo' },
  { input: '[2001:db8::1]:5000/repo:tag', domain: '[2001:db8::1]:5000', repository: '[2001:db8::1]:5000/repo', tag: 'tag' },
  { input: `[2001:db8::1]:5000/repo@sha256:${F64}`, domain: '[2001:db8::1]:5000', repository: '[2001:db8::1]:5000/repo', digest: `sha256:${F64}` },
  { input: '[2001:db8::]:5000/repo', domain: '[2001:db8::]:5000', repository: '[2001:db8::]:5000/repo' },
  { input: '[::1]:5000/repo', domain: '[::1]:5000', repository: '[::1]:5000/repo' },
  { input: '[fe80::1%eth0]:5000/repo', err: /invalid reference format/ },
  { input: '[fe80::1%@invalidzone]:5000/repo', err: /invalid reference format/ },
];

test('parseReference follows distribution/reference Parse on its test vectors', () => {
  for (const c of parseCases) {
    const want = c.err;
    if (want) {
      assert.throws(() => parseReference(c.input), (err: unknown) => {
        assert.ok(isBerthError(err, 'REFERENCE_INVALID'), `${c.input}: ${String(err)}`);
        assert.match(err.message, want, c.input);
        assert.ok(err.message.includes(`\`${c.input}\``), `error names the reference: ${err.message}`);
        return true;
      });
      continue;
    }
    const ref = parseReference(c.input);
    assert.equal(formatReference(ref), c.input, c.input);
    assert.equal(referenceName(ref), c.repository, c.input);
    assert.equal(ref.domain, c.domain ?? '', c.input);
    assert.equal(ref.tag, c.tag, c.input);
    assert.equal(ref.digest, c.digest, c.input);
  }
});

test('parseNormalizedReference accepts and rejects the names Docker does', () => {
  const valid = [
    'docker/docker', 'library/debian', 'debian', 'docker.io/docker/docker', 'docker.io/library/debian', 'docker.io/debian',
    'index.docker.io/docker/docker', 'index.docker.io/library/debian', 'index.docker.io/debian', '127.0.0.1:5000/docker/docker',
    '127.0.0.1:5000/library/debian', '127.0.0.1:5000/debian', '192.168.0.1', '192.168.0.1:80', '192.168.0.1:8/debian',
    '192.168.0.2:25000/debian', 'thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev', '[fc00::1]:5000/docker',
    '[fc00::1]:5000/docker/docker', '[fc00:1:2:3:4:5:6:7]:5000/library/debian',
    'docker.io/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a', 'Docker/docker', 'DOCKER/docker',
    'docker-rules/docker', 'docker---rules/docker', 'doc/docker', 'd/docker', 'jess/t', 'dock__er/docker',
  ];
  const invalid = [
    'https://github.com/docker/docker', 'docker/Docker', '-docker', '-docker/docker', '-docker.io/docker/docker',
    'docker///docker', 'docker.io/docker/Docker', 'docker.io/docker///docker', '[fc00::1]', '[fc00::1]:5000',
    'fc00::1:5000/debian', '[fe80::1%eth0]:5000/debian', '[2001:db8:3:4::192.0.2.33]:5000/debian',
    '1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a', 'docker-/docker', '-docker-/docker', '____/____',
    '_docker/_docker', 'dock..er/docker', 'dock_.er/docker', 'dock-.er/docker', 'docker/',
    'this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255/docker',
  ];
  for (const name of valid) assert.doesNotThrow(() => parseNormalizedReference(name), name);
  for (const name of invalid) {
    assert.throws(() => parseNormalizedReference(name), (err: unknown) => isBerthError(err, 'REFERENCE_INVALID') && err.message.includes(`\`${name}\``), name);
  }
});

test('normalized references have Docker familiar and full names', () => {
  const cases: [remote: string, familiar: string, full: string, ambiguous: string, domain: string][] = [
    ['fooo/bar', 'fooo/bar', 'docker.io/fooo/bar', 'index.docker.io/fooo/bar', 'docker.io'],
    ['library/ubuntu', 'ubuntu', 'docker.io/library/ubuntu', 'library/ubuntu', 'docker.io'],
    ['nonlibrary/ubuntu', 'nonlibrary/ubuntu', 'docker.io/nonlibrary/ubuntu', '', 'docker.io'],
    ['other/library', 'other/library', 'docker.io/other/library', '', 'docker.io'],
    ['private/moonbase', '127.0.0.1:8000/private/moonbase', '127.0.0.1:8000/private/moonbase', '', '127.0.0.1:8000'],
    ['privatebase', '127.0.0.1:8000/privatebase', '127.0.0.1:8000/privatebase', '', '127.0.0.1:8000'],
    ['private/moonbase', 'example.com/private/moonbase', 'example.com/private/moonbase', '', 'example.com'],
    ['privatebase', 'example.com/privatebase', 'example.com/privatebase', '', 'example.com'],
    ['private/moonbase', 'example.com:8000/private/moonbase', 'example.com:8000/private/moonbase', '', 'example.com:8000'],
    ['privatebasee', 'example.com:8000/privatebasee', 'example.com:8000/privatebasee', '', 'example.com:8000'],
    ['library/ubuntu-12.04-base', 'ubuntu-12.04-base', 'docker.io/library/ubuntu-12.04-base', 'index.docker.io/library/ubuntu-12.04-base', 'docker.io'],
    ['library/foo', 'foo', 'docker.io/library/foo', 'docker.io/foo', 'docker.io'],
    ['library/foo/bar', 'library/foo/bar', 'docker.io/library/foo/bar', '', 'docker.io'],
    ['store/foo/bar', 'store/foo/bar', 'docker.io/store/foo/bar', '', 'docker.io'],
    ['bar', 'Foo/bar', 'Foo/bar', '', 'Foo'],
    ['bar', 'FOO/bar', 'FOO/bar', '', 'FOO'],
  ];
  for (const [remote, familiar, full, ambiguous, domain] of cases) {
    for (const input of [familiar, full, ...(ambiguous ? [ambiguous] : [])]) {
      const ref = parseNormalizedReference(input);
      assert.equal(familiarName(ref), familiar, input);
      assert.equal(formatReference(ref), full, input);
      assert.equal(ref.domain, domain, input);
      assert.equal(ref.path, remote, input);
    }
  }
});

test('normalized split of domain and path matches Docker', () => {
  const cases: [string, string, string][] = [
    ['test.com/foo', 'test.com', 'foo'],
    ['test_com/foo', 'docker.io', 'test_com/foo'],
    ['docker/migrator', 'docker.io', 'docker/migrator'],
    ['test.com:8080/foo', 'test.com:8080', 'foo'],
    ['test-com:8080/foo', 'test-com:8080', 'foo'],
    ['foo', 'docker.io', 'library/foo'],
    ['xn--n3h.com/foo', 'xn--n3h.com', 'foo'],
    ['xn--n3h.com:18080/foo', 'xn--n3h.com:18080', 'foo'],
    ['docker.io/foo', 'docker.io', 'library/foo'],
    ['docker.io/library/foo', 'docker.io', 'library/foo'],
    ['docker.io/library/foo/bar', 'docker.io', 'library/foo/bar'],
    ['localhost/foo', 'localhost', 'foo'],
    ['localhost:5000/foo/bar:1.0', 'localhost:5000', 'foo/bar'],
  ];
  for (const [input, domain, path] of cases) {
    const ref = parseNormalizedReference(input);
    assert.equal(ref.domain, domain, input);
    assert.equal(ref.path, path, input);
  }
});

test('a reference with tag and digest keeps both', () => {
  const short = 'busybox:latest@sha256:86e0e091d0da6bde2456dbb48306f3956bbeb2eae1b5b9a43045843f69fe4aaa';
  const ref = parseNormalizedReference(short);
  assert.equal(formatReference(ref), `docker.io/library/${short}`);
  assert.equal(ref.tag, 'latest');
  assert.equal(familiarString(ref), short);
});

test('parseDockerReference adds latest only when there is no tag and no digest', () => {
  assert.equal(formatReference(parseDockerReference('busybox')), 'docker.io/library/busybox:latest');
  assert.equal(formatReference(parseDockerReference('localhost:5000/app:v1')), 'localhost:5000/app:v1');
  assert.equal(formatReference(parseDockerReference(`busybox@sha256:${F64}`)), `docker.io/library/busybox@sha256:${F64}`);
});

test('parseAnyReference tells image ids from names', () => {
  const hex = 'dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c';
  assert.deepEqual(parseAnyReference(hex), { id: `sha256:${hex}` });
  assert.deepEqual(parseAnyReference(`sha256:${hex}`), { id: `sha256:${hex}` });
  const cases: [string, string][] = [
    ['redis', 'docker.io/library/redis'],
    ['redis:latest', 'docker.io/library/redis:latest'],
    [`redis@sha256:${hex}`, `docker.io/library/redis@sha256:${hex}`],
    ['dmcgowan/myapp', 'docker.io/dmcgowan/myapp'],
    ['docker.io/mcgowan/myapp:latest', 'docker.io/mcgowan/myapp:latest'],
    [hex.slice(0, 63), `docker.io/library/${hex.slice(0, 63)}`],
    ['dbcc1', 'docker.io/library/dbcc1'],
  ];
  for (const [input, want] of cases) {
    const got = parseAnyReference(input);
    assert.ok('ref' in got, input);
    assert.equal(formatReference(got.ref), want, input);
  }
});

test('withTag and withDigest check what they add', () => {
  const ref = parseNormalizedReference('busybox');
  assert.throws(() => withTag(ref, '-foo'), (err: unknown) => isBerthError(err, 'REFERENCE_INVALID'));
  assert.throws(() => withDigest(ref, 'foo'), (err: unknown) => isBerthError(err, 'REFERENCE_INVALID'));
  assert.equal(formatReference(withTag(parseReference('test.com:8000/foo'), 'TAG5')), 'test.com:8000/foo:TAG5');
  const d = 'sha256:1234567890098765432112345667890098765';
  assert.equal(formatReference(withTag(withDigest(parseReference('test.com:8000/foo'), d), 'TAG5')), `test.com:8000/foo:TAG5@${d}`);
});
