/* SPDX-License-Identifier: MIT */
/*
 * ranges.c - sorting and coalescing of PFN arrays.  The device does this for
 * every inflate/deflate request so that each contiguous run costs one
 * release call, whatever order the driver listed its pages in.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "ranges.h"

#define RADIX_BITS 11
#define RADIX_SIZE (1u << RADIX_BITS)
#define SMALL_N    32

static void insertion_sort(uint32_t *a, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		uint32_t v = a[i];
		size_t j = i;

		while (j > 0 && a[j - 1] > v) {
			a[j] = a[j - 1];
			j--;
		}
		a[j] = v;
	}
}

/* 1 if non-decreasing, -1 if non-increasing, 0 otherwise. */
static int monotonic(const uint32_t *a, size_t n)
{
	bool up = true, down = true;

	for (size_t i = 1; i < n && (up || down); i++) {
		up = up && a[i - 1] <= a[i];
		down = down && a[i - 1] >= a[i];
	}
	return up ? 1 : down ? -1 : 0;
}

static void reverse(uint32_t *a, size_t n)
{
	for (size_t i = 0, j = n - 1; i < j; i++, j--) {
		uint32_t v = a[i];

		a[i] = a[j];
		a[j] = v;
	}
}

/* One stable counting pass on bits [shift, shift + RADIX_BITS). */
static void radix_pass(const uint32_t *src, uint32_t *dst, size_t n,
                       unsigned shift)
{
	uint32_t count[RADIX_SIZE];
	uint32_t sum = 0;

	memset(count, 0, sizeof(count));
	for (size_t i = 0; i < n; i++)
		count[(src[i] >> shift) & (RADIX_SIZE - 1)]++;
	for (unsigned d = 0; d < RADIX_SIZE; d++) {
		uint32_t c = count[d];

		count[d] = sum;
		sum += c;
	}
	for (size_t i = 0; i < n; i++)
		dst[count[(src[i] >> shift) & (RADIX_SIZE - 1)]++] = src[i];
}

uint32_t *bln_pfn_sort(uint32_t *pfns, uint32_t *tmp, size_t n, uint32_t max)
{
	uint32_t *src = pfns, *dst = tmp, *t;
	unsigned bits = 0;
	int mono;

	if (n < 2)
		return pfns;
	mono = monotonic(pfns, n);
	if (mono > 0)
		return pfns;
	if (mono < 0) {
		reverse(pfns, n);
		return pfns;
	}
	if (n <= SMALL_N) {
		insertion_sort(pfns, n);
		return pfns;
	}
	while (bits < 32 && (max >> bits))
		bits++;
	for (unsigned shift = 0; shift < bits; shift += RADIX_BITS) {
		radix_pass(src, dst, n, shift);
		t = src;
		src = dst;
		dst = t;
	}
	return src;
}

long bln_pfn_coalesce(const uint32_t *sorted, size_t n, struct bln_prange *out)
{
	long k = 0;

	for (size_t i = 0; i < n; i++) {
		if (k && sorted[i] == out[k - 1].start + out[k - 1].n - 1)
			return -EEXIST;
		if (k && sorted[i] == out[k - 1].start + out[k - 1].n) {
			out[k - 1].n++;
			continue;
		}
		out[k].start = sorted[i];
		out[k].n = 1;
		k++;
	}
	return k;
}
