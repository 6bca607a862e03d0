/* SPDX-License-Identifier: MIT */
/*
 * dev_rig.h - test rig for the balloon device: guest RAM, a transport, a
 * device, and a hand-made driver built from the split virtqueue's driver
 * half, so that every request can be crafted (and broken) at will.  Data
 * pages live below 8 MiB; rings, indirect tables and request buffers above.
 * Guest RAM is a memfd (MEMFD), anonymous memory (ANON) or an unlinked file
 * in a directory of the test's choice (FILE).  Included by test_device.c and
 * test_device_rejects.c (static inline helpers, cmocka assertions).
 */
#ifndef LIBBALLOON_TESTS_DEV_RIG_H
#define LIBBALLOON_TESTS_DEV_RIG_H

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "balloon/bln_device.h"
#include "balloon/bln_prim.h"

#define RAM                   (16u << 20) /* 4096 balloon pages */
#define RAM_PAGES             (RAM >> 12)
#define RINGS                 (8u << 20) /* queue q's ring at RINGS + q * 64 KiB */
#define INDIRECT              (9u << 20) /* queue q's indirect tables + q * 64 KiB */
#define BUFS                  (10u << 20) /* request buffers */
#define QSIZE                 128
#define MAX_PFNS              1024
#define BLN_DEV_MAX_SEGS_TEST 65 /* one more than the device takes */
#define ALL                   BLN_DEVICE_FEATURES
#define F(x)                  BLN_FEATURE(x)

struct h {
	struct bln_transport t;
	struct bln_device *dev;
	uint8_t *ram;
	int fd;
	enum bln_backing backing;
	uint64_t features;
	struct vq_driver vq[BLN_VQ_COUNT];
	uint64_t buf_next; /* bump allocator in BUFS */
};

struct snap {
	struct bln_device_counters c;
	uint64_t ballooned, fallocs, madvs;
	uint32_t bits[4]; /* bitmap of pages 0..127 */
};

static inline void take_snap(struct h *h, struct snap *s)
{
	memset(s, 0, sizeof(*s));
	bln_device_counters(h->dev, &s->c);
	s->ballooned = bln_device_ballooned(h->dev);
	s->fallocs = bln_prim_calls(BLN_PRIM_FALLOCATE);
	s->madvs = bln_prim_calls(BLN_PRIM_MADVISE);
	for (unsigned p = 0; p < 128; p++)
		if (bln_device_is_ballooned(h->dev, p))
			s->bits[p / 32] |= 1u << (p % 32);
}

/* The request was rejected for @reason and nothing else changed. */
static inline void assert_rejected_only(struct h *h, const struct snap *before,
                                        enum bln_reject reason)
{
	struct snap after;

	take_snap(h, &after);
	for (int r = 0; r < BLN_REJ_NR; r++)
		assert_int_equal(after.c.rejected[r],
		                 before->c.rejected[r] + (r == (int)reason));
	memcpy(after.c.rejected, before->c.rejected, sizeof(after.c.rejected));
	if (reason == BLN_REJ_RELEASE) { /* the release was attempted */
		after.fallocs = before->fallocs;
		after.madvs = before->madvs;
		after.c.ranges_released = before->c.ranges_released;
		after.c.bytes_released = before->c.bytes_released;
	}
	assert_memory_equal(&after, before, sizeof(after));
}

static inline void fill_page(struct h *h, uint32_t pfn, uint8_t v)
{
	memset(h->ram + ((uint64_t)pfn << 12), v, 4096);
}

static inline bool page_is(struct h *h, uint32_t pfn, uint8_t v)
{
	const uint8_t *p = h->ram + ((uint64_t)pfn << 12);

	for (unsigned i = 0; i < 4096; i++)
		if (p[i] != v)
			return false;
	return true;
}

static inline uint64_t buf_alloc(struct h *h, uint32_t len)
{
	uint64_t gpa = BUFS + h->buf_next;

	h->buf_next += (len + 63) & ~63u;
	assert_true(BUFS + h->buf_next < RAM);
	return gpa;
}

/* Driver side of the status handshake. */
static inline void set_status(struct h *h, uint32_t bits)
{
	struct bln_regs *r = h->t.regs;

	if (!bits) {
		r->reset_gen = bln_to_le32(bln_le32(r->reset_gen) + 1);
		r->status = 0;
	} else {
		r->status |= bln_to_le32(bits);
	}
	r->status_gen = bln_to_le32(bln_le32(r->status_gen) + 1);
}

static inline uint32_t status(struct h *h)
{
	return bln_le32(h->t.regs->status);
}

static inline void setup_queue(struct h *h, unsigned q, uint16_t size)
{
	struct vq_layout l;
	uint64_t gpa = RINGS + q * 65536u, ind = INDIRECT + q * 65536u;
	struct bln_queue_regs *r = &h->t.regs->q[q];

	memset(h->ram + gpa, 0, 65536);
	assert_int_equal(vq_layout_init(&l, gpa, size), 0);
	assert_int_equal(vq_driver_init(&h->vq[q],
	                                &(struct vq_mem){h->ram, RAM}, &l,
	                                h->features, ind, 8),
	                 0);
	r->desc = bln_to_le64(l.desc_gpa);
	r->avail = bln_to_le64(l.avail_gpa);
	r->used = bln_to_le64(l.used_gpa);
	r->size = bln_to_le16(size);
	r->enabled = bln_to_le16(1);
}

static inline void queues_for(struct h *h)
{
	for (unsigned q = 0; q < BLN_VQ_COUNT; q++) {
		if (h->vq[q].tokens)
			vq_driver_destroy(&h->vq[q]);
		memset(&h->t.regs->q[q], 0, sizeof(h->t.regs->q[q]));
	}
	setup_queue(h, BLN_VQ_INFLATE, QSIZE);
	setup_queue(h, BLN_VQ_DEFLATE, QSIZE);
	if (h->features & F(VIRTIO_BALLOON_F_STATS_VQ))
		setup_queue(h, BLN_VQ_STATS, 4);
	if (h->features & F(VIRTIO_BALLOON_F_PAGE_REPORTING))
		setup_queue(h, BLN_VQ_REPORTING, QSIZE);
}

/* Negotiate @features; returns the device's verdict on FEATURES_OK. */
static inline bool negotiate(struct h *h, uint64_t features)
{
	h->features = features;
	set_status(h, 0);
	set_status(h, BLN_STATUS_ACKNOWLEDGE | BLN_STATUS_DRIVER);
	h->t.regs->driver_features = bln_to_le64(features);
	set_status(h, BLN_STATUS_FEATURES_OK);
	assert_true(bln_device_process(h->dev) >= 0);
	assert_int_equal(h->t.regs->status_ack, h->t.regs->status_gen);
	return status(h) & BLN_STATUS_FEATURES_OK;
}

/* An unlinked regular file of RAM bytes in @dir, for FILE backing. */
static inline int rig_file(const char *dir)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/test-device-XXXXXX", dir);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(ftruncate(fd, RAM), 0);
	return fd;
}

/* Guest RAM with @backing (FILE: a file in @dir), a transport and a device
 * offering @offer; if @features, a driver that negotiated them and set up
 * the queues (DRIVER_OK). */
static inline void h_open_in(struct h *h, enum bln_backing backing,
                             const char *dir, uint64_t offer, uint64_t features)
{
	struct bln_device_cfg cfg = {
	        .backing = backing,
	        .host_features = offer,
	        .max_pfns_per_req = MAX_PFNS,
	};

	memset(h, 0, sizeof(*h));
	h->backing = backing;
	h->fd = -1;
	if (backing == BLN_BACKING_MEMFD) {
		h->fd = bln_prim_memfd("test-ram", RAM);
		assert_true(h->fd >= 0);
	} else if (backing == BLN_BACKING_FILE) {
		h->fd = rig_file(dir);
	}
	assert_int_equal(bln_prim_map(h->fd, RAM, (void **)&h->ram), 0);
	assert_int_equal(bln_transport_create(&h->t), 0);
	cfg.ram = (struct vq_mem){h->ram, RAM};
	cfg.ram_fd = h->fd;
	cfg.t = &h->t;
	assert_int_equal(bln_device_create(&cfg, &h->dev), 0);
	assert_int_equal(bln_le64(h->t.regs->device_features), offer);
	if (!features)
		return;
	assert_true(negotiate(h, features));
	queues_for(h);
	set_status(h, BLN_STATUS_DRIVER_OK);
	assert_int_equal(bln_device_process(h->dev), 0);
	assert_true(bln_device_ready(h->dev));
	assert_int_equal(bln_device_features(h->dev), features);
}

static inline void h_open(struct h *h, enum bln_backing backing, uint64_t offer,
                          uint64_t features)
{
	h_open_in(h, backing, "/dev/shm", offer, features);
}

static inline void h_close(struct h *h)
{
	for (unsigned q = 0; q < BLN_VQ_COUNT; q++)
		if (h->vq[q].tokens)
			vq_driver_destroy(&h->vq[q]);
	bln_device_destroy(h->dev);
	bln_transport_destroy(&h->t);
	bln_prim_unmap(h->ram, RAM);
	if (h->fd >= 0)
		close(h->fd);
}

/* Queue a request, let the device run, and check it came back with len 0. */
static inline void roundtrip(struct h *h, unsigned q, const struct vq_buf *out,
                             unsigned n_out, const struct vq_buf *in,
                             unsigned n_in)
{
	void *tok;
	uint32_t len = 99;

	assert_int_equal(vq_driver_add(&h->vq[q], out, n_out, in, n_in, h), 0);
	vq_driver_kick_prepare(&h->vq[q]);
	assert_int_equal(bln_device_process(h->dev), 1);
	assert_int_equal(vq_driver_get_used(&h->vq[q], &tok, &len), 0);
	assert_ptr_equal(tok, h);
	assert_int_equal(len, 0);
}

/* Write @n PFNs (le32) into a fresh buffer. */
static inline struct vq_buf pfn_buf(struct h *h, const uint32_t *pfns,
                                    unsigned n)
{
	struct vq_buf b = {.gpa = buf_alloc(h, n * 4), .len = n * 4};

	for (unsigned i = 0; i < n; i++) {
		uint32_t le = bln_to_le32(pfns[i]);

		memcpy(h->ram + b.gpa + 4 * i, &le, 4);
	}
	return b;
}

static inline void pages(struct h *h, unsigned q, const uint32_t *pfns,
                         unsigned n)
{
	struct vq_buf b = pfn_buf(h, pfns, n);

	roundtrip(h, q, &b, 1, NULL, 0);
}

/* Inflate @pfns..., expect rejection for @reason with nothing changed and
 * the protected pages' contents intact. */
static inline void reject(struct h *h, unsigned q, const struct vq_buf *out,
                          unsigned n_out, const struct vq_buf *in,
                          unsigned n_in, enum bln_reject reason)
{
	struct snap s;

	take_snap(h, &s);
	roundtrip(h, q, out, n_out, in, n_in);
	assert_rejected_only(h, &s, reason);
	for (uint32_t p = 40; p < 64; p++)
		assert_true(page_is(h, p, 0x77));
}

static inline void reject_pfns(struct h *h, unsigned q, const uint32_t *pfns,
                               unsigned n, enum bln_reject reason)
{
	struct vq_buf b = pfn_buf(h, pfns, n);

	reject(h, q, &b, 1, NULL, 0, reason);
}

#endif
