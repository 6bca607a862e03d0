/* SPDX-License-Identifier: MIT */
/*
 * bln_driver.h - the driver (guest) half of virtio-balloon, independent of any
 * particular guest OS.  The guest's page allocator is supplied by the caller
 * through struct bln_driver_ops; the driver moves the balloon toward the
 * device's num_pages, several requests in flight, each carrying up to
 * batch_pfns PFNs (Linux carries 256 and waits for every ack; we pipeline).
 *
 * Units: PFNs and page counts are 4 KiB balloon pages (GPA >> 12).
 * Return contract: 0 (or a documented count) on success, -errno on failure.
 * Never prints, owns no thread: call bln_driver_step() when the transport's
 * irq_fd/cfg_fd fire or periodically.
 */
#ifndef BALLOON_BLN_DRIVER_H
#define BALLOON_BLN_DRIVER_H

#include <stdbool.h>
#include <stdint.h>

#include "bln_transport.h"
#include "virtio_balloon.h"
#include "vq.h"

struct bln_driver;

/* A run of free guest pages for free page reporting: [pfn, pfn + npages). */
struct bln_range {
	uint64_t pfn;
	uint64_t npages;
};

/* The guest's side of the bargain.  All callbacks are called from
 * bln_driver_step() / bln_driver_deflate_oom() on the caller's thread. */
struct bln_driver_ops {
	/* Take up to @n pages from the guest for the balloon (free pages
	 * first; the guest may reclaim to find more).  Store their PFNs in
	 * @pfns.  Return how many were taken (0..n); 0 means the guest has
	 * nothing to give right now (the driver retries later). */
	unsigned (*alloc_pages)(void *ctx, uint32_t *pfns, unsigned n);
	/* Give @n pages back to the guest allocator after a deflate (the host
	 * has been told when MUST_TELL_HOST was negotiated). */
	void (*free_pages)(void *ctx, const uint32_t *pfns, unsigned n);
	/* Fill current stats: set vals[tag] and bit tag in *valid. Optional. */
	void (*fill_stats)(void *ctx, uint64_t vals[VIRTIO_BALLOON_S_NR],
	                   uint32_t *valid);
	/* Free page reporting: hand out up to @max free ranges the guest will
	 * not touch until report_done(); return how many. Optional. */
	unsigned (*report_take)(void *ctx, struct bln_range *r, unsigned max);
	/* The host has discarded the ranges; the guest may reuse them. */
	void (*report_done)(void *ctx, const struct bln_range *r, unsigned n);
};

/*
 * Features: the driver asks for want_features & device_features, minus
 * STATS_VQ when ops->fill_stats is NULL, PAGE_REPORTING when report_take or
 * report_done is NULL, and FREE_PAGE_HINT / PAGE_POISON, which it does not
 * implement.  VERSION_1 is required.
 */
struct bln_driver_cfg {
	struct vq_mem ram;       /* guest RAM as the guest sees it; size a
	                            multiple of 4 KiB */
	struct bln_transport *t; /* shared with the device */
	uint64_t want_features;  /* driver asks for these; gets the subset */
	uint64_t scratch_gpa;    /* guest memory reserved for rings, PFN
	                            arrays, stats; page aligned */
	uint64_t scratch_len;    /* bytes; see bln_driver_scratch_bytes() */
	uint16_t queue_size;     /* ring size, 0 = 256 */
	uint32_t batch_pfns;     /* PFNs per request, 0 = 4096, at most
	                            65536; keep it <= the device's
	                            max_pfns_per_req or every request is
	                            rejected (the driver cannot tell) */
	uint16_t max_inflight;   /* requests in flight per queue, 0 = 8;
	                            at most the ring size */
	const struct bln_driver_ops *ops;
	void *ctx;
};

struct bln_driver_counters {
	uint64_t inflate_reqs, deflate_reqs; /* requests completed */
	uint64_t pages_inflated, pages_deflated;
	uint64_t oom_deflated;   /* pages given back by deflate-on-OOM */
	uint64_t reported_pages; /* free page reporting */
	uint64_t stats_sent;
	uint64_t alloc_failures; /* alloc_pages returned fewer than asked */
};

/* Scratch guest memory a configuration needs, bytes (page multiple); it
 * depends on queue_size, batch_pfns, max_inflight and want_features only.
 * 0 if those are invalid. */
uint64_t bln_driver_scratch_bytes(const struct bln_driver_cfg *cfg);

/*
 * Reset the device, negotiate features, set up the queues in scratch memory
 * (which need not be zeroed), set DRIVER_OK and queue the first stats
 * buffer.  The device must exist (it publishes its features), but need not
 * be running: create does not wait for its verdict on FEATURES_OK.  Returns
 * 0; -ENODEV if VERSION_1 cannot be negotiated or the device has already
 * refused the features (a later refusal comes from bln_driver_step());
 * -EINVAL for a bad configuration (scratch too small, misaligned, outside
 * RAM, no alloc_pages/free_pages); -ENOMEM.
 */
int bln_driver_create(const struct bln_driver_cfg *cfg,
                      struct bln_driver **out);

/* Destroy; does not deflate (the caller deflates first if it wants).  Resets
 * the device (status 0), which forgets the queues and its balloon bitmap;
 * call it before destroying the transport. */
void bln_driver_destroy(struct bln_driver *drv);

/*
 * Make progress: reap completions (updating config.actual), answer a stats
 * request, send free page reports, and queue inflate/deflate requests toward
 * num_pages.  Returns 1 if more work is pending (call again after waiting on
 * the transport fds; also while ops->alloc_pages cannot supply pages), 0 if
 * the balloon is at its target and idle, -EINVAL for a NULL @drv, -ENODEV
 * if the device refused the features, -EIO if it asks for a reset
 * (NEEDS_RESET) or returned a bad used entry, other -errno.  The caller
 * drains irq_fd/cfg_fd.
 */
int bln_driver_step(struct bln_driver *drv);

/*
 * Deflate-on-OOM (5.5.6.1): if DEFLATE_ON_OOM was negotiated, give up to
 * @pages acknowledged balloon pages back to the guest (ops->free_pages) now.
 * The host is always told through the deflate queue.  Without MUST_TELL_HOST
 * the pages are freed at once; with it this call waits (at most 1 s, polling
 * irq_fd and draining it) for the device's acks, and pages acked later are
 * freed by bln_driver_step().  Afterwards the driver does not re-inflate
 * until the host sets a target again (config_generation moves).  Returns
 * pages given back by this call (>= 0), -EINVAL for a NULL @drv, -EPERM if
 * not negotiated, -EIO if the device returned a bad used entry (found before
 * queueing or while waiting for acks; pages already freed without
 * MUST_TELL_HOST stay freed and are counted in oom_deflated).
 */
int64_t bln_driver_deflate_oom(struct bln_driver *drv, uint64_t pages);

/* Pages in the balloon (acknowledged by the device), 4 KiB units. */
uint64_t bln_driver_balloon_pages(const struct bln_driver *drv);
uint64_t bln_driver_features(const struct bln_driver *drv);
void bln_driver_counters(const struct bln_driver *drv,
                         struct bln_driver_counters *out);

#endif
