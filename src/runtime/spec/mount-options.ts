/**
 * Parses the `options` of an OCI mount the way runc does
 * (libcontainer/specconv parseMountOptions): known names become MS_* flags
 * to set or clear, propagation names become a list of propagation changes,
 * and anything else is filesystem data, comma-joined.
 *
 * Differences from runc, each on purpose:
 * - `defaults` is a no-op (runc passes it on as filesystem data).
 * - Options berth cannot honour are errors, never filesystem data: for a
 *   bind mount the kernel ignores data, so an unknown `rro` would silently
 *   leave a mount writable. That covers tmpcopyup, idmap/ridmap and the
 *   recursive mount_setattr(2) options (rro, rnosuid, ...).
 * - An option with a comma that hides a flag name (`"ro,nosuid"`) is an
 *   error instead of becoming data.
 */
import { BerthError } from '../../errors/index.js';
import { MS } from '../../oci/linux-constants.js';

export interface ParsedMountOptions {
  /** MS_* flags to set, MS_BIND|MS_REC included for rbind. */
  flags: bigint;
  /** MS_* flags explicitly cleared (`rw`, `suid`, `dev` ...). */
  clearFlags: bigint;
  /** Propagation changes (MS_PRIVATE|MS_REC ...) in the order given. */
  propagation: bigint[];
  /** Options that are not flags, comma-joined, for the filesystem. */
  data: string;
  /** `bind` or `rbind` was given. */
  bind: boolean;
  /** `rbind`: MS_REC with MS_BIND. */
  recursive: boolean;
  /**
   * For bind mounts: the flags beyond MS_BIND|MS_REC|MS_REMOUNT, which a
   * bind mount ignores and which therefore need a second
   * mount(MS_BIND|MS_REMOUNT|flags) call (runc does the same); 0n when
   * none or not a bind.
   */
  remountFlags: bigint;
}

interface FlagOption {
  clear: boolean;
  flag: bigint;
}

/** Options that set or clear MS_* flags. */
export const MOUNT_FLAG_OPTIONS: Readonly<Record<string, FlagOption>> = Object.freeze({
  async: { clear: true, flag: MS.SYNCHRONOUS },
  atime: { clear: true, flag: MS.NOATIME },
  bind: { clear: false, flag: MS.BIND },
  defaults: { clear: false, flag: 0n },
  dev: { clear: true, flag: MS.NODEV },
  diratime: { clear: true, flag: MS.NODIRATIME },
  dirsync: { clear: false, flag: MS.DIRSYNC },
  exec: { clear: true, flag: MS.NOEXEC },
  iversion: { clear: false, flag: MS.I_VERSION },
  lazytime: { clear: false, flag: MS.LAZYTIME },
  loud: { clear: true, flag: MS.SILENT },
  mand: { clear: false, flag: MS.MANDLOCK },
  noatime: { clear: false, flag: MS.NOATIME },
  nodev: { clear: false, flag: MS.NODEV },
  nodiratime: { clear: false, flag: MS.NODIRATIME },
  noexec: { clear: false, flag: MS.NOEXEC },
  noiversion: { clear: true, flag: MS.I_VERSION },
  nolazytime: { clear: true, flag: MS.LAZYTIME },
  nomand: { clear: true, flag: MS.MANDLOCK },
  norelatime: { clear: true, flag: MS.RELATIME },
  nostrictatime: { clear: true, flag: MS.STRICTATIME },
  nosuid: { clear: false, flag: MS.NOSUID },
  nosymfollow: { clear: false, flag: MS.NOSYMFOLLOW },
  rbind: { clear: false, flag: MS.BIND | MS.REC },
  relatime: { clear: false, flag: MS.RELATIME },
  remount: { clear: false, flag: MS.REMOUNT },
  ro: { clear: false, flag: MS.RDONLY },
  rw: { clear: true, flag: MS.RDONLY },
  silent: { clear: false, flag: MS.SILENT },
  strictatime: { clear: false, flag: MS.STRICTATIME },
  suid: { clear: true, flag: MS.NOSUID },
  symfollow: { clear: true, flag: MS.NOSYMFOLLOW },
  sync: { clear: false, flag: MS.SYNCHRONOUS },
});

/** Propagation options → the flags of the mount(2) call that applies them. */
export const MOUNT_PROPAGATION_OPTIONS: Readonly<Record<string, bigint>> = Object.freeze({
  private: MS.PRIVATE,
  rprivate: MS.PRIVATE | MS.REC,
  shared: MS.SHARED,
  rshared: MS.SHARED | MS.REC,
  slave: MS.SLAVE,
  rslave: MS.SLAVE | MS.REC,
  unbindable: MS.UNBINDABLE,
  runbindable: MS.UNBINDABLE | MS.REC,
});

/** Options runc knows that berth refuses, with the reason. */
export const UNSUPPORTED_MOUNT_OPTIONS: Readonly<Record<string, string>> = Object.freeze({
  tmpcopyup: 'tmpcopyup (copying the directory underneath into a new tmpfs) is not supported by berth',
  idmap: 'id-mapped mounts (idmap) are not supported by berth',
  ridmap: 'id-mapped mounts (ridmap) are not supported by berth',
  ...Object.fromEntries(
    [
      'rro', 'rrw', 'rnosuid', 'rsuid', 'rnodev', 'rdev', 'rnoexec', 'rexec', 'rnodiratime', 'rdiratime',
      'rrelatime', 'rnorelatime', 'rnoatime', 'ratime', 'rstrictatime', 'rnostrictatime', 'rnosymfollow',
      'rsymfollow',
    ].map((o) => [o, `recursive mount attributes (${o}, mount_setattr(2)) are not supported by berth`]),
  ),
});

/** Every option name berth gives a meaning to (for the features document), sorted. */
export function knownMountOptions(): string[] {
  return [...Object.keys(MOUNT_FLAG_OPTIONS), ...Object.keys(MOUNT_PROPAGATION_OPTIONS)].sort();
}

/** The flag bits that a bind mount ignores and that need the MS_REMOUNT pass. */
const BIND_FIRST_PASS = MS.BIND | MS.REC | MS.REMOUNT;

/**
 * Parse one mount's options. `field` names the options array in errors,
 * e.g. `mounts[3].options`; a rejected option is reported as
 * `mounts[3].options[1]`.
 */
export function parseMountOptions(options: readonly string[] | undefined, field = 'options'): ParsedMountOptions {
  let flags = 0n;
  let clearFlags = 0n;
  const propagation: bigint[] = [];
  const data: string[] = [];
  for (const [i, option] of (options ?? []).entries()) {
    const at = `${field}[${i}]`;
    const flagOption = Object.hasOwn(MOUNT_FLAG_OPTIONS, option) ? MOUNT_FLAG_OPTIONS[option] : undefined;
    if (flagOption) {
      if (flagOption.clear) {
        flags &= ~flagOption.flag;
        clearFlags |= flagOption.flag;
      } else {
        flags |= flagOption.flag;
        clearFlags &= ~flagOption.flag;
      }
      continue;
    }
    const prop = Object.hasOwn(MOUNT_PROPAGATION_OPTIONS, option) ? MOUNT_PROPAGATION_OPTIONS[option] : undefined;
    if (prop !== undefined) {
      propagation.push(prop);
      continue;
    }
    if (Object.hasOwn(UNSUPPORTED_MOUNT_OPTIONS, option)) {
      throw new BerthError('CONFIG_UNSUPPORTED', `${at}: ${UNSUPPORTED_MOUNT_OPTIONS[option]}`, { field: at });
    }
    if (option.includes(',')) {
      const hidden = option.split(',').find((part) => isKnownOptionName(part));
      if (hidden !== undefined) {
        throw new BerthError(
          'CONFIG_INVALID',
          `${at}: \`${option}\` hides the mount option \`${hidden}\` behind a comma; give each option as its own array element`,
          { field: at },
        );
      }
    }
    data.push(option);
  }
  const bind = (flags & MS.BIND) !== 0n;
  return {
    flags,
    clearFlags,
    propagation,
    data: data.join(','),
    bind,
    recursive: bind && (flags & MS.REC) !== 0n,
    remountFlags: bind ? flags & ~BIND_FIRST_PASS : 0n,
  };
}

function isKnownOptionName(name: string): boolean {
  return (
    Object.hasOwn(MOUNT_FLAG_OPTIONS, name) ||
    Object.hasOwn(MOUNT_PROPAGATION_OPTIONS, name) ||
    Object.hasOwn(UNSUPPORTED_MOUNT_OPTIONS, name)
  );
}
