/**
 * Serializes a Plan to the wire format of src/native/include/berth-plan.h.
 * The executor rejects anything it does not understand, so this writes only
 * known attributes, each with the value encoding the header fixes for it.
 */
import { BerthError } from '../../errors/index.js';
import { A, DEV, DR, HK, LNK, M, MODE, NSJ, PLAN_MAGIC, PLAN_MAX_BYTES, PLAN_VERSION, RL, SC, SCA, SCS, SYS } from './attrs.js';
import type { Plan, PlanSeccomp } from './plan.js';

/** Accumulates attributes; nests are built by a child writer. */
class AttrWriter {
  private readonly chunks: Buffer[] = [];
  private size = 0;

  private push(type: number, value: Buffer): void {
    const head = Buffer.allocUnsafe(8);
    head.writeUInt16LE(type, 0);
    head.writeUInt16LE(0, 2);
    head.writeUInt32LE(value.length, 4);
    this.chunks.push(head, value);
    this.size += 8 + value.length;
  }

  u32(type: number, value: number): void {
    const b = Buffer.allocUnsafe(4);
    b.writeUInt32LE(value >>> 0, 0);
    this.push(type, b);
  }

  s32(type: number, value: number): void {
    const b = Buffer.allocUnsafe(4);
    b.writeInt32LE(value, 0);
    this.push(type, b);
  }

  u64(type: number, value: bigint): void {
    const b = Buffer.allocUnsafe(8);
    b.writeBigUInt64LE(BigInt.asUintN(64, value), 0);
    this.push(type, b);
  }

  bool(type: number, value: boolean): void {
    this.u32(type, value ? 1 : 0);
  }

  str(type: number, value: string): void {
    if (value.includes('\0')) {
      throw new BerthError('CONFIG_INVALID', `string ${JSON.stringify(value)} contains a NUL byte`);
    }
    this.push(type, Buffer.from(value + '\0', 'utf8'));
  }

  u32s(type: number, values: readonly number[]): void {
    const b = Buffer.allocUnsafe(values.length * 4);
    values.forEach((v, i) => b.writeUInt32LE(v >>> 0, i * 4));
    this.push(type, b);
  }

  nest(type: number, build: (w: AttrWriter) => void): void {
    const child = new AttrWriter();
    build(child);
    this.push(type, child.toBuffer());
  }

  toBuffer(): Buffer {
    return Buffer.concat(this.chunks, this.size);
  }
}

function writeSeccomp(w: AttrWriter, sc: PlanSeccomp): void {
  w.u32(SC.DEFAULT_ACTION, sc.defaultAction);
  for (const arch of sc.architectures) w.str(SC.ARCH, arch);
  w.u32(SC.FLAGS, sc.flags);
  for (const rule of sc.syscalls) {
    w.nest(SC.SYSCALL, (r) => {
      for (const name of rule.names) r.str(SCS.NAME, name);
      r.u32(SCS.ACTION, rule.action);
      for (const arg of rule.args) {
        r.nest(SCS.ARG, (a) => {
          a.u32(SCA.INDEX, arg.index);
          a.u64(SCA.VALUE, arg.value);
          a.u64(SCA.VALUE_TWO, arg.valueTwo);
          a.u32(SCA.OP, arg.op);
        });
      }
    });
  }
  if (sc.listenerPath !== undefined) w.str(SC.LISTENER_PATH, sc.listenerPath);
}

/** Encode a plan: header (magic, version, length) followed by its attributes. */
export function encodePlan(plan: Plan): Buffer {
  const w = new AttrWriter();
  w.u32(A.MODE, plan.mode === 'create' ? MODE.CREATE : plan.mode === 'exec' ? MODE.EXEC : MODE.DEVICES);
  w.str(A.CONTAINER_ID, plan.containerId);
  w.u64(A.CLONE_FLAGS, plan.cloneFlags);
  for (const ns of plan.nsJoin) {
    w.nest(A.NS_JOIN, (n) => {
      n.u64(NSJ.TYPE, ns.type);
      n.str(NSJ.PATH, ns.path);
    });
  }
  if (plan.rootfs !== undefined) w.str(A.ROOTFS, plan.rootfs);
  w.bool(A.ROOTFS_READONLY, plan.rootfsReadonly);
  w.u64(A.ROOT_PROPAGATION, plan.rootPropagation);
  w.bool(A.NO_PIVOT, plan.noPivot);
  for (const m of plan.mounts) {
    w.nest(A.MOUNT, (n) => {
      n.str(M.SOURCE, m.source);
      n.str(M.TARGET, m.target);
      n.str(M.FSTYPE, m.fstype);
      n.u64(M.FLAGS, m.flags);
      n.str(M.DATA, m.data);
      for (const p of m.propagation) n.u64(M.PROPAGATION, p);
      n.u64(M.REMOUNT_FLAGS, m.remountFlags);
      n.bool(M.TARGET_IS_FILE, m.targetIsFile);
      n.u32(M.KIND, m.kind);
    });
  }
  for (const d of plan.devices) {
    w.nest(A.DEVICE, (n) => {
      n.str(DEV.PATH, d.path);
      n.u32(DEV.TYPE, d.type);
      n.u32(DEV.MAJOR, d.major);
      n.u32(DEV.MINOR, d.minor);
      n.u32(DEV.MODE, d.mode);
      n.u32(DEV.UID, d.uid);
      n.u32(DEV.GID, d.gid);
      n.bool(DEV.BIND, d.bind);
    });
  }
  for (const l of plan.symlinks) {
    w.nest(A.SYMLINK, (n) => {
      n.str(LNK.TARGET, l.target);
      n.str(LNK.PATH, l.path);
    });
  }
  for (const p of plan.maskedPaths) w.str(A.MASKED_PATH, p);
  for (const p of plan.readonlyPaths) w.str(A.READONLY_PATH, p);
  for (const s of plan.sysctl) {
    w.nest(A.SYSCTL, (n) => {
      n.str(SYS.KEY, s.key);
      n.str(SYS.VALUE, s.value);
    });
  }
  if (plan.hostname !== undefined) w.str(A.HOSTNAME, plan.hostname);
  if (plan.domainname !== undefined) w.str(A.DOMAINNAME, plan.domainname);
  for (const r of plan.rlimits) {
    w.nest(A.RLIMIT, (n) => {
      n.u32(RL.RESOURCE, r.resource);
      n.u64(RL.SOFT, r.soft);
      n.u64(RL.HARD, r.hard);
    });
  }
  w.u32(A.UID, plan.uid);
  w.u32(A.GID, plan.gid);
  if (plan.additionalGids !== undefined) w.u32s(A.ADDITIONAL_GIDS, plan.additionalGids);
  w.bool(A.SETGROUPS_DENY, plan.setgroupsDeny);
  if (plan.umask !== undefined) w.u32(A.UMASK, plan.umask);
  w.u64(A.CAP_BOUNDING, plan.capabilities.bounding);
  w.u64(A.CAP_EFFECTIVE, plan.capabilities.effective);
  w.u64(A.CAP_INHERITABLE, plan.capabilities.inheritable);
  w.u64(A.CAP_PERMITTED, plan.capabilities.permitted);
  w.u64(A.CAP_AMBIENT, plan.capabilities.ambient);
  w.bool(A.NO_NEW_PRIVS, plan.noNewPrivileges);
  if (plan.oomScoreAdj !== undefined) w.s32(A.OOM_SCORE_ADJ, plan.oomScoreAdj);
  if (plan.personality !== undefined) w.u32(A.PERSONALITY, plan.personality);
  if (plan.seccomp !== undefined) {
    const sc = plan.seccomp;
    w.nest(A.SECCOMP, (n) => writeSeccomp(n, sc));
  }
  for (const a of plan.args) w.str(A.ARG, a);
  for (const e of plan.env) w.str(A.ENV, e);
  w.str(A.CWD, plan.cwd);
  w.bool(A.TERMINAL, plan.terminal);
  if (plan.consoleSocket !== undefined) w.str(A.CONSOLE_SOCKET, plan.consoleSocket);
  if (plan.consoleHeight !== undefined) w.u32(A.CONSOLE_HEIGHT, plan.consoleHeight);
  if (plan.consoleWidth !== undefined) w.u32(A.CONSOLE_WIDTH, plan.consoleWidth);
  if (plan.execFifo !== undefined) w.str(A.EXEC_FIFO, plan.execFifo);
  w.u32(A.PRESERVE_FDS, plan.preserveFds);
  w.bool(A.NEW_KEYRING, plan.newKeyring);
  if (plan.keyringName !== undefined) w.str(A.KEYRING_NAME, plan.keyringName);
  w.bool(A.PARENT_WAITS, plan.parentWaits);
  w.bool(A.CONSOLE_PROXY, plan.consoleProxy);
  w.bool(A.CGROUP_NS_AFTER_SYNC, plan.cgroupNsAfterSync);
  for (const t of plan.cgroupTasks ?? []) w.str(A.CGROUP_TASKS, t);
  if (plan.cgroupInto !== undefined) w.str(A.CGROUP_INTO, plan.cgroupInto);
  for (const h of plan.startHooks) {
    w.nest(A.START_HOOK, (n) => {
      n.str(HK.PATH, h.path);
      for (const a of h.args) n.str(HK.ARG, a);
      for (const e of h.env) n.str(HK.ENV, e);
      n.u32(HK.TIMEOUT, h.timeout);
    });
  }
  if (plan.deviceCgroup !== undefined) w.str(A.DEVICE_CGROUP, plan.deviceCgroup);
  for (const r of plan.deviceRules) {
    w.nest(A.DEVICE_RULE, (n) => {
      n.bool(DR.ALLOW, r.allow);
      n.u32(DR.TYPE, r.type.charCodeAt(0));
      // -1 (any) becomes all ones.
      n.u64(DR.MAJOR, BigInt(r.major));
      n.u64(DR.MINOR, BigInt(r.minor));
      n.u32(DR.ACCESS, r.access);
    });
  }

  const payload = w.toBuffer();
  if (payload.length > PLAN_MAX_BYTES) {
    throw new BerthError('CONFIG_INVALID', `the container plan is ${payload.length} bytes, over the ${PLAN_MAX_BYTES}-byte limit`);
  }
  const head = Buffer.allocUnsafe(12);
  head.writeUInt32LE(PLAN_MAGIC, 0);
  head.writeUInt32LE(PLAN_VERSION, 4);
  head.writeUInt32LE(payload.length, 8);
  return Buffer.concat([head, payload]);
}
