/*
 * The attach socket. A client that connects receives the process's output
 * from then on, framed as in the Docker Engine API's multiplexed stream:
 *
 *   [STREAM, 0, 0, 0, SIZE (4 bytes, big-endian)] then SIZE bytes
 *
 * with STREAM 1 for stdout (and for the terminal, which has one stream) and
 * 2 for stderr. What a client writes is the process's stdin, as raw bytes,
 * when the shim runs with --stdin. A client closing its end stops nothing:
 * closing stdin is the `close-stdin` control command.
 *
 * Slow clients never hold up the process or its log: output that a client's
 * socket cannot take at once waits in a buffer of at most
 * ATTACH_PENDING_MAX bytes, allocated only while needed; a client that
 * falls further behind is disconnected.
 */
#ifndef BERTH_SHIM_ATTACH_H
#define BERTH_SHIM_ATTACH_H

#include <stdbool.h>
#include <stddef.h>

#define ATTACH_MAX_CLIENTS 64
#define ATTACH_PENDING_MAX (1024 * 1024)

struct attach_client {
  int fd;
  bool reading; /* the client has not closed its sending side */
  char *pend;   /* output the socket has not taken yet */
  size_t pend_off, pend_len;
};

struct attach {
  int listen_fd; /* -1 without an attach socket */
  const char *path;
  struct attach_client clients[ATTACH_MAX_CLIENTS];
  size_t n;
  unsigned long long dropped_clients;
};

/* Accepts every waiting connection (beyond ATTACH_MAX_CLIENTS they are closed at once). */
void attach_accept(struct attach *a);

/* Sends one frame of output to every client. */
void attach_broadcast(struct attach *a, int stream, const char *buf, size_t len);

/* Writes what client i has pending; drops it on error. */
void attach_flush(struct attach *a, size_t i);

/* Disconnects client i (the last client takes its slot). */
void attach_drop(struct attach *a, size_t i);

/* True when some client has output waiting for its socket. */
bool attach_pending(const struct attach *a);

/* Closes the listening socket and removes its path. */
void attach_close_listener(struct attach *a);

/* Disconnects every client. */
void attach_close_all(struct attach *a);

#endif
