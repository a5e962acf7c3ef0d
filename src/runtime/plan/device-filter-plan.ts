/**
 * The cgroup v2 device filter as plan data: the rules berth-init compiles
 * into its eBPF program, and the devices-mode plan with which `update`
 * replaces the filter of a running container.
 */
import { BerthError } from '../../errors/index.js';
import type { LinuxDeviceCgroup } from '../../oci/runtime-spec.js';
import { DeviceRuleState, normalizeDeviceRule, type DeviceRule } from '../cgroups/devices.js';
import { DEVICE_ACCESS, noContainerSetup, type Plan, type PlanDeviceRule } from './plan.js';

/** The filter compares with signed 32-bit immediates (see berth-plan.h, DR_MAJOR). */
export const MAX_DEVICE_NUMBER = 0x7fffffff;

function planDeviceRule(rule: DeviceRule): PlanDeviceRule {
  let access = 0;
  for (const ch of rule.access) access |= ch === 'r' ? DEVICE_ACCESS.read : ch === 'w' ? DEVICE_ACCESS.write : DEVICE_ACCESS.mknod;
  return { allow: rule.allow, type: rule.type, major: rule.major, minor: rule.minor, access };
}

/**
 * The filter's rules for `rules` (in the order they apply to the cgroup),
 * as runc's devicefilter.go builds them: run through the v1 controller's
 * semantics (DeviceRuleState, runc's emulator) from deny-all, so that v1 and
 * v2 give a container the same devices; the result is one `a` rule with the
 * default verdict followed by the exceptions, all of the other verdict.
 * Empty when that allows everything: there is nothing to enforce.
 * `fieldOf(i, n)` names the major or minor of rule i in errors.
 */
export function planDeviceRules(rules: readonly LinuxDeviceCgroup[], fieldOf: (i: number, n: 'major' | 'minor') => string): PlanDeviceRule[] {
  const normalized = rules.map((r, i) => {
    const rule = normalizeDeviceRule(r, i);
    for (const n of ['major', 'minor'] as const) {
      if (rule[n] > MAX_DEVICE_NUMBER) {
        const field = fieldOf(i, n);
        throw new BerthError('CONFIG_INVALID', `${field}: ${n} ${rule[n]} is over the largest device number the cgroup v2 device filter handles (${MAX_DEVICE_NUMBER})`, { field });
      }
    }
    return rule;
  });
  const state = DeviceRuleState.fromRules(normalized, new DeviceRuleState(false));
  if (state.isAllowAll()) return [];
  const head: DeviceRule = { allow: state.defaultAllow, type: 'a', major: -1, minor: -1, access: 'rwm' };
  return [head, ...state.exceptionRules()].map(planDeviceRule);
}

export interface DeviceFilterPlanOptions {
  /** Only for berth-init's messages. */
  containerId: string;
  /** Absolute host path of the container's cgroup v2 directory. */
  cgroupDir: string;
  /** From planDeviceRules; empty removes berth's filter (allow all). */
  rules: PlanDeviceRule[];
}

/**
 * A devices-mode plan: berth-init replaces the berth filter on `cgroupDir`
 * by the one of `rules` and exits, creating no process. Every other field is
 * empty, as berth-init requires of this mode.
 */
export function deviceFilterPlan(options: DeviceFilterPlanOptions): Plan {
  return {
    mode: 'devices',
    containerId: options.containerId,
    ...noContainerSetup(),
    nsJoin: [],
    rlimits: [],
    uid: 0,
    gid: 0,
    setgroupsDeny: false,
    capabilities: { bounding: 0n, effective: 0n, inheritable: 0n, permitted: 0n, ambient: 0n },
    noNewPrivileges: false,
    args: [],
    env: [],
    cwd: '',
    terminal: false,
    preserveFds: 0,
    newKeyring: false,
    parentWaits: false,
    consoleProxy: false,
    cgroupNsAfterSync: false,
    startHooks: [],
    deviceCgroup: options.cgroupDir,
    deviceRules: options.rules,
  };
}
