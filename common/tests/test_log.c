/* SPDX-License-Identifier: MIT */
/*
 * bc_log: messages below the configured level are dropped, the others are
 * printed to stderr as "HH:MM:SS.mmm IDENT[LEVEL]: text" (stderr captured
 * through a pipe); with syslog selected nothing goes to stderr and the
 * message reaches vsyslog with its priority (openlog and vsyslog are
 * wrapped at link time: -Wl,--wrap=..., nothing is sent to the real log).
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
#include <syslog.h>
#include <unistd.h>

#include <cmocka.h>

#include "bc_util.h"

/* What the wrapped syslog calls saw. */
static struct {
	char ident[32];
	int option, facility, opens;
	int prio[8];
	char msg[8][128];
	int n;
} sl;

void __wrap_openlog(const char *ident, int option, int facility);
void __wrap_vsyslog(int prio, const char *fmt, va_list ap);
void __wrap___vsyslog_chk(int prio, int flag, const char *fmt, va_list ap);

void __wrap_openlog(const char *ident, int option, int facility)
{
	snprintf(sl.ident, sizeof(sl.ident), "%s", ident);
	sl.option = option;
	sl.facility = facility;
	sl.opens++;
}

void __wrap_vsyslog(int prio, const char *fmt, va_list ap)
{
	if (sl.n >= 8)
		return;
	sl.prio[sl.n] = prio;
	vsnprintf(sl.msg[sl.n], sizeof(sl.msg[0]), fmt, ap);
	sl.n++;
}

/* the same under _FORTIFY_SOURCE */
void __wrap___vsyslog_chk(int prio, int flag, const char *fmt, va_list ap)
{
	(void)flag;
	__wrap_vsyslog(prio, fmt, ap);
}

struct capture {
	int pipe[2], saved;
};

static void capture_start(struct capture *c)
{
	fflush(stderr);
	assert_int_equal(pipe2(c->pipe, O_CLOEXEC | O_NONBLOCK), 0);
	c->saved = dup(2);
	assert_true(c->saved >= 0);
	assert_true(dup2(c->pipe[1], 2) == 2);
}

/* Restore stderr; returns what was written meanwhile (caller frees). */
static char *capture_end(struct capture *c)
{
	char *buf = calloc(1, 65536);
	ssize_t n, got = 0;

	fflush(stderr);
	assert_true(dup2(c->saved, 2) == 2);
	close(c->saved);
	close(c->pipe[1]);
	while ((n = read(c->pipe[0], buf + got, 65535 - (size_t)got)) > 0)
		got += n;
	close(c->pipe[0]);
	return buf;
}

/* @out has exactly the lines @want (each "IDENT[LEVEL]: text"), each after
 * a "HH:MM:SS.mmm " time stamp. */
static void lines_are(const char *out, const char *const *want, int n)
{
	const char *p = out;

	for (int i = 0; i < n; i++) {
		unsigned h, m, s, ms;
		int off = 0;
		const char *nl = strchr(p, '\n');
		if (!nl)
			fail_msg("line %d missing ('%s' wanted) in '%s'", i,
			         want[i], out);
		if (sscanf(p, "%2u:%2u:%2u.%3u %n", &h, &m, &s, &ms, &off) !=
		            4 ||
		    off != 13 || h > 23 || m > 59 || s > 60 || ms > 999)
			fail_msg("no time stamp in '%.*s'", (int)(nl - p), p);
		if ((size_t)(nl - p - off) != strlen(want[i]) ||
		    strncmp(p + off, want[i], strlen(want[i])))
			fail_msg("line %d: '%.*s', want '%s'", i,
			         (int)(nl - p - off), p + off, want[i]);
		p = nl + 1;
	}
	if (*p)
		fail_msg("unexpected output: '%s'", p);
}

static void log_all(void)
{
	bc_debug("d %d", 1);
	bc_info("i %s", "two");
	bc_warn("w %u", 3u);
	bc_err("e %c", '4');
}

static void test_levels(void **state)
{
	static const char *const warn[] = {"tlog[warning]: w 3",
	                                   "tlog[error]: e 4"};
	static const char *const all[] = {"dbg[debug]: d 1", "dbg[info]: i two",
	                                  "dbg[warning]: w 3",
	                                  "dbg[error]: e 4"};
	static const char *const err[] = {"x[error]: e 4"};
	static const char *const info[] = {"y[info]: i two", "y[warning]: w 3",
	                                   "y[error]: e 4"};
	struct capture c;
	char *out;
	(void)state;

	bc_log_init("tlog", BC_LOG_WARN, false);
	capture_start(&c);
	log_all();
	out = capture_end(&c);
	lines_are(out, warn, 2);
	free(out);

	bc_log_init("dbg", BC_LOG_DEBUG, false);
	capture_start(&c);
	log_all();
	out = capture_end(&c);
	lines_are(out, all, 4);
	free(out);

	bc_log_init("x", BC_LOG_ERR, false);
	capture_start(&c);
	log_all();
	out = capture_end(&c);
	lines_are(out, err, 1);
	free(out);

	bc_log_init("y", BC_LOG_INFO, false);
	capture_start(&c);
	log_all();
	out = capture_end(&c);
	lines_are(out, info, 3);
	free(out);
	assert_int_equal(sl.n, 0); /* stderr mode: nothing to syslog */
}

static void test_syslog(void **state)
{
	struct capture c;
	char *out;
	(void)state;

	memset(&sl, 0, sizeof(sl));
	bc_log_init("tsys", BC_LOG_INFO, true);
	assert_int_equal(sl.opens, 1);
	assert_string_equal(sl.ident, "tsys");
	assert_int_equal(sl.option, LOG_PID);
	assert_int_equal(sl.facility, LOG_DAEMON);
	capture_start(&c);
	log_all();
	out = capture_end(&c);
	assert_string_equal(out, ""); /* not a byte on stderr */
	free(out);
	assert_int_equal(sl.n, 3); /* debug filtered out here too */
	assert_int_equal(sl.prio[0], LOG_INFO);
	assert_string_equal(sl.msg[0], "i two");
	assert_int_equal(sl.prio[1], LOG_WARNING);
	assert_string_equal(sl.msg[1], "w 3");
	assert_int_equal(sl.prio[2], LOG_ERR);
	assert_string_equal(sl.msg[2], "e 4");
	bc_log_init("tlog", BC_LOG_ERR, false);
}

static void test_level_parse(void **state)
{
	enum bc_log_level l = BC_LOG_INFO;
	(void)state;

	assert_int_equal(bc_log_level_parse("debug", &l), 0);
	assert_int_equal(l, BC_LOG_DEBUG);
	assert_int_equal(bc_log_level_parse("ERROR", &l), 0);
	assert_int_equal(l, BC_LOG_ERR);
	assert_int_equal(bc_log_level_parse("warn", &l), 0);
	assert_int_equal(l, BC_LOG_WARN);
	assert_int_equal(bc_log_level_parse("Warning", &l), 0);
	assert_int_equal(l, BC_LOG_WARN);
	assert_int_equal(bc_log_level_parse("err", &l), 0);
	assert_int_equal(l, BC_LOG_ERR);
	assert_int_equal(bc_log_level_parse("info", &l), 0);
	assert_int_equal(l, BC_LOG_INFO);
	assert_int_equal(bc_log_level_parse("verbose", &l), -1);
	assert_int_equal(bc_log_level_parse("", &l), -1);
	assert_int_equal(l, BC_LOG_INFO); /* untouched on error */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_levels),
	        cmocka_unit_test(test_syslog),
	        cmocka_unit_test(test_level_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
