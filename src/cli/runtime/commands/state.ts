/** state: the OCI state of one container, as runc prints it. */
import { getContainerState } from '../../../runtime/container/state.js';
import { parseArgs, idArg } from '../args.js';
import type { Globals } from '../main.js';
import { writeStdout } from '../output.js';

export async function stateCommand(args: string[], g: Globals): Promise<number> {
  const p = parseArgs(args, {});
  const st = await getContainerState(await g.ctx(), idArg(p, 'state'));
  writeStdout(JSON.stringify(st, null, '  ') + '\n');
  return 0;
}
