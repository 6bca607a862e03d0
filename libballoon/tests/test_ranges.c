/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for ranges.c: bln_pfn_sort() and bln_pfn_coalesce() against a
 * qsort-based reference, on every path the sort has: n < 2, already
 * ascending or descending (one scan), insertion sort (n <= 32), and an LSD
 * radix sort of one, two or three 11-bit passes (largest PFN below 2^11,
 * below 2^22, at or above 2^22).  The radix sort ping-pongs between the two
 * buffers, so which one holds the result tells how many passes ran: an odd
 * count ends in @tmp, an even one in @pfns.  That is checked too, so a test
 * meant for the multi-pass sort cannot silently take another path.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ranges.h"

#define BIG 5000u /* elements of the large cases */

enum path { SCAN, INSERTION, RADIX1, RADIX2, RADIX3 };

/* xorshift64*: a fixed-seed generator independent of the libc's rand(). */
static uint64_t rng_state;

static uint32_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (uint32_t)((rng_state * 0x2545f4914f6cdd1dull) >> 32);
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

/* Reference coalescing of an ascending array: ranges, or -EEXIST. */
static long ref_coalesce(const uint32_t *s, size_t n, struct bln_prange *out)
{
	long k = 0;

	for (size_t i = 0; i < n; i++) {
		if (i && s[i] == s[i - 1])
			return -EEXIST;
		if (i && s[i] == s[i - 1] + 1) {
			out[k - 1].n++;
			continue;
		}
		out[k++] = (struct bln_prange){s[i], 1};
	}
	return k;
}

static uint32_t max_of(const uint32_t *a, size_t n)
{
	uint32_t m = 0;

	for (size_t i = 0; i < n; i++)
		if (a[i] > m)
			m = a[i];
	return m;
}

/*
 * Sort a copy of @in[0..n) with bln_pfn_sort and compare with qsort; check
 * which buffer the result is in for @path; then coalesce it and compare
 * with the reference.  Returns the number of ranges (or -EEXIST).
 */
static long check(const uint32_t *in, size_t n, enum path path)
{
	uint32_t *a = malloc((n + 1) * sizeof(*a));
	uint32_t *tmp = malloc((n + 1) * sizeof(*tmp));
	uint32_t *ref = malloc((n + 1) * sizeof(*ref));
	struct bln_prange *r = malloc((n + 1) * sizeof(*r));
	struct bln_prange *rr = malloc((n + 1) * sizeof(*rr));
	uint32_t *got;
	long nr, nref;

	assert_true(a && tmp && ref && r && rr);
	memcpy(a, in, n * sizeof(*a));
	memcpy(ref, in, n * sizeof(*ref));
	qsort(ref, n, sizeof(*ref), cmp_u32);
	got = bln_pfn_sort(a, tmp, n, max_of(in, n));
	/* Odd number of radix passes: in tmp; else in place. */
	assert_ptr_equal(got, path == RADIX1 || path == RADIX3 ? tmp : a);
	if (n)
		assert_memory_equal(got, ref, n * sizeof(*ref));
	nr = bln_pfn_coalesce(got, n, r);
	nref = ref_coalesce(ref, n, rr);
	assert_int_equal(nr, nref);
	if (nr > 0)
		assert_memory_equal(r, rr, (size_t)nr * sizeof(*r));
	free(rr);
	free(r);
	free(ref);
	free(tmp);
	free(a);
	return nr;
}

/* Fisher-Yates with the fixed-seed generator. */
static void shuffle(uint32_t *a, size_t n)
{
	for (size_t i = n - 1; i > 0; i--) {
		size_t j = rng() % (i + 1);
		uint32_t t = a[i];

		a[i] = a[j];
		a[j] = t;
	}
}

static void test_trivial_and_monotonic(void **state)
{
	uint32_t up[BIG] = {0}, down[BIG];
	(void)state;

	assert_int_equal(check(up, 0, SCAN), 0);
	assert_int_equal(check((uint32_t[]){7}, 1, SCAN), 1);
	assert_int_equal(check((uint32_t[]){7, 7}, 2, SCAN), -EEXIST);
	assert_int_equal(check((uint32_t[]){8, 7}, 2, SCAN), 1);
	for (uint32_t i = 0; i < BIG; i++) {
		up[i] = 3 * i + (i % 7 == 0); /* gaps: a range per value */
		down[BIG - 1 - i] = 1000000 + i;
	}
	assert_int_equal(check(up, BIG, SCAN), BIG);
	assert_int_equal(check(down, BIG, SCAN), 1); /* contiguous */
	/* Descending with a duplicate: non-increasing is one scan too. */
	down[10] = down[11];
	assert_int_equal(check(down, BIG, SCAN), -EEXIST);
}

static void test_insertion(void **state)
{
	static const uint32_t mixed[] = {5, 3, 4, 10, 11, 20, 2, 1};
	uint32_t a[32];
	(void)state;

	assert_int_equal(check(mixed, 8, INSERTION), 3); /* 1-5 10-11 20 */
	assert_int_equal(check((uint32_t[]){2, 1, 3}, 3, INSERTION), 1);
	assert_int_equal(check((uint32_t[]){9, 1, 9}, 3, INSERTION), -EEXIST);
	/* n == 32 (the largest insertion sort): contiguous, shuffled. */
	rng_state = 11;
	for (uint32_t i = 0; i < 32; i++)
		a[i] = 0xfffff000u + i; /* values far above 2^22 */
	shuffle(a, 32);
	assert_int_equal(check(a, 32, INSERTION), 1);
	/* Random values, then with a duplicate planted. */
	for (int round = 0; round < 50; round++) {
		size_t n = 3 + rng() % 30;

		for (size_t i = 0; i < n; i++)
			a[i] = rng() % 64;
		a[0] = 1, a[1] = 0; /* never monotonic */
		a[2] = 63;
		check(a, n, INSERTION);
		a[n - 1] = a[n / 2];
		assert_int_equal(check(a, n, INSERTION), -EEXIST);
	}
}

/* Random PFNs below @limit (0: any 32-bit value), one of them the largest
 * possible so that the pass count is fixed; never monotonic. */
static void fill_random(uint32_t *a, size_t n, uint64_t limit)
{
	for (size_t i = 0; i < n; i++)
		a[i] = limit ? (uint32_t)(rng() % limit) : rng();
	a[n / 3] = (uint32_t)(limit ? limit - 1 : UINT32_MAX);
	a[0] = 1, a[1] = 0, a[2] = 2; /* never monotonic */
}

/* Distinct PFNs below @limit, shuffled: runs of 8 at least 2 apart (needs
 * limit / (n / 8 + 1) >= 9), the last PFN replaced by limit - 1. */
static void fill_runs(uint32_t *a, size_t n, uint64_t limit)
{
	uint64_t stride = limit / (n / 8 + 1);

	for (size_t i = 0; i < n; i++)
		a[i] = (uint32_t)((i / 8) * stride + i % 8);
	a[n - 1] = (uint32_t)(limit - 1);
	shuffle(a, n);
}

static void radix_case(uint64_t limit, enum path path)
{
	/* As many as fit below @limit as distinct PFNs two apart. */
	size_t n = limit >= 2 * BIG ? BIG : (size_t)(limit / 2);
	uint32_t *a = malloc(n * sizeof(*a)), t;
	long nr;

	assert_non_null(a);
	/* Distinct, in runs of 8: coalesced to about n / 8 ranges. */
	fill_runs(a, n, limit);
	nr = check(a, n, path);
	assert_true(nr >= (long)n / 8 && nr <= (long)n / 8 + 2);
	/* Random with duplicates (certain for small limits, planted for
	 * large ones). */
	fill_random(a, n, limit);
	a[n - 1] = a[n / 2];
	assert_int_equal(check(a, n, path), -EEXIST);
	/* 33 elements: the smallest radix sort. */
	fill_runs(a, 33, limit);
	assert_true(check(a, 33, path) > 0);
	/* Descending but for one swapped pair: not monotonic. */
	for (size_t i = 0; i < n; i++)
		a[i] = (uint32_t)(limit - 1 - 2 * i);
	t = a[5];
	a[5] = a[6];
	a[6] = t;
	assert_int_equal(check(a, n, path), (long)n);
	free(a);
}

static void test_radix_one_pass(void **state)
{
	(void)state;
	rng_state = 1;
	radix_case(1u << 11, RADIX1);
}

static void test_radix_two_passes(void **state)
{
	(void)state;
	rng_state = 2;
	radix_case(1u << 12, RADIX2);
	radix_case(1u << 22, RADIX2);
}

static void test_radix_three_passes(void **state)
{
	uint32_t *a = malloc(BIG * sizeof(*a));
	(void)state;

	assert_non_null(a);
	rng_state = 3;
	radix_case(1u << 23, RADIX3);
	radix_case(1ull << 32, RADIX3);
	/* Full 32-bit values, the top bits deciding the order. */
	fill_random(a, BIG, 0);
	for (uint32_t i = 3; i < BIG; i++)
		a[i] |= 0x80000000u;
	check(a, BIG, RADIX3);
	free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_trivial_and_monotonic),
	        cmocka_unit_test(test_insertion),
	        cmocka_unit_test(test_radix_one_pass),
	        cmocka_unit_test(test_radix_two_passes),
	        cmocka_unit_test(test_radix_three_passes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
