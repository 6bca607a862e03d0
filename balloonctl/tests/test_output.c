/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for balloonctl's output of sample daemon replies (tables,
 * key: value blocks, JSON, error lines), the top frame, and the pure part of
 * set --wait (tolerance, progress percentage and line, reply judgement).
 * Runs with TZ=UTC (meson env) so timestamps are fixed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "ctl.h"
#include "output.h"
#include "top.h"
#include "wait.h"

#define MiB (1024ull * 1024ull)
#define GiB (1024ull * MiB)

/* 2026-11-23 08:00:00.5 UTC */
#define T0 1795420800.5

static const char vms_json[] =
        "[{\"name\": \"web\", \"qmp\": \"/run/vm/web.qmp\", "
        "\"state\": \"connected\", \"max\": 1073741824, \"boot\": 2147483648, "
        "\"min\": 268435456, "
        "\"shares\": 1000, \"target\": 536870912, \"actual\": 851443712, "
        "\"pinned\": true, \"reason\": \"pinned\", "
        "\"stats\": {\"stat-available-memory\": 314572800}, "
        "\"stats-updated\": 1795420800.5, \"errors\": 0},"
        " {\"name\": \"db\", \"qmp\": \"/run/vm/db.qmp\", "
        "\"state\": \"connecting\", \"max\": 4294967296, \"min\": 0, "
        "\"shares\": 2000, \"target\": 4294967296, \"actual\": null, "
        "\"pinned\": false, \"reason\": \"none\", \"stats\": {}, "
        "\"stats-updated\": 0, \"errors\": 3}]";

struct capture {
	char *buf;
	size_t len;
	FILE *f;
};

static void cap_open(struct capture *c)
{
	c->buf = NULL;
	c->f = open_memstream(&c->buf, &c->len);
	assert_non_null(c->f);
}

static char *cap_close(struct capture *c)
{
	fclose(c->f);
	return c->buf;
}

static struct json_object *parse(const char *s)
{
	struct json_object *o = json_tokener_parse(s);

	assert_non_null(o);
	return o;
}

static void test_table_alignment(void **state)
{
	static const char *const hdr[] = {"A", "NUMBER", "LAST"};
	static const char *const r1[] = {"long-name", "7", "x"};
	static const char *const r2[] = {"b", "12345678", NULL};
	struct capture c;
	struct ctl_table *t = bctl_table_new(3, hdr, 1u << 1);
	(void)state;

	assert_non_null(t);
	assert_int_equal(bctl_table_add(t, r1), 0);
	assert_int_equal(bctl_table_add(t, r2), 0);
	assert_int_equal(bctl_table_rows(t), 2);
	cap_open(&c);
	bctl_table_print(t, c.f);
	bctl_table_free(t);
	assert_string_equal(cap_close(&c), "A            NUMBER  LAST\n"
	                                   "long-name         7  x\n"
	                                   "b          12345678  -\n");
	free(c.buf);
}

static void test_vm_table(void **state)
{
	struct json_object *vms = parse(vms_json);
	struct capture c;
	(void)state;

	cap_open(&c);
	bctl_print_vms(c.f, vms);
	/* NAME STATE left; sizes and SHARES right; REASON unpadded */
	assert_string_equal(
	        cap_close(&c),
	        "NAME  STATE        ACTUAL   TARGET      MIN    MAX    AVAIL  "
	        "SHARES  MODE    REASON\n"
	        "web   connected   812 MiB  512 MiB  256 MiB  1 GiB  300 MiB  "
	        "  1000  pinned  pinned\n"
	        "db    connecting        -    4 GiB      0 B  4 GiB        -  "
	        "  2000  auto    none\n");
	free(c.buf);
	json_object_put(vms);

	/* no VMs: just the header */
	vms = parse("[]");
	cap_open(&c);
	bctl_print_vms(c.f, vms);
	assert_string_equal(cap_close(&c),
	                    "NAME  STATE  ACTUAL  TARGET  MIN  MAX  AVAIL  "
	                    "SHARES  MODE  REASON\n");
	free(c.buf);
	json_object_put(vms);
}

static void test_vm_info(void **state)
{
	struct json_object *vms = parse(vms_json);
	struct capture c;
	(void)state;

	cap_open(&c);
	bctl_print_vm(c.f, json_object_array_get_idx(vms, 0), T0 + 3.25);
	assert_string_equal(cap_close(&c),
	                    "name:          web\n"
	                    "state:         connected\n"
	                    "qmp:           /run/vm/web.qmp\n"
	                    "actual:        812 MiB\n"
	                    "target:        512 MiB\n"
	                    "min:           256 MiB\n"
	                    "max:           1 GiB\n"
	                    "boot:          2 GiB\n"
	                    "balloon:       1.21 GiB\n"
	                    "shares:        1000\n"
	                    "pinned:        yes\n"
	                    "reason:        pinned\n"
	                    "errors:        0\n"
	                    "stats-updated: 2026-11-23 08:00:00 (3.2 s ago)\n");
	free(c.buf);

	cap_open(&c);
	bctl_print_vm(c.f, json_object_array_get_idx(vms, 1), T0);
	char *out = cap_close(&c);
	assert_non_null(strstr(out, "actual:        -\n"));
	assert_non_null(strstr(out, "balloon:       -\n"));
	assert_non_null(strstr(out, "boot:          -\n"));
	assert_non_null(strstr(out, "pinned:        no\n"));
	assert_non_null(strstr(out, "errors:        3\n"));
	assert_non_null(strstr(out, "stats-updated: never\n"));
	free(out);
	json_object_put(vms);
}

/* Rows come in balloonctl(1)'s order whatever the JSON order; statistics
 * this version does not know follow at the end. */
static void test_stats(void **state)
{
	struct json_object *res = parse(
	        "{\"vm\": \"web\", \"last-update\": 1795420800.5, \"stats\": "
	        "{\"stat-oom-kills\": 2, \"x-new-counter\": 7, "
	        "\"stat-disk-caches\": 104857600, \"stat-htlb-pgalloc\": -1, "
	        "\"stat-available-memory\": 536870912, "
	        "\"stat-minor-faults\": 3456, \"stat-free-memory\": 268435456, "
	        "\"stat-total-memory\": 1073741824, \"stat-swap-out\": 4096, "
	        "\"stat-major-faults\": 12, \"stat-swap-in\": 0}}");
	struct capture c;
	(void)state;

	cap_open(&c);
	bctl_print_stats(c.f, res, T0 + 600);
	assert_string_equal(cap_close(&c),
	                    "vm:                    web\n"
	                    "last-update:           2026-11-23 08:00:00 "
	                    "(10 min ago)\n"
	                    "stat-swap-in:          0 B\n"
	                    "stat-swap-out:         4 KiB\n"
	                    "stat-major-faults:     12\n"
	                    "stat-minor-faults:     3456\n"
	                    "stat-free-memory:      256 MiB\n"
	                    "stat-total-memory:     1 GiB\n"
	                    "stat-available-memory: 512 MiB\n"
	                    "stat-disk-caches:      100 MiB\n"
	                    "stat-htlb-pgalloc:     -\n"
	                    "stat-oom-kills:        2\n"
	                    "x-new-counter:         7\n");
	free(c.buf);
	json_object_put(res);
}

static void test_host_policy_version(void **state)
{
	struct json_object *host =
	        parse("{\"total\": 25769803776, \"free\": 12884901888, "
	              "\"available\": 19327352832, \"psi-some-avg10\": 1.25, "
	              "\"psi-full-avg10\": 0.0, \"state\": \"soft\"}");
	struct json_object *pol =
	        parse("{\"enabled\": true, \"kind\": \"idletax\", "
	              "\"tax_rate\": 0.75, "
	              "\"margin\": 67108864, \"max_shrink\": 134217728, "
	              "\"budget\": 0, \"tick_ms\": 1000}");
	struct json_object *ver = parse("{\"version\": \"0.1.0\", "
	                                "\"protocol\": 1}");
	struct capture c;
	(void)state;

	cap_open(&c);
	bctl_print_host(c.f, host);
	assert_string_equal(cap_close(&c), "total:          24 GiB\n"
	                                   "free:           12 GiB\n"
	                                   "available:      18 GiB\n"
	                                   "psi-some-avg10: 1.25 %\n"
	                                   "psi-full-avg10: 0.00 %\n"
	                                   "state:          soft\n");
	free(c.buf);

	cap_open(&c);
	bctl_print_policy(c.f, pol);
	assert_string_equal(cap_close(&c), "enabled:    true\n"
	                                   "kind:       idletax\n"
	                                   "tax_rate:   0.75\n"
	                                   "margin:     64 MiB\n"
	                                   "max_shrink: 128 MiB\n"
	                                   "budget:     0 B\n"
	                                   "tick_ms:    1000\n");
	free(c.buf);

	cap_open(&c);
	bctl_print_version(c.f, ver);
	assert_string_equal(cap_close(&c),
	                    "balloond 0.1.0 (control protocol 1)\n");
	free(c.buf);
	json_object_put(host);
	json_object_put(pol);
	json_object_put(ver);
}

/* --json prints the daemon's object itself: it parses back equal. */
static void test_json_roundtrip(void **state)
{
	struct json_object *vms = parse(vms_json), *back;
	struct capture c;
	(void)state;

	for (int pretty = 0; pretty < 2; pretty++) {
		cap_open(&c);
		bctl_print_json(c.f, vms, pretty);
		char *out = cap_close(&c);
		assert_int_equal(out[strlen(out) - 1], '\n');
		/* one line unless pretty; paths keep their slashes */
		assert_true(pretty ==
		            (strchr(out, '\n') < out + strlen(out) - 1));
		assert_non_null(strstr(out, "/run/vm/web.qmp"));
		back = parse(out);
		assert_true(json_object_equal(back, vms));
		json_object_put(back);
		free(out);
	}
	json_object_put(vms);
}

static void test_error_output(void **state)
{
	struct capture out, err;
	struct ctl_io io = {0};
	struct ctl_err e;
	struct json_object *o;
	(void)state;

	bctl_err_set(&e, "below-min", "target %s is below min %s of vm %s",
	             "64 MiB", "128 MiB", "web");
	cap_open(&out);
	cap_open(&err);
	io.out = out.f;
	io.err = err.f;
	bctl_print_error(&io, &e);
	assert_string_equal(cap_close(&err), "balloonctl: target 64 MiB is "
	                                     "below min 128 MiB of vm web\n");
	assert_string_equal(cap_close(&out), "");
	free(out.buf);
	free(err.buf);

	cap_open(&out);
	cap_open(&err);
	io.out = out.f;
	io.err = err.f;
	io.json = true;
	bctl_print_error(&io, &e);
	assert_string_equal(cap_close(&err), "balloonctl: target 64 MiB is "
	                                     "below min 128 MiB of vm web\n");
	o = parse(cap_close(&out));
	assert_false(json_object_get_boolean(json_object_object_get(o, "ok")));
	struct json_object *eo = json_object_object_get(o, "error");
	assert_string_equal(bctl_json_str(eo, "code", ""), "below-min");
	assert_string_equal(bctl_json_str(eo, "message", ""), e.message);
	json_object_put(o);
	free(out.buf);
	free(err.buf);
}

static void test_format_time(void **state)
{
	char buf[64];
	(void)state;

	assert_string_equal(bctl_format_time(0, T0, buf, sizeof(buf)), "never");
	assert_string_equal(bctl_format_time(T0, T0, buf, sizeof(buf)),
	                    "2026-11-23 08:00:00 (0.0 s ago)");
	assert_string_equal(bctl_format_time(T0, T0 - 5, buf, sizeof(buf)),
	                    "2026-11-23 08:00:00 (0.0 s ago)");
	assert_string_equal(bctl_format_time(T0, T0 + 99.5, buf, sizeof(buf)),
	                    "2026-11-23 08:00:00 (99.5 s ago)");
	assert_string_equal(bctl_format_time(T0, T0 + 3600, buf, sizeof(buf)),
	                    "2026-11-23 08:00:00 (60 min ago)");
	uint64_t v = 7;
	struct json_object *o = parse("{\"a\": -1, \"b\": \"x\", \"c\": 5}");
	assert_false(bctl_json_u64(o, "a", &v));
	assert_false(bctl_json_u64(o, "b", &v));
	assert_false(bctl_json_u64(o, "zz", &v));
	assert_int_equal(v, 7);
	assert_true(bctl_json_u64(o, "c", &v));
	assert_int_equal(v, 5);
	assert_false(bctl_json_u64(NULL, "c", &v));
	assert_string_equal(bctl_json_str(o, "c", "dflt"), "dflt");
	json_object_put(o);
}

static void test_wait_math(void **state)
{
	struct json_object *rep = parse("{\"name\": \"web\", "
	                                "\"target\": 536870912, "
	                                "\"actual\": 1073741824}");
	struct ctl_wait w;
	char line[128];
	(void)state;

	assert_int_equal(bctl_wait_tolerance(0), MiB);
	assert_int_equal(bctl_wait_tolerance(64 * MiB), MiB);
	assert_int_equal(bctl_wait_tolerance(100 * MiB), MiB);
	assert_int_equal(bctl_wait_tolerance(512 * MiB), 512 * MiB / 100);
	assert_int_equal(bctl_wait_tolerance(8 * GiB), 8 * GiB / 100);

	/* the daemon's target (its reply) wins over the requested one */
	bctl_wait_init(&w, "web", 500 * MiB, rep);
	assert_int_equal(w.target, 512 * MiB);
	assert_int_equal(w.start, GiB);
	assert_int_equal(w.tolerance, 512 * MiB / 100);
	assert_int_equal(bctl_wait_percent(&w, GiB), 0);
	assert_int_equal(bctl_wait_percent(&w, 812 * MiB), 41);
	assert_int_equal(bctl_wait_percent(&w, 768 * MiB), 50);
	assert_int_equal(bctl_wait_percent(&w, 512 * MiB), 100);
	assert_int_equal(bctl_wait_percent(&w, 2 * GiB), 0); /* wrong way */
	assert_string_equal(bctl_wait_line(&w, 812 * MiB, line, sizeof(line)),
	                    "web: actual 812 MiB -> target 512 MiB (41%)");
	json_object_put(rep);

	/* growing works the same way round */
	rep = parse("{\"target\": 1073741824, \"actual\": 536870912}");
	bctl_wait_init(&w, "db", GiB, rep);
	assert_int_equal(bctl_wait_percent(&w, 768 * MiB), 50);
	assert_int_equal(bctl_wait_percent(&w, 1000 * MiB), 95);
	json_object_put(rep);

	/* a reply without sizes: requested target, nothing to cover */
	rep = parse("{}");
	bctl_wait_init(&w, "db", 2 * GiB, rep);
	assert_int_equal(w.target, 2 * GiB);
	assert_int_equal(bctl_wait_percent(&w, 2 * GiB), 100);
	json_object_put(rep);
}

static enum ctl_wait_state check(const struct ctl_wait *w, const char *vm,
                                 struct ctl_err *e)
{
	struct json_object *o = parse(vm);
	enum ctl_wait_state st;

	memset(e, 0, sizeof(*e));
	st = bctl_wait_check(w, o, e);
	json_object_put(o);
	return st;
}

static void test_wait_check(void **state)
{
	struct ctl_wait w = {.vm = "web",
	                     .target = 512 * MiB,
	                     .start = GiB,
	                     .tolerance = bctl_wait_tolerance(512 * MiB)};
	char vm[256];
	struct ctl_err e;
	(void)state;

	assert_int_equal(check(&w,
	                       "{\"state\": \"connected\", "
	                       "\"target\": 536870912, \"actual\": 851443712}",
	                       &e),
	                 CTL_WAIT_MORE);
	/* exactly at the tolerance is done, one byte more is not */
	snprintf(vm, sizeof(vm),
	         "{\"state\": \"connected\", \"target\": %llu, "
	         "\"actual\": %llu}",
	         512 * MiB, 512 * MiB + w.tolerance);
	assert_int_equal(check(&w, vm, &e), CTL_WAIT_DONE);
	snprintf(vm, sizeof(vm),
	         "{\"state\": \"connected\", \"target\": %llu, "
	         "\"actual\": %llu}",
	         512 * MiB, 512 * MiB + w.tolerance + 1);
	assert_int_equal(check(&w, vm, &e), CTL_WAIT_MORE);
	snprintf(vm, sizeof(vm),
	         "{\"state\": \"connected\", \"target\": %llu, "
	         "\"actual\": %llu}",
	         512 * MiB, 512 * MiB - w.tolerance);
	assert_int_equal(check(&w, vm, &e), CTL_WAIT_DONE);
	/* no actual yet (reconnecting): keep waiting */
	assert_int_equal(check(&w, "{\"state\": \"connecting\"}", &e),
	                 CTL_WAIT_MORE);

	assert_int_equal(check(&w, "{\"state\": \"lost\", \"actual\": 0}", &e),
	                 CTL_WAIT_FAIL);
	assert_string_equal(e.code, "lost");
	assert_string_equal(e.message, "web: VM was lost while waiting for "
	                               "target 512 MiB");
	assert_int_equal(check(&w, "{\"state\": \"error\"}", &e),
	                 CTL_WAIT_FAIL);
	assert_string_equal(e.code, "unreachable");
	assert_int_equal(check(&w,
	                       "{\"state\": \"connected\", "
	                       "\"target\": 268435456, \"actual\": 1}",
	                       &e),
	                 CTL_WAIT_FAIL);
	assert_string_equal(e.code, "target-changed");
	assert_non_null(strstr(e.message, "target changed to 256 MiB"));
}

static void test_top_frame(void **state)
{
	struct json_object *vms = parse(vms_json);
	struct json_object *host =
	        parse("{\"total\": 25769803776, \"free\": 12884901888, "
	              "\"available\": 19327352832, \"psi-some-avg10\": 1.25, "
	              "\"psi-full-avg10\": 0.0, \"state\": \"high\"}");
	struct capture c;
	(void)state;

	cap_open(&c);
	bctl_top_render(c.f, host, vms, false, 1.0, T0);
	char *out = cap_close(&c);
	assert_null(strchr(out, '\033')); /* plain when not a tty */
	const char *head =
	        "balloonctl top - 08:00:00 - every 1 s\n"
	        "host: total 24 GiB, available 18 GiB, free 12 GiB, state "
	        "high, "
	        "psi some 1.25% full 0.00%\n"
	        "vms: 2 (1 connected, 1 pinned), actual 812 MiB of max 1 GiB, "
	        "ballooned 212 MiB\n\nNAME  STATE        ACTUAL";
	assert_memory_equal(out, head, strlen(head));
	assert_non_null(strstr(out, "\ndb    connecting "));
	assert_string_equal(out + strlen(out) - 2, "\n\n"); /* frame gap */
	free(out);

	cap_open(&c);
	bctl_top_render(c.f, host, vms, true, 0.5, T0);
	out = cap_close(&c);
	assert_memory_equal(out,
	                    "\033[H\033[2Jballoonctl top - 08:00:00 - "
	                    "every 0.5 s - ^C quits\n",
	                    strlen("\033[H\033[2Jballoonctl top - 08:00:00 - "
	                           "every 0.5 s - ^C quits\n"));
	free(out);
	json_object_put(vms);
	json_object_put(host);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_table_alignment),
	        cmocka_unit_test(test_vm_table),
	        cmocka_unit_test(test_vm_info),
	        cmocka_unit_test(test_stats),
	        cmocka_unit_test(test_host_policy_version),
	        cmocka_unit_test(test_json_roundtrip),
	        cmocka_unit_test(test_error_output),
	        cmocka_unit_test(test_format_time),
	        cmocka_unit_test(test_wait_math),
	        cmocka_unit_test(test_wait_check),
	        cmocka_unit_test(test_top_frame),
	};
	setenv("TZ", "UTC", 1);
	tzset();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
