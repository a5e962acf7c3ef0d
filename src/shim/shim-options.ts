/**
 * The options of one berth-shim, as the manager gives them, and their
 * command line. The C side's table (src/native/shim/options.c) and
 * docs/protocol-shim.md list the same options; `shim-options.test.ts` keeps
 * the three in step.
 */

interface CommonShimOptions {
  /** The container id, passed to the runtime. */
  id: string;
  /** The OCI runtime binary: an absolute path, or a name looked up on PATH (runc, crun). */
  runtime: string;
  /** Global runtime flags put before the command, such as `['--root', '/run/berth-runtime']`. */
  runtimeArgs?: readonly string[];
  /** Where the runtime writes the process's pid; default a private temp file of the shim. */
  pidFile?: string;
  /** Where the exit status is written when the process exits. Must not exist yet. */
  exitFile: string;
  /** The CRI log file; without it output goes only to attach clients. */
  logPath?: string;
  /** Rotate the log at this size; 0 never. The shim's default is 10 MiB. */
  logSizeMaxBytes?: number;
  /** Log files kept, the current one included; the shim's default is 5. */
  logMaxFiles?: number;
  /** Longer lines are split into partial (P) entries; the shim's default is 16 KiB. */
  logLineMaxBytes?: number;
  /** The attach socket's path (at most 107 bytes). */
  attachSocket?: string;
  /** The control socket's path (at most 107 bytes). */
  controlSocket?: string;
  /** The process has a pty (process.terminal in its spec must be true too). */
  terminal?: boolean;
  /** Keep stdin open for attach clients. */
  stdin?: boolean;
}

/** A shim that runs `create` for a container. */
export interface CreateShimOptions extends CommonShimOptions {
  bundle: string;
  execProcess?: undefined;
}

/** A shim that runs `exec --process FILE --detach` for an extra process in a running container. */
export interface ExecShimOptions extends CommonShimOptions {
  execProcess: string;
  bundle?: undefined;
}

export type ShimOptions = CreateShimOptions | ExecShimOptions;

/** The berth-shim command line for `opts`, without `--sync-fd` (the launcher adds it). */
export function shimArgs(opts: ShimOptions): string[] {
  const args = ['--id', opts.id, '--runtime', opts.runtime];
  for (const a of opts.runtimeArgs ?? []) args.push(`--runtime-arg=${a}`);
  if (opts.bundle !== undefined) args.push('--bundle', opts.bundle);
  if (opts.execProcess !== undefined) args.push('--exec-process', opts.execProcess);
  if (opts.pidFile !== undefined) args.push('--pid-file', opts.pidFile);
  args.push('--exit-file', opts.exitFile);
  if (opts.logPath !== undefined) args.push('--log-path', opts.logPath);
  if (opts.logSizeMaxBytes !== undefined) args.push('--log-size-max', String(opts.logSizeMaxBytes));
  if (opts.logMaxFiles !== undefined) args.push('--log-max-files', String(opts.logMaxFiles));
  if (opts.logLineMaxBytes !== undefined) args.push('--log-line-max', String(opts.logLineMaxBytes));
  if (opts.attachSocket !== undefined) args.push('--attach-socket', opts.attachSocket);
  if (opts.controlSocket !== undefined) args.push('--control-socket', opts.controlSocket);
  if (opts.terminal) args.push('--terminal');
  if (opts.stdin) args.push('--stdin');
  return args;
}
