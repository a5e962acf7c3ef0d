#include "attach.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "sock.h"

void attach_accept(struct attach *a) {
  for (;;) {
    int fd = sock_accept(a->listen_fd);
    if (fd < 0) return; /* EAGAIN, or a connection that went away meanwhile */
    if (a->n == ATTACH_MAX_CLIENTS) {
      close(fd);
      continue;
    }
    a->clients[a->n++] = (struct attach_client){.fd = fd, .reading = true};
  }
}

void attach_drop(struct attach *a, size_t i) {
  struct attach_client *c = &a->clients[i];
  close(c->fd);
  free(c->pend);
  a->clients[i] = a->clients[--a->n];
}

/* Keeps bytes the socket did not take; false when that would pass the bound. */
static bool stash(struct attach_client *c, const char *data, size_t len) {
  size_t live = c->pend_len - c->pend_off;
  if (live + len > ATTACH_PENDING_MAX) return false;
  if (!c->pend) {
    c->pend = malloc(ATTACH_PENDING_MAX);
    if (!c->pend) return false;
    c->pend_off = c->pend_len = 0;
  } else if (c->pend_off > 0) {
    memmove(c->pend, c->pend + c->pend_off, live);
    c->pend_off = 0;
    c->pend_len = live;
  }
  memcpy(c->pend + c->pend_len, data, len);
  c->pend_len += len;
  return true;
}

void attach_broadcast(struct attach *a, int stream, const char *buf, size_t len) {
  uint8_t hdr[8] = {(uint8_t)stream, 0, 0, 0, (uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8), (uint8_t)len};
  for (size_t i = a->n; i-- > 0;) {
    struct attach_client *c = &a->clients[i];
    bool ok;
    if (c->pend_len > c->pend_off) {
      /* Already behind: keep order by queueing behind what is waiting. */
      ok = stash(c, (const char *)hdr, sizeof hdr) && stash(c, buf, len);
    } else {
      struct iovec v[2] = {{hdr, sizeof hdr}, {(void *)buf, len}};
      struct msghdr msg = {.msg_iov = v, .msg_iovlen = 2};
      ssize_t w;
      do w = sendmsg(c->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
      while (w < 0 && errno == EINTR);
      if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
        ok = false;
      } else {
        size_t done = w < 0 ? 0 : (size_t)w;
        ok = true;
        if (done < sizeof hdr) ok = stash(c, (const char *)hdr + done, sizeof hdr - done) && stash(c, buf, len);
        else if (done < sizeof hdr + len) ok = stash(c, buf + (done - sizeof hdr), len - (done - sizeof hdr));
      }
    }
    if (!ok) {
      a->dropped_clients++;
      attach_drop(a, i);
    }
  }
}

void attach_flush(struct attach *a, size_t i) {
  struct attach_client *c = &a->clients[i];
  while (c->pend_len > c->pend_off) {
    ssize_t w = send(c->fd, c->pend + c->pend_off, c->pend_len - c->pend_off, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (w < 0) {
      attach_drop(a, i);
      return;
    }
    c->pend_off += (size_t)w;
  }
  /* Caught up: give the buffer back, it is only for clients that fall behind. */
  free(c->pend);
  c->pend = NULL;
  c->pend_off = c->pend_len = 0;
}

bool attach_pending(const struct attach *a) {
  for (size_t i = 0; i < a->n; i++)
    if (a->clients[i].pend_len > a->clients[i].pend_off) return true;
  return false;
}

void attach_close_listener(struct attach *a) {
  if (a->listen_fd < 0) return;
  close(a->listen_fd);
  a->listen_fd = -1;
  unlink(a->path);
}

void attach_close_all(struct attach *a) {
  while (a->n > 0) attach_drop(a, a->n - 1);
}
