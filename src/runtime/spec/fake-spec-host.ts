/**
 * An in-memory SpecHost for tests: a table of paths. Symlinks are followed
 * by fileKind, statfsType and readFile; sameFile compares the resolved
 * entries.
 */
import { posix } from 'node:path';
import { NSFS_MAGIC } from '../../oci/linux-constants.js';
import type { FileKind, SpecHost } from './spec-host.js';

export interface FakeFile {
  kind: FileKind;
  /** statfs f_type; default 0xef53 (ext4). */
  fsType?: number;
  content?: string;
  /** Symlink target. */
  target?: string;
}

const EXT4 = 0xef53;

/** A host with namespaces, cap_last_cap 40, no AppArmor, SELinux or resctrl, and /proc/kcore. */
export function typicalHostFiles(): Record<string, FakeFile> {
  const files: Record<string, FakeFile> = {
    '/proc/self/timens_offsets': { kind: 'file', content: '' },
    '/proc/sys/kernel/cap_last_cap': { kind: 'file', content: '40\n' },
    '/proc/self/mountinfo': { kind: 'file', content: '22 1 0:21 / /proc rw - proc proc rw\n' },
    '/proc/kcore': { kind: 'file' },
  };
  for (const ns of ['user', 'ipc', 'uts', 'net', 'pid', 'mnt', 'cgroup', 'time']) {
    files[`/proc/self/ns/${ns}`] = { kind: 'symlink', target: `/nsfs/${ns}:[4026531835]` };
    files[`/nsfs/${ns}:[4026531835]`] = { kind: 'file', fsType: NSFS_MAGIC };
  }
  return files;
}

export function fakeSpecHost(files: Record<string, FakeFile> = typicalHostFiles()): SpecHost {
  const resolveLinks = (path: string, depth = 0): string | undefined => {
    const f = files[path];
    if (!f) return undefined;
    if (f.kind !== 'symlink') return path;
    if (depth > 40 || f.target === undefined) return undefined;
    return resolveLinks(posix.resolve(posix.dirname(path), f.target), depth + 1);
  };
  const followed = (path: string): FakeFile | undefined => {
    const real = resolveLinks(path);
    return real === undefined ? undefined : files[real];
  };
  return {
    fileKind(path) {
      return followed(path)?.kind as Exclude<FileKind, 'symlink'> | undefined;
    },
    linkKind(path) {
      return files[path]?.kind;
    },
    readlink(path) {
      const f = files[path];
      return f?.kind === 'symlink' ? f.target : undefined;
    },
    statfsType(path) {
      const f = followed(path);
      return f === undefined ? undefined : (f.fsType ?? EXT4);
    },
    sameFile(a, b) {
      const ra = resolveLinks(a);
      return ra !== undefined && ra === resolveLinks(b);
    },
    readFile(path) {
      return followed(path)?.content;
    },
  };
}
