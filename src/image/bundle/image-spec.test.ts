import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { isBerthError } from '../../errors/index.js';
import type { ImageConfig } from '../manifest/types.js';
import { DEFAULT_PATH_ENV, DOCKER_DEFAULT_CAPABILITIES, DOCKER_MASKED_PATHS, dockerDefaultSpec, thermalThrottlePaths } from './default-spec.js';
import { ANNOTATIONS, imageSpec, processArgs, processEnv, replaceOrAppendEnv, workingDir, type ImageSpecOptions } from './image-spec.js';

const ROOT = { uid: 0, gid: 0, additionalGids: [] };
const host: ImageSpecOptions = { seccompSetup: { arch: 'amd64', kernel: '6.1.0' }, defaults: { sysfs: '/nonexistent' } };

function image(config: ImageConfig['config']): ImageConfig {
  return { architecture: 'amd64', os: 'linux', config, rootfs: { type: 'layers', diff_ids: [] } };
}

function rejectsWith(fn: () => unknown, code: string, fragment: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(isBerthError(err), String(err));
    assert.equal(err.code, code, err.message);
    assert.ok(err.message.includes(fragment), `${err.message} should name ${fragment}`);
    return true;
  });
}

test('args are Entrypoint + Cmd; an override Cmd replaces the image Cmd', () => {
  const cfg = image({ Entrypoint: ['/entry', '-v'], Cmd: ['serve', '--port=80'] });
  assert.deepEqual(processArgs(cfg), ['/entry', '-v', 'serve', '--port=80']);
  assert.deepEqual(processArgs(cfg, { cmd: ['check'] }), ['/entry', '-v', 'check']);
  assert.deepEqual(processArgs(image({ Cmd: ['/bin/sh'] })), ['/bin/sh']);
  assert.deepEqual(processArgs(image({ Entrypoint: null, Cmd: ['/bin/sh'] })), ['/bin/sh']);
});

test('an override Entrypoint drops the image Cmd, like docker run --entrypoint', () => {
  const cfg = image({ Entrypoint: ['/entry'], Cmd: ['serve'] });
  assert.deepEqual(processArgs(cfg, { entrypoint: ['/bin/sh'] }), ['/bin/sh']);
  assert.deepEqual(processArgs(cfg, { entrypoint: ['/bin/sh'], cmd: ['-c', 'true'] }), ['/bin/sh', '-c', 'true']);
  assert.deepEqual(processArgs(cfg, { entrypoint: [], cmd: ['/bin/true'] }), ['/bin/true']);
});

test('no command at all is IMAGE_CONFIG_INVALID naming the image', () => {
  rejectsWith(() => processArgs(image({}), { image: 'reg/empty:1' }), 'IMAGE_CONFIG_INVALID', '`reg/empty:1`');
  rejectsWith(() => processArgs(image({ Entrypoint: ['/e'], Cmd: ['x'] }), { entrypoint: [] }), 'IMAGE_CONFIG_INVALID', 'no command');
  rejectsWith(() => processArgs(image({ Cmd: 'sh' as unknown as string[] })), 'IMAGE_CONFIG_INVALID', 'config.Cmd');
  rejectsWith(() => processArgs(image({ Cmd: ['a'] }), { cmd: ['a\0b'] }), 'ARGUMENT_INVALID', 'cmd');
});

test('env: PATH default, image Env over it, overrides by key, KEY alone unsets', () => {
  assert.deepEqual(processEnv(image({})), [DEFAULT_PATH_ENV]);
  assert.deepEqual(processEnv(image({ Env: ['PATH=/bin', 'A=1', 'B=2'] })), ['PATH=/bin', 'A=1', 'B=2']);
  assert.deepEqual(processEnv(image({ Env: ['A=1', 'B=2'] }), { env: ['B=3', 'C=4=5', 'A'] }), [DEFAULT_PATH_ENV, 'B=3', 'C=4=5']);
  assert.deepEqual(processEnv(image({ Env: ['TERM=vt100'] }), { hostname: 'web', terminal: true }), [DEFAULT_PATH_ENV, 'HOSTNAME=web', 'TERM=vt100']);
  assert.deepEqual(replaceOrAppendEnv(['A=1'], ['A', 'A=2']), ['A=2']);
  rejectsWith(() => processEnv(image({ Env: ['NOVALUE'] }), { image: 'x' }), 'IMAGE_CONFIG_INVALID', 'config.Env[0]');
  rejectsWith(() => processEnv(image({ Env: ['=v'] })), 'IMAGE_CONFIG_INVALID', 'config.Env[0]');
  rejectsWith(() => processEnv(image({}), { env: ['=v'] }), 'ARGUMENT_INVALID', 'empty name');
});

test('working directory: override first, cleaned, / by default, relative refused', () => {
  assert.equal(workingDir(image({})), '/');
  assert.equal(workingDir(image({ WorkingDir: '/srv/app/' })), '/srv/app');
  assert.equal(workingDir(image({ WorkingDir: '/srv/../../x/./y' })), '/x/y');
  assert.equal(workingDir(image({ WorkingDir: '/srv' }), { workingDir: '/tmp' }), '/tmp');
  rejectsWith(() => workingDir(image({ WorkingDir: 'rel' }), { image: 'img' }), 'IMAGE_CONFIG_INVALID', 'absolute path');
  rejectsWith(() => workingDir(image({}), { workingDir: 'rel' }), 'ARGUMENT_INVALID', 'absolute path');
});

test('the spec is Docker default spec with the image process on top', () => {
  const cfg = image({
    Entrypoint: ['/bin/app'],
    Cmd: ['run'],
    Env: ['A=1'],
    WorkingDir: '/srv',
    User: 'app',
    StopSignal: 'SIGQUIT',
    ExposedPorts: { '80/tcp': {}, '53/udp': {} },
    Volumes: { '/data': {}, '/logs': {} },
    Labels: { maintainer: 'me', 'run.oci.keep_original_groups': '1' },
  });
  const spec = imageSpec(cfg, ROOT, { ...host, hostname: 'web-1', cgroupsPath: '/berth/web-1', image: 'reg/app:1', labels: { extra: 'yes' } });
  assert.deepEqual(spec.process!.args, ['/bin/app', 'run']);
  assert.deepEqual(spec.process!.env, [DEFAULT_PATH_ENV, 'HOSTNAME=web-1', 'A=1']);
  assert.equal(spec.process!.cwd, '/srv');
  assert.equal(spec.process!.terminal, false);
  assert.deepEqual(spec.process!.user, { uid: 0, gid: 0 });
  assert.deepEqual(spec.process!.capabilities!.effective, [...DOCKER_DEFAULT_CAPABILITIES]);
  assert.deepEqual(spec.process!.capabilities!.permitted, [...DOCKER_DEFAULT_CAPABILITIES]);
  assert.deepEqual(spec.process!.capabilities!.bounding, [...DOCKER_DEFAULT_CAPABILITIES]);
  assert.equal(spec.process!.capabilities!.inheritable, undefined);
  assert.deepEqual(spec.process!.rlimits, [{ type: 'RLIMIT_NOFILE', hard: 1048576, soft: 1048576 }]);
  assert.equal(spec.process!.noNewPrivileges, false);
  assert.deepEqual(spec.root, { path: 'rootfs', readonly: false });
  assert.equal(spec.hostname, 'web-1');
  assert.equal(spec.linux!.cgroupsPath, '/berth/web-1');
  assert.deepEqual(
    spec.linux!.namespaces!.map((n) => n.type),
    ['mount', 'network', 'uts', 'pid', 'ipc'],
  );
  assert.ok(spec.linux!.namespaces!.every((n) => n.path === undefined), 'every namespace is new: an empty network namespace, as --network none');
  assert.deepEqual(spec.linux!.maskedPaths, [...DOCKER_MASKED_PATHS]);
  assert.deepEqual(spec.linux!.readonlyPaths, ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger']);
  assert.equal(spec.linux!.seccomp!.defaultAction, 'SCMP_ACT_ERRNO');
  assert.deepEqual(spec.annotations, {
    [ANNOTATIONS.labels]: JSON.stringify({ maintainer: 'me', 'run.oci.keep_original_groups': '1', extra: 'yes' }),
    [ANNOTATIONS.stopSignal]: 'SIGQUIT',
    [ANNOTATIONS.exposedPorts]: '80/tcp,53/udp',
    [ANNOTATIONS.volumes]: '["/data","/logs"]',
    [ANNOTATIONS.image]: 'reg/app:1',
  });
  assert.ok(!Object.keys(spec.annotations!).includes('run.oci.keep_original_groups'), 'an image label never becomes a runtime annotation');
});

test('a non-root user keeps only the bounding set, as moby SetCapabilities does; additional gids are carried', () => {
  const spec = imageSpec(image({ Cmd: ['x'] }), { uid: 1000, gid: 1000, additionalGids: [10, 29] }, host);
  assert.deepEqual(spec.process!.user, { uid: 1000, gid: 1000, additionalGids: [10, 29] });
  assert.deepEqual(spec.process!.capabilities, { bounding: [...DOCKER_DEFAULT_CAPABILITIES] });
});

test('overrides: terminal, read-only rootfs, capabilities, no-new-privileges, seccomp, annotations', () => {
  const cfg = image({ Cmd: ['x'], Env: ['PATH=/bin'] });
  const spec = imageSpec(cfg, ROOT, {
    ...host,
    terminal: true,
    readonlyRootfs: true,
    capDrop: ['net_raw', 'CAP_MKNOD'],
    capAdd: ['sys_admin'],
    noNewPrivileges: true,
    annotations: { [ANNOTATIONS.image]: 'caller wins' },
  });
  assert.equal(spec.process!.terminal, true);
  assert.deepEqual(spec.process!.env, ['PATH=/bin', 'TERM=xterm']);
  assert.equal(spec.root!.readonly, true);
  const caps = spec.process!.capabilities!.bounding!;
  assert.ok(!caps.includes('CAP_NET_RAW') && !caps.includes('CAP_MKNOD') && caps.includes('CAP_SYS_ADMIN'));
  assert.equal(spec.process!.noNewPrivileges, true);
  assert.equal(spec.annotations![ANNOTATIONS.image], 'caller wins');
  // CAP_SYS_ADMIN in the bounding set turns on the seccomp rules that need it.
  const names = spec.linux!.seccomp!.syscalls!.flatMap((s) => s.names);
  assert.ok(names.includes('mount') && names.includes('unshare'));
  assert.ok(!spec.linux!.seccomp!.syscalls!.some((s) => s.names.includes('clone3') && s.action === 'SCMP_ACT_ERRNO'));

  assert.deepEqual(imageSpec(cfg, ROOT, { ...host, capDrop: ['ALL'], capAdd: ['CAP_KILL'] }).process!.capabilities!.bounding, ['CAP_KILL']);
  assert.equal(imageSpec(cfg, ROOT, { ...host, seccomp: 'unconfined' }).linux!.seccomp, undefined);
  const own = { defaultAction: 'SCMP_ACT_ALLOW' };
  assert.deepEqual(imageSpec(cfg, ROOT, { ...host, seccomp: own }).linux!.seccomp, own);
  rejectsWith(() => imageSpec(cfg, ROOT, { ...host, capAdd: ['not a cap'] }), 'ARGUMENT_INVALID', 'capAdd');
  rejectsWith(() => imageSpec(cfg, ROOT, { ...host, hostname: 'a/b' }), 'ARGUMENT_INVALID', 'hostname');
});

test('Docker default spec: mounts, devices, and thermal_throttle paths masked when the host has them', async () => {
  const spec = dockerDefaultSpec({ sysfs: '/nonexistent' });
  assert.deepEqual(
    spec.mounts!.map((m) => `${m.destination} ${m.type}`),
    ['/proc proc', '/dev tmpfs', '/dev/pts devpts', '/sys sysfs', '/sys/fs/cgroup cgroup', '/dev/mqueue mqueue', '/dev/shm tmpfs'],
  );
  assert.ok(spec.mounts!.find((m) => m.destination === '/sys')!.options!.includes('ro'));
  assert.ok(spec.mounts!.find((m) => m.destination === '/sys/fs/cgroup')!.options!.includes('ro'));
  assert.deepEqual(spec.linux!.resources!.devices![0], { allow: false, access: 'rwm' });
  assert.deepEqual(spec.linux!.resources!.devices!.at(-1), { allow: false, type: 'c', major: 10, minor: 229, access: 'rwm' });

  const sysfs = await mkdtemp(join(tmpdir(), 'berth-test-sysfs-'));
  try {
    await mkdir(join(sysfs, 'devices/system/cpu/cpu0/thermal_throttle'), { recursive: true });
    await mkdir(join(sysfs, 'devices/system/cpu/cpu2/thermal_throttle'), { recursive: true });
    await mkdir(join(sysfs, 'devices/system/cpu/cpu3'), { recursive: true });
    const { writeFile } = await import('node:fs/promises');
    await writeFile(join(sysfs, 'devices/system/cpu/possible'), '0-3\n');
    assert.deepEqual(thermalThrottlePaths(sysfs), ['/sys/devices/system/cpu/cpu0/thermal_throttle', '/sys/devices/system/cpu/cpu2/thermal_throttle']);
    assert.deepEqual(dockerDefaultSpec({ sysfs }).linux!.maskedPaths!.slice(-2), thermalThrottlePaths(sysfs));
  } finally {
    await rm(sysfs, { recursive: true, force: true });
  }
});
