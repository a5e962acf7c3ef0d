/** spec and features: documents about the runtime, no container involved. */
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { BerthError, isErrno } from '../../../errors/index.js';
import { defaultSpec } from '../../../runtime/spec/default-spec.js';
import { features } from '../../../runtime/spec/features.js';
import { parseArgs, str, bool } from '../args.js';
import type { Globals } from '../main.js';
import { writeStdout } from '../output.js';

export async function specCommand(args: string[], _g: Globals): Promise<number> {
  const p = parseArgs(args, { bundle: { type: 'string', short: 'b' }, rootless: { type: 'boolean' } });
  const path = join(resolve(str(p, 'bundle') ?? '.'), 'config.json');
  try {
    writeFileSync(path, JSON.stringify(defaultSpec({ rootless: bool(p, 'rootless') }), null, '\t'), { flag: 'wx', mode: 0o666 });
  } catch (err) {
    if (isErrno(err, 'EEXIST')) throw new BerthError('ARGUMENT_INVALID', `file ${path} exists; remove it first`);
    throw err;
  }
  return 0;
}

export async function featuresCommand(args: string[], _g: Globals): Promise<number> {
  parseArgs(args, {});
  writeStdout(JSON.stringify(features(), null, '    ') + '\n');
  return 0;
}
