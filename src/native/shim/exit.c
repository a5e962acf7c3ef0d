#include "exit.h"

#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "util.h"

/* Reads up to cap-1 bytes of a small file (procfs, cgroupfs) from the start. */
static ssize_t read_small(int fd, char *buf, size_t cap) {
  size_t off = 0;
  while (off + 1 < cap) {
    ssize_t n = pread(fd, buf + off, cap - 1 - off, (off_t)off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -1;
    if (n == 0) break;
    off += (size_t)n;
  }
  buf[off] = '\0';
  return (ssize_t)off;
}

static long long oom_count(int fd) {
  char buf[1024];
  if (read_small(fd, buf, sizeof buf) < 0) return -1;
  /* Both files are "key value" lines; the kill counter is the same key in v1 and v2. */
  for (char *line = buf; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
    if (strncmp(line, "oom_kill ", 9) == 0) return strtoll(line + 9, NULL, 10);
  }
  return -1;
}

/*
 * A small line reader over read(2), so that finding the cgroup costs a
 * kilobyte of stack and no heap. Lines longer than the buffer are skipped:
 * the lines wanted here (cgroup mounts, /proc/PID/cgroup) are short.
 */
struct lines {
  int fd;
  size_t len;
  char buf[1024];
};

static char *next_line(struct lines *r, size_t *consumed) {
  bool skipping = false;
  memmove(r->buf, r->buf + *consumed, r->len - *consumed);
  r->len -= *consumed;
  *consumed = 0;
  for (;;) {
    char *nl = memchr(r->buf, '\n', r->len);
    if (nl) {
      *nl = '\0';
      *consumed = (size_t)(nl - r->buf) + 1;
      if (!skipping) return r->buf;
      skipping = false;
      memmove(r->buf, r->buf + *consumed, r->len - *consumed);
      r->len -= *consumed;
      *consumed = 0;
      continue;
    }
    if (r->len == sizeof r->buf) {
      skipping = true;
      r->len = 0;
    }
    ssize_t n = read(r->fd, r->buf + r->len, sizeof r->buf - r->len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return NULL;
    r->len += (size_t)n;
  }
}

/* True when `list` (comma-separated) has `word`. */
static bool has_word(const char *list, const char *word) {
  size_t wl = strlen(word);
  for (const char *p = list; *p;) {
    size_t n = strcspn(p, ",");
    if (n == wl && strncmp(p, word, wl) == 0) return true;
    p += n + (p[n] == ',');
  }
  return false;
}

/*
 * The mount point and root of the cgroup hierarchy that has the memory
 * controller (v1: fstype cgroup with "memory" among its super options) or of
 * the unified hierarchy (v2: fstype cgroup2). Fields of a mountinfo line:
 * id parent major:minor root mountpoint options... - fstype source super (proc(5)).
 */
static bool find_mount(bool v2, char *mnt, size_t mnt_cap, char *root, size_t root_cap) {
  struct lines r = {.fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC)};
  if (r.fd < 0) return false;
  bool found = false;
  size_t used = 0;
  for (char *line; !found && (line = next_line(&r, &used)) != NULL;) {
    char *sep = strstr(line, " - ");
    if (!sep) continue;
    *sep = '\0';
    char *save = NULL;
    char *fstype = strtok_r(sep + 3, " ", &save);
    char *source = fstype ? strtok_r(NULL, " ", &save) : NULL;
    char *super = source ? strtok_r(NULL, " ", &save) : NULL;
    if (!fstype || strcmp(fstype, v2 ? "cgroup2" : "cgroup") != 0) continue;
    if (!v2 && (!super || !has_word(super, "memory"))) continue;
    char *f[5];
    save = NULL;
    f[0] = strtok_r(line, " ", &save);
    for (int i = 1; i < 5 && f[i - 1]; i++) f[i] = strtok_r(NULL, " ", &save);
    if (!f[0] || !f[1] || !f[2] || !f[3] || !f[4]) continue;
    snprintf(root, root_cap, "%s", f[3]);
    snprintf(mnt, mnt_cap, "%s", f[4]);
    found = true;
  }
  close(r.fd);
  return found;
}

void oom_watch_start(struct oom_watch *w, pid_t pid) {
  w->fd = -1;
  w->baseline = 0;
  char cgpath[1024] = "";
  bool has_v1 = false, has_v2 = false;
  {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/cgroup", (int)pid);
    struct lines r = {.fd = open(path, O_RDONLY | O_CLOEXEC)};
    if (r.fd < 0) return;
    size_t used = 0;
    for (char *line; !has_v1 && (line = next_line(&r, &used)) != NULL;) {
      /* "ID:CONTROLLERS:PATH"; v2's line has no controllers. */
      char *c1 = strchr(line, ':');
      char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
      if (!c2) continue;
      *c2 = '\0';
      if (c1[1] == '\0') {
        if (!has_v1) snprintf(cgpath, sizeof cgpath, "%s", c2 + 1);
        has_v2 = true;
      } else if (has_word(c1 + 1, "memory")) {
        snprintf(cgpath, sizeof cgpath, "%s", c2 + 1);
        has_v1 = true;
      }
    }
    close(r.fd);
  }
  /* A hybrid host keeps memory on v1; the v2 file is only used where v1 lacks the controller. */
  if (!has_v1 && !has_v2) return;
  bool v2 = !has_v1;
  char mnt[512], root[512];
  if (!find_mount(v2, mnt, sizeof mnt, root, sizeof root)) return;
  /* /proc/PID/cgroup is relative to our cgroup namespace, like the mount's root. */
  const char *rel = cgpath;
  size_t rl = strcmp(root, "/") == 0 ? 0 : strlen(root);
  if (rl && strncmp(rel, root, rl) == 0) rel += rl;
  char file[1600];
  snprintf(file, sizeof file, "%s%s/%s", mnt, rel, v2 ? "memory.events" : "memory.oom_control");
  int fd = open(file, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  long long n = oom_count(fd);
  if (n < 0) {
    close(fd);
    return;
  }
  w->fd = fd;
  w->baseline = n;
}

bool oom_watch_killed(struct oom_watch *w) {
  if (w->fd < 0) return false;
  long long n = oom_count(w->fd);
  close(w->fd);
  w->fd = -1;
  return n > w->baseline;
}

/* The temp file beside the exit file: same directory, so rename is atomic. */
static void temp_path(const char *path, char *out, size_t cap) {
  const char *slash = strrchr(path, '/');
  snprintf(out, cap, "%.*s/.%s.tmp", (int)(slash - path), path, slash + 1);
}

/* fsync(2) of the directory of `path` (edited in place: cut at its last slash). */
static int fsync_dir_of(char *path) {
  char *slash = strrchr(path, '/');
  if (!slash) return -1;
  *slash = '\0';
  cleanup_close int fd = open(slash == path ? "/" : path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -1;
  return fsync(fd);
}

int exit_file_check(const char *path, struct shim_err *err) {
  char tmp[strlen(path) + 8];
  struct stat st;
  if (lstat(path, &st) == 0)
    return shim_fail(err, SHIM_STAGE_SETUP, EEXIST, "exit file %s already exists; remove the previous run's status first", path);
  temp_path(path, tmp, sizeof tmp);
  cleanup_close int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == EEXIST) {
      /* A shim that died while writing; the temp file is ours to replace. */
      unlink(tmp);
      fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    }
    if (fd < 0) return shim_fail(err, SHIM_STAGE_SETUP, errno, "cannot write in the directory of exit file %s", path);
  }
  unlink(tmp);
  return 0;
}

int exit_file_write(const char *path, const struct exit_status *st, struct shim_err *err) {
  char started[RFC3339_LEN + 1], finished[RFC3339_LEN + 1];
  format_rfc3339(&st->started, started);
  format_rfc3339(&st->finished, finished);
  int code, sig = 0;
  if (WIFSIGNALED(st->wait_status)) {
    sig = WTERMSIG(st->wait_status);
    code = 128 + sig;
  } else {
    code = WEXITSTATUS(st->wait_status);
  }
  char sigtext[16];
  if (sig) snprintf(sigtext, sizeof sigtext, "%d", sig);
  else snprintf(sigtext, sizeof sigtext, "null");
  char body[512];
  int len = snprintf(body, sizeof body,
                     "{\"exitCode\":%d,\"signal\":%s,\"oomKilled\":%s,\"pid\":%d,\"startedAt\":\"%s\",\"finishedAt\":\"%s\"}\n",
                     code, sigtext, st->oom_killed ? "true" : "false", (int)st->pid, started, finished);

  char tmp[strlen(path) + 8];
  temp_path(path, tmp, sizeof tmp);
  cleanup_close int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return shim_fail(err, SHIM_STAGE_SETUP, errno, "create %s", tmp);
  if (write_all(fd, body, (size_t)len) < 0 || fsync(fd) < 0) {
    int e = errno;
    unlink(tmp);
    return shim_fail(err, SHIM_STAGE_SETUP, e, "write %s", tmp);
  }
  if (rename(tmp, path) < 0) {
    int e = errno;
    unlink(tmp);
    return shim_fail(err, SHIM_STAGE_SETUP, e, "rename %s to %s", tmp, path);
  }
  /* The rename is durable only once the directory is. */
  fsync_dir_of(tmp);
  return 0;
}
