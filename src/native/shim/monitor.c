/*
 * The monitor loop: one thread, one poll(2) over the process's output, the
 * signalfd, the attach and control sockets and their clients. Output is
 * read in chunks of OUTPUT_BUF, written to the log and sent to attach
 * clients; nothing the shim does waits on a client.
 *
 * When the process exits the shim keeps copying output until every output
 * fd is at end of file and every attach client has taken what it had
 * pending, or DRAIN_MS have passed (a process that left a child holding the
 * pipe, or a client that stopped reading, must not keep the shim forever);
 * then it removes its sockets, writes the exit file and exits.
 */
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "shim.h"
#include "util.h"

#define OUTPUT_BUF (16 * 1024)
#define DRAIN_MS 1000
#define MAX_POLL (8 + ATTACH_MAX_CLIENTS + CTRL_MAX_CLIENTS)

static char output[OUTPUT_BUF];

static void close_fd(int *fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

static void reap(struct shim *s) {
  int status;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
    /* Others are orphans of the container reparented to us as subreaper: reaping is all they need. */
    if (pid == s->pid && !s->exited) {
      s->exited = true;
      s->status.wait_status = status;
      s->status.finished = now_realtime();
    }
  }
}

/* Reads one chunk from an output fd; closes it at end of file (EIO is how a pty master says so). */
static void pump(struct shim *s, int *fd, enum shim_stream stream) {
  ssize_t n;
  do n = read(*fd, output, sizeof output);
  while (n < 0 && errno == EINTR);
  if (n > 0) {
    log_write(&s->log, stream, output, (size_t)n);
    attach_broadcast(&s->attach, stream, output, (size_t)n);
    return;
  }
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
  /* With a terminal the output fd is the master, also stdin's: the slave is gone, so is stdin. */
  if (s->in_fd == *fd) s->in_fd = -1;
  if (s->master == *fd) s->master = -1;
  close_fd(fd);
}

static bool stdin_accepting(const struct shim *s) {
  return s->o->stdin_open && s->in_fd >= 0 && !s->stdin_closing && s->stdin_len == s->stdin_off;
}

static void stdin_finish_close(struct shim *s) {
  if (!s->stdin_closing || s->stdin_len != s->stdin_off) return;
  s->stdin_closing = false;
  if (s->o->terminal) return; /* the EOF character went with the data; the master stays */
  close_fd(&s->in_fd);
}

static void stdin_flush(struct shim *s) {
  while (s->in_fd >= 0 && s->stdin_off < s->stdin_len) {
    ssize_t w = write(s->in_fd, s->stdin_buf + s->stdin_off, s->stdin_len - s->stdin_off);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (w < 0) {
      /* The process closed its stdin (EPIPE): what is pending has nowhere to go. */
      s->stdin_off = s->stdin_len;
      if (!s->o->terminal) close_fd(&s->in_fd);
      break;
    }
    s->stdin_off += (size_t)w;
  }
  if (s->stdin_off == s->stdin_len) s->stdin_off = s->stdin_len = 0;
  stdin_finish_close(s);
}

/* Input from attach client i: the process's stdin when it is open, else dropped. */
static void attach_input(struct shim *s, size_t i) {
  struct attach_client *c = &s->attach.clients[i];
  char sink[512];
  bool keep = stdin_accepting(s);
  char *buf = keep ? s->stdin_buf : sink;
  size_t cap = keep ? sizeof s->stdin_buf : sizeof sink;
  ssize_t n;
  do n = recv(c->fd, buf, cap, MSG_DONTWAIT);
  while (n < 0 && errno == EINTR);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
  if (n < 0) {
    attach_drop(&s->attach, i);
    return;
  }
  if (n == 0) {
    /* The client is done sending; it may still be reading. */
    c->reading = false;
    if (c->pend_len == c->pend_off) shutdown(c->fd, SHUT_RD);
    return;
  }
  if (keep) {
    s->stdin_off = 0;
    s->stdin_len = (size_t)n;
    stdin_flush(s);
  }
}

static int exec_ctrl(void *ctx, const struct ctrl_cmd *cmd, struct shim_err *err) {
  struct shim *s = ctx;
  switch (cmd->verb) {
  case CTRL_RESIZE: {
    if (!s->o->terminal || s->master < 0)
      return shim_fail(err, SHIM_STAGE_SETUP, ENOTTY, "the process has no terminal to resize");
    struct winsize ws = {.ws_row = cmd->rows, .ws_col = cmd->cols};
    if (ioctl(s->master, TIOCSWINSZ, &ws) < 0) return shim_fail(err, SHIM_STAGE_SETUP, errno, "resize the terminal");
    return 0;
  }
  case CTRL_CLOSE_STDIN:
    if (!s->o->stdin_open) return shim_fail(err, SHIM_STAGE_SETUP, EINVAL, "stdin is not open: the shim runs without --stdin");
    if (s->in_fd < 0 || s->stdin_closing) return 0; /* already closed: closing is idempotent */
    if (s->o->terminal) {
      /* A pty has no half-close; its EOF is the VEOF character at the start of a line (termios(3)). */
      struct termios t;
      char eof = tcgetattr(s->master, &t) == 0 ? (char)t.c_cc[VEOF] : 4;
      if (s->stdin_len < sizeof s->stdin_buf) s->stdin_buf[s->stdin_len++] = eof;
    }
    s->stdin_closing = true;
    stdin_flush(s);
    return 0;
  case CTRL_REOPEN_LOG:
    return log_reopen(&s->log, err);
  }
  return shim_fail(err, SHIM_STAGE_SETUP, EINVAL, "unknown command");
}

/* What is left in the output fds once the process is gone. */
static void final_drain(struct shim *s) {
  for (int round = 0; round < 64 && (s->out_fd >= 0 || s->err_fd >= 0); round++) {
    if (s->out_fd >= 0) pump(s, &s->out_fd, STREAM_STDOUT);
    if (s->err_fd >= 0) pump(s, &s->err_fd, STREAM_STDERR);
  }
}

static void finish(struct shim *s) {
  final_drain(s);
  /* The master may be out_fd and in_fd at once: close it once. */
  if (s->master >= 0) {
    if (s->out_fd == s->master) s->out_fd = -1;
    if (s->in_fd == s->master) s->in_fd = -1;
    close_fd(&s->master);
  }
  close_fd(&s->out_fd);
  close_fd(&s->err_fd);
  close_fd(&s->in_fd);
  attach_close_listener(&s->attach);
  ctrl_close(&s->ctrl);
  s->status.oom_killed = oom_watch_killed(&s->oom);
  struct shim_err err;
  exit_file_write(s->o->exit_file, &s->status, &err);
  /* Clients get what they have pending if their socket takes it now, then end of file. */
  for (size_t i = s->attach.n; i-- > 0;) attach_flush(&s->attach, i);
  attach_close_all(&s->attach);
  log_close(&s->log);
}

void monitor_run(struct shim *s) {
  const struct shim_opts *o = s->o;
  if (o->terminal) {
    s->out_fd = s->master;
    s->in_fd = o->stdin_open ? s->master : -1;
  } else {
    s->out_fd = s->out_r;
    s->err_fd = s->err_r;
    s->in_fd = s->in_w;
    s->out_r = s->err_r = s->in_w = -1;
  }
  long long deadline = 0;
  struct pollfd p[MAX_POLL];
  /* What each pollfd is: 0 signalfd, 1 stdout/pty, 2 stderr, 3 stdin, 4 attach listen, 5 control listen,
   * then attach clients, then control clients. */
  enum { P_SIG, P_OUT, P_ERR, P_IN, P_ATTACH, P_CTRL, P_FIXED };

  reap(s);
  for (;;) {
    if (s->exited) {
      if (deadline == 0) deadline = now_ms() + DRAIN_MS;
      bool drained = s->out_fd < 0 && s->err_fd < 0 && !attach_pending(&s->attach);
      if (drained || now_ms() >= deadline) break;
    }
    p[P_SIG] = (struct pollfd){.fd = s->sigfd, .events = POLLIN};
    p[P_OUT] = (struct pollfd){.fd = s->out_fd, .events = POLLIN};
    p[P_ERR] = (struct pollfd){.fd = s->err_fd, .events = POLLIN};
    p[P_IN] = (struct pollfd){.fd = s->stdin_len > s->stdin_off ? s->in_fd : -1, .events = POLLOUT};
    p[P_ATTACH] = (struct pollfd){.fd = s->attach.listen_fd, .events = POLLIN};
    p[P_CTRL] = (struct pollfd){.fd = s->ctrl.listen_fd, .events = POLLIN};
    size_t na = s->attach.n, nc = s->ctrl.n;
    bool accepting = stdin_accepting(s);
    for (size_t i = 0; i < na; i++) {
      struct attach_client *c = &s->attach.clients[i];
      short ev = 0;
      if (c->reading && (accepting || !o->stdin_open)) ev |= POLLIN;
      if (c->pend_len > c->pend_off) ev |= POLLOUT;
      p[P_FIXED + i] = (struct pollfd){.fd = c->fd, .events = ev};
    }
    for (size_t i = 0; i < nc; i++) p[P_FIXED + na + i] = (struct pollfd){.fd = s->ctrl.clients[i].fd, .events = POLLIN};

    int timeout = -1;
    if (s->exited) {
      long long left = deadline - now_ms();
      timeout = left > 0 ? (int)left : 0;
    }
    int r = poll(p, P_FIXED + na + nc, timeout);
    if (r < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (p[P_SIG].revents & POLLIN) {
      struct signalfd_siginfo si[8];
      while (read(s->sigfd, si, sizeof si) > 0) {
      }
      reap(s);
    }
    if (p[P_OUT].revents) pump(s, &s->out_fd, STREAM_STDOUT);
    if (p[P_ERR].revents) pump(s, &s->err_fd, STREAM_STDERR);
    if (p[P_IN].revents) stdin_flush(s);

    /* Clients, last index first: dropping one moves the last client into its slot. */
    for (size_t i = nc; i-- > 0;) {
      if (p[P_FIXED + na + i].revents) ctrl_read(&s->ctrl, i, exec_ctrl, s);
    }
    for (size_t i = na; i-- > 0;) {
      short rev = p[P_FIXED + i].revents;
      if (!rev || i >= s->attach.n || s->attach.clients[i].fd != p[P_FIXED + i].fd) continue;
      if (rev & POLLOUT) {
        attach_flush(&s->attach, i);
        if (i >= s->attach.n || s->attach.clients[i].fd != p[P_FIXED + i].fd) continue;
      }
      if (rev & (POLLIN | POLLHUP | POLLERR)) {
        struct attach_client *c = &s->attach.clients[i];
        if (c->reading) attach_input(s, i);
        else if (rev & (POLLHUP | POLLERR)) attach_drop(&s->attach, i);
      }
    }
    if (p[P_ATTACH].revents) attach_accept(&s->attach);
    if (p[P_CTRL].revents) ctrl_accept(&s->ctrl);
  }
  finish(s);
}
