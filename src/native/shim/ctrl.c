#include "ctrl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "sock.h"
#include "util.h"

static int parse_dim(const char *s, unsigned short *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (end == s || *end != '\0' || errno || v < 0 || v > 65535) return -1;
  *out = (unsigned short)v;
  return 0;
}

int ctrl_parse(const char *line, struct ctrl_cmd *cmd, struct shim_err *err) {
  char buf[CTRL_LINE_MAX];
  snprintf(buf, sizeof buf, "%s", line);
  size_t n = strlen(buf);
  if (n && buf[n - 1] == '\r') buf[--n] = '\0';
  char *save = NULL;
  char *verb = strtok_r(buf, " \t", &save);
  if (!verb) return shim_fail(err, SHIM_STAGE_SETUP, EINVAL, "empty command");
  char *a1 = strtok_r(NULL, " \t", &save);
  char *a2 = a1 ? strtok_r(NULL, " \t", &save) : NULL;
  char *extra = a2 ? strtok_r(NULL, " \t", &save) : NULL;
  memset(cmd, 0, sizeof *cmd);
  if (strcmp(verb, "resize") == 0) {
    if (!a1 || !a2 || extra || parse_dim(a1, &cmd->rows) < 0 || parse_dim(a2, &cmd->cols) < 0)
      return shim_fail(err, SHIM_STAGE_SETUP, EINVAL, "usage: resize ROWS COLS, with numbers from 0 to 65535");
    cmd->verb = CTRL_RESIZE;
    return 0;
  }
  if (a1) return shim_fail(err, SHIM_STAGE_SETUP, EINVAL, "%s takes no arguments", verb);
  if (strcmp(verb, "close-stdin") == 0) {
    cmd->verb = CTRL_CLOSE_STDIN;
    return 0;
  }
  if (strcmp(verb, "reopen-log") == 0) {
    cmd->verb = CTRL_REOPEN_LOG;
    return 0;
  }
  return shim_fail(err, SHIM_STAGE_SETUP, EINVAL, "unknown command `%s`; the commands are resize, close-stdin and reopen-log", verb);
}

void ctrl_accept(struct ctrl *c) {
  for (;;) {
    int fd = sock_accept(c->listen_fd);
    if (fd < 0) return;
    if (c->n == CTRL_MAX_CLIENTS) {
      close(fd);
      continue;
    }
    c->clients[c->n].fd = fd;
    c->clients[c->n].len = 0;
    c->n++;
  }
}

static void drop(struct ctrl *c, size_t i) {
  close(c->clients[i].fd);
  c->clients[i] = c->clients[--c->n];
}

/* The reply is a few dozen bytes into an empty socket buffer: a failed send means a gone client. */
static int reply(int fd, const struct shim_err *err) {
  char out[CTRL_LINE_MAX + 1200];
  size_t len;
  if (!err) {
    len = (size_t)snprintf(out, sizeof out, "{\"ok\":true}\n");
  } else {
    len = (size_t)snprintf(out, sizeof out, "{\"error\":\"");
    json_escape(out, sizeof out - 32, &len, err->msg);
    len += (size_t)snprintf(out + len, sizeof out - len, "\",\"errno\":%d}\n", err->errnum);
  }
  return send(fd, out, len, MSG_NOSIGNAL | MSG_DONTWAIT) == (ssize_t)len ? 0 : -1;
}

void ctrl_read(struct ctrl *c, size_t i, ctrl_exec_fn exec, void *ctx) {
  struct ctrl_client *cl = &c->clients[i];
  ssize_t n;
  do n = recv(cl->fd, cl->line + cl->len, sizeof cl->line - cl->len, MSG_DONTWAIT);
  while (n < 0 && errno == EINTR);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
  if (n <= 0) {
    drop(c, i);
    return;
  }
  cl->len += (size_t)n;
  char *nl;
  while ((nl = memchr(cl->line, '\n', cl->len)) != NULL) {
    *nl = '\0';
    struct ctrl_cmd cmd;
    struct shim_err err = {0};
    int rc = ctrl_parse(cl->line, &cmd, &err);
    if (rc == 0) rc = exec(ctx, &cmd, &err);
    size_t used = (size_t)(nl - cl->line) + 1;
    memmove(cl->line, cl->line + used, cl->len - used);
    cl->len -= used;
    if (reply(cl->fd, rc < 0 ? &err : NULL) < 0) {
      drop(c, i);
      return;
    }
  }
  if (cl->len == sizeof cl->line) {
    struct shim_err err;
    shim_fail(&err, SHIM_STAGE_SETUP, E2BIG, "command line longer than %d bytes", CTRL_LINE_MAX);
    reply(cl->fd, &err);
    drop(c, i);
  }
}

void ctrl_close(struct ctrl *c) {
  while (c->n > 0) drop(c, c->n - 1);
  if (c->listen_fd >= 0) {
    close(c->listen_fd);
    c->listen_fd = -1;
    unlink(c->path);
  }
}
