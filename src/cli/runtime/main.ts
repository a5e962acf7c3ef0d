/**
 * berth-runtime's command line: runc's grammar, so any manager that drives
 * runc can drive berth-runtime. This file only parses arguments and calls
 * the runtime library; each command's module is loaded on demand to keep
 * start-up (what `state` and `kill` cost) close to Node's own.
 */
import { getSystemErrorMap } from 'node:util';
import { BerthError, exitCodeForKind } from '../../errors/index.js';
import { createLogger, type Logger } from '../../util/logger.js';
import { parseArgs, str, bool, type FlagSpecs, type Parsed } from './args.js';
import type { RuntimeContext } from '../../runtime/container/context.js';
import { writeStdout } from './output.js';

export const VERSION = '0.1.0';
const SPEC_VERSION = '1.2.0';

const GLOBAL_FLAGS: FlagSpecs = {
  root: { type: 'string' },
  log: { type: 'string' },
  'log-format': { type: 'string' },
  debug: { type: 'boolean' },
  'systemd-cgroup': { type: 'boolean' },
  criu: { type: 'string' },
  rootless: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'v' },
};

export interface Globals {
  root: string;
  log: Logger;
  ctx: () => Promise<RuntimeContext>;
}

type Command = (args: string[], g: Globals) => Promise<number>;

const COMMANDS: Record<string, { summary: string; load: () => Promise<Command> }> = {
  spec: { summary: 'create a new specification file', load: async () => (await import('./commands/spec.js')).specCommand },
  create: { summary: 'create a container', load: async () => (await import('./commands/create.js')).createCommand },
  start: { summary: 'start a created container', load: async () => (await import('./commands/start.js')).startCommand },
  run: { summary: 'create and run a container', load: async () => (await import('./commands/run.js')).runCommand },
  state: { summary: 'output the state of a container', load: async () => (await import('./commands/state.js')).stateCommand },
  kill: { summary: 'send a signal to the container init process (default: SIGTERM)', load: async () => (await import('./commands/kill.js')).killCommand },
  delete: { summary: 'delete any resources held by the container', load: async () => (await import('./commands/delete.js')).deleteCommand },
  list: { summary: 'list containers started by berth-runtime with the given root', load: async () => (await import('./commands/query.js')).listCommand },
  ps: { summary: 'display the processes running inside a container', load: async () => (await import('./commands/query.js')).psCommand },
  pause: { summary: 'pause all processes within the container', load: async () => (await import('./commands/pause.js')).pauseCommand },
  resume: { summary: 'resume all processes that have been previously paused', load: async () => (await import('./commands/pause.js')).resumeCommand },
  exec: { summary: 'execute new process inside the container', load: async () => (await import('./commands/exec.js')).execCommand },
  update: { summary: 'update container resource constraints', load: async () => (await import('./commands/update.js')).updateCommand },
  events: { summary: 'display container events such as OOM notifications and cpu, memory, and IO usage statistics', load: async () => (await import('./commands/query.js')).eventsCommand },
  features: { summary: 'show the enabled features', load: async () => (await import('./commands/spec.js')).featuresCommand },
};
const ALIASES: Record<string, string> = { ls: 'list', del: 'delete', rm: 'delete' };

function usage(): string {
  const lines = Object.entries(COMMANDS).map(([name, c]) => `   ${name.padEnd(10)} ${c.summary}`);
  return [
    'NAME:',
    '   berth-runtime - an OCI runtime with runc\'s command line',
    '',
    'USAGE:',
    '   berth-runtime [global options] command [command options] [arguments...]',
    '',
    'COMMANDS:',
    ...lines,
    '',
    'GLOBAL OPTIONS:',
    '   --root value        root directory for storage of container state (default: "/run/berth-runtime")',
    '   --log value         set the log file to write berth-runtime logs to (default: stderr)',
    '   --log-format value  set the log format (\'text\' (default), or \'json\')',
    '   --debug             enable debug logging',
    '   --systemd-cgroup    use systemd cgroups (not supported)',
    '',
  ].join('\n');
}

/** Split the global flags from the command and its arguments. */
function splitGlobals(argv: readonly string[]): { globals: Parsed; command: string | undefined; rest: string[] } {
  let i = 0;
  const globalArgs: string[] = [];
  while (i < argv.length && argv[i]!.startsWith('-')) {
    const a = argv[i]!;
    globalArgs.push(a);
    const name = a.replace(/^--?/, '').split('=')[0]!;
    const spec = GLOBAL_FLAGS[name];
    if (spec && spec.type !== 'boolean' && !a.includes('=')) {
      i++;
      if (i < argv.length) globalArgs.push(argv[i]!);
    }
    i++;
  }
  return { globals: parseArgs(globalArgs, GLOBAL_FLAGS), command: argv[i], rest: argv.slice(i + 1) };
}

/**
 * The error's message, ending with the errno's text as runc prints it (Go's
 * `syscall.Errno` strings) when the error carries an errno. Managers read
 * that text to choose an exit code: podman and dockerd report 127 for "no
 * such file or directory" and 126 for "permission denied" when the
 * container's program cannot be executed.
 */
function withErrnoText(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  if (!(err instanceof BerthError) || !err.errno) return message;
  const text = err.errno === 8 ? 'exec format error' : getSystemErrorMap().get(-err.errno)?.[1];
  return text && !message.includes(text) ? `${message}: ${text}` : message;
}

export async function main(argv: readonly string[]): Promise<number> {
  let log: Logger = createLogger();
  try {
    const { globals, command, rest } = splitGlobals(argv);
    const format = str(globals, 'log-format') ?? 'text';
    if (format !== 'text' && format !== 'json') {
      throw new BerthError('ARGUMENT_INVALID', `--log-format must be text or json, got \`${format}\``);
    }
    const logFile = str(globals, 'log');
    log = createLogger({ ...(logFile ? { file: logFile } : {}), format, debug: bool(globals, 'debug') });
    if (bool(globals, 'version')) {
      writeStdout(`berth-runtime version ${VERSION}\nspec: ${SPEC_VERSION}\n`);
      return 0;
    }
    if (bool(globals, 'help') || command === undefined || command === 'help') {
      writeStdout(usage());
      return command === undefined && !bool(globals, 'help') ? 1 : 0;
    }
    if (bool(globals, 'systemd-cgroup')) {
      throw new BerthError('NOT_IMPLEMENTED', 'the systemd cgroup driver is not supported; run without --systemd-cgroup (cgroupfs)');
    }
    const entry = COMMANDS[ALIASES[command] ?? command];
    if (!entry) throw new BerthError('ARGUMENT_INVALID', `unknown command \`${command}\`; see \`berth-runtime --help\``);
    const root = str(globals, 'root') ?? '/run/berth-runtime';
    const finalLog = log;
    const g: Globals = {
      root,
      log: finalLog,
      ctx: async () => {
        const { createRuntimeContext } = await import('../../runtime/container/context.js');
        return createRuntimeContext({ root, log: finalLog });
      },
    };
    const run = await entry.load();
    return await run(rest, g);
  } catch (err) {
    const message = withErrnoText(err);
    log.error(message);
    process.stderr.write(`berth-runtime: ${message}\n`);
    if (process.env['BERTH_DEBUG_STACK'] && err instanceof Error) process.stderr.write(`${err.stack}\n`);
    return err instanceof BerthError ? exitCodeForKind(err.kind) : 1;
  }
}
