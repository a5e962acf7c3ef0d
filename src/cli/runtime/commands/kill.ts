/** kill ID [SIGNAL] [--all]. */
import { killContainer } from '../../../runtime/container/kill.js';
import { parseArgs, bool, idArg } from '../args.js';
import type { Globals } from '../main.js';

export async function killCommand(args: string[], g: Globals): Promise<number> {
  const p = parseArgs(args, { all: { type: 'boolean', short: 'a' } });
  await killContainer(await g.ctx(), idArg(p, 'kill'), { signal: p.positionals[1] ?? 'SIGTERM', all: bool(p, 'all') });
  return 0;
}
