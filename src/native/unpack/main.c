/*
 * berth-unpack-helper: the two system calls a layer unpack needs that
 * Node.js does not offer, mknod(2) and setxattr(2), for one unpack at a time
 * (src/image/unpack/special-files.ts starts it on the first entry that needs
 * it and ends it with the unpack). One process per unpack instead of one
 * `mknod` or `setfattr` process per entry: a layer with thousands of
 * whiteouts took seconds per thousand entries that way.
 *
 *   berth-unpack-helper ROOT
 *
 * Requests on stdin, each a list of NUL-terminated fields:
 *
 *   mknod    PARENT NAME KIND MODE MAJOR MINOR   KIND c, b or p; MODE octal
 *   setxattr PARENT NAME ATTR VALUE              VALUE in hex (values are binary)
 *
 * PARENT is a directory relative to ROOT ("" for ROOT itself), NAME one
 * component in it ("." for PARENT itself, setxattr only). One answer line
 * per request on stdout: "0" or the errno number. A request that does not
 * parse is answered EINVAL and ends the helper.
 *
 * Rule 5 of DESIGN.md section 6: nothing here follows a symlink. PARENT is
 * walked one component at a time from ROOT with O_NOFOLLOW|O_DIRECTORY, ".."
 * and "." are refused, mknodat(2) never follows (it fails on an existing
 * name) and lsetxattr(2) is called with a single component from inside
 * PARENT. The caller has resolved PARENT inside ROOT already; this makes the
 * kernel enforce it too.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#define MAX_FIELDS 8
#define MAX_XATTR_BYTES 65536

static int root_fd = -1;

static void closep(int *fd) {
  if (*fd >= 0 && *fd != root_fd) close(*fd);
}
#define cleanup_close __attribute__((cleanup(closep)))

static int valid_component(const char *c) {
  return c[0] != '\0' && strcmp(c, ".") != 0 && strcmp(c, "..") != 0 && strchr(c, '/') == NULL;
}

/* Opens PARENT below ROOT without following any symlink; returns an fd or -errno. */
static int open_parent(const char *parent) {
  int fd = root_fd;
  char buf[PATH_MAX];
  if (strlen(parent) >= sizeof(buf)) return -ENAMETOOLONG;
  strcpy(buf, parent);
  char *save = NULL;
  for (char *c = strtok_r(buf, "/", &save); c != NULL; c = strtok_r(NULL, "/", &save)) {
    if (!valid_component(c)) {
      if (fd != root_fd) close(fd);
      return -EINVAL;
    }
    int next = openat(fd, c, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int saved = errno;
    if (fd != root_fd) close(fd);
    if (next < 0) return -saved;
    fd = next;
  }
  return fd;
}

static int parse_number(const char *s, int base, unsigned long max, unsigned long *out) {
  char *end = NULL;
  errno = 0;
  unsigned long v = strtoul(s, &end, base);
  if (errno != 0 || end == s || *end != '\0' || v > max) return -1;
  *out = v;
  return 0;
}

static int do_mknod(char **f) {
  if (!valid_component(f[2]) || strlen(f[3]) != 1) return EINVAL;
  unsigned long mode, major, minor;
  if (parse_number(f[4], 8, 07777, &mode) || parse_number(f[5], 10, 0xfffff, &major) || parse_number(f[6], 10, 0xfffff, &minor)) return EINVAL;
  mode_t type;
  switch (f[3][0]) {
  case 'c': type = S_IFCHR; break;
  case 'b': type = S_IFBLK; break;
  case 'p': type = S_IFIFO; break;
  default: return EINVAL;
  }
  cleanup_close int dir = open_parent(f[1]);
  if (dir < 0) return -dir;
  if (mknodat(dir, f[2], type | (mode_t)mode, type == S_IFIFO ? 0 : makedev(major, minor)) < 0) return errno;
  return 0;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static int do_setxattr(char **f) {
  if (strcmp(f[2], ".") != 0 && !valid_component(f[2])) return EINVAL;
  if (f[3][0] == '\0') return EINVAL;
  size_t hexlen = strlen(f[4]);
  if (hexlen % 2 != 0 || hexlen / 2 > MAX_XATTR_BYTES) return EINVAL;
  static unsigned char value[MAX_XATTR_BYTES];
  for (size_t i = 0; i < hexlen / 2; i++) {
    int hi = hexval(f[4][2 * i]), lo = hexval(f[4][2 * i + 1]);
    if (hi < 0 || lo < 0) return EINVAL;
    value[i] = (unsigned char)(hi << 4 | lo);
  }
  cleanup_close int dir = open_parent(f[1]);
  if (dir < 0) return -dir;
  /* There is no setxattrat(2) before Linux 6.13: work from inside PARENT with one component. */
  if (fchdir(dir) < 0) return errno;
  if (lsetxattr(f[2], f[3], value, hexlen / 2, 0) < 0) return errno;
  return 0;
}

/* Reads one NUL-terminated field; returns 0, 1 at a clean end of input, -1 on a torn request. */
static int read_field(char **field, size_t *cap) {
  ssize_t n = getdelim(field, cap, '\0', stdin);
  if (n < 0) return feof(stdin) ? 1 : -1;
  if ((*field)[n - 1] != '\0') return -1;
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: berth-unpack-helper ROOT\n");
    return 2;
  }
  root_fd = open(argv[1], O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root_fd < 0) {
    fprintf(stderr, "berth-unpack-helper: %s: %s\n", argv[1], strerror(errno));
    return 1;
  }
  /* Modes are the tar's, exactly. */
  umask(0);
  char *f[MAX_FIELDS] = {0};
  size_t cap[MAX_FIELDS] = {0};
  for (;;) {
    int r = read_field(&f[0], &cap[0]);
    if (r == 1) return 0;
    int fields = r < 0 ? 0 : strcmp(f[0], "mknod") == 0 ? 7 : strcmp(f[0], "setxattr") == 0 ? 5 : 0;
    for (int i = 1; i < fields; i++) {
      if (read_field(&f[i], &cap[i]) != 0) {
        fields = 0;
        break;
      }
    }
    if (fields == 0) {
      printf("%d\n", EINVAL);
      fflush(stdout);
      return 1;
    }
    int err = fields == 7 ? do_mknod(f) : do_setxattr(f);
    printf("%d\n", err);
    if (fflush(stdout) != 0) return 1;
  }
}
