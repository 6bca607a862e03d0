/* SPDX-License-Identifier: MIT */
/*
 * test_policy_api.c - the policy's contract at its edges: defaults,
 * parameter and input validation (-EINVAL, nothing written), name tables,
 * the urgency test, and determinism of the pure step.
 */
#include <errno.h>
#include <math.h>

#include "policy_fixture.h"

static void test_defaults_valid(void **state)
{
	(void)state;
	for (int k = 0; k < BLN_POLICY_NR; k++) {
		struct bln_policy_params p;

		bln_policy_defaults(&p, (enum bln_policy_kind)k);
		assert_int_equal(p.kind, k);
		assert_int_equal(bln_policy_validate(&p), 0);
		assert_true(p.tax_rate == 0.75);
		assert_true(p.high_pct == 6 && p.soft_pct == 4);
		assert_true(p.hard_pct == 2 && p.low_pct == 1);
		assert_true(p.psi_some_hard == 10);
		assert_int_equal(p.margin_bytes, 64 * MIB);
		assert_int_equal(p.max_shrink_bytes, 256 * MIB);
		assert_int_equal(p.step_bytes, 4 * MIB);
		assert_true(p.aggressiveness == 1.0);
		assert_int_equal(p.tick_ms, 1000);
		assert_true(p.proxmox_target_pct == 80);
		assert_int_equal(p.proxmox_step_bytes, 100 * MIB);
		assert_int_equal(p.baseline_interval_ms, 10000);
	}
}

#define BAD(field, value)                                                      \
	do {                                                                   \
		struct bln_policy_params q;                                    \
		bln_policy_defaults(&q, BLN_POLICY_IDLETAX);                   \
		q.field = value;                                               \
		assert_int_equal(bln_policy_validate(&q), -EINVAL);            \
	} while (0)

static void test_validate_rejects(void **state)
{
	(void)state;
	assert_int_equal(bln_policy_validate(NULL), -EINVAL);
	BAD(kind, BLN_POLICY_NR);
	BAD(tax_rate, 1.0);
	BAD(tax_rate, -0.1);
	BAD(tax_rate, NAN);
	BAD(aggressiveness, 1.5);
	BAD(aggressiveness, -0.01);
	BAD(high_pct, 3.0); /* below soft */
	BAD(low_pct, 3.0);  /* above hard */
	BAD(soft_pct, 101);
	BAD(psi_some_hard, 0);
	BAD(step_bytes, 0);
	BAD(step_bytes, 4096 + 1); /* not whole balloon pages */
	BAD(max_shrink_bytes, 0);
	BAD(tick_ms, 0);
	BAD(proxmox_target_pct, 0);
	BAD(proxmox_step_bytes, 0);
	BAD(baseline_interval_ms, 0);
}

static void expect_einval_untouched(struct fx *f)
{
	struct bln_policy_state st = f->st;

	memset(f->out, 0xab, sizeof(f->out));
	assert_int_equal(fx_step(f), -EINVAL);
	assert_memory_equal(&st, &f->st, sizeof(st));
	for (size_t i = 0; i < f->n; i++)
		assert_int_equal(f->out[i].target_bytes, 0xababababababababull);
}

static void test_step_rejects(void **state)
{
	struct fx f;

	(void)state;
	fx_init(&f, BLN_POLICY_IDLETAX, 8 * GIB);
	fx_add(&f, 256 * MIB, 2 * GIB, 2 * GIB, 512 * MIB);
	fx_tick(&f);

	f.vm[0].min_bytes = 3 * GIB; /* min > max */
	expect_einval_untouched(&f);
	f.vm[0].min_bytes = 256 * MIB;
	f.vm[0].max_bytes = 0;
	f.vm[0].min_bytes = 0;
	expect_einval_untouched(&f);
	f.vm[0].max_bytes = 2 * GIB;
	f.now = 10; /* clock went backwards */
	expect_einval_untouched(&f);
	f.now = 5000;
	f.p.tax_rate = 2; /* invalid parameters */
	expect_einval_untouched(&f);
	f.p.tax_rate = 0.75;
	f.p.budget_bytes = 0;
	f.host.total_bytes = 0; /* nothing to refer percentages to */
	expect_einval_untouched(&f);
	f.host.total_bytes = 24 * GIB;

	assert_int_equal(
	        bln_policy_step(&f.p, NULL, &f.host, f.vm, f.vst, f.out, 1),
	        -EINVAL);
	assert_int_equal(
	        bln_policy_step(&f.p, &f.st, NULL, f.vm, f.vst, f.out, 1),
	        -EINVAL);
	assert_int_equal(
	        bln_policy_step(&f.p, &f.st, &f.host, NULL, f.vst, f.out, 1),
	        -EINVAL);
	assert_int_equal(
	        bln_policy_step(NULL, &f.st, &f.host, f.vm, f.vst, f.out, 1),
	        -EINVAL);
	/* no VMs is fine */
	assert_int_equal(
	        bln_policy_step(&f.p, &f.st, &f.host, NULL, NULL, NULL, 0), 0);
	assert_int_equal(fx_step(&f), 0);
}

static void test_names(void **state)
{
	(void)state;
	for (int k = 0; k < BLN_POLICY_NR; k++) {
		enum bln_policy_kind v;

		assert_int_equal(
		        bln_policy_kind_parse(bln_policy_kind_name(k), &v), 0);
		assert_int_equal(v, k);
	}
	for (int r = 0; r < BLN_REASON_NR; r++) {
		enum bln_reason v;

		assert_int_equal(bln_reason_parse(bln_reason_name(r), &v), 0);
		assert_int_equal(v, r);
	}
	for (int s = 0; s < BLN_HOST_NR; s++) {
		enum bln_host_state v;

		assert_int_equal(
		        bln_host_state_parse(bln_host_state_name(s), &v), 0);
		assert_int_equal(v, s);
	}
	assert_string_equal(bln_policy_kind_name(BLN_POLICY_IDLETAX),
	                    "idletax");
	assert_string_equal(bln_policy_kind_name(BLN_POLICY_PROXMOX),
	                    "proxmox");
	assert_string_equal(bln_reason_name(BLN_REASON_LAST_RESORT),
	                    "last-resort");
	assert_string_equal(bln_reason_name(BLN_REASON_PINNED), "pinned");
	assert_string_equal(bln_host_state_name(BLN_HOST_HIGH), "high");
	assert_string_equal(bln_policy_kind_name(BLN_POLICY_NR), "?");
	assert_string_equal(bln_reason_name(BLN_REASON_NR), "?");
	assert_string_equal(bln_host_state_name(BLN_HOST_NR), "?");

	enum bln_policy_kind k;
	enum bln_reason r;
	enum bln_host_state s;

	assert_int_equal(bln_policy_kind_parse("esx", &k), -EINVAL);
	assert_int_equal(bln_policy_kind_parse(NULL, &k), -EINVAL);
	assert_int_equal(bln_policy_kind_parse("mom", NULL), -EINVAL);
	assert_int_equal(bln_reason_parse("Floor", &r), -EINVAL);
	assert_int_equal(bln_host_state_parse("", &s), -EINVAL);
}

static void test_urgent(void **state)
{
	struct fx f;
	struct bln_policy_vm vm;

	(void)state;
	fx_init(&f, BLN_POLICY_IDLETAX, 64 * GIB);
	fx_add(&f, 256 * MIB, 4 * GIB, 1 * GIB, 512 * MIB);
	/* Before any step: only a collapse of available memory counts. */
	assert_false(bln_policy_urgent(&f.p, &f.vm[0], &f.vst[0]));
	vm = f.vm[0];
	vm.avail_bytes = 17 * MIB;
	assert_false(bln_policy_urgent(&f.p, &vm, &f.vst[0]));
	vm.avail_bytes = 15 * MIB;
	assert_true(bln_policy_urgent(&f.p, &vm, &f.vst[0]));
	fx_tick(&f);
	assert_false(bln_policy_urgent(&f.p, &f.vm[0], &f.vst[0]));

	/* Plenty available: swap traffic alone is no emergency. */
	vm = f.vm[0];
	vm.swap_in_bytes += 64 * MIB;
	vm.swap_out_bytes += 64 * MIB;
	vm.major_faults += 10000;
	assert_false(bln_policy_urgent(&f.p, &vm, &f.vst[0]));
	/* Low available without demand: a squeezed idle guest. */
	vm = f.vm[0];
	vm.avail_bytes = 12 * MIB;
	assert_false(bln_policy_urgent(&f.p, &vm, &f.vst[0]));
	vm.swap_out_bytes += MIB - 4096; /* below the threshold */
	assert_false(bln_policy_urgent(&f.p, &vm, &f.vst[0]));
	vm.swap_out_bytes += 4096;
	assert_true(bln_policy_urgent(&f.p, &vm, &f.vst[0]));
	vm.actual_bytes = vm.target_bytes + 8 * MIB; /* we inflate it */
	assert_false(bln_policy_urgent(&f.p, &vm, &f.vst[0]));
	vm = f.vm[0];
	vm.avail_bytes = 12 * MIB;
	vm.major_faults += 255;
	assert_false(bln_policy_urgent(&f.p, &vm, &f.vst[0]));
	vm.major_faults += 1;
	assert_true(bln_policy_urgent(&f.p, &vm, &f.vst[0]));
	vm = f.vm[0];
	vm.avail_bytes = 12 * MIB;
	vm.minor_faults += 256; /* new pages */
	assert_true(bln_policy_urgent(&f.p, &vm, &f.vst[0]));
	/* Fast growth: urgent before the collapse (512 MiB available as
	 * before, 512 MiB of new pages in the last interval: gone within
	 * the next one); slower growth (480 MiB) is not urgent yet. */
	vm = f.vm[0];
	vm.minor_faults += 512 * MIB / 4096;
	assert_true(bln_policy_urgent(&f.p, &vm, &f.vst[0]));
	vm.minor_faults -= 32 * MIB / 4096;
	assert_false(bln_policy_urgent(&f.p, &vm, &f.vst[0]));
	vm = f.vm[0];
	vm.oom_kills += 1;
	assert_true(bln_policy_urgent(&f.p, &vm, &f.vst[0]));
	vm.avail_bytes = 0; /* collapsed ... */
	vm.pinned = true;   /* ... but pinned: the policy may not act */
	assert_false(bln_policy_urgent(&f.p, &vm, &f.vst[0]));
	vm.pinned = false;
	vm.target_bytes = vm.max_bytes; /* nothing left to give */
	assert_false(bln_policy_urgent(&f.p, &vm, &f.vst[0]));
	vm.target_bytes = GIB;
	vm.stats_valid = false;
	assert_false(bln_policy_urgent(&f.p, &vm, &f.vst[0]));
	vm.stats_valid = true;
	assert_true(bln_policy_urgent(&f.p, &vm, &f.vst[0]));
	f.p.kind = BLN_POLICY_PROXMOX; /* baselines never react early */
	assert_false(bln_policy_urgent(&f.p, &vm, &f.vst[0]));
	assert_false(bln_policy_urgent(NULL, &vm, &f.vst[0]));
}

/* Samples closer than a tick (balloonvm's stats alerts): the growth
 * between them is projected over one tick, at most 20 x (50 ms floor). */
static void test_urgent_rate(void **state)
{
	struct fx f;
	struct bln_policy_vm vm;
	struct bln_policy_vm_state st;
	uint64_t minflt;

	(void)state;
	fx_init(&f, BLN_POLICY_IDLETAX, 64 * GIB);
	fx_add(&f, 256 * MIB, 4 * GIB, 1 * GIB, 512 * MIB);
	fx_tick(&f);
	st = f.vst[0];
	st.prev_stats_ms = 10000;
	vm = f.vm[0];
	minflt = vm.minor_faults;
	/* 52 MiB in 100 ms: 520 MiB per tick > 512 available */
	vm.minor_faults = minflt + 52 * MIB / 4096;
	vm.stats_ms = 10100;
	assert_true(bln_policy_urgent(&f.p, &vm, &st));
	vm.stats_ms = 11000; /* the same over a whole tick: no hurry */
	assert_false(bln_policy_urgent(&f.p, &vm, &st));
	vm.stats_ms = 0; /* no timestamp: taken as one interval */
	assert_false(bln_policy_urgent(&f.p, &vm, &st));
	vm.stats_ms = 10100; /* 40 MiB in 100 ms: 400 + 16 < 512 */
	vm.minor_faults = minflt + 40 * MIB / 4096;
	assert_false(bln_policy_urgent(&f.p, &vm, &st));
	/* 10 ms counts as 50 ms: 24 MiB -> 480 + 16 < 512, 26 -> 520 */
	vm.stats_ms = 10010;
	vm.minor_faults = minflt + 24 * MIB / 4096;
	assert_false(bln_policy_urgent(&f.p, &vm, &st));
	vm.minor_faults = minflt + 26 * MIB / 4096;
	assert_true(bln_policy_urgent(&f.p, &vm, &st));
	vm.stats_ms = 9000; /* older than the previous sample: as is */
	assert_false(bln_policy_urgent(&f.p, &vm, &st));
	/* a step remembers when its counters were taken */
	f.vm[0].stats_ms = 12345;
	fx_tick(&f);
	assert_int_equal(f.vst[0].prev_stats_ms, 12345);
}

/* Same inputs and state, same outputs: nothing hidden (no clock, no
 * globals). */
static void test_deterministic(void **state)
{
	struct fx a, *b = test_malloc(sizeof(*b));

	(void)state;
	fx_init(&a, BLN_POLICY_IDLETAX, 5 * GIB);
	for (int i = 0; i < 6; i++)
		fx_add(&a, 128 * MIB, GIB, GIB,
		       (uint64_t)(100 + 150 * i) * MIB);
	for (int t = 0; t < 5; t++) {
		*b = a;
		assert_int_equal(fx_step(&a), 0);
		assert_int_equal(fx_step(b), 0);
		assert_memory_equal(a.out, b->out, sizeof(a.out));
		assert_memory_equal(a.vst, b->vst, sizeof(a.vst));
		assert_memory_equal(&a.st, &b->st, sizeof(a.st));
		fx_apply(&a);
		a.now += 1000;
	}
	test_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_defaults_valid),
	        cmocka_unit_test(test_validate_rejects),
	        cmocka_unit_test(test_step_rejects),
	        cmocka_unit_test(test_names),
	        cmocka_unit_test(test_urgent),
	        cmocka_unit_test(test_urgent_rate),
	        cmocka_unit_test(test_deterministic),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
