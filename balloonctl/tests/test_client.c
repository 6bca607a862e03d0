/* SPDX-License-Identifier: MIT */
/*
 * balloonctl end to end, in-process: bctl_main() with real argv against
 * fake_daemon (a thread serving the control protocol on a temp socket).
 * Checks the requests each verb sends (sizes in bytes), what it prints,
 * exit codes, daemon refusals shown as sent, connection failures, and the
 * client's id matching, version check and reply timeout.  set --wait and
 * top: test_wait.c.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "bc_util.h"
#include "client.h"
#include "ctl.h"
#include "run_ctl.h"

static void test_list_and_info(void **state)
{
	struct fake_daemon *f = *state;
	struct run r = ctl(f->path, "list", NULL);
	struct json_object *o;

	assert_int_equal(r.rc, 0);
	assert_string_equal(r.err, "");
	assert_non_null(strstr(r.out, "NAME  STATE      ACTUAL  TARGET"));
	assert_non_null(strstr(r.out, "\nweb   connected   1 GiB   1 GiB  "
	                              "256 MiB  1 GiB  512 MiB    1000  auto"));
	assert_string_equal(f->last_cmd, "list");
	run_free(&r);

	r = ctl(f->path, "list", "--json", NULL);
	assert_int_equal(r.rc, 0);
	o = json_out(&r);
	struct json_object *vms = json_object_object_get(o, "vms");
	assert_int_equal(json_object_array_length(vms), 1);
	assert_string_equal(json_object_get_string(json_object_object_get(
	                            json_object_array_get_idx(vms, 0), "name")),
	                    "web");
	json_object_put(o);
	run_free(&r);

	r = ctl(f->path, "info", "web", NULL);
	assert_int_equal(r.rc, 0);
	assert_string_equal(f->last_cmd, "info");
	assert_string_equal(fake_arg_str(f, "vm"), "web");
	assert_non_null(strstr(r.out, "name:          web\n"));
	assert_non_null(strstr(r.out, "min:           256 MiB\n"));
	run_free(&r);

	r = ctl(f->path, "stats", "web", NULL);
	assert_int_equal(r.rc, 0);
	assert_string_equal(f->last_cmd, "stats");
	assert_non_null(strstr(r.out, "stat-swap-out:         4 KiB\n"));
	assert_non_null(strstr(r.out, "stat-major-faults:     12\n"));
	assert_non_null(strstr(r.out, "stat-htlb-pgfail:      -\n"));
	run_free(&r);
}

static void test_set_sends_bytes(void **state)
{
	struct fake_daemon *f = *state;
	struct run r = ctl(f->path, "set", "web", "512M", NULL);

	assert_int_equal(r.rc, 0);
	assert_string_equal(f->last_cmd, "set");
	assert_string_equal(fake_arg_str(f, "vm"), "web");
	assert_int_equal(fake_arg_int(f, "target"), 512 * MiB);
	assert_string_equal(r.out, "web: target 512 MiB (actual 1 GiB), "
	                           "pinned\n");
	run_free(&r);

	r = ctl(f->path, "mem-set", "web", "805306368", "--json", NULL);
	assert_int_equal(r.rc, 0);
	assert_int_equal(fake_arg_int(f, "target"), 768 * MiB);
	struct json_object *o = json_out(&r);
	assert_true(
	        json_object_get_boolean(json_object_object_get(o, "pinned")));
	assert_int_equal(
	        json_object_get_int64(json_object_object_get(o, "target")),
	        768 * MiB);
	json_object_put(o);
	run_free(&r);
}

static void test_refusals(void **state)
{
	struct fake_daemon *f = *state;
	struct run r = ctl(f->path, "set", "web", "64M", NULL);
	struct json_object *o;

	assert_int_equal(r.rc, 1);
	assert_string_equal(r.out, "");
	assert_string_equal(r.err, "balloonctl: target 64 MiB is below min "
	                           "256 MiB of vm web\n");
	run_free(&r);

	r = ctl(f->path, "--json", "setmem", "web", "2G", NULL);
	assert_int_equal(r.rc, 1);
	assert_string_equal(r.err, "balloonctl: target 2 GiB is above max "
	                           "1 GiB of vm web\n");
	o = json_out(&r);
	assert_false(json_object_get_boolean(json_object_object_get(o, "ok")));
	struct json_object *e = json_object_object_get(o, "error");
	assert_string_equal(
	        json_object_get_string(json_object_object_get(e, "code")),
	        "above-max");
	json_object_put(o);
	run_free(&r);

	r = ctl(f->path, "info", "nope", NULL);
	assert_int_equal(r.rc, 1);
	assert_string_equal(r.err, "balloonctl: no vm named nope\n");
	run_free(&r);

	r = ctl(f->path, "add", "web", "--qmp", "/q", NULL);
	assert_int_equal(r.rc, 1);
	assert_string_equal(r.err, "balloonctl: vm web is already managed\n");
	run_free(&r);

	r = ctl(f->path, "min", "web", "2G", NULL);
	assert_int_equal(r.rc, 1);
	assert_string_equal(r.err, "balloonctl: min would exceed max\n");
	run_free(&r);
}

static void test_setters(void **state)
{
	struct fake_daemon *f = *state;
	struct run r = ctl(f->path, "mem-min", "web", "128M", NULL);

	assert_int_equal(r.rc, 0);
	assert_string_equal(f->last_cmd, "min");
	assert_int_equal(fake_arg_int(f, "min"), 128 * MiB);
	assert_string_equal(r.out, "web: min 128 MiB\n");
	run_free(&r);

	r = ctl(f->path, "setmaxmem", "web", "2GiB", NULL);
	assert_int_equal(r.rc, 0);
	assert_string_equal(f->last_cmd, "max");
	assert_int_equal(fake_arg_int(f, "max"), 2 * GiB);
	assert_string_equal(r.out, "web: max 2 GiB\n");
	run_free(&r);

	r = ctl(f->path, "shares", "web", "3000", NULL);
	assert_int_equal(r.rc, 0);
	assert_int_equal(fake_arg_int(f, "shares"), 3000);
	assert_string_equal(r.out, "web: shares 3000\n");
	run_free(&r);

	r = ctl(f->path, "add", "db", "--qmp", "/run/vm/db.qmp", "--min", "64M",
	        "--max=2G", "--shares", "500", NULL);
	assert_int_equal(r.rc, 0);
	assert_string_equal(f->last_cmd, "add");
	assert_string_equal(fake_arg_str(f, "qmp"), "/run/vm/db.qmp");
	assert_int_equal(fake_arg_int(f, "min"), 64 * MiB);
	assert_int_equal(fake_arg_int(f, "max"), 2 * GiB);
	assert_int_equal(fake_arg_int(f, "shares"), 500);
	assert_string_equal(r.out, "db: added (qmp /run/vm/db.qmp, state "
	                           "connecting)\n");
	run_free(&r);

	/* optional add args are left out, not sent as zero */
	r = ctl(f->path, "add", "cache", "--qmp", "/q", NULL);
	assert_int_equal(r.rc, 0);
	assert_int_equal(fake_arg_int(f, "min"), -1);
	assert_int_equal(fake_arg_int(f, "shares"), -1);
	run_free(&r);

	r = ctl(f->path, "remove", "db", NULL);
	assert_int_equal(r.rc, 0);
	assert_string_equal(f->last_cmd, "remove");
	assert_string_equal(r.out, "db: removed (its balloon is left as it "
	                           "is)\n");
	run_free(&r);

	r = ctl(f->path, "policy", "release", "web", NULL);
	assert_int_equal(r.rc, 0);
	assert_string_equal(f->last_cmd, "policy-release");
	assert_string_equal(r.out, "web: released to the policy (target "
	                           "1 GiB, actual 1 GiB)\n");
	run_free(&r);
}

static void test_host_policy_version(void **state)
{
	struct fake_daemon *f = *state;
	struct run r = ctl(f->path, "host", NULL);

	assert_int_equal(r.rc, 0);
	assert_string_equal(f->last_cmd, "host");
	assert_non_null(strstr(r.out, "available:      18 GiB\n"));
	assert_non_null(strstr(r.out, "psi-some-avg10: 1.25 %\n"));
	run_free(&r);

	r = ctl(f->path, "policy", NULL);
	assert_int_equal(r.rc, 0);
	assert_string_equal(f->last_cmd, "policy-get");
	assert_non_null(strstr(r.out, "kind:     idletax\n"));
	run_free(&r);

	r = ctl(f->path, "policy", "set", "tax_rate=0.5", "kind=mom",
	        "margin=32M", NULL);
	assert_int_equal(r.rc, 0);
	assert_string_equal(f->last_cmd, "policy-set");
	assert_string_equal(fake_arg_str(f, "kind"), "mom");
	assert_int_equal(fake_arg_int(f, "margin"), 32 * MiB);
	assert_non_null(strstr(r.out, "kind:     mom\n"));
	assert_non_null(strstr(r.out, "tax_rate: 0.5\n"));
	assert_non_null(strstr(r.out, "margin:   32 MiB\n"));
	run_free(&r);

	r = ctl(f->path, "version", NULL);
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.out, "balloonctl 0.1.0 (control protocol 1)\n"
	                           "balloond 0.1.0 (control protocol 1)\n");
	run_free(&r);

	r = ctl(f->path, "version", "--json", NULL);
	assert_int_equal(r.rc, 0);
	struct json_object *o = json_out(&r);
	assert_int_equal(
	        json_object_get_int(json_object_object_get(o, "protocol")), 1);
	json_object_put(o);
	run_free(&r);
}

static void test_connect_errors(void **state)
{
	struct fake_daemon *f = *state;
	char path[100], want[320];
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd;

	snprintf(path, sizeof(path), "%s/absent.sock", f->dir);
	struct run r = ctl(path, "list", NULL);
	assert_int_equal(r.rc, 1);
	snprintf(want, sizeof(want),
	         "balloonctl: cannot connect to balloond at %s: No such file "
	         "or directory (is balloond running?)\n",
	         path);
	assert_string_equal(r.err, want);
	assert_string_equal(r.out, "");
	run_free(&r);

	/* a socket file nobody listens on: connection refused */
	snprintf(path, sizeof(path), "%s/dead.sock", f->dir);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	r = ctl(path, "--json", "info", "web", NULL);
	assert_int_equal(r.rc, 1);
	snprintf(want, sizeof(want),
	         "balloonctl: cannot connect to balloond at %s: Connection "
	         "refused (is balloond running?)\n",
	         path);
	assert_string_equal(r.err, want);
	struct json_object *o = json_out(&r);
	assert_string_equal(
	        json_object_get_string(json_object_object_get(
	                json_object_object_get(o, "error"), "code")),
	        "connect");
	json_object_put(o);
	run_free(&r);
	close(fd);
	unlink(path);
}

static void test_socket_from_env(void **state)
{
	struct fake_daemon *f = *state;
	unsigned before = f->requests;
	struct run r;

	setenv(CTL_SOCKET_ENV, f->path, 1);
	r = ctl(NULL, "list", NULL);
	assert_int_equal(r.rc, 0);
	assert_int_equal(f->requests, before + 1);
	run_free(&r);
	/* --socket wins over the environment */
	r = ctl("/nonexistent/balloond.sock", "list", NULL);
	assert_int_equal(r.rc, 1);
	assert_non_null(strstr(r.err, "at /nonexistent/balloond.sock:"));
	run_free(&r);
	unsetenv(CTL_SOCKET_ENV);
}

static void test_stale_reply_skipped(void **state)
{
	struct fake_daemon *f = *state;

	f->stale_reply = true;
	struct run r = ctl(f->path, "info", "web", NULL);
	assert_int_equal(r.rc, 0);
	assert_non_null(strstr(r.out, "name:          web\n"));
	run_free(&r);
}

static void test_bad_version(void **state)
{
	struct fake_daemon *f = *state;

	f->bad_version = true;
	struct run r = ctl(f->path, "list", NULL);
	assert_int_equal(r.rc, 1);
	assert_string_equal(r.err, "balloonctl: balloond speaks control "
	                           "protocol 2, balloonctl speaks 1\n");
	run_free(&r);
}

static void test_reply_timeout(void **state)
{
	struct fake_daemon *f = *state;
	struct json_object *res = (void *)1;
	struct ctl_client c;
	struct ctl_err e;
	uint64_t t0;

	f->silent = true;
	assert_int_equal(bctl_client_open(&c, f->path, 200, &e), 0);
	t0 = bc_now_ms();
	assert_int_equal(bctl_call(&c, "list", NULL, &res, &e), -ETIMEDOUT);
	assert_true(bc_now_ms() - t0 >= 190);
	assert_null(res);
	assert_string_equal(e.code, "timeout");
	assert_non_null(strstr(e.message, "to 'list' within 200 ms"));
	bctl_client_close(&c);
}

static void test_hang_up(void **state)
{
	struct fake_daemon *f = *state;

	f->hang_up = true;
	struct run r = ctl(f->path, "host", NULL);
	assert_int_equal(r.rc, 1);
	assert_non_null(strstr(r.err, "closed the connection during 'host'"));
	run_free(&r);
}

static void test_permission(void **state)
{
	struct fake_daemon *f = *state;

	f->permission = true;
	struct run r = ctl(f->path, "--json", "list", NULL);
	assert_int_equal(r.rc, 1);
	assert_string_equal(r.err, "balloonctl: permission denied: uid 1000 is "
	                           "not allowed\n");
	struct json_object *o = json_out(&r);
	assert_string_equal(
	        json_object_get_string(json_object_object_get(
	                json_object_object_get(o, "error"), "code")),
	        "permission");
	json_object_put(o);
	run_free(&r);
}

static void test_usage_exit_codes(void **state)
{
	struct fake_daemon *f = *state;
	struct run r = ctl(f->path, "set", "web", NULL);

	assert_int_equal(r.rc, 2);
	assert_string_equal(r.err, "balloonctl: set: missing SIZE (usage: "
	                           "balloonctl set VM SIZE [--wait] "
	                           "[--timeout SECONDS])\n");
	assert_int_equal(f->requests, 0); /* nothing sent */
	run_free(&r);

	r = ctl(f->path, "--json", "frob", NULL);
	assert_int_equal(r.rc, 2);
	struct json_object *o = json_out(&r);
	assert_string_equal(
	        json_object_get_string(json_object_object_get(
	                json_object_object_get(o, "error"), "code")),
	        "usage");
	json_object_put(o);
	run_free(&r);

	r = ctl(f->path, "set", "web", "lots", NULL);
	assert_int_equal(r.rc, 2);
	run_free(&r);

	r = ctl(f->path, "max", "--help", NULL);
	assert_int_equal(r.rc, 0);
	assert_non_null(strstr(r.out, "usage: balloonctl [--socket PATH] "
	                              "[--json] max VM SIZE\n"));
	assert_string_equal(r.err, "");
	run_free(&r);

	r = ctl(NULL, NULL);
	assert_int_equal(r.rc, 2);
	run_free(&r);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fake_setup, fake_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	        T(test_list_and_info),
	        T(test_set_sends_bytes),
	        T(test_refusals),
	        T(test_setters),
	        T(test_host_policy_version),
	        T(test_connect_errors),
	        T(test_socket_from_env),

	        T(test_stale_reply_skipped),
	        T(test_bad_version),
	        T(test_reply_timeout),
	        T(test_hang_up),
	        T(test_permission),

	        T(test_usage_exit_codes),
	};
	unsetenv(CTL_SOCKET_ENV);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
