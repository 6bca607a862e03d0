/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "bc_jsonl.h"
#include "bc_util.h"

uint64_t bc_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t bc_now_ms(void)
{
	return bc_now_ns() / 1000000u;
}

double bc_wall_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int fill_addr(struct sockaddr_un *sa, const char *path)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	strcpy(sa->sun_path, path);
	return 0;
}

int bc_set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

int bc_unix_connect(const char *path)
{
	struct sockaddr_un sa;
	int fd, ret = fill_addr(&sa, path);

	if (ret)
		return ret;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		ret = -errno;
		goto err_close;
	}
	return fd;
err_close:
	close(fd);
	return ret;
}

/* What is at @path: 0 nothing (or a stale socket, then removed),
 * -EADDRINUSE a server accepts connections there, -EEXIST not a socket. */
static int clear_stale(const struct sockaddr_un *sa)
{
	struct stat st;
	int fd, ret;

	if (lstat(sa->sun_path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	/* non-blocking: a live server with a full backlog says EAGAIN */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	ret = connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) < 0 ? -errno
	                                                                : 0;
	close(fd);
	if (ret == 0 || ret == -EAGAIN || ret == -EINPROGRESS)
		return -EADDRINUSE;
	if (ret != -ECONNREFUSED)
		return ret == -ENOENT ? 0 : ret; /* ENOENT: gone meanwhile */
	if (unlink(sa->sun_path) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

int bc_unix_listen(const char *path, unsigned mode)
{
	struct sockaddr_un sa;
	mode_t old_mask;
	int fd, ret = fill_addr(&sa, path);

	if (ret)
		return ret;
	ret = clear_stale(&sa);
	if (ret)
		return ret;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	/* the file bind creates never has more than @mode, not even briefly */
	old_mask = umask(~mode & 0777);
	ret = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ? -errno : 0;
	umask(old_mask);
	if (ret)
		goto err_close;
	if (chmod(path, mode) < 0 || listen(fd, 64) < 0) {
		ret = -errno;
		goto err_unlink;
	}
	return fd;
err_unlink:
	unlink(path);
err_close:
	close(fd);
	return ret;
}

static int fsync_dir_of(const char *path)
{
	char copy[PATH_MAX];
	int dfd, ret = 0;

	if (strlen(path) >= sizeof(copy))
		return -ENAMETOOLONG;
	strcpy(copy, path);
	dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	if (fsync(dfd) < 0)
		ret = -errno;
	close(dfd);
	return ret;
}

int bc_write_file_atomic(const char *path, const void *data, size_t len,
                         unsigned mode)
{
	char tmp[PATH_MAX];
	int fd, ret;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >=
	    (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	ret = bc_write_all(fd, data, len);
	if (ret)
		goto err_unlink;
	if (fsync(fd) < 0) {
		ret = -errno;
		goto err_unlink;
	}
	close(fd);
	fd = -1;
	if (rename(tmp, path) < 0) {
		ret = -errno;
		goto err_unlink;
	}
	return fsync_dir_of(path);
err_unlink:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return ret;
}

int bc_read_file(const char *path, size_t max, char **out, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t cap = 4096, n = 0;
	char *buf;
	int ret;

	if (fd < 0)
		return -errno;
	buf = malloc(cap + 1);
	if (!buf) {
		ret = -ENOMEM;
		goto err_close;
	}
	for (;;) {
		if (n == cap) {
			char *nb;
			if (cap >= max) {
				ret = -EFBIG;
				goto err_free;
			}
			cap *= 2;
			nb = realloc(buf, cap + 1);
			if (!nb) {
				ret = -ENOMEM;
				goto err_free;
			}
			buf = nb;
		}
		ssize_t r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			ret = -errno;
			goto err_free;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (n > max) {
		ret = -EFBIG;
		goto err_free;
	}
	close(fd);
	buf[n] = '\0';
	*out = buf;
	if (len)
		*len = n;
	return 0;
err_free:
	free(buf);
err_close:
	close(fd);
	return ret;
}

int bc_file_id_get(const char *path, struct bc_file_id *id)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return -errno;
	id->dev = st.st_dev;
	id->ino = st.st_ino;
	return 0;
}

void bc_unlink_own(const char *path, const struct bc_file_id *id)
{
	struct stat st;

	if (lstat(path, &st) == 0 && st.st_dev == id->dev &&
	    st.st_ino == id->ino)
		unlink(path);
}
