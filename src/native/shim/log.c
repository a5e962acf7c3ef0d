#include "log.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include "util.h"

#define LOG_MODE 0640
/*
 * Entries are assembled in one buffer and written with one write(2): for
 * short lines that is several times cheaper than a writev with two or three
 * iovecs per line. The pages are touched only as far as output reaches.
 */
#define OUT_BUF (32 * 1024)

static char out[OUT_BUF];
static size_t out_len;

static int open_log(const char *path, int extra) {
  return open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY | extra, LOG_MODE);
}

int log_open(struct shim_log *l, const char *path, unsigned long long size_max, unsigned max_files, size_t line_max,
             struct shim_err *err) {
  memset(l, 0, sizeof *l);
  l->fd = -1;
  l->path = path;
  l->size_max = size_max;
  l->max_files = max_files;
  l->line_max = line_max;
  if (!path) return 0;
  l->fd = open_log(path, O_EXCL);
  if (l->fd >= 0) {
    l->created = true;
  } else if (errno == EEXIST) {
    l->fd = open_log(path, 0);
  }
  if (l->fd < 0) return shim_fail(err, SHIM_STAGE_SETUP, errno, "open the log file %s", path);
  struct stat st;
  if (fstat(l->fd, &st) < 0) return shim_fail(err, SHIM_STAGE_SETUP, errno, "stat the log file %s", path);
  if (!S_ISREG(st.st_mode)) return shim_fail(err, SHIM_STAGE_SETUP, EINVAL, "the log file %s is not a regular file", path);
  l->size = (unsigned long long)st.st_size;
  return 0;
}

static void flush(struct shim_log *l) {
  size_t off = 0;
  while (off < out_len && l->fd >= 0) {
    ssize_t w = write(l->fd, out + off, out_len - off);
    if (w < 0) {
      if (errno == EINTR) continue;
      break;
    }
    /* A short write (a full disk, a signal): go on with the rest. */
    off += (size_t)w;
  }
  l->size += off;
  l->dropped += out_len - off;
  out_len = 0;
}

static void append(const void *p, size_t n) {
  memcpy(out + out_len, p, n);
  out_len += n;
}

static void rotate(struct shim_log *l) {
  /* Sized to the path: rotation must not cost every shim two pages of stack. */
  size_t cap = strlen(l->path) + 16;
  char from[cap], to[cap];
  if (l->fd >= 0) close(l->fd);
  l->fd = -1;
  if (l->max_files <= 1) {
    unlink(l->path);
  } else {
    for (unsigned i = l->max_files - 1; i >= 1; i--) {
      if (i == 1) snprintf(from, cap, "%s", l->path);
      else snprintf(from, cap, "%s.%u", l->path, i - 1);
      snprintf(to, cap, "%s.%u", l->path, i);
      rename(from, to); /* ENOENT: fewer files so far */
    }
  }
  l->fd = open_log(l->path, O_TRUNC);
  l->size = 0;
}

void log_write(struct shim_log *l, enum shim_stream stream, const char *buf, size_t len) {
  if (l->fd < 0 && !l->path) return;
  if (l->fd < 0) {
    l->dropped += len;
    return;
  }
  char ts[RFC3339_LEN + 1];
  struct timespec now = now_realtime();
  format_rfc3339(&now, ts);
  const char *name = stream == STREAM_STDOUT ? "stdout" : "stderr";
  char hdr[48];
  /* "TIMESTAMP STREAM F " with the tag at hdr[hlen - 2]. */
  size_t hlen = (size_t)snprintf(hdr, sizeof hdr, "%s %s F ", ts, name);

  size_t off = 0;
  while (off < len) {
    size_t rem = len - off;
    /* Look one byte further than line_max: a line of exactly line_max bytes is still whole. */
    size_t look = rem < l->line_max + 1 ? rem : l->line_max + 1;
    const char *nl = memchr(buf + off, '\n', look);
    size_t seg = nl ? (size_t)(nl - (buf + off)) : (rem < l->line_max ? rem : l->line_max);
    size_t entry = hlen + seg + 1;
    if (l->size_max && l->size + out_len + entry > l->size_max && l->size + out_len > 0) {
      flush(l);
      rotate(l);
      if (l->fd < 0) {
        l->dropped += len - off;
        return;
      }
    }
    /* The entry goes out in one piece or, longer than the buffer, on its own. */
    if (out_len + entry > sizeof out) flush(l);
    hdr[hlen - 2] = nl ? 'F' : 'P';
    if (entry > sizeof out) {
      struct iovec v[3] = {{hdr, hlen}, {(void *)(buf + off), seg}, {"\n", 1}};
      ssize_t w;
      do w = writev(l->fd, v, 3);
      while (w < 0 && errno == EINTR);
      if (w > 0) l->size += (size_t)w;
      if (w < (ssize_t)entry) l->dropped += entry - (w > 0 ? (size_t)w : 0);
    } else {
      append(hdr, hlen);
      append(buf + off, seg);
      out[out_len++] = '\n';
    }
    off += seg + (nl ? 1 : 0);
  }
  flush(l);
}

int log_reopen(struct shim_log *l, struct shim_err *err) {
  if (!l->path) return shim_fail(err, SHIM_STAGE_SETUP, EINVAL, "the shim has no log file (no --log-path)");
  if (l->fd >= 0) close(l->fd);
  l->fd = open_log(l->path, 0);
  if (l->fd < 0) return shim_fail(err, SHIM_STAGE_SETUP, errno, "reopen the log file %s", l->path);
  struct stat st;
  l->size = fstat(l->fd, &st) == 0 ? (unsigned long long)st.st_size : 0;
  return 0;
}

void log_close(struct shim_log *l) {
  if (l->fd >= 0) close(l->fd);
  l->fd = -1;
}
