/**
 * The process user of a container from an image: Docker's `User` syntax
 * (`user`, `uid`, `user:group`, `uid:gid`, any mix) resolved through the
 * image's own /etc/passwd and /etc/group, the way runc's libcontainer/user
 * `GetExecUser` and moby's `getUser` do:
 *
 * - the user is matched by uid when the spec is numeric, else by name;
 *   the first matching line wins and gives uid, primary gid and home;
 * - a numeric uid with no passwd line is allowed (gid 0, home `/`); a
 *   name with no line is an error;
 * - an explicit group is matched the same way (numeric without a line is
 *   allowed) and replaces the primary gid; then no supplementary groups
 *   are looked up;
 * - without an explicit group, every group (other than the primary one)
 *   listing the user's name is a supplementary group;
 * - the empty spec is uid 0 (root's line, if any, gives gid and groups);
 * - `groupAdd` (Docker's `--group-add`) appends groups by name or number.
 *
 * Where berth is stricter than runc: lines whose uid or gid is not a
 * number are skipped (runc reads them as 0, i.e. root), as are comments
 * and NIS `+`/`-` lines; a spec with more than one `:` is an error (runc
 * ignores the rest). Files are read inside the rootfs only (`in-root.ts`).
 */
import { BerthError } from '../../errors/index.js';
import { readFileInRoot } from './in-root.js';

/** Ids above this are refused, as runc does (libcontainer/user maxID). */
export const MAX_ID = 2 ** 31 - 1;

export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

export interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

export interface ExecUser {
  uid: number;
  gid: number;
  /** Supplementary groups, without the primary one unless `groupAdd` named it. */
  additionalGids: number[];
  home: string;
  /** The passwd name matched, if any. */
  name?: string;
}

export interface ResolveUserOptions {
  /** Extra groups by name or number (Docker's `--group-add`). */
  groupAdd?: readonly string[];
  /** The image, for messages: `docker.io/library/app:1`. */
  image?: string;
}

function parseId(text: string): number | undefined {
  if (!/^\d{1,10}$/.test(text)) return undefined;
  return Number(text);
}

function dataLines(text: string): string[][] {
  const out: string[][] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith('+') || line.startsWith('-')) continue;
    out.push(line.split(':'));
  }
  return out;
}

/** passwd(5) lines: `name:password:uid:gid:gecos:home:shell`. */
export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const f of dataLines(text)) {
    const uid = parseId(f[2] ?? '');
    const gid = parseId(f[3] ?? '');
    if (uid === undefined || gid === undefined) continue;
    out.push({ name: f[0] ?? '', uid, gid, home: f[5] ?? '' });
  }
  return out;
}

/** group(5) lines: `name:password:gid:member,member`. */
export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const f of dataLines(text)) {
    const gid = parseId(f[2] ?? '');
    if (gid === undefined) continue;
    out.push({ name: f[0] ?? '', gid, members: (f[3] ?? '').split(',').filter((m) => m !== '') });
  }
  return out;
}

function inImage(image: string | undefined): string {
  return image ? ` in image \`${image}\`` : ' in the image';
}

function checkRange(id: number, what: string, spec: string): number {
  if (id > MAX_ID) throw new BerthError('IMAGE_CONFIG_INVALID', `${what} \`${spec}\`: ${id} is out of range (0 to ${MAX_ID})`);
  return id;
}

/**
 * Resolves a `User` spec against parsed passwd and group entries (either
 * may be undefined: the image has no such file). Pure; `resolveImageUser`
 * reads the files.
 */
export function execUser(
  spec: string,
  passwd: readonly PasswdEntry[] | undefined,
  group: readonly GroupEntry[] | undefined,
  options: ResolveUserOptions = {},
): ExecUser {
  if (spec.includes('\0')) throw new BerthError('IMAGE_CONFIG_INVALID', 'user spec contains a NUL byte');
  const parts = spec.split(':');
  if (parts.length > 2) throw new BerthError('IMAGE_CONFIG_INVALID', `user \`${spec}\` must be user, uid, user:group or uid:gid`);
  const userArg = parts[0] ?? '';
  const groupArg = parts[1];
  if (groupArg === '') throw new BerthError('IMAGE_CONFIG_INVALID', `user \`${spec}\` has an empty group after \`:\``);
  const where = inImage(options.image);

  const user: ExecUser = { uid: 0, gid: 0, additionalGids: [], home: '/' };
  const uidArg = parseId(userArg);
  const match = (passwd ?? []).find((u) => (userArg === '' ? u.uid === 0 : uidArg !== undefined ? u.uid === uidArg : u.name === userArg));
  if (match) {
    user.uid = match.uid;
    user.gid = match.gid;
    user.home = match.home || '/';
    user.name = match.name;
  } else if (userArg !== '') {
    if (uidArg === undefined) {
      const why = passwd ? 'no matching entry in /etc/passwd' : 'the image has no /etc/passwd';
      throw new BerthError('USER_NOT_FOUND', `unable to find user \`${userArg}\`${where}: ${why}`);
    }
    user.uid = checkRange(uidArg, 'user', spec);
  }

  if (groupArg !== undefined) {
    const gidArg = parseId(groupArg);
    const g = (group ?? []).find((e) => (gidArg !== undefined ? e.gid === gidArg : e.name === groupArg));
    if (g) {
      user.gid = g.gid;
    } else if (gidArg !== undefined) {
      user.gid = checkRange(gidArg, 'group', spec);
    } else {
      const why = group ? 'no matching entry in /etc/group' : 'the image has no /etc/group';
      throw new BerthError('USER_NOT_FOUND', `unable to find group \`${groupArg}\`${where}: ${why}`);
    }
  } else if (user.name !== undefined) {
    for (const g of group ?? []) {
      if (g.gid !== user.gid && g.members.includes(user.name) && !user.additionalGids.includes(g.gid)) user.additionalGids.push(g.gid);
    }
  }

  for (const add of options.groupAdd ?? []) {
    const gidArg = parseId(add);
    const g = (group ?? []).find((e) => (gidArg !== undefined ? e.gid === gidArg : e.name === add));
    let gid: number;
    if (g) gid = g.gid;
    else if (gidArg !== undefined) gid = checkRange(gidArg, 'group', add);
    else throw new BerthError('USER_NOT_FOUND', `unable to find group \`${add}\` (groupAdd)${where}: no matching entry in /etc/group`);
    if (!user.additionalGids.includes(gid)) user.additionalGids.push(gid);
  }
  return user;
}

/**
 * Resolves a `User` spec through `<rootfs>/etc/passwd` and
 * `<rootfs>/etc/group`, read inside the rootfs (a symlink never leads
 * out of it). A missing file is an image without users, not an error.
 */
export function resolveImageUser(rootfs: string, spec: string, options: ResolveUserOptions = {}): ExecUser {
  const passwd = readFileInRoot(rootfs, '/etc/passwd', { what: '/etc/passwd' });
  const group = readFileInRoot(rootfs, '/etc/group', { what: '/etc/group' });
  return execUser(spec, passwd && parsePasswd(passwd.toString('utf8')), group && parseGroup(group.toString('utf8')), options);
}
