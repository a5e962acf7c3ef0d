import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import * as tar from 'tar-stream';
import { isBerthError } from '../../errors/index.js';
import { LocalContentStore } from '../content/index.js';
import { MEDIA_TYPE } from '../manifest/media-types.js';
import { DOCKER_LAYER_TAR } from './archive-image.js';
import { cleanEntryName, linkTarget } from './entry-name.js';
import { exportDockerArchive, exportOciArchive, exportOciLayout, importImageArchive } from './index.js';

type Entry = { name: string; data?: Buffer | string; type?: 'file' | 'symlink' | 'link' | 'directory' | 'character-device'; linkname?: string };

async function tarOf(entries: Entry[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: unknown) => {
    chunks.push(c as Buffer);
  });
  const done = new Promise<void>((resolve) => pack.on('end', () => resolve()));
  for (const e of entries) {
    const type = e.type ?? 'file';
    const h = { name: e.name, type, mode: 0o644, mtime: new Date(0), ...(e.linkname !== undefined ? { linkname: e.linkname } : {}) };
    if (type === 'file') pack.entry(h, Buffer.from(e.data ?? ''));
    else pack.entry(h);
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

const sha = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const hex = (d: string): string => d.slice('sha256:'.length);
/** Text that gzip cannot shrink much (so a layer is several chunks). */
const randomText = (n: number): string => randomBytes(n / 2).toString('hex');

/** A one-layer image's pieces: layer tar (plain and gzip), config, manifest. */
async function tinyImage(text = 'hello\n') {
  const layer = await tarOf([{ name: 'hello.txt', data: text }]);
  const gz = gzipSync(layer);
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha(layer)] }, config: { Cmd: ['/hello'] } }));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA_TYPE.ociManifest,
      config: { mediaType: MEDIA_TYPE.ociConfig, digest: sha(config), size: config.length },
      layers: [{ mediaType: MEDIA_TYPE.ociLayerGzip, digest: sha(gz), size: gz.length }],
    }),
  );
  return { layer, gz, config, manifest };
}

function ociEntries(img: Awaited<ReturnType<typeof tinyImage>>, name = 'example.com/app:1'): Entry[] {
  const index = { schemaVersion: 2, manifests: [{ mediaType: MEDIA_TYPE.ociManifest, digest: sha(img.manifest), size: img.manifest.length, annotations: { 'io.containerd.image.name': name, 'org.opencontainers.image.ref.name': '1' } }] };
  return [
    { name: 'oci-layout', data: '{"imageLayoutVersion":"1.0.0"}' },
    { name: `blobs/sha256/${hex(sha(img.gz))}`, data: img.gz },
    { name: `blobs/sha256/${hex(sha(img.config))}`, data: img.config },
    { name: `blobs/sha256/${hex(sha(img.manifest))}`, data: img.manifest },
    { name: 'index.json', data: JSON.stringify(index) },
  ];
}

function dockerEntries(img: Awaited<ReturnType<typeof tinyImage>>, manifest: unknown = [{ Config: `${hex(sha(img.config))}.json`, RepoTags: ['app:1'], Layers: ['aaa/layer.tar'] }]): Entry[] {
  // manifest.json last, as docker save often writes it.
  return [
    { name: 'aaa/', type: 'directory' },
    { name: 'aaa/layer.tar', data: img.layer },
    { name: `${hex(sha(img.config))}.json`, data: img.config },
    { name: 'manifest.json', data: JSON.stringify(manifest) },
  ];
}

let work: string;
let n = 0;
before(async () => {
  work = await mkdtemp(join(tmpdir(), 'berth-test-archive-unit-'));
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

/** A fresh store and spool dir, and a check that both are still empty. */
async function fresh() {
  const dir = join(work, `case-${++n}`);
  const spoolDir = join(dir, 'spool');
  await mkdir(spoolDir, { recursive: true });
  const store = new LocalContentStore(join(dir, 'store'));
  return {
    dir,
    store,
    spoolDir,
    async assertUntouched(): Promise<void> {
      const blobs: string[] = [];
      for await (const b of store.list()) blobs.push(b.digest);
      assert.deepEqual(blobs, [], 'no blob committed');
      assert.deepEqual(await store.listIngests(), [], 'no ingest left');
      assert.deepEqual(await readdir(spoolDir), [], 'spool removed');
    },
  };
}

async function rejectsWith(p: Promise<unknown>, code: string, text: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(isBerthError(err), String(err));
    assert.equal(err.code, code, err.message);
    assert.match(err.message, text);
    return true;
  });
}

async function* bytes(b: Buffer): AsyncIterable<Buffer> {
  yield b;
}

describe('entry names', () => {
  test('cleanEntryName keeps relative names and refuses .., absolute and empty ones', () => {
    assert.equal(cleanEntryName('./blobs//sha256/ab/'), 'blobs/sha256/ab');
    for (const bad of ['../evil', 'a/../../b', 'a/..', '/etc/passwd', '', './', 'a\0b']) {
      assert.throws(() => cleanEntryName(bad), (err: unknown) => isBerthError(err, 'ARCHIVE_INVALID'), bad);
    }
  });
  test('linkTarget resolves symlinks from the link directory and hardlinks from the root', () => {
    assert.equal(linkTarget('b/layer.tar', 'symlink', '../a/layer.tar'), 'a/layer.tar');
    assert.equal(linkTarget('b/layer.tar', 'hardlink', 'a/layer.tar'), 'a/layer.tar');
    assert.throws(() => linkTarget('b/layer.tar', 'symlink', '../../x'), /outside the archive/);
    assert.throws(() => linkTarget('b/layer.tar', 'symlink', '/etc/shadow'), /absolute/);
  });
});

describe('import of good archives', () => {
  test('an OCI archive (plain and gzip tar, and a stream) imports with its name and manifest digest', async () => {
    const img = await tinyImage();
    for (const wrap of [(b: Buffer) => b, (b: Buffer) => gzipSync(b)]) {
      const f = await fresh();
      const file = join(f.dir, 'oci.tar');
      await writeFile(file, wrap(await tarOf(ociEntries(img))));
      const images = await importImageArchive(file, f.store, { spoolDir: f.spoolDir });
      assert.deepEqual(images, [{ name: 'example.com/app:1', descriptor: { mediaType: MEDIA_TYPE.ociManifest, digest: sha(img.manifest), size: img.manifest.length } }]);
      for (const b of [img.gz, img.config, img.manifest]) assert.ok(await f.store.findInfo(sha(b)));
      assert.deepEqual(await readdir(f.spoolDir), []);
    }
    const f = await fresh();
    const images = await importImageArchive(bytes(await tarOf(ociEntries(img))), f.store, { spoolDir: f.spoolDir });
    assert.equal(images[0]?.descriptor.digest, sha(img.manifest));
  });

  test('a docker archive builds a schema 2 manifest whose layers are the uncompressed tars; a layer linked from a second image is read through the link', async () => {
    const a = await tinyImage('a\n');
    const f = await fresh();
    const configB = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha(a.layer)] }, config: { Cmd: ['/b'] } }));
    const entries = [
      ...dockerEntries(a).slice(0, 3),
      // Docker before 25 writes a shared layer once and symlinks the second path to it.
      { name: 'bbb/layer.tar', type: 'symlink' as const, linkname: '../aaa/layer.tar' },
      { name: `${hex(sha(configB))}.json`, data: configB },
      {
        name: 'manifest.json',
        data: JSON.stringify([
          { Config: `${hex(sha(a.config))}.json`, RepoTags: ['app:1', 'app:latest'], Layers: ['aaa/layer.tar'] },
          { Config: `${hex(sha(configB))}.json`, RepoTags: null, Layers: ['bbb/layer.tar'] },
        ]),
      },
    ];
    const images = await importImageArchive(bytes(await tarOf(entries)), f.store, { spoolDir: f.spoolDir });
    assert.deepEqual(images.map((i) => i.name), ['app:1', 'app:latest', undefined]);
    const manifest = JSON.parse((await f.store.readBlob(images[0]!.descriptor.digest)).toString());
    assert.equal(manifest.mediaType, MEDIA_TYPE.dockerManifest);
    assert.deepEqual(manifest.config, { mediaType: MEDIA_TYPE.dockerConfig, digest: sha(a.config), size: a.config.length });
    assert.deepEqual(manifest.layers, [{ mediaType: DOCKER_LAYER_TAR, digest: sha(a.layer), size: a.layer.length }]);
    assert.ok(await f.store.findInfo(sha(configB)));
  });

  test('a docker archive with a gzip layer is checked against diff_ids through gunzip', async () => {
    const img = await tinyImage();
    const f = await fresh();
    const entries = dockerEntries(img).map((e) => (e.name === 'aaa/layer.tar' ? { ...e, data: img.gz } : e));
    const [image] = await importImageArchive(bytes(await tarOf(entries)), f.store, { spoolDir: f.spoolDir });
    const manifest = JSON.parse((await f.store.readBlob(image!.descriptor.digest)).toString());
    assert.deepEqual(manifest.layers, [{ mediaType: MEDIA_TYPE.dockerLayerGzip, digest: sha(img.gz), size: img.gz.length }]);
  });
});

describe('Docker 25+ and merged tags', () => {
  test('a Docker 25+ save (an OCI layout plus manifest.json) imports through index.json, keeping the manifest and the full name', async () => {
    const layer = await tarOf([{ name: 'hello.txt', data: 'hi\n' }]);
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha(layer)] } }));
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MEDIA_TYPE.ociManifest,
        config: { mediaType: MEDIA_TYPE.ociConfig, digest: sha(config), size: config.length },
        layers: [{ mediaType: MEDIA_TYPE.ociLayer, digest: sha(layer), size: layer.length }],
      }),
    );
    const index = {
      schemaVersion: 2,
      mediaType: MEDIA_TYPE.ociIndex,
      manifests: [{ mediaType: MEDIA_TYPE.ociManifest, digest: sha(manifest), size: manifest.length, annotations: { 'io.containerd.image.name': 'docker.io/library/hello:1', 'org.opencontainers.image.ref.name': '1' } }],
    };
    const entries: Entry[] = [
      { name: 'blobs/', type: 'directory' },
      { name: 'blobs/sha256/', type: 'directory' },
      { name: `blobs/sha256/${hex(sha(config))}`, data: config },
      { name: `blobs/sha256/${hex(sha(layer))}`, data: layer },
      { name: `blobs/sha256/${hex(sha(manifest))}`, data: manifest },
      { name: 'index.json', data: JSON.stringify(index) },
      { name: 'manifest.json', data: JSON.stringify([{ Config: `blobs/sha256/${hex(sha(config))}`, RepoTags: ['hello:1'], Layers: [`blobs/sha256/${hex(sha(layer))}`] }]) },
      { name: 'oci-layout', data: '{"imageLayoutVersion":"1.0.0"}' },
      { name: 'repositories', data: '{"hello":{"1":"' + hex(sha(layer)) + '"}}' },
    ];
    const f = await fresh();
    assert.deepEqual(await importImageArchive(bytes(await tarOf(entries)), f.store), [
      { name: 'docker.io/library/hello:1', descriptor: { mediaType: MEDIA_TYPE.ociManifest, digest: sha(manifest), size: manifest.length } },
    ]);
    // A config that lies about the uncompressed layer's diff ID is caught.
    const lying = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha('x')] } }));
    const m2 = Buffer.from(manifest.toString().replace(sha(config), sha(lying)).replace(`"size":${config.length}`, `"size":${lying.length}`));
    const bad = entries.map((e) =>
      e.name === 'index.json' ? { ...e, data: JSON.stringify({ ...index, manifests: [{ ...index.manifests[0], digest: sha(m2), size: m2.length }] }) } : e,
    );
    bad.push({ name: `blobs/sha256/${hex(sha(lying))}`, data: lying }, { name: `blobs/sha256/${hex(sha(m2))}`, data: m2 });
    const g = await fresh();
    await rejectsWith(importImageArchive(bytes(await tarOf(bad)), g.store, { spoolDir: g.spoolDir }), 'CONTENT_DIGEST_MISMATCH', /layers\[0\] is sha256:[0-9a-f]{64} uncompressed, but image config/);
    await g.assertUntouched();
  });

  test('docker-archive export writes one manifest.json item per image with all its tags, and repositories for each', async () => {
    const img = await tinyImage();
    const f = await fresh();
    const [image] = await importImageArchive(bytes(await tarOf(ociEntries(img))), f.store);
    const chunks: Buffer[] = [];
    const out = new Writable({
      write(chunk: Buffer, _e, cb) {
        chunks.push(chunk);
        cb();
      },
    });
    await exportDockerArchive([{ ...image!, name: 'app:1' }, { ...image!, name: 'app:latest' }, { ...image!, name: 'example.com/other:2' }], f.store, out);
    const files = new Map<string, Buffer>();
    const extract = tar.extract();
    extract.end(Buffer.concat(chunks));
    for await (const entry of extract) {
      const parts: Buffer[] = [];
      for await (const c of entry) parts.push(c as Buffer);
      files.set(entry.header.name, Buffer.concat(parts));
    }
    const saved = JSON.parse(files.get('manifest.json')!.toString());
    assert.equal(saved.length, 1);
    assert.deepEqual(saved[0].RepoTags, ['app:1', 'app:latest', 'example.com/other:2']);
    const top = hex(sha(img.layer));
    assert.deepEqual(JSON.parse(files.get('repositories')!.toString()), { app: { '1': top, latest: top }, 'example.com/other': { '2': top } });
    assert.ok(files.get(`${top}/layer.tar`)!.equals(img.layer), 'the gzip layer is written uncompressed');
  });
});

describe('hostile archives: a clear error naming the entry, and nothing in the store', () => {
  const cases: Array<[string, () => Promise<Entry[] | Buffer>, string, RegExp]> = [
    ['a `../` entry', async () => [...ociEntries(await tinyImage()), { name: '../evil', data: 'x' }], 'ARCHIVE_INVALID', /`\.\.\/evil`/],
    ['an entry that climbs midway', async () => [{ name: 'blobs/../../evil', data: 'x' }, ...ociEntries(await tinyImage())], 'ARCHIVE_INVALID', /`blobs\/\.\.\/\.\.\/evil`/],
    ['an absolute entry', async () => [...ociEntries(await tinyImage()), { name: '/etc/cron.d/evil', data: 'x' }], 'ARCHIVE_INVALID', /`\/etc\/cron\.d\/evil`: absolute/],
    [
      'a blob whose bytes do not match its digest',
      async () => {
        const img = await tinyImage();
        const bad = Buffer.from(img.gz);
        bad[bad.length - 1] = bad[bad.length - 1]! ^ 0xff;
        return ociEntries(img).map((e) => (e.name === `blobs/sha256/${hex(sha(img.gz))}` ? { ...e, data: bad } : e));
      },
      'CONTENT_DIGEST_MISMATCH',
      /archive entry `blobs\/sha256\/[0-9a-f]{64}` hashes to sha256:/,
    ],
    [
      'a blob of another size than its descriptor',
      async () => {
        const img = await tinyImage();
        return ociEntries(img).map((e) => (e.name === `blobs/sha256/${hex(sha(img.gz))}` ? { ...e, data: Buffer.concat([img.gz, Buffer.from('x')]) } : e));
      },
      'CONTENT_SIZE_MISMATCH',
      /blobs\/sha256\/[0-9a-f]{64}` is \d+ bytes, but manifest sha256:[0-9a-f]{64} layers\[0\] says/,
    ],
    [
      'a symlink named like a blob',
      async () => {
        const img = await tinyImage();
        return ociEntries(img).map((e) => (e.name === `blobs/sha256/${hex(sha(img.gz))}` ? { name: e.name, type: 'symlink' as const, linkname: '/etc/passwd' } : e));
      },
      'ARCHIVE_INVALID',
      /archive entry `blobs\/sha256\/[0-9a-f]{64}` is a symlink; blobs must be regular files/,
    ],
    [
      'a hardlink named like a blob',
      async () => {
        const img = await tinyImage();
        return [{ name: 'x', data: 'x' }, ...ociEntries(img).map((e) => (e.name === `blobs/sha256/${hex(sha(img.config))}` ? { name: e.name, type: 'link' as const, linkname: 'x' } : e))];
      },
      'ARCHIVE_INVALID',
      /is a hardlink; blobs must be regular files/,
    ],
    [
      'a layer.tar symlink to an absolute path',
      async () => dockerEntries(await tinyImage()).map((e) => (e.name === 'aaa/layer.tar' ? { name: e.name, type: 'symlink' as const, linkname: '/etc/shadow' } : e)),
      'ARCHIVE_INVALID',
      /`aaa\/layer\.tar`: symlink to absolute path `\/etc\/shadow`/,
    ],
    [
      'a layer.tar symlink that climbs out',
      async () => dockerEntries(await tinyImage()).map((e) => (e.name === 'aaa/layer.tar' ? { name: e.name, type: 'symlink' as const, linkname: '../../x' } : e)),
      'ARCHIVE_INVALID',
      /`aaa\/layer\.tar`: symlink to `\.\.\/\.\.\/x` points outside the archive/,
    ],
    [
      'a layer.tar symlink to nothing',
      async () => dockerEntries(await tinyImage()).map((e) => (e.name === 'aaa/layer.tar' ? { name: e.name, type: 'symlink' as const, linkname: 'gone.tar' } : e)),
      'ARCHIVE_INVALID',
      /`aaa\/layer\.tar` links to `aaa\/gone\.tar`, which the archive does not have/,
    ],
    [
      'manifest.json naming a missing layer',
      async () => {
        const img = await tinyImage();
        return dockerEntries(img, [{ Config: `${hex(sha(img.config))}.json`, RepoTags: ['app:1'], Layers: ['zzz/layer.tar'] }]);
      },
      'ARCHIVE_INVALID',
      /Layers\[0\] is `zzz\/layer\.tar`, which the archive does not have/,
    ],
    [
      'manifest.json naming a layer outside the archive',
      async () => {
        const img = await tinyImage();
        return dockerEntries(img, [{ Config: `${hex(sha(img.config))}.json`, RepoTags: ['app:1'], Layers: ['../../etc/shadow'] }]);
      },
      'ARCHIVE_INVALID',
      /Layers\[0\] `\.\.\/\.\.\/etc\/shadow`: `\.\.` is not allowed/,
    ],
    [
      'an oversized manifest.json',
      async () => [...dockerEntries(await tinyImage()).slice(0, 3), { name: 'manifest.json', data: Buffer.alloc(5 << 20, 0x20) }],
      'ARCHIVE_INVALID',
      /archive entry `manifest\.json` is 5242880 bytes, more than the 4194304 allowed/,
    ],
    [
      'a layer that is not what the config says',
      async () => {
        const img = await tinyImage();
        const other = await tarOf([{ name: 'evil', data: 'x' }]);
        return dockerEntries(img).map((e) => (e.name === 'aaa/layer.tar' ? { ...e, data: other } : e));
      },
      'CONTENT_DIGEST_MISMATCH',
      /layer `aaa\/layer\.tar` has diff ID sha256:[0-9a-f]{64}, but config `[0-9a-f]{64}\.json` says rootfs\.diff_ids\[0\]/,
    ],
    [
      'an unknown layer media type',
      async () => {
        const img = await tinyImage();
        const m = JSON.parse(img.manifest.toString());
        m.layers[0].mediaType = 'application/x-evil';
        img.manifest = Buffer.from(JSON.stringify(m));
        return ociEntries(img);
      },
      'MANIFEST_UNSUPPORTED',
      /layers\[0\] \(sha256:[0-9a-f]{64}\) has media type `application\/x-evil`/,
    ],
    [
      'index.json naming a manifest the archive lacks',
      async () => ociEntries(await tinyImage()).filter((e) => !e.name.startsWith('blobs/')),
      'ARCHIVE_INVALID',
      /index\.json manifests\[0\] names blob sha256:[0-9a-f]{64}, but the archive has no `blobs\/sha256\//,
    ],
    ['a device node', async () => [...ociEntries(await tinyImage()), { name: 'dev/evil', type: 'character-device' as const }], 'ARCHIVE_INVALID', /`dev\/evil` is a character-device/],
    ['an entry twice', async () => [...ociEntries(await tinyImage()), { name: 'index.json', data: '{}' }], 'ARCHIVE_INVALID', /`index\.json` appears twice/],
    ['an index.json that is not JSON', async () => ociEntries(await tinyImage()).map((e) => (e.name === 'index.json' ? { ...e, data: '{nope' } : e)), 'MANIFEST_INVALID', /manifest `index\.json`: not valid JSON/],
    ['an oci-layout of another version', async () => ociEntries(await tinyImage()).map((e) => (e.name === 'oci-layout' ? { ...e, data: '{"imageLayoutVersion":"2.0.0"}' } : e)), 'ARCHIVE_INVALID', /`oci-layout` must be/],
    ['neither format', async () => [{ name: 'hello', data: 'x' }], 'ARCHIVE_INVALID', /neither an OCI image layout/],
    ['a bzip2 archive', async () => Buffer.from('BZh91AY&SY' + 'x'.repeat(100)), 'ARCHIVE_INVALID', /the archive is bzip2-compressed/],
    ['garbage', async () => Buffer.from('this is not a tar archive at all, just text that goes on and on'.repeat(20)), 'ARCHIVE_INVALID', /not a readable tar stream/],
    ['a truncated tar', async () => (await tarOf(ociEntries(await tinyImage()))).subarray(0, 1500), 'ARCHIVE_INVALID', /not a readable tar stream|missing from the archive/],
  ];
  for (const [what, make, code, text] of cases) {
    test(what, async () => {
      const made = await make();
      const archive = Buffer.isBuffer(made) ? made : await tarOf(made);
      const f = await fresh();
      await rejectsWith(importImageArchive(bytes(archive), f.store, { spoolDir: f.spoolDir }), code, text);
      await f.assertUntouched();
    });
  }

  test('an OCI layout directory whose blob is a symlink is refused, naming it', async () => {
    const img = await tinyImage();
    const f = await fresh();
    const dir = join(f.dir, 'layout');
    await mkdir(join(dir, 'blobs/sha256'), { recursive: true });
    for (const e of ociEntries(img)) {
      if (e.name === `blobs/sha256/${hex(sha(img.config))}`) await symlink('/etc/passwd', join(dir, e.name));
      else await writeFile(join(dir, e.name), e.data ?? '');
    }
    await rejectsWith(importImageArchive(dir, f.store), 'ARCHIVE_INVALID', /`blobs\/sha256\/[0-9a-f]{64}` is a symlink/);
    await f.assertUntouched();
  });
});

describe('export refuses before writing', () => {
  test('a missing blob fails before a byte is written, and a layout directory is not left behind', async () => {
    const img = await tinyImage();
    const f = await fresh();
    const [image] = await importImageArchive(bytes(await tarOf(ociEntries(img))), f.store);
    await f.store.delete(sha(img.gz));
    for (const exporter of [exportOciArchive, exportDockerArchive]) {
      let written = 0;
      const out = new Writable({
        write(chunk: Buffer, _e, cb) {
          written += chunk.length;
          cb();
        },
      });
      await rejectsWith(exporter([image!], f.store, out), 'CONTENT_NOT_FOUND', new RegExp(`image \`example.com/app:1\`( layers\\[0\\])?: blob ${sha(img.gz)} is not in the content store`));
      assert.equal(written, 0);
    }
    await rejectsWith(exportOciLayout([image!], f.store, join(f.dir, 'out')), 'CONTENT_NOT_FOUND', /is not in the content store/);
    assert.deepEqual((await readdir(f.dir)).sort(), ['spool', 'store']);
  });

  test('an output that fails midway ends the export with its error', async () => {
    const img = await tinyImage(randomText(3 << 20));
    const f = await fresh();
    const [image] = await importImageArchive(bytes(await tarOf(ociEntries(img))), f.store);
    for (const exporter of [exportOciArchive, exportDockerArchive]) {
      let seen = 0;
      const out = new Writable({
        highWaterMark: 1024,
        write(chunk: Buffer, _e, cb) {
          seen += chunk.length;
          cb(seen > 64 << 10 ? new Error('connection reset by peer') : null);
        },
      });
      await assert.rejects(exporter([image!], f.store, out), /connection reset by peer/);
    }
  });

  test('a bad name is refused, and a non-empty target directory too', async () => {
    const img = await tinyImage();
    const f = await fresh();
    const [image] = await importImageArchive(bytes(await tarOf(ociEntries(img))), f.store);
    await rejectsWith(exportOciArchive([{ ...image!, name: 'Bad:Name' }], f.store, new PassThrough()), 'REFERENCE_INVALID', /Bad:Name/);
    await writeFile(join(f.dir, 'spool', 'x'), 'x');
    await rejectsWith(exportOciLayout([image!], f.store, join(f.dir, 'spool')), 'ARGUMENT_INVALID', /exists and is not empty/);
  });
});
