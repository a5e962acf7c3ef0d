/**
 * The shape of config.json (schema/config-schema.json, config-linux.json,
 * defs*.json of runtime-spec 1.3), as small composable checks. Each check
 * reports wrong types and missing required fields with the JSON path of
 * the value. Unknown properties are allowed: the spec says to ignore them.
 *
 * `null` where an optional value may stand is treated as absent and the
 * property is removed, because Go's encoding/json (and so runc) reads it
 * that way.
 */
import { BerthError } from '../../errors/index.js';

export type ShapeCheck = (value: unknown, field: string, out: BerthError[]) => void;

function typeError(field: string, expected: string, value: unknown, out: BerthError[]): void {
  const got = value === null ? 'null' : Array.isArray(value) ? 'an array' : `a ${typeof value}`;
  out.push(new BerthError('CONFIG_INVALID', `${field}: must be ${expected}, not ${got}`, { field }));
}

export const str: ShapeCheck = (v, field, out) => {
  if (typeof v !== 'string') return typeError(field, 'a string', v, out);
  // The plan carries NUL-terminated strings: an embedded NUL would cut them short.
  if (v.includes('\0')) out.push(new BerthError('CONFIG_INVALID', `${field}: must not contain a NUL byte`, { field }));
};

export const bool: ShapeCheck = (v, field, out) => {
  if (typeof v !== 'boolean') typeError(field, 'true or false', v, out);
};

export const any: ShapeCheck = () => {};

/**
 * An integer from `min` to `max`. The bounds of the 64-bit types are given
 * as the floats 2^63 and 2^64 because that is what JSON numbers near them
 * round to (18446744073709551615 parses as 2^64).
 */
export function int(min: number, max: number, what: string): ShapeCheck {
  return (v, field, out) => {
    if (typeof v !== 'number' || !Number.isInteger(v)) return typeError(field, `an integer (${what})`, v, out);
    if (v < min || v > max) {
      out.push(new BerthError('CONFIG_INVALID', `${field}: ${v} is out of range for ${what}`, { field }));
    }
  };
}

export const u16 = int(0, 0xffff, 'uint16');
export const u32 = int(0, 0xffffffff, 'uint32');
export const i32 = int(-0x80000000, 0x7fffffff, 'int32');
export const u64 = int(0, 2 ** 64, 'uint64');
export const i64 = int(-(2 ** 63), 2 ** 63, 'int64');

export function arr(of: ShapeCheck): ShapeCheck {
  return (v, field, out) => {
    if (!Array.isArray(v)) return typeError(field, 'an array', v, out);
    v.forEach((item, i) => of(item, `${field}[${i}]`, out));
  };
}

/** An object with string keys and values of one kind (Go map[string]T). */
export function map(of: ShapeCheck): ShapeCheck {
  return (v, field, out) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return typeError(field, 'an object', v, out);
    for (const [key, value] of Object.entries(v)) of(value, `${field}[${JSON.stringify(key)}]`, out);
  };
}

/** An object with known properties; `required` names those that must be present. */
export function obj(props: Record<string, ShapeCheck>, required: readonly string[] = []): ShapeCheck {
  return (v, field, out) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return typeError(field || 'config.json', 'an object', v, out);
    const o = v as Record<string, unknown>;
    for (const name of required) {
      if (o[name] === undefined || o[name] === null) {
        const at = field ? `${field}.${name}` : name;
        out.push(new BerthError('CONFIG_INVALID', `${at}: is required`, { field: at }));
      }
    }
    for (const [name, check] of Object.entries(props)) {
      if (!Object.hasOwn(o, name)) continue;
      if (o[name] === null && !required.includes(name)) {
        delete o[name];
        continue;
      }
      if (o[name] === undefined || o[name] === null) continue;
      check(o[name], field ? `${field}.${name}` : name, out);
    }
  };
}

/** One of two shapes (e.g. a string or an array of strings). */
export function either(a: ShapeCheck, b: ShapeCheck, expected: string): ShapeCheck {
  return (v, field, out) => {
    const first: BerthError[] = [];
    a(v, field, first);
    if (first.length === 0) return;
    const second: BerthError[] = [];
    b(v, field, second);
    if (second.length === 0) return;
    typeError(field, expected, v, out);
  };
}

const strings = arr(str);
const idMapping = obj({ containerID: u32, hostID: u32, size: u32 }, ['containerID', 'hostID', 'size']);
/** Go's `uint` on 64-bit Linux. */
const uint = u64;

const user = obj({ uid: u32, gid: u32, umask: u32, additionalGids: arr(u32), username: str }, ['uid', 'gid']);

const capabilities = obj({ bounding: strings, effective: strings, inheritable: strings, permitted: strings, ambient: strings });

const rlimit = obj({ type: str, hard: u64, soft: u64 }, ['type', 'hard', 'soft']);

const scheduler = obj(
  { policy: str, nice: i32, priority: i32, flags: strings, runtime: u64, deadline: u64, period: u64 },
  ['policy'],
);

export const processShape = obj(
  {
    terminal: bool,
    consoleSize: obj({ height: uint, width: uint }, ['height', 'width']),
    user,
    args: strings,
    commandLine: str,
    env: strings,
    cwd: str,
    capabilities,
    rlimits: arr(rlimit),
    noNewPrivileges: bool,
    apparmorProfile: str,
    oomScoreAdj: int(-1000, 1000, 'oom_score_adj (-1000 to 1000)'),
    scheduler,
    selinuxLabel: str,
    ioPriority: obj({ class: str, priority: int(-(2 ** 63), 2 ** 63, 'int') }, ['class', 'priority']),
    execCPUAffinity: obj({ initial: str, final: str }),
  },
  ['user', 'cwd'],
);

const mount = obj(
  { destination: str, type: str, source: str, options: strings, uidMappings: arr(idMapping), gidMappings: arr(idMapping) },
  ['destination'],
);

const hook = obj({ path: str, args: strings, env: strings, timeout: int(-(2 ** 63), 2 ** 63, 'int') }, ['path']);
const hookList = arr(hook);
const hooks = obj({
  prestart: hookList,
  createRuntime: hookList,
  createContainer: hookList,
  startContainer: hookList,
  poststart: hookList,
  poststop: hookList,
});

const device = obj({ path: str, type: str, major: i64, minor: i64, fileMode: u32, uid: u32, gid: u32 }, ['path', 'type']);

const deviceCgroup = obj({ allow: bool, type: str, major: i64, minor: i64, access: str }, ['allow']);
const throttleDevice = obj({ major: i64, minor: i64, rate: u64 }, ['major', 'minor', 'rate']);
const weightDevice = obj({ major: i64, minor: i64, weight: u16, leafWeight: u16 }, ['major', 'minor']);

export const resourcesShape = obj({
  devices: arr(deviceCgroup),
  memory: obj({
    limit: i64,
    reservation: i64,
    swap: i64,
    kernel: i64,
    kernelTCP: i64,
    swappiness: u64,
    disableOOMKiller: bool,
    useHierarchy: bool,
    checkBeforeUpdate: bool,
  }),
  cpu: obj({
    shares: u64,
    quota: i64,
    burst: u64,
    period: u64,
    realtimeRuntime: i64,
    realtimePeriod: u64,
    cpus: str,
    mems: str,
    idle: i64,
  }),
  pids: obj({ limit: i64 }, ['limit']),
  blockIO: obj({
    weight: u16,
    leafWeight: u16,
    weightDevice: arr(weightDevice),
    throttleReadBpsDevice: arr(throttleDevice),
    throttleWriteBpsDevice: arr(throttleDevice),
    throttleReadIOPSDevice: arr(throttleDevice),
    throttleWriteIOPSDevice: arr(throttleDevice),
  }),
  hugepageLimits: arr(obj({ pageSize: str, limit: u64 }, ['pageSize', 'limit'])),
  network: obj({ classID: u32, priorities: arr(obj({ name: str, priority: u32 }, ['name', 'priority'])) }),
  rdma: map(obj({ hcaHandles: u32, hcaObjects: u32 })),
  unified: map(str),
});

const seccompArg = obj({ index: uint, value: u64, valueTwo: u64, op: str }, ['index', 'value', 'op']);
const seccomp = obj({
  defaultAction: str,
  defaultErrnoRet: uint,
  architectures: strings,
  flags: strings,
  listenerPath: str,
  listenerMetadata: str,
  syscalls: arr(obj({ names: strings, action: str, errnoRet: uint, args: arr(seccompArg) }, ['names', 'action'])),
});

const linux = obj({
  uidMappings: arr(idMapping),
  gidMappings: arr(idMapping),
  sysctl: map(str),
  resources: resourcesShape,
  cgroupsPath: str,
  namespaces: arr(obj({ type: str, path: str }, ['type'])),
  devices: arr(device),
  netDevices: map(obj({ name: str })),
  seccomp,
  rootfsPropagation: str,
  maskedPaths: strings,
  readonlyPaths: strings,
  mountLabel: str,
  intelRdt: obj({
    closID: str,
    schemata: either(str, strings, 'a string or an array of strings'),
    l3CacheSchema: str,
    memBwSchema: str,
    enableCMT: bool,
    enableMBM: bool,
    enableMonitoring: bool,
  }),
  personality: obj({ domain: str, flags: strings }, ['domain']),
  timeOffsets: map(obj({ secs: i64, nanosecs: u32 })),
  memoryPolicy: obj({ mode: str, nodes: str, flags: strings }, ['mode', 'nodes']),
});

/** The whole config.json. */
export const specShape = obj(
  {
    ociVersion: str,
    process: processShape,
    root: obj({ path: str, readonly: bool }, ['path']),
    hostname: str,
    domainname: str,
    mounts: arr(mount),
    hooks,
    annotations: map(str),
    linux,
    // Other platforms' sections are not checked: berth ignores them.
  },
  ['ociVersion'],
);
