/** delete ID [--force]. */
import { deleteContainer } from '../../../runtime/container/delete.js';
import { parseArgs, bool, idArg } from '../args.js';
import type { Globals } from '../main.js';

export async function deleteCommand(args: string[], g: Globals): Promise<number> {
  const p = parseArgs(args, { force: { type: 'boolean', short: 'f' } });
  await deleteContainer(await g.ctx(), idArg(p, 'delete'), { force: bool(p, 'force') });
  return 0;
}
