/* SPDX-License-Identifier: MIT */
/*
 * gmm_reclaim.c - page reclaim and the OOM killer.
 *
 * Reclaim is a clock (second chance) per ring: the ring's head is the hand; a
 * frame with the accessed bit gets the bit cleared and the hand moves on, a
 * frame without it is evicted.  Page cache goes first (clean: dropped without
 * I/O); only then are anonymous frames swapped out, in batches of up to
 * SWAP_BATCH frames whose slots are written with one pwritev per run of
 * consecutive slots.  A swapped-in page gives up its slot (no swap cache), so
 * every swap-out is a real write.
 */
#include "gmm_int.h"

#include <errno.h>
#include <sys/uio.h>

#define SWAP_BATCH 32

struct rc {
	uint64_t budget;  /* frames we may still examine */
	uint64_t scanned; /* frames examined */
};

/* The hand passes @pfn: clear its accessed bit, or say it is a victim. */
static bool second_chance(struct gmm *g, enum gmm_list_id id, uint32_t pfn)
{
	struct gmm_frame *f = &g->fr[pfn];

	if (!(f->flags & GMM_FR_ACCESSED))
		return false;
	f->flags &= (uint8_t)~GMM_FR_ACCESSED;
	g->l[id].head = f->next;
	return true;
}

static uint64_t reclaim_cache(struct gmm *g, uint64_t want, struct rc *rc)
{
	struct gmm_list *l = &g->l[GMM_L_CACHE];
	uint64_t got = 0, limit = 2 * l->n + 1; /* two full turns at most */

	while (got < want && rc->budget && limit && l->n) {
		uint32_t pfn = l->head;

		rc->budget--;
		rc->scanned++;
		limit--;
		if (second_chance(g, GMM_L_CACHE, pfn))
			continue;
		gmm_cache_drop(g, pfn);
		got++;
	}
	return got;
}

/* Frames that could not be written go back on the ring (as referenced, so
 * the next turn does not retry them at once). */
static void putback(struct gmm *g, const uint32_t *pfns, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		g->fr[pfns[i]].flags |= GMM_FR_ACCESSED;
		gmm_list_add(g, GMM_L_ANON, pfns[i]);
	}
}

/* The page in @pfn now lives in @slot: remap and free the frame. */
static void swapped_out(struct gmm *g, uint32_t pfn, uint64_t slot)
{
	struct gmm_frame *f = &g->fr[pfn];
	struct gmm_proc *p = g->procs[f->owner];

	p->pte[f->idx] = GMM_PTE(slot, GMM_PTE_SWAPPED);
	p->resident--;
	p->swapped++;
	g->c.swap_out++;
	gmm_frame_to_free(g, pfn, false);
}

/* Write the victims (already off the ring) to swap.  Returns frames freed. */
static uint64_t swap_out(struct gmm *g, const uint32_t *pfns, unsigned n)
{
	struct iovec iov[SWAP_BATCH];
	int64_t slot[SWAP_BATCH];
	uint64_t done = 0;
	unsigned i, j;

	for (i = 0; i < n; i++) {
		slot[i] = gmm_swap_alloc(g->swap);
		if (slot[i] < 0)
			break;
		iov[i].iov_base = gmm_pfn_mem(g, pfns[i]);
		iov[i].iov_len = GMM_PAGE_SIZE;
	}
	putback(g, pfns + i, n - i); /* no slot for these */
	n = i;
	for (i = 0; i < n; i = j) {
		for (j = i + 1; j < n && slot[j] == slot[j - 1] + 1; j++)
			;
		if (gmm_swap_write(g->swap, (uint64_t)slot[i], iov + i,
		                   j - i)) {
			g->c.io_errors++;
			for (unsigned k = i; k < j; k++)
				gmm_swap_free(g->swap, (uint64_t)slot[k]);
			putback(g, pfns + i, j - i);
			continue;
		}
		for (unsigned k = i; k < j; k++)
			swapped_out(g, pfns[k], (uint64_t)slot[k]);
		done += j - i;
	}
	return done;
}

static uint64_t reclaim_anon(struct gmm *g, uint64_t want, struct rc *rc)
{
	struct gmm_list *l = &g->l[GMM_L_ANON];
	uint64_t got = 0, limit = 2 * l->n + 1;
	uint32_t batch[SWAP_BATCH];
	unsigned nb = 0;

	if (!g->swap)
		return 0;
	while (got + nb < want && rc->budget && limit && l->n) {
		uint32_t pfn = l->head;

		if (gmm_swap_used(g->swap) + nb >= gmm_swap_slots(g->swap))
			break; /* swap full */
		rc->budget--;
		rc->scanned++;
		limit--;
		if (second_chance(g, GMM_L_ANON, pfn))
			continue;
		gmm_list_del(g, GMM_L_ANON, pfn); /* off the ring during I/O */
		batch[nb++] = pfn;
		if (nb == SWAP_BATCH) {
			got += swap_out(g, batch, nb);
			nb = 0;
		}
	}
	if (nb)
		got += swap_out(g, batch, nb);
	return got;
}

uint64_t gmm_reclaim(struct gmm *g, uint64_t want, uint64_t scan_budget,
                     unsigned what, bool direct)
{
	struct rc rc = {.budget = scan_budget};
	uint64_t got = 0;

	if (what & GMM_RC_CACHE)
		got += reclaim_cache(g, want, &rc);
	if (got < want && (what & GMM_RC_ANON))
		got += reclaim_anon(g, want - got, &rc);
	if (direct) {
		g->c.direct_scan += rc.scanned;
		g->c.direct_reclaim += got;
	} else {
		g->c.async_scan += rc.scanned;
		g->c.async_reclaim += got;
	}
	return got;
}

int64_t gmm_tick(struct gmm *g)
{
	uint64_t nf = gmm_nfree(g), got = 0;

	/* kswapd wakes below the low watermark and works up to the high one */
	if (nf < g->wlow)
		g->kswapd_active = true;
	if (g->kswapd_active && nf < g->whigh)
		got = gmm_reclaim(g, g->whigh - nf, g->cfg.kswapd_batch,
		                  GMM_RC_ALL, false);
	if (!got || gmm_nfree(g) >= g->whigh)
		g->kswapd_active = false; /* done, or nothing to do: sleep */
	gmm_stats_publish(g);
	return (int64_t)got;
}

bool gmm_oom(struct gmm *g, uint64_t want)
{
	struct gmm_proc *victim = NULL;
	uint64_t best = 0;

	if (g->oom_fn && !g->in_oom) {
		uint64_t before = gmm_nfree(g);

		g->in_oom = true;
		g->oom_fn(g->oom_ctx, want);
		g->in_oom = false;
		/* Trust what reached the free list, not the return value. */
		if (gmm_nfree(g) > before) {
			g->c.oom_notified += gmm_nfree(g) - before;
			return true;
		}
	}
	for (unsigned i = 0; i < g->nprocs_cap; i++) {
		struct gmm_proc *p = g->procs[i];

		if (p && !p->killed && p->resident + p->swapped > best) {
			best = p->resident + p->swapped;
			victim = p;
		}
	}
	if (!victim)
		return false;
	gmm_proc_kill(victim);
	g->c.oom_kills++;
	return true;
}
