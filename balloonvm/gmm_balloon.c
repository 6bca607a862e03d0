/* SPDX-License-Identifier: MIT */
/*
 * gmm_balloon.c - what the balloon driver sees of the guest: page allocation
 * for inflation (free first, reclaim under pressure, never below the floor),
 * deflation, free page reporting, and the stats.
 */
#include "gmm_int.h"

#include <errno.h>

#define REPORT_MAX_RANGE (UINT64_C(1) << 18) /* pages (1 GiB) per range */
#define BALLOON_RC_MAX   4096                /* pages per reclaim call */

/* Frames one gmm_balloon_alloc() call may look at, besides 64 a page. */
#define BALLOON_SCAN_BASE (UINT64_C(1) << 18)
#define BALLOON_SCAN_PAGE 64

static void take_for_balloon(struct gmm *g, uint32_t pfn)
{
	g->fr[pfn].state = GMM_FRAME_BALLOON;
	g->nballoon++;
}

/*
 * Which free frames the balloon takes first: those the guest has used, as
 * the host backs them (releasing them is what shrinks the host's memory),
 * then the ones never used since boot, then the ones the host has already
 * discarded (clean): the order the LIFO free lists gave.  Returns the
 * GMM_FR_CLEAN | GMM_FR_FRESH bits a frame of that class has.
 */
static uint8_t balloon_class(const struct gmm *g)
{
	if (g->l[GMM_L_FREE_HOT].n > g->nfresh)
		return 0;
	return g->nfresh ? GMM_FR_FRESH : GMM_FR_CLEAN;
}

/*
 * The next free frame for the balloon in descending address order, going
 * on from where the last one was taken (wrapping at the bottom), so that a
 * request's pages and consecutive requests are contiguous wherever free
 * memory is, and the host releases them with few calls.  The free lists
 * are LIFO, and after a workload has churned them their order interleaves
 * far-apart runs: taking from their heads scatters every request.  Only
 * frames of balloon_class() qualify.  Looks at no more than *@budget
 * frames; GMM_NIL when it ran out.
 */
static uint32_t balloon_scan(struct gmm *g, uint64_t *budget)
{
	const uint8_t mask = GMM_FR_CLEAN | GMM_FR_FRESH;
	uint8_t want = balloon_class(g);
	uint64_t lo = g->cfg.reserved, p = g->bal_cursor;

	for (; *budget; (*budget)--) {
		const struct gmm_frame *f;

		if (p <= lo || p > g->npages)
			p = g->npages;
		f = &g->fr[--p];
		if (f->state == GMM_FRAME_FREE && (f->flags & mask) == want) {
			g->bal_cursor = p;
			return (uint32_t)p;
		}
	}
	g->bal_cursor = p;
	return GMM_NIL;
}

/* A free frame off its list: by address (balloon_scan) within the budget,
 * else the free lists' head. */
static uint32_t balloon_free_take(struct gmm *g, uint64_t *budget)
{
	uint32_t pfn = balloon_scan(g, budget);

	if (pfn == GMM_NIL)
		return gmm_free_pop(g);
	gmm_list_del(g,
	             (g->fr[pfn].flags & GMM_FR_CLEAN) ? GMM_L_FREE_CLEAN
	                                               : GMM_L_FREE_HOT,
	             pfn);
	g->fr[pfn].flags = 0;
	return pfn;
}

unsigned gmm_balloon_alloc(struct gmm *g, uint32_t *pfns, unsigned n)
{
	uint64_t budget = BALLOON_SCAN_BASE + (uint64_t)n * BALLOON_SCAN_PAGE;
	bool stalled = false;
	unsigned got = 0;

	if (!g || !pfns)
		return 0;
	while (got < n) {
		uint64_t nf = gmm_nfree(g), cache = g->l[GMM_L_CACHE].n;
		uint64_t want = n - got;
		unsigned what;

		if (nf > g->wmin && nf + cache > g->floor) {
			uint32_t pfn = balloon_free_take(g, &budget);

			take_for_balloon(g, pfn);
			pfns[got++] = pfn;
			continue;
		}
		/* Under pressure: reclaim like a normal allocation would,
		 * but only anon (converting anon into free) once free + cache
		 * is at the floor, since dropping cache cannot help then. */
		what = nf + cache > g->floor ? GMM_RC_ALL : GMM_RC_ANON;
		if (nf <= g->wmin)
			want += g->wmin + 1 - nf;
		if (want > BALLOON_RC_MAX)
			want = BALLOON_RC_MAX;
		if (!stalled) {
			g->c.alloc_stalls++;
			stalled = true;
		}
		if (!gmm_reclaim(g, want, UINT64_MAX, what, true))
			break;
	}
	g->c.balloon_allocs += got;
	return got;
}

void gmm_balloon_free(struct gmm *g, const uint32_t *pfns, unsigned n)
{
	if (!g || !pfns)
		return;
	for (unsigned i = 0; i < n; i++) {
		uint32_t pfn = pfns[i];

		if (pfn >= g->npages || g->fr[pfn].state != GMM_FRAME_BALLOON) {
			g->c.bad_pfns++;
			continue;
		}
		g->nballoon--;
		g->c.balloon_frees++;
		/* The host has (normally) discarded it: a clean free frame. */
		gmm_frame_to_free(g, pfn, true);
	}
}

/* Every frame of block @b is free and not yet discarded by the host. */
static bool block_reportable(const struct gmm *g, uint64_t b, uint64_t blk)
{
	for (uint64_t p = b * blk; p < (b + 1) * blk; p++)
		if (g->fr[p].state != GMM_FRAME_FREE ||
		    (g->fr[p].flags & GMM_FR_CLEAN))
			return false;
	return true;
}

static void isolate(struct gmm *g, uint64_t from, uint64_t n)
{
	for (uint64_t p = from; p < from + n; p++) {
		gmm_list_del(g, GMM_L_FREE_HOT, (uint32_t)p);
		g->fr[p].state = GMM_FRAME_REPORTED;
	}
	g->nreported += n;
}

unsigned gmm_report_take(struct gmm *g, struct bln_range *r, unsigned max)
{
	uint64_t blk, nblk, b, budget, nf;
	unsigned nr = 0;

	if (!g || !r || !max)
		return 0;
	blk = g->cfg.report_min_pages;
	nblk = g->npages / blk;
	nf = gmm_nfree(g);
	if (!nblk || g->l[GMM_L_FREE_HOT].n < blk || nf <= g->whigh)
		return 0;
	budget = nf - g->whigh; /* leave the high watermark allocatable */
	b = g->rep_cursor < nblk ? g->rep_cursor : 0;
	for (uint64_t i = 0; i < nblk && nr < max && budget >= blk; i++) {
		struct bln_range *last = nr ? &r[nr - 1] : NULL;

		if (block_reportable(g, b, blk)) {
			isolate(g, b * blk, blk);
			budget -= blk;
			if (last && last->pfn + last->npages == b * blk &&
			    last->npages + blk <= REPORT_MAX_RANGE) {
				last->npages += blk;
			} else {
				r[nr].pfn = b * blk;
				r[nr].npages = blk;
				nr++;
			}
		}
		b = b + 1 < nblk ? b + 1 : 0;
	}
	g->rep_cursor = b;
	return nr;
}

void gmm_report_done(struct gmm *g, const struct bln_range *r, unsigned n)
{
	if (!g || !r)
		return;
	for (unsigned i = 0; i < n; i++) {
		if (r[i].pfn >= g->npages ||
		    r[i].npages > g->npages - r[i].pfn) {
			g->c.bad_pfns += r[i].npages;
			continue;
		}
		for (uint64_t p = r[i].pfn; p < r[i].pfn + r[i].npages; p++) {
			if (g->fr[p].state != GMM_FRAME_REPORTED) {
				g->c.bad_pfns++;
				continue;
			}
			g->nreported--;
			gmm_frame_to_free(g, (uint32_t)p, true);
		}
	}
}

void gmm_fill_stats(struct gmm *g, uint64_t vals[VIRTIO_BALLOON_S_NR],
                    uint32_t *valid)
{
	struct gmm_stats s;

	gmm_stats(g, &s);
	vals[VIRTIO_BALLOON_S_SWAP_IN] = s.swap_in_bytes;
	vals[VIRTIO_BALLOON_S_SWAP_OUT] = s.swap_out_bytes;
	vals[VIRTIO_BALLOON_S_MAJFLT] = s.major_faults;
	vals[VIRTIO_BALLOON_S_MINFLT] = s.minor_faults;
	vals[VIRTIO_BALLOON_S_MEMFREE] = s.memfree_bytes;
	vals[VIRTIO_BALLOON_S_MEMTOT] = s.memtotal_bytes;
	vals[VIRTIO_BALLOON_S_AVAIL] = s.avail_bytes;
	vals[VIRTIO_BALLOON_S_CACHES] = s.caches_bytes;
	vals[VIRTIO_BALLOON_S_HTLB_PGALLOC] = 0;
	vals[VIRTIO_BALLOON_S_HTLB_PGFAIL] = 0;
	vals[VIRTIO_BALLOON_S_OOM_KILL] = s.oom_kills;
	vals[VIRTIO_BALLOON_S_ALLOC_STALL] = s.alloc_stalls;
	vals[VIRTIO_BALLOON_S_ASYNC_SCAN] = s.async_scan;
	vals[VIRTIO_BALLOON_S_DIRECT_SCAN] = s.direct_scan;
	vals[VIRTIO_BALLOON_S_ASYNC_RECLAIM] = s.async_reclaim;
	vals[VIRTIO_BALLOON_S_DIRECT_RECLAIM] = s.direct_reclaim;
	*valid |= (uint32_t)((UINT64_C(1) << VIRTIO_BALLOON_S_NR) - 1);
}

static unsigned ops_alloc(void *ctx, uint32_t *pfns, unsigned n)
{
	return gmm_balloon_alloc(ctx, pfns, n);
}

static void ops_free(void *ctx, const uint32_t *pfns, unsigned n)
{
	gmm_balloon_free(ctx, pfns, n);
}

static void ops_stats(void *ctx, uint64_t vals[VIRTIO_BALLOON_S_NR],
                      uint32_t *valid)
{
	gmm_fill_stats(ctx, vals, valid);
}

static unsigned ops_report_take(void *ctx, struct bln_range *r, unsigned max)
{
	return gmm_report_take(ctx, r, max);
}

static void ops_report_done(void *ctx, const struct bln_range *r, unsigned n)
{
	gmm_report_done(ctx, r, n);
}

const struct bln_driver_ops gmm_driver_ops = {
        .alloc_pages = ops_alloc,
        .free_pages = ops_free,
        .fill_stats = ops_stats,
        .report_take = ops_report_take,
        .report_done = ops_report_done,
};
