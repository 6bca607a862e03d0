/* SPDX-License-Identifier: MIT */
/*
 * gmm_check.c - gmm_check(): walk the whole frame database and verify every
 * invariant.  For tests; O(RAM + virtual pages).
 */
#include "gmm_int.h"

#include <errno.h>

static bool in_list(const struct gmm_frame *f, enum gmm_list_id id)
{
	switch (id) {
	case GMM_L_FREE_HOT:
		return f->state == GMM_FRAME_FREE && !(f->flags & GMM_FR_CLEAN);
	case GMM_L_FREE_CLEAN:
		return f->state == GMM_FRAME_FREE && (f->flags & GMM_FR_CLEAN);
	case GMM_L_ANON:
		return f->state == GMM_FRAME_ANON;
	case GMM_L_CACHE:
		return f->state == GMM_FRAME_CACHE;
	default:
		return false;
	}
}

/* The list is a simple cycle of exactly n frames, all of the right kind. */
static int check_list(const struct gmm *g, enum gmm_list_id id)
{
	const struct gmm_list *l = &g->l[id];
	uint32_t pfn = l->head;

	if (!l->n)
		return l->head == GMM_NIL ? 0 : -EUCLEAN;
	for (uint64_t i = 0; i < l->n; i++) {
		const struct gmm_frame *f;

		if (pfn >= g->npages || (i && pfn == l->head))
			return -EUCLEAN;
		f = &g->fr[pfn];
		if (!in_list(f, id) || f->next >= g->npages ||
		    g->fr[f->next].prev != pfn)
			return -EUCLEAN;
		pfn = f->next;
	}
	return pfn == l->head ? 0 : -EUCLEAN;
}

static int check_frames(const struct gmm *g)
{
	uint64_t n[GMM_FRAME_KERNEL + 1] = {0}, fresh = 0;

	for (uint64_t p = 0; p < g->npages; p++) {
		const struct gmm_frame *f = &g->fr[p];
		const struct gmm_proc *pr;

		if (f->state > GMM_FRAME_KERNEL)
			return -EUCLEAN;
		if (f->flags & GMM_FR_FRESH) { /* only free, never clean */
			if (f->state != GMM_FRAME_FREE ||
			    (f->flags & GMM_FR_CLEAN))
				return -EUCLEAN;
			fresh++;
		}
		if ((p < g->cfg.reserved) != (f->state == GMM_FRAME_KERNEL))
			return -EUCLEAN;
		n[f->state]++;
		if (f->state != GMM_FRAME_ANON)
			continue;
		pr = f->owner < g->nprocs_cap ? g->procs[f->owner] : NULL;
		if (!pr || f->idx >= pr->npages ||
		    pr->pte[f->idx] != GMM_PTE(p, GMM_PTE_PRESENT))
			return -EUCLEAN;
	}
	if (n[GMM_FRAME_FREE] != gmm_nfree(g) ||
	    n[GMM_FRAME_ANON] != g->l[GMM_L_ANON].n ||
	    n[GMM_FRAME_CACHE] != g->l[GMM_L_CACHE].n ||
	    n[GMM_FRAME_BALLOON] != g->nballoon ||
	    n[GMM_FRAME_REPORTED] != g->nreported ||
	    n[GMM_FRAME_KERNEL] != g->nkernel || fresh != g->nfresh)
		return -EUCLEAN;
	return 0;
}

static int check_procs(const struct gmm *g)
{
	uint64_t swapped = 0;

	for (unsigned i = 0; i < g->nprocs_cap; i++) {
		const struct gmm_proc *p = g->procs[i];
		uint64_t res = 0, sw = 0;

		if (!p)
			continue;
		if (p->id != i || p->g != g)
			return -EUCLEAN;
		for (uint64_t v = 0; v < p->npages; v++) {
			uint64_t e = p->pte[v];
			const struct gmm_frame *f;

			switch (GMM_PTE_TYPE(e)) {
			case GMM_PTE_PRESENT:
				if (GMM_PTE_VAL(e) >= g->npages)
					return -EUCLEAN;
				f = &g->fr[GMM_PTE_VAL(e)];
				if (f->state != GMM_FRAME_ANON ||
				    f->owner != i || f->idx != v)
					return -EUCLEAN;
				res++;
				break;
			case GMM_PTE_SWAPPED:
				if (GMM_PTE_VAL(e) >= gmm_swap_slots(g->swap))
					return -EUCLEAN;
				sw++;
				break;
			default:
				if (e)
					return -EUCLEAN;
			}
		}
		if (res != p->resident || sw != p->swapped ||
		    (p->killed && res + sw))
			return -EUCLEAN;
		swapped += sw;
	}
	return swapped == gmm_swap_used(g->swap) ? 0 : -EUCLEAN;
}

int gmm_check(const struct gmm *g)
{
	int err;

	if (!g)
		return -EINVAL;
	for (unsigned id = 0; id < GMM_L_NR; id++) {
		err = check_list(g, id);
		if (err)
			return err;
	}
	err = check_frames(g);
	if (!err)
		err = check_procs(g);
	if (!err)
		err = gmm_check_files(g);
	return err;
}
