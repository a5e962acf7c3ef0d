/**
 * A small parser for runc's command-line grammar: long and short flags,
 * `--flag=value`, repeatable flags, and commands (like exec) whose trailing
 * arguments belong to the container process and are not parsed.
 */
import { BerthError } from '../../errors/index.js';

export type FlagType = 'string' | 'boolean' | 'strings';

export interface FlagSpec {
  type: FlagType;
  short?: string;
}

export type FlagSpecs = Record<string, FlagSpec>;

export interface Parsed {
  flags: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
}

export interface ParseOptions {
  /** Stop parsing flags after this many positionals; the rest are kept verbatim. */
  stopAfterPositionals?: number;
}

export function parseArgs(argv: readonly string[], specs: FlagSpecs, options: ParseOptions = {}): Parsed {
  const flags: Parsed['flags'] = {};
  const positionals: string[] = [];
  const byShort = new Map<string, string>();
  for (const [name, spec] of Object.entries(specs)) if (spec.short) byShort.set(spec.short, name);

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (options.stopAfterPositionals !== undefined && positionals.length >= options.stopAfterPositionals) {
      positionals.push(...argv.slice(i));
      break;
    }
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      positionals.push(arg);
      continue;
    }
    const long = arg.startsWith('--');
    const body = long ? arg.slice(2) : arg.slice(1);
    const eq = body.indexOf('=');
    const key = eq >= 0 ? body.slice(0, eq) : body;
    const name = long ? key : (byShort.get(key) ?? (specs[key] ? key : undefined));
    const spec = name === undefined ? undefined : specs[name];
    if (name === undefined || spec === undefined) {
      throw new BerthError('ARGUMENT_INVALID', `unknown flag \`${arg}\``);
    }
    if (spec.type === 'boolean') {
      flags[name] = eq >= 0 ? body.slice(eq + 1) !== 'false' : true;
      continue;
    }
    let value: string | undefined;
    if (eq >= 0) value = body.slice(eq + 1);
    else {
      value = argv[i + 1];
      i++;
    }
    if (value === undefined) throw new BerthError('ARGUMENT_INVALID', `flag \`${arg}\` needs a value`);
    if (spec.type === 'strings') {
      const prev = flags[name];
      flags[name] = [...(Array.isArray(prev) ? prev : []), value];
    } else {
      flags[name] = value;
    }
  }
  return { flags, positionals };
}

export function str(p: Parsed, name: string): string | undefined {
  const v = p.flags[name];
  return typeof v === 'string' ? v : undefined;
}

export function bool(p: Parsed, name: string): boolean {
  return p.flags[name] === true;
}

export function strs(p: Parsed, name: string): string[] {
  const v = p.flags[name];
  return Array.isArray(v) ? v : [];
}

export function int(p: Parsed, name: string): number | undefined {
  const v = str(p, name);
  if (v === undefined) return undefined;
  if (!/^-?\d+$/.test(v)) throw new BerthError('ARGUMENT_INVALID', `--${name} needs an integer, got \`${v}\``);
  return Number(v);
}

/** runc's units.RAMInBytes: 10M, 1g, 512KiB, plain bytes; -1 for unlimited. */
export function bytes(p: Parsed, name: string): number | undefined {
  const v = str(p, name);
  if (v === undefined) return undefined;
  if (v === '-1') return -1;
  const m = /^(\d+(?:\.\d+)?)\s*([kmgtp]?)(i?b)?$/i.exec(v.trim());
  if (!m) throw new BerthError('ARGUMENT_INVALID', `--${name} needs a size such as 512M, got \`${v}\``);
  const unit = '_kmgtp'.indexOf((m[2] || '_').toLowerCase());
  return Math.round(Number(m[1]) * 1024 ** unit);
}

/** The one positional id a command takes. */
export function idArg(p: Parsed, command: string): string {
  const id = p.positionals[0];
  if (id === undefined) throw new BerthError('ARGUMENT_INVALID', `\`${command}\` requires a container id`);
  return id;
}
