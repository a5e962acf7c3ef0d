/** run: create + start, in the foreground unless --detach. */
import { runContainer } from '../../../runtime/container/run.js';
import { parseArgs, bool } from '../args.js';
import type { Globals } from '../main.js';
import { CREATE_FLAGS, createOptions } from './create.js';

export async function runCommand(args: string[], g: Globals): Promise<number> {
  const p = parseArgs(args, { ...CREATE_FLAGS, detach: { type: 'boolean', short: 'd' }, keep: { type: 'boolean' } });
  return runContainer(await g.ctx(), { ...createOptions(p, 'run'), detach: bool(p, 'detach'), keep: bool(p, 'keep') });
}
