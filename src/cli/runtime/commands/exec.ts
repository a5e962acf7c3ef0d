/**
 * exec: with `--process FILE` the process is that JSON document; otherwise
 * it is built like runc's: the container's own process settings, with the
 * command line's args, env, cwd, user, capabilities and tty on top.
 */
import { readFileSync } from 'node:fs';
import { BerthError } from '../../../errors/index.js';
import type { Process } from '../../../oci/runtime-spec.js';
import { execInContainer } from '../../../runtime/container/exec.js';
import { parseArgs, str, bool, strs, int, idArg, type Parsed } from '../args.js';
import type { Globals } from '../main.js';

const EXEC_FLAGS = {
  'console-socket': { type: 'string' },
  cwd: { type: 'string' },
  env: { type: 'strings', short: 'e' },
  tty: { type: 'boolean', short: 't' },
  user: { type: 'string', short: 'u' },
  'additional-gids': { type: 'strings', short: 'g' },
  process: { type: 'string', short: 'p' },
  detach: { type: 'boolean', short: 'd' },
  'pid-file': { type: 'string' },
  'process-label': { type: 'string' },
  apparmor: { type: 'string' },
  'no-new-privs': { type: 'boolean' },
  cap: { type: 'strings', short: 'c' },
  'preserve-fds': { type: 'string' },
  'ignore-paused': { type: 'boolean' },
  cgroup: { type: 'strings' },
} as const;

async function buildProcess(p: Parsed, base: Process | undefined): Promise<Process> {
  const file = str(p, 'process');
  if (file !== undefined) {
    const text = file === '-' ? await readStdin() : readFileSync(file, 'utf8');
    try {
      return JSON.parse(text) as Process;
    } catch (cause) {
      throw new BerthError('CONFIG_INVALID', `process file ${file} is not valid JSON: ${(cause as Error).message}`, { cause });
    }
  }
  const args = p.positionals.slice(1);
  if (args.length === 0) throw new BerthError('ARGUMENT_INVALID', 'exec needs a command to run, or --process FILE');
  const proc: Process = structuredClone(base ?? { cwd: '/', user: { uid: 0, gid: 0 }, args: [] });
  proc.args = args;
  proc.terminal = bool(p, 'tty');
  const env = strs(p, 'env');
  if (env.length) proc.env = [...(proc.env ?? []), ...env];
  const cwd = str(p, 'cwd');
  if (cwd !== undefined) proc.cwd = cwd;
  const user = str(p, 'user');
  if (user !== undefined) {
    const m = /^(\d+)(?::(\d+))?$/.exec(user);
    if (!m) throw new BerthError('ARGUMENT_INVALID', `--user must be UID[:GID] with numbers, got \`${user}\``);
    proc.user = { ...(proc.user ?? { uid: 0, gid: 0 }), uid: Number(m[1]), gid: m[2] === undefined ? 0 : Number(m[2]) };
  }
  const gids = strs(p, 'additional-gids');
  if (gids.length) {
    proc.user = { ...(proc.user ?? { uid: 0, gid: 0 }), additionalGids: gids.map((g) => {
      if (!/^\d+$/.test(g)) throw new BerthError('ARGUMENT_INVALID', `--additional-gids needs numbers, got \`${g}\``);
      return Number(g);
    }) };
  }
  const caps = strs(p, 'cap');
  if (caps.length) {
    const c = proc.capabilities ?? {};
    const add = (set: string[] | undefined): string[] => [...new Set([...(set ?? []), ...caps])];
    proc.capabilities = { ...c, bounding: add(c.bounding), effective: add(c.effective), permitted: add(c.permitted), inheritable: add(c.inheritable), ambient: add(c.ambient) };
  }
  if (bool(p, 'no-new-privs')) proc.noNewPrivileges = true;
  const apparmor = str(p, 'apparmor');
  if (apparmor !== undefined) proc.apparmorProfile = apparmor;
  const label = str(p, 'process-label');
  if (label !== undefined) proc.selinuxLabel = label;
  return proc;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function execCommand(args: string[], g: Globals): Promise<number> {
  const p = parseArgs(args, EXEC_FLAGS, { stopAfterPositionals: 1 });
  const id = idArg(p, 'exec');
  const ctx = await g.ctx();
  const state = await ctx.store.get(id);
  const proc = await buildProcess(p, state.spec.process);
  const opts: Parameters<typeof execInContainer>[2] = {
    process: proc,
    detach: bool(p, 'detach'),
    preserveFds: int(p, 'preserve-fds') ?? 0,
  };
  const pidFile = str(p, 'pid-file');
  if (pidFile !== undefined) opts.pidFile = pidFile;
  const sock = str(p, 'console-socket');
  if (sock !== undefined) opts.consoleSocket = sock;
  const started = await execInContainer(ctx, id, opts);
  if (!started.exited) return 0;
  const forward = (sig: NodeJS.Signals): void => {
    try {
      process.kill(started.pid, sig);
    } catch {
      // ESRCH: already gone.
    }
  };
  const sigs: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH'];
  for (const s of sigs) process.on(s, forward);
  try {
    return await started.exited;
  } finally {
    for (const s of sigs) process.off(s, forward);
  }
}
