/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the workload building blocks that need no guest: spec
 * parsing/validation/formatting and run-time changes, the Zipf sampler's
 * distribution, and the latency histogram / rate window of the meter.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "workload_int.h"

static void test_parse_ok(void **state)
{
	struct wl_spec s;
	char err[256], buf[WL_SPEC_LEN];

	(void)state;
	assert_int_equal(wl_spec_parse("steady:ws=600M", &s, err, 256), 0);
	assert_int_equal(s.kind, WL_STEADY);
	assert_int_equal(s.size, 600 * 1048576ull);
	assert_true(fabs(s.write - 0.3) < 1e-12);
	assert_int_equal(s.rate, 0);
	assert_int_equal(
	        wl_spec_parse("steady:ws=1G,write=0.5,rate=1000", &s, err, 256),
	        0);
	assert_int_equal(s.size, 1ull << 30);
	assert_int_equal(s.rate, 1000);
	assert_int_equal(wl_spec_parse("kv:size=512M,alpha=0.99", &s, err, 256),
	                 0);
	assert_int_equal(s.kind, WL_KV);
	assert_int_equal(s.keys, 512 * 256); /* one value per page */
	assert_int_equal(wl_spec_parse("kv:keys=1000,size=64M", &s, err, 256),
	                 0);
	assert_int_equal(s.keys, 1000);
	assert_int_equal(wl_spec_parse("phased:peak=800M,grow=5s,hold=10s,"
	                               "release=2s,idle=10s,repeat=3",
	                               &s, err, 256),
	                 0);
	assert_int_equal(s.grow_ms, 5000);
	assert_int_equal(s.hold_ms, 10000);
	assert_int_equal(s.release_ms, 2000);
	assert_int_equal(s.idle_ms, 10000);
	assert_int_equal(s.repeat, 3);
	assert_int_equal(wl_spec_parse("phased:peak=8M,grow=250ms,hold=1.5,"
	                               "release=0,idle=1m",
	                               &s, err, 256),
	                 0);
	assert_int_equal(s.grow_ms, 250);
	assert_int_equal(s.hold_ms, 1500);
	assert_int_equal(s.release_ms, 0);
	assert_int_equal(s.idle_ms, 60000);
	assert_int_equal(s.repeat, 1);
	assert_int_equal(wl_spec_parse("filecache:file=512M", &s, err, 256), 0);
	assert_int_equal(s.kind, WL_FILECACHE);
	assert_int_equal(wl_spec_parse("idle:size=800M", &s, err, 256), 0);
	assert_int_equal(s.kind, WL_IDLE);
	/* canonical text parses back to the same spec */
	assert_int_equal(wl_spec_parse("phased:peak=8M,grow=250ms,hold=1.5", &s,
	                               err, 256),
	                 0);
	assert_true(wl_spec_format(&s, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "phased:peak=8M,grow=250ms,hold=1500ms,"
	                         "release=2s,idle=10s,repeat=1,write=0.3");
	{
		struct wl_spec t;

		assert_int_equal(wl_spec_parse(buf, &t, err, 256), 0);
		assert_memory_equal(&s, &t, sizeof(s));
	}
	assert_int_equal(wl_spec_parse("steady:ws=12345", &s, err, 256), 0);
	wl_spec_format(&s, buf, sizeof(buf));
	assert_string_equal(buf, "steady:ws=12345,write=0.3");
}

/* @text must fail with a message containing @needle. */
static void bad(const char *text, const char *needle)
{
	struct wl_spec s;
	char err[256] = "";

	assert_int_equal(wl_spec_parse(text, &s, err, sizeof(err)), -EINVAL);
	if (!strstr(err, needle))
		fail_msg("'%s': message '%s' lacks '%s'", text, err, needle);
}

static void test_parse_errors(void **state)
{
	(void)state;
	bad("", "empty");
	bad("steady", "no kind");
	bad("stedy:ws=1M", "unknown workload kind 'stedy'");
	bad("steady:wss=1M",
	    "unknown parameter 'wss' (expected ws, write, rate)");
	bad("steady:write=0.5", "ws=SIZE is required");
	bad("steady:ws=abc", "bad value 'abc' for ws");
	bad("steady:ws=1", "a size from 4K to 1T");
	bad("steady:ws=2T", "a size from 4K to 1T");
	bad("steady:ws=1M,write=1.5", "a fraction from 0 to 1");
	bad("steady:ws=1M,ws=2M", "ws given twice");
	bad("steady:ws=1M,", "steady:");
	bad("steady:ws=1M,write", "expected key=value");
	bad("steady:ws=1M,write=", "expected key=value");
	bad("steady: ws=1M", "space");
	bad("kv:size=1M,alpha=-1", "a number from 0 to 10");
	bad("kv:size=1M,keys=1000000", "smaller than 64 bytes");
	bad("kv:size=1M,keys=x", "a whole number");
	bad("phased:peak=1M,grow=5x", "a duration");
	bad("phased:peak=1M,repeat=99999999999", "a whole number");
	bad("filecache:size=1M", "unknown parameter 'size' (expected file,");
}

static void test_change(void **state)
{
	struct wl_spec base, n;
	char err[256] = "";

	(void)state;
	assert_int_equal(wl_spec_parse("steady:ws=8M", &base, err, 256), 0);
	assert_int_equal(
	        wl_spec_change(&base, "ws=16M,write=0.9", &n, err, 256), 0);
	assert_int_equal(n.size, 16 * 1048576ull);
	assert_true(fabs(n.write - 0.9) < 1e-12);
	assert_int_equal(wl_spec_change(&base, "steady:ws=4M", &n, err, 256),
	                 0);
	assert_int_equal(n.size, 4 * 1048576ull);
	assert_int_equal(wl_spec_change(&base, "kv:size=4M", &n, err, 256),
	                 -EINVAL);
	assert_non_null(strstr(err, "cannot turn a steady workload into kv"));
	assert_int_equal(wl_spec_parse("kv:size=8M", &base, err, 256), 0);
	assert_int_equal(wl_spec_change(&base, "alpha=1.2", &n, err, 256), 0);
	assert_true(fabs(n.alpha - 1.2) < 1e-12);
	assert_int_equal(wl_spec_change(&base, "size=8M", &n, err, 256), 0);
	assert_int_equal(wl_spec_change(&base, "size=16M", &n, err, 256),
	                 -EINVAL);
	assert_non_null(strstr(err, "size cannot change at run time"));
	assert_int_equal(wl_spec_change(&base, "keys=5", &n, err, 256),
	                 -EINVAL);
	assert_int_equal(wl_spec_change(&base, "bogus=1", &n, err, 256),
	                 -EINVAL);
	assert_non_null(strstr(err, "unknown parameter 'bogus'"));
}

static void test_zipf(void **state)
{
	enum { N = 1000, DRAWS = 400000 };
	static unsigned count[N];
	struct zipf z;
	uint64_t rng = 42;
	double hn = 0;

	(void)state;
	assert_int_equal(bvm_zipf_init(&z, N, 0.99), 0);
	for (unsigned i = 0; i < DRAWS; i++) {
		uint64_t k = bvm_zipf_next(&z, &rng);

		assert_true(k < N);
		count[k]++;
	}
	for (unsigned k = 1; k <= N; k++)
		hn += pow(k, -0.99);
	/* the frequencies follow k^-0.99 / H(N, 0.99) within a few % */
	for (unsigned k = 0; k < 8; k++) {
		double want = DRAWS * pow(k + 1, -0.99) / hn;

		assert_true(fabs(count[k] - want) < want * 0.05);
	}
	assert_true(count[0] > 3 * count[9]);
	/* alpha 0: uniform */
	memset(count, 0, sizeof(count));
	assert_int_equal(bvm_zipf_init(&z, N, 0.0), 0);
	for (unsigned i = 0; i < DRAWS; i++)
		count[bvm_zipf_next(&z, &rng)]++;
	for (unsigned k = 0; k < N; k += 97)
		assert_true(count[k] > 300 && count[k] < 500);
	/* alpha exactly 1 (the log branch) and large n still work */
	assert_int_equal(bvm_zipf_init(&z, 1ull << 32, 1.0), 0);
	for (unsigned i = 0; i < 1000; i++)
		assert_true(bvm_zipf_next(&z, &rng) < (1ull << 32));
	assert_int_equal(bvm_zipf_init(&z, 0, 1.0), -EINVAL);
	assert_int_equal(bvm_zipf_init(&z, 10, -0.5), -EINVAL);
}

static void test_meter(void **state)
{
	static struct wl_meter m;
	uint64_t t = 5000000000ull;

	(void)state;
	wl_meter_init(&m, t);
	/* 1000 ops in 100 ms: 990 of 1 us, 10 of 1 ms */
	for (unsigned i = 0; i < 1000; i++) {
		t += 100000;
		wl_meter_op(&m, i % 100 == 99 ? 1000000 : 1000, t);
	}
	assert_int_equal(m.ops, 1000);
	assert_true(wl_hist_pct(&m.all, 0.5) >= 1000 * 0.93 &&
	            wl_hist_pct(&m.all, 0.5) <= 1000 * 1.07);
	assert_true(wl_hist_pct(&m.all, 0.995) >= 1000000 * 0.93);
	assert_int_equal(m.all.max, 1000000);
	assert_true(fabs(wl_meter_rate(&m, t) - 10000.0) < 300.0);
	/* 2 s of silence: the window rate falls to zero, totals stay */
	t += 2000000000ull;
	assert_true(wl_meter_rate(&m, t) == 0.0);
	assert_int_equal(wl_meter_window(&m, t)->n, 0);
	assert_int_equal(m.all.n, 1000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_parse_ok),
	        cmocka_unit_test(test_parse_errors),
	        cmocka_unit_test(test_change),
	        cmocka_unit_test(test_zipf),
	        cmocka_unit_test(test_meter),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
