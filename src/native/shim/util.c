#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int write_all(int fd, const void *buf, size_t len) {
  const char *p = buf;
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

struct timespec now_realtime(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return ts;
}

long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

size_t format_rfc3339(const struct timespec *ts, char out[RFC3339_LEN + 1]) {
  /* The seconds part changes once a second; gmtime_r is not free, so keep it. */
  static time_t cached_sec = (time_t)-1;
  static char cached[20];
  if (ts->tv_sec != cached_sec) {
    struct tm tm;
    gmtime_r(&ts->tv_sec, &tm);
    strftime(cached, sizeof cached, "%Y-%m-%dT%H:%M:%S", &tm);
    cached_sec = ts->tv_sec;
  }
  memcpy(out, cached, 19);
  out[19] = '.';
  long ns = ts->tv_nsec;
  for (int i = 28; i >= 20; i--) {
    out[i] = (char)('0' + ns % 10);
    ns /= 10;
  }
  out[29] = 'Z';
  out[30] = '\0';
  return RFC3339_LEN;
}

void json_escape(char *out, size_t cap, size_t *len, const char *s) {
  static const char hex[] = "0123456789abcdef";
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    char esc[7];
    size_t n;
    if (c == '"' || c == '\\') {
      esc[0] = '\\', esc[1] = (char)c, n = 2;
    } else if (c == '\n') {
      esc[0] = '\\', esc[1] = 'n', n = 2;
    } else if (c == '\t') {
      esc[0] = '\\', esc[1] = 't', n = 2;
    } else if (c < 0x20 || c == 0x7f) {
      memcpy(esc, "\\u00", 4);
      esc[4] = hex[c >> 4], esc[5] = hex[c & 15], n = 6;
    } else {
      esc[0] = (char)c, n = 1;
    }
    if (*len + n >= cap) break;
    memcpy(out + *len, esc, n);
    *len += n;
  }
  out[*len < cap ? *len : cap - 1] = '\0';
}

int set_nonblock(int fd, bool on) {
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0) return -1;
  fl = on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK);
  return fcntl(fd, F_SETFL, fl);
}

int stdio_to_devnull(void) {
  int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (fd < 0) return -1;
  for (int i = 0; i < 3; i++) {
    if (fd != i && dup2(fd, i) < 0) {
      int saved = errno;
      close(fd);
      errno = saved;
      return -1;
    }
  }
  if (fd > 2) close(fd);
  return 0;
}
