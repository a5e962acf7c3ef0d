/**
 * The command line's output on stdout. A direct write(2): `process.stdout`
 * builds a stream (and loads Node's stream modules) on first use, a few ms
 * of a command such as `state` that prints one object and exits.
 */
import { writeSync } from 'node:fs';

export function writeStdout(text: string): void {
  let buf = Buffer.from(text);
  while (buf.length > 0) {
    let n: number;
    try {
      n = writeSync(1, buf);
    } catch (err) {
      // A non-blocking stdout that is full: let Node's stream wait for it.
      if ((err as NodeJS.ErrnoException).code === 'EAGAIN') {
        process.stdout.write(buf);
        return;
      }
      throw err;
    }
    buf = buf.subarray(n);
  }
}
