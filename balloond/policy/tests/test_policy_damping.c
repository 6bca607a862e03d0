/* SPDX-License-Identifier: MIT */
/*
 * test_policy_damping.c - the idle-tax policy's working-set estimator and
 * its damping (docs/policy.md, "Estimator" and "Damping"): an idle hoarder's
 * estimate decays so it is taxed before a busy VM (rho order), refaults
 * raise the estimate and keep it, a VM is not reversed within the dwell
 * time, a squeezed donor's own swap-out is no demand, grants come only
 * from memory that is actually free (budget - sum of max(actual, target)),
 * and memory a guest frees itself stays in its estimate for a grace period.
 */
#include "policy_fixture.h"

#define DWELL_MS 5000 /* POL_DWELL_MS */

/* S1 in small: vm0 touched 640 MiB and sleeps, vm1 is busy with 320 MiB;
 * 1536 MiB budget, both at 768 MiB. */
static void hoarder_setup(struct fx *f)
{
	fx_init(f, BLN_POLICY_IDLETAX, 1536 * MIB);
	fx_add(f, 256 * MIB, GIB, 768 * MIB, 640 * MIB);
	fx_add(f, 256 * MIB, GIB, 768 * MIB, 320 * MIB);
	f->churn[1] = 1024;
}

static void test_idle_hoarder_is_taxed(void **state)
{
	struct fx f;
	int t;

	(void)state;
	hoarder_setup(&f);
	fx_tick(&f);
	/* Both estimates start at what the guests use. */
	assert_int_equal(f.vst[0].need_bytes, 640 * MIB);
	for (t = 0; t < 12; t++)
		fx_tick(&f);
	/* 12 s without a sign of use: vm0's estimate has decayed, vm1's
	 * (faulting every tick) has not; vm0 now has the lower rho. */
	assert_true(f.vst[0].need_bytes < 400 * MIB);
	assert_true(f.vst[1].need_bytes >= 320 * MIB);
	assert_true(f.vst[0].rho < f.vst[1].rho);

	/* vm1's working set grows past its share: it gets memory, and the
	 * memory comes from the idle vm0, within a few ticks. */
	for (t = 0; t < 8; t++) {
		if (f.used[1] < 960 * MIB)
			f.used[1] += 160 * MIB;
		fx_sync(&f, 1);
		fx_tick(&f);
		assert_true(fx_sum_actual(&f) <= 1536 * MIB);
	}
	assert_true(f.vm[1].actual_bytes >= 960 * MIB + 64 * MIB);
	assert_true(f.vm[0].actual_bytes < 768 * MIB);
	assert_int_equal(f.vm[0].oom_kills, 0);
}

static void test_refault_raises_and_holds(void **state)
{
	struct fx f;
	uint64_t w0, w1;

	(void)state;
	fx_init(&f, BLN_POLICY_IDLETAX, 8 * GIB);
	fx_add(&f, 128 * MIB, 2 * GIB, GIB, 900 * MIB);
	for (int t = 0; t < 20; t++)
		fx_tick(&f);
	w0 = f.vst[0].need_bytes;
	assert_true(w0 < 500 * MIB); /* no sign of use: decayed */

	/* It reads back 16 MiB from swap: the estimate rises by 4x that
	 * above what it uses... */
	f.vm[0].swap_in_bytes += 16 * MIB;
	f.vm[0].major_faults += 16 * MIB / 4096;
	fx_tick(&f);
	w1 = f.vst[0].need_bytes;
	assert_true(w1 >= 900 * MIB + 64 * MIB);
	/* ... and that hot part decays slowly: 20 s later most of the
	 * 900 MiB is left, whereas the cold estimate lost about half of it
	 * in the same time. */
	for (int t = 0; t < 20; t++)
		fx_tick(&f);
	assert_true(f.vst[0].need_bytes > 700 * MIB);
}

/* A VM shrunk a moment ago is not grown back by "plenty" within the dwell
 * time, and one just grown is not reclaimed by the idle tax within it. */
static void test_dwell_blocks_reversal(void **state)
{
	struct fx f;
	uint64_t t_grown;
	size_t h;

	(void)state;
	fx_init(&f, BLN_POLICY_IDLETAX, 4 * GIB);
	/* vm0 uses all but 48 MiB: wants used + margin, not urgent */
	fx_add(&f, 128 * MIB, 2 * GIB, GIB, GIB - 48 * MIB);
	h = fx_add(&f, 0, 8 * GIB, 2 * GIB, 0); /* a pinned hog */
	f.vm[h].pinned = true;
	f.churn[0] = 1024; /* busy: its estimate follows what it uses */
	/* vm0 shrank just now; the host then has plenty and vm0 wants
	 * more: no growth before the dwell time has passed. */
	f.vst[0].last_dir = -1;
	f.vst[0].last_change_ms = f.now;
	for (uint64_t dt = 0; dt < DWELL_MS; dt += 1000) {
		fx_tick(&f);
		assert_int_equal(f.vm[0].actual_bytes, GIB);
	}
	fx_tick(&f);
	assert_true(f.vm[0].actual_bytes > GIB);
	assert_int_equal(f.out[0].reason, BLN_REASON_GROW_PLENTY);

	/* Just grown; now the host is short (SOFT) and vm0's estimate is
	 * low: no reclaim until the dwell time has passed. */
	t_grown = f.now - f.p.tick_ms;
	f.used[0] = 300 * MIB;
	fx_sync(&f, 0);
	f.vm[h].actual_bytes = f.vm[h].target_bytes =
	        4 * GIB - f.vm[0].actual_bytes - 120 * MIB;
	while (f.now < t_grown + DWELL_MS) {
		fx_tick(&f);
		assert_int_not_equal(f.out[0].reason, BLN_REASON_RECLAIM_IDLE);
	}
	fx_tick(&f);
	assert_int_equal(f.out[0].reason, BLN_REASON_RECLAIM_IDLE);
}

/* A donor squeezed below what it uses swaps to make room for its balloon:
 * that is no demand, it is not grown back. */
static void test_squeezed_donor_not_urgent(void **state)
{
	struct fx f;

	(void)state;
	hoarder_setup(&f);
	for (int t = 0; t < 14; t++)
		fx_tick(&f);
	f.used[1] = 960 * MIB; /* vm1 grows */
	fx_sync(&f, 1);
	for (int t = 0; t < 6; t++) {
		fx_tick(&f);
		/* fx_sync made vm0 swap what does not fit */
		assert_false(f.vst[0].urgent);
		assert_int_not_equal(f.out[0].reason, BLN_REASON_GROW_DEMAND);
	}
	assert_true(f.vm[0].swap_out_bytes > 0);
}

/* Grants come only from memory that is free now: a donor whose balloon
 * lags its target does not fund a grant until it has given the memory. */
static void test_grant_only_from_free(void **state)
{
	struct fx f;
	const uint64_t budget = 1536 * MIB;

	(void)state;
	hoarder_setup(&f);
	for (int t = 0; t < 14; t++)
		fx_tick(&f);
	f.used[1] = 960 * MIB;
	fx_sync(&f, 1);
	for (int t = 0; t < 12; t++) {
		uint64_t sum = 0;

		assert_int_equal(fx_step(&f), 0);
		for (size_t i = 0; i < f.n; i++) {
			uint64_t a = f.vm[i].actual_bytes;
			uint64_t tg = f.out[i].target_bytes;

			sum += tg > a ? tg : a;
		}
		assert_true(sum <= budget);
		/* targets are set; the donor gives 32 MiB per tick only */
		for (size_t i = 0; i < f.n; i++) {
			uint64_t a = f.vm[i].actual_bytes;
			uint64_t tg = f.out[i].target_bytes;

			f.vm[i].target_bytes = tg;
			f.vm[i].actual_bytes = tg >= a ? tg
			                       : a - tg > 32 * MIB
			                               ? a - 32 * MIB
			                               : tg;
			fx_sync(&f, i);
		}
		f.now += f.p.tick_ms;
	}
	assert_true(f.vm[1].actual_bytes > 768 * MIB + 128 * MIB);
}

/* A spike that frees its memory and pauses keeps it for the grace period
 * (it may come right back); then the freed memory is reclaimed. */
static void test_freed_memory_held_for_grace(void **state)
{
	struct fx f;
	uint64_t t0;
	size_t h;

	(void)state;
	fx_init(&f, BLN_POLICY_IDLETAX, 2 * GIB);
	fx_add(&f, 64 * MIB, GIB, 624 * MIB, 600 * MIB); /* a spike */
	/* the host is short (HARD): 60 MiB free */
	h = fx_add(&f, 0, 2 * GIB, 2 * GIB - 624 * MIB - 60 * MIB, 0);
	f.vm[h].pinned = true;
	f.churn[0] = 1024; /* busy: new pages every tick */
	for (int t = 0; t < 4; t++) {
		fx_tick(&f); /* at its floor (W + margin / 2 > 624): kept */
		assert_int_equal(f.vm[0].target_bytes, 624 * MIB);
	}
	f.used[0] = 80 * MIB; /* it frees 520 MiB and pauses */
	fx_sync(&f, 0);
	t0 = f.now;
	while (f.now < t0 + 2000) { /* POL_FREE_HOLD_MS */
		fx_tick(&f);
		assert_int_equal(f.vm[0].target_bytes, 624 * MIB);
		assert_true(f.vst[0].need_bytes >= 600 * MIB);
	}
	fx_tick(&f); /* then it is idle memory like any other */
	assert_true(f.vst[0].need_bytes < 100 * MIB);
	assert_true(f.vm[0].target_bytes < 624 * MIB);
	assert_int_equal(f.out[0].reason, BLN_REASON_RECLAIM_IDLE);
}

/* Urgent demand the free memory cannot cover is funded from a donor's
 * memory above its floor even within the donor's dwell after a grow. */
static void test_urgent_funded_despite_dwell(void **state)
{
	struct fx f;
	size_t h;

	(void)state;
	fx_init(&f, BLN_POLICY_IDLETAX, 2 * GIB);
	fx_add(&f, 64 * MIB, GIB, GIB, 300 * MIB);
	fx_add(&f, 64 * MIB, GIB, 512 * MIB, 400 * MIB);
	h = fx_add(&f, 0, GIB, 128 * MIB, 0); /* plenty at first */
	f.vm[h].pinned = true;
	f.churn[0] = 1024;
	fx_tick(&f);
	assert_int_equal(f.vm[0].target_bytes, GIB);
	/* vm0 was grown 0.5 s ago (within the dwell); the host fills up
	 * (48 MiB free) and vm1 grows fast and is nearly out */
	f.vst[0].last_dir = 1;
	f.vst[0].last_change_ms = f.now - 500;
	f.vm[h].actual_bytes = f.vm[h].target_bytes = 512 * MIB - 48 * MIB;
	f.used[1] = 500 * MIB;
	fx_sync(&f, 1);
	fx_tick(&f);
	assert_true(f.vst[1].urgent);
	assert_int_equal(f.out[0].reason, BLN_REASON_RECLAIM_IDLE);
	assert_true(f.vm[0].target_bytes < GIB);
	assert_true(f.vm[0].target_bytes >= f.vst[0].floor_bytes);
	assert_true(f.vm[1].target_bytes > 512 * MIB);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_idle_hoarder_is_taxed),
	        cmocka_unit_test(test_refault_raises_and_holds),
	        cmocka_unit_test(test_dwell_blocks_reversal),
	        cmocka_unit_test(test_squeezed_donor_not_urgent),
	        cmocka_unit_test(test_grant_only_from_free),
	        cmocka_unit_test(test_freed_memory_held_for_grace),
	        cmocka_unit_test(test_urgent_funded_despite_dwell),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
