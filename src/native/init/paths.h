/*
 * Safe path handling (security rules 3 and 4): every path under the
 * container rootfs is resolved with openat2(RESOLVE_IN_ROOT), so a symlink
 * in the image (or swapped in by a container process) cannot lead outside
 * the rootfs (CVE-2021-30465); procfs is used only through a handle that was
 * checked to be procfs (CVE-2025-52881).
 */
#ifndef BERTH_INIT_PATHS_H
#define BERTH_INIT_PATHS_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"

/* openat2(2) wrapper: fd or -1 with errno. */
int openat2_fd(int dirfd, const char *path, uint64_t flags, uint64_t resolve);

/* Resolve path inside the root rootfd (RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS). */
int root_open(int rootfd, const char *path, uint64_t flags);

/* Resolve path inside rootfd, creating missing components one by one (dirs
 * 0755; with last_is_file the last one is an empty 0644 file). Each new
 * component is created under the fd of its resolved parent, never by
 * path. Returns an O_PATH fd of the result. */
int root_mkdir_all(int rootfd, const char *path, bool last_is_file, int stage, struct berth_err *err);

/* Resolve (creating as above) the parent directory of path; *name gets a
 * malloc'ed copy of the last component. Returns an O_PATH fd. */
int root_open_parent(int rootfd, const char *path, char **name, int stage, struct berth_err *err);

/* "/proc/self/fd/N", for mount(2) and re-opening an O_PATH fd. */
struct fd_path {
  char s[32];
};
struct fd_path fd_path(int fd);

/* Open a procfs directory (O_PATH) and check with fstatfs that it is one. */
int procfs_open(const char *path, int stage, struct berth_err *err);

/* The per-mount flags (MS_RDONLY, MS_NOSUID, ...) of the mount fd is on,
 * from fstatfs. A bind remount in a user namespace must repeat the locked
 * ones or the kernel refuses it (mount_namespaces(7), "locked mounts"). */
int mount_flags_of(int fd, unsigned long *flags);

#endif
