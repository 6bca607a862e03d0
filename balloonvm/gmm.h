/* SPDX-License-Identifier: MIT */
/*
 * gmm.h - the guest memory manager of balloonvm: the "operating system" that
 * owns guest RAM inside a built-in VM.
 *
 * Guest RAM is a caller-provided mapping (normally a memfd mapped MAP_SHARED
 * through bln_prim_map()) addressed by 4 KiB page frame numbers, PFN = GPA >>
 * 12.  The gmm keeps a page frame database over it and hands frames to:
 *   - guest processes (struct gmm_proc): anonymous virtual pages that are
 *     unmapped, resident (a frame) or swapped (a slot of a real swap file);
 *   - the page cache (struct gmm_file): pages of real files on disk;
 *   - the balloon driver (gmm_driver_ops, matching struct bln_driver_ops).
 * Reclaim is a clock (second chance) over page-cache frames first, then
 * anonymous frames, which are written to the swap file (real pwrite, O_DIRECT
 * when the filesystem allows).  kswapd runs in gmm_tick() when free frames
 * fall below the low watermark; allocations below the min watermark reclaim
 * directly (an "allocation stall").  When nothing is reclaimable the OOM
 * notifier (deflate-on-OOM) is asked first, then the process with the largest
 * resident + swapped footprint is killed.
 *
 * Everything is real: a touch writes guest RAM, a swap-out writes the swap
 * file, a swap-in or page-cache miss reads it back from disk.
 *
 * Threading: single-threaded by design.  Every function except
 * gmm_stats_snapshot() must be called from the one guest thread (the vCPU),
 * which is also where the balloon driver runs.  gmm_stats_snapshot() may be
 * called from any thread; it returns the copy published by the last
 * gmm_tick() / gmm_stats_publish().
 *
 * Units: "pages" and PFNs are 4 KiB guest pages; "bytes" are bytes.
 * Return contract: 0 (or a documented non-negative value) on success, -errno
 * on failure.  Never prints.
 *
 * Wiring it into a VM (sketch):
 *   cfg.ram = guest RAM mapping; cfg.npages = RAM bytes / 4096;
 *   cfg.reserved = pages of the driver's scratch area, placed at GPA 0
 *     (bln_driver_cfg.scratch_gpa = 0, scratch_len = reserved * 4096);
 *   gmm_create(&cfg, &g);
 *   drv_cfg.ops = &gmm_driver_ops; drv_cfg.ctx = g;  bln_driver_create();
 *   gmm_set_oom_notifier(g, fn, drv) with fn calling
 *     bln_driver_deflate_oom(drv, want) and returning max(0, result);
 *   guest thread loop: bln_driver_step(drv); wl_sched_run(sched, ...)
 *     (which calls gmm_tick() every tick; or call gmm_tick() yourself);
 *   any thread: gmm_stats_snapshot(g, &st).
 */
#ifndef BALLOONVM_GMM_H
#define BALLOONVM_GMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "balloon/bln_driver.h"
#include "balloon/virtio_balloon.h"
#include "swap.h"

#define GMM_PAGE_SHIFT 12
#define GMM_PAGE_SIZE  (UINT64_C(1) << GMM_PAGE_SHIFT)

struct gmm;
struct gmm_proc;
struct gmm_file;

/* What a frame is used for (the page frame database). */
enum gmm_frame_state {
	GMM_FRAME_FREE = 0,     /* on a free list */
	GMM_FRAME_ANON = 1,     /* a process's virtual page */
	GMM_FRAME_CACHE = 2,    /* a page-cache page of a file (clean) */
	GMM_FRAME_BALLOON = 3,  /* taken by the balloon driver */
	GMM_FRAME_REPORTED = 4, /* free, isolated for free page reporting */
	GMM_FRAME_KERNEL = 5,   /* firmware / guest kernel, never allocated */
};

struct gmm_cfg {
	void *ram;         /* guest RAM at GPA 0, 4 KiB aligned, read-write */
	uint64_t npages;   /* RAM size, 4 KiB pages (< 2^32) */
	uint64_t reserved; /* frames [0, reserved) are firmware's (driver rings,
	                      scratch): KERNEL, never allocated */
	const char *dir;   /* where swap and data files go (NULL = /var/tmp);
	                      files are unlinked right after creation */
	uint64_t swap_bytes;       /* swap file size, bytes; 0 = no swap */
	enum gmm_io_mode io_mode;  /* O_DIRECT policy for swap and files */
	uint64_t floor_pages;      /* balloon floor: free + page cache the guest
	                              keeps; 0 = max(32 MiB, 3 % of managed);
	                              never below the high watermark */
	uint64_t min_free_pages;   /* min watermark; 0 = Linux-like
	                              sqrt(16 * managed KiB) KiB, 32..65536
	                              pages, <= managed / 8;
	                              low = min * 5/4, high = min * 3/2 */
	uint32_t kswapd_batch;     /* frames kswapd may scan per gmm_tick();
	                              0 = 8192 */
	uint32_t report_min_pages; /* free page reporting run size and
	                              alignment, pages; 0 = 512 (2 MiB) */
	bool balloon_in_total;     /* MEMTOT keeps balloon pages in (Linux with
	                              DEFLATE_ON_OOM); default false: MEMTOT
	                              shrinks as the balloon grows */
};

/*
 * Deflate-on-OOM hook: release up to @want_pages pages back into the gmm's
 * free list (normally via bln_driver_deflate_oom(), whose free_pages callback
 * is gmm_driver_ops.free_pages) and return how many were released.  Called
 * from the allocation path, on the guest thread, before the OOM killer runs.
 */
typedef size_t (*gmm_oom_notify_fn)(void *ctx, size_t want_pages);

struct gmm_stats {
	/* frame database, 4 KiB pages: total = free + reported + anon + cache
	 * + balloon + kernel */
	uint64_t total, free, reported, anon, cache, balloon, kernel;
	uint64_t free_clean; /* of free: already discarded by the host */
	uint64_t swap_total, swap_used; /* slots (4 KiB pages) */
	uint64_t wmark_min, wmark_low, wmark_high, floor; /* pages */
	/* what the guest reports, as virtio-balloon stats (bytes / counts) */
	uint64_t memtotal_bytes, memfree_bytes, avail_bytes, caches_bytes;
	uint64_t swap_in_bytes, swap_out_bytes;
	uint64_t major_faults, minor_faults;
	uint64_t oom_kills, alloc_stalls;
	uint64_t async_scan, direct_scan;       /* frames examined by reclaim */
	uint64_t async_reclaim, direct_reclaim; /* frames reclaimed */
	/* extra counters */
	uint64_t cache_hits, cache_misses, file_read_bytes;
	uint64_t io_errors;            /* failed swap or file I/O */
	uint64_t oom_notified;         /* pages returned by the OOM notifier */
	uint64_t balloon_allocs;       /* pages given to the balloon */
	uint64_t balloon_frees;        /* pages returned by the balloon */
	uint64_t bad_pfns;             /* PFNs refused in free/report_done */
	bool swap_direct, file_direct; /* O_DIRECT in effect */
	uint64_t seq;                  /* publication count (snapshots) */
};

/* ---- lifecycle ---------------------------------------------------------- */

/*
 * Build the frame database over @cfg->ram and open the swap file.  Frames
 * [reserved, npages) start free; their contents are not touched.  Returns 0,
 * -EINVAL (no RAM, npages <= reserved + 64 or >= 2^32), -ENOMEM, or the swap
 * file's error.
 */
int gmm_create(const struct gmm_cfg *cfg, struct gmm **out);

/* Free everything (processes and files must be destroyed first; any left
 * are destroyed here).  Guest RAM itself is the caller's. */
void gmm_destroy(struct gmm *g);

/* Register the OOM notifier (NULL to remove). */
void gmm_set_oom_notifier(struct gmm *g, gmm_oom_notify_fn fn, void *ctx);

/*
 * Timer tick: kswapd reclaims (at most cfg.kswapd_batch scanned frames)
 * when free < low watermark, until free >= high; then publishes the stats
 * snapshot.  Returns frames reclaimed (>= 0).
 */
int64_t gmm_tick(struct gmm *g);

/* ---- processes (anonymous memory) --------------------------------------- */

/* Create a process with @vpages virtual pages, all unmapped.  @name is
 * copied (truncated to 31 chars).  Returns 0, -EINVAL, -ENOMEM. */
int gmm_proc_create(struct gmm *g, const char *name, uint64_t vpages,
                    struct gmm_proc **out);

/* Free all its frames and swap slots and the process itself. */
void gmm_proc_destroy(struct gmm_proc *p);

/* Change the size of the address space; pages at and above a smaller size
 * are released.  Returns 0, -EINVAL, -ENOMEM, -ESRCH (killed). */
int gmm_proc_resize(struct gmm_proc *p, uint64_t vpages);

/* gmm_touch() results (non-negative). */
enum gmm_fault {
	GMM_FAULT_NONE = 0,  /* resident: accessed bit set, no fault */
	GMM_FAULT_MINOR = 1, /* first touch: a zeroed frame was mapped */
	GMM_FAULT_MAJOR = 2, /* swapped: the page was read from the swap file */
};

/*
 * Access virtual page @vpage of @p (@write marks it dirty).  Maps a frame as
 * needed (may reclaim, swap, or run the OOM killer) and stores the page's
 * 4 KiB of guest memory in *@mem: the caller then really reads/writes it.
 * The pointer stays valid until the next gmm call.  Returns enum gmm_fault,
 * or -EINVAL (@vpage out of range), -ESRCH (the process was OOM-killed, maybe
 * by this very fault), -ENOMEM (nothing left to kill), -EIO (swap-in failed;
 * the page stays swapped).
 */
int gmm_touch(struct gmm_proc *p, uint64_t vpage, bool write, void **mem);

/* Drop virtual page @vpage (like MADV_DONTNEED): its frame or swap slot is
 * freed; the next touch is a first touch again.  Returns 0, -EINVAL. */
int gmm_release(struct gmm_proc *p, uint64_t vpage);

struct gmm_proc_info {
	uint64_t vpages, resident, swapped;  /* pages */
	uint64_t minor_faults, major_faults; /* this process's */
	bool killed;                         /* by the OOM killer */
};
void gmm_proc_info(const struct gmm_proc *p, struct gmm_proc_info *out);

/* ---- page cache -----------------------------------------------------------
 */

/*
 * Create a data file of @bytes bytes (rounded up to pages) on the guest's
 * "disk" (cfg.dir).  It is sparse until gmm_file_fill() writes its content.
 * Returns 0, -EINVAL, -ENOMEM, or the file creation error.
 */
int gmm_file_create(struct gmm *g, uint64_t bytes, struct gmm_file **out);

/* Drop its page-cache pages and close the file. */
void gmm_file_destroy(struct gmm_file *f);

/*
 * Write the next (at most) @max_pages pages of the file's content straight
 * to disk (not through the page cache): page i holds gmm_file_word(i, w) in
 * 64-bit word w.  Returns 1 if more remains, 0 when the file is complete, or
 * -errno.  Reads of a page before it is written see zeroes.
 */
int gmm_file_fill(struct gmm_file *f, uint64_t max_pages);

/* The expected 64-bit word @w (0..511) of file page @fpage. */
uint64_t gmm_file_word(uint64_t fpage, unsigned w);

/*
 * Read file page @fpage through the page cache: on a hit the cached frame is
 * marked accessed; on a miss a frame is allocated (may reclaim / OOM-kill)
 * and the page is read from disk into it.  *@mem receives the 4 KiB (valid
 * until the next gmm call).  Returns 0 on a hit, 1 on a miss (real I/O),
 * -EINVAL, -ENOMEM, -EIO.
 */
int gmm_file_read(struct gmm_file *f, uint64_t fpage, const void **mem);

uint64_t gmm_file_pages(const struct gmm_file *f);  /* size, pages */
uint64_t gmm_file_cached(const struct gmm_file *f); /* in cache, pages */

/* ---- balloon driver hooks ---------------------------------------------------
 */

/*
 * Give the balloon up to @n frames (PFNs into @pfns): free frames first, in
 * descending address order continuing where the previous call stopped (so
 * consecutive calls and requests are contiguous and the host releases them
 * with few calls), frames the guest has used before ones never used since
 * boot before ones the host has already discarded;
 * below the min watermark, or when free + cache would fall under the floor,
 * reclaim (cache, then swap anon) as Linux's balloon does through the page
 * allocator, but never so far that free + cache < floor, and never OOM-kill.
 * Returns the number taken (0..n).
 */
unsigned gmm_balloon_alloc(struct gmm *g, uint32_t *pfns, unsigned n);

/* Take frames back from the balloon (PFNs not in the balloon are counted in
 * bad_pfns and ignored). They become free; their contents are not assumed. */
void gmm_balloon_free(struct gmm *g, const uint32_t *pfns, unsigned n);

/*
 * Free page reporting: isolate up to @max runs of free frames that the host
 * has not discarded yet, each aligned to and a multiple of
 * cfg.report_min_pages, keeping at least the high watermark of free frames
 * un-isolated.  Isolated frames are REPORTED and not allocated until
 * gmm_report_done().  Returns the number of ranges stored in @r.
 */
unsigned gmm_report_take(struct gmm *g, struct bln_range *r, unsigned max);

/* The host discarded the ranges: their frames become free ("clean": they
 * are allocated last, and not reported again until used). */
void gmm_report_done(struct gmm *g, const struct bln_range *r, unsigned n);

/*
 * Fill every virtio-balloon stat (tags 0..15; see gmm_stats for meanings)
 * and set their bits in *@valid.  MEMFREE counts free + reported frames;
 * AVAIL = free + reported + cache - low watermark (like MemAvailable);
 * HTLB_* are 0 (no hugetlb) but valid.
 */
void gmm_fill_stats(struct gmm *g, uint64_t vals[VIRTIO_BALLOON_S_NR],
                    uint32_t *valid);

/* Ready-made struct bln_driver_ops over the functions above; use with
 * ctx = the struct gmm *. */
extern const struct bln_driver_ops gmm_driver_ops;

/* ---- stats and checks -------------------------------------------------------
 */

/* Current stats (guest thread). */
void gmm_stats(struct gmm *g, struct gmm_stats *out);

/* Publish the current stats for gmm_stats_snapshot() (gmm_tick does it). */
void gmm_stats_publish(struct gmm *g);

/* The last published stats; callable from any thread. */
void gmm_stats_snapshot(struct gmm *g, struct gmm_stats *out);

/* State of frame @pfn (enum gmm_frame_state), or -EINVAL. */
int gmm_frame_state(const struct gmm *g, uint64_t pfn);

/* Guest memory of frame @pfn (no checks beyond the range; NULL if out). */
void *gmm_frame_mem(const struct gmm *g, uint64_t pfn);

/*
 * Verify every invariant of the frame database (list membership and counts,
 * owner back-links, process and file tables, swap slot accounting).  O(RAM);
 * for tests.  Returns 0 or -EUCLEAN with the first broken invariant.
 */
int gmm_check(const struct gmm *g);

#endif
