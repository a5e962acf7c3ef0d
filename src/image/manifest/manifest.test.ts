import assert from 'node:assert/strict';
import { test } from 'node:test';

import { isBerthError } from '../../errors/index.js';
import { MEDIA_TYPE, layerMediaTypeInfo } from './media-types.js';
import { parseImageConfig, parseManifest } from './parse-manifest.js';
import { defaultPlatform, formatPlatform, parsePlatform, platformRank, selectManifest } from './platform.js';
import type { ImageIndex } from './types.js';

const D = (c: string): string => `sha256:${c.repeat(64)}`;
const NAME = 'sha256:' + 'f'.repeat(64);

const manifest = {
  schemaVersion: 2,
  mediaType: MEDIA_TYPE.ociManifest,
  config: { mediaType: MEDIA_TYPE.ociConfig, digest: D('a'), size: 10 },
  layers: [{ mediaType: MEDIA_TYPE.ociLayerGzip, digest: D('b'), size: 20 }],
};

function throwsCode(fn: () => unknown, code: string, text?: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(isBerthError(err), String(err));
    assert.equal(err.code, code, err.message);
    if (text) assert.match(err.message, text);
    return true;
  });
}

test('parseManifest reads OCI and Docker manifests and indexes', () => {
  const m = parseManifest(JSON.stringify(manifest), { name: NAME });
  assert.equal(m.kind, 'manifest');
  const docker = { ...manifest, mediaType: MEDIA_TYPE.dockerManifest };
  assert.equal(parseManifest(JSON.stringify(docker), { name: NAME, mediaType: MEDIA_TYPE.dockerManifest }).mediaType, MEDIA_TYPE.dockerManifest);
  const list = { schemaVersion: 2, mediaType: MEDIA_TYPE.dockerManifestList, manifests: [{ ...manifest.config, mediaType: MEDIA_TYPE.dockerManifest, platform: { os: 'linux', architecture: 'amd64' } }] };
  assert.equal(parseManifest(JSON.stringify(list), { name: NAME }).kind, 'index');
  // No mediaType field: the server's Content-Type decides, else the shape.
  const { mediaType: _m, ...bare } = manifest;
  assert.equal(parseManifest(JSON.stringify(bare), { name: NAME, mediaType: MEDIA_TYPE.dockerManifest }).mediaType, MEDIA_TYPE.dockerManifest);
  assert.equal(parseManifest(JSON.stringify({ schemaVersion: 2, manifests: [] }), { name: NAME }).kind, 'index');
});

test('parseManifest refuses bad documents with errors that name the digest', () => {
  throwsCode(() => parseManifest('{not json', { name: NAME }), 'MANIFEST_INVALID', new RegExp(NAME));
  throwsCode(() => parseManifest('[]', { name: NAME }), 'MANIFEST_INVALID', /not a JSON object/);
  throwsCode(() => parseManifest(JSON.stringify({ ...manifest, schemaVersion: 1 }), { name: NAME }), 'MANIFEST_UNSUPPORTED', /schema 1/);
  throwsCode(() => parseManifest(JSON.stringify({ ...manifest, schemaVersion: 3 }), { name: NAME }), 'MANIFEST_INVALID', /schemaVersion/);
  throwsCode(() => parseManifest(JSON.stringify({ ...manifest, mediaType: 'text/html' }), { name: NAME }), 'MANIFEST_UNSUPPORTED', /text\/html/);
  throwsCode(() => parseManifest(JSON.stringify(manifest), { name: NAME, mediaType: MEDIA_TYPE.ociIndex }), 'MANIFEST_INVALID', /served as/);
  throwsCode(() => parseManifest(JSON.stringify({ ...manifest, layers: [{ ...manifest.layers[0], digest: 'md5:abc' }] }), { name: NAME }), 'MANIFEST_INVALID', /layers\[0\]\.digest/);
  throwsCode(() => parseManifest(JSON.stringify({ ...manifest, layers: [{ ...manifest.layers[0], size: -1 }] }), { name: NAME }), 'MANIFEST_INVALID', /layers\[0\]\.size/);
  throwsCode(() => parseManifest(JSON.stringify({ ...manifest, layers: [{ ...manifest.layers[0], size: 2 ** 60 }] }), { name: NAME }), 'MANIFEST_INVALID', /size/);
  throwsCode(() => parseManifest(JSON.stringify({ ...manifest, config: undefined }), { name: NAME }), 'MANIFEST_INVALID', /config/);
  throwsCode(() => parseManifest(JSON.stringify({ ...manifest, layers: {} }), { name: NAME }), 'MANIFEST_INVALID', /layers/);
  throwsCode(() => parseManifest(JSON.stringify({ ...manifest, annotations: { a: 1 } }), { name: NAME }), 'MANIFEST_INVALID', /annotations/);
  throwsCode(
    () => parseManifest(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPE.ociIndex, manifests: [{ ...manifest.config, platform: { os: 'linux' } }] }), { name: NAME }),
    'MANIFEST_INVALID',
    /manifests\[0\]\.platform/,
  );
});

test('parseImageConfig checks os, architecture and diff_ids', () => {
  const config = { os: 'linux', architecture: 'amd64', rootfs: { type: 'layers', diff_ids: [D('c')] }, config: { Cmd: ['sh'] } };
  assert.equal(parseImageConfig(JSON.stringify(config), { name: NAME, layerCount: 1 }).os, 'linux');
  throwsCode(() => parseImageConfig(JSON.stringify(config), { name: NAME, layerCount: 2 }), 'MANIFEST_INVALID', /1 diff_ids for 2 layers/);
  throwsCode(() => parseImageConfig(JSON.stringify({ ...config, rootfs: { type: 'x', diff_ids: [] } }), { name: NAME }), 'MANIFEST_INVALID', /rootfs/);
  throwsCode(() => parseImageConfig(JSON.stringify({ ...config, os: 1 }), { name: NAME }), 'MANIFEST_INVALID', new RegExp(`image config \`${NAME}\``));
});

test('layer media types say their compression and whether they may be pushed', () => {
  assert.deepEqual(layerMediaTypeInfo(MEDIA_TYPE.dockerLayerGzip), { compression: 'gzip', nondistributable: false });
  assert.deepEqual(layerMediaTypeInfo(MEDIA_TYPE.dockerLayerForeignGzip), { compression: 'gzip', nondistributable: true });
  assert.equal(layerMediaTypeInfo('text/plain'), undefined);
});

test('platforms parse and normalize as containerd does', () => {
  assert.deepEqual(parsePlatform('linux/arm64'), { os: 'linux', architecture: 'arm64', variant: 'v8' });
  assert.deepEqual(parsePlatform('linux/aarch64'), { os: 'linux', architecture: 'arm64', variant: 'v8' });
  assert.deepEqual(parsePlatform('linux/x86_64'), { os: 'linux', architecture: 'amd64', variant: 'v1' });
  assert.deepEqual(parsePlatform('linux/arm/7'), { os: 'linux', architecture: 'arm', variant: 'v7' });
  assert.equal(formatPlatform(parsePlatform('linux/arm/v6')), 'linux/arm/v6');
  assert.equal(parsePlatform('linux').architecture, defaultPlatform().architecture);
  throwsCode(() => parsePlatform('linux/arm/v7/x'), 'PLATFORM_INVALID', /linux\/arm\/v7\/x/);
  assert.equal(platformRank(parsePlatform('linux/arm/v7'), { os: 'linux', architecture: 'arm', variant: 'v6' }), 1);
  assert.equal(platformRank(parsePlatform('linux/arm/v6'), { os: 'linux', architecture: 'arm', variant: 'v7' }), undefined);
  assert.equal(platformRank(parsePlatform('linux/amd64'), { os: 'linux', architecture: 'amd64' }), 0);
});

test('selectManifest picks the closest variant and names what the index has', () => {
  const entry = (c: string, platform: object): ImageIndex['manifests'][number] => ({ mediaType: MEDIA_TYPE.ociManifest, digest: D(c), size: 1, platform: platform as never });
  const index: ImageIndex = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPE.ociIndex,
    manifests: [
      entry('1', { os: 'linux', architecture: 'amd64' }),
      entry('2', { os: 'linux', architecture: 'arm', variant: 'v6' }),
      entry('3', { os: 'linux', architecture: 'arm', variant: 'v7' }),
      entry('4', { os: 'linux', architecture: 'arm64', variant: 'v8' }),
      entry('5', { os: 'unknown', architecture: 'unknown' }),
    ],
  };
  assert.equal(selectManifest(index, parsePlatform('linux/amd64'), 'x').digest, D('1'));
  assert.equal(selectManifest(index, parsePlatform('linux/arm/v7'), 'x').digest, D('3'));
  assert.equal(selectManifest(index, parsePlatform('linux/arm/v8'), 'x').digest, D('3'));
  assert.equal(selectManifest(index, parsePlatform('linux/arm64'), 'x').digest, D('4'));
  throwsCode(() => selectManifest(index, parsePlatform('linux/s390x'), 'reg/app:1'), 'PLATFORM_NOT_FOUND', /`reg\/app:1` has no image for linux\/s390x \(it has linux\/amd64\/v1, linux\/arm\/v6/);
});
