/* SPDX-License-Identifier: MIT */
/*
 * set --wait and top against fake_daemon: progress lines as the balloon
 * moves, the max(1 MiB, 1%) tolerance with a guest that stops short, the
 * timeout, a VM lost mid-wait, a refused target, in-place progress on a
 * terminal, and top's frames, JSON lines and clean exit on SIGINT.
 */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "bc_util.h"
#include "ctl.h"
#include "run_ctl.h"
#include "wait.h"

static void test_wait_progress(void **state)
{
	struct fake_daemon *f = *state;
	struct run r = ctl(f->path, "set", "web", "512M", "--wait", NULL);

	/* 128 MiB per poll from 1 GiB: four polls, one line each */
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.err, "");
	assert_string_equal(r.out,
	                    "web: actual 896 MiB -> target 512 MiB (25%)\n"
	                    "web: actual 768 MiB -> target 512 MiB (50%)\n"
	                    "web: actual 640 MiB -> target 512 MiB (75%)\n"
	                    "web: actual 512 MiB -> target 512 MiB (100%)\n");
	assert_int_equal(f->infos, 4);
	run_free(&r);

	/* back up, with --json: no progress, the final VM object */
	r = ctl(f->path, "--json", "set", "web", "1G", "--wait", NULL);
	assert_int_equal(r.rc, 0);
	struct json_object *o = json_out(&r);
	assert_int_equal(
	        json_object_get_int64(json_object_object_get(o, "actual")),
	        GiB);
	json_object_put(o);
	run_free(&r);
}

static void test_wait_tolerance(void **state)
{
	struct fake_daemon *f = *state;
	struct run r;

	/* the guest stops 4 MiB short: within 1% of 512 MiB (5.12 MiB) */
	f->floor = 516 * MiB;
	r = ctl(f->path, "set", "web", "512M", "--wait", NULL);
	assert_int_equal(r.rc, 0);
	assert_non_null(strstr(r.out, "web: actual 516 MiB -> target 512 MiB "
	                              "(99%)\n"));
	run_free(&r);

	/* 6 MiB short is not close enough: times out */
	f->vms[0].actual = f->vms[0].target = GiB;
	f->floor = 518 * MiB;
	r = ctl(f->path, "set", "web", "512M", "--wait", "--timeout", "1.5",
	        NULL);
	assert_int_equal(r.rc, 1);
	assert_string_equal(r.err, "balloonctl: timed out after 1.5 s waiting "
	                           "for web: actual 518 MiB, target 512 MiB "
	                           "(98%)\n");
	run_free(&r);
}

static void test_wait_timeout(void **state)
{
	struct fake_daemon *f = *state;
	uint64_t t0 = bc_now_ms();

	f->step = 0; /* the balloon never moves */
	struct run r = ctl(f->path, "set", "web", "512M", "--wait", "--timeout",
	                   "0.5", NULL);
	uint64_t took = bc_now_ms() - t0;

	assert_int_equal(r.rc, 1);
	assert_string_equal(r.err, "balloonctl: timed out after 0.5 s waiting "
	                           "for web: actual 1 GiB, target 512 MiB "
	                           "(0%)\n");
	/* non-tty: the unchanged line is printed once, not per poll */
	assert_string_equal(r.out,
	                    "web: actual 1 GiB -> target 512 MiB (0%)\n");
	assert_true(took >= 500 && took < 3000);
	assert_true(f->infos >= 3);
	run_free(&r);
}

static void test_wait_lost(void **state)
{
	struct fake_daemon *f = *state;

	f->lose_after = 2;
	struct run r = ctl(f->path, "set", "web", "512M", "--wait", NULL);
	assert_int_equal(r.rc, 1);
	assert_string_equal(r.out,
	                    "web: actual 896 MiB -> target 512 MiB (25%)\n");
	assert_string_equal(r.err, "balloonctl: web: VM was lost while "
	                           "waiting for target 512 MiB\n");
	run_free(&r);
}

static void test_wait_unreachable(void **state)
{
	struct fake_daemon *f = *state;

	f->lose_after = 3;
	f->lose_as_error = true;
	struct run r = ctl(f->path, "set", "web", "512M", "--wait", NULL);
	assert_int_equal(r.rc, 1);
	assert_string_equal(r.out,
	                    "web: actual 896 MiB -> target 512 MiB (25%)\n"
	                    "web: actual 768 MiB -> target 512 MiB (50%)\n");
	/* the daemon's message, as it sent it */
	assert_string_equal(r.err, "balloonctl: vm web is not connected\n");
	run_free(&r);
}

static void test_wait_refused(void **state)
{
	struct fake_daemon *f = *state;
	struct run r = ctl(f->path, "set", "web", "64M", "--wait", NULL);

	assert_int_equal(r.rc, 1);
	assert_string_equal(r.out, "");
	assert_string_equal(r.err, "balloonctl: target 64 MiB is below min "
	                           "256 MiB of vm web\n");
	assert_int_equal(f->infos, 0); /* nothing to wait for */
	run_free(&r);
}

static void test_top(void **state)
{
	struct fake_daemon *f = *state;
	struct run r = ctl(f->path, "top", "--iterations", "2", "--interval",
	                   "0.05", NULL);
	int frames = 0;

	assert_int_equal(r.rc, 0);
	for (char *p = r.out; (p = strstr(p, "balloonctl top - ")); p++)
		frames++;
	assert_int_equal(frames, 2);
	assert_null(strchr(r.out, '\033')); /* not a tty: plain */
	assert_non_null(strstr(r.out, "host: total 24 GiB"));
	assert_int_equal(f->connections, 1);
	assert_int_equal(f->requests, 4); /* host + list, twice */
	run_free(&r);

	r = ctl(f->path, "top", "--json", "--iterations=3", "--interval=0.01",
	        NULL);
	assert_int_equal(r.rc, 0);
	int lines = 0;
	for (char *s = r.out, *nl; (nl = strchr(s, '\n')); s = nl + 1) {
		*nl = '\0';
		struct json_object *o = json_tokener_parse(s);
		assert_non_null(o);
		assert_non_null(json_object_object_get(o, "host"));
		assert_int_equal(json_object_array_length(
		                         json_object_object_get(o, "vms")),
		                 1);
		json_object_put(o);
		lines++;
	}
	assert_int_equal(lines, 3);
	run_free(&r);
}

/* On a terminal the progress line is rewritten in place, ended once. */
static void test_wait_tty(void **state)
{
	struct fake_daemon *f = *state;
	struct json_object *rep = json_tokener_parse(
	        "{\"target\": 536870912, \"actual\": 1073741824}");
	char *buf = NULL;
	size_t len;
	FILE *out = open_memstream(&buf, &len);
	struct ctl_io io = {.out = out,
	                    .err = stderr,
	                    .tty = true,
	                    .socket = f->path,
	                    .reply_timeout_ms = 2000,
	                    .poll_ms = 10};
	struct ctl_wait w;

	f->vms[0].target = 512 * MiB; /* as if the set went through */
	bctl_wait_init(&w, "web", 512 * MiB, rep);
	assert_int_equal(bctl_wait_run(&io, &w, 5.0), CTL_EXIT_OK);
	fclose(out);
	assert_string_equal(
	        buf, "\r\033[Kweb: actual 896 MiB -> target 512 MiB (25%)"
	             "\r\033[Kweb: actual 768 MiB -> target 512 MiB (50%)"
	             "\r\033[Kweb: actual 640 MiB -> target 512 MiB (75%)"
	             "\r\033[Kweb: actual 512 MiB -> target 512 MiB (100%)\n");
	free(buf);
	json_object_put(rep);
}

static unsigned requests(struct fake_daemon *f)
{
	unsigned n;

	pthread_mutex_lock(&f->lock);
	n = f->requests;
	pthread_mutex_unlock(&f->lock);
	return n;
}

static void *interrupt_top(void *arg)
{
	struct fake_daemon *f = arg;

	/* the handler is in place once the first frame was requested */
	while (requests(f) < 4)
		usleep(1000);
	kill(getpid(), SIGINT);
	return NULL;
}

/* top without --iterations runs until ^C, then exits 0. */
static void test_top_sigint(void **state)
{
	struct fake_daemon *f = *state;
	pthread_t t;

	assert_int_equal(pthread_create(&t, NULL, interrupt_top, f), 0);
	struct run r = ctl(f->path, "top", "--interval", "0.02", NULL);
	pthread_join(t, NULL);
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.err, "");
	assert_non_null(strstr(r.out, "balloonctl top - "));
	run_free(&r);
	/* the default disposition is back */
	struct sigaction sa;
	sigaction(SIGINT, NULL, &sa);
	assert_ptr_equal(sa.sa_handler, SIG_DFL);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fake_setup, fake_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	        T(test_wait_progress), T(test_wait_tolerance),
	        T(test_wait_timeout),  T(test_wait_lost),
	        T(test_wait_refused),  T(test_wait_unreachable),
	        T(test_wait_tty),      T(test_top),
	        T(test_top_sigint),
	};
	unsetenv(CTL_SOCKET_ENV);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
