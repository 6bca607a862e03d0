/* SPDX-License-Identifier: MIT */
/*
 * The control socket itself: its mode from the start (0600, or 0660 and the
 * group with socket_group), the peer credential check (another uid, or
 * credentials that cannot be read), and one daemon per socket and per state
 * file: a second one is refused and leaves the first's socket, state and
 * service alone; a stale socket is replaced; at exit only our own socket
 * file is removed.  The balloond binary's side (exit 1, one line):
 * test_instance.c.
 */
#include <errno.h>
#include <grp.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <bc_util.h>

#include "ctl.h"
#include "ctl_fix.h"

/* Linked with -Wl,--wrap=getsockopt: SO_PEERCRED fails while set. */
int __real_getsockopt(int fd, int level, int name, void *val, socklen_t *len);
int __wrap_getsockopt(int fd, int level, int name, void *val, socklen_t *len);
static volatile bool fail_peercred;

int __wrap_getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
	if (fail_peercred && level == SOL_SOCKET && name == SO_PEERCRED) {
		errno = EINVAL;
		return -1;
	}
	return __real_getsockopt(fd, level, name, val, len);
}

static void stat_ok(const char *path, struct stat *st)
{
	if (lstat(path, st))
		fail_msg("stat %s: %s", path, strerror(errno));
}

static void test_peer_allowed(void **state)
{
	(void)state;
	assert_true(bd_ctl_peer_allowed(0, 0, false, 0));
	assert_true(bd_ctl_peer_allowed(getuid(), 1234, false, 0));
	assert_false(bd_ctl_peer_allowed(65534, 65534, false, 0));
	assert_true(bd_ctl_peer_allowed(65534, 65534, true, 65534));
	assert_false(bd_ctl_peer_allowed(65534, 65534, true, 4321));
}

/* A real peer of another uid: the socket mode lets it in, the credential
 * check must not. */
static void test_permission(void **state)
{
	struct ctl_fix *t = *state;
	int status = -1;
	pid_t pid;

	if (getuid() != 0)
		fail_msg("this test needs root to switch the peer's uid");
	assert_int_equal(chmod(t->r.dir, 0711), 0);
	assert_int_equal(chmod(t->r.conf.socket_path, 0666), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		char buf[1024] = "";
		ssize_t n, got = 0;
		int fd;
		/* the daemon may refuse and close before our write */
		signal(SIGPIPE, SIG_IGN);
		if (setgid(65534) || setuid(65534))
			_exit(10);
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s",
		         t->r.conf.socket_path);
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
			_exit(11);
		n = write(fd, "{\"v\":1,\"cmd\":\"list\"}\n", 21);
		(void)n;
		while ((n = read(fd, buf + got, sizeof(buf) - 1 - got)) > 0)
			got += n;
		buf[got] = '\0';
		/* one error reply, then the daemon closed (read hit EOF) */
		_exit(strstr(buf, "\"code\":\"permission\"") &&
		                      !strstr(buf, "\"ok\":true")
		              ? 0
		              : 12);
	}
	uint64_t end = bc_now_ms() + 5000;
	while (bc_now_ms() < end) {
		bd_run_once(&t->r.bd, 10);
		if (waitpid(pid, &status, WNOHANG) == pid)
			break;
	}
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	/* the refused peer changed nothing and we still serve root */
	json_object_put(fix_ok(t, "{\"v\":1,\"cmd\":\"list\"}"));
}

static void test_mode_private(void **state)
{
	struct ctl_fix *t = *state;
	struct stat st;

	stat_ok(t->r.conf.socket_path, &st);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_uid, getuid());
}

/* A group other than ours (nogroup on Debian), so the chown shows. */
static gid_t other_group(char *name, size_t len)
{
	struct group *gr = getgrgid(65534);

	if (!gr || gr->gr_gid == getgid())
		gr = getgrnam("daemon");
	assert_non_null(gr);
	assert_true(gr->gr_gid != getgid());
	snprintf(name, len, "%s", gr->gr_name);
	return gr->gr_gid;
}

/* socket_group: 0660 and that group, whatever the umask; a member of the
 * group with another uid gets in. */
static void test_mode_group(void **state)
{
	struct rig r;
	struct stat st;
	char group[64];
	gid_t gid = other_group(group, sizeof(group));
	mode_t old = umask(077);
	int status = -1;
	pid_t pid;
	(void)state;

	rig_setup(&r, 1000);
	bd_conf_set_str(&r.conf.socket_group, group);
	rig_start(&r);
	umask(old);
	stat_ok(r.conf.socket_path, &st);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0660);
	assert_int_equal(st.st_gid, gid);

	if (getuid() != 0)
		fail_msg("this test needs root to switch the peer's uid");
	assert_int_equal(chmod(r.dir, 0711), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char buf[1024] = "";
		ssize_t n, got = 0;
		int fd;
		if (setgroups(0, NULL) || setgid(gid) || setuid(65533))
			_exit(10);
		fd = bc_unix_connect(r.conf.socket_path);
		if (fd < 0)
			_exit(11);
		n = write(fd, "{\"v\":1,\"cmd\":\"list\"}\n", 21);
		(void)n;
		while (!strchr(buf, '\n') &&
		       (n = read(fd, buf + got, sizeof(buf) - 1 - got)) > 0)
			got += n;
		_exit(strstr(buf, "\"ok\":true") ? 0 : 12);
	}
	uint64_t end = bc_now_ms() + 5000;
	while (bc_now_ms() < end && waitpid(pid, &status, WNOHANG) != pid)
		bd_run_once(&r.bd, 10);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	rig_teardown(&r);
}

/* getsockopt(SO_PEERCRED) fails: the client is refused with a message
 * that says so (no uid made up from an unset struct). */
static void test_peercred_fails(void **state)
{
	struct ctl_fix *t = *state;
	struct json_object *rep;
	int saved = t->r.cfd;

	/* the fixture's own client is accepted first, with credentials */
	json_object_put(fix_ok(t, "{\"v\":1,\"cmd\":\"list\"}"));
	t->r.cfd = bc_unix_connect(t->r.conf.socket_path);
	assert_true(t->r.cfd >= 0);
	bc_set_nonblock(t->r.cfd);
	fail_peercred = true;
	rep = rig_rpc(&t->r, "{\"v\":1,\"cmd\":\"list\"}");
	fail_peercred = false;
	close(t->r.cfd);
	t->r.cfd = saved;
	assert_string_equal(rig_code(rep), "permission");
	assert_non_null(strstr(json_object_to_json_string(rep),
	                       "could not read the client's credentials"));
	assert_null(strstr(json_object_to_json_string(rep), "uid"));
	json_object_put(rep);
	json_object_put(fix_ok(t, "{\"v\":1,\"cmd\":\"list\"}"));
}

/* A second daemon on the same socket (other state), then on the same state
 * (other socket): both refused; the first keeps its socket file, its state
 * and its service; the second leaves no socket behind. */
static void test_second_daemon(void **state)
{
	struct ctl_fix *t = *state;
	struct bd_conf c2;
	struct bd bd2;
	struct stat before, after;
	char err[512], want[512], *state0, *state1;
	char sock2[256], state2[256];

	json_object_put(fix_ok(t, "{\"v\":1,\"cmd\":\"policy-set\",\"args\":"
	                          "{\"tax_rate\":0.5}}"));
	assert_int_equal(
	        bc_read_file(t->r.conf.state_path, 1 << 20, &state0, NULL), 0);
	stat_ok(t->r.conf.socket_path, &before);
	snprintf(sock2, sizeof(sock2), "%s", rig_path(&t->r, "other.sock"));
	snprintf(state2, sizeof(state2), "%s", rig_path(&t->r, "other.json"));

	assert_int_equal(bd_conf_init(&c2), 0);
	bd_conf_set_str(&c2.proc_root, t->r.conf.proc_root);
	bd_conf_set_str(&c2.socket_path, t->r.conf.socket_path);
	bd_conf_set_str(&c2.state_path, state2);
	assert_int_equal(bd_init(&bd2, &c2, false, err, sizeof(err)),
	                 -EADDRINUSE);
	snprintf(want, sizeof(want), "another balloond is running on %s",
	         t->r.conf.socket_path);
	assert_string_equal(err, want);
	assert_int_equal(access(state2, F_OK), -1); /* wrote no state */

	bd_conf_set_str(&c2.socket_path, sock2);
	bd_conf_set_str(&c2.state_path, t->r.conf.state_path);
	assert_int_equal(bd_init(&bd2, &c2, false, err, sizeof(err)),
	                 -EWOULDBLOCK);
	snprintf(want, sizeof(want),
	         "state file %s is locked by pid %d (another balloond is "
	         "running)",
	         t->r.conf.state_path, (int)getpid());
	assert_string_equal(err, want);
	assert_int_equal(access(sock2, F_OK), -1); /* bound no socket */
	bd_conf_free(&c2);

	stat_ok(t->r.conf.socket_path, &after);
	assert_int_equal(after.st_ino, before.st_ino);
	assert_int_equal(after.st_dev, before.st_dev);
	assert_int_equal(
	        bc_read_file(t->r.conf.state_path, 1 << 20, &state1, NULL), 0);
	assert_string_equal(state0, state1);
	free(state0);
	free(state1);
	json_object_put(fix_ok(t, "{\"v\":1,\"cmd\":\"list\"}"));
	/* a client that connects anew is served too */
	rig_stop(&t->r);
	rig_start(&t->r);
	json_object_put(fix_ok(t, "{\"v\":1,\"cmd\":\"list\"}"));
}

static int bind_at(const char *path, bool do_listen)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	if (do_listen)
		assert_int_equal(listen(fd, 4), 0);
	return fd;
}

/* A socket file left by a crash (nobody listens) is replaced; a regular
 * file in the way is refused and left alone. */
static void test_stale_socket(void **state)
{
	struct rig r;
	struct bd bd2;
	char err[512];
	struct stat st;
	(void)state;

	rig_setup(&r, 1000);
	close(bind_at(r.conf.socket_path, false));
	rig_start(&r);
	json_object_put(rig_rpc(&r, "{\"v\":1,\"cmd\":\"list\"}"));
	rig_stop(&r);
	rig_write(&r, "ctl.sock", "not a socket\n");
	assert_int_equal(bd_init(&bd2, &r.conf, false, err, sizeof(err)),
	                 -EEXIST);
	assert_non_null(strstr(err, "ctl.sock: exists and is not a socket"));
	stat_ok(r.conf.socket_path, &st);
	assert_true(S_ISREG(st.st_mode));
	rig_teardown(&r);
}

/* Someone replaced our socket file while we ran (e.g. removed it and
 * started another server there): at exit we leave theirs alone. */
static void test_exit_keeps_foreign_socket(void **state)
{
	struct ctl_fix *t = *state;
	struct stat theirs, st;
	int fd;

	assert_int_equal(unlink(t->r.conf.socket_path), 0);
	fd = bind_at(t->r.conf.socket_path, true);
	stat_ok(t->r.conf.socket_path, &theirs);
	rig_stop(&t->r);
	stat_ok(t->r.conf.socket_path, &st);
	assert_int_equal(st.st_ino, theirs.st_ino);
	close(fd);
	/* and our own is removed at exit */
	unlink(t->r.conf.socket_path);
	rig_start(&t->r);
	rig_stop(&t->r);
	assert_int_equal(access(t->r.conf.socket_path, F_OK), -1);
	assert_int_equal(errno, ENOENT);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, fix_setup, fix_teardown)
	const struct CMUnitTest tests[] = {
	        T(test_mode_private),
	        cmocka_unit_test(test_mode_group),
	        cmocka_unit_test(test_peer_allowed),
	        T(test_permission),
	        T(test_peercred_fails),
	        T(test_second_daemon),
	        cmocka_unit_test(test_stale_socket),
	        T(test_exit_keeps_foreign_socket),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
