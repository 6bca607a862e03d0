/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of what the balloon driver sees of the gmm (gmm_driver_ops):
 * inflation takes free frames first, reclaims (cache, then swapped anon)
 * under pressure, refuses below the floor and never OOM-kills; deflation;
 * free page reporting isolates whole aligned runs and keeps them out of the
 * allocator until done; the virtio-balloon stats.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "test_gmm_rig.h"

static uint32_t pfns[8192];

static void touch_n(struct gmm_proc *p, uint64_t from, uint64_t n)
{
	void *mem;

	for (uint64_t v = from; v < from + n; v++) {
		assert_true(gmm_touch(p, v, true, &mem) >= 0);
		*(uint64_t *)mem = v + 1;
	}
}

static void cache_n(struct rig *r, struct gmm_file **f, uint64_t n)
{
	const void *mem;

	assert_int_equal(gmm_file_create(r->g, n * GMM_PAGE_SIZE, f), 0);
	while (gmm_file_fill(*f, 4096) == 1)
		;
	for (uint64_t i = 0; i < n; i++)
		assert_int_equal(gmm_file_read(*f, i, &mem), 1);
}

static void check_anon(struct gmm_proc *p, uint64_t n)
{
	void *mem;

	for (uint64_t v = 0; v < n; v++) {
		assert_true(gmm_touch(p, v, false, &mem) >= 0);
		assert_int_equal(*(uint64_t *)mem, v + 1);
	}
}

static void test_inflate_free_first_then_reclaim(void **state)
{
	struct gmm_file *f;
	struct gmm_proc *p;
	struct gmm_stats s;
	struct rig r;
	unsigned got;

	(void)state;
	rig_up(&r, 16, 32, NULL); /* 4080 managed pages, floor 256 */
	cache_n(&r, &f, 500);
	assert_int_equal(gmm_proc_create(r.g, "p", 1000, &p), 0);
	touch_n(p, 0, 1000);
	/* plenty free: the balloon gets free frames, nothing is reclaimed */
	got = gmm_driver_ops.alloc_pages(r.g, pfns, 1000);
	assert_int_equal(got, 1000);
	for (unsigned i = 0; i < got; i++) {
		assert_true(pfns[i] >= 16);
		assert_int_equal(gmm_frame_state(r.g, pfns[i]),
		                 GMM_FRAME_BALLOON);
	}
	s = rig_stats(&r);
	assert_int_equal(s.balloon, 1000);
	assert_int_equal(s.cache, 500);
	assert_int_equal(s.anon, 1000);
	assert_int_equal(s.alloc_stalls, 0);
	assert_int_equal(s.memtotal_bytes, (4080 - 1000) * GMM_PAGE_SIZE);
	/* 1580 free + 500 cache: 1700 more fit above the floor (256) by
	 * dropping page cache, without swapping */
	got = gmm_balloon_alloc(r.g, pfns + 1000, 1700);
	assert_int_equal(got, 1700);
	s = rig_stats(&r);
	assert_true(s.cache < 500);
	assert_int_equal(s.swap_out_bytes, 0);
	assert_int_equal(s.anon, 1000);
	assert_true(s.direct_reclaim > 0 && s.alloc_stalls == 1);
	assert_int_equal(s.free + s.cache, 2080 - 1700);
	/* 400 more: only 124 are above the floor, the rest means swapping
	 * anon out (free + cache stays at the floor, nobody is killed) */
	got = gmm_balloon_alloc(r.g, pfns + 2700, 400);
	assert_int_equal(got, 400);
	s = rig_stats(&r);
	assert_true(s.swap_out_bytes >= 276 * GMM_PAGE_SIZE);
	assert_true(s.anon <= 1000 - 276);
	assert_true(s.free + s.cache >= s.floor);
	assert_int_equal(s.balloon, 3100);
	assert_int_equal(s.oom_kills, 0);
	assert_int_equal(gmm_check(r.g), 0);
	check_anon(p, 1000); /* swapped pages come back intact */
	/* deflate everything: frames are free (and clean) again */
	gmm_driver_ops.free_pages(r.g, pfns, 3100);
	s = rig_stats(&r);
	assert_int_equal(s.balloon, 0);
	assert_int_equal(s.balloon_frees, 3100);
	assert_true(s.free_clean > 0);
	assert_int_equal(s.bad_pfns, 0);
	gmm_file_destroy(f);
	gmm_proc_destroy(p);
	rig_down(&r);
}

static void test_inflate_floor_without_swap(void **state)
{
	struct gmm_file *f;
	struct gmm_proc *p;
	struct gmm_stats s;
	struct rig r;
	unsigned got;

	(void)state;
	rig_up(&r, 16, 0, NULL);
	cache_n(&r, &f, 300);
	assert_int_equal(gmm_proc_create(r.g, "p", 2000, &p), 0);
	touch_n(p, 0, 1000);
	got = gmm_balloon_alloc(r.g, pfns, 4000);
	assert_true(got > 2000 && got < 4000);
	s = rig_stats(&r);
	/* stopped exactly at the floor: free + cache == floor */
	assert_int_equal(s.free + s.cache, s.floor);
	assert_int_equal(s.anon, 1000);
	assert_int_equal(s.oom_kills, 0);
	assert_int_equal(s.balloon, got);
	assert_int_equal(gmm_balloon_alloc(r.g, pfns + got, 10), 0);
	/* the floor is real: the guest can still allocate into it */
	touch_n(p, 1000, 100);
	assert_int_equal(rig_stats(&r).oom_kills, 0);
	check_anon(p, 1100);
	gmm_balloon_free(r.g, pfns, got);
	gmm_file_destroy(f);
	gmm_proc_destroy(p);
	rig_down(&r);
}

static void test_deflate_bad_pfns(void **state)
{
	struct gmm_proc *p;
	struct rig r;
	void *mem;
	uint32_t bad[3];

	(void)state;
	rig_up(&r, 8, 0, NULL);
	assert_int_equal(gmm_proc_create(r.g, "p", 10, &p), 0);
	assert_int_equal(gmm_touch(p, 0, true, &mem), GMM_FAULT_MINOR);
	assert_int_equal(gmm_balloon_alloc(r.g, pfns, 10), 10);
	bad[0] = (uint32_t)rig_pfn(&r, mem); /* an anon page */
	bad[1] = 3;                          /* firmware */
	bad[2] = 999999;                     /* out of RAM */
	gmm_balloon_free(r.g, bad, 3);
	assert_int_equal(rig_stats(&r).bad_pfns, 3);
	assert_int_equal(gmm_frame_state(r.g, bad[0]), GMM_FRAME_ANON);
	assert_int_equal(gmm_frame_state(r.g, 3), GMM_FRAME_KERNEL);
	gmm_balloon_free(r.g, pfns, 10);
	gmm_balloon_free(r.g, pfns, 1); /* twice: refused */
	assert_int_equal(rig_stats(&r).bad_pfns, 4);
	assert_int_equal(rig_stats(&r).balloon, 0);
	gmm_proc_destroy(p);
	rig_down(&r);
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Contiguous runs of PFNs among @a[0..n) (sorted in place), as the device
 * coalesces one request: a release call each. */
static unsigned count_runs(uint32_t *a, unsigned n)
{
	unsigned runs = 0;

	qsort(a, n, sizeof(*a), cmp_u32);
	for (unsigned i = 0; i < n; i++)
		if (!i || a[i] != a[i - 1] + 1)
			runs++;
	return runs;
}

/* One inflate request of @n pages as balloonvm's guest thread builds it:
 * gmm_balloon_alloc() calls of at most 256 pages (vcpu.c). */
static void balloon_request(struct rig *r, uint32_t *out, unsigned n)
{
	for (unsigned got = 0; got < n; got += 256)
		assert_int_equal(gmm_balloon_alloc(r->g, out + got, 256), 256);
}

/*
 * A workload freed its pages in scrambled order, so the LIFO free list
 * interleaves frames from all over RAM (what a churned guest looks like).
 * The balloon must still get each request as one contiguous run, and
 * consecutive requests adjacent, so that the device releases them with a
 * few calls (it merges single-run requests that extend each other).
 * Taking the free list's head gives hundreds of runs per request here.
 */
static void test_inflate_runs_after_churn(void **state)
{
	enum { TOUCHED = 15000, REQ = 1024, NREQ = 12 };
	static uint32_t all[REQ * NREQ];
	struct gmm_proc *p;
	struct rig r;

	(void)state;
	rig_up(&r, 64, 0, NULL); /* frames 16..16383 */
	assert_int_equal(gmm_proc_create(r.g, "p", TOUCHED, &p), 0);
	touch_n(p, 0, TOUCHED);
	for (uint64_t k = 0; k < TOUCHED; k++) /* 7919 is prime to 15000 */
		assert_int_equal(gmm_release(p, k * 7919 % TOUCHED), 0);
	for (unsigned i = 0; i < NREQ; i++) {
		uint32_t *req = all + i * REQ;

		balloon_request(&r, req, REQ);
		assert_int_equal(count_runs(req, REQ), 1); /* sorts it */
		if (i) /* extends the previous request: one window */
			assert_true(req[0] + REQ == req[-REQ] ||
			            req[-REQ] + REQ == req[0]);
	}
	assert_int_equal(count_runs(all, NREQ * REQ), 1);
	for (unsigned i = 0; i < NREQ * REQ; i++)
		assert_int_equal(gmm_frame_state(r.g, all[i]),
		                 GMM_FRAME_BALLOON);
	assert_int_equal(rig_stats(&r).balloon, NREQ * REQ);
	assert_int_equal(gmm_check(r.g), 0);
	gmm_balloon_free(r.g, all, NREQ * REQ);
	gmm_proc_destroy(p);
	rig_down(&r);
}

/* In address order, but frames the guest has used (the host backs them)
 * before frames never used since boot: only the former shrink the host's
 * memory.  Here the used ones are at the bottom, the top is untouched. */
static void test_inflate_used_before_fresh(void **state)
{
	static uint32_t a[1500];
	struct gmm_proc *p;
	struct rig r;

	(void)state;
	rig_up(&r, 16, 0, NULL);
	assert_int_equal(gmm_proc_create(r.g, "p", 2000, &p), 0);
	touch_n(p, 0, 2000); /* frames 16..2015 */
	gmm_proc_destroy(p);
	assert_int_equal(gmm_balloon_alloc(r.g, a, 1500), 1500);
	for (unsigned i = 0; i < 1500; i++)
		assert_true(a[i] >= 16 && a[i] < 2016);
	assert_int_equal(count_runs(a, 1500), 1);
	assert_int_equal(gmm_check(r.g), 0);
	gmm_balloon_free(r.g, a, 1500);
	rig_down(&r);
}

/* In address order, but still frames the host backs (hot) before the ones
 * it has discarded (clean): only the former shrink the host's memory. */
static void test_inflate_hot_before_clean(void **state)
{
	static uint32_t a[3800], b[500], c[600];
	struct gmm_proc *p;
	struct gmm_stats s;
	struct rig r;

	(void)state;
	rig_up(&r, 16, 0, NULL); /* frames 16..4095, free and hot */
	assert_int_equal(gmm_balloon_alloc(r.g, a, 3800), 3800);
	gmm_balloon_free(r.g, a, 3800); /* 3800 clean, 280 hot */
	assert_int_equal(rig_stats(&r).free_clean, 3800);
	/* a process uses the 280 hot frames and 720 clean ones, then exits:
	 * 1000 hot frames, some of them below where the balloon stopped */
	assert_int_equal(gmm_proc_create(r.g, "p", 1000, &p), 0);
	touch_n(p, 0, 1000);
	gmm_proc_destroy(p);
	assert_int_equal(rig_stats(&r).free_clean, 3080);
	assert_int_equal(gmm_balloon_alloc(r.g, b, 500), 500);
	s = rig_stats(&r);
	assert_int_equal(s.free_clean, 3080); /* all 500 were hot */
	assert_true(count_runs(b, 500) <= 2);
	/* 500 hot left: those first, then 100 clean */
	assert_int_equal(gmm_balloon_alloc(r.g, c, 600), 600);
	s = rig_stats(&r);
	assert_int_equal(s.free, s.free_clean);
	assert_int_equal(s.free_clean, 2980);
	assert_int_equal(gmm_check(r.g), 0);
	gmm_balloon_free(r.g, b, 500);
	gmm_balloon_free(r.g, c, 600);
	rig_down(&r);
}

static bool in_ranges(const struct bln_range *rg, unsigned n, uint64_t pfn)
{
	for (unsigned i = 0; i < n; i++)
		if (pfn >= rg[i].pfn && pfn < rg[i].pfn + rg[i].npages)
			return true;
	return false;
}

static void test_report(void **state)
{
	struct bln_range rg[16];
	struct gmm_proc *p;
	struct gmm_stats s;
	struct rig r;
	unsigned n;
	void *mem;

	(void)state;
	rig_up(&r, 16, 0, NULL);
	assert_int_equal(gmm_proc_create(r.g, "p", 1000, &p), 0);
	touch_n(p, 0, 100); /* frames 16..115: block 0 is not reportable */
	n = gmm_driver_ops.report_take(r.g, rg, 16);
	assert_int_equal(n, 1);
	assert_int_equal(rg[0].pfn, 512);
	assert_int_equal(rg[0].npages, 4096 - 512);
	for (uint64_t pfn = 512; pfn < 4096; pfn++)
		assert_int_equal(gmm_frame_state(r.g, pfn), GMM_FRAME_REPORTED);
	s = rig_stats(&r);
	assert_int_equal(s.reported, 3584);
	assert_int_equal(s.free, 4080 - 100 - 3584);
	assert_int_equal(s.memfree_bytes, (4080 - 100) * GMM_PAGE_SIZE);
	assert_int_equal(gmm_check(r.g), 0);
	/* isolated frames are not allocated meanwhile */
	for (uint64_t v = 100; v < 400; v++) {
		assert_int_equal(gmm_touch(p, v, true, &mem), GMM_FAULT_MINOR);
		assert_false(in_ranges(rg, n, rig_pfn(&r, mem)));
	}
	assert_int_equal(gmm_report_take(r.g, rg + 1, 15), 0);
	gmm_driver_ops.report_done(r.g, rg, n);
	s = rig_stats(&r);
	assert_int_equal(s.reported, 0);
	assert_int_equal(s.free_clean, 3584);
	assert_int_equal(gmm_frame_state(r.g, 600), GMM_FRAME_FREE);
	/* discarded frames are not reported again until they are used */
	assert_int_equal(gmm_report_take(r.g, rg, 16), 0);
	gmm_report_done(r.g, rg, 1); /* already done: every frame refused */
	assert_int_equal(rig_stats(&r).bad_pfns, 3584);
	assert_int_equal(gmm_check(r.g), 0);
	gmm_proc_destroy(p);
	rig_down(&r);
}

static void tweak_small_blocks(struct gmm_cfg *c)
{
	c->report_min_pages = 64;
}

static void test_report_budget(void **state)
{
	struct bln_range rg[64];
	struct gmm_proc *p;
	struct gmm_stats s;
	struct rig r;
	uint64_t total = 0;
	unsigned n;

	(void)state;
	rig_up(&r, 8, 0, tweak_small_blocks); /* 2032 managed pages */
	assert_int_equal(gmm_proc_create(r.g, "p", 2000, &p), 0);
	touch_n(p, 0, 1700);
	n = gmm_report_take(r.g, rg, 64);
	for (unsigned i = 0; i < n; i++) {
		assert_int_equal(rg[i].pfn % 64, 0);
		assert_int_equal(rg[i].npages % 64, 0);
		total += rg[i].npages;
	}
	s = rig_stats(&r);
	assert_true(total > 0);
	assert_int_equal(s.reported, total);
	assert_true(s.free >= s.wmark_high); /* the allocator keeps a reserve */
	gmm_report_done(r.g, rg, n);
	/* one range at most when asked for one */
	gmm_proc_resize(p, 100);
	n = gmm_report_take(r.g, rg, 1);
	assert_int_equal(n, 1);
	gmm_report_done(r.g, rg, n);
	assert_int_equal(gmm_check(r.g), 0);
	gmm_proc_destroy(p);
	rig_down(&r);
}

/* Independent probe: can a file in @dir be opened with O_DIRECT? */
static bool dir_supports_odirect(const char *dir)
{
	char path[128];
	int fd;

	snprintf(path, sizeof(path), "%s/probe", dir);
	fd = open(path, O_CREAT | O_RDWR | O_DIRECT, 0600);
	if (fd >= 0) {
		close(fd);
		unlink(path);
	}
	return fd >= 0;
}

static void test_stats(void **state)
{
	uint64_t vals[VIRTIO_BALLOON_S_NR];
	struct gmm_file *f;
	struct gmm_proc *p;
	struct gmm_stats s;
	struct rig r;
	uint32_t valid = 0;

	(void)state;
	rig_up(&r, 16, 16, NULL);
	cache_n(&r, &f, 200);
	assert_int_equal(gmm_proc_create(r.g, "p", 300, &p), 0);
	touch_n(p, 0, 300);
	assert_int_equal(gmm_balloon_alloc(r.g, pfns, 100), 100);
	memset(vals, 0xff, sizeof(vals));
	gmm_driver_ops.fill_stats(r.g, vals, &valid);
	s = rig_stats(&r);
	assert_int_equal(valid, (1u << VIRTIO_BALLOON_S_NR) - 1);
	assert_int_equal(vals[VIRTIO_BALLOON_S_MEMTOT],
	                 (4080 - 100) * GMM_PAGE_SIZE);
	assert_int_equal(vals[VIRTIO_BALLOON_S_MEMFREE],
	                 (4080 - 100 - 300 - 200) * GMM_PAGE_SIZE);
	assert_int_equal(vals[VIRTIO_BALLOON_S_CACHES], 200 * GMM_PAGE_SIZE);
	assert_int_equal(vals[VIRTIO_BALLOON_S_AVAIL],
	                 (4080 - 100 - 300 - s.wmark_low) * GMM_PAGE_SIZE);
	assert_int_equal(vals[VIRTIO_BALLOON_S_MINFLT], 300);
	assert_int_equal(vals[VIRTIO_BALLOON_S_MAJFLT], 0);
	assert_int_equal(vals[VIRTIO_BALLOON_S_SWAP_IN], 0);
	assert_int_equal(vals[VIRTIO_BALLOON_S_SWAP_OUT], 0);
	assert_int_equal(vals[VIRTIO_BALLOON_S_HTLB_PGALLOC], 0);
	assert_int_equal(vals[VIRTIO_BALLOON_S_HTLB_PGFAIL], 0);
	assert_int_equal(vals[VIRTIO_BALLOON_S_OOM_KILL], 0);
	assert_int_equal(vals[VIRTIO_BALLOON_S_ALLOC_STALL], 0);
	assert_int_equal(vals[VIRTIO_BALLOON_S_DIRECT_SCAN], 0);
	assert_int_equal(vals[VIRTIO_BALLOON_S_ASYNC_RECLAIM], 0);
	assert_int_equal(s.swap_direct, dir_supports_odirect(r.dir));
	gmm_balloon_free(r.g, pfns, 100);
	gmm_file_destroy(f);
	gmm_proc_destroy(p);
	rig_down(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_inflate_free_first_then_reclaim),
	        cmocka_unit_test(test_inflate_floor_without_swap),
	        cmocka_unit_test(test_deflate_bad_pfns),
	        cmocka_unit_test(test_inflate_runs_after_churn),
	        cmocka_unit_test(test_inflate_used_before_fresh),
	        cmocka_unit_test(test_inflate_hot_before_clean),
	        cmocka_unit_test(test_report),
	        cmocka_unit_test(test_report_budget),
	        cmocka_unit_test(test_stats),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
