/* SPDX-License-Identifier: MIT */
/*
 * gmm.c - guest memory manager core: creation, the frame lists, the
 * allocation path (direct reclaim, OOM) and the stats.
 */
#include "gmm_int.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Direct reclaim tries to free this many frames per stall. */
#define GMM_DIRECT_BATCH 32

void gmm_list_add(struct gmm *g, enum gmm_list_id id, uint32_t pfn)
{
	struct gmm_list *l = &g->l[id];
	struct gmm_frame *f = &g->fr[pfn];

	if (l->head == GMM_NIL) {
		f->next = f->prev = pfn;
		l->head = pfn;
	} else {
		struct gmm_frame *h = &g->fr[l->head];

		f->next = l->head;
		f->prev = h->prev;
		g->fr[h->prev].next = pfn;
		h->prev = pfn;
	}
	l->n++;
}

void gmm_list_push(struct gmm *g, enum gmm_list_id id, uint32_t pfn)
{
	gmm_list_add(g, id, pfn);
	g->l[id].head = pfn;
}

void gmm_list_del(struct gmm *g, enum gmm_list_id id, uint32_t pfn)
{
	struct gmm_list *l = &g->l[id];
	struct gmm_frame *f = &g->fr[pfn];

	if (l->n == 1) {
		l->head = GMM_NIL;
	} else {
		g->fr[f->prev].next = f->next;
		g->fr[f->next].prev = f->prev;
		if (l->head == pfn)
			l->head = f->next;
	}
	f->next = f->prev = GMM_NIL;
	l->n--;
	if (id == GMM_L_FREE_HOT && (f->flags & GMM_FR_FRESH)) {
		f->flags &= (uint8_t)~GMM_FR_FRESH; /* off the free list */
		g->nfresh--;
	}
}

void gmm_frame_to_free(struct gmm *g, uint32_t pfn, bool clean)
{
	struct gmm_frame *f = &g->fr[pfn];

	f->state = GMM_FRAME_FREE;
	f->flags = clean ? GMM_FR_CLEAN : 0;
	f->owner = 0;
	f->idx = 0;
	/* LIFO: the most recently freed (cache-warm, host-backed) goes first */
	gmm_list_push(g, clean ? GMM_L_FREE_CLEAN : GMM_L_FREE_HOT, pfn);
}

uint32_t gmm_free_pop(struct gmm *g)
{
	enum gmm_list_id id =
	        g->l[GMM_L_FREE_HOT].n ? GMM_L_FREE_HOT : GMM_L_FREE_CLEAN;
	uint32_t pfn = g->l[id].head;

	if (pfn == GMM_NIL)
		return GMM_NIL;
	gmm_list_del(g, id, pfn);
	g->fr[pfn].flags = 0;
	return pfn;
}

int gmm_frame_get(struct gmm *g, uint32_t *pfn)
{
	bool tried = false;

	for (;;) {
		uint64_t nf = gmm_nfree(g);

		if (nf > g->wmin || (nf && tried)) {
			*pfn = gmm_free_pop(g);
			return 0;
		}
		if (!tried) {
			/* Below the min watermark: reclaim in the caller. */
			g->c.alloc_stalls++;
			gmm_reclaim(g, GMM_DIRECT_BATCH, UINT64_MAX, GMM_RC_ALL,
			            true);
			tried = true;
			continue;
		}
		/* Nothing free, nothing reclaimable. */
		if (!gmm_oom(g, GMM_DIRECT_BATCH))
			return -ENOMEM;
		tried = false;
	}
}

static uint64_t isqrt(uint64_t v)
{
	uint64_t r = (uint64_t)sqrt((double)v);

	while (r * r > v)
		r--;
	while ((r + 1) * (r + 1) <= v)
		r++;
	return r;
}

static void set_watermarks(struct gmm *g)
{
	uint64_t managed = g->npages - g->cfg.reserved;
	uint64_t min = g->cfg.min_free_pages;

	if (!min) {
		/* Linux: min_free_kbytes = sqrt(16 * lowmem KiB), 128 KiB..256
		 * MiB */
		min = isqrt(16 * managed * 4) / 4;
		if (min < 32)
			min = 32;
		if (min > 65536)
			min = 65536;
	}
	if (min > managed / 8)
		min = managed / 8;
	g->wmin = min;
	g->wlow = min + min / 4;
	g->whigh = min + min / 2;
	g->floor = g->cfg.floor_pages;
	if (!g->floor) {
		g->floor = managed * 3 / 100;
		if (g->floor < (32u << 20) / GMM_PAGE_SIZE)
			g->floor = (32u << 20) / GMM_PAGE_SIZE;
	}
	if (g->floor < g->whigh)
		g->floor = g->whigh;
	if (g->floor > managed)
		g->floor = managed;
}

static void init_frames(struct gmm *g)
{
	for (unsigned i = 0; i < GMM_L_NR; i++)
		g->l[i].head = GMM_NIL;
	for (uint64_t i = 0; i < g->cfg.reserved; i++) {
		g->fr[i].state = GMM_FRAME_KERNEL;
		g->fr[i].next = g->fr[i].prev = GMM_NIL;
	}
	g->nkernel = g->cfg.reserved;
	/* Pushed in reverse so the lowest PFNs are allocated first. */
	for (uint64_t i = g->npages; i-- > g->cfg.reserved;) {
		gmm_frame_to_free(g, (uint32_t)i, false);
		g->fr[i].flags |= GMM_FR_FRESH;
	}
	g->nfresh = g->npages - g->cfg.reserved;
}

int gmm_create(const struct gmm_cfg *cfg, struct gmm **out)
{
	struct gmm *g;
	int err = -ENOMEM;

	if (!cfg || !out || !cfg->ram || ((uintptr_t)cfg->ram & 4095) ||
	    cfg->npages >= GMM_NIL || cfg->npages <= cfg->reserved + 64)
		return -EINVAL;
	g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	g->cfg = *cfg;
	g->ram = cfg->ram;
	g->npages = cfg->npages;
	if (!g->cfg.kswapd_batch)
		g->cfg.kswapd_batch = 8192;
	if (!g->cfg.report_min_pages)
		g->cfg.report_min_pages = 512;
	g->dir = strdup(cfg->dir ? cfg->dir : "/var/tmp");
	if (!g->dir)
		goto err_free;
	g->cfg.dir = g->dir;
	g->fr = calloc(g->npages, sizeof(*g->fr));
	if (!g->fr)
		goto err_dir;
	if (cfg->swap_bytes) {
		err = gmm_swap_open(g->dir, cfg->swap_bytes, cfg->io_mode,
		                    &g->swap);
		if (err)
			goto err_fr;
	}
	err = pthread_mutex_init(&g->snap_lock, NULL);
	if (err) {
		err = -err;
		goto err_swap;
	}
	set_watermarks(g);
	init_frames(g);
	gmm_stats_publish(g);
	*out = g;
	return 0;

err_swap:
	gmm_swap_close(g->swap);
err_fr:
	free(g->fr);
err_dir:
	free(g->dir);
err_free:
	free(g);
	return err;
}

void gmm_destroy(struct gmm *g)
{
	if (!g)
		return;
	for (unsigned i = 0; i < g->nprocs_cap; i++)
		if (g->procs[i])
			gmm_proc_destroy(g->procs[i]);
	for (unsigned i = 0; i < g->nfiles_cap; i++)
		if (g->files[i])
			gmm_file_destroy(g->files[i]);
	free(g->procs);
	free(g->files);
	pthread_mutex_destroy(&g->snap_lock);
	gmm_swap_close(g->swap);
	free(g->fr);
	free(g->dir);
	free(g);
}

void gmm_set_oom_notifier(struct gmm *g, gmm_oom_notify_fn fn, void *ctx)
{
	g->oom_fn = fn;
	g->oom_ctx = ctx;
}

void gmm_stats(struct gmm *g, struct gmm_stats *o)
{
	const struct gmm_counters *c = &g->c;
	uint64_t nfree = gmm_nfree(g), avail, total;

	memset(o, 0, sizeof(*o));
	o->total = g->npages;
	o->free = nfree;
	o->free_clean = g->l[GMM_L_FREE_CLEAN].n;
	o->reported = g->nreported;
	o->anon = g->l[GMM_L_ANON].n;
	o->cache = g->l[GMM_L_CACHE].n;
	o->balloon = g->nballoon;
	o->kernel = g->nkernel;
	o->swap_total = gmm_swap_slots(g->swap);
	o->swap_used = gmm_swap_used(g->swap);
	o->wmark_min = g->wmin;
	o->wmark_low = g->wlow;
	o->wmark_high = g->whigh;
	o->floor = g->floor;
	total = g->npages - g->nkernel;
	if (!g->cfg.balloon_in_total)
		total -= g->nballoon;
	avail = nfree + g->nreported + o->cache;
	avail = avail > g->wlow ? avail - g->wlow : 0;
	o->memtotal_bytes = total * GMM_PAGE_SIZE;
	o->memfree_bytes = (nfree + g->nreported) * GMM_PAGE_SIZE;
	o->avail_bytes = avail * GMM_PAGE_SIZE;
	o->caches_bytes = o->cache * GMM_PAGE_SIZE;
	o->swap_in_bytes = c->swap_in * GMM_PAGE_SIZE;
	o->swap_out_bytes = c->swap_out * GMM_PAGE_SIZE;
	o->major_faults = c->majflt;
	o->minor_faults = c->minflt;
	o->oom_kills = c->oom_kills;
	o->alloc_stalls = c->alloc_stalls;
	o->async_scan = c->async_scan;
	o->direct_scan = c->direct_scan;
	o->async_reclaim = c->async_reclaim;
	o->direct_reclaim = c->direct_reclaim;
	o->cache_hits = c->cache_hits;
	o->cache_misses = c->cache_misses;
	o->file_read_bytes = c->cache_misses * GMM_PAGE_SIZE;
	o->io_errors = c->io_errors;
	o->oom_notified = c->oom_notified;
	o->balloon_allocs = c->balloon_allocs;
	o->balloon_frees = c->balloon_frees;
	o->bad_pfns = c->bad_pfns;
	o->swap_direct = gmm_swap_direct(g->swap);
	o->file_direct = g->file_direct;
	o->seq = g->seq;
}

void gmm_stats_publish(struct gmm *g)
{
	struct gmm_stats s;

	g->seq++;
	gmm_stats(g, &s);
	pthread_mutex_lock(&g->snap_lock);
	g->snap = s;
	pthread_mutex_unlock(&g->snap_lock);
}

void gmm_stats_snapshot(struct gmm *g, struct gmm_stats *out)
{
	pthread_mutex_lock(&g->snap_lock);
	*out = g->snap;
	pthread_mutex_unlock(&g->snap_lock);
}

int gmm_frame_state(const struct gmm *g, uint64_t pfn)
{
	if (!g || pfn >= g->npages)
		return -EINVAL;
	return g->fr[pfn].state;
}

void *gmm_frame_mem(const struct gmm *g, uint64_t pfn)
{
	if (!g || pfn >= g->npages)
		return NULL;
	return gmm_pfn_mem(g, (uint32_t)pfn);
}
