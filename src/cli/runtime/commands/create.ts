/** create (and the flags run shares with it). */
import { createContainer, type CreateOptions } from '../../../runtime/container/create.js';
import { parseArgs, str, bool, int, idArg, type FlagSpecs, type Parsed } from '../args.js';
import type { Globals } from '../main.js';

export const CREATE_FLAGS: FlagSpecs = {
  bundle: { type: 'string', short: 'b' },
  'console-socket': { type: 'string' },
  'pid-file': { type: 'string' },
  'no-pivot': { type: 'boolean' },
  'no-new-keyring': { type: 'boolean' },
  'preserve-fds': { type: 'string' },
};

export function createOptions(p: Parsed, command: string): CreateOptions {
  const o: CreateOptions = {
    id: idArg(p, command),
    noPivot: bool(p, 'no-pivot'),
    noNewKeyring: bool(p, 'no-new-keyring'),
    preserveFds: int(p, 'preserve-fds') ?? 0,
  };
  const bundle = str(p, 'bundle');
  if (bundle !== undefined) o.bundle = bundle;
  const pidFile = str(p, 'pid-file');
  if (pidFile !== undefined) o.pidFile = pidFile;
  const consoleSocket = str(p, 'console-socket');
  if (consoleSocket !== undefined) o.consoleSocket = consoleSocket;
  return o;
}

export async function createCommand(args: string[], g: Globals): Promise<number> {
  const p = parseArgs(args, CREATE_FLAGS);
  await createContainer(await g.ctx(), createOptions(p, 'create'));
  return 0;
}
