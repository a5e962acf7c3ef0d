/*
 * runc's foreground `run -t` and `exec -t` without --console-socket: stage 0
 * stays the container's parent (PARENT_WAITS) and is its console. The child
 * sends the pty master over a socketpair, exactly as it would to a console
 * socket; stage 0 copies the caller's stdin to the master and the master to
 * the caller's stdout until the child exits. When stdin is a terminal it is
 * put in raw mode for the copy, so that line editing, echo and ^C are the
 * container pty's, and restored after; its size is copied to the pty at the
 * start and on every SIGWINCH (the caller's terminal sends that to its
 * foreground process group, which stage 0 is in).
 */
#include "console-proxy.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

volatile sig_atomic_t console_proxy_winch;

int console_proxy_pair(int pair[2], struct berth_err *err) {
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0)
    return berth_fail(err, BERTH_STAGE_CONSOLE_CONNECT, errno, "create the socketpair for the pty master");
  return 0;
}

static int recv_fd(int sock) {
  char name[64];
  char cbuf[CMSG_SPACE(sizeof(int))];
  struct iovec iov = {.iov_base = name, .iov_len = sizeof name};
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
  ssize_t n;
  do n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  if (n <= 0) return -1;
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  if (c == NULL || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS || c->cmsg_len != CMSG_LEN(sizeof(int)))
    return -1;
  int fd;
  memcpy(&fd, CMSG_DATA(c), sizeof fd);
  return fd;
}

static void copy_size(int from, int to) {
  struct winsize ws;
  if (ioctl(from, TIOCGWINSZ, &ws) == 0 && (ws.ws_row != 0 || ws.ws_col != 0)) ioctl(to, TIOCSWINSZ, &ws);
}

/* stdout may be a non-blocking pipe shared with the caller (libuv sets
 * O_NONBLOCK on its pipes): wait for room instead of dropping output. */
static void write_all(int fd, const char *buf, size_t len) {
  while (len > 0) {
    ssize_t w = write(fd, buf, len);
    if (w > 0) {
      buf += w;
      len -= (size_t)w;
    } else if (w < 0 && errno == EAGAIN) {
      struct pollfd p = {.fd = fd, .events = POLLOUT};
      poll(&p, 1, -1);
    } else if (w < 0 && errno == EINTR) {
      continue;
    } else {
      return; /* the reader is gone: the container's output has nowhere to go */
    }
  }
}

/* Output still buffered in the pty when the child exits. */
static void drain(int master) {
  char buf[16384];
  for (;;) {
    ssize_t r = read(master, buf, sizeof buf);
    if (r > 0) write_all(STDOUT_FILENO, buf, (size_t)r);
    else if (!(r < 0 && errno == EINTR)) return;
  }
}

int console_proxy_run(int sock, pid_t child) {
  int master = recv_fd(sock);
  close(sock);
  if (master < 0) return -1;
  /* Readable when the child exits, even if a process it left behind holds
   * the slave open and the master never reports EIO. */
  int pidfd = (int)syscall(SYS_pidfd_open, child, 0);
  struct termios saved;
  bool raw = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved) == 0;
  if (raw) {
    struct termios t = saved;
    cfmakeraw(&t);
    tcsetattr(STDIN_FILENO, TCSANOW, &t);
    copy_size(STDIN_FILENO, master);
  }
  fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK);

  char in[4096], out[16384];
  size_t in_len = 0, in_off = 0;
  bool in_open = true;
  for (;;) {
    if (console_proxy_winch) {
      console_proxy_winch = 0;
      copy_size(STDIN_FILENO, master);
    }
    struct pollfd fds[3];
    nfds_t n = 0;
    int i_in = -1, i_pid = -1;
    if (in_open && in_len == 0) {
      fds[n] = (struct pollfd){.fd = STDIN_FILENO, .events = POLLIN};
      i_in = (int)n++;
    }
    int i_master = (int)n;
    fds[n++] = (struct pollfd){.fd = master, .events = (short)(POLLIN | (in_len > 0 ? POLLOUT : 0))};
    if (pidfd >= 0) {
      fds[n] = (struct pollfd){.fd = pidfd, .events = POLLIN};
      i_pid = (int)n++;
    }
    if (poll(fds, n, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (i_in >= 0 && fds[i_in].revents != 0) {
      ssize_t r = read(STDIN_FILENO, in, sizeof in);
      if (r > 0) {
        in_len = (size_t)r;
        in_off = 0;
      } else if (r == 0 || (errno != EINTR && errno != EAGAIN)) {
        in_open = false; /* end of input: the container keeps running on what it has */
      }
    }
    if (in_len > 0 && (fds[i_master].revents & POLLOUT)) {
      ssize_t w = write(master, in + in_off, in_len - in_off);
      if (w > 0) {
        in_off += (size_t)w;
        if (in_off == in_len) in_len = 0;
      } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
        in_len = 0;
        in_open = false;
      }
    }
    if (fds[i_master].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t r = read(master, out, sizeof out);
      if (r > 0) write_all(STDOUT_FILENO, out, (size_t)r);
      else if (r == 0 || (errno != EAGAIN && errno != EINTR)) break; /* EIO: every slave is closed */
    }
    if (i_pid >= 0 && fds[i_pid].revents != 0) {
      drain(master);
      break;
    }
  }
  if (raw) tcsetattr(STDIN_FILENO, TCSANOW, &saved);
  if (pidfd >= 0) close(pidfd);
  close(master);
  return 0;
}
