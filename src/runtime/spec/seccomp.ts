/**
 * OCI seccomp → the plan's seccomp program description: libseccomp action
 * values (errno or-ed in), libseccomp comparison operators, libseccomp
 * architecture names and SECCOMP_FILTER_FLAG_* bits. The executor hands
 * these to libseccomp unchanged, so every decision runc's
 * libcontainer/seccomp makes is made here:
 *
 * - ERRNO and TRACE without errnoRet return EPERM.
 * - A rule whose action equals the default action is dropped (libseccomp
 *   refuses such a rule; runc skips it).
 * - A rule with several conditions on the same argument becomes one rule
 *   per condition (libseccomp cannot AND two conditions on one argument;
 *   runc ORs them the same way).
 * - `flags` absent (not merely empty) means SECCOMP_FILTER_FLAG_SPEC_ALLOW,
 *   runc's default since 1.1: the filter does not force the speculative
 *   store bypass mitigation on (kernels since 5.16 no longer do by default).
 */
import { BerthError } from '../../errors/index.js';
import type { LinuxSeccomp } from '../../oci/runtime-spec.js';
import type { PlanSeccomp, PlanSeccompRule } from '../plan/plan.js';

/** libseccomp's SCMP_ACT_* base values (seccomp.h). */
export const SCMP_ACT = {
  KILL_PROCESS: 0x80000000,
  KILL_THREAD: 0x00000000,
  TRAP: 0x00030000,
  ERRNO: 0x00050000,
  NOTIFY: 0x7fc00000,
  TRACE: 0x7ff00000,
  LOG: 0x7ffc0000,
  ALLOW: 0x7fff0000,
} as const;

/** OCI action name → libseccomp base value. SCMP_ACT_KILL is KILL_THREAD, as in libseccomp. */
export const SECCOMP_ACTIONS: Readonly<Record<string, number>> = Object.freeze({
  SCMP_ACT_KILL: SCMP_ACT.KILL_THREAD,
  SCMP_ACT_KILL_PROCESS: SCMP_ACT.KILL_PROCESS,
  SCMP_ACT_KILL_THREAD: SCMP_ACT.KILL_THREAD,
  SCMP_ACT_TRAP: SCMP_ACT.TRAP,
  SCMP_ACT_ERRNO: SCMP_ACT.ERRNO,
  SCMP_ACT_TRACE: SCMP_ACT.TRACE,
  SCMP_ACT_ALLOW: SCMP_ACT.ALLOW,
  SCMP_ACT_LOG: SCMP_ACT.LOG,
  SCMP_ACT_NOTIFY: SCMP_ACT.NOTIFY,
});

/** Actions that carry an errno (errnoRet). */
export const SECCOMP_ACTIONS_WITH_ERRNO: readonly string[] = ['SCMP_ACT_ERRNO', 'SCMP_ACT_TRACE'];

/** Actions berth recognizes but cannot carry out yet. */
export const SECCOMP_ACTIONS_UNSUPPORTED: readonly string[] = ['SCMP_ACT_NOTIFY'];

/** OCI operator → libseccomp `enum scmp_compare`. */
export const SECCOMP_OPERATORS: Readonly<Record<string, number>> = Object.freeze({
  SCMP_CMP_NE: 1,
  SCMP_CMP_LT: 2,
  SCMP_CMP_LE: 3,
  SCMP_CMP_EQ: 4,
  SCMP_CMP_GE: 5,
  SCMP_CMP_GT: 6,
  SCMP_CMP_MASKED_EQ: 7,
});

/** OCI architecture → libseccomp architecture name (seccomp_arch_resolve_name). */
export const SECCOMP_ARCHES: Readonly<Record<string, string>> = Object.freeze({
  SCMP_ARCH_X86: 'x86',
  SCMP_ARCH_X86_64: 'x86_64',
  SCMP_ARCH_X32: 'x32',
  SCMP_ARCH_ARM: 'arm',
  SCMP_ARCH_AARCH64: 'aarch64',
  SCMP_ARCH_LOONGARCH64: 'loongarch64',
  SCMP_ARCH_M68K: 'm68k',
  SCMP_ARCH_MIPS: 'mips',
  SCMP_ARCH_MIPS64: 'mips64',
  SCMP_ARCH_MIPS64N32: 'mips64n32',
  SCMP_ARCH_MIPSEL: 'mipsel',
  SCMP_ARCH_MIPSEL64: 'mipsel64',
  SCMP_ARCH_MIPSEL64N32: 'mipsel64n32',
  SCMP_ARCH_PPC: 'ppc',
  SCMP_ARCH_PPC64: 'ppc64',
  SCMP_ARCH_PPC64LE: 'ppc64le',
  SCMP_ARCH_S390: 's390',
  SCMP_ARCH_S390X: 's390x',
  SCMP_ARCH_PARISC: 'parisc',
  SCMP_ARCH_PARISC64: 'parisc64',
  SCMP_ARCH_RISCV64: 'riscv64',
  SCMP_ARCH_SH: 'sh',
  SCMP_ARCH_SHEB: 'sheb',
});

/** OCI filter flag → SECCOMP_FILTER_FLAG_* bit (include/uapi/linux/seccomp.h). */
export const SECCOMP_FLAGS: Readonly<Record<string, number>> = Object.freeze({
  SECCOMP_FILTER_FLAG_TSYNC: 1,
  SECCOMP_FILTER_FLAG_LOG: 2,
  SECCOMP_FILTER_FLAG_SPEC_ALLOW: 4,
  SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV: 32,
});

/**
 * Flags berth recognizes but refuses: WAIT_KILLABLE_RECV only changes how
 * a seccomp notify listener is woken, and SCMP_ACT_NOTIFY is not supported.
 */
export const SECCOMP_FLAGS_UNSUPPORTED: readonly string[] = ['SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV'];

/** Syscalls take at most six arguments. */
export const SECCOMP_MAX_ARGS = 6;

const EPERM = 1;
const U64_MAX = (1n << 64n) - 1n;

/**
 * A libseccomp action value for an OCI action name and optional errnoRet.
 * Throws CONFIG_INVALID for an unknown name or an errnoRet on an action
 * that cannot carry one.
 */
export function seccompAction(name: string, errnoRet: number | undefined, field: string): number {
  const base = Object.hasOwn(SECCOMP_ACTIONS, name) ? SECCOMP_ACTIONS[name] : undefined;
  if (base === undefined) {
    throw new BerthError('CONFIG_INVALID', `${field}: unknown seccomp action \`${name}\``, { field });
  }
  if (SECCOMP_ACTIONS_WITH_ERRNO.includes(name)) {
    // The kernel keeps 16 bits of SECCOMP_RET_DATA; libseccomp masks the same way.
    return (base | ((errnoRet ?? EPERM) & 0xffff)) >>> 0;
  }
  if (errnoRet !== undefined) {
    throw new BerthError('CONFIG_INVALID', `${field}: errnoRet is only allowed with SCMP_ACT_ERRNO and SCMP_ACT_TRACE, not ${name}`, {
      field,
    });
  }
  return base >>> 0;
}

/** A JSON number as a u64, mapping the float that 2^64-1 parses to back onto 2^64-1. */
export function toU64(value: number): bigint {
  if (value >= 2 ** 64) return U64_MAX;
  return BigInt(value);
}

/**
 * Convert `linux.seccomp` to the plan's form; undefined when the config
 * asks for no filter (no default action and no rules, as runc reads it).
 * The config is expected to be validated; names the executor cannot use
 * still throw CONFIG_INVALID / CONFIG_UNSUPPORTED naming the field.
 */
export function seccompToPlan(seccomp: LinuxSeccomp | undefined, field = 'linux.seccomp'): PlanSeccomp | undefined {
  if (!seccomp) return undefined;
  if (!seccomp.defaultAction && (seccomp.syscalls ?? []).length === 0) return undefined;
  if (seccomp.listenerPath) {
    throw new BerthError('CONFIG_UNSUPPORTED', `${field}.listenerPath: seccomp notify listeners are not supported by berth`, {
      field: `${field}.listenerPath`,
    });
  }
  const unsupported = (name: string, at: string): void => {
    if (SECCOMP_ACTIONS_UNSUPPORTED.includes(name)) {
      throw new BerthError('CONFIG_UNSUPPORTED', `${at}: ${name} (seccomp user notification) is not supported by berth`, {
        field: at,
      });
    }
  };
  unsupported(seccomp.defaultAction, `${field}.defaultAction`);
  const defaultAction = seccompAction(seccomp.defaultAction, seccomp.defaultErrnoRet, `${field}.defaultAction`);

  let flags = 0;
  if (seccomp.flags === undefined) {
    flags = SECCOMP_FLAGS.SECCOMP_FILTER_FLAG_SPEC_ALLOW!;
  } else {
    for (const [i, flag] of seccomp.flags.entries()) {
      const at = `${field}.flags[${i}]`;
      const bit = Object.hasOwn(SECCOMP_FLAGS, flag) ? SECCOMP_FLAGS[flag] : undefined;
      if (bit === undefined) throw new BerthError('CONFIG_INVALID', `${at}: unknown seccomp flag \`${flag}\``, { field: at });
      if (SECCOMP_FLAGS_UNSUPPORTED.includes(flag)) {
        throw new BerthError('CONFIG_UNSUPPORTED', `${at}: ${flag} only matters for seccomp notify, which berth does not support`, {
          field: at,
        });
      }
      flags |= bit;
    }
  }

  const architectures: string[] = [];
  for (const [i, arch] of (seccomp.architectures ?? []).entries()) {
    const at = `${field}.architectures[${i}]`;
    const name = Object.hasOwn(SECCOMP_ARCHES, arch) ? SECCOMP_ARCHES[arch] : undefined;
    if (name === undefined) throw new BerthError('CONFIG_INVALID', `${at}: unknown seccomp architecture \`${arch}\``, { field: at });
    if (!architectures.includes(name)) architectures.push(name);
  }

  const syscalls: PlanSeccompRule[] = [];
  for (const [i, call] of (seccomp.syscalls ?? []).entries()) {
    const at = `${field}.syscalls[${i}]`;
    unsupported(call.action, `${at}.action`);
    const action = seccompAction(call.action, call.errnoRet, `${at}.action`);
    if (action === defaultAction) continue;
    const args = (call.args ?? []).map((arg, j) => {
      const argAt = `${at}.args[${j}]`;
      const op = Object.hasOwn(SECCOMP_OPERATORS, arg.op) ? SECCOMP_OPERATORS[arg.op] : undefined;
      if (op === undefined) {
        throw new BerthError('CONFIG_INVALID', `${argAt}.op: unknown seccomp operator \`${arg.op}\``, { field: `${argAt}.op` });
      }
      if (!Number.isInteger(arg.index) || arg.index < 0 || arg.index >= SECCOMP_MAX_ARGS) {
        throw new BerthError('CONFIG_INVALID', `${argAt}.index: must be 0 to ${SECCOMP_MAX_ARGS - 1}, not ${arg.index}`, {
          field: `${argAt}.index`,
        });
      }
      return { index: arg.index, value: toU64(arg.value), valueTwo: toU64(arg.valueTwo ?? 0), op };
    });
    const names = [...call.names];
    const indexes = args.map((a) => a.index);
    const repeated = indexes.some((index, k) => indexes.indexOf(index) !== k);
    if (repeated) {
      for (const arg of args) syscalls.push({ names, action, args: [arg] });
    } else {
      syscalls.push({ names, action, args });
    }
  }
  return { defaultAction, architectures, flags, syscalls };
}
