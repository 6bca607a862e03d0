/* SPDX-License-Identifier: MIT */
/*
 * bc_util.h - small helpers shared by balloond, balloonctl and balloonvm:
 * human sizes, Unix sockets, monotonic time, leveled logging.
 * Return contract: 0 or -errno unless stated.
 */
#ifndef BC_UTIL_H
#define BC_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * Parse a size: a plain integer is bytes; suffixes K/M/G/T (and KB/MB/...)
 * and KiB/MiB/GiB/TiB are powers of 1024 (as virsh and xl read them); "B" is
 * bytes.  Case-insensitive, no spaces inside, fractions allowed with a suffix
 * ("1.5G").  Returns 0, -EINVAL for malformed text, -ERANGE on overflow.
 */
int bc_parse_size(const char *s, uint64_t *bytes);

/* Format bytes as "512 MiB" / "1.50 GiB" / "4096 B" into @buf.  Returns buf. */
char *bc_format_size(uint64_t bytes, char *buf, size_t len);

/* CLOCK_MONOTONIC in ms / ns, and CLOCK_REALTIME as Unix seconds. */
uint64_t bc_now_ms(void);
uint64_t bc_now_ns(void);
double bc_wall_s(void);

/* Connect a SOCK_STREAM Unix socket to @path (blocking connect, then the fd
 * is left blocking, CLOEXEC).  Returns the fd or -errno. */
int bc_unix_connect(const char *path);

/* Create a listening Unix socket at @path with mode @mode, non-blocking +
 * CLOEXEC.  The file is created with @mode from the start (the umask is set
 * around bind: process-wide, so call it before starting threads that create
 * files) and chmod'ed to exactly @mode.  A socket file nobody listens on
 * (connect refused) is replaced; nothing else is removed.  Returns the fd,
 * -EADDRINUSE if a server accepts connections at @path, -EEXIST if @path is
 * not a socket, or another -errno. */
int bc_unix_listen(const char *path, unsigned mode);

/* Which file a server created at a path, so that it removes the path at exit
 * only if it is still that file (a server started after it, on the same
 * path, keeps its own). */
struct bc_file_id {
	dev_t dev;
	ino_t ino;
};

/* Remember the file now at @path.  Returns 0 or -errno (from stat). */
int bc_file_id_get(const char *path, struct bc_file_id *id);

/* Unlink @path if it is still the file @id names; otherwise leave it. */
void bc_unlink_own(const char *path, const struct bc_file_id *id);

/* Make an fd non-blocking.  Returns 0 or -errno. */
int bc_set_nonblock(int fd);

/* Write a file atomically: temp file in the same directory, fsync, rename,
 * fsync the directory.  Returns 0 or -errno. */
int bc_write_file_atomic(const char *path, const void *data, size_t len,
                         unsigned mode);

/* Read a whole (small) file into a NUL-terminated malloc'd buffer.  Returns
 * 0 and fills out and len, or -errno (-EFBIG over @max bytes). */
int bc_read_file(const char *path, size_t max, char **out, size_t *len);

enum bc_log_level { BC_LOG_ERR = 0, BC_LOG_WARN, BC_LOG_INFO, BC_LOG_DEBUG };

/* Configure logging: level, and syslog (true) or stderr (false). */
void bc_log_init(const char *ident, enum bc_log_level level, bool use_syslog);
int bc_log_level_parse(const char *s, enum bc_log_level *out);
void bc_log(enum bc_log_level level, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

#define bc_err(...)   bc_log(BC_LOG_ERR, __VA_ARGS__)
#define bc_warn(...)  bc_log(BC_LOG_WARN, __VA_ARGS__)
#define bc_info(...)  bc_log(BC_LOG_INFO, __VA_ARGS__)
#define bc_debug(...) bc_log(BC_LOG_DEBUG, __VA_ARGS__)

#endif
