/* SPDX-License-Identifier: MIT */
/*
 * bitmap.h - internal: a plain bit-per-page bitmap with word-at-a-time range
 * operations, used by the device to remember which 4 KiB balloon pages are
 * in the balloon.  Ranges are [start, start + n) in bits; callers keep them
 * inside the bitmap.
 */
#ifndef LIBBALLOON_BITMAP_H
#define LIBBALLOON_BITMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct bln_bitmap {
	uint64_t *w;
	uint64_t nbits;
};

/* Allocate @nbits cleared bits.  Returns 0 or -ENOMEM. */
int bln_bitmap_init(struct bln_bitmap *b, uint64_t nbits);
void bln_bitmap_free(struct bln_bitmap *b);
void bln_bitmap_clear_all(struct bln_bitmap *b);

bool bln_bitmap_test(const struct bln_bitmap *b, uint64_t bit);
void bln_bitmap_set_range(struct bln_bitmap *b, uint64_t start, uint64_t n);
void bln_bitmap_clear_range(struct bln_bitmap *b, uint64_t start, uint64_t n);
/* True if any bit of the range is set / if every bit of it is set. */
bool bln_bitmap_any(const struct bln_bitmap *b, uint64_t start, uint64_t n);
bool bln_bitmap_all(const struct bln_bitmap *b, uint64_t start, uint64_t n);

#endif
