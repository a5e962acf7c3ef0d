#include "unix-socket.h"

#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

int unix_connect(const char *path, const char *what, int stage, struct berth_err *err) {
  cleanup_close int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return berth_fail(err, stage, errno, "create a socket for %s %s", what, path);
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  cleanup_close int pathfd = -1;
  if (strlen(path) < sizeof addr.sun_path) {
    strcpy(addr.sun_path, path);
  } else {
    /* Too long for sun_path: connect through the magic link of an O_PATH fd. */
    pathfd = open(path, O_PATH | O_CLOEXEC);
    if (pathfd < 0) return berth_fail(err, stage, errno, "open %s %s", what, path);
    snprintf(addr.sun_path, sizeof addr.sun_path, "/proc/self/fd/%d", pathfd);
  }
  int rc;
  do rc = connect(fd, (struct sockaddr *)&addr, sizeof addr);
  while (rc < 0 && errno == EINTR);
  if (rc < 0) return berth_fail(err, stage, errno, "connect to %s %s", what, path);
  return take_fd(&fd);
}

int unix_send_fd(int sock, int fd, const void *msg, size_t len) {
  char cbuf[CMSG_SPACE(sizeof(int))];
  memset(cbuf, 0, sizeof cbuf);
  struct iovec iov = {.iov_base = (void *)msg, .iov_len = len};
  struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
  struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &fd, sizeof fd);
  /* A stream socket may take part of the payload; the fd travels with the
   * first byte, the rest follows without it. */
  const char *p = msg;
  size_t left = len;
  bool first = true;
  while (left > 0) {
    ssize_t n = sendmsg(sock, &mh, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -1;
    p += n;
    left -= (size_t)n;
    iov.iov_base = (void *)p;
    iov.iov_len = left;
    if (first) {
      mh.msg_control = NULL;
      mh.msg_controllen = 0;
      first = false;
    }
  }
  return 0;
}
