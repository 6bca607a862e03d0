/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the guest memory manager core: the frame database and its
 * invariants, first-touch zeroing, reclaim order (page cache before anon),
 * swap-out/swap-in round trips of full page contents through the real swap
 * file, kswapd, and the OOM killer with and without a deflate-on-OOM
 * notifier.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_gmm_rig.h"

/* Content of word @w of page @v of a process, for full-page checks. */
static uint64_t pat(uint64_t v, unsigned w)
{
	return (v + 1) * UINT64_C(0x9e3779b97f4a7c15) ^ ((uint64_t)w << 40);
}

static void write_page(void *mem, uint64_t v)
{
	uint64_t *p = mem;

	for (unsigned w = 0; w < GMM_PAGE_SIZE / 8; w++)
		p[w] = pat(v, w);
}

static bool page_ok(const void *mem, uint64_t v)
{
	const uint64_t *p = mem;

	for (unsigned w = 0; w < GMM_PAGE_SIZE / 8; w++)
		if (p[w] != pat(v, w))
			return false;
	return true;
}

static bool page_zero(const void *mem)
{
	const uint64_t *p = mem;

	for (unsigned w = 0; w < GMM_PAGE_SIZE / 8; w++)
		if (p[w])
			return false;
	return true;
}

static void test_alloc_invariants(void **state)
{
	struct rig r;
	struct gmm_proc *p;
	struct gmm_stats s;
	uint8_t *seen;
	void *mem;

	(void)state;
	rig_up(&r, 16, 0, NULL);
	s = rig_stats(&r);
	assert_int_equal(s.total, 4096);
	assert_int_equal(s.kernel, 16);
	assert_int_equal(s.free, 4096 - 16);
	assert_int_equal(gmm_frame_state(r.g, 0), GMM_FRAME_KERNEL);
	seen = calloc(4096, 1);
	assert_non_null(seen);
	assert_int_equal(gmm_proc_create(r.g, "a", 3000, &p), 0);
	for (uint64_t v = 0; v < 3000; v++) {
		uint64_t pfn;

		assert_int_equal(gmm_touch(p, v, true, &mem), GMM_FAULT_MINOR);
		pfn = rig_pfn(&r, mem);
		assert_true(pfn >= 16 && pfn < 4096); /* never firmware */
		assert_false(seen[pfn]); /* never handed out twice */
		seen[pfn] = 1;
		assert_true(page_zero(mem)); /* garbage was zeroed */
		write_page(mem, v);
		assert_int_equal(gmm_frame_state(r.g, pfn), GMM_FRAME_ANON);
	}
	assert_int_equal(gmm_check(r.g), 0);
	for (uint64_t v = 0; v < 3000; v++) {
		assert_int_equal(gmm_touch(p, v, false, &mem), GMM_FAULT_NONE);
		assert_true(page_ok(mem, v));
	}
	s = rig_stats(&r);
	assert_int_equal(s.anon, 3000);
	assert_int_equal(s.free, 4096 - 16 - 3000);
	assert_int_equal(s.minor_faults, 3000);
	assert_int_equal(s.alloc_stalls, 0);
	for (uint64_t v = 0; v < 3000; v += 2)
		assert_int_equal(gmm_release(p, v), 0);
	assert_int_equal(gmm_check(r.g), 0);
	s = rig_stats(&r);
	assert_int_equal(s.anon, 1500);
	assert_int_equal(s.free, 4096 - 16 - 1500);
	/* shrinking the address space frees its pages too */
	assert_int_equal(gmm_proc_resize(p, 1000), 0);
	assert_int_equal(rig_stats(&r).anon, 500);
	assert_int_equal(gmm_touch(p, 1000, false, &mem), -EINVAL);
	assert_int_equal(gmm_check(r.g), 0);
	gmm_proc_destroy(p);
	s = rig_stats(&r);
	assert_int_equal(s.anon, 0);
	assert_int_equal(s.free, 4096 - 16);
	free(seen);
	rig_down(&r);
}

static void fill_cache(struct rig *r, struct gmm_file **f, uint64_t pages)
{
	const void *mem;

	assert_int_equal(gmm_file_create(r->g, pages * GMM_PAGE_SIZE, f), 0);
	while (gmm_file_fill(*f, 1024) == 1)
		;
	for (uint64_t i = 0; i < pages; i++) {
		assert_int_equal(gmm_file_read(*f, i, &mem), 1); /* miss */
		assert_int_equal(((const uint64_t *)mem)[7],
		                 gmm_file_word(i, 7));
	}
	assert_int_equal(gmm_file_read(*f, 0, &mem), 0); /* hit */
}

static void test_reclaim_cache_first(void **state)
{
	struct rig r;
	struct gmm_file *f;
	struct gmm_proc *p;
	struct gmm_stats s;
	uint64_t v = 0;
	void *mem;

	(void)state;
	rig_up(&r, 16, 32, NULL);
	fill_cache(&r, &f, 1024);
	s = rig_stats(&r);
	assert_int_equal(s.cache, 1024);
	assert_int_equal(s.caches_bytes, 1024 * GMM_PAGE_SIZE);
	assert_int_equal(s.cache_misses, 1024);
	assert_int_equal(gmm_proc_create(r.g, "a", 8192, &p), 0);
	/* Anon pressure: every reclaimed frame must come from the cache as
	 * long as there is cache; the first swap-out only once it is gone. */
	for (; v < 5000; v++) {
		assert_true(gmm_touch(p, v, true, &mem) >= 0);
		write_page(mem, v);
		s = rig_stats(&r);
		if (s.swap_out_bytes) {
			assert_int_equal(s.cache, 0);
			break;
		}
	}
	assert_true(v < 5000); /* swapping did start */
	assert_true(s.alloc_stalls > 0);
	assert_true(s.direct_reclaim >= 1024);
	assert_true(s.direct_scan >= s.direct_reclaim);
	assert_int_equal(gmm_file_cached(f), 0);
	assert_int_equal(gmm_check(r.g), 0);
	/* dropped cache pages are read again from the file, intact */
	assert_int_equal(gmm_file_read(f, 5, (const void **)&mem), 1);
	assert_int_equal(((uint64_t *)mem)[511], gmm_file_word(5, 511));
	gmm_file_destroy(f);
	gmm_proc_destroy(p);
	rig_down(&r);
}

static void test_swap_round_trip(void **state)
{
	const uint64_t n = 6000; /* 23 MiB through 8 MiB of RAM */
	struct gmm_proc_info pi;
	struct gmm_stats s;
	struct gmm_proc *p;
	struct rig r;
	uint64_t major = 0;
	void *mem;

	(void)state;
	rig_up(&r, 8, 32, NULL);
	assert_int_equal(gmm_proc_create(r.g, "big", n, &p), 0);
	for (uint64_t v = 0; v < n; v++) {
		assert_int_equal(gmm_touch(p, v, true, &mem), GMM_FAULT_MINOR);
		write_page(mem, v);
	}
	gmm_proc_info(p, &pi);
	assert_int_equal(pi.resident + pi.swapped, n);
	assert_true(pi.swapped > n / 2);
	s = rig_stats(&r);
	assert_int_equal(s.swap_used, pi.swapped);
	assert_true(s.swap_out_bytes >= pi.swapped * GMM_PAGE_SIZE);
	assert_int_equal(s.swap_in_bytes, 0);
	assert_int_equal(gmm_check(r.g), 0);
	/* read everything back, in a different order; every byte intact */
	for (uint64_t i = 0; i < n; i++) {
		uint64_t v = (i * 7919) % n;
		int ret = gmm_touch(p, v, false, &mem);

		assert_true(ret >= 0 && ret != GMM_FAULT_MINOR);
		major += ret == GMM_FAULT_MAJOR;
		assert_true(page_ok(mem, v));
	}
	s = rig_stats(&r);
	gmm_proc_info(p, &pi);
	assert_true(major > n / 2);
	assert_int_equal(s.major_faults, major);
	assert_int_equal(pi.major_faults, major);
	assert_int_equal(s.swap_in_bytes, major * GMM_PAGE_SIZE);
	assert_int_equal(s.oom_kills, 0);
	assert_int_equal(gmm_check(r.g), 0);
	gmm_proc_destroy(p);
	assert_int_equal(rig_stats(&r).swap_used, 0);
	rig_down(&r);
}

static void test_kswapd(void **state)
{
	struct gmm_stats s;
	struct gmm_proc *p;
	struct rig r;
	void *mem;
	uint64_t v = 0;

	(void)state;
	rig_up(&r, 8, 16, NULL);
	assert_int_equal(gmm_proc_create(r.g, "a", 4096, &p), 0);
	/* Touch until free is under low (80) but above min (64). */
	while (rig_stats(&r).free >= 76)
		assert_int_equal(gmm_touch(p, v++, true, &mem),
		                 GMM_FAULT_MINOR);
	s = rig_stats(&r);
	assert_int_equal(s.alloc_stalls, 0);
	assert_int_equal(s.async_scan, 0);
	for (unsigned i = 0; i < 8 && rig_stats(&r).free < s.wmark_high; i++)
		gmm_tick(r.g);
	s = rig_stats(&r);
	assert_true(s.free >= s.wmark_high);
	assert_true(s.async_reclaim > 0);
	assert_true(s.async_scan >= s.async_reclaim);
	assert_true(s.swap_out_bytes > 0);
	assert_int_equal(s.direct_scan, 0);
	/* the published snapshot is what the tick saw */
	{
		struct gmm_stats snap;

		gmm_stats_snapshot(r.g, &snap);
		assert_int_equal(snap.async_reclaim, s.async_reclaim);
		assert_true(snap.seq > 0);
	}
	gmm_proc_destroy(p);
	rig_down(&r);
}

/* Fill process @p with @n pages of its pattern; returns the first error. */
static int grow(struct gmm_proc *p, uint64_t from, uint64_t n)
{
	void *mem;

	for (uint64_t v = from; v < from + n; v++) {
		int ret = gmm_touch(p, v, true, &mem);

		if (ret < 0)
			return ret;
		write_page(mem, v);
	}
	return 0;
}

static void test_oom_kills_largest(void **state)
{
	struct gmm_proc *a, *b, *c;
	struct gmm_stats s;
	struct rig r;
	uint64_t vals[VIRTIO_BALLOON_S_NR] = {0};
	uint32_t valid = 0;
	void *mem;

	(void)state;
	rig_up(&r, 8, 0, NULL); /* no swap */
	assert_int_equal(gmm_proc_create(r.g, "small", 200, &a), 0);
	assert_int_equal(gmm_proc_create(r.g, "large", 1500, &b), 0);
	assert_int_equal(gmm_proc_create(r.g, "new", 2048, &c), 0);
	assert_int_equal(grow(a, 0, 200), 0);
	assert_int_equal(grow(b, 0, 1500), 0);
	/* c needs more than what is free: the OOM killer takes b */
	assert_int_equal(grow(c, 0, 800), 0);
	assert_int_equal(gmm_touch(b, 0, false, &mem), -ESRCH);
	assert_int_equal(gmm_touch(a, 0, false, &mem), GMM_FAULT_NONE);
	for (uint64_t v = 0; v < 200; v++) {
		assert_int_equal(gmm_touch(a, v, false, &mem), GMM_FAULT_NONE);
		assert_true(page_ok(mem, v));
	}
	s = rig_stats(&r);
	assert_int_equal(s.oom_kills, 1);
	gmm_fill_stats(r.g, vals, &valid);
	assert_int_equal(valid, 0xffff);
	assert_int_equal(vals[VIRTIO_BALLOON_S_OOM_KILL], 1);
	assert_int_equal(gmm_check(r.g), 0);
	/* now c is the largest: growing it further kills c itself */
	assert_int_equal(grow(c, 800, 2048 - 800), -ESRCH);
	assert_int_equal(rig_stats(&r).oom_kills, 2);
	assert_int_equal(gmm_touch(a, 1, false, &mem), GMM_FAULT_NONE);
	assert_true(page_ok(mem, 1));
	assert_int_equal(gmm_proc_resize(c, 10), -ESRCH);
	assert_int_equal(gmm_check(r.g), 0);
	gmm_proc_destroy(a);
	gmm_proc_destroy(b);
	gmm_proc_destroy(c);
	assert_int_equal(rig_stats(&r).free, 2048 - 16);
	rig_down(&r);
}

/* A stand-in for the balloon's deflate-on-OOM: it holds pages taken with
 * gmm_balloon_alloc() and gives back what it is asked for. */
struct fake_balloon {
	struct gmm *g;
	uint32_t pfns[1024];
	unsigned n, calls;
};

static size_t fake_oom(void *ctx, size_t want)
{
	struct fake_balloon *b = ctx;
	unsigned k = want < b->n ? (unsigned)want : b->n;

	b->calls++;
	b->n -= k;
	gmm_balloon_free(b->g, b->pfns + b->n, k);
	return k;
}

static void test_oom_notifier(void **state)
{
	struct fake_balloon b = {0};
	struct gmm_proc *p;
	struct gmm_stats s;
	struct rig r;
	uint64_t v = 0;

	(void)state;
	rig_up(&r, 8, 0, NULL);
	b.g = r.g;
	b.n = gmm_balloon_alloc(r.g, b.pfns, 1024);
	assert_int_equal(b.n, 1024);
	gmm_set_oom_notifier(r.g, fake_oom, &b);
	assert_int_equal(gmm_proc_create(r.g, "p", 4096, &p), 0);
	/* 2032 managed - 1024 ballooned: 1500 pages only fit if the notifier
	 * deflates; nobody may be killed. */
	assert_int_equal(grow(p, 0, 1500), 0);
	s = rig_stats(&r);
	assert_int_equal(s.oom_kills, 0);
	assert_true(b.calls > 0);
	assert_true(b.n < 1024);
	assert_int_equal(s.balloon, b.n);
	assert_int_equal(s.oom_notified, 1024 - b.n);
	assert_int_equal(gmm_check(r.g), 0);
	/* once the balloon is empty, the OOM killer runs after all */
	for (v = 1500; v < 4096; v++)
		if (grow(p, v, 1) < 0)
			break;
	assert_true(v < 4096);
	assert_int_equal(b.n, 0);
	assert_int_equal(rig_stats(&r).oom_kills, 1);
	gmm_proc_destroy(p);
	rig_down(&r);
}

static void test_create_errors(void **state)
{
	struct gmm_cfg cfg = {0};
	struct gmm *g;
	static uint8_t ram[4096 * 80] __attribute__((aligned(4096)));

	(void)state;
	assert_int_equal(gmm_create(&cfg, &g), -EINVAL);
	cfg.ram = ram;
	cfg.npages = 80;
	cfg.reserved = 40; /* too little left */
	assert_int_equal(gmm_create(&cfg, &g), -EINVAL);
	cfg.reserved = 0;
	cfg.ram = ram + 8; /* unaligned */
	assert_int_equal(gmm_create(&cfg, &g), -EINVAL);
	cfg.ram = ram;
	cfg.dir = "/nonexistent-dir-for-gmm";
	cfg.swap_bytes = MIB;
	assert_int_equal(gmm_create(&cfg, &g), -ENOENT);
	cfg.swap_bytes = 0;
	assert_int_equal(gmm_create(&cfg, &g), 0);
	assert_int_equal(gmm_check(g), 0);
	gmm_destroy(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_alloc_invariants),
	        cmocka_unit_test(test_reclaim_cache_first),
	        cmocka_unit_test(test_swap_round_trip),
	        cmocka_unit_test(test_kswapd),
	        cmocka_unit_test(test_oom_kills_largest),
	        cmocka_unit_test(test_oom_notifier),
	        cmocka_unit_test(test_create_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
