/**
 * From image to running container: images built here (busybox-static, an
 * /etc/passwd layer, a config with Entrypoint, Cmd, Env, User, WorkingDir)
 * are pushed to Debian's docker-registry, pulled and unpacked by berth,
 * registered as overlay snapshots, and turned into bundles by
 * `createBundle`, which runc and berth-runtime then run. What the container
 * prints about itself (ids, groups, cwd, env, args, capabilities, seccomp,
 * masked paths) is checked against what Docker gives the same image.
 * Bad images (unknown user, /etc/passwd linked to the host's, a WorkingDir
 * linked out of the rootfs) fail with clear errors and leave nothing
 * mounted and no bundle directory.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { lstat, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { isBerthError } from '../../src/errors/index.js';
import { ANNOTATIONS, createBundle, DEFAULT_NOFILE, MAX_MOUNT_DATA_BYTES, mountCommand, removeBundle, type CreateBundleOptions } from '../../src/image/bundle/index.js';
import { LocalContentStore } from '../../src/image/content/index.js';
import { RegistryClient } from '../../src/image/distribution/index.js';
import { pullAndUnpack } from '../../src/image/distribution/pull-and-unpack.js';
import type { ImageConfig } from '../../src/image/manifest/index.js';
import { OverlaySnapshotter, snapshotsFromLayers, type Mount } from '../../src/image/snapshot/index.js';
import { mountsUnder, withLeakCheck } from '../helpers/leaks.js';
import { TEST_TMP_PREFIX, testTmpRoot } from '../helpers/paths.js';
import { DOCKER_REGISTRY_BIN, startDockerRegistry, type RegistryServer } from '../helpers/registry/docker-registry.js';
import { buildImageLayout, busyboxLayer, type LayerEntry } from '../helpers/registry/image-with-config.js';
import { requires, which } from '../helpers/requires.js';
import { describeResult, runtimeCli, type RuntimeName } from '../helpers/run.js';

const skip =
  requires('root', 'overlay', 'busybox', 'runc', 'berth-runtime') ??
  (!existsSync(DOCKER_REGISTRY_BIN) ? 'needs docker-registry (apt docker-registry)' : !which('skopeo') ? 'needs skopeo' : undefined);

/**
 * RLIMIT_NOFILE for the containers: Docker's 1048576, unless this process
 * cannot raise its hard limit that far (no CAP_SYS_RESOURCE, as in some
 * sandboxes), where the runtime's setrlimit would fail with EPERM; then
 * the current hard limit.
 */
function nofileForHost(): number {
  const capEff = BigInt(`0x${/^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))![1]}`);
  const CAP_SYS_RESOURCE = 24n;
  if ((capEff >> CAP_SYS_RESOURCE) & 1n) return DEFAULT_NOFILE;
  const hard = Number(/^Max open files\s+\S+\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))![1]);
  return Math.min(hard, DEFAULT_NOFILE);
}
const NOFILE = nofileForHost();
const RLIMITS = NOFILE === DEFAULT_NOFILE ? {} : { rlimits: [{ type: 'RLIMIT_NOFILE', hard: NOFILE, soft: NOFILE }] };

/** Docker's 14 default capabilities as /proc/self/status prints them. */
const DOCKER_CAPS_MASK = '00000000a80425fb';

const APPLETS = ['sh', 'id', 'pwd', 'env', 'cat', 'wc', 'ls', 'grep', 'unshare', 'hostname', 'echo'];

/** Prints what the container sees, one KEY=VALUE line each. */
const SCRIPT = `
echo "uid=$(id -u)"
echo "gid=$(id -g)"
echo "groups=$(id -G)"
echo "pwd=$(pwd)"
echo "hostname=$(hostname)"
echo "nofile=$(ulimit -n)"
for a in "$0" "$@"; do echo "arg=$a"; done
env | while read -r l; do echo "env=$l"; done
grep -E '^(CapEff|CapPrm|CapBnd|Seccomp):' /proc/self/status | while read -r k v; do echo "$k$v"; done
echo "interrupts=$(wc -c < /proc/interrupts)"
echo "timerlist=$(wc -c < /proc/timer_list)"
echo "firmware=$(ls -A /sys/firmware | wc -l)"
out=$(unshare -U true 2>&1); echo "unshare=$? $out"
if echo x 2>/dev/null > /written; then echo "write=ok"; else echo "write=denied"; fi
while read -r l; do echo "cgroup=$l"; done < /proc/self/cgroup
`;

const PASSWD = 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n';
const GROUP = 'root:x:0:\nwheel:x:10:app\naudio:x:29:app,other\napp:x:1000:\nstaff:x:50:\n';

const GOOD_CONFIG: NonNullable<ImageConfig['config']> = {
  Entrypoint: ['/bin/sh', '-c', SCRIPT, 'berth-script'],
  Cmd: ['first arg', 'second'],
  Env: ['PATH=/bin', 'IMG=1', 'OVER=image'],
  User: 'app',
  WorkingDir: '/srv/work',
  StopSignal: 'SIGQUIT',
  ExposedPorts: { '8080/tcp': {} },
  Volumes: { '/data': {} },
  Labels: { 'org.example.role': 'test' },
};

function usersLayer(extra: LayerEntry[] = []): LayerEntry[] {
  return [
    { name: 'etc/', type: 'directory' },
    { name: 'etc/passwd', data: PASSWD },
    { name: 'etc/group', data: GROUP },
    { name: 'home/', type: 'directory' },
    { name: 'home/app/', type: 'directory', uid: 1000, gid: 1000 },
    ...extra,
  ];
}

/** The container's report: every line split at the first `=` (or `:` for /proc/self/status lines). */
interface Report {
  one(key: string): string;
  all(key: string): string[];
}

function parseReport(stdout: string): Report {
  const pairs: Array<[string, string]> = [];
  for (const line of stdout.split('\n')) {
    const m = /^([A-Za-z]+)[=:](.*)$/.exec(line);
    if (m) pairs.push([m[1]!, m[2]!]);
  }
  return {
    one(key) {
      const v = pairs.filter(([k]) => k === key).map(([, v]) => v);
      assert.equal(v.length, 1, `one \`${key}\` line expected in:\n${stdout}`);
      return v[0]!;
    },
    all: (key) => pairs.filter(([k]) => k === key).map(([, v]) => v),
  };
}

describe('bundles from images, run by runc and berth-runtime', { skip }, () => {
  let work: string;
  let reg: RegistryServer;
  let sn: OverlaySnapshotter;
  let client: RegistryClient;
  /** Image name → its config and the chain ID to prepare snapshots on. */
  const images = new Map<string, { ref: string; config: ImageConfig; chainId: string }>();
  let seq = 0;

  async function addImage(name: string, layers: LayerEntry[][], config: NonNullable<ImageConfig['config']>): Promise<void> {
    const layout = await buildImageLayout(join(work, 'layouts', name), { layers, config });
    execFileSync('skopeo', ['--insecure-policy', 'copy', '--dest-tls-verify=false', `oci:${layout.dir}:1`, `docker://${reg.host}/${name}:1`], { stdio: 'pipe' });
    const ref = `${reg.host}/${name}:1`;
    const store = new LocalContentStore(join(work, 'content'));
    const pulled = await pullAndUnpack(client, store, ref, join(work, 'layers'));
    const snaps = await snapshotsFromLayers(sn, pulled.layers);
    images.set(name, { ref, config: pulled.config, chainId: snaps.at(-1)!.chainId });
  }

  /** A fresh active snapshot of `name` and a bundle path beside it; the caller removes both. */
  async function prepare(name: string): Promise<{ key: string; mounts: Mount[]; dir: string; ref: string; config: ImageConfig }> {
    const img = images.get(name)!;
    const key = `ctr-${name}-${++seq}`;
    return { key, mounts: await sn.prepare(key, img.chainId), dir: join(work, 'bundles', key), ref: img.ref, config: img.config };
  }

  async function runBundle(
    runtime: RuntimeName,
    name: string,
    overrides: Partial<CreateBundleOptions> = {},
  ): Promise<{ id: string; report: Report; upper: string; spec: object; cleanup: () => Promise<void> }> {
    const p = await prepare(name);
    const id = `berth-test-bundle-${runtime}-${seq}`;
    const bundle = await createBundle(p.dir, { config: p.config, mounts: p.mounts, image: p.ref, hostname: 'bundle-test', cgroupsPath: `/${id}`, ...RLIMITS, ...overrides });
    await using rt = await runtimeCli(runtime);
    try {
      const r = await rt.run(['run', '--bundle', bundle.dir, id], { timeoutMs: 60_000 });
      assert.equal(r.code, 0, describeResult(r));
      return {
        id,
        report: parseReport(r.stdout),
        upper: await sn.directory(p.key),
        spec: bundle.spec,
        cleanup: async () => {
          await sn.remove(p.key);
        },
      };
    } finally {
      await bundle.remove();
      assert.deepEqual(mountsUnder(bundle.dir), [], 'the rootfs is unmounted');
      assert.equal(existsSync(bundle.dir), false, 'the bundle directory is gone');
    }
  }

  before(async () => {
    work = await mkdtemp(join(testTmpRoot(), `${TEST_TMP_PREFIX}image-bundle-`));
    await mkdir(join(work, 'bundles'));
    reg = await startDockerRegistry();
    client = new RegistryClient({ retry: { attempts: 2, baseDelayMs: 10 } });
    sn = await new OverlaySnapshotter(join(work, 'snapshots')).init();
    const base = await busyboxLayer(APPLETS);
    await addImage('good', [base, usersLayer()], GOOD_CONFIG);
    await addImage('nouser', [base, usersLayer()], { ...GOOD_CONFIG, User: 'ghost' });
    // /etc/passwd is a link that, followed on the host, reads the host's own /etc/passwd.
    const passwdToHost: LayerEntry[] = [
      { name: 'etc/', type: 'directory' },
      { name: 'etc/passwd', type: 'symlink', linkname: '../../../../../../../../../../etc/passwd' },
    ];
    await addImage('hostpasswd', [base, passwdToHost], { ...GOOD_CONFIG, User: 'root' });
    const absToHost: LayerEntry[] = [
      { name: 'etc/', type: 'directory' },
      { name: 'etc/passwd', type: 'symlink', linkname: '/etc/passwd' },
    ];
    await addImage('abspasswd', [base, absToHost], { ...GOOD_CONFIG, User: 'root' });
    // WorkingDir /work is a link climbing out of the rootfs to a directory that does not exist on the host.
    const escapeName = `${TEST_TMP_PREFIX}escaped-workdir-${process.pid}`;
    const escape: LayerEntry[] = [{ name: 'work', type: 'symlink', linkname: `../../../../../../../../../tmp/${escapeName}` }];
    await addImage('escape', [base, usersLayer(escape)], { ...GOOD_CONFIG, User: 'root', WorkingDir: '/work/sub' });
  });

  after(async () => {
    await client?.close();
    await reg?.stop();
    if (work) {
      assert.deepEqual(mountsUnder(work), [], 'nothing is left mounted under the test directory');
      await rm(work, { recursive: true, force: true });
    }
  });

  for (const runtime of ['runc', 'berth-runtime'] as const) {
    test(`${runtime} runs a bundle made from the image as its user: ids, groups, cwd, env, args, bounding set, seccomp`, async () => {
      const { id, report, upper, spec, cleanup } = await runBundle(runtime, 'good', { env: ['OVER=override', 'NEW=2'] });
      try {
        assert.ok(report.all('cgroup').some((l) => l.endsWith(`:/${id}`)), `cgroupsPath /${id} in ${report.all('cgroup').join(' ')}`);
        assert.equal(report.one('uid'), '1000');
        assert.equal(report.one('gid'), '1000');
        assert.equal(report.one('groups'), '1000 10 29', 'primary group, then the groups /etc/group lists app in');
        assert.equal(report.one('pwd'), '/srv/work');
        assert.equal(report.one('hostname'), 'bundle-test');
        assert.equal(report.one('nofile'), String(NOFILE));
        assert.deepEqual(report.all('arg'), ['berth-script', 'first arg', 'second'], 'Entrypoint + Cmd');
        const env = report.all('env');
        for (const e of ['PATH=/bin', 'IMG=1', 'OVER=override', 'NEW=2', 'HOSTNAME=bundle-test', 'HOME=/home/app']) assert.ok(env.includes(e), `${e} in ${env.join(' ')}`);
        assert.ok(!env.includes('OVER=image'));
        // A non-root user keeps Docker's bounding set only (moby SetCapabilities).
        assert.equal(report.one('CapBnd'), DOCKER_CAPS_MASK);
        assert.equal(report.one('CapEff'), '0000000000000000');
        assert.equal(report.one('Seccomp'), '2', 'a seccomp filter is installed');
        assert.match(report.one('unshare'), /^1 .*Operation not permitted/);
        // Docker creates a missing WorkingDir; it lands in the container's own snapshot.
        const made = await stat(join(upper, 'srv/work'));
        assert.ok(made.isDirectory() && (made.mode & 0o777) === 0o755 && made.uid === 0);
        assert.deepEqual((spec as { annotations: Record<string, string> }).annotations, {
          [ANNOTATIONS.labels]: '{"org.example.role":"test"}',
          [ANNOTATIONS.stopSignal]: 'SIGQUIT',
          [ANNOTATIONS.exposedPorts]: '8080/tcp',
          [ANNOTATIONS.volumes]: '["/data"]',
          [ANNOTATIONS.image]: images.get('good')!.ref,
        });
      } finally {
        await cleanup();
      }
    });

    test(`${runtime} as root: Docker's 14 capabilities effective, the default seccomp profile denies unshare with EPERM, masked paths are empty, read-only rootfs`, async () => {
      const { report, cleanup } = await runBundle(runtime, 'good', { user: 'root', readonlyRootfs: true });
      try {
        assert.equal(report.one('write'), 'denied');
        assert.equal(report.one('uid'), '0');
        assert.equal(report.one('groups'), '0');
        assert.equal(report.one('CapEff'), DOCKER_CAPS_MASK);
        assert.equal(report.one('CapPrm'), DOCKER_CAPS_MASK);
        assert.equal(report.one('CapBnd'), DOCKER_CAPS_MASK);
        assert.match(report.one('unshare'), /^1 .*Operation not permitted/);
        // The host has content in each (checked, so that the test can fail); the container sees none.
        assert.ok(readFileSync('/proc/interrupts').length > 0 && readFileSync('/proc/timer_list').length > 0);
        assert.ok(readdirSync('/sys/firmware').length > 0);
        assert.equal(report.one('interrupts'), '0');
        assert.equal(report.one('timerlist'), '0');
        assert.equal(report.one('firmware'), '0');
      } finally {
        await cleanup();
      }
    });

    test(`${runtime} without the seccomp profile lets the same unshare through (the EPERM above is the filter's)`, async () => {
      const { report, cleanup } = await runBundle(runtime, 'good', { user: 'root', seccomp: 'unconfined' });
      try {
        assert.equal(report.one('Seccomp'), '0');
        assert.equal(report.one('write'), 'ok', 'the rootfs is writable unless asked otherwise');
        assert.equal(report.one('unshare'), '0 ');
      } finally {
        await cleanup();
      }
    });
  }

  test('user overrides resolve through the image files: uid:gid, user:group, groupAdd, a numeric uid with no entry', async () => {
    const p = await prepare('good');
    try {
      for (const [overrides, expected] of [
        [{ user: '1000:50' }, { uid: 1000, gid: 50 }],
        [{ user: 'app:audio' }, { uid: 1000, gid: 29 }],
        [{ user: 'app', groupAdd: ['staff', '4000'] }, { uid: 1000, gid: 1000, additionalGids: [10, 29, 50, 4000] }],
        [{ user: '4242' }, { uid: 4242, gid: 0 }],
      ] as const) {
        const b = await createBundle(p.dir, { config: p.config, mounts: p.mounts, ...overrides, groupAdd: 'groupAdd' in overrides ? [...overrides.groupAdd] : [] });
        try {
          assert.deepEqual(b.spec.process!.user, expected);
          assert.deepEqual(JSON.parse(await readFile(b.configPath, 'utf8')), b.spec);
          assert.equal((await stat(b.configPath)).mode & 0o777, 0o600);
        } finally {
          await b.remove();
        }
      }
    } finally {
      await sn.remove(p.key);
    }
  });

  async function assertFailsCleanly(name: string, code: string, fragments: string[], overrides: Partial<CreateBundleOptions> = {}): Promise<void> {
    const p = await prepare(name);
    try {
      await assert.rejects(createBundle(p.dir, { config: p.config, mounts: p.mounts, image: p.ref, ...overrides }), (err: unknown) => {
        assert.ok(isBerthError(err), String(err));
        assert.equal(err.code, code, err.message);
        for (const f of fragments) assert.ok(err.message.includes(f), `${err.message} should name ${f}`);
        return true;
      });
      assert.deepEqual(mountsUnder(p.dir), [], 'nothing is left mounted');
      assert.equal(existsSync(p.dir), false, 'no bundle directory is left');
    } finally {
      await sn.remove(p.key);
    }
  }

  test('an image User that /etc/passwd does not have fails naming the user and the image', async () => {
    await assertFailsCleanly('nouser', 'USER_NOT_FOUND', ['`ghost`', `\`${images.get('nouser')!.ref}\``]);
    await assertFailsCleanly('good', 'USER_NOT_FOUND', ['group `nogroup`'], { user: 'app:nogroup' });
  });

  test('an /etc/passwd linked to the host /etc/passwd is never read', async () => {
    // Followed on the host these links reach /etc/passwd, which has root: the lookup would succeed.
    assert.match(await readFile('/etc/passwd', 'utf8'), /^root:/m);
    await assertFailsCleanly('hostpasswd', 'ROOTFS_UNSAFE', ['/etc/passwd', 'climbs out of the rootfs']);
    await assertFailsCleanly('abspasswd', 'ROOTFS_UNSAFE', ['/etc/passwd', 'symbolic links']);
  });

  test('a WorkingDir linked out of the rootfs fails, and nothing is created outside it', async () => {
    const escaped = join('/tmp', `${TEST_TMP_PREFIX}escaped-workdir-${process.pid}`);
    await assertFailsCleanly('escape', 'ROOTFS_UNSAFE', ['working directory `/work/sub`', 'climbs out of the rootfs']);
    assert.equal(existsSync(escaped), false, `${escaped} was not created`);
  });

  test('bad input is refused before anything is made: relative WorkingDir, no command, an existing bundle directory', async () => {
    await assertFailsCleanly('good', 'ARGUMENT_INVALID', ['absolute path'], { workingDir: 'relative' });
    await assertFailsCleanly('good', 'IMAGE_CONFIG_INVALID', ['no command'], { entrypoint: [] });
    const p = await prepare('good');
    try {
      await mkdir(p.dir);
      await writeFile(join(p.dir, 'keep'), 'mine');
      await assert.rejects(createBundle(p.dir, { config: p.config, mounts: p.mounts }), (err: unknown) => isBerthError(err, 'BUNDLE_INVALID') && err.message.includes('already exists'));
      assert.deepEqual(await readdir(p.dir), ['keep'], 'an existing directory is left alone');
      await rm(p.dir, { recursive: true });
    } finally {
      await sn.remove(p.key);
    }
  });

  test('an overlay of 100 layers whose options exceed a page is mounted with lower directories relative to their parent', async () => {
    const root = join(work, 'many');
    const lowers: string[] = [];
    for (let i = 0; i < 100; i++) {
      const d = join(root, 'snapshots', String(i).padStart(16, '0'), 'fs');
      await mkdir(d, { recursive: true });
      await writeFile(join(d, `layer-${i}`), String(i));
      lowers.push(d);
    }
    // The image's own layers on top, then the 100 extra ones.
    const p = await prepare('good');
    try {
      const imageLowers = p.mounts[0]!.options.find((o) => o.startsWith('lowerdir='))!.slice('lowerdir='.length).split(':');
      const upper = join(root, 'upper');
      const workdir = join(root, 'work');
      await mkdir(upper);
      await mkdir(workdir);
      const m: Mount = { type: 'overlay', source: 'overlay', options: [`lowerdir=${[...imageLowers, ...lowers].join(':')}`, `upperdir=${upper}`, `workdir=${workdir}`] };
      assert.ok(m.options.join(',').length > MAX_MOUNT_DATA_BYTES, `options are ${m.options.join(',').length} bytes`);
      assert.equal(mountCommand(m, '/x').cwd, work, 'mounted from the common parent of the lower directories');
      const bundle = await createBundle(join(work, 'bundles', 'many'), { config: p.config, mounts: [m] });
      try {
        assert.equal(await readFile(join(bundle.rootfs, 'layer-0'), 'utf8'), '0');
        assert.equal(await readFile(join(bundle.rootfs, 'layer-99'), 'utf8'), '99');
        assert.ok((await lstat(join(bundle.rootfs, 'bin/busybox'))).isFile());
        assert.ok((await stat(join(upper, 'srv/work'))).isDirectory(), 'the working directory went to the upper dir');
      } finally {
        await bundle.remove();
      }
      assert.deepEqual(mountsUnder(bundle.dir), []);
    } finally {
      await sn.remove(p.key);
    }
  });

  test('removeBundle cleans up a bundle a crash left mounted', async () => {
    const p = await prepare('good');
    try {
      const b = await createBundle(p.dir, { config: p.config, mounts: p.mounts });
      assert.equal(mountsUnder(b.rootfs).length, 1);
      await removeBundle(b.dir);
      await removeBundle(b.dir);
      assert.deepEqual(mountsUnder(b.dir), []);
      assert.equal(existsSync(b.dir), false);
      assert.ok(existsSync(join(await sn.directory(p.key), 'srv/work')), 'the snapshot itself is kept');
    } finally {
      await sn.remove(p.key);
    }
  });
});

withLeakCheck();
