/** update: new resource limits from `--resources FILE|-` and/or runc's flags. */
import { readFileSync } from 'node:fs';
import { BerthError } from '../../../errors/index.js';
import type { LinuxResources } from '../../../oci/runtime-spec.js';
import { updateContainer, mergeResources } from '../../../runtime/container/update.js';
import { parseArgs, str, int, bytes, idArg } from '../args.js';
import type { Globals } from '../main.js';

const UPDATE_FLAGS = {
  resources: { type: 'string', short: 'r' },
  memory: { type: 'string', short: 'm' },
  'memory-reservation': { type: 'string' },
  'memory-swap': { type: 'string' },
  'kernel-memory': { type: 'string' },
  'kernel-memory-tcp': { type: 'string' },
  'cpu-shares': { type: 'string' },
  'cpu-quota': { type: 'string' },
  'cpu-period': { type: 'string' },
  'cpu-rt-period': { type: 'string' },
  'cpu-rt-runtime': { type: 'string' },
  'cpuset-cpus': { type: 'string' },
  'cpuset-mems': { type: 'string' },
  'pids-limit': { type: 'string' },
  'blkio-weight': { type: 'string' },
} as const;

export async function updateCommand(args: string[], g: Globals): Promise<number> {
  const p = parseArgs(args, UPDATE_FLAGS);
  const id = idArg(p, 'update');
  let resources: LinuxResources = {};
  const file = str(p, 'resources');
  if (file !== undefined) {
    const text = file === '-' ? await readStdinText() : readFileSync(file, 'utf8');
    try {
      resources = JSON.parse(text) as LinuxResources;
    } catch (cause) {
      throw new BerthError('CONFIG_INVALID', `resources ${file === '-' ? 'on stdin' : file} are not valid JSON: ${(cause as Error).message}`, { cause });
    }
  }
  const flagged: LinuxResources = {};
  const memory: NonNullable<LinuxResources['memory']> = {};
  const set = <T>(v: T | undefined, apply: (v: T) => void): void => {
    if (v !== undefined) apply(v);
  };
  set(bytes(p, 'memory'), (v) => (memory.limit = v));
  set(bytes(p, 'memory-reservation'), (v) => (memory.reservation = v));
  set(bytes(p, 'memory-swap'), (v) => (memory.swap = v));
  set(bytes(p, 'kernel-memory'), (v) => (memory.kernel = v));
  set(bytes(p, 'kernel-memory-tcp'), (v) => (memory.kernelTCP = v));
  if (Object.keys(memory).length) flagged.memory = memory;
  const cpu: NonNullable<LinuxResources['cpu']> = {};
  set(int(p, 'cpu-shares'), (v) => (cpu.shares = v));
  set(int(p, 'cpu-quota'), (v) => (cpu.quota = v));
  set(int(p, 'cpu-period'), (v) => (cpu.period = v));
  set(int(p, 'cpu-rt-period'), (v) => (cpu.realtimePeriod = v));
  set(int(p, 'cpu-rt-runtime'), (v) => (cpu.realtimeRuntime = v));
  set(str(p, 'cpuset-cpus'), (v) => (cpu.cpus = v));
  set(str(p, 'cpuset-mems'), (v) => (cpu.mems = v));
  if (Object.keys(cpu).length) flagged.cpu = cpu;
  set(int(p, 'pids-limit'), (v) => (flagged.pids = { limit: v }));
  set(int(p, 'blkio-weight'), (v) => (flagged.blockIO = { weight: v }));
  resources = mergeResources(resources, flagged);
  await updateContainer(await g.ctx(), id, resources);
  return 0;
}

async function readStdinText(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
