/**
 * Facts about host processes read from /proc. A pid alone can be reused, so
 * a process is identified by pid plus its start time (field 22 of
 * /proc/PID/stat, in clock ticks since boot), as runc does.
 */
import { readFileSync } from 'node:fs';

export interface ProcStat {
  pid: number;
  /** One-letter state: R, S, D, Z, T, X ... */
  state: string;
  ppid: number;
  startTime: number;
}

/** Parse /proc/PID/stat; undefined when the process does not exist. */
export function readProcStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name may contain spaces and parentheses: fields start after the last ')'.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return {
    pid,
    state: rest[0] ?? '?',
    ppid: Number(rest[1]),
    startTime: Number(rest[19]),
  };
}

/** True while the process with this pid and start time exists and is not a zombie. */
export function isProcessAlive(pid: number, startTime?: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  const st = readProcStat(pid);
  if (st === undefined) return false;
  if (startTime !== undefined && st.startTime !== startTime) return false;
  return st.state !== 'Z' && st.state !== 'X';
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Wait until the process is gone (or a zombie); false on timeout. */
export async function waitForExit(pid: number, startTime: number | undefined, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  let delay = 1;
  while (isProcessAlive(pid, startTime)) {
    if (Date.now() >= deadline) return false;
    await sleep(delay);
    delay = Math.min(delay * 2, 50);
  }
  return true;
}
