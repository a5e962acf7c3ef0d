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
 * - SCMP_ACT_NOTIFY (seccomp user notification, seccomp_unotify(2)) needs
 *   `listenerPath`, and the plan carries that path only when some rule
 *   notifies: without one there is no notify fd, and runc then neither
 *   connects nor sends anything. A notified syscall waits until the listener
 *   answers, and the listener gets the fd from the executor only after the
 *   filter is loaded, so the syscalls of that handover must not notify: the
 *   default action (runc refuses it too), and sendmsg (below).
 */
import { isAbsolute } from 'node:path';
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

/**
 * Syscalls that may not be SCMP_ACT_NOTIFY: berth-init makes them between
 * loading the filter and the listener having the notify fd, so a notified
 * one would wait forever for an answer nobody can give. The handover is
 * one sendmsg(2) straight after the load (berth-init keeps glibc from
 * trimming the heap in between). runc refuses `write` instead, because its
 * init writes the fd number to its parent; berth-init writes nothing then,
 * so notifying write (or close, read ...) is fine: the listener has the fd
 * by the time the executor makes them.
 */
export const SECCOMP_NOTIFY_RESERVED_SYSCALLS: readonly string[] = ['sendmsg'];

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
 * Flags berth recognizes but refuses: WAIT_KILLABLE_RECV (how a notified
 * syscall waits for the listener) is set through libseccomp 2.6's
 * SCMP_FLTATR_CTL_WAITKILL, and berth-init is built with libseccomp 2.5.
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
  const invalid = (at: string, message: string): BerthError => new BerthError('CONFIG_INVALID', `${at}: ${message}`, { field: at });
  const { listenerPath } = seccomp;
  if (listenerPath && !isAbsolute(listenerPath)) {
    throw invalid(`${field}.listenerPath`, `must be an absolute path to the listener's unix socket, not \`${listenerPath}\``);
  }
  if (seccomp.listenerMetadata !== undefined && seccomp.listenerMetadata !== '' && !listenerPath) {
    throw invalid(`${field}.listenerMetadata`, 'must not be set without listenerPath (runtime-spec config-linux.md)');
  }
  if (seccomp.defaultAction === 'SCMP_ACT_NOTIFY') {
    throw invalid(
      `${field}.defaultAction`,
      'SCMP_ACT_NOTIFY cannot be used as default action: the syscall that hands the notify fd to the listener would wait for that listener',
    );
  }
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
        throw new BerthError('CONFIG_UNSUPPORTED', `${at}: ${flag} is not supported by berth (its libseccomp 2.5 cannot set it)`, {
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
  let notifies = false;
  for (const [i, call] of (seccomp.syscalls ?? []).entries()) {
    const at = `${field}.syscalls[${i}]`;
    const action = seccompAction(call.action, call.errnoRet, `${at}.action`);
    if (action === defaultAction) continue;
    if (action === SCMP_ACT.NOTIFY) {
      if (!listenerPath) {
        throw invalid(`${field}.listenerPath`, `is required: ${at}.action is SCMP_ACT_NOTIFY, and the notify fd must go to a listener`);
      }
      const reserved = call.names.find((n) => SECCOMP_NOTIFY_RESERVED_SYSCALLS.includes(n));
      if (reserved !== undefined) {
        throw invalid(
          `${at}.action`,
          `SCMP_ACT_NOTIFY cannot be used for ${reserved}: berth-init hands the notify fd to the listener with it, so it would wait forever`,
        );
      }
      notifies = true;
    }
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
  const plan: PlanSeccomp = { defaultAction, architectures, flags, syscalls };
  if (notifies && listenerPath) plan.listenerPath = listenerPath;
  return plan;
}
