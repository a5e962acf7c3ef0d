/** pause and resume. */
import { pauseContainer, resumeContainer } from '../../../runtime/container/pause.js';
import { parseArgs, idArg } from '../args.js';
import type { Globals } from '../main.js';

export async function pauseCommand(args: string[], g: Globals): Promise<number> {
  await pauseContainer(await g.ctx(), idArg(parseArgs(args, {}), 'pause'));
  return 0;
}

export async function resumeCommand(args: string[], g: Globals): Promise<number> {
  await resumeContainer(await g.ctx(), idArg(parseArgs(args, {}), 'resume'));
  return 0;
}
