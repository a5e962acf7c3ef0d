/** start: release a created container. */
import { startContainer } from '../../../runtime/container/start.js';
import { parseArgs, idArg } from '../args.js';
import type { Globals } from '../main.js';

export async function startCommand(args: string[], g: Globals): Promise<number> {
  await startContainer(await g.ctx(), idArg(parseArgs(args, {}), 'start'));
  return 0;
}
