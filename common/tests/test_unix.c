/* SPDX-License-Identifier: MIT */
/*
 * bc_unix_listen: a live server at the path is refused (-EADDRINUSE, its
 * socket file left alone and still answering, also with a full backlog), a
 * stale socket file is replaced, anything else is left alone (-EEXIST), and
 * the socket file has its mode from the moment bind creates it, whatever
 * the umask (bind is wrapped at link time, -Wl,--wrap=bind, to look at the
 * file right after it appears).
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "bc_util.h"

int __real_bind(int fd, const struct sockaddr *sa, socklen_t len);
int __wrap_bind(int fd, const struct sockaddr *sa, socklen_t len);

static mode_t mode_at_bind; /* of the file bind just created, 0 = none */

int __wrap_bind(int fd, const struct sockaddr *sa, socklen_t len)
{
	int ret = __real_bind(fd, sa, len);
	int e = errno;
	struct stat st;

	if (ret == 0 && sa->sa_family == AF_UNIX &&
	    !lstat(((const struct sockaddr_un *)sa)->sun_path, &st))
		mode_at_bind = st.st_mode;
	errno = e;
	return ret;
}

struct dir {
	char path[32], sock[64];
};

static int setup(void **state)
{
	struct dir *d = calloc(1, sizeof(*d));

	snprintf(d->path, sizeof(d->path), "/tmp/bcunix.XXXXXX");
	if (!mkdtemp(d->path))
		return -1;
	snprintf(d->sock, sizeof(d->sock), "%s/s.sock", d->path);
	*state = d;
	return 0;
}

static int teardown(void **state)
{
	struct dir *d = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d->path);
	if (system(cmd))
		return -1;
	free(d);
	return 0;
}

static ino_t ino_of(const char *path)
{
	struct stat st;

	assert_int_equal(lstat(path, &st), 0);
	return st.st_ino;
}

static void test_mode_from_bind(void **state)
{
	struct dir *d = *state;
	mode_t old = umask(0); /* the widest: bind alone would give 0777 */
	struct stat st;
	int fd;

	mode_at_bind = 0;
	fd = bc_unix_listen(d->sock, 0600);
	assert_true(fd >= 0);
	assert_true(S_ISSOCK(mode_at_bind));
	assert_int_equal(mode_at_bind & 07777, 0600);
	assert_int_equal(lstat(d->sock, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	close(fd);
	unlink(d->sock);

	umask(077); /* narrower than asked: the chmod widens to the mode */
	mode_at_bind = 0;
	fd = bc_unix_listen(d->sock, 0660);
	assert_true(fd >= 0);
	assert_int_equal(mode_at_bind & 07777, 0660);
	assert_int_equal(lstat(d->sock, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0660);
	close(fd);
	/* the caller's umask is back */
	assert_int_equal(umask(old), 077);
}

static void test_live_refused(void **state)
{
	struct dir *d = *state;
	int fd = bc_unix_listen(d->sock, 0600), c;
	ino_t ino = ino_of(d->sock);

	assert_true(fd >= 0);
	assert_int_equal(bc_unix_listen(d->sock, 0600), -EADDRINUSE);
	assert_int_equal(ino_of(d->sock), ino);
	c = bc_unix_connect(d->sock); /* the first still answers */
	assert_true(c >= 0);
	close(c);
	close(fd);
}

/* A live server whose backlog is full (a connect would block): still in
 * use, not stale. */
static void test_full_backlog_refused(void **state)
{
	struct dir *d = *state;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = bc_unix_listen(d->sock, 0600), cl[64], n = 0;
	ino_t ino = ino_of(d->sock);

	assert_true(fd >= 0);
	assert_int_equal(listen(fd, 0), 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", d->sock);
	for (; n < 64; n++) {
		cl[n] = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
		if (connect(cl[n], (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			assert_int_equal(errno, EAGAIN);
			break;
		}
	}
	assert_true(n < 64); /* the backlog did fill */
	assert_int_equal(bc_unix_listen(d->sock, 0600), -EADDRINUSE);
	assert_int_equal(ino_of(d->sock), ino);
	for (int i = 0; i <= n; i++)
		close(cl[i]);
	close(fd);
}

static void test_stale_replaced(void **state)
{
	struct dir *d = *state;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int old = socket(AF_UNIX, SOCK_STREAM, 0), fd, c;
	ino_t stale;

	/* a socket file nobody listens on, as after kill -9 (kept bound so
	 * that its inode number cannot be reused for the new one) */
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", d->sock);
	assert_int_equal(bind(old, (struct sockaddr *)&sa, sizeof(sa)), 0);
	stale = ino_of(d->sock);
	fd = bc_unix_listen(d->sock, 0600);
	assert_true(fd >= 0);
	assert_true(ino_of(d->sock) != stale);
	c = bc_unix_connect(d->sock);
	assert_true(c >= 0);
	close(c);
	close(fd);
	close(old);
}

static void test_other_files_left_alone(void **state)
{
	struct dir *d = *state;
	char *text = NULL;
	char longp[200];
	int fd = open(d->sock, O_WRONLY | O_CREAT, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, "data\n", 5), 5);
	close(fd);
	assert_int_equal(bc_unix_listen(d->sock, 0600), -EEXIST);
	assert_int_equal(bc_read_file(d->sock, 100, &text, NULL), 0);
	assert_string_equal(text, "data\n");
	free(text);
	unlink(d->sock);
	assert_int_equal(mkdir(d->sock, 0700), 0);
	assert_int_equal(bc_unix_listen(d->sock, 0600), -EEXIST);
	rmdir(d->sock);

	memset(longp, 'a', sizeof(longp) - 1);
	longp[0] = '/';
	longp[sizeof(longp) - 1] = '\0';
	assert_int_equal(bc_unix_listen(longp, 0600), -ENAMETOOLONG);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
	        T(test_mode_from_bind),         T(test_live_refused),
	        T(test_full_backlog_refused),   T(test_stale_replaced),
	        T(test_other_files_left_alone),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
