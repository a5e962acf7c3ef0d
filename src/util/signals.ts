/**
 * Linux signal names and numbers (the generic ABI of x86_64, aarch64 and
 * riscv64; signal(7)). Real-time signals are named as Docker and the shell
 * name them: SIGRTMIN is 34 (glibc keeps 32 and 33 for itself), then
 * SIGRTMIN+1 .. SIGRTMIN+15, SIGRTMAX-14 .. SIGRTMAX-1, SIGRTMAX is 64.
 */
import { BerthError } from '../errors/index.js';

/** Standard signals, name without the SIG prefix → number. Aliases included. */
const STANDARD: Readonly<Record<string, number>> = Object.freeze({
  HUP: 1,
  INT: 2,
  QUIT: 3,
  ILL: 4,
  TRAP: 5,
  ABRT: 6,
  IOT: 6,
  BUS: 7,
  FPE: 8,
  KILL: 9,
  USR1: 10,
  SEGV: 11,
  USR2: 12,
  PIPE: 13,
  ALRM: 14,
  TERM: 15,
  STKFLT: 16,
  CHLD: 17,
  CLD: 17,
  CONT: 18,
  STOP: 19,
  TSTP: 20,
  TTIN: 21,
  TTOU: 22,
  URG: 23,
  XCPU: 24,
  XFSZ: 25,
  VTALRM: 26,
  PROF: 27,
  WINCH: 28,
  IO: 29,
  POLL: 29,
  PWR: 30,
  SYS: 31,
});

/** The canonical name of each standard signal number (aliases lose). */
const CANONICAL: readonly string[] = (() => {
  const out: string[] = [];
  for (const [name, n] of Object.entries(STANDARD)) out[n] ??= name;
  return out;
})();

export const SIGRTMIN = 34;
export const SIGRTMAX = 64;

/** Largest signal number the kernel accepts (_NSIG - 1). */
export const SIGNAL_MAX = 64;

/**
 * A signal number from `TERM`, `SIGTERM`, `sigterm`, `15`, `RTMIN+3` or
 * `SIGRTMAX-2`. Numbers 0 to 64 are accepted as given (0 only probes, as
 * kill(2) does). Throws SIGNAL_INVALID naming the input.
 */
export function parseSignal(input: string | number): number {
  if (typeof input === 'number') {
    if (Number.isInteger(input) && input >= 0 && input <= SIGNAL_MAX) return input;
    throw invalid(String(input));
  }
  const text = input.trim();
  if (/^\d+$/.test(text)) {
    const n = Number(text);
    if (n <= SIGNAL_MAX) return n;
    throw invalid(input);
  }
  let name = text.toUpperCase();
  if (name.startsWith('SIG')) name = name.slice(3);
  if (Object.hasOwn(STANDARD, name)) return STANDARD[name]!;
  const rt = /^RT(MIN|MAX)(?:([+-])(\d+))?$/.exec(name);
  if (rt) {
    const base = rt[1] === 'MIN' ? SIGRTMIN : SIGRTMAX;
    const offset = rt[3] === undefined ? 0 : Number(rt[3]);
    // RTMIN counts up and RTMAX counts down, as in Docker and bash.
    if (rt[2] === (rt[1] === 'MIN' ? '-' : '+')) throw invalid(input);
    const n = rt[1] === 'MIN' ? base + offset : base - offset;
    if (n >= SIGRTMIN && n <= SIGRTMAX) return n;
  }
  throw invalid(input);
}

/** The name (`SIGTERM`, `SIGRTMIN+3`) of a signal number; undefined for 0, 32, 33 and out of range. */
export function findSignalName(signal: number): string | undefined {
  if (!Number.isInteger(signal)) return undefined;
  const standard = CANONICAL[signal];
  if (standard) return `SIG${standard}`;
  if (signal < SIGRTMIN || signal > SIGRTMAX) return undefined;
  if (signal === SIGRTMIN) return 'SIGRTMIN';
  if (signal === SIGRTMAX) return 'SIGRTMAX';
  // Docker's split: up to RTMIN+15 counts from the bottom, the rest from the top.
  if (signal - SIGRTMIN <= 15) return `SIGRTMIN+${signal - SIGRTMIN}`;
  return `SIGRTMAX-${SIGRTMAX - signal}`;
}

/** Like findSignalName, but throws SIGNAL_INVALID when the number has no name. */
export function getSignalName(signal: number): string {
  const name = findSignalName(signal);
  if (name === undefined) throw invalid(String(signal));
  return name;
}

/** Every named signal, number → name, for listings. */
export function signalNames(): Map<number, string> {
  const out = new Map<number, string>();
  for (let n = 1; n <= SIGNAL_MAX; n++) {
    const name = findSignalName(n);
    if (name) out.set(n, name);
  }
  return out;
}

function invalid(input: string): BerthError {
  return new BerthError('SIGNAL_INVALID', `unknown signal \`${input}\`; use a name such as SIGTERM or a number from 1 to ${SIGNAL_MAX}`);
}
