/*
 * The control socket: text commands, one per line, each answered with one
 * JSON line, `{"ok":true}` or `{"error":"...","errno":N}`:
 *
 *   resize ROWS COLS   set the pty's size (the process gets SIGWINCH)
 *   close-stdin        close the process's stdin once what clients wrote is
 *                      delivered (with a terminal: send the EOF character)
 *   reopen-log         close and reopen the log file
 *
 * A connection may send several commands; the shim keeps at most
 * CTRL_MAX_CLIENTS connections and lines of at most CTRL_LINE_MAX bytes.
 */
#ifndef BERTH_SHIM_CTRL_H
#define BERTH_SHIM_CTRL_H

#include <stddef.h>

#include "error.h"

#define CTRL_MAX_CLIENTS 8
#define CTRL_LINE_MAX 256

enum ctrl_verb { CTRL_RESIZE, CTRL_CLOSE_STDIN, CTRL_REOPEN_LOG };

struct ctrl_cmd {
  enum ctrl_verb verb;
  unsigned short rows, cols;
};

/* Parses one line (without its newline). */
int ctrl_parse(const char *line, struct ctrl_cmd *cmd, struct shim_err *err);

struct ctrl_client {
  int fd;
  size_t len;
  char line[CTRL_LINE_MAX];
};

struct ctrl {
  int listen_fd; /* -1 without a control socket */
  const char *path;
  struct ctrl_client clients[CTRL_MAX_CLIENTS];
  size_t n;
};

/* Runs one command; the shim's monitor implements it. */
typedef int (*ctrl_exec_fn)(void *ctx, const struct ctrl_cmd *cmd, struct shim_err *err);

void ctrl_accept(struct ctrl *c);

/* Reads from client i and runs every complete line; drops the client at EOF or on error. */
void ctrl_read(struct ctrl *c, size_t i, ctrl_exec_fn exec, void *ctx);

void ctrl_close(struct ctrl *c);

#endif
