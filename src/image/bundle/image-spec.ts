/**
 * Image config + caller's overrides → the OCI spec of a container, as
 * `docker run` builds it (moby daemon/oci_linux.go and container create):
 *
 *   args     Entrypoint + Cmd. An override Cmd replaces the image's; an
 *            override Entrypoint replaces the image's and drops the image's
 *            Cmd (`docker run --entrypoint`). Empty is an error.
 *   env      PATH default, HOSTNAME (when a hostname is given), TERM=xterm
 *            (with a terminal), then the image's Env, then the overrides,
 *            each replacing an earlier entry of the same key; an override
 *            `KEY` without `=` removes KEY.
 *   cwd      WorkingDir (override first), cleaned; `/` when unset.
 *   user     resolved by `image-user.ts`; capabilities stay in the
 *            permitted and effective sets only for uid 0, as moby's
 *            `SetCapabilities` does ("to match what execve does").
 *   seccomp  Docker's default profile resolved against the bounding set.
 *   rlimits  RLIMIT_NOFILE 1048576 (what dockerd's systemd unit gives
 *            every container).
 *
 * Image metadata with no place in the runtime spec is carried as
 * annotations (see `ANNOTATIONS`). Labels are not copied one by one into
 * annotations: runtimes act on some annotation keys (`run.oci.*` in crun,
 * `org.systemd.property.*` in runc), and an image must not steer the
 * runtime (DESIGN.md rule 7).
 */
import { posix } from 'node:path';

import { BerthError } from '../../errors/index.js';
import type { ImageConfig } from '../manifest/types.js';
import type { LinuxSeccomp, POSIXRlimit, Spec } from '../../oci/runtime-spec.js';
import { DEFAULT_PATH_ENV, dockerDefaultSpec, type DockerDefaultSpecOptions } from './default-spec.js';
import { defaultSeccomp, type SeccompSetupOptions } from './seccomp-default.js';

/** The annotation keys `imageSpec` writes. */
export const ANNOTATIONS = {
  /** The image's StopSignal (OCI image-spec conversion.md). */
  stopSignal: 'org.opencontainers.image.stopSignal',
  /** The image's ExposedPorts keys, comma-separated (OCI image-spec conversion.md): `80/tcp,53/udp`. */
  exposedPorts: 'org.opencontainers.image.exposedPorts',
  /** The image's Volumes paths, as a JSON array. */
  volumes: 'berth.io/image.volumes',
  /** The image's Labels with the caller's `labels` over them, as a JSON object. */
  labels: 'berth.io/image.labels',
  /** The image reference the bundle was made from, when given. */
  image: 'berth.io/image.name',
} as const;

/** Docker's RLIMIT_NOFILE for containers (LimitNOFILE of docker.service, inherited). */
export const DEFAULT_NOFILE = 1048576;

/** What the caller can change on top of the image (what `docker run` flags change). */
export interface ImageSpecOverrides {
  /** Replaces the image's Entrypoint and drops its Cmd (`--entrypoint`). `[]` clears the entrypoint. */
  entrypoint?: string[];
  /** Replaces the image's Cmd (the arguments after the image name). */
  cmd?: string[];
  /** `KEY=VALUE` sets, `KEY` alone removes (`-e`). */
  env?: string[];
  /** Absolute path (`-w`). */
  workingDir?: string;
  /** User spec (`-u`): user, uid, user:group, uid:gid. */
  user?: string;
  /** Supplementary groups by name or number (`--group-add`). */
  groupAdd?: string[];
  hostname?: string;
  /** Allocate a terminal (`-t`); adds TERM=xterm. */
  terminal?: boolean;
  /** Mount the rootfs read-only (`--read-only`). */
  readonlyRootfs?: boolean;
  /** `linux.cgroupsPath` (`--cgroup-parent` and the container's own name). */
  cgroupsPath?: string;
  /** Capabilities added to Docker's 14 (`--cap-add`), `CAP_` optional. */
  capAdd?: string[];
  /** Capabilities removed (`--cap-drop`); `ALL` removes every one, then `capAdd` applies. */
  capDrop?: string[];
  /** `--security-opt no-new-privileges`. */
  noNewPrivileges?: boolean;
  /** Replaces the default rlimits (RLIMIT_NOFILE 1048576/1048576), e.g. where the runtime cannot raise its own hard limit (no CAP_SYS_RESOURCE). */
  rlimits?: POSIXRlimit[];
  /** `default` (Docker's profile, the default), `unconfined` (no filter), or a filter of the caller's. */
  seccomp?: 'default' | 'unconfined' | LinuxSeccomp;
  /** Labels over the image's (`--label`). */
  labels?: Record<string, string>;
  /** Annotations of the caller's, over everything `imageSpec` writes. */
  annotations?: Record<string, string>;
}

/** The resolved process user (from `resolveImageUser`). */
export interface SpecUser {
  uid: number;
  gid: number;
  additionalGids: number[];
}

export interface ImageSpecOptions extends ImageSpecOverrides {
  /** The image reference, for messages and the `berth.io/image.name` annotation. */
  image?: string;
  /** For tests: the host facts the default spec and seccomp depend on. */
  defaults?: DockerDefaultSpecOptions;
  seccompSetup?: SeccompSetupOptions;
}

function of(image: string | undefined): string {
  return image ? ` of image \`${image}\`` : '';
}

function checkStrings(value: unknown, field: string, code: 'IMAGE_CONFIG_INVALID' | 'ARGUMENT_INVALID'): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string' || v.includes('\0'))) {
    throw new BerthError(code, `${field} must be a list of strings without NUL bytes`, { field });
  }
  return value as string[];
}

/** The process arguments: Entrypoint + Cmd with Docker's override rules. */
export function processArgs(config: ImageConfig, options: ImageSpecOptions = {}): string[] {
  const c = config.config ?? {};
  const imageEntrypoint = checkStrings(c.Entrypoint, 'config.Entrypoint', 'IMAGE_CONFIG_INVALID');
  const imageCmd = checkStrings(c.Cmd, 'config.Cmd', 'IMAGE_CONFIG_INVALID');
  const entrypoint = checkStrings(options.entrypoint, 'entrypoint', 'ARGUMENT_INVALID');
  const cmd = checkStrings(options.cmd, 'cmd', 'ARGUMENT_INVALID');
  const args = entrypoint !== undefined ? [...entrypoint, ...(cmd ?? [])] : [...(imageEntrypoint ?? []), ...(cmd ?? imageCmd ?? [])];
  if (args.length === 0 || args[0] === '') {
    throw new BerthError('IMAGE_CONFIG_INVALID', `no command specified${of(options.image)}: the image has no Entrypoint or Cmd and none was given`);
  }
  return args;
}

function envKey(entry: string): string {
  const eq = entry.indexOf('=');
  return eq < 0 ? entry : entry.slice(0, eq);
}

/** moby's ReplaceOrAppendEnvValues: overrides replace entries with the same key, `KEY` alone removes it. */
export function replaceOrAppendEnv(base: readonly string[], overrides: readonly string[]): string[] {
  const out: Array<string | undefined> = [...base];
  const index = new Map<string, number>();
  out.forEach((e, i) => index.set(envKey(e!), i));
  for (const o of overrides) {
    const key = envKey(o);
    const i = index.get(key);
    if (!o.includes('=')) {
      if (i !== undefined) out[i] = undefined;
      continue;
    }
    if (i !== undefined && out[i] !== undefined) out[i] = o;
    else {
      index.set(key, out.length);
      out.push(o);
    }
  }
  return out.filter((e): e is string => e !== undefined);
}

/** The process environment, in Docker's order and precedence. */
export function processEnv(config: ImageConfig, options: ImageSpecOptions = {}): string[] {
  const imageEnv = checkStrings(config.config?.Env, 'config.Env', 'IMAGE_CONFIG_INVALID') ?? [];
  for (const [i, e] of imageEnv.entries()) {
    if (e.indexOf('=') <= 0) {
      throw new BerthError('IMAGE_CONFIG_INVALID', `config.Env[${i}]${of(options.image)}: \`${e}\` is not KEY=VALUE`, { field: `config.Env[${i}]` });
    }
  }
  const overrides = checkStrings(options.env, 'env', 'ARGUMENT_INVALID') ?? [];
  for (const [i, e] of overrides.entries()) {
    if (envKey(e) === '') throw new BerthError('ARGUMENT_INVALID', `env[${i}]: \`${e}\` has an empty name`, { field: `env[${i}]` });
  }
  const base = [DEFAULT_PATH_ENV];
  if (options.hostname !== undefined) base.push(`HOSTNAME=${options.hostname}`);
  if (options.terminal) base.push('TERM=xterm');
  return replaceOrAppendEnv(base, [...imageEnv, ...overrides]);
}

/** The user spec that applies: the override, else the image's User, else root. */
export function userSpec(config: ImageConfig, options: ImageSpecOverrides = {}): string {
  const spec = options.user ?? config.config?.User ?? '';
  if (typeof spec !== 'string') throw new BerthError('IMAGE_CONFIG_INVALID', 'config.User must be a string', { field: 'config.User' });
  return spec;
}

/** The working directory that applies, cleaned: the override, else the image's WorkingDir, else `/`. */
export function workingDir(config: ImageConfig, options: ImageSpecOptions = {}): string {
  const fromOverride = options.workingDir !== undefined;
  const dir = options.workingDir ?? config.config?.WorkingDir ?? '';
  const field = fromOverride ? 'workingDir' : 'config.WorkingDir';
  const code = fromOverride ? 'ARGUMENT_INVALID' : 'IMAGE_CONFIG_INVALID';
  if (typeof dir !== 'string' || dir.includes('\0')) throw new BerthError(code, `${field} must be a string without NUL bytes`, { field });
  if (dir === '') return '/';
  if (!dir.startsWith('/')) {
    throw new BerthError(code, `${field}${of(options.image)}: the working directory \`${dir}\` is invalid, it needs to be an absolute path`, { field });
  }
  return posix.normalize(dir).replace(/(.)\/$/, '$1');
}

function capName(name: string, field: string): string {
  const up = name.toUpperCase();
  const cap = up.startsWith('CAP_') ? up : `CAP_${up}`;
  if (!/^CAP_[A-Z_]+$/.test(cap)) throw new BerthError('ARGUMENT_INVALID', `${field}: \`${name}\` is not a capability name`, { field });
  return cap;
}

/** Docker's 14 capabilities with `capDrop` then `capAdd` applied (moby caps.TweakCapabilities, without privileged). */
export function capabilities(base: readonly string[], options: ImageSpecOverrides = {}): string[] {
  const drops = (options.capDrop ?? []).map((c) => (c.toUpperCase() === 'ALL' ? 'ALL' : capName(c, 'capDrop')));
  let caps = drops.includes('ALL') ? [] : base.filter((c) => !drops.includes(c));
  for (const c of options.capAdd ?? []) {
    if (c.toUpperCase() === 'ALL') throw new BerthError('ARGUMENT_INVALID', 'capAdd: ALL (privileged) is not supported', { field: 'capAdd' });
    const cap = capName(c, 'capAdd');
    if (!caps.includes(cap)) caps = [...caps, cap];
  }
  return caps;
}

function annotationsFor(config: ImageConfig, options: ImageSpecOptions): Record<string, string> {
  const c = config.config ?? {};
  const out: Record<string, string> = {};
  const labels = { ...(c.Labels ?? {}), ...(options.labels ?? {}) };
  if (Object.keys(labels).length > 0) out[ANNOTATIONS.labels] = JSON.stringify(labels);
  if (typeof c.StopSignal === 'string' && c.StopSignal !== '') out[ANNOTATIONS.stopSignal] = c.StopSignal;
  const ports = Object.keys(c.ExposedPorts ?? {});
  if (ports.length > 0) out[ANNOTATIONS.exposedPorts] = ports.join(',');
  const volumes = Object.keys(c.Volumes ?? {});
  if (volumes.length > 0) out[ANNOTATIONS.volumes] = JSON.stringify(volumes);
  if (options.image) out[ANNOTATIONS.image] = options.image;
  return { ...out, ...(options.annotations ?? {}) };
}

/**
 * The container spec for `config` run as `user` (resolved through the
 * image's files by the caller; `bundle.ts` does it). Pure apart from
 * reading host facts (kernel release, architecture, thermal_throttle
 * paths) that tests can pass in.
 */
export function imageSpec(config: ImageConfig, user: SpecUser, options: ImageSpecOptions = {}): Spec {
  const spec = dockerDefaultSpec(options.defaults);
  const proc = spec.process!;
  proc.args = processArgs(config, options);
  proc.env = processEnv(config, options);
  proc.cwd = workingDir(config, options);
  proc.terminal = options.terminal ?? false;
  proc.user = { uid: user.uid, gid: user.gid };
  if (user.additionalGids.length > 0) proc.user.additionalGids = [...user.additionalGids];
  const caps = capabilities(proc.capabilities!.bounding!, options);
  proc.capabilities = user.uid === 0 ? { bounding: caps, permitted: [...caps], effective: [...caps] } : { bounding: caps };
  proc.rlimits = options.rlimits ? options.rlimits.map((r) => ({ ...r })) : [{ type: 'RLIMIT_NOFILE', hard: DEFAULT_NOFILE, soft: DEFAULT_NOFILE }];
  proc.noNewPrivileges = options.noNewPrivileges ?? false;
  spec.root = { path: 'rootfs', readonly: options.readonlyRootfs ?? false };
  if (options.hostname !== undefined) {
    if (options.hostname.length > 64 || /[\0/]/.test(options.hostname)) {
      throw new BerthError('ARGUMENT_INVALID', `hostname \`${options.hostname}\` must be at most 64 characters without \`/\` or NUL`, { field: 'hostname' });
    }
    spec.hostname = options.hostname;
  }
  const linux = spec.linux!;
  if (options.cgroupsPath !== undefined) linux.cgroupsPath = options.cgroupsPath;
  const seccomp = options.seccomp ?? 'default';
  if (seccomp === 'default') linux.seccomp = defaultSeccomp(caps, options.seccompSetup);
  else if (seccomp !== 'unconfined') linux.seccomp = structuredClone(seccomp);
  const annotations = annotationsFor(config, options);
  if (Object.keys(annotations).length > 0) spec.annotations = annotations;
  return spec;
}
