/* SPDX-License-Identifier: MIT */
/*
 * test_stats_alert.c - when a guest-stats sample raises X_BVM_STATS_ALERT:
 * off and first samples never; a fall of available memory by the drop
 * (from its highest point since the last alert), swap activity and OOM
 * kills do, each once; free memory stands in for available memory.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "stats_alert.h"

#define MiB (1ull << 20)

static struct qmp_guest_stats sample(uint64_t avail, uint64_t swap_out,
                                     uint64_t oom)
{
	struct qmp_guest_stats gs;

	memset(&gs, 0, sizeof(gs));
	gs.val[VIRTIO_BALLOON_S_AVAIL] = avail;
	gs.val[VIRTIO_BALLOON_S_SWAP_OUT] = swap_out;
	gs.val[VIRTIO_BALLOON_S_OOM_KILL] = oom;
	gs.valid = 1u << VIRTIO_BALLOON_S_AVAIL |
	           1u << VIRTIO_BALLOON_S_SWAP_OUT |
	           1u << VIRTIO_BALLOON_S_OOM_KILL;
	return gs;
}

static const char *check(struct bvm_alert *a, uint64_t avail, uint64_t swap_out,
                         uint64_t oom)
{
	struct qmp_guest_stats gs = sample(avail, swap_out, oom);

	return bvm_alert_check(a, &gs);
}

static void on(struct bvm_alert *a, uint64_t drop)
{
	char err[QMP_ERR_LEN];

	memset(a, 0, sizeof(*a));
	assert_int_equal(bvm_alert_config(a, 100, (int64_t)drop, err), 0);
}

static void test_off_and_first(void **state)
{
	struct bvm_alert a = {0};

	(void)state;
	assert_null(check(&a, 500 * MiB, 0, 0)); /* off */
	assert_null(check(&a, 10 * MiB, 0, 0));
	on(&a, 16 * MiB);
	assert_null(check(&a, 10 * MiB, 50 * MiB, 1)); /* sets the reference */
	assert_null(check(&a, 10 * MiB, 50 * MiB, 1)); /* nothing new */
}

static void test_drop_from_the_peak(void **state)
{
	struct bvm_alert a;

	(void)state;
	on(&a, 16 * MiB);
	assert_null(check(&a, 300 * MiB, 0, 0));
	assert_null(check(&a, 290 * MiB, 0, 0)); /* 10 MiB: not yet */
	assert_string_equal(check(&a, 284 * MiB, 0, 0), "available-drop");
	assert_null(check(&a, 270 * MiB, 0, 0)); /* 14 below the alert */
	assert_string_equal(check(&a, 268 * MiB, 0, 0), "available-drop");
	/* it recovers to 400, then falls: counted from the peak */
	assert_null(check(&a, 400 * MiB, 0, 0));
	assert_null(check(&a, 390 * MiB, 0, 0));
	assert_string_equal(check(&a, 384 * MiB, 0, 0), "available-drop");
}

static void test_swap_and_oom(void **state)
{
	struct bvm_alert a;

	(void)state;
	on(&a, 16 * MiB);
	assert_null(check(&a, 100 * MiB, 10 * MiB, 0));
	assert_null(check(&a, 100 * MiB, 10 * MiB + 512 * 1024, 0));
	assert_string_equal(check(&a, 100 * MiB, 11 * MiB, 0), "swap");
	assert_null(check(&a, 100 * MiB, 11 * MiB, 0));
	assert_string_equal(check(&a, 100 * MiB, 11 * MiB, 1), "oom-kill");
	assert_null(check(&a, 100 * MiB, 11 * MiB, 1));
	/* reconfiguring forgets the reference */
	on(&a, 16 * MiB);
	assert_null(check(&a, 10 * MiB, 90 * MiB, 5));
}

static void test_free_stands_in(void **state)
{
	struct bvm_alert a;
	struct qmp_guest_stats gs;

	(void)state;
	on(&a, 8 * MiB);
	memset(&gs, 0, sizeof(gs));
	assert_null(bvm_alert_check(&a, &gs)); /* neither: ignored */
	gs.valid = 1u << VIRTIO_BALLOON_S_MEMFREE;
	gs.val[VIRTIO_BALLOON_S_MEMFREE] = 64 * MiB;
	assert_null(bvm_alert_check(&a, &gs));
	gs.val[VIRTIO_BALLOON_S_MEMFREE] = 56 * MiB;
	assert_string_equal(bvm_alert_check(&a, &gs), "available-drop");
}

static void test_config_bounds(void **state)
{
	struct bvm_alert a = {0};
	char err[QMP_ERR_LEN];

	(void)state;
	assert_int_equal(bvm_alert_config(&a, 9, 4096, err), -EINVAL);
	assert_int_equal(bvm_alert_config(&a, 60001, 4096, err), -EINVAL);
	assert_int_equal(bvm_alert_config(&a, -1, 4096, err), -EINVAL);
	assert_int_equal(bvm_alert_config(&a, 10, 4095, err), -EINVAL);
	assert_int_equal(bvm_alert_config(&a, 10, (INT64_C(1) << 40) + 1, err),
	                 -EINVAL);
	assert_int_equal(a.period_ms, 0); /* refused: unchanged */
	assert_int_equal(bvm_alert_config(&a, 10, 4096, err), 0);
	assert_int_equal(bvm_alert_config(&a, 60000, INT64_C(1) << 40, err), 0);
	assert_int_equal(a.period_ms, 60000);
	assert_int_equal(bvm_alert_config(&a, 0, 4096, err), 0);
	assert_int_equal(a.period_ms, 0);
}

static void test_json(void **state)
{
	struct qmp_guest_stats gs = sample(5 * MiB, 7, 0);
	struct json_object *o, *st, *v;

	(void)state;
	gs.last_update = 1234;
	o = bvm_stats_json(&gs);
	assert_non_null(o);
	assert_true(json_object_object_get_ex(o, "stats", &st));
	assert_true(json_object_object_get_ex(st, "stat-available-memory", &v));
	assert_int_equal(json_object_get_int64(v), 5 * MiB);
	assert_true(json_object_object_get_ex(st, "stat-swap-in", &v));
	assert_int_equal(json_object_get_int64(v), -1); /* not reported */
	assert_true(json_object_object_get_ex(o, "last-update", &v));
	assert_int_equal(json_object_get_int64(v), 1234);
	json_object_put(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_off_and_first),
	        cmocka_unit_test(test_drop_from_the_peak),
	        cmocka_unit_test(test_swap_and_oom),
	        cmocka_unit_test(test_free_stands_in),
	        cmocka_unit_test(test_config_bounds),
	        cmocka_unit_test(test_json),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
