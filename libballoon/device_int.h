/* SPDX-License-Identifier: MIT */
/*
 * device_int.h - internal: the device half's state, shared by device.c
 * (lifecycle, negotiation, dispatch), device_pages.c (inflate, deflate, free
 * page reporting) and device_stats.c (stats queue and wire codec).
 */
#ifndef LIBBALLOON_DEVICE_INT_H
#define LIBBALLOON_DEVICE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "balloon/bln_device.h"
#include "bitmap.h"
#include "ranges.h"
#include "stats_wire.h"

/* Segments the device takes in one request (more: BLN_REJ_OVERSIZE). */
#define BLN_DEV_MAX_SEGS 64

/* Values a request handler returns besides an enum bln_reject reason:
 * accepted (complete it now) / accepted into the release window (it is
 * completed when the window is flushed). */
#define BLN_ACCEPTED (-1)
#define BLN_DEFERRED (-2)

/* Inflate requests whose pages extend one contiguous run, released with a
 * single call when flushed (at the latest when the queue is drained). */
#define BLN_DEV_WINDOW 64
struct bln_window {
	uint32_t start, n; /* 4 KiB pages, already marked in the bitmap */
	unsigned count;    /* requests waiting in it */
	uint16_t heads[BLN_DEV_WINDOW];
};

struct bln_device {
	struct bln_device_cfg cfg;
	struct bln_regs *regs;
	uint64_t ram_pages; /* 4 KiB balloon pages of guest RAM */
	uint64_t host_page; /* host page size, bytes */
	uint64_t features;  /* negotiated (valid when features_ok) */
	bool features_ok;   /* FEATURES_OK accepted */
	bool features_bad;  /* FEATURES_OK refused, until reset */
	bool live;          /* DRIVER_OK acted on, queues set up */
	bool broken;        /* NEEDS_RESET raised, until reset */
	uint32_t seen_gen;  /* status_gen last acted on */
	uint32_t seen_reset;
	bool q_live[BLN_VQ_COUNT];
	struct vq_device vq[BLN_VQ_COUNT];
	struct vq_seg segs[BLN_DEV_MAX_SEGS];
	uint32_t *pfns; /* max_pfns_per_req: a request's PFNs, copied */
	uint32_t *tmp;  /* max_pfns_per_req: sort scratch */
	struct bln_prange *ranges; /* max_pfns_per_req */
	struct bln_window win;
	struct bln_bitmap bitmap; /* bit per 4 KiB page: ballooned */
	uint64_t ballooned;       /* bits set (atomic) */
	bool stats_held;          /* we hold the driver's stats buffer */
	uint16_t stats_head;
	struct bln_guest_stats stats;
	struct bln_device_counters c; /* updated with cnt_add() */
};

/* Single-writer counter update that other threads may read atomically. */
static inline void cnt_add(uint64_t *p, uint64_t v)
{
	__atomic_store_n(p, *p + v, __ATOMIC_RELAXED);
}

/* Count a rejected request. */
static inline void dev_reject(struct bln_device *dev, int reason)
{
	cnt_add(&dev->c.rejected[reason], 1);
}

/* Give request @head of queue @q back with @len bytes written, and
 * interrupt the driver if it wants.  _publish: make pushed entries visible
 * and interrupt if wanted. */
void bln_dev_complete(struct bln_device *dev, unsigned q, uint16_t head,
                      uint32_t len);
void bln_dev_publish(struct bln_device *dev, unsigned q);

/* device_pages.c: handle a popped inflate/deflate/reporting request.
 * Return BLN_ACCEPTED, BLN_DEFERRED or the enum bln_reject reason.
 * bln_dev_flush() releases and completes the window's requests (a failed
 * release rejects each of them with BLN_REJ_RELEASE, bitmap restored). */
int bln_dev_pfn_request(struct bln_device *dev, const struct vq_elem *e,
                        bool inflate);
int bln_dev_report_request(struct bln_device *dev, const struct vq_elem *e);
void bln_dev_flush(struct bln_device *dev);

/* device_stats.c: a stats buffer was popped (@pop_ret is vq_device_pop's
 * result, 1 or a negative error); hold it and consume its statistics. */
void bln_dev_stats_popped(struct bln_device *dev, const struct vq_elem *e,
                          int pop_ret);

#endif
