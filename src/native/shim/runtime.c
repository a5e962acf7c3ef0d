#include "runtime.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "util.h"

#define MAX_FIXED_ARGS 16

/* In the child between fork and exec: only async-signal-safe calls. */
static void child_exec(const struct shim_opts *o, char **argv, const int stdio[3], int report_fd) {
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  /* Ignored signals stay ignored across execve; the runtime and the container must see defaults. */
  for (int sig = 1; sig < NSIG; sig++) signal(sig, SIG_DFL);
  for (int i = 0; i < 3; i++) {
    if (dup2(stdio[i], i) < 0) goto fail;
  }
  execv(o->runtime_path, argv);
fail:;
  int e = errno;
  (void)!write(report_fd, &e, sizeof e);
  _exit(127);
}

static pid_t spawn(const struct shim_opts *o, char **argv, const int stdio[3], struct shim_err *err) {
  int report[2];
  if (pipe2(report, O_CLOEXEC) < 0) return shim_fail(err, SHIM_STAGE_SETUP, errno, "create a pipe");
  pid_t pid = fork();
  if (pid < 0) {
    int e = errno;
    close(report[0]);
    close(report[1]);
    return shim_fail(err, SHIM_STAGE_SETUP, e, "fork for the runtime");
  }
  if (pid == 0) child_exec(o, argv, stdio, report[1]);
  close(report[1]);
  int child_errno = 0;
  ssize_t n;
  do n = read(report[0], &child_errno, sizeof child_errno);
  while (n < 0 && errno == EINTR);
  close(report[0]);
  if (n == (ssize_t)sizeof child_errno) {
    waitpid(pid, NULL, 0);
    return shim_fail(err, SHIM_STAGE_RUNTIME, child_errno, "execute the runtime %s", o->runtime_path);
  }
  return pid;
}

int runtime_start(const struct shim_opts *o, const char *pid_file, const char *console_socket, const int stdio[3],
                  pid_t *pid, struct shim_err *err) {
  size_t cap = 1 + o->runtime_args.len + MAX_FIXED_ARGS;
  cleanup_free char **argv = calloc(cap, sizeof(char *));
  if (!argv) return shim_fail(err, SHIM_STAGE_SETUP, errno, "allocate the runtime's arguments");
  size_t n = 0;
  argv[n++] = (char *)o->runtime_path;
  for (size_t i = 0; i < o->runtime_args.len; i++) argv[n++] = (char *)o->runtime_args.items[i];
  if (o->bundle) {
    argv[n++] = "create";
    argv[n++] = "--bundle";
    argv[n++] = (char *)o->bundle;
  } else {
    argv[n++] = "exec";
    argv[n++] = "--process";
    argv[n++] = (char *)o->exec_process;
    argv[n++] = "--detach";
  }
  argv[n++] = "--pid-file";
  argv[n++] = (char *)pid_file;
  if (console_socket) {
    argv[n++] = "--console-socket";
    argv[n++] = (char *)console_socket;
  }
  argv[n++] = (char *)o->id;
  argv[n] = NULL;
  pid_t p = spawn(o, argv, stdio, err);
  if (p < 0) return -1;
  *pid = p;
  return 0;
}

void runtime_delete(const struct shim_opts *o) {
  size_t cap = 1 + o->runtime_args.len + 4;
  cleanup_free char **argv = calloc(cap, sizeof(char *));
  if (!argv) return;
  size_t n = 0;
  argv[n++] = (char *)o->runtime_path;
  for (size_t i = 0; i < o->runtime_args.len; i++) argv[n++] = (char *)o->runtime_args.items[i];
  argv[n++] = "delete";
  argv[n++] = "--force";
  argv[n++] = (char *)o->id;
  argv[n] = NULL;
  cleanup_close int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (devnull < 0) return;
  int stdio[3] = {devnull, devnull, devnull};
  struct shim_err err;
  pid_t pid = spawn(o, argv, stdio, &err);
  if (pid > 0) {
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
    }
  }
}

/* Reduces `time="..." level=error msg="the message"` to the message, unescaping \" and \\. */
static void strip_logrus(char *line) {
  char *m = strstr(line, " msg=\"");
  if (!m || strncmp(line, "time=", 5) != 0) return;
  char *src = m + 6, *dst = line;
  while (*src && *src != '"') {
    if (*src == '\\' && src[1]) src++;
    *dst++ = *src++;
  }
  *dst = '\0';
}

void runtime_output_read(struct runtime_output *t, int fd) {
  if (fd < 0) return;
  for (;;) {
    /* Full: keep the newer half, the error is the runtime's last words. */
    if (t->len == sizeof t->buf) {
      memmove(t->buf, t->buf + sizeof t->buf / 2, sizeof t->buf / 2);
      t->len = sizeof t->buf / 2;
    }
    ssize_t n = read(fd, t->buf + t->len, sizeof t->buf - t->len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    t->len += (size_t)n;
  }
}

void runtime_error_text(const struct runtime_output *t, char *out, size_t cap) {
  char line[sizeof t->buf + 1];
  size_t len = t->len;
  while (len > 0 && (t->buf[len - 1] == '\n' || t->buf[len - 1] == '\r' || t->buf[len - 1] == ' ')) len--;
  size_t start = len;
  while (start > 0 && t->buf[start - 1] != '\n') start--;
  memcpy(line, t->buf + start, len - start);
  line[len - start] = '\0';
  strip_logrus(line);
  snprintf(out, cap, "%s", line);
}

int read_pid_file(const char *path, pid_t *pid, struct shim_err *err) {
  cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return shim_fail(err, SHIM_STAGE_RUNTIME, errno, "the runtime wrote no pid file %s", path);
  char buf[32];
  ssize_t n = read(fd, buf, sizeof buf - 1);
  if (n <= 0) return shim_fail(err, SHIM_STAGE_RUNTIME, n < 0 ? errno : EINVAL, "read the pid file %s", path);
  buf[n] = '\0';
  char *end;
  long v = strtol(buf, &end, 10);
  if (end == buf || v <= 0 || (*end != '\0' && *end != '\n'))
    return shim_fail(err, SHIM_STAGE_RUNTIME, EINVAL, "the pid file %s does not hold a pid", path);
  *pid = (pid_t)v;
  return 0;
}
