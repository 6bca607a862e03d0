/* SPDX-License-Identifier: MIT */
/*
 * test_policy_contention.c - the idle-tax policy when active VMs contend
 * (docs/policy.md, "Fair shares"): a VM below its fair share that runs
 * short and whose swap fills takes memory from VMs above theirs, never
 * below their share; one only a little short does not, nor does a VM
 * already above its share.
 */
#include "policy_fixture.h"

#define STEP (4 * MIB) /* default step_bytes */

/* S2 at the moment it went wrong (budget 768 MiB, shares = size): five
 * busy VMs hold their working sets, spike1 and spike2 well above their
 * share of 128 MiB; spike3 was idle and squeezed to 76 MiB.  Returns
 * spike3's index. */
static size_t contention_setup(struct fx *f)
{
	static const uint64_t mx[] = {256, 192, 128, 192, 192, 192};
	static const uint64_t act[] = {128, 108, 80, 184, 184, 76};
	static const uint64_t use[] = {120, 90, 50, 184, 184, 4};

	fx_init(f, BLN_POLICY_IDLETAX, 768 * MIB);
	for (size_t i = 0; i < 6; i++) {
		fx_add(f, mx[i] * MIB / 4, mx[i] * MIB, act[i] * MIB,
		       use[i] * MIB);
		f->vm[i].shares = (uint32_t)mx[i];
		f->churn[i] = i == 5 ? 0 : 1024; /* all busy but spike3 */
	}
	for (int t = 0; t < 3; t++)
		fx_tick(f);
	return 5;
}

static uint64_t act_of(const struct fx *f, size_t i)
{
	return f->vm[i].actual_bytes;
}

/* spike3 spikes to 160 MiB: nothing is idle, so the idle tax cannot fund
 * it.  It takes from spike1 and spike2 (above their 128 MiB share) up to
 * its own share; the others (below theirs) keep what they have. */
static void test_latecomer_gets_its_share(void **state)
{
	struct fx f;
	size_t s3;
	uint64_t before[6];
	bool taken = false;

	(void)state;
	s3 = contention_setup(&f);
	for (size_t i = 0; i < 6; i++)
		before[i] = act_of(&f, i);
	assert_true(before[s3] < 100 * MIB); /* squeezed while idle */
	f.used[s3] = 160 * MIB;
	f.churn[s3] = 1024;
	for (int t = 0; t < 6; t++) {
		fx_sync(&f, s3);
		fx_tick(&f);
		assert_true(fx_sum_actual(&f) <= 768 * MIB);
		for (size_t i = 3; i < 5; i++) {
			if (f.out[i].reason == BLN_REASON_FAIR_SHARE)
				taken = true;
			assert_true(act_of(&f, i) >= 128 * MIB);
		}
		for (size_t i = 0; i < 3; i++)
			assert_true(act_of(&f, i) >= before[i]);
	}
	assert_true(taken);
	assert_true(act_of(&f, s3) >= 128 * MIB - STEP);
	assert_true(act_of(&f, s3) <= 128 * MIB + STEP);
	assert_int_equal(f.vm[s3].oom_kills, 0);
}

/* spike3 runs a little short (4 MiB over what it has, so its swap fills
 * slowly): the others are not squeezed for it while less than a quarter of
 * its size is in swap. */
static void test_shallow_shortage_not_spread(void **state)
{
	struct fx f;
	size_t s3;

	(void)state;
	s3 = contention_setup(&f);
	f.used[s3] = act_of(&f, s3) + 4 * MIB;
	f.churn[s3] = 1024;
	for (int t = 0; t < 4; t++) {
		fx_sync(&f, s3);
		fx_tick(&f);
		assert_true(f.vst[s3].urgent);
		for (size_t i = 0; i < 6; i++)
			assert_int_not_equal(f.out[i].reason,
			                     BLN_REASON_FAIR_SHARE);
	}
	assert_true(f.vm[s3].swap_out_bytes < 192 * MIB / 4);
}

/* Once spike3 has its share, nobody else is squeezed for it: contention
 * beyond the shares is the guests' own to swap. */
static void test_above_share_takes_nothing(void **state)
{
	struct fx f;
	size_t s3;
	uint64_t s1;

	(void)state;
	s3 = contention_setup(&f);
	f.used[s3] = 160 * MIB;
	f.churn[s3] = 1024;
	for (int t = 0; t < 6; t++) {
		fx_sync(&f, s3);
		fx_tick(&f);
	}
	s1 = act_of(&f, 3);
	for (int t = 0; t < 8; t++) {
		fx_sync(&f, s3);
		fx_tick(&f);
		assert_true(f.used[s3] > act_of(&f, s3)); /* still short */
		assert_int_not_equal(f.out[3].reason, BLN_REASON_FAIR_SHARE);
		assert_int_not_equal(f.out[4].reason, BLN_REASON_FAIR_SHARE);
	}
	assert_int_equal(act_of(&f, 3), s1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_latecomer_gets_its_share),
	        cmocka_unit_test(test_shallow_shortage_not_spread),
	        cmocka_unit_test(test_above_share_takes_nothing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
