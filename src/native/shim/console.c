#include "console.h"

#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <termios.h>
#include <unistd.h>

#include "sock.h"
#include "util.h"

int console_receive(int listen_fd, int *master, struct shim_err *err) {
  cleanup_close int conn = sock_accept(listen_fd);
  if (conn < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
    return shim_fail(err, SHIM_STAGE_SETUP, errno, "accept on the console socket");
  }
  /* The runtime sends right after connecting; a bound keeps a stuck one from hanging the shim. */
  struct timeval tv = {.tv_sec = 10};
  if (set_nonblock(conn, false) < 0 || setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0)
    return shim_fail(err, SHIM_STAGE_SETUP, errno, "set up the console connection");

  char name[256];
  char cbuf[CMSG_SPACE(sizeof(int))];
  memset(cbuf, 0, sizeof cbuf);
  struct iovec iov = {.iov_base = name, .iov_len = sizeof name - 1};
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
  ssize_t n;
  do n = recvmsg(conn, &msg, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  if (n < 0) return shim_fail(err, SHIM_STAGE_SETUP, errno, "receive the pty master on the console socket");

  int fd = -1;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t nfds = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < nfds; i++) {
      int got;
      memcpy(&got, CMSG_DATA(c) + i * sizeof(int), sizeof got);
      if (fd < 0) fd = got;
      else close(got);
    }
  }
  if (fd < 0) return shim_fail(err, SHIM_STAGE_SETUP, EPROTO, "the console socket connection carried no file descriptor");
  cleanup_close int m = fd;
  unsigned int ptn;
  /* TIOCGPTN answers only on a pty master: a slave or another tty is refused. */
  if (ioctl(m, TIOCGPTN, &ptn) < 0)
    return shim_fail(err, SHIM_STAGE_SETUP, ENOTTY, "the fd received on the console socket is not a pty master");
  if (set_nonblock(m, true) < 0) return shim_fail(err, SHIM_STAGE_SETUP, errno, "make the pty master non-blocking");
  *master = take_fd(&m);
  return 1;
}
