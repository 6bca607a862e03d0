/* SPDX-License-Identifier: MIT */
/*
 * The balloond binary (BALLOOND_BIN, set by meson): a second balloond on the
 * socket or the state file of a running one exits 1 with one line saying
 * why, touching nothing, and the first keeps serving on the same socket
 * file; started from a config file without a metrics key (and no flag) it
 * listens on no TCP port at all.  The same rules in-process, in detail:
 * test_ctl_socket.c.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <bc_util.h>

#include "rig.h"

struct paths {
	char conf[256], sock[256], state[256], proc[256];
};

static void paths_of(struct rig *r, struct paths *p, const char *conf,
                     const char *sock, const char *state)
{
	snprintf(p->conf, sizeof(p->conf), "%s", rig_path(r, conf));
	snprintf(p->sock, sizeof(p->sock), "%s", rig_path(r, sock));
	snprintf(p->state, sizeof(p->state), "%s", rig_path(r, state));
	snprintf(p->proc, sizeof(p->proc), "%s", rig_path(r, "proc"));
}

/* Run balloond on @p with stderr into @log. */
static pid_t spawn(const struct paths *p, const char *log)
{
	const char *bin = getenv("BALLOOND_BIN");
	pid_t pid;

	if (!bin)
		fail_msg("BALLOOND_BIN is not set (run through meson test)");
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int nul = open("/dev/null", O_RDWR);
		if (fd < 0 || nul < 0 || dup2(fd, 2) < 0 || dup2(nul, 1) < 0 ||
		    dup2(nul, 0) < 0)
			_exit(126);
		execl(bin, bin, "-c", p->conf, "--socket", p->sock, "--state",
		      p->state, "--proc-root", p->proc, "--tick-ms", "200",
		      (char *)NULL);
		_exit(127);
	}
	return pid;
}

/* Exit status of @pid within @ms (killed and failed otherwise). */
static int wait_exit(pid_t pid, int ms)
{
	uint64_t end = bc_now_ms() + (uint64_t)ms;
	int status;

	while (bc_now_ms() < end) {
		if (waitpid(pid, &status, WNOHANG) == pid) {
			assert_true(WIFEXITED(status));
			return WEXITSTATUS(status);
		}
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	fail_msg("pid %d did not exit within %d ms", (int)pid, ms);
	return -1;
}

/* One version request answered ok on @sock. */
static bool answers(const char *sock)
{
	static const char req[] = "{\"v\":1,\"cmd\":\"version\"}\n";
	char buf[512] = "";
	size_t got = 0;
	int fd = bc_unix_connect(sock);
	struct pollfd p = {.fd = fd, .events = POLLIN};

	if (fd < 0)
		return false;
	if (bc_write_all(fd, req, sizeof(req) - 1)) {
		close(fd);
		return false;
	}
	while (!strchr(buf, '\n') && got < sizeof(buf) - 1 &&
	       poll(&p, 1, 2000) == 1) {
		ssize_t n = read(fd, buf + got, sizeof(buf) - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	return strstr(buf, "\"ok\":true") != NULL;
}

static bool wait_answers(const char *sock, int ms)
{
	uint64_t end = bc_now_ms() + (uint64_t)ms;

	while (bc_now_ms() < end) {
		if (answers(sock))
			return true;
		usleep(20000);
	}
	return false;
}

static char *slurp(const char *path)
{
	char *text = NULL;

	if (bc_read_file(path, 1 << 20, &text, NULL))
		fail_msg("cannot read %s", path);
	return text;
}

/* @log holds exactly one line, and it contains @want. */
static void one_line(const char *log, const char *want)
{
	char *text = slurp(log);
	size_t len = strlen(text);
	bool good = len && text[len - 1] == '\n' &&
	            strchr(text, '\n') == text + len - 1 && strstr(text, want);

	if (!good)
		fail_msg("%s: want one line with '%s', got '%s'", log, want,
		         text);
	free(text);
}

/* Is socket inode @ino a listening TCP socket (IPv4 or IPv6)? */
static bool tcp_listening(unsigned long ino)
{
	static const char *const tables[] = {"/proc/net/tcp", "/proc/net/tcp6"};
	char line[512];
	bool found = false;

	for (int i = 0; i < 2 && !found; i++) {
		FILE *f = fopen(tables[i], "re");
		if (!f)
			continue;
		while (!found && fgets(line, sizeof(line), f)) {
			unsigned st;
			unsigned long in;
			if (sscanf(line,
			           "%*s %*s %*s %x %*s %*s %*s %*s %*s %lu",
			           &st, &in) == 2)
				found = st == 0x0A && in == ino;
		}
		fclose(f);
	}
	return found;
}

/* How many listening TCP sockets process @pid holds. */
static int tcp_listeners(pid_t pid)
{
	char dir[64], path[320], link[64];
	struct dirent *e;
	int n = 0;
	DIR *d;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	d = opendir(dir);
	assert_non_null(d);
	while ((e = readdir(d))) {
		unsigned long ino;
		ssize_t len;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		len = readlink(path, link, sizeof(link) - 1);
		if (len <= 0)
			continue;
		link[len] = '\0';
		if (sscanf(link, "socket:[%lu]", &ino) == 1 &&
		    tcp_listening(ino))
			n++;
	}
	closedir(d);
	return n;
}

static void test_second_balloond(void **state)
{
	struct rig r;
	struct paths first, same_sock, same_state;
	struct stat before, after;
	char want[512], *state0, *state1;
	pid_t pid;
	(void)state;

	rig_setup(&r, 1000);
	/* no metrics key, no --metrics: metrics stay off */
	rig_write(&r, "a.conf",
	          "[daemon]\nlog_level = info\n\n[policy]\nenabled = no\n");
	paths_of(&r, &first, "a.conf", "ctl.sock", "state.json");
	paths_of(&r, &same_sock, "a.conf", "ctl.sock", "other.json");
	paths_of(&r, &same_state, "a.conf", "other.sock", "state.json");
	pid = spawn(&first, rig_path(&r, "first.log"));
	assert_true(wait_answers(first.sock, 5000));
	assert_int_equal(lstat(first.sock, &before), 0);
	state0 = slurp(first.state);

	/* same socket */
	assert_int_equal(
	        wait_exit(spawn(&same_sock, rig_path(&r, "b.log")), 5000), 1);
	snprintf(want, sizeof(want), "another balloond is running on %s",
	         first.sock);
	one_line(rig_path(&r, "b.log"), want);
	assert_true(answers(first.sock));
	assert_int_equal(lstat(first.sock, &after), 0);
	assert_int_equal(after.st_ino, before.st_ino);
	assert_int_equal(access(same_sock.state, F_OK), -1);

	/* same state file */
	assert_int_equal(
	        wait_exit(spawn(&same_state, rig_path(&r, "c.log")), 5000), 1);
	snprintf(want, sizeof(want), "state file %s is locked by pid %d",
	         first.state, (int)pid);
	one_line(rig_path(&r, "c.log"), want);
	assert_int_equal(access(same_state.sock, F_OK), -1);
	state1 = slurp(first.state);
	assert_string_equal(state0, state1);
	assert_true(answers(first.sock));

	/* metrics: off by default, so no TCP listener at all */
	assert_int_equal(tcp_listeners(pid), 0);

	assert_int_equal(kill(pid, SIGTERM), 0);
	assert_int_equal(wait_exit(pid, 5000), 0);
	assert_int_equal(access(first.sock, F_OK), -1); /* ours: removed */
	free(state0);
	free(state1);
	rig_teardown(&r);
}

/* The listener check above can see one: the metrics key turns it on. */
static void test_metrics_key_listens(void **state)
{
	struct rig r;
	struct paths p;
	pid_t pid;
	(void)state;

	rig_setup(&r, 1000);
	rig_write(&r, "m.conf", "[daemon]\nmetrics = 127.0.0.1:0\n");
	paths_of(&r, &p, "m.conf", "ctl.sock", "state.json");
	pid = spawn(&p, rig_path(&r, "m.log"));
	assert_true(wait_answers(p.sock, 5000));
	assert_int_equal(tcp_listeners(pid), 1);
	assert_int_equal(kill(pid, SIGTERM), 0);
	assert_int_equal(wait_exit(pid, 5000), 0);
	rig_teardown(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_second_balloond),
	        cmocka_unit_test(test_metrics_key_listens),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
