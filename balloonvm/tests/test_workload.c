/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the guest workloads on a real gmm: they measure throughput
 * and latency, verify every page they read, slow down for real when their
 * working set no longer fits and the guest swaps, follow their phases, can
 * be changed/stopped at run time from another thread, and are OOM-killed as
 * a guest process would be.  Throughput checks compare ratios, never
 * absolute speeds.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "bc_util.h"
#include "test_gmm_rig.h"
#include "workload.h"

static struct wl_sched *sched_up(struct rig *r, unsigned ram_mib,
                                 unsigned swap_mib)
{
	struct wl_sched_cfg cfg = {0};
	struct wl_sched *s;

	rig_up(r, ram_mib, swap_mib, NULL);
	cfg.gmm = r->g;
	cfg.cmd_timeout_ms = 300;
	assert_int_equal(wl_sched_create(&cfg, &s), 0);
	return s;
}

static void sched_down(struct rig *r, struct wl_sched *s)
{
	wl_sched_destroy(s);
	assert_int_equal(rig_stats(r).anon, 0);
	rig_down(r);
}

static void run_for(struct wl_sched *s, uint64_t ms)
{
	uint64_t end = bc_now_ms() + ms, sl;

	while (bc_now_ms() < end) {
		assert_true(wl_sched_run(s, 5000000, &sl) >= 0);
		if (sl) {
			struct timespec ts = {
			        0, (long)(sl < 1000000 ? sl : 1000000)};

			nanosleep(&ts, NULL);
		}
	}
}

static uint32_t add(struct wl_sched *s, const char *spec)
{
	char err[256] = "";
	uint32_t id = 0;
	int ret = wl_add(s, spec, &id, err, sizeof(err));

	if (ret)
		fail_msg("wl_add(%s): %d %s", spec, ret, err);
	return id;
}

static struct wl_info info(struct wl_sched *s, uint32_t id)
{
	struct wl_info i;

	assert_int_equal(wl_get(s, id, &i), 0);
	return i;
}

static void test_steady_measures(void **state)
{
	struct wl_sched *s;
	struct wl_info i;
	struct rig r;
	uint32_t id;

	(void)state;
	s = sched_up(&r, 32, 0);
	id = add(s, "steady:ws=8M");
	assert_int_equal(id, 1);
	run_for(s, 400);
	i = info(s, id);
	assert_int_equal(i.state, WL_RUNNING);
	assert_string_equal(i.phase, "run");
	assert_string_equal(i.spec, "steady:ws=8M,write=0.3");
	assert_true(i.ops > 10000);
	assert_true(i.ops_per_s > 0 && i.ops_per_s_avg > 0);
	assert_true(i.p50_ns > 0 && i.p99_ns >= i.p50_ns);
	assert_true(i.max_ns >= i.p99_ns && i.win_p99_ns > 0);
	assert_int_equal(i.vpages, 2048);
	assert_int_equal(i.resident, 2048); /* every page touched by now */
	assert_int_equal(i.minor_faults, 2048);
	assert_int_equal(i.verify_errors, 0);
	assert_true(i.cpu_ns > 0 && i.cpu_ns <= i.run_ns);
	sched_down(&r, s);
}

static void test_swap_slows_steady(void **state)
{
	struct gmm_stats g0, g1, g2;
	struct wl_sched *s;
	struct wl_info a, b;
	struct rig r;
	uint32_t id;

	(void)state;
	s = sched_up(&r, 32, 128); /* 8192 frames */
	id = add(s, "steady:ws=16M");
	run_for(s, 600);
	a = info(s, id);
	assert_int_equal(a.major_faults, 0);
	assert_int_equal(wl_stop(s, id, NULL, 0), 0);
	g0 = rig_stats(&r);
	assert_int_equal(g0.swap_out_bytes, 0);
	/* twice the RAM: every other access is a major fault (a pread of the
	 * swap file) and makes room by writing another page out */
	id = add(s, "steady:ws=64M");
	run_for(s, 700);
	g1 = rig_stats(&r);
	run_for(s, 1000);
	g2 = rig_stats(&r);
	b = info(s, id);
	assert_int_equal(b.state, WL_RUNNING);
	assert_true(g1.swap_out_bytes > 0);
	assert_true(g2.swap_out_bytes > g1.swap_out_bytes); /* still rising */
	assert_true(g2.swap_in_bytes > g1.swap_in_bytes);
	assert_true(b.major_faults > 1000);
	assert_true(b.swapped > 0);
	assert_int_equal(g2.oom_kills, 0);
	assert_int_equal(a.verify_errors + b.verify_errors, 0);
	/* measured, not modelled: at least 3x fewer ops/s, and a worse p99 */
	if (!(b.ops_per_s * 3 < a.ops_per_s))
		fail_msg("fits: %.0f ops/s, swapping: %.0f ops/s", a.ops_per_s,
		         b.ops_per_s);
	assert_true(b.win_p99_ns > a.win_p99_ns);
	sched_down(&r, s);
}

static void test_rate_cap(void **state)
{
	struct wl_sched *s;
	struct wl_info i;
	struct rig r;
	uint32_t id;

	(void)state;
	s = sched_up(&r, 16, 0);
	id = add(s, "steady:ws=1M,rate=2000");
	run_for(s, 1200);
	i = info(s, id);
	/* never above the cap (plus the 100 ms catch-up burst); the lower
	 * bound is loose because other tests share the CPUs */
	assert_true(i.ops_per_s > 2000 * 0.6 && i.ops_per_s < 2000 * 1.1);
	assert_true(i.ops > 1000 && i.ops <= 2000 * 1.2 + 200 + 1);
	sched_down(&r, s);
}

static void test_change_stop_remove(void **state)
{
	char err[256];
	struct wl_sched *s;
	struct wl_info i;
	struct rig r;
	uint32_t id;

	(void)state;
	s = sched_up(&r, 32, 0);
	id = add(s, "steady:ws=8M");
	run_for(s, 100);
	assert_int_equal(info(s, id).resident, 2048);
	assert_int_equal(wl_set(s, id, "ws=4M,write=1", err, sizeof(err)), 0);
	i = info(s, id); /* published by the change itself */
	assert_int_equal(i.vpages, 1024);
	assert_true(i.resident <= 1024);
	assert_string_equal(i.spec, "steady:ws=4M,write=1");
	assert_true(rig_stats(&r).anon <= 1024);
	run_for(s, 50);
	assert_int_equal(wl_set(s, id, "kv:size=1M", err, sizeof(err)),
	                 -EINVAL);
	assert_non_null(strstr(err, "cannot turn a steady workload into kv"));
	assert_int_equal(wl_set(s, 99, "ws=1M", err, sizeof(err)), -ENOENT);
	assert_int_equal(wl_stop(s, id, err, sizeof(err)), 0);
	i = info(s, id);
	assert_int_equal(i.state, WL_STOPPED);
	assert_string_equal(i.phase, "stopped");
	assert_int_equal(i.resident, 0);
	assert_int_equal(i.verify_errors, 0);
	assert_int_equal(rig_stats(&r).anon, 0);
	assert_int_equal(wl_set(s, id, "ws=1M", err, sizeof(err)), -EBUSY);
	assert_int_equal(wl_list(s, NULL, 0), 1);
	assert_int_equal(wl_remove(s, id, err, sizeof(err)), 0);
	assert_int_equal(wl_list(s, NULL, 0), 0);
	assert_int_equal(wl_add(s, "bogus:x=1", &id, err, sizeof(err)),
	                 -EINVAL);
	assert_non_null(strstr(err, "unknown workload kind 'bogus'"));
	sched_down(&r, s);
}

struct remote {
	struct wl_sched *s;
	int ret_add, ret_stop;
	uint32_t id;
	unsigned listed;
	char err[256];
	volatile int done;
};

static void *remote_main(void *arg)
{
	struct remote *c = arg;
	struct wl_info i[4];

	c->ret_add = wl_add(c->s, "steady:ws=2M", &c->id, c->err, 256);
	c->listed = wl_list(c->s, i, 4);
	c->ret_stop = wl_stop(c->s, c->id, NULL, 0);
	__atomic_store_n(&c->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void test_cross_thread(void **state)
{
	struct remote c = {0};
	struct wl_sched *s;
	struct rig r;
	pthread_t t;
	uint64_t sl;

	(void)state;
	s = sched_up(&r, 16, 0);
	c.s = s;
	assert_int_equal(pthread_create(&t, NULL, remote_main, &c), 0);
	while (!__atomic_load_n(&c.done, __ATOMIC_ACQUIRE))
		wl_sched_run(s, 1000000, &sl); /* the guest thread serves it */
	pthread_join(t, NULL);
	assert_int_equal(c.ret_add, 0);
	assert_int_equal(c.id, 1);
	assert_int_equal(c.listed, 1);
	assert_int_equal(c.ret_stop, 0);
	assert_int_equal(info(s, 1).state, WL_STOPPED);
	/* nobody runs the guest: the caller times out, nothing happens */
	memset(&c, 0, sizeof(c));
	c.s = s;
	assert_int_equal(pthread_create(&t, NULL, remote_main, &c), 0);
	pthread_join(t, NULL);
	assert_int_equal(c.ret_add, -ETIMEDOUT);
	assert_non_null(strstr(c.err, "in time"));
	wl_sched_run(s, 1000000, &sl);
	assert_int_equal(wl_list(s, NULL, 0), 1);
	sched_down(&r, s);
}

static void test_phased_cycle(void **state)
{
	bool seen[4] = {false};
	static const char *const ph[] = {"grow", "hold", "release", "idle"};
	uint64_t end = bc_now_ms() + 4000, max_res = 0;
	struct wl_sched *s;
	struct wl_info i;
	struct rig r;
	uint32_t id;

	(void)state;
	s = sched_up(&r, 32, 0);
	id = add(s, "phased:peak=4M,grow=150ms,hold=150ms,release=150ms,"
	            "idle=100ms,repeat=2");
	do {
		run_for(s, 5);
		i = info(s, id);
		for (unsigned k = 0; k < 4; k++)
			seen[k] |= !strcmp(i.phase, ph[k]);
		if (i.resident > max_res)
			max_res = i.resident;
	} while (i.state == WL_RUNNING && bc_now_ms() < end);
	assert_int_equal(i.state, WL_DONE);
	for (unsigned k = 0; k < 4; k++)
		assert_true(seen[k]);
	assert_int_equal(max_res, 1024); /* reached its peak */
	assert_int_equal(i.resident, 0);
	assert_int_equal(i.minor_faults, 2 * 1024); /* grew twice */
	assert_int_equal(i.verify_errors, 0);
	assert_int_equal(rig_stats(&r).anon, 0);
	sched_down(&r, s);
}

/* Run a filecache workload until it has missed @misses pages; return its
 * hit ratio. */
static double hit_ratio(struct wl_sched *s, const char *spec, uint64_t misses)
{
	struct wl_info i;
	uint64_t end = bc_now_ms() + 8000;
	uint32_t id = add(s, spec);

	do { /* the data file is written first, then read */
		run_for(s, 20);
		i = info(s, id);
	} while ((strcmp(i.phase, "read") || i.cache_misses < misses) &&
	         bc_now_ms() < end);
	assert_string_equal(i.phase, "read");
	assert_true(i.cache_misses >= misses);
	assert_true(i.cache_hits > 0);
	assert_int_equal(i.verify_errors, 0);
	assert_int_equal(wl_stop(s, id, NULL, 0), 0);
	return (double)i.cache_hits / (double)(i.cache_hits + i.cache_misses);
}

static void test_filecache(void **state)
{
	struct wl_sched *s;
	struct gmm_stats g;
	struct rig r;
	double uni, skew;

	(void)state;
	s = sched_up(&r, 16, 0); /* a 32 MiB file through 16 MiB of RAM */
	uni = hit_ratio(s, "filecache:file=32M", 5000);
	g = rig_stats(&r);
	assert_true(g.direct_reclaim + g.async_reclaim > 0);
	assert_int_equal(g.oom_kills, 0);
	assert_int_equal(g.cache, 0); /* stopping dropped its cache */
	skew = hit_ratio(s, "filecache:file=32M,alpha=1.2", 1000);
	assert_true(uni < 0.6);
	assert_true(skew > uni + 0.2);
	sched_down(&r, s);
}

static void test_oom_kills_workload(void **state)
{
	uint32_t idle, kv, hog;
	uint64_t end = bc_now_ms() + 4000;
	struct wl_sched *s;
	struct wl_info i;
	struct rig r;

	(void)state;
	s = sched_up(&r, 16, 0); /* no swap */
	idle = add(s, "idle:size=2M");
	kv = add(s, "kv:size=4M,alpha=0.99");
	hog = add(s, "steady:ws=64M");
	do
		run_for(s, 20);
	while (info(s, hog).state == WL_RUNNING && bc_now_ms() < end);
	assert_int_equal(info(s, hog).state, WL_KILLED);
	assert_string_equal(info(s, hog).phase, "killed");
	assert_int_equal(rig_stats(&r).oom_kills, 1);
	run_for(s, 200);
	i = info(s, idle);
	assert_int_equal(i.state, WL_RUNNING);
	assert_string_equal(i.phase, "idle");
	assert_int_equal(i.resident, 512);
	assert_int_equal(i.verify_errors, 0);
	i = info(s, kv);
	assert_int_equal(i.state, WL_RUNNING);
	assert_true(i.ops > 1000 && i.p99_ns > 0);
	assert_int_equal(i.verify_errors, 0);
	assert_int_equal(rig_stats(&r).oom_kills, 1);
	sched_down(&r, s);
}

static void test_idle_sleeps_and_resizes(void **state)
{
	struct wl_sched *s;
	struct rig r;
	uint32_t id;
	uint64_t sl = 0;

	(void)state;
	s = sched_up(&r, 16, 0);
	id = add(s, "idle:size=4M");
	run_for(s, 100);
	assert_int_equal(info(s, id).resident, 1024);
	assert_int_equal(wl_sched_run(s, 1000000, &sl), 0); /* asleep */
	assert_true(sl > 0);
	assert_int_equal(wl_set(s, id, "size=2M", NULL, 0), 0);
	assert_int_equal(info(s, id).resident, 512);
	assert_int_equal(wl_set(s, id, "size=3M", NULL, 0), 0);
	run_for(s, 50);
	assert_int_equal(info(s, id).resident, 768);
	assert_int_equal(info(s, id).verify_errors, 0);
	sched_down(&r, s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_steady_measures),
	        cmocka_unit_test(test_swap_slows_steady),
	        cmocka_unit_test(test_rate_cap),
	        cmocka_unit_test(test_change_stop_remove),
	        cmocka_unit_test(test_cross_thread),
	        cmocka_unit_test(test_phased_cycle),
	        cmocka_unit_test(test_filecache),
	        cmocka_unit_test(test_oom_kills_workload),
	        cmocka_unit_test(test_idle_sleeps_and_resizes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
