/* SPDX-License-Identifier: MIT */
/*
 * gmm_proc.c - guest processes: anonymous virtual pages, faults (first touch
 * and swap-in), release, resize, and the OOM kill of a process.
 */
#include "gmm_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int proc_id_alloc(struct gmm *g, struct gmm_proc *p)
{
	unsigned i, cap;
	struct gmm_proc **n;

	for (i = 0; i < g->nprocs_cap; i++)
		if (!g->procs[i])
			goto found;
	if (g->nprocs_cap >= GMM_MAX_OWNER)
		return -ENOSPC;
	cap = g->nprocs_cap ? g->nprocs_cap * 2 : 8;
	if (cap > GMM_MAX_OWNER)
		cap = GMM_MAX_OWNER;
	n = realloc(g->procs, cap * sizeof(*n));
	if (!n)
		return -ENOMEM;
	memset(n + g->nprocs_cap, 0, (cap - g->nprocs_cap) * sizeof(*n));
	g->procs = n;
	i = g->nprocs_cap;
	g->nprocs_cap = cap;
found:
	g->procs[i] = p;
	p->id = (uint16_t)i;
	return 0;
}

int gmm_proc_create(struct gmm *g, const char *name, uint64_t vpages,
                    struct gmm_proc **out)
{
	struct gmm_proc *p;
	int err;

	if (!g || !out || !vpages || vpages >= GMM_NIL)
		return -EINVAL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->pte = calloc(vpages, sizeof(*p->pte));
	if (!p->pte) {
		err = -ENOMEM;
		goto err_free;
	}
	err = proc_id_alloc(g, p);
	if (err)
		goto err_pte;
	p->g = g;
	p->npages = vpages;
	snprintf(p->name, sizeof(p->name), "%s", name ? name : "");
	*out = p;
	return 0;

err_pte:
	free(p->pte);
err_free:
	free(p);
	return err;
}

void gmm_unmap_page(struct gmm_proc *p, uint64_t vpage)
{
	struct gmm *g = p->g;
	uint64_t e = p->pte[vpage];

	switch (GMM_PTE_TYPE(e)) {
	case GMM_PTE_PRESENT:
		gmm_list_del(g, GMM_L_ANON, (uint32_t)GMM_PTE_VAL(e));
		gmm_frame_to_free(g, (uint32_t)GMM_PTE_VAL(e), false);
		p->resident--;
		break;
	case GMM_PTE_SWAPPED:
		gmm_swap_free(g->swap, GMM_PTE_VAL(e));
		p->swapped--;
		break;
	default:
		break;
	}
	p->pte[vpage] = 0;
}

static void unmap_range(struct gmm_proc *p, uint64_t from, uint64_t to)
{
	for (uint64_t v = from; v < to; v++)
		if (p->pte[v])
			gmm_unmap_page(p, v);
}

void gmm_proc_kill(struct gmm_proc *p)
{
	unmap_range(p, 0, p->npages);
	p->killed = true;
}

void gmm_proc_destroy(struct gmm_proc *p)
{
	if (!p)
		return;
	unmap_range(p, 0, p->npages);
	p->g->procs[p->id] = NULL;
	free(p->pte);
	free(p);
}

int gmm_proc_resize(struct gmm_proc *p, uint64_t vpages)
{
	uint64_t *n;

	if (!p || !vpages || vpages >= GMM_NIL)
		return -EINVAL;
	if (p->killed)
		return -ESRCH;
	if (vpages < p->npages)
		unmap_range(p, vpages, p->npages);
	n = realloc(p->pte, vpages * sizeof(*n));
	if (!n) {
		if (vpages < p->npages) { /* keep the bigger table */
			p->npages = vpages;
			return 0;
		}
		return -ENOMEM;
	}
	if (vpages > p->npages)
		memset(n + p->npages, 0, (vpages - p->npages) * sizeof(*n));
	p->pte = n;
	p->npages = vpages;
	return 0;
}

/* Bring @vpage in (first touch or swap-in) into a fresh frame. */
static int fault_in(struct gmm_proc *p, uint64_t vpage, uint32_t *out)
{
	struct gmm *g = p->g;
	uint32_t pfn;
	uint64_t e;
	int err, ret;

	err = gmm_frame_get(g, &pfn);
	if (err)
		return err;
	if (p->killed) { /* the OOM killer chose us while we waited */
		gmm_frame_to_free(g, pfn, false);
		return -ESRCH;
	}
	e = p->pte[vpage];
	if (GMM_PTE_TYPE(e) == GMM_PTE_SWAPPED) {
		err = gmm_swap_read(g->swap, GMM_PTE_VAL(e),
		                    gmm_pfn_mem(g, pfn));
		if (err) {
			g->c.io_errors++;
			gmm_frame_to_free(g, pfn, false);
			return err;
		}
		gmm_swap_free(g->swap, GMM_PTE_VAL(e));
		p->swapped--;
		p->majflt++;
		g->c.majflt++;
		g->c.swap_in++;
		ret = GMM_FAULT_MAJOR;
	} else {
		memset(gmm_pfn_mem(g, pfn), 0, GMM_PAGE_SIZE);
		p->minflt++;
		g->c.minflt++;
		ret = GMM_FAULT_MINOR;
	}
	*out = pfn;
	return ret;
}

int gmm_touch(struct gmm_proc *p, uint64_t vpage, bool write, void **mem)
{
	struct gmm_frame *f;
	uint64_t e;
	uint32_t pfn = 0;
	int ret = GMM_FAULT_NONE;

	if (!p || !mem)
		return -EINVAL;
	if (p->killed)
		return -ESRCH;
	if (vpage >= p->npages)
		return -EINVAL;
	e = p->pte[vpage];
	if (GMM_PTE_TYPE(e) == GMM_PTE_PRESENT) {
		pfn = (uint32_t)GMM_PTE_VAL(e);
	} else {
		ret = fault_in(p, vpage, &pfn);
		if (ret < 0)
			return ret;
		f = &p->g->fr[pfn];
		f->state = GMM_FRAME_ANON;
		f->owner = p->id;
		f->idx = (uint32_t)vpage;
		/* Enter the clock just behind the hand: scanned last. */
		gmm_list_add(p->g, GMM_L_ANON, pfn);
		p->pte[vpage] = GMM_PTE(pfn, GMM_PTE_PRESENT);
		p->resident++;
	}
	f = &p->g->fr[pfn];
	f->flags |= GMM_FR_ACCESSED | (write ? GMM_FR_DIRTY : 0);
	*mem = gmm_pfn_mem(p->g, pfn);
	return ret;
}

int gmm_release(struct gmm_proc *p, uint64_t vpage)
{
	if (!p || vpage >= p->npages)
		return -EINVAL;
	gmm_unmap_page(p, vpage);
	return 0;
}

void gmm_proc_info(const struct gmm_proc *p, struct gmm_proc_info *out)
{
	out->vpages = p->npages;
	out->resident = p->resident;
	out->swapped = p->swapped;
	out->minor_faults = p->minflt;
	out->major_faults = p->majflt;
	out->killed = p->killed;
}
