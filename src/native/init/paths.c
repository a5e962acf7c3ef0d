#include "paths.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>

int openat2_fd(int dirfd, const char *path, uint64_t flags, uint64_t resolve) {
  struct open_how how = {.flags = flags, .mode = 0, .resolve = resolve};
  int fd;
  do fd = (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
  while (fd < 0 && errno == EINTR);
  return fd;
}

int root_open(int rootfd, const char *path, uint64_t flags) {
  return openat2_fd(rootfd, path, flags | O_CLOEXEC, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
}

struct fd_path fd_path(int fd) {
  struct fd_path p;
  snprintf(p.s, sizeof p.s, "/proc/self/fd/%d", fd);
  return p;
}

/* path split into components, with "." dropped and ".." applied lexically
 * (clamped at the root, as RESOLVE_IN_ROOT would). */
struct comps {
  char *buf;
  char **v;
  size_t n;
};

static void comps_free(struct comps *c) {
  free(c->buf);
  free(c->v);
}

static int comps_split(const char *path, struct comps *c) {
  c->n = 0;
  c->buf = strdup(path);
  c->v = malloc(sizeof *c->v * (strlen(path) / 2 + 2));
  if (c->buf == NULL || c->v == NULL) return -1;
  char *save = NULL;
  for (char *t = strtok_r(c->buf, "/", &save); t != NULL; t = strtok_r(NULL, "/", &save)) {
    if (strcmp(t, ".") == 0) continue;
    if (strcmp(t, "..") == 0) {
      if (c->n > 0) c->n--;
      continue;
    }
    c->v[c->n++] = t;
  }
  return 0;
}

/* The path made of target (a symlink's contents, found at component i of
 * c) followed by the components after i: absolute targets are relative to
 * the root (RESOLVE_IN_ROOT's rule), relative ones to the link's parent. */
static char *splice_link(const struct comps *c, size_t i, const char *target) {
  size_t len = strlen(target) + 2;
  for (size_t k = 0; k < c->n; k++) len += strlen(c->v[k]) + 1;
  char *out = malloc(len);
  if (out == NULL) return NULL;
  out[0] = '\0';
  if (target[0] != '/')
    for (size_t k = 0; k < i; k++) strcat(strcat(out, "/"), c->v[k]);
  strcat(strcat(out, "/"), target);
  for (size_t k = i + 1; k < c->n; k++) strcat(strcat(out, "/"), c->v[k]);
  return out;
}

int root_mkdir_all(int rootfd, const char *path, bool last_is_file, int stage, struct berth_err *err) {
  int fd = root_open(rootfd, path, O_PATH);
  if (fd >= 0) return fd;
  if (errno != ENOENT) return berth_fail(err, stage, errno, "resolve %s in the rootfs", path);

  cleanup_free char *want = strdup(path);
  if (want == NULL) return berth_fail(err, stage, ENOMEM, "resolve %s in the rootfs", path);
  for (int links = 0;; links++) {
    if (links > 40) return berth_fail(err, stage, ELOOP, "resolve %s in the rootfs", path);
    __attribute__((cleanup(comps_free))) struct comps c = {0};
    if (comps_split(want, &c) < 0) return berth_fail(err, stage, ENOMEM, "resolve %s in the rootfs", path);
    cleanup_free char *prefix = malloc(strlen(want) + 2);
    if (prefix == NULL) return berth_fail(err, stage, ENOMEM, "resolve %s in the rootfs", path);
    prefix[0] = '\0';
    cleanup_close int cur = fcntl(rootfd, F_DUPFD_CLOEXEC, 3);
    if (cur < 0) return berth_fail(err, stage, errno, "dup rootfs fd");
    char *spliced = NULL;
    for (size_t i = 0; i < c.n && spliced == NULL; i++) {
      strcat(strcat(prefix, "/"), c.v[i]);
      int next = root_open(rootfd, prefix, O_PATH);
      if (next < 0 && errno == ENOENT) {
        /* A dangling symlink: follow it by rewriting the path, so that
         * what gets created is where the link points, inside the root. */
        char target[4096];
        ssize_t n = readlinkat(cur, c.v[i], target, sizeof target - 1);
        if (n >= 0) {
          target[n] = '\0';
          spliced = splice_link(&c, i, target);
          if (spliced == NULL) return berth_fail(err, stage, ENOMEM, "resolve %s in the rootfs", path);
          continue;
        }
        if (last_is_file && i + 1 == c.n) {
          int f = openat(cur, c.v[i], O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
          if (f < 0 && errno != EEXIST) return berth_fail(err, stage, errno, "create file %s in the rootfs", prefix);
          if (f >= 0) close(f);
        } else if (mkdirat(cur, c.v[i], 0755) < 0 && errno != EEXIST) {
          return berth_fail(err, stage, errno, "create directory %s in the rootfs", prefix);
        }
        next = root_open(rootfd, prefix, O_PATH);
      }
      if (next < 0) return berth_fail(err, stage, errno, "resolve %s in the rootfs", prefix);
      close(cur);
      cur = next;
    }
    if (spliced == NULL) return take_fd(&cur);
    free(want);
    want = spliced;
  }
}

int root_open_parent(int rootfd, const char *path, char **name, int stage, struct berth_err *err) {
  __attribute__((cleanup(comps_free))) struct comps c = {0};
  if (comps_split(path, &c) < 0) return berth_fail(err, stage, ENOMEM, "resolve %s in the rootfs", path);
  if (c.n == 0) return berth_fail(err, stage, EINVAL, "%s names the root directory itself", path);
  cleanup_free char *parent = malloc(strlen(path) + 2);
  if (parent == NULL) return berth_fail(err, stage, ENOMEM, "resolve %s in the rootfs", path);
  parent[0] = '/';
  parent[1] = '\0';
  for (size_t i = 0; i + 1 < c.n; i++) {
    if (i > 0) strcat(parent, "/");
    strcat(parent, c.v[i]);
  }
  *name = strdup(c.v[c.n - 1]);
  if (*name == NULL) return berth_fail(err, stage, ENOMEM, "resolve %s in the rootfs", path);
  int fd = root_mkdir_all(rootfd, parent, false, stage, err);
  if (fd < 0) {
    free(*name);
    *name = NULL;
  }
  return fd;
}

int procfs_open(const char *path, int stage, struct berth_err *err) {
  cleanup_close int fd = open(path, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return berth_fail(err, stage, errno, "open %s", path);
  struct statfs sfs;
  if (fstatfs(fd, &sfs) < 0) return berth_fail(err, stage, errno, "statfs %s", path);
  if (sfs.f_type != PROC_SUPER_MAGIC)
    return berth_fail(err, stage, EXDEV, "%s is not procfs (filesystem magic 0x%lx)", path, (unsigned long)sfs.f_type);
  return take_fd(&fd);
}

int mount_flags_of(int fd, unsigned long *flags) {
  static const struct {
    unsigned long st, ms;
  } map[] = {
      {ST_RDONLY, MS_RDONLY},         {ST_NOSUID, MS_NOSUID},     {ST_NODEV, MS_NODEV},
      {ST_NOEXEC, MS_NOEXEC},         {ST_NOATIME, MS_NOATIME},   {ST_NODIRATIME, MS_NODIRATIME},
      {ST_RELATIME, MS_RELATIME},     {ST_SYNCHRONOUS, MS_SYNCHRONOUS},
  };
  struct statfs sfs;
  if (fstatfs(fd, &sfs) < 0) return -1;
  *flags = 0;
  for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
    if ((unsigned long)sfs.f_flags & map[i].st) *flags |= map[i].ms;
  return 0;
}
