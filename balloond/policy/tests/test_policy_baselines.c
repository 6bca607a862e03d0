/* SPDX-License-Identifier: MIT */
/*
 * test_policy_baselines.c - the baselines do what their published sources
 * do: Proxmox's compute_alg1 against the expected values of Proxmox's own
 * regression test (pve-manager test/balloontest.pl), its 80 % host target,
 * the 100 MiB per VM per round limit, the 10 MiB dead zone and silence
 * between rounds; MOM's shrink/grow rules with its default constants.
 */
#include "policy_fixture.h"
#include "policy_internal.h"

#define MB(x) ((uint64_t)(x)*1000000ull) /* balloontest.pl's units */
#define GB(x) ((uint64_t)(x)*1000000000ull)

/* ---- compute_alg1 against balloontest.pl ------------------------------ */

struct pve_vm {
	uint64_t max, shares, balloon, min, freemem;
};

/* Run compute_alg1 once for @goal and compare every VM's result with
 * @want (0 = "no result for this VM", i.e. unchanged). */
static void alg1_case(const struct pve_vm *v, size_t n, int64_t goal,
                      const uint64_t *want)
{
	struct bln_policy_params p;
	struct bln_policy_state st = {0};
	struct bln_policy_host host = {.total_bytes = 64 * GIB};
	struct bln_policy_vm vms[4] = {0};
	struct bln_policy_vm_state vst[4] = {0};
	struct bln_policy_out out[4] = {0};
	struct pol_ctx c = {0};

	bln_policy_defaults(&p, BLN_POLICY_PROXMOX);
	p.proxmox_step_bytes = MB(100);
	for (size_t i = 0; i < n; i++) {
		vms[i].max_bytes = v[i].max;
		vms[i].min_bytes = v[i].min;
		vms[i].shares = (uint32_t)v[i].shares;
		vms[i].actual_bytes = v[i].balloon;
		vms[i].target_bytes = v[i].balloon;
		vms[i].stats_valid = true;
		vms[i].free_bytes = v[i].freemem;
		vms[i].total_bytes = v[i].balloon;
	}
	c.p = &p;
	c.st = &st;
	c.host = &host;
	c.vms = vms;
	c.vst = vst;
	c.out = out;
	c.n = n;
	bln_pol_proxmox_alg1(&c, goal);
	for (size_t i = 0; i < n; i++) {
		uint64_t exp = want[i] ? want[i] : v[i].balloon;

		if (out[i].target_bytes != exp)
			fail_msg("goal %lld vm %zu: %llu != %llu",
			         (long long)goal, i,
			         (unsigned long long)out[i].target_bytes,
			         (unsigned long long)exp);
	}
}

static void test_proxmox_alg1_vectors(void **state)
{
	const struct pve_vm s1[] = {
	        {GB(2), 2000, GB(1), GB(1), MB(0)},
	        {GB(2), 1000, GB(1), GB(1), MB(0)},
	};
	const struct pve_vm s2[] = {
	        {GB(2), 2000, GB(2), GB(2), MB(0)},
	        {GB(2), 1000, GB(1), GB(1), MB(0)},
	};
	const struct pve_vm s3[] = {
	        {GB(2), 2000, GB(2), GB(2), MB(0)},
	        {GB(2), 1000, GB(1) + MB(7), GB(1), MB(0)},
	        {GB(2), 1000, GB(1), GB(1), MB(512)},
	};

	(void)state;
	alg1_case(s1, 2, 0, (const uint64_t[]){0, 0});
	alg1_case(s1, 2, MB(90), (const uint64_t[]){MB(1060), MB(1030)});
	alg1_case(s1, 2, MB(150), (const uint64_t[]){MB(1100), MB(1050)});
	alg1_case(s1, 2, MB(270), (const uint64_t[]){MB(1100), MB(1090)});
	alg1_case(s2, 2, 0, (const uint64_t[]){0, 0});
	alg1_case(s2, 2, MB(18), (const uint64_t[]){0, MB(1018)});
	alg1_case(s2, 2, MB(500), (const uint64_t[]){0, MB(1100)});
	alg1_case(s3, 3, 0, (const uint64_t[]){0, 0, 0});
	alg1_case(s3, 3, MB(11), (const uint64_t[]){0, MB(1018), 0});
	alg1_case(s3, 3, MB(80), (const uint64_t[]){0, MB(1087), 0});
	alg1_case(s3, 3, MB(200), (const uint64_t[]){0, MB(1107), 0});
}

/* The hand-worked shrink: shares 1:3, goal -400 MiB; only the VM whose
 * share-based size is below its balloon moves, by the 100 MiB limit. */
static void test_proxmox_shrink_by_shares(void **state)
{
	const struct pve_vm s[] = {
	        {4 * GIB, 1000, 3 * GIB, GIB, 512 * MIB},
	        {4 * GIB, 3000, 3 * GIB, GIB, 512 * MIB},
	};
	struct pve_vm big[2];

	(void)state;
	alg1_case(s, 2, -(int64_t)(400 * MIB),
	          (const uint64_t[]){3 * GIB - MB(100), 0});
	/* Within the dead zone (10 MiB) nothing happens at all. */
	alg1_case(s, 2, -(int64_t)(10 * MIB), (const uint64_t[]){0, 0});
	memcpy(big, s, sizeof(big));
	big[1].shares = 1000; /* equal shares: both shrink 100 MiB */
	alg1_case(big, 2, -(int64_t)(400 * MIB),
	          (const uint64_t[]){3 * GIB - MB(100), 3 * GIB - MB(100)});
}

/* ---- the proxmox policy through bln_policy_step ------------------------ */

static void test_proxmox_rounds(void **state)
{
	struct fx f;
	uint64_t prev[FX_MAX];

	(void)state;
	/* Budget 10 GiB, VMs use 9 GiB: 1 GiB above the 80 % target. */
	fx_init(&f, BLN_POLICY_PROXMOX, 10 * GIB);
	for (int i = 0; i < 3; i++)
		fx_add(&f, GIB, 4 * GIB, 3 * GIB, GIB);
	for (int round = 0; round < 6; round++) {
		for (int s = 0; s < 10; s++) { /* the daemon's 1 s ticks */
			for (size_t i = 0; i < f.n; i++)
				prev[i] = f.vm[i].actual_bytes;
			fx_tick(&f);
			for (size_t i = 0; i < f.n; i++) {
				uint64_t a = f.vm[i].actual_bytes;
				uint64_t d =
				        a > prev[i] ? a - prev[i] : prev[i] - a;

				assert_true(d <= 100 * MIB);
				assert_true(a >= GIB);
				if (s != 0) { /* between rounds: silence */
					assert_int_equal(d, 0);
					assert_int_equal(f.out[i].reason,
					                 BLN_REASON_NONE);
				} else if (round < 3) {
					assert_int_equal(d, 100 * MIB);
					assert_int_equal(f.out[i].reason,
					                 BLN_REASON_BASELINE);
				}
			}
		}
	}
	/* Converged on the 80 % host target (within the dead zone and a
	 * step per VM). */
	int64_t goal = (int64_t)(8 * GIB) - (int64_t)fx_sum_actual(&f);

	assert_true(goal > -(int64_t)(10 * MIB + 3 * f.p.step_bytes));
	assert_true(goal < (int64_t)(10 * MIB + 3 * f.p.step_bytes));
}

static void test_proxmox_grows_pressure_first(void **state)
{
	struct fx f;

	(void)state;
	/* Below 80 %: room to grow.  vm0 has no free memory (pressure),
	 * vm1 has plenty: compute_alg1 tries the pressured list first. */
	fx_init(&f, BLN_POLICY_PROXMOX, 10 * GIB);
	fx_add(&f, GIB, 4 * GIB, 2 * GIB, 2 * GIB);
	fx_add(&f, GIB, 4 * GIB, 2 * GIB, 512 * MIB);
	f.p.proxmox_target_pct = 40.5; /* goal = +50 MiB */
	assert_int_equal(fx_step(&f), 0);
	assert_true(f.out[0].target_bytes > 2 * GIB);
	assert_true(f.out[0].target_bytes <= 2 * GIB + 100 * MIB);
	assert_int_equal(f.out[1].target_bytes, 2 * GIB);
	assert_int_equal(f.out[1].reason, BLN_REASON_NONE);
}

/* ---- MOM --------------------------------------------------------------- */

static void mom_world(struct fx *f, double host_free_pct)
{
	uint64_t sum = 3 * GIB;

	fx_init(f, BLN_POLICY_MOM,
	        (uint64_t)((double)sum / (1.0 - host_free_pct / 100.0)));
	fx_add(f, 512 * MIB, 4 * GIB, 2 * GIB, 512 * MIB);
	f->vm[0].free_bytes = 1536 * MIB; /* mem_unused */
	fx_add(f, 512 * MIB, 2 * GIB, GIB, 1000 * MIB);
	f->vm[1].free_bytes = 24 * MIB;
}

static void test_mom_shrink_under_pressure(void **state)
{
	struct fx f;
	double gfree = 0.20 * 0.15 / 0.20; /* min_guest_free scaled */

	(void)state;
	mom_world(&f, 15); /* host free 15 % < pressure_threshold 20 % */
	assert_int_equal(fx_step(&f), 0);
	/* vm0: used 512 MiB; floor = used + gfree * cur; 5 % per round. */
	double floor0 = 512.0 * MIB + gfree * 2 * GIB;
	double size0 = 0.95 * 2 * GIB > floor0 ? 0.95 * 2 * GIB : floor0;

	assert_int_equal(f.out[0].reason, BLN_REASON_BASELINE);
	assert_true(f.out[0].target_bytes >= size0);
	assert_true(f.out[0].target_bytes < size0 + f.p.step_bytes);
	/* vm1 is full: its floor is above the current size, no change. */
	assert_int_equal(f.out[1].target_bytes, GIB);
	assert_int_equal(f.out[1].reason, BLN_REASON_NONE);
	/* nothing until the next round, 10 s later */
	fx_apply(&f);
	for (int s = 1; s < 10; s++) {
		f.now += 1000;
		assert_int_equal(fx_step(&f), 0);
		assert_int_equal(f.out[0].reason, BLN_REASON_NONE);
	}
	f.now += 1000;
	assert_int_equal(fx_step(&f), 0);
	assert_int_equal(f.out[0].reason, BLN_REASON_BASELINE);
}

static void test_mom_critical_forces_below_used(void **state)
{
	struct fx f;

	(void)state;
	mom_world(&f, 3);       /* <= pressure_critical 5 %: guest free -2 % */
	f.vm[0].free_bytes = 0; /* vm0 uses all of its 2 GiB */
	assert_int_equal(fx_step(&f), 0);
	/* floor = used - 2 % of cur = 2007 MiB > 95 % of cur: the target
	 * goes below what the guest uses (MOM forces it to swap). */
	assert_int_equal(f.out[0].reason, BLN_REASON_BASELINE);
	assert_true(f.out[0].target_bytes < 2 * GIB);
	assert_true(f.out[0].target_bytes >= (uint64_t)(0.98 * 2 * GIB));
	assert_true(f.out[0].target_bytes <
	            (uint64_t)(0.98 * 2 * GIB) + f.p.step_bytes);
}

static void test_mom_grow_without_pressure(void **state)
{
	struct fx f;

	(void)state;
	mom_world(&f, 50); /* guest free target = host free = 50 % */
	assert_int_equal(fx_step(&f), 0);
	/* vm0: +5 % of 2 GiB (its free-memory floor is lower) */
	assert_true(f.out[0].target_bytes <= (uint64_t)(1.05 * 2 * GIB));
	assert_true(f.out[0].target_bytes >
	            (uint64_t)(1.05 * 2 * GIB) - f.p.step_bytes);
	/* vm1 is nearly full: grown at once to used + 50 % of its size */
	assert_int_equal(f.out[1].target_bytes, 1000 * MIB + 512 * MIB);
	assert_int_equal(f.out[1].reason, BLN_REASON_BASELINE);

	/* Next round, plenty of host memory: a VM at max does not move; a
	 * change under 0.25 % of the current size is skipped. */
	f.p.budget_bytes = 40 * GIB;
	f.vm[1].actual_bytes = f.vm[1].max_bytes;
	f.vm[0].actual_bytes = 4 * GIB - 8 * MIB; /* 8 MiB < 0.25 % */
	f.now += 10000;
	assert_int_equal(fx_step(&f), 0);
	assert_int_equal(f.out[1].reason, BLN_REASON_NONE);
	assert_int_equal(f.out[0].reason, BLN_REASON_NONE);
	f.vm[0].actual_bytes = 4 * GIB - 16 * MIB; /* 16 MiB > 0.25 % */
	f.now += 10000;
	assert_int_equal(fx_step(&f), 0);
	assert_int_equal(f.out[0].target_bytes, 4 * GIB);
	assert_int_equal(f.out[0].reason, BLN_REASON_BASELINE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_proxmox_alg1_vectors),
	        cmocka_unit_test(test_proxmox_shrink_by_shares),
	        cmocka_unit_test(test_proxmox_rounds),
	        cmocka_unit_test(test_proxmox_grows_pressure_first),
	        cmocka_unit_test(test_mom_shrink_under_pressure),
	        cmocka_unit_test(test_mom_critical_forces_below_used),
	        cmocka_unit_test(test_mom_grow_without_pressure),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
