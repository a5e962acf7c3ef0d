/** list, ps, events: commands that report and change nothing (state has its own module, to stay small). */
import { spawnSync } from 'node:child_process';
import { BerthError } from '../../../errors/index.js';
import { listContainers } from '../../../runtime/container/list.js';
import { containerPids } from '../../../runtime/container/ps.js';
import { containerStats, watchEvents } from '../../../runtime/container/events.js';
import { parseArgs, str, bool, idArg } from '../args.js';
import type { Globals } from '../main.js';
import { writeStdout } from '../output.js';

function format(p: ReturnType<typeof parseArgs>): 'table' | 'json' {
  const f = str(p, 'format') ?? 'table';
  if (f !== 'table' && f !== 'json') throw new BerthError('ARGUMENT_INVALID', `invalid format \`${f}\`: use table or json`);
  return f;
}

/** Columns padded like Go's tabwriter with padding 3 (runc's list). */
function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]! + 3))).join('')).join('\n') + '\n';
}

export async function listCommand(args: string[], g: Globals): Promise<number> {
  const p = parseArgs(args, { format: { type: 'string', short: 'f' }, quiet: { type: 'boolean', short: 'q' } });
  const fmt = format(p);
  const all = await listContainers(await g.ctx());
  if (bool(p, 'quiet')) {
    writeStdout(all.map((c) => c.id + '\n').join(''));
  } else if (fmt === 'json') {
    writeStdout(JSON.stringify(all) + '\n');
  } else {
    const rows = [['ID', 'PID', 'STATUS', 'BUNDLE', 'CREATED', 'OWNER']];
    for (const c of all) rows.push([c.id, String(c.pid ?? 0), c.status, c.bundle, c.created, c.owner]);
    writeStdout(table(rows));
  }
  return 0;
}

export async function psCommand(args: string[], g: Globals): Promise<number> {
  const p = parseArgs(args, { format: { type: 'string', short: 'f' } }, { stopAfterPositionals: 1 });
  const fmt = format(p);
  const pids = await containerPids(await g.ctx(), idArg(p, 'ps'));
  if (fmt === 'json') {
    writeStdout(JSON.stringify(pids) + '\n');
    return 0;
  }
  // Like runc: run the host's ps with the given options and keep the container's lines.
  const psArgs = p.positionals.length > 1 ? p.positionals.slice(1) : ['-ef'];
  const out = spawnSync('ps', psArgs, { encoding: 'utf8' });
  if (out.status !== 0) throw new BerthError('INTERNAL', `ps ${psArgs.join(' ')} failed: ${out.stderr.trim()}`);
  const lines = out.stdout.split('\n');
  const header = lines[0] ?? '';
  const pidCol = header.trim().split(/\s+/).indexOf('PID');
  if (pidCol < 0) throw new BerthError('ARGUMENT_INVALID', `ps ${psArgs.join(' ')} printed no PID column`);
  const wanted = new Set(pids);
  const kept = lines.slice(1).filter((l) => wanted.has(Number(l.trim().split(/\s+/)[pidCol])));
  writeStdout([header, ...kept].join('\n') + '\n');
  return 0;
}

/** Go durations as runc takes them: 5s, 100ms, 1m. */
function durationMs(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(text);
  if (!m) throw new BerthError('ARGUMENT_INVALID', `invalid --interval \`${text}\`: use a duration such as 5s`);
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
}

export async function eventsCommand(args: string[], g: Globals): Promise<number> {
  const p = parseArgs(args, { stats: { type: 'boolean' }, interval: { type: 'string' } });
  const id = idArg(p, 'events');
  const ctx = await g.ctx();
  if (bool(p, 'stats')) {
    writeStdout(JSON.stringify(await containerStats(ctx, id)) + '\n');
    return 0;
  }
  const ac = new AbortController();
  const stop = (): void => ac.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  await watchEvents(ctx, id, {
    intervalMs: durationMs(str(p, 'interval') ?? '5s'),
    signal: ac.signal,
    onEvent: (e) => writeStdout(JSON.stringify(e) + '\n'),
  });
  return 0;
}
