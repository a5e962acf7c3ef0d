/*
 * berth-shim: the monitor of one container process, shaped like conmon.
 *
 *   manager ──spawn──▶ P0 ──fork──▶ P1 (setsid) ──fork──▶ P2, the shim
 *                      │                         exits      │ child subreaper
 *                      │ checks the options, opens the log, │ runs `RUNTIME create` (or exec)
 *                      │ binds the sockets                  │ reports {"pid":N} on the sync fd
 *                      │ waits for P2's status byte,        │ monitors until the process exits,
 *                      ▼ exits 0 or 1                       ▼ writes the exit file, exits
 *
 * P0 stays the manager's child until the report is out, so the manager
 * sees a failure both on the sync fd and as P0's exit status. P2 is in its
 * own session (never a session leader, so it can never get a controlling
 * terminal) and its parent is init: it outlives the manager.
 *
 * Everything that fails leaves nothing behind: the sockets, the log file the
 * shim created and its private directory are removed, and a container the
 * runtime created but the shim could not take charge of is deleted.
 */
#include <fcntl.h>
#include <limits.h>
#include <linux/close_range.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <poll.h>
#include <unistd.h>

#include "console.h"
#include "error.h"
#include "runtime.h"
#include "shim.h"
#include "sock.h"
#include "util.h"

#define BERTH_SHIM_VERSION "0.1.0"

static void report_line(struct shim *s, const char *line, size_t len) {
  if (s->sync_fd < 0) return;
  write_all(s->sync_fd, line, len); /* EPIPE: the manager is gone, which is its business */
}

static void report_error(struct shim *s, const struct shim_err *err) {
  char out[1400];
  size_t len = (size_t)snprintf(out, sizeof out, "{\"error\":\"");
  json_escape(out, sizeof out - 64, &len, err->msg);
  len += (size_t)snprintf(out + len, sizeof out - len, "\",\"errno\":%d,\"stage\":\"%s\"}\n", err->errnum,
                          shim_stage_name(err->stage));
  report_line(s, out, len);
  shim_err_print(err);
}

static void close_fd(int *fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

/* Removes the private directory: the console socket and the default pid file. */
static void remove_tmpdir(struct shim *s) {
  close_fd(&s->console_listen);
  if (!s->tmpdir[0]) return;
  if (s->console_path[0]) unlink(s->console_path);
  if (!s->o->pid_file) unlink(s->pid_path);
  rmdir(s->tmpdir);
  s->tmpdir[0] = '\0';
}

/* Undoes prepare(): nothing the shim made stays behind. */
static void undo(struct shim *s) {
  attach_close_all(&s->attach);
  attach_close_listener(&s->attach);
  ctrl_close(&s->ctrl);
  if (s->log.fd >= 0 && s->log.created) unlink(s->log.path);
  log_close(&s->log);
  remove_tmpdir(s);
  int *fds[] = {&s->out_r, &s->out_w, &s->err_r, &s->err_w, &s->in_r, &s->in_w, &s->rterr_r, &s->rterr_w, &s->master};
  for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++) close_fd(fds[i]);
}

static int make_pipe(int *r, int *w, bool nonblock_read, bool nonblock_write, struct shim_err *err) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) < 0) return shim_fail(err, SHIM_STAGE_SETUP, errno, "create a pipe");
  *r = p[0];
  *w = p[1];
  if ((nonblock_read && set_nonblock(*r, true) < 0) || (nonblock_write && set_nonblock(*w, true) < 0))
    return shim_fail(err, SHIM_STAGE_SETUP, errno, "make a pipe non-blocking");
  return 0;
}

/* Everything that can fail before the runtime runs, while the manager still waits on P0. */
static int prepare(struct shim *s, struct shim_err *err) {
  const struct shim_opts *o = s->o;
  if (exit_file_check(o->exit_file, err) < 0) return -1;
  if (log_open(&s->log, o->log_path, (unsigned long long)o->log_size_max, (unsigned)o->log_max_files,
               (size_t)o->log_line_max, err) < 0)
    return -1;
  if (o->attach_socket) {
    s->attach.path = o->attach_socket;
    s->attach.listen_fd = sock_listen("attach socket", o->attach_socket, err);
    if (s->attach.listen_fd < 0) return -1;
  }
  if (o->control_socket) {
    s->ctrl.path = o->control_socket;
    s->ctrl.listen_fd = sock_listen("control socket", o->control_socket, err);
    if (s->ctrl.listen_fd < 0) return -1;
  }
  if (o->terminal || !o->pid_file) {
    snprintf(s->tmpdir, sizeof s->tmpdir, "/tmp/berth-shim-XXXXXX");
    if (!mkdtemp(s->tmpdir)) {
      int e = errno;
      s->tmpdir[0] = '\0';
      return shim_fail(err, SHIM_STAGE_SETUP, e, "create a private directory under /tmp");
    }
  }
  if (o->pid_file) snprintf(s->pid_path, sizeof s->pid_path, "%s", o->pid_file);
  else snprintf(s->pid_path, sizeof s->pid_path, "%s/pid", s->tmpdir);
  if (o->terminal) {
    snprintf(s->console_path, sizeof s->console_path, "%s/console.sock", s->tmpdir);
    s->console_listen = sock_listen("console socket", s->console_path, err);
    if (s->console_listen < 0) {
      s->console_path[0] = '\0';
      return -1;
    }
    if (make_pipe(&s->rterr_r, &s->rterr_w, true, false, err) < 0) return -1;
  } else {
    if (make_pipe(&s->out_r, &s->out_w, true, false, err) < 0) return -1;
    if (make_pipe(&s->err_r, &s->err_w, true, false, err) < 0) return -1;
    if (o->stdin_open && make_pipe(&s->in_r, &s->in_w, false, true, err) < 0) return -1;
  }
  return 0;
}

/*
 * P0 -> P1 -> P2. Returns in P2 with the write end of the status pipe; P0
 * and P1 never return.
 */
static int daemonize(struct shim *s) {
  int st[2];
  struct shim_err err;
  if (pipe2(st, O_CLOEXEC) < 0) {
    shim_fail(&err, SHIM_STAGE_SETUP, errno, "create the status pipe");
    goto fail;
  }
  pid_t p1 = fork();
  if (p1 < 0) {
    shim_fail(&err, SHIM_STAGE_SETUP, errno, "fork");
    goto fail;
  }
  if (p1 > 0) {
    close(st[1]);
    while (waitpid(p1, NULL, 0) < 0 && errno == EINTR) {
    }
    unsigned char b;
    ssize_t n;
    do n = read(st[0], &b, 1);
    while (n < 0 && errno == EINTR);
    if (n == 1) _exit(b);
    /* P2 died without a word: it can clean up no more, so P0 does. */
    shim_fail(&err, SHIM_STAGE_SETUP, 0, "berth-shim exited before reporting");
    goto fail;
  }
  close(st[0]);
  if (setsid() < 0) _exit(1);
  pid_t p2 = fork();
  if (p2 != 0) _exit(p2 < 0 ? 1 : 0);
  return st[1];
fail:
  report_error(s, &err);
  undo(s);
  _exit(1);
}

static void drain_signalfd(int fd) {
  struct signalfd_siginfo si[8];
  while (read(fd, si, sizeof si) > 0) {
  }
}

/* What the runtime wrote: with a terminal its stderr, else the container's stderr (or stdout) pipe. */
static struct runtime_output runtime_out;

/*
 * Waits for the runtime to exit, receiving the pty master meanwhile. With a
 * terminal the runtime's stderr is its own pipe and is read as it comes, so
 * a talkative runtime cannot fill it and block; without one it is the
 * container's stderr, which is not read before the runtime has exited.
 * Returns the runtime's wait status.
 */
static int wait_runtime(struct shim *s, struct shim_err *console_err, bool *console_failed) {
  int status = 0;
  for (;;) {
    struct pollfd p[3] = {{.fd = s->sigfd, .events = POLLIN},
                          {.fd = s->master < 0 ? s->console_listen : -1, .events = POLLIN},
                          {.fd = s->rterr_r, .events = POLLIN}};
    if (poll(p, 3, -1) < 0 && errno != EINTR) return -1;
    if ((p[1].revents & POLLIN) && !*console_failed) {
      if (console_receive(s->console_listen, &s->master, console_err) < 0) *console_failed = true;
    }
    if (p[2].revents) {
      runtime_output_read(&runtime_out, s->rterr_r);
      /* At end of file stop polling it: POLLHUP would come back at once, forever. */
      if (p[2].revents & POLLHUP) close_fd(&s->rterr_r);
    }
    if (p[0].revents & POLLIN) drain_signalfd(s->sigfd);
    pid_t r = waitpid(s->runtime_pid, &status, WNOHANG);
    if (r == s->runtime_pid) return status;
    if (r < 0 && errno != EINTR) return -1;
  }
}

/* Undoes the runtime's create (or kills the exec'd process) when the shim cannot take charge of it. */
static void abandon_process(struct shim *s) {
  if (s->o->exec_process) {
    if (s->pid > 0) kill(s->pid, SIGKILL);
  } else {
    runtime_delete(s->o);
  }
}

/* In P2: run the runtime and report. Returns 0 with the process in s->pid. */
static int start_process(struct shim *s, struct shim_err *err) {
  const struct shim_opts *o = s->o;
  if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) return shim_fail(err, SHIM_STAGE_SETUP, errno, "become child subreaper");
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGCHLD);
  if (sigprocmask(SIG_BLOCK, &set, NULL) < 0) return shim_fail(err, SHIM_STAGE_SETUP, errno, "block SIGCHLD");
  s->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  if (s->sigfd < 0) return shim_fail(err, SHIM_STAGE_SETUP, errno, "create a signalfd");

  cleanup_close int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (devnull < 0) return shim_fail(err, SHIM_STAGE_SETUP, errno, "open /dev/null");
  int stdio[3];
  if (o->terminal) {
    stdio[0] = devnull, stdio[1] = devnull, stdio[2] = s->rterr_w;
  } else {
    /* The runtime hands its stdio to the container's process: these pipes are the container's. */
    stdio[0] = o->stdin_open ? s->in_r : devnull, stdio[1] = s->out_w, stdio[2] = s->err_w;
  }
  if (runtime_start(o, s->pid_path, o->terminal ? s->console_path : NULL, stdio, &s->runtime_pid, err) < 0) return -1;
  close_fd(&s->out_w);
  close_fd(&s->err_w);
  close_fd(&s->in_r);
  close_fd(&s->rterr_w);

  struct shim_err console_err = {0};
  bool console_failed = false;
  int status = wait_runtime(s, &console_err, &console_failed);
  if (status < 0) return shim_fail(err, SHIM_STAGE_SETUP, errno, "wait for the runtime");
  const char *verb = o->bundle ? "create" : "exec";
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    char text[900];
    if (o->terminal) {
      runtime_output_read(&runtime_out, s->rterr_r);
    } else {
      runtime_output_read(&runtime_out, s->err_r);
      if (runtime_out.len == 0) runtime_output_read(&runtime_out, s->out_r);
    }
    runtime_error_text(&runtime_out, text, sizeof text);
    if (text[0]) return shim_fail(err, SHIM_STAGE_RUNTIME, 0, "%s", text);
    if (WIFSIGNALED(status))
      return shim_fail(err, SHIM_STAGE_RUNTIME, 0, "runtime %s %s was killed by signal %d", o->runtime_path, verb, WTERMSIG(status));
    return shim_fail(err, SHIM_STAGE_RUNTIME, 0, "runtime %s %s exited with status %d and no message", o->runtime_path, verb,
                     WEXITSTATUS(status));
  }
  close_fd(&s->rterr_r);
  if (read_pid_file(s->pid_path, &s->pid, err) < 0) goto abandon;
  if (o->terminal && s->master < 0 && !console_failed) {
    /* The runtime has exited: a connection it made is waiting in the backlog, or there is none. */
    if (console_receive(s->console_listen, &s->master, &console_err) < 0) console_failed = true;
  }
  if (console_failed) {
    *err = console_err;
    goto abandon;
  }
  if (o->terminal && s->master < 0) {
    shim_fail(err, SHIM_STAGE_RUNTIME, EPROTO,
              "the runtime sent no pty master to the console socket; a terminal needs process.terminal true");
    goto abandon;
  }
  remove_tmpdir(s);
  return 0;
abandon:
  abandon_process(s);
  return -1;
}

/*
 * Static, not on the stack and never memset: the kernel's zero pages cost
 * nothing until touched, and most of the stdin buffer and client tables
 * never are (docs/protocol-shim.md, Memory).
 */
static struct shim_opts o;
static struct shim s;

int main(int argc, char **argv) {
  s.o = &o;
  s.sync_fd = -1;
  s.attach.listen_fd = s.ctrl.listen_fd = -1;
  s.log.fd = -1;
  s.console_listen = s.master = s.sigfd = -1;
  s.out_r = s.out_w = s.err_r = s.err_w = s.in_r = s.in_w = s.rterr_r = s.rterr_w = -1;
  s.out_fd = s.err_fd = s.in_fd = -1;

  signal(SIGPIPE, SIG_IGN);
  struct shim_err err = {0};
  if (opts_parse(&o, argc, argv, &err) < 0) {
    /* The sync fd may come after the argument that failed: look for it on its own. */
    int fd = opts_find_sync_fd(argc, argv);
    if (fd > 2 && fcntl(fd, F_GETFD) >= 0) s.sync_fd = fd;
    report_error(&s, &err);
    return 1;
  }
  if (o.help) {
    opts_usage(stdout);
    return 0;
  }
  if (o.version) {
    printf("berth-shim version %s\n", BERTH_SHIM_VERSION);
    return 0;
  }
  if (o.sync_fd > 2 && o.sync_fd <= INT_MAX) {
    if (fcntl((int)o.sync_fd, F_SETFD, FD_CLOEXEC) < 0) {
      shim_fail(&err, SHIM_STAGE_OPTIONS, errno, "--sync-fd %lld is not an open file descriptor", o.sync_fd);
      report_error(&s, &err);
      return 1;
    }
    s.sync_fd = (int)o.sync_fd;
  }
  /* Nothing the manager left open reaches the runtime or the container (security rule 2). */
  if (s.sync_fd > 3) syscall(SYS_close_range, 3U, (unsigned)s.sync_fd - 1, 0U);
  syscall(SYS_close_range, (unsigned)(s.sync_fd > 2 ? s.sync_fd + 1 : 3), ~0U, 0U);

  if (opts_validate(&o, &err) < 0 || prepare(&s, &err) < 0) {
    report_error(&s, &err);
    undo(&s);
    return 1;
  }

  int status_fd = daemonize(&s);
  /* P2 from here on. Its stdio goes nowhere: the manager may have gone already. */
  if (stdio_to_devnull() < 0 || chdir("/") < 0) {
    shim_fail(&err, SHIM_STAGE_SETUP, errno, "detach the shim's stdio");
    goto fail;
  }
  /* SIGTERM and friends neither stop the shim nor reach the container: the manager uses the runtime. */
  int ignored[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
  for (size_t i = 0; i < sizeof ignored / sizeof ignored[0]; i++) signal(ignored[i], SIG_IGN);
  if (start_process(&s, &err) < 0) goto fail;

  oom_watch_start(&s.oom, s.pid);
  s.status.pid = s.pid;
  s.status.started = now_realtime();
  char line[96];
  int len = snprintf(line, sizeof line, "{\"pid\":%d,\"shimPid\":%d}\n", (int)s.pid, (int)getpid());
  report_line(&s, line, (size_t)len);
  close_fd(&s.sync_fd);
  unsigned char ok = 0;
  (void)!write(status_fd, &ok, 1);
  close(status_fd);

  monitor_run(&s);
  return 0;

fail:
  report_error(&s, &err);
  undo(&s);
  unsigned char bad = 1;
  (void)!write(status_fd, &bad, 1);
  return 1;
}
