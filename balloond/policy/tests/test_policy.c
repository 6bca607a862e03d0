/* SPDX-License-Identifier: MIT */
/*
 * test_policy.c - the idle-tax policy's documented behaviour: who is
 * reclaimed first (idle before busy, fewer shares before more, pure shares
 * at tax 0), host states with hysteresis, the per-tick shrink limit, one-step
 * grants to swapping guests, last resort only in LOW, pinned VMs, floors,
 * plenty growth by rho, aggressiveness and the static baseline.
 */
#include "policy_fixture.h"

/* Two 2 GiB VMs; the budget leaves the host in SOFT with ~105 MiB to
 * reclaim (less than one tick's max_shrink). */
static void two_vms(struct fx *f, uint64_t used0, uint64_t used1)
{
	fx_init(f, BLN_POLICY_IDLETAX, 4 * GIB + 150 * MIB);
	fx_add(f, 256 * MIB, 2 * GIB, 2 * GIB, used0);
	fx_add(f, 256 * MIB, 2 * GIB, 2 * GIB, used1);
}

static void test_idle_before_busy(void **state)
{
	struct fx f;

	(void)state;
	two_vms(&f, 256 * MIB, 1536 * MIB);
	assert_int_equal(fx_step(&f), 0);
	assert_int_equal(f.st.host_state, BLN_HOST_SOFT);
	assert_true(f.out[0].target_bytes < 2 * GIB);
	assert_int_equal(f.out[0].reason, BLN_REASON_RECLAIM_IDLE);
	assert_int_equal(f.out[1].target_bytes, 2 * GIB);
	assert_int_equal(f.out[1].reason, BLN_REASON_NONE);
	assert_true(f.vst[0].rho < f.vst[1].rho);

	/* Swap the roles: the policy follows the idle one, not the index. */
	two_vms(&f, 1536 * MIB, 256 * MIB);
	assert_int_equal(fx_step(&f), 0);
	assert_int_equal(f.out[0].target_bytes, 2 * GIB);
	assert_true(f.out[1].target_bytes < 2 * GIB);
}

/* A pinned VM whose target keeps rising keeps the host under pressure. */
static size_t add_hog(struct fx *f, uint64_t actual)
{
	size_t h = fx_add(f, 0, 64 * GIB, actual, 0);

	f->vm[h].pinned = true;
	return h;
}

static void test_shares_double_reclaimed_later(void **state)
{
	struct fx f;
	size_t h;
	bool low_moved_first = true;

	(void)state;
	fx_init(&f, BLN_POLICY_IDLETAX, 12 * GIB);
	/* No rate limit here: this is about the order alone. */
	f.p.max_shrink_bytes = 4 * GIB;
	fx_add(&f, 256 * MIB, 2 * GIB, 2 * GIB, 256 * MIB);
	fx_add(&f, 256 * MIB, 2 * GIB, 2 * GIB, 256 * MIB);
	f.vm[1].shares = 2000;
	h = add_hog(&f, 7 * GIB + 512 * MIB);
	for (int t = 0; t < 40; t++) {
		fx_tick(&f);
		/* vm1 (2000 shares) loses memory only once vm0 is down to
		 * the size at which their rho meet: A + (2 x0 - A) / k with
		 * A = 256 MiB, i.e. 1120 MiB. */
		if (f.vm[1].actual_bytes < 2 * GIB &&
		    f.vm[0].actual_bytes > 1120 * MIB + f.p.step_bytes)
			low_moved_first = false;
		f.vm[h].target_bytes += 64 * MIB;
		f.vm[h].actual_bytes += 64 * MIB;
	}
	assert_true(low_moved_first);
	assert_true(f.vm[0].actual_bytes < f.vm[1].actual_bytes);
	assert_true(f.vm[1].actual_bytes < 2 * GIB); /* reached eventually */
}

static void test_tax_zero_is_pure_shares(void **state)
{
	struct fx f;
	uint64_t r0, r1;

	(void)state;
	two_vms(&f, 256 * MIB, 1536 * MIB);
	f.p.tax_rate = 0;
	assert_int_equal(fx_step(&f), 0);
	r0 = 2 * GIB - f.out[0].target_bytes;
	r1 = 2 * GIB - f.out[1].target_bytes;
	/* Same shares, same size: same rho, the same amount from each. */
	assert_true(r0 > 0 && r1 > 0);
	assert_true(r0 <= r1 + f.p.step_bytes && r1 <= r0 + f.p.step_bytes);

	/* Shares 2:1 at tax 0: only the VM with fewer shares pays. */
	two_vms(&f, 256 * MIB, 1536 * MIB);
	f.p.tax_rate = 0;
	f.vm[0].shares = 2000;
	assert_int_equal(fx_step(&f), 0);
	assert_int_equal(f.out[0].target_bytes, 2 * GIB);
	assert_true(f.out[1].target_bytes < 2 * GIB);
}

/* Set the pinned VM so that free memory is @pct of the 100 GiB budget. */
static enum bln_host_state state_at(struct fx *f, double pct, double psi)
{
	double b = (double)f->p.budget_bytes;

	f->vm[0].actual_bytes = (uint64_t)(b * (1 - pct / 100.0));
	f->vm[0].target_bytes = f->vm[0].actual_bytes;
	f->host.psi_some_avg10 = psi;
	assert_int_equal(fx_step(f), 0);
	f->now += 100;
	return f->st.host_state;
}

static void test_host_state_hysteresis(void **state)
{
	struct fx f;
	const struct {
		double pct;
		enum bln_host_state want;
	} seq[] = {
	        {10, BLN_HOST_HIGH},   {3.9, BLN_HOST_SOFT},
	        {4.1, BLN_HOST_SOFT},  {5.9, BLN_HOST_SOFT},
	        {6.1, BLN_HOST_HIGH},  {4.1, BLN_HOST_HIGH},
	        {3.99, BLN_HOST_SOFT}, {1.9, BLN_HOST_HARD},
	        {2.1, BLN_HOST_HARD},  {3.9, BLN_HOST_HARD},
	        {4.1, BLN_HOST_SOFT},  {0.9, BLN_HOST_LOW},
	        {1.5, BLN_HOST_LOW},   {2.1, BLN_HOST_HARD},
	        {7, BLN_HOST_HIGH},    {-5, BLN_HOST_LOW},
	        {6.5, BLN_HOST_HIGH},
	};
	int changes = 0;
	enum bln_host_state prev;

	(void)state;
	fx_init(&f, BLN_POLICY_IDLETAX, 100 * GIB);
	add_hog(&f, 0);
	for (size_t i = 0; i < sizeof(seq) / sizeof(seq[0]); i++)
		assert_int_equal(state_at(&f, seq[i].pct, 0), seq[i].want);

	/* Free memory wobbling around the soft mark: one transition. */
	prev = state_at(&f, 8, 0);
	for (int i = 0; i < 40; i++) {
		enum bln_host_state s = state_at(&f, i % 2 ? 4.05 : 3.95, 0);

		changes += s != prev;
		prev = s;
	}
	assert_int_equal(changes, 1);
	assert_int_equal(prev, BLN_HOST_SOFT);

	/* PSI pressure holds the host in HARD however much is free. */
	assert_int_equal(state_at(&f, 30, 10.0), BLN_HOST_HARD);
	assert_int_equal(state_at(&f, 30, 9.9), BLN_HOST_HIGH);
	assert_int_equal(state_at(&f, 0.5, 50), BLN_HOST_LOW);
}

/* One idle VM and a pinned hog keep the host in HARD with ~460 MiB to go. */
static void rate_setup(struct fx *f)
{
	fx_init(f, BLN_POLICY_IDLETAX, 10 * GIB);
	f->p.max_shrink_bytes = 128 * MIB;
	fx_add(f, 256 * MIB, 4 * GIB, 4 * GIB, 256 * MIB);
	add_hog(f, 10 * GIB - 4 * GIB - 150 * MIB);
}

static uint64_t rate_step(struct fx *f, uint64_t at)
{
	uint64_t before = f->vm[0].target_bytes;

	f->now = at;
	assert_int_equal(fx_step(f), 0);
	assert_int_equal(f->st.host_state, BLN_HOST_HARD);
	fx_apply(f);
	/* keep the host short of memory: the hog takes what was freed */
	f->vm[1].actual_bytes += before - f->vm[0].target_bytes;
	f->vm[1].target_bytes = f->vm[1].actual_bytes;
	return before - f->vm[0].target_bytes;
}

static void test_rate_limit_per_tick(void **state)
{
	struct fx f;
	uint64_t total = 0;

	(void)state;
	rate_setup(&f);
	assert_int_equal(rate_step(&f, 1000), 128 * MIB); /* max_shrink */
	assert_int_equal(rate_step(&f, 1000), 0);         /* same instant */
	assert_int_equal(rate_step(&f, 1500), 64 * MIB);  /* half a tick */
	assert_int_equal(rate_step(&f, 1750), 32 * MIB);
	assert_int_equal(rate_step(&f, 2750), 128 * MIB); /* a full tick */
	assert_int_equal(rate_step(&f, 9000), 128 * MIB); /* never more */

	/* Urgent steps four times a tick do not raise the rate: over 10 s
	 * after the first change a VM loses at most 10 ticks' worth. */
	rate_setup(&f);
	rate_step(&f, 1000);
	for (uint64_t t = 1250; t <= 11000; t += 250)
		total += rate_step(&f, t);
	assert_true(total <= 10 * 128 * MIB);
	assert_true(total >= 9 * 128 * MIB);
}

static void test_grow_on_swap_in_one_step(void **state)
{
	struct fx f;

	(void)state;
	fx_init(&f, BLN_POLICY_IDLETAX, 32 * GIB);
	fx_add(&f, 256 * MIB, 4 * GIB, GIB, 900 * MIB);
	fx_tick(&f);
	assert_int_equal(f.out[0].target_bytes, GIB); /* content */
	assert_int_equal(f.out[0].reason, BLN_REASON_NONE);

	/* A spike: 600 MiB more than fits; the guest swaps it out. */
	f.used[0] = GIB + 600 * MIB;
	fx_sync(&f, 0);
	assert_true(bln_policy_urgent(&f.p, &f.vm[0], &f.vst[0]));
	f.now += 200; /* the daemon steps at once, between ticks */
	assert_int_equal(fx_step(&f), 0);
	assert_int_equal(f.out[0].reason, BLN_REASON_GROW_DEMAND);
	assert_true(f.out[0].target_bytes >= GIB + 600 * MIB + 64 * MIB);
	assert_int_equal(f.out[0].target_bytes % f.p.step_bytes, 0);
	fx_apply(&f);
	assert_false(bln_policy_urgent(&f.p, &f.vm[0], &f.vst[0]));
}

static void test_grow_on_collapse_funded_by_reclaim(void **state)
{
	struct fx f;

	(void)state;
	/* Host in SOFT: the idle VM pays for the collapsing one at once. */
	fx_init(&f, BLN_POLICY_IDLETAX, 4 * GIB + 150 * MIB);
	fx_add(&f, 256 * MIB, 2 * GIB, 2 * GIB, 256 * MIB);
	fx_add(&f, 256 * MIB, 3 * GIB, 2 * GIB, 1900 * MIB);
	fx_tick(&f);
	f.used[1] = 2 * GIB - 16 * MIB; /* available 16 MiB, no swap */
	fx_sync(&f, 1);
	assert_true(bln_policy_urgent(&f.p, &f.vm[1], &f.vst[1]));
	f.now += 100;
	assert_int_equal(fx_step(&f), 0);
	assert_int_equal(f.out[1].reason, BLN_REASON_GROW_DEMAND);
	assert_true(f.out[1].target_bytes >= 2 * GIB + 64 * MIB);
	assert_true(f.out[0].target_bytes < f.vm[0].target_bytes);
	assert_int_equal(f.out[0].reason, BLN_REASON_RECLAIM_IDLE);
}

/* Two busy VMs (faulting pages every update, so their working set is all
 * they use) sitting at need + margin and a hog; free is set by @pct. */
static void floor_setup(struct fx *f, double pct)
{
	fx_init(f, BLN_POLICY_IDLETAX, 10 * GIB);
	fx_add(f, 128 * MIB, 2 * GIB, GIB + 64 * MIB, GIB);
	fx_add(f, 128 * MIB, 2 * GIB, GIB + 64 * MIB, GIB);
	f->churn[0] = f->churn[1] = 1024;
	add_hog(f, (uint64_t)(10.0 * GIB * (1 - pct / 100)) -
	                   2 * (GIB + 64 * MIB));
}

static void test_last_resort_only_in_low(void **state)
{
	struct fx f;

	(void)state;
	floor_setup(&f, 1.5); /* HARD */
	/* In HARD the floor's headroom is half the margin: the VMs give
	 * 32 MiB each once, then stay at need + margin / 2. */
	fx_tick(&f);
	fx_tick(&f);
	for (int t = 0; t < 5; t++) {
		fx_tick(&f);
		assert_int_equal(f.st.host_state, BLN_HOST_HARD);
		for (int i = 0; i < 2; i++) {
			assert_int_equal(f.vm[i].actual_bytes, GIB + 32 * MIB);
			assert_int_equal(f.out[i].reason, BLN_REASON_FLOOR);
		}
	}
	floor_setup(&f, 0.5); /* LOW */
	fx_tick(&f);
	assert_int_equal(f.st.host_state, BLN_HOST_LOW);
	for (int i = 0; i < 2; i++) {
		assert_true(f.vm[i].actual_bytes < GIB + 64 * MIB);
		assert_true(f.vm[i].actual_bytes >=
		            GIB + 64 * MIB - f.p.max_shrink_bytes);
		assert_int_equal(f.out[i].reason, BLN_REASON_LAST_RESORT);
	}
}

static void test_pinned_untouched(void **state)
{
	struct fx f;

	(void)state;
	floor_setup(&f, -20); /* deep in LOW */
	f.vm[0].pinned = true;
	f.vm[0].target_bytes = 1000000000; /* not a multiple of the step */
	for (int t = 0; t < 10; t++) {
		fx_tick(&f);
		assert_int_equal(f.out[0].target_bytes, 1000000000);
		assert_int_equal(f.out[0].reason, BLN_REASON_PINNED);
	}
	assert_true(f.vm[1].actual_bytes < GIB);
}

static void test_floor_when_min_exceeds_budget(void **state)
{
	struct fx f;

	(void)state;
	fx_init(&f, BLN_POLICY_IDLETAX, 2 * GIB);
	for (int i = 0; i < 3; i++)
		fx_add(&f, GIB, 2 * GIB, 2 * GIB, 256 * MIB);
	for (int t = 0; t < 30; t++) {
		fx_tick(&f);
		for (int i = 0; i < 3; i++)
			assert_true(f.vm[i].actual_bytes >= GIB);
	}
	assert_int_equal(f.st.host_state, BLN_HOST_LOW);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(f.vm[i].actual_bytes, GIB);
		assert_int_equal(f.out[i].reason, BLN_REASON_FLOOR);
	}
}

static void test_clamped_target_is_floor(void **state)
{
	struct fx f;

	(void)state;
	fx_init(&f, BLN_POLICY_STATIC, 0);
	fx_add(&f, 256 * MIB, GIB, GIB, 100 * MIB);
	f.vm[0].target_bytes = 2 * GIB; /* above max */
	assert_int_equal(fx_step(&f), 0);
	assert_int_equal(f.out[0].target_bytes, GIB);
	assert_int_equal(f.out[0].reason, BLN_REASON_FLOOR);
}

static void test_plenty_grows_highest_rho_first(void **state)
{
	struct fx f;
	uint64_t g0, g1;

	(void)state;
	/* 60 MiB above the high mark to give away. */
	fx_init(&f, BLN_POLICY_IDLETAX,
	        (uint64_t)((2.0 * GIB + 60.0 * MIB) / 0.94));
	/* both use all but 24 MiB: want = used + margin, 40 MiB more each */
	fx_add(&f, 128 * MIB, 2 * GIB, GIB, 1000 * MIB);
	fx_add(&f, 128 * MIB, 2 * GIB, GIB, 1000 * MIB);
	f.vm[1].shares = 3000;
	assert_int_equal(fx_step(&f), 0);
	assert_int_equal(f.st.host_state, BLN_HOST_HIGH);
	g0 = f.out[0].target_bytes - GIB;
	g1 = f.out[1].target_bytes - GIB;
	assert_int_equal(f.out[1].reason, BLN_REASON_GROW_PLENTY);
	assert_true(g1 > g0);
	assert_true(g0 + g1 <= 60 * MIB);
}

static void test_aggressiveness(void **state)
{
	struct fx f;

	(void)state;
	/* 0: idle memory is not taxed at all outside LOW. */
	rate_setup(&f);
	f.p.aggressiveness = 0;
	for (int t = 0; t < 5; t++)
		fx_tick(&f);
	assert_int_equal(f.vm[0].actual_bytes, 4 * GIB);

	/* 0.5: the floor sits half way between need + margin and max (a busy
	 * guest: its working-set estimate stays at what it uses). */
	rate_setup(&f);
	f.churn[0] = 1024;
	f.p.aggressiveness = 0.5;
	for (uint64_t t = 1; t <= 30; t++)
		rate_step(&f, 1000 * t);
	/* (the host is in HARD: need + margin / 2 = 288 MiB) */
	assert_int_equal(f.vm[0].actual_bytes,
	                 288 * MIB + (4 * GIB - 288 * MIB) / 2);
	assert_int_equal(f.out[0].reason, BLN_REASON_FLOOR);
}

static void test_static_never_changes(void **state)
{
	struct fx f;

	(void)state;
	floor_setup(&f, -20);
	f.p.kind = BLN_POLICY_STATIC;
	f.vm[1].target_bytes = 1500000000;
	for (int t = 0; t < 20; t++) {
		uint64_t before[FX_MAX];

		f.used[t % 2] += 300 * MIB; /* swapping guests, LOW host */
		fx_sync(&f, t % 2);
		for (size_t i = 0; i < f.n; i++)
			before[i] = f.vm[i].target_bytes;
		fx_tick(&f);
		for (size_t i = 0; i < f.n; i++) {
			assert_int_equal(f.out[i].target_bytes, before[i]);
			assert_true(f.out[i].reason == BLN_REASON_NONE ||
			            f.out[i].reason == BLN_REASON_PINNED);
		}
		assert_false(bln_policy_urgent(&f.p, &f.vm[0], &f.vst[0]));
	}
}

/* Usage that wobbles by +-16 MiB every tick around fixed levels: after the
 * start the policy settles and stops moving balloons (no flapping between
 * grants and reclaim). */
static void test_settles_without_flapping(void **state)
{
	const uint64_t base[3] = {300 * MIB, 800 * MIB, 1200 * MIB};
	uint64_t rng = 12345;
	int late_changes = 0;
	struct fx f;

	(void)state;
	fx_init(&f, BLN_POLICY_IDLETAX, 3 * GIB);
	fx_add(&f, 256 * MIB, 2 * GIB, 2 * GIB, base[0]);
	fx_add(&f, 256 * MIB, 2 * GIB, 2 * GIB, base[1]);
	fx_add(&f, 256 * MIB, 3 * GIB, 2 * GIB, base[2]);
	for (int t = 0; t < 200; t++) {
		for (size_t i = 0; i < f.n; i++) {
			rng = rng * 6364136223846793005ull +
			      1442695040888963407ull;
			f.used[i] = base[i] + (rng >> 33) % 33 * MIB - 16 * MIB;
			fx_sync(&f, i);
		}
		assert_int_equal(fx_step(&f), 0);
		for (size_t i = 0; i < f.n; i++)
			if (t >= 100 &&
			    f.out[i].target_bytes != f.vm[i].target_bytes)
				late_changes++;
		fx_apply(&f);
		f.now += 1000;
	}
	assert_int_equal(late_changes, 0);
	assert_true(fx_sum_actual(&f) < 3 * GIB); /* within the budget */
	assert_int_equal(f.st.host_state, BLN_HOST_HIGH);
}

/* With room in the budget a spike is served by the very next step. */
static void test_spike_served_at_once(void **state)
{
	struct fx f;

	(void)state;
	fx_init(&f, BLN_POLICY_IDLETAX, 8 * GIB);
	fx_add(&f, 256 * MIB, 2 * GIB, 2 * GIB, 300 * MIB);
	fx_add(&f, 256 * MIB, 4 * GIB, 2 * GIB, 1200 * MIB);
	for (int t = 0; t < 5; t++)
		fx_tick(&f);
	f.used[1] = 3 * GIB; /* +1.8 GiB: 1 GiB of it lands in swap */
	fx_sync(&f, 1);
	assert_true(bln_policy_urgent(&f.p, &f.vm[1], &f.vst[1]));
	f.now += 300;
	assert_int_equal(fx_step(&f), 0);
	assert_true(f.out[1].target_bytes >= 3 * GIB + f.p.margin_bytes);
	fx_apply(&f);
	assert_int_equal(f.vm[1].swap_out_bytes,
	                 GIB); /* no further swapping after the grant */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_idle_before_busy),
	        cmocka_unit_test(test_shares_double_reclaimed_later),
	        cmocka_unit_test(test_tax_zero_is_pure_shares),
	        cmocka_unit_test(test_host_state_hysteresis),
	        cmocka_unit_test(test_rate_limit_per_tick),
	        cmocka_unit_test(test_grow_on_swap_in_one_step),
	        cmocka_unit_test(test_grow_on_collapse_funded_by_reclaim),
	        cmocka_unit_test(test_last_resort_only_in_low),
	        cmocka_unit_test(test_pinned_untouched),
	        cmocka_unit_test(test_floor_when_min_exceeds_budget),
	        cmocka_unit_test(test_clamped_target_is_floor),
	        cmocka_unit_test(test_plenty_grows_highest_rho_first),
	        cmocka_unit_test(test_aggressiveness),
	        cmocka_unit_test(test_static_never_changes),
	        cmocka_unit_test(test_settles_without_flapping),
	        cmocka_unit_test(test_spike_served_at_once),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
