/* SPDX-License-Identifier: MIT */
/*
 * bitmap.c - range operations a 64-bit word at a time, so that a coalesced
 * range of N pages costs N / 64 word operations, never N bit operations.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bitmap.h"

int bln_bitmap_init(struct bln_bitmap *b, uint64_t nbits)
{
	b->w = calloc((nbits + 63) / 64 + 1, sizeof(uint64_t));
	if (!b->w)
		return -ENOMEM;
	b->nbits = nbits;
	return 0;
}

void bln_bitmap_free(struct bln_bitmap *b)
{
	free(b->w);
	b->w = NULL;
	b->nbits = 0;
}

void bln_bitmap_clear_all(struct bln_bitmap *b)
{
	memset(b->w, 0, ((b->nbits + 63) / 64) * sizeof(uint64_t));
}

bool bln_bitmap_test(const struct bln_bitmap *b, uint64_t bit)
{
	return (b->w[bit / 64] >> (bit % 64)) & 1;
}

/* Mask of bits [lo, hi) within one word, 0 <= lo < hi <= 64. */
static inline uint64_t word_mask(unsigned lo, unsigned hi)
{
	uint64_t m = hi == 64 ? ~UINT64_C(0) : (UINT64_C(1) << hi) - 1;

	return m & ~((UINT64_C(1) << lo) - 1);
}

/*
 * Visit the range word by word: @fn gets each word index and the mask of the
 * range's bits in it, and returns false to stop early.  Returns false if it
 * was stopped.
 */
static bool walk(uint64_t start, uint64_t n,
                 bool (*fn)(void *arg, uint64_t wi, uint64_t mask), void *arg)
{
	uint64_t end = start + n;

	while (start < end) {
		uint64_t wi = start / 64;
		unsigned lo = start % 64;
		unsigned hi = end - wi * 64 >= 64 ? 64 : (unsigned)(end % 64);

		if (!fn(arg, wi, word_mask(lo, hi)))
			return false;
		start = wi * 64 + hi;
	}
	return true;
}

static bool do_set(void *arg, uint64_t wi, uint64_t mask)
{
	((uint64_t *)arg)[wi] |= mask;
	return true;
}

static bool do_clear(void *arg, uint64_t wi, uint64_t mask)
{
	((uint64_t *)arg)[wi] &= ~mask;
	return true;
}

static bool none_set(void *arg, uint64_t wi, uint64_t mask)
{
	return !(((const uint64_t *)arg)[wi] & mask);
}

static bool all_set(void *arg, uint64_t wi, uint64_t mask)
{
	return (((const uint64_t *)arg)[wi] & mask) == mask;
}

void bln_bitmap_set_range(struct bln_bitmap *b, uint64_t start, uint64_t n)
{
	walk(start, n, do_set, b->w);
}

void bln_bitmap_clear_range(struct bln_bitmap *b, uint64_t start, uint64_t n)
{
	walk(start, n, do_clear, b->w);
}

bool bln_bitmap_any(const struct bln_bitmap *b, uint64_t start, uint64_t n)
{
	return !walk(start, n, none_set, b->w);
}

bool bln_bitmap_all(const struct bln_bitmap *b, uint64_t start, uint64_t n)
{
	return walk(start, n, all_set, b->w);
}
