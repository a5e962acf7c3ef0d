#include "sync.h"

#include <string.h>
#include <sys/socket.h>

static int send_all(int fd, const void *buf, size_t len) {
  const char *p = buf;
  while (len > 0) {
    ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -1;
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

static int send_record(int fd, uint32_t type, uint32_t stage, int32_t errnum, uint32_t value, const char *msg) {
  char buf[BERTH_SYNC_HDR_SIZE + BERTH_SYNC_MAX_MSG];
  struct berth_sync_hdr h = {type, stage, errnum, value, 0};
  size_t len = msg ? strnlen(msg, BERTH_SYNC_MAX_MSG) : 0;
  h.msg_len = (uint32_t)len;
  _Static_assert(sizeof h == BERTH_SYNC_HDR_SIZE, "sync header size");
  memcpy(buf, &h, sizeof h);
  if (len) memcpy(buf + sizeof h, msg, len);
  return send_all(fd, buf, sizeof h + len);
}

int sync_send(int fd, uint32_t type, uint32_t value) {
  return send_record(fd, type, 0, 0, value, NULL);
}

int sync_send_error(int fd, const struct berth_err *err) {
  return send_record(fd, BERTH_SYNC_ERROR, (uint32_t)err->stage, err->errnum, 0, err->msg);
}

/* 1 at end of file before any byte, 0 when len bytes were read. */
static int recv_all(int fd, void *buf, size_t len) {
  char *p = buf;
  size_t got = 0;
  while (got < len) {
    ssize_t n = read(fd, p + got, len - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -1;
    if (n == 0) {
      if (got == 0) return 1;
      errno = EPIPE;
      return -1;
    }
    got += (size_t)n;
  }
  return 0;
}

int sync_wait_continue(int fd, int stage, char *msg_out, struct berth_err *err) {
  struct berth_sync_hdr h;
  char msg[BERTH_SYNC_MAX_MSG + 1];
  int rc = recv_all(fd, &h, sizeof h);
  if (rc == 1) return 1;
  if (rc < 0) return berth_fail(err, stage, errno, "read sync record from berth-runtime");
  if (h.msg_len > BERTH_SYNC_MAX_MSG)
    return berth_fail(err, stage, EPROTO, "sync record type %u carries a %u-byte message (limit %u)", h.type,
                      h.msg_len, BERTH_SYNC_MAX_MSG);
  if (h.msg_len > 0 && recv_all(fd, msg, h.msg_len) != 0)
    return berth_fail(err, stage, errno ? errno : EPIPE, "read sync message from berth-runtime");
  if (h.type == BERTH_SYNC_ABORT) return 1;
  if (h.type != BERTH_SYNC_CONTINUE)
    return berth_fail(err, stage, EPROTO, "unexpected sync record type %u while waiting for CONTINUE", h.type);
  if (msg_out != NULL) {
    memcpy(msg_out, msg, h.msg_len);
    msg_out[h.msg_len] = '\0';
  }
  return 0;
}
