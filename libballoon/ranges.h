/* SPDX-License-Identifier: MIT */
/*
 * ranges.h - internal: turn an inflate/deflate request's PFN array into a
 * short list of contiguous page ranges (sort, detect duplicates, coalesce).
 * All values are 4 KiB balloon page numbers.
 */
#ifndef LIBBALLOON_RANGES_H
#define LIBBALLOON_RANGES_H

#include <stddef.h>
#include <stdint.h>

/* [start, start + n) in 4 KiB balloon pages. */
struct bln_prange {
	uint32_t start;
	uint32_t n;
};

/*
 * Sort @n PFNs ascending, all <= @max.  Already ascending or descending input
 * costs one pass; otherwise an LSD radix sort (11 bits a pass, only as many
 * passes as @max needs) using @tmp (room for @n) as scratch.  Returns the
 * array holding the result: @pfns or @tmp.
 */
uint32_t *bln_pfn_sort(uint32_t *pfns, uint32_t *tmp, size_t n, uint32_t max);

/*
 * Coalesce @n ascending PFNs into ranges stored in @out (room for @n).
 * Returns the number of ranges, or -EEXIST if a PFN appears twice.
 */
long bln_pfn_coalesce(const uint32_t *sorted, size_t n, struct bln_prange *out);

#endif
