/* Small pieces shared by the shim's modules. */
#ifndef BERTH_SHIM_UTIL_H
#define BERTH_SHIM_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

/* write(2) until everything is written; retries EINTR. -1 with errno on failure. */
int write_all(int fd, const void *buf, size_t len);

/* The wall clock (CLOCK_REALTIME). */
struct timespec now_realtime(void);

/* Milliseconds on the monotonic clock, for deadlines. */
long long now_ms(void);

/*
 * RFC 3339 with nanoseconds in UTC, "2006-01-02T15:04:05.000000000Z" (30
 * characters and a NUL: RFC3339_LEN + 1 bytes). Returns the length.
 */
#define RFC3339_LEN 30
size_t format_rfc3339(const struct timespec *ts, char out[RFC3339_LEN + 1]);

/*
 * Appends `s` to `out` (capacity `cap`, current length *len) as the inside of
 * a JSON string: quotes, backslashes and control characters escaped. Stops,
 * still valid, when out is full. Bytes >= 0x80 pass through.
 */
void json_escape(char *out, size_t cap, size_t *len, const char *s);

/* fcntl O_NONBLOCK on or off; -1 with errno on failure. */
int set_nonblock(int fd, bool on);

/* Opens /dev/null onto fds 0, 1 and 2. */
int stdio_to_devnull(void);

#endif
