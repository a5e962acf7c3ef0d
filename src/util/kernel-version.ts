/** Comparing Linux kernel releases (`uname -r`, os.release()) by major and minor number. */
import { release } from 'node:os';

/** [major, minor] of a kernel release such as `6.1.0-13-amd64`; undefined when it does not start with two numbers. */
export function kernelVersion(text: string): [number, number] | undefined {
  const m = /^(\d+)\.(\d+)/.exec(text);
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

/** Whether `kernel` (default: the running kernel) is `min` or later; undefined when either does not parse. */
export function kernelAtLeast(min: string, kernel: string = release()): boolean | undefined {
  const have = kernelVersion(kernel);
  const want = kernelVersion(min);
  if (!have || !want) return undefined;
  return have[0] > want[0] || (have[0] === want[0] && have[1] >= want[1]);
}
