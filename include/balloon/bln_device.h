/* SPDX-License-Identifier: MIT */
/*
 * bln_device.h - the device (host/VMM) half of virtio-balloon.
 *
 * The device owns guest RAM's backing.  It validates every request the driver
 * makes, coalesces the PFNs of an inflate request into contiguous ranges and
 * releases each range to the host kernel through bln_prim_release(), so the
 * host's RSS really drops.  A bitmap records which 4 KiB balloon pages are
 * ballooned.  It never trusts anything the driver wrote.
 *
 * Units: num_pages/actual/PFNs are 4 KiB balloon pages; byte counts say so.
 * Return contract: 0 (or a documented count) on success, -errno on failure.
 * The device never prints and owns no thread or event loop: the caller waits
 * on the transport's kick/status eventfds and calls bln_device_process().
 *
 * Threads: bln_device_process(), _request_stats(), _stats() and _reset() must
 * be called from one thread at a time.  bln_device_set_target(), _target(),
 * _actual(), _ballooned(), _counters(), _features() and _ready() only touch
 * the register page or atomically updated fields and may be called from
 * another thread meanwhile.
 *
 * Host pages larger than 4 KiB: a coalesced range is released rounded inward
 * to whole host pages (a partly covered host page stays resident).  On
 * x86-64 the two sizes are equal and every ballooned page is released.
 */
#ifndef BALLOON_BLN_DEVICE_H
#define BALLOON_BLN_DEVICE_H

#include <stdbool.h>
#include <stdint.h>

#include "bln_prim.h"
#include "bln_transport.h"
#include "virtio_balloon.h"
#include "vq.h"

struct bln_device;

/*
 * Features the device implements and may offer.  FREE_PAGE_HINT (3) and
 * PAGE_POISON (4) are NOT implemented: they are never offered, and
 * bln_device_create() refuses a host_features that contains them (or any bit
 * outside this set).  VERSION_1 must be offered.
 */
#define BLN_DEVICE_FEATURES                                                    \
	(BLN_FEATURE(VIRTIO_F_VERSION_1) |                                     \
	 BLN_FEATURE(VIRTIO_F_RING_EVENT_IDX) |                                \
	 BLN_FEATURE(VIRTIO_F_RING_INDIRECT_DESC) |                            \
	 BLN_FEATURE(VIRTIO_BALLOON_F_MUST_TELL_HOST) |                        \
	 BLN_FEATURE(VIRTIO_BALLOON_F_STATS_VQ) |                              \
	 BLN_FEATURE(VIRTIO_BALLOON_F_DEFLATE_ON_OOM) |                        \
	 BLN_FEATURE(VIRTIO_BALLOON_F_PAGE_REPORTING))

struct bln_device_cfg {
	struct vq_mem ram; /* guest RAM: GPA 0 at ram.base, ram.size bytes */
	enum bln_backing backing; /* how ram is backed (decides release call) */
	int ram_fd;              /* memfd/file of ram for MEMFD/FILE, else -1 */
	uint64_t host_features;  /* offered features (BLN_FEATURE bits) */
	struct bln_transport *t; /* created by the caller */
	uint16_t queue_max;      /* largest ring accepted, 0 = 1024 */
	uint32_t max_pfns_per_req; /* inflate/deflate chain limit, 0 = 65536 */
};

/* Validation failures, counted per reason. */
enum bln_reject {
	BLN_REJ_CHAIN = 0,     /* malformed descriptor chain */
	BLN_REJ_LENGTH,        /* buffer length not a multiple of 4 (PFN
	                          arrays), or a reported range not aligned to
	                          the host page size / empty */
	BLN_REJ_OVERSIZE,      /* more PFNs than max_pfns_per_req, or more
	                          segments than the device takes (64) */
	BLN_REJ_RANGE,         /* PFN (or reported range) beyond guest RAM */
	BLN_REJ_DUPLICATE,     /* same PFN twice in one request */
	BLN_REJ_ALREADY,       /* inflate of a ballooned page */
	BLN_REJ_NOT_BALLOONED, /* deflate of a page not in the balloon */
	BLN_REJ_WRITABLE, /* device-writable buffer where readable expected */
	BLN_REJ_RELEASE,  /* the host kernel refused to release */
	BLN_REJ_STATS,    /* stats buffer length not a multiple of 10 */
	BLN_REJ_NR,
};

struct bln_device_counters {
	uint64_t inflate_reqs, deflate_reqs;     /* requests accepted */
	uint64_t pages_inflated, pages_deflated; /* 4 KiB pages */
	uint64_t ranges_released;                /* release calls made */
	uint64_t bytes_released;       /* bytes handed to the kernel */
	uint64_t reported_pages;       /* free page reporting, 4 KiB */
	uint64_t stats_updates;        /* stats buffers received */
	uint64_t rejected[BLN_REJ_NR]; /* by reason */
};

/* Guest statistics as last reported. */
struct bln_guest_stats {
	uint64_t val[VIRTIO_BALLOON_S_NR]; /* bytes or counts per tag */
	uint32_t valid;                    /* bit t set if tag t was reported */
	uint64_t updated_ns; /* CLOCK_MONOTONIC of last update, 0 never */
};

/* Create a device; publishes device_features and queue_max in the
 * registers.  ram.base must be page aligned, ram.size a multiple of 4 KiB
 * and at most 2^32 balloon pages.  The backing declaration is checked as far
 * as it cheaply can be: -EINVAL for an unknown backing, ANON with a ram_fd
 * >= 0, MEMFD/FILE whose ram_fd is negative, not open, not a regular file
 * (memfds are) or shorter than ram.size.  (Whether ram.base really maps ram_fd
 * is not checked.)  Returns 0, -EINVAL (also for a NULL @cfg/@out or a bad
 * field) or -ENOMEM. */
int bln_device_create(const struct bln_device_cfg *cfg,
                      struct bln_device **out);
void bln_device_destroy(struct bln_device *dev);

/*
 * Handle everything pending: status and feature negotiation (the device
 * accepts FEATURES_OK only for a subset of what it offered that contains
 * VERSION_1, else clears it), queue setup once DRIVER_OK, then every queue's
 * requests.  Call it whenever a kick or status eventfd fires (draining them
 * is the caller's choice).  Every rejected request goes back to the used
 * ring with len 0 (stats buffers are held, see bln_device_request_stats).
 * Returns the number of requests handled (>= 0), -EINVAL for a NULL @dev,
 * or -EIO while the device has set NEEDS_RESET (refused features followed by
 * DRIVER_OK, a bad queue setup, a corrupt ring) until the driver resets it;
 * malformed requests are rejected and counted, not fatal.  To stay fair, at
 * most 2 * ring size requests of a queue are handled per call; the device then
 * re-signals that queue's kick_fd to itself so the caller comes back.
 */
int bln_device_process(struct bln_device *dev);

/* Set the balloon target (config num_pages, 4 KiB pages) and raise a config
 * change interrupt (signal cfg_fd).  Returns 0; -EINVAL for a NULL @dev or a
 * target beyond guest RAM (nothing changed); or bln_notify()'s -errno if
 * cfg_fd could not be signalled (the target is stored and
 * config_generation bumped all the same). */
int bln_device_set_target(struct bln_device *dev, uint32_t num_pages);

/* Config num_pages (target) and actual (driver-reported), 4 KiB pages. */
uint32_t bln_device_target(const struct bln_device *dev);
uint32_t bln_device_actual(const struct bln_device *dev);

/* Pages currently ballooned according to the device's own bitmap. */
uint64_t bln_device_ballooned(const struct bln_device *dev);
bool bln_device_is_ballooned(const struct bln_device *dev, uint64_t pfn);

/* Ask the driver for fresh stats: returns the held stats buffer (5.5.6.3).
 * Returns 0, -EINVAL for a NULL @dev, -ENOTSUP without STATS_VQ, -EAGAIN if
 * no buffer is held (not live yet, or already given back).  The used-ring
 * interrupt goes through bln_notify(), whose failure is not reported.
 * A stats buffer whose contents are malformed is counted (BLN_REJ_STATS,
 * _WRITABLE, _CHAIN) and held like a good one: giving a stats buffer back
 * means "send stats", so only this call ever returns one. */
int bln_device_request_stats(struct bln_device *dev);

/* Copy the last reported stats / the counters. */
void bln_device_stats(const struct bln_device *dev,
                      struct bln_guest_stats *out);
void bln_device_counters(const struct bln_device *dev,
                         struct bln_device_counters *out);

/* Negotiated features (valid after FEATURES_OK), and whether DRIVER_OK. */
uint64_t bln_device_features(const struct bln_device *dev);
bool bln_device_ready(const struct bln_device *dev);

/* Reset: forget the queues and negotiated state (the guest rebooted).
 * Ballooned pages stay released but are no longer tracked as ballooned.
 * A driver still running sees NEEDS_RESET.  The device does the same on its
 * own when the driver resets it (status 0). */
void bln_device_reset(struct bln_device *dev);

#endif
