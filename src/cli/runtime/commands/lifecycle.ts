/** create, start, run, kill, delete, pause, resume. */
import { createContainer } from '../../../runtime/container/create.js';
import { startContainer } from '../../../runtime/container/start.js';
import { runContainer } from '../../../runtime/container/run.js';
import { killContainer } from '../../../runtime/container/kill.js';
import { deleteContainer } from '../../../runtime/container/delete.js';
import { pauseContainer, resumeContainer } from '../../../runtime/container/pause.js';
import { parseArgs, str, bool, int, idArg, type FlagSpecs } from '../args.js';
import type { Globals } from '../main.js';

const CREATE_FLAGS: FlagSpecs = {
  bundle: { type: 'string', short: 'b' },
  'console-socket': { type: 'string' },
  'pid-file': { type: 'string' },
  'no-pivot': { type: 'boolean' },
  'no-new-keyring': { type: 'boolean' },
  'preserve-fds': { type: 'string' },
};

function createOptions(p: ReturnType<typeof parseArgs>, command: string) {
  const o: Parameters<typeof createContainer>[1] = {
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

export async function runCommand(args: string[], g: Globals): Promise<number> {
  const p = parseArgs(args, { ...CREATE_FLAGS, detach: { type: 'boolean', short: 'd' }, keep: { type: 'boolean' } });
  return runContainer(await g.ctx(), { ...createOptions(p, 'run'), detach: bool(p, 'detach'), keep: bool(p, 'keep') });
}

export async function startCommand(args: string[], g: Globals): Promise<number> {
  const p = parseArgs(args, {});
  await startContainer(await g.ctx(), idArg(p, 'start'));
  return 0;
}

export async function killCommand(args: string[], g: Globals): Promise<number> {
  const p = parseArgs(args, { all: { type: 'boolean', short: 'a' } });
  await killContainer(await g.ctx(), idArg(p, 'kill'), { signal: p.positionals[1] ?? 'SIGTERM', all: bool(p, 'all') });
  return 0;
}

export async function deleteCommand(args: string[], g: Globals): Promise<number> {
  const p = parseArgs(args, { force: { type: 'boolean', short: 'f' } });
  await deleteContainer(await g.ctx(), idArg(p, 'delete'), { force: bool(p, 'force') });
  return 0;
}

export async function pauseCommand(args: string[], g: Globals): Promise<number> {
  await pauseContainer(await g.ctx(), idArg(parseArgs(args, {}), 'pause'));
  return 0;
}

export async function resumeCommand(args: string[], g: Globals): Promise<number> {
  await resumeContainer(await g.ctx(), idArg(parseArgs(args, {}), 'resume'));
  return 0;
}
