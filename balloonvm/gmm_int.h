/* SPDX-License-Identifier: MIT */
/*
 * gmm_int.h - internals shared by gmm*.c: the frame database, its lists and
 * the owner tables.  Not for users of gmm.h.
 *
 * Every frame is on exactly one list or on none:
 *   FREE      -> L_FREE_HOT (recently used) or L_FREE_CLEAN (discarded by the
 *                host: reported or ballooned; allocated last)
 *   ANON      -> L_ANON   (clock ring; the list head is the clock hand)
 *   CACHE     -> L_CACHE  (clock ring)
 *   BALLOON, REPORTED, KERNEL -> no list
 * Lists are circular and doubly linked through frame indices (PFNs).
 */
#ifndef BALLOONVM_GMM_INT_H
#define BALLOONVM_GMM_INT_H

#include <pthread.h>

#include "gmm.h"

#define GMM_NIL       UINT32_MAX
#define GMM_MAX_OWNER 65535u /* processes / files (owner ids are u16) */

/* frame flags */
#define GMM_FR_ACCESSED 0x01 /* referenced since the clock hand passed */
#define GMM_FR_DIRTY    0x02 /* written (informational) */
#define GMM_FR_CLEAN    0x04 /* free and already discarded by the host */
/* free, never allocated since boot: the host has likely never backed it */
#define GMM_FR_FRESH 0x08

struct gmm_frame {
	uint32_t next, prev; /* list links, PFNs */
	uint32_t idx;        /* vpage (ANON) or file page (CACHE) */
	uint16_t owner;      /* process id (ANON) or file id (CACHE) */
	uint8_t state;       /* enum gmm_frame_state */
	uint8_t flags;       /* GMM_FR_* */
};

enum gmm_list_id {
	GMM_L_FREE_HOT = 0,
	GMM_L_FREE_CLEAN,
	GMM_L_ANON,
	GMM_L_CACHE,
	GMM_L_NR,
};

struct gmm_list {
	uint32_t head; /* GMM_NIL when empty */
	uint64_t n;
};

/* Page table entry of a process: 0 = unmapped, else type in the low bits. */
#define GMM_PTE_PRESENT 1u
#define GMM_PTE_SWAPPED 2u
#define GMM_PTE_TYPE(e) ((unsigned)((e)&3u))
#define GMM_PTE_VAL(e)  ((e) >> 2)
#define GMM_PTE(v, t)   (((uint64_t)(v) << 2) | (t))

struct gmm_proc {
	struct gmm *g;
	uint16_t id;
	char name[32];
	uint64_t *pte;
	uint64_t npages;
	uint64_t resident, swapped;
	uint64_t minflt, majflt;
	bool killed;
};

struct gmm_file {
	struct gmm *g;
	uint16_t id;
	int fd;
	bool direct;
	uint64_t npages;
	uint32_t *map; /* fpage -> PFN + 1, 0 = not cached */
	uint64_t cached;
	uint64_t filled; /* pages written by gmm_file_fill */
};

struct gmm_counters {
	uint64_t swap_in, swap_out; /* pages */
	uint64_t majflt, minflt;
	uint64_t oom_kills, alloc_stalls;
	uint64_t async_scan, direct_scan, async_reclaim, direct_reclaim;
	uint64_t cache_hits, cache_misses;
	uint64_t io_errors, oom_notified;
	uint64_t balloon_allocs, balloon_frees, bad_pfns;
};

struct gmm {
	struct gmm_cfg cfg;
	char *dir;
	uint8_t *ram;
	uint64_t npages;
	struct gmm_frame *fr;
	struct gmm_list l[GMM_L_NR];
	uint64_t nballoon, nreported, nkernel;
	uint64_t wmin, wlow, whigh, floor;
	struct gmm_swap *swap;
	bool file_direct;
	struct gmm_proc **procs; /* by id; NULL = unused */
	struct gmm_file **files; /* by id */
	unsigned nprocs_cap, nfiles_cap;
	gmm_oom_notify_fn oom_fn;
	void *oom_ctx;
	bool in_oom;
	bool kswapd_active;
	uint64_t rep_cursor; /* next frame report_take looks at */
	uint64_t bal_cursor; /* balloon_scan goes on below this PFN */
	uint64_t nfresh;     /* free frames with GMM_FR_FRESH */
	struct gmm_counters c;
	pthread_mutex_t snap_lock;
	struct gmm_stats snap;
	uint64_t seq;
};

/* reclaim what */
#define GMM_RC_CACHE 1u
#define GMM_RC_ANON  2u
#define GMM_RC_ALL   (GMM_RC_CACHE | GMM_RC_ANON)

static inline void *gmm_pfn_mem(const struct gmm *g, uint32_t pfn)
{
	return g->ram + ((uint64_t)pfn << GMM_PAGE_SHIFT);
}

static inline uint64_t gmm_nfree(const struct gmm *g)
{
	return g->l[GMM_L_FREE_HOT].n + g->l[GMM_L_FREE_CLEAN].n;
}

/* gmm.c: lists and frames */
void gmm_list_add(struct gmm *g, enum gmm_list_id id, uint32_t pfn);
void gmm_list_push(struct gmm *g, enum gmm_list_id id, uint32_t pfn);
void gmm_list_del(struct gmm *g, enum gmm_list_id id, uint32_t pfn);
void gmm_frame_to_free(struct gmm *g, uint32_t pfn, bool clean);
uint32_t gmm_free_pop(struct gmm *g);
/* Allocate a frame for the allocation path (may reclaim / OOM).  Returns 0
 * and the PFN (state still FREE, off all lists), or -ENOMEM. */
int gmm_frame_get(struct gmm *g, uint32_t *pfn);

/* gmm_reclaim.c */
uint64_t gmm_reclaim(struct gmm *g, uint64_t want, uint64_t scan_budget,
                     unsigned what, bool direct);
/* OOM: notifier, then kill.  Returns true if memory may have been freed. */
bool gmm_oom(struct gmm *g, uint64_t want);
void gmm_proc_kill(struct gmm_proc *p);
void gmm_unmap_page(struct gmm_proc *p, uint64_t vpage);

/* gmm_file.c */
void gmm_cache_drop(struct gmm *g, uint32_t pfn);
int gmm_check_files(const struct gmm *g);

#endif
