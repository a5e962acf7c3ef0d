/**
 * Device access rules (`linux.resources.devices`) for the v1 devices
 * controller, and how far they can be honoured on v2.
 *
 * The v1 controller keeps a default behaviour (allow or deny) and a list of
 * exceptions with exact type/major/minor keys (kernel security/device_cgroup.c):
 * writing a rule whose verdict differs from the default adds access bits to
 * the exception with that key; writing one with the default's verdict takes
 * bits away; writing type `a` resets the default and drops every exception,
 * and is refused (EINVAL) once the cgroup has children. `DeviceRuleState`
 * models exactly that, so an update can move from the rules the kernel
 * reports in devices.list to the new ones without the blunt "deny all, then
 * allow" that would briefly take /dev/null away from a running container
 * (the same approach as runc's devices emulator).
 */
import { BerthError } from '../../errors/index.js';
import type { LinuxDeviceCgroup } from './resources.js';

export type DeviceType = 'a' | 'c' | 'b';

export interface DeviceRule {
  allow: boolean;
  type: DeviceType;
  /** -1 is the wildcard `*`. */
  major: number;
  minor: number;
  /** Canonical order, a non-empty subset of `rwm`. */
  access: string;
}

const R = 1;
const W = 2;
const M = 4;

function accessBits(access: string): number {
  let bits = 0;
  for (const ch of access) bits |= ch === 'r' ? R : ch === 'w' ? W : ch === 'm' ? M : 0;
  return bits;
}

function accessString(bits: number): string {
  return `${bits & R ? 'r' : ''}${bits & W ? 'w' : ''}${bits & M ? 'm' : ''}`;
}

/** Validate one OCI rule and fill in its defaults (type `a`, wildcards, `rwm`). */
export function normalizeDeviceRule(rule: LinuxDeviceCgroup, index: number): DeviceRule {
  const field = `linux.resources.devices[${index}]`;
  const type = rule.type === undefined || rule.type === '' ? 'a' : rule.type;
  if (type !== 'a' && type !== 'c' && type !== 'b') {
    throw new BerthError('CONFIG_INVALID', `device rule type \`${type}\` is not valid; use a, c or b`, { field: `${field}.type` });
  }
  const access = rule.access === undefined || rule.access === '' ? 'rwm' : rule.access;
  if (!/^[rwm]+$/.test(access)) {
    throw new BerthError('CONFIG_INVALID', `device rule access \`${access}\` is not valid; use a combination of r, w and m`, {
      field: `${field}.access`,
    });
  }
  const num = (v: number | undefined, name: 'major' | 'minor'): number => {
    if (v === undefined || v === -1) return -1;
    if (!Number.isInteger(v) || v < 0) {
      throw new BerthError('CONFIG_INVALID', `device rule ${name} ${v} is not valid; use a number or -1 for all`, { field: `${field}.${name}` });
    }
    return v;
  };
  return { allow: rule.allow === true, type, major: num(rule.major, 'major'), minor: num(rule.minor, 'minor'), access: accessString(accessBits(access)) };
}

/** The v1 devices.allow / devices.deny line: `c 1:3 rwm`, `*` for wildcards. */
export function formatV1DeviceRule(rule: DeviceRule): string {
  const n = (v: number): string => (v === -1 ? '*' : String(v));
  if (rule.type === 'a') return 'a *:* rwm';
  return `${rule.type} ${n(rule.major)}:${n(rule.minor)} ${rule.access}`;
}

function keyOf(type: DeviceType, major: number, minor: number): string {
  return `${type} ${major === -1 ? '*' : major}:${minor === -1 ? '*' : minor}`;
}

function parseKey(key: string): { type: DeviceType; major: number; minor: number } {
  const m = /^([abc]) (\*|\d+):(\*|\d+)$/.exec(key);
  if (!m) throw new BerthError('INTERNAL', `bad device key ${key}`);
  const n = (s: string): number => (s === '*' ? -1 : Number(s));
  return { type: m[1] as DeviceType, major: n(m[2]!), minor: n(m[3]!) };
}

/** One write to devices.allow or devices.deny. */
export interface DeviceWrite {
  file: 'devices.allow' | 'devices.deny';
  line: string;
}

export class DeviceRuleState {
  defaultAllow: boolean;
  /** key (`c 1:3`) → access bits */
  readonly exceptions = new Map<string, number>();

  constructor(defaultAllow: boolean) {
    this.defaultAllow = defaultAllow;
  }

  /**
   * Parse devices.list. The kernel prints `a *:* rwm` alone whenever the
   * default is allow, hiding any deny exceptions; callers must not rely on
   * an allow-default state read back from the kernel being exception-free.
   */
  static fromList(text: string): DeviceRuleState {
    const lines = text.split('\n').map((l) => l.trim()).filter((l) => l !== '');
    if (lines.some((l) => l.startsWith('a '))) return new DeviceRuleState(true);
    const state = new DeviceRuleState(false);
    for (const line of lines) {
      const m = /^([bc]) (\*|\d+):(\*|\d+) ([rwm]+)$/.exec(line);
      if (!m) throw new BerthError('CGROUP_FAILED', `cannot parse devices.list line \`${line}\``);
      const key = `${m[1]} ${m[2]}:${m[3]}`;
      state.exceptions.set(key, (state.exceptions.get(key) ?? 0) | accessBits(m[4]!));
    }
    return state;
  }

  static fromRules(rules: readonly DeviceRule[], start: DeviceRuleState = new DeviceRuleState(true)): DeviceRuleState {
    const state = start.clone();
    for (const rule of rules) state.apply(rule);
    return state;
  }

  clone(): DeviceRuleState {
    const copy = new DeviceRuleState(this.defaultAllow);
    for (const [k, v] of this.exceptions) copy.exceptions.set(k, v);
    return copy;
  }

  /** What the kernel does with one write. */
  apply(rule: DeviceRule): void {
    if (rule.type === 'a') {
      this.defaultAllow = rule.allow;
      this.exceptions.clear();
      return;
    }
    const key = keyOf(rule.type, rule.major, rule.minor);
    const bits = accessBits(rule.access);
    const current = this.exceptions.get(key) ?? 0;
    if (rule.allow === this.defaultAllow) {
      const left = current & ~bits;
      if (left === 0) this.exceptions.delete(key);
      else this.exceptions.set(key, left);
    } else {
      this.exceptions.set(key, current | bits);
    }
  }

  /** The exceptions as rules in a stable order. */
  exceptionRules(): DeviceRule[] {
    return [...this.exceptions.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([key, bits]) => ({ ...parseKey(key), allow: !this.defaultAllow, access: accessString(bits) }));
  }

  isAllowAll(): boolean {
    return this.defaultAllow && this.exceptions.size === 0;
  }

  /**
   * The writes that take the kernel from this state to `target`. When the
   * default stays the same only the differing exceptions are written (grants
   * first), so nothing a running container keeps is revoked even for a
   * moment, and no `a` write is needed (the kernel refuses those once the
   * cgroup has children, as under docker-in-docker). Only a change of
   * default resets with `a`. An allow-default state read from the kernel
   * shows no exceptions (see fromList); like runc, assume it has none.
   */
  transitionTo(target: DeviceRuleState): DeviceWrite[] {
    const line = (rule: DeviceRule): DeviceWrite => ({ file: rule.allow ? 'devices.allow' : 'devices.deny', line: formatV1DeviceRule(rule) });
    if (this.defaultAllow !== target.defaultAllow) {
      return [line({ allow: target.defaultAllow, type: 'a', major: -1, minor: -1, access: 'rwm' }), ...target.exceptionRules().map(line)];
    }
    // An exception's verdict is the opposite of the default: adding bits to
    // it writes that verdict, taking bits away writes the default's.
    const exceptionVerdict = !target.defaultAllow;
    const grants: DeviceWrite[] = [];
    const revokes: DeviceWrite[] = [];
    for (const [key, want] of target.exceptions) {
      const add = want & ~(this.exceptions.get(key) ?? 0);
      if (add !== 0) (exceptionVerdict ? grants : revokes).push(line({ ...parseKey(key), allow: exceptionVerdict, access: accessString(add) }));
    }
    for (const [key, have] of this.exceptions) {
      const remove = have & ~(target.exceptions.get(key) ?? 0);
      if (remove !== 0) (exceptionVerdict ? revokes : grants).push(line({ ...parseKey(key), allow: !exceptionVerdict, access: accessString(remove) }));
    }
    return [...grants, ...revokes];
  }
}

/**
 * The device rules runc adds for every container (specconv AllowedDevices,
 * the console included). The spec layer appends these, and a rule for each
 * `linux.devices` entry, to the config's own rules (spec/device-rules.ts);
 * this layer applies exactly what it is given.
 */
export const DEFAULT_DEVICE_RULES: readonly DeviceRule[] = [
  { allow: true, type: 'c', major: -1, minor: -1, access: 'm' },
  { allow: true, type: 'b', major: -1, minor: -1, access: 'm' },
  { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' }, // /dev/null
  { allow: true, type: 'c', major: 1, minor: 8, access: 'rwm' }, // /dev/random
  { allow: true, type: 'c', major: 1, minor: 7, access: 'rwm' }, // /dev/full
  { allow: true, type: 'c', major: 5, minor: 0, access: 'rwm' }, // /dev/tty
  { allow: true, type: 'c', major: 1, minor: 5, access: 'rwm' }, // /dev/zero
  { allow: true, type: 'c', major: 1, minor: 9, access: 'rwm' }, // /dev/urandom
  { allow: true, type: 'c', major: 5, minor: 1, access: 'rwm' }, // /dev/console
  { allow: true, type: 'c', major: 136, minor: -1, access: 'rwm' }, // /dev/pts/*
  { allow: true, type: 'c', major: 5, minor: 2, access: 'rwm' }, // /dev/ptmx
  { allow: true, type: 'c', major: 10, minor: 200, access: 'rwm' }, // /dev/net/tun
];

const STANDARD_GRANTS = DeviceRuleState.fromRules(DEFAULT_DEVICE_RULES, new DeviceRuleState(false)).exceptions;

export type DeviceRulesClass = 'allow-all' | 'standard' | 'custom';

/**
 * Classify the effect of a rule list applied to a cgroup with no device
 * restriction (a fresh v2 cgroup): `allow-all` restricts nothing; `standard`
 * is deny-by-default granting no more than the usual runc/Docker device set;
 * anything else is `custom`.
 */
export function classifyDeviceRules(rules: readonly DeviceRule[]): DeviceRulesClass {
  const state = DeviceRuleState.fromRules(rules);
  if (state.isAllowAll()) return 'allow-all';
  if (state.defaultAllow) return 'custom';
  for (const [key, bits] of state.exceptions) {
    const std = STANDARD_GRANTS.get(key);
    if (std === undefined || (bits & ~std) !== 0) return 'custom';
  }
  return 'standard';
}
