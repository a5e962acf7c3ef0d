/**
 * The test probe (test/fixtures/probe/probe.c): building it on demand and the
 * shape of what it prints, so tests can assert on typed fields.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

import { probePath, probeSourceDir } from './paths.js';

/**
 * The path of the static probe, built with `make -C test/fixtures/probe` when
 * it is missing. Throws with make's output when the build fails.
 */
export function ensureProbe(): string {
  if (!existsSync(probePath)) {
    const r = spawnSync('make', ['-s', '-C', probeSourceDir], { encoding: 'utf8' });
    if (r.status !== 0 || !existsSync(probePath)) {
      throw new Error(`building the test probe failed (make -C ${probeSourceDir}):\n${r.stdout ?? ''}${r.stderr ?? ''}`);
    }
  }
  return probePath;
}

/** An rlimit value; RLIM_INFINITY is "unlimited". */
export type ProbeRlimitValue = number | 'unlimited';

export interface ProbeIds {
  real: number;
  effective: number;
  saved: number;
  fs: number;
}

export interface ProbeMount {
  id: number;
  parent: number;
  /** The root of the mount within its filesystem (mountinfo field 4). */
  root: string;
  mountPoint: string;
  /** Per-mount options: rw/ro, nosuid, nodev, noexec, relatime... */
  options: string;
  /** Optional fields verbatim: shared:N, master:N, propagate_from:N, unbindable. */
  optional: string[];
  propagation: 'shared' | 'slave' | 'private' | 'unbindable';
  fstype: string;
  source: string;
  superOptions: string;
}

/** What `probe` (no arguments) prints. */
export interface ProbeReport {
  pid: number;
  ppid: number;
  uid: ProbeIds;
  gid: ProbeIds;
  /** Supplementary groups (getgroups). */
  groups: number[];
  /** Hex masks as in /proc/self/status, 16 digits. */
  caps: { inheritable: string; permitted: string; effective: string; bounding: string; ambient: string };
  noNewPrivs: number;
  /** 0 disabled, 1 strict, 2 filter. */
  seccomp: number;
  hostname: string;
  domainname: string;
  cwd: string | null;
  /** Octal, four digits: "0022". */
  umask: string;
  /** RLIMIT_* name to [soft, hard]. */
  rlimits: Record<string, [ProbeRlimitValue, ProbeRlimitValue]>;
  oomScoreAdj: number | null;
  personality: number;
  /** fd number to readlink(/proc/self/fd/N). */
  fds: Record<string, string>;
  env: string[];
  argv: string[];
  mounts: ProbeMount[];
  /** The lines of /proc/self/cgroup. */
  cgroup: string[] | null;
  /** Namespace name to readlink(/proc/self/ns/NAME), such as "pid:[4026531836]". */
  namespaces: Record<string, string>;
  tty: {
    isatty: [number, number, number];
    ttyname: string | null;
    winsize: { rows: number; cols: number } | null;
    sid: number;
    pgrp: number;
    foreground: number;
  };
}

/** What `probe syscall|write|read|stat ...` prints. */
export interface ProbeResult {
  ret: number;
  errno: number;
  /** The errno's name (EPERM) or null on success. */
  error: string | null;
  /** `probe write`: which step the result is of. */
  stage?: 'open' | 'write';
  /** `probe read`: what was read. */
  data?: string | null;
  /** `probe stat`: the file's type, mode (octal string), owner, device numbers... */
  type?: string;
  mode?: string;
  uid?: number;
  gid?: number;
  size?: number;
  rdevMajor?: number;
  rdevMinor?: number;
}

/** Parses the last JSON line of probe output (a runtime may print before it). */
export function parseProbe<T = ProbeReport>(stdout: string): T {
  const lines = stdout.trim().split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i]!.trim();
    if (line.startsWith('{')) return JSON.parse(line) as T;
  }
  throw new Error(`no probe JSON in output:\n${stdout}`);
}

/** The environment as a map, from the probe's `env` list. */
export function envMap(report: ProbeReport): Map<string, string> {
  const m = new Map<string, string>();
  for (const kv of report.env) {
    const eq = kv.indexOf('=');
    if (eq > 0) m.set(kv.slice(0, eq), kv.slice(eq + 1));
  }
  return m;
}
