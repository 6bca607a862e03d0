/* SPDX-License-Identifier: MIT */
/*
 * driver_int.h - internal: the driver half's state, shared by driver.c
 * (configuration, scratch layout, negotiation, lifecycle) and
 * driver_queues.c (the queues at run time and deflate-on-OOM).
 */
#ifndef LIBBALLOON_DRIVER_INT_H
#define LIBBALLOON_DRIVER_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "balloon/bln_driver.h"

#define DRV_DEFAULT_QSIZE    256
#define DRV_DEFAULT_BATCH    4096
#define DRV_DEFAULT_INFLIGHT 8
#define DRV_MAX_BATCH        65536 /* the device's default max_pfns_per_req */
#define DRV_STATS_QSIZE      2     /* one buffer is ever queued */
#define DRV_REPORT_QSIZE     32    /* one report request in flight */
#define DRV_REPORT_SEGS      32    /* descriptors per report request */
#define DRV_REPORT_RANGES    16    /* ranges asked of report_take at a time */
#define DRV_SEG_MAX_PAGES    (UINT32_C(1) << 18) /* 1 GiB per descriptor */
#define DRV_OOM_WAIT_MS      1000 /* deflate-on-OOM waits this long for acks */

/* Indices of the two page queues' slot arrays. */
enum { DRV_INFL = 0, DRV_DEFL = 1 };

/* One inflate or deflate request buffer. */
struct drv_slot {
	uint32_t *wire; /* le32 PFN array in scratch guest memory */
	uint64_t gpa;   /* its guest-physical address */
	uint32_t *pfns; /* the same PFNs in host order (private) */
	uint32_t n;     /* PFNs in the request */
	bool busy;      /* queued, not yet used by the device */
	bool freed;     /* deflate: pages already given back to the guest */
	bool oom;       /* deflate issued by bln_driver_deflate_oom() */
};

/* Where everything sits in scratch memory (offsets from scratch_gpa). */
struct drv_plan {
	uint16_t qsize[BLN_VQ_COUNT]; /* 0 = queue absent */
	uint64_t ring[BLN_VQ_COUNT];
	uint64_t pfn_arrays; /* 2 * inflight * batch le32 PFNs */
	uint64_t stats;      /* VIRTIO_BALLOON_S_NR 10-byte entries */
	uint64_t indirect;   /* reporting queue's indirect tables, or 0 */
	uint64_t total;      /* bytes, page multiple */
};

struct bln_driver {
	struct bln_driver_cfg cfg; /* defaults filled in */
	struct bln_regs *regs;
	uint64_t features;
	struct drv_plan plan;
	struct vq_driver vq[BLN_VQ_COUNT];
	bool q_present[BLN_VQ_COUNT];
	struct drv_slot *slots[2]; /* max_inflight each */
	uint16_t busy[2];
	uint32_t *balloon; /* stack of ballooned PFNs (device acked) */
	uint64_t nballoon, balloon_cap;
	uint64_t inflating, deflating; /* pages in flight */
	uint64_t actual;               /* acked inflates - acked deflates */
	uint32_t actual_written;
	bool oom_hold;      /* no re-inflate until the target changes */
	uint32_t oom_gen;   /* config_generation when the hold began */
	uint64_t oom_acked; /* OOM pages freed on ack (within one call) */
	uint8_t *stats_buf; /* in scratch */
	uint64_t stats_gpa;
	bool stats_due; /* device returned the buffer: answer it */
	struct bln_range rep[DRV_REPORT_RANGES];
	unsigned rep_n, rep_idx; /* ranges taken; next range to send */
	uint64_t rep_off;        /* pages of rep[rep_idx] already sent */
	bool rep_inflight;       /* a report request is queued */
	uint64_t rep_pages;      /* pages in that request */
	uint16_t rep_segs;       /* descriptors per report request */
	uint32_t status_gen;     /* our last bump of regs->status_gen */
	struct bln_driver_counters c;
};

/* Set status bits (0 = reset) and tell the device.  driver.c */
void bln_drv_status(struct bln_driver *drv, uint32_t bits);
/* The le32 PFN array of slot @i of queue @w, in scratch. driver.c */
uint64_t bln_drv_slot_gpa(const struct bln_driver *drv, unsigned w, unsigned i);

/* driver_queues.c */
int bln_drv_stats_send(struct bln_driver *drv);
int bln_drv_kick(struct bln_driver *drv, unsigned q);

#endif
