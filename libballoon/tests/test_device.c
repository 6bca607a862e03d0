/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the balloon device.  The "driver" here is hand-made from the
 * split virtqueue's driver half, so every request can be crafted (and broken)
 * at will: feature negotiation, queue setup, each validation rule with an
 * exact counter and a "nothing changed" check, coalescing, stats, free page
 * reporting, fault injection and reset.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "balloon/bln_device.h"
#include "balloon/bln_prim.h"
#include "dev_rig.h"
#include "stats_wire.h"

/* ---- negotiation and setup ---------------------------------------------- */

static void test_create_checks(void **state)
{
	struct h h;
	struct bln_device *d;
	struct bln_device_cfg cfg;
	(void)state;

	h_open(&h, BLN_BACKING_MEMFD, ALL, 0);
	cfg = (struct bln_device_cfg){.ram = {h.ram, RAM},
	                              .backing = BLN_BACKING_MEMFD,
	                              .ram_fd = h.fd,
	                              .t = &h.t};
	cfg.host_features = ALL | F(VIRTIO_BALLOON_F_FREE_PAGE_HINT);
	assert_int_equal(bln_device_create(&cfg, &d), -EINVAL);
	cfg.host_features = ALL | F(VIRTIO_BALLOON_F_PAGE_POISON);
	assert_int_equal(bln_device_create(&cfg, &d), -EINVAL);
	cfg.host_features = ALL & ~F(VIRTIO_F_VERSION_1);
	assert_int_equal(bln_device_create(&cfg, &d), -EINVAL);
	cfg.host_features = ALL;
	cfg.ram_fd = -1; /* memfd backing needs its fd */
	assert_int_equal(bln_device_create(&cfg, &d), -EINVAL);
	cfg.ram_fd = h.fd;
	cfg.ram.size = RAM - 100;
	assert_int_equal(bln_device_create(&cfg, &d), -EINVAL);
	h_close(&h);
}

static void test_negotiation(void **state)
{
	uint64_t v1 = F(VIRTIO_F_VERSION_1);
	struct h h;
	(void)state;

	h_open(&h, BLN_BACKING_MEMFD, v1 | F(VIRTIO_BALLOON_F_STATS_VQ), 0);
	/* Not offered: refused, even though the device knows the bit. */
	assert_false(negotiate(&h, v1 | F(VIRTIO_BALLOON_F_MUST_TELL_HOST)));
	assert_false(negotiate(&h, v1 | F(VIRTIO_BALLOON_F_FREE_PAGE_HINT)));
	assert_false(negotiate(&h, v1 | F(VIRTIO_BALLOON_F_PAGE_POISON)));
	assert_false(negotiate(&h, F(VIRTIO_BALLOON_F_STATS_VQ))); /* no V1 */
	/* A refused negotiation followed by DRIVER_OK: NEEDS_RESET. */
	queues_for(&h);
	set_status(&h, BLN_STATUS_DRIVER_OK);
	assert_int_equal(bln_device_process(h.dev), -EIO);
	assert_true(status(&h) & BLN_STATUS_NEEDS_RESET);
	assert_false(bln_device_ready(h.dev));
	/* A reset clears it; a proper subset is accepted. */
	assert_true(negotiate(&h, v1));
	assert_false(status(&h) & BLN_STATUS_NEEDS_RESET);
	assert_int_equal(bln_device_features(h.dev), v1);
	queues_for(&h);
	set_status(&h, BLN_STATUS_DRIVER_OK);
	assert_int_equal(bln_device_process(h.dev), 0);
	assert_true(bln_device_ready(h.dev));
	assert_int_equal(bln_device_request_stats(h.dev), -ENOTSUP);
	h_close(&h);
}

/* Bring up with one queue register spoiled by @spoil; expect NEEDS_RESET. */
static void bad_setup(void (*spoil)(struct h *h))
{
	struct h h;

	h_open(&h, BLN_BACKING_MEMFD, ALL, 0);
	assert_true(negotiate(&h, F(VIRTIO_F_VERSION_1)));
	queues_for(&h);
	spoil(&h);
	set_status(&h, BLN_STATUS_DRIVER_OK);
	assert_int_equal(bln_device_process(h.dev), -EIO);
	assert_true(status(&h) & BLN_STATUS_NEEDS_RESET);
	assert_false(bln_device_ready(h.dev));
	h_close(&h);
}

static void spoil_size(struct h *h)
{
	h->t.regs->q[BLN_VQ_INFLATE].size = bln_to_le16(2048); /* > 1024 */
}

static void spoil_pow2(struct h *h)
{
	h->t.regs->q[BLN_VQ_DEFLATE].size = bln_to_le16(100);
}

static void spoil_ring(struct h *h)
{
	h->t.regs->q[BLN_VQ_DEFLATE].used = bln_to_le64(RAM - 8);
}

static void spoil_missing(struct h *h)
{
	h->t.regs->q[BLN_VQ_DEFLATE].enabled = 0;
}

static void spoil_extra(struct h *h)
{
	h->t.regs->q[BLN_VQ_STATS] = h->t.regs->q[BLN_VQ_INFLATE];
}

static void test_queue_setup(void **state)
{
	(void)state;
	bad_setup(spoil_size);
	bad_setup(spoil_pow2);
	bad_setup(spoil_ring);
	bad_setup(spoil_missing);
	bad_setup(spoil_extra);
}

/* ---- inflate and deflate ------------------------------------------------ */

static void test_coalesce(void **state)
{
	static const uint32_t pfns[] = {5, 3, 4, 10, 11, 20};
	static const uint32_t keep[] = {2, 6, 9, 12, 19, 21};
	struct bln_device_counters c;
	struct snap s;
	struct stat st0, st1;
	struct vq_buf b;
	struct h h;
	(void)state;

	h_open(&h, BLN_BACKING_MEMFD, ALL, ALL);
	for (uint32_t p = 0; p < 32; p++)
		fill_page(&h, p, 0xa5);
	b = pfn_buf(&h, pfns, 6); /* (touches a page of its own) */
	take_snap(&h, &s);
	assert_int_equal(fstat(h.fd, &st0), 0);
	roundtrip(&h, BLN_VQ_INFLATE, &b, 1, NULL, 0);
	assert_int_equal(fstat(h.fd, &st1), 0);
	/* {3,4,5} {10,11} {20}: three release calls, 6 pages. */
	assert_int_equal(bln_prim_calls(BLN_PRIM_FALLOCATE) - s.fallocs, 3);
	bln_device_counters(h.dev, &c);
	assert_int_equal(c.ranges_released, 3);
	assert_int_equal(c.bytes_released, 6 * 4096);
	assert_int_equal(c.inflate_reqs, 1);
	assert_int_equal(c.pages_inflated, 6);
	assert_int_equal(bln_device_ballooned(h.dev), 6);
	assert_int_equal((st0.st_blocks - st1.st_blocks) * 512, 6 * 4096);
	for (unsigned i = 0; i < 6; i++) {
		assert_true(bln_device_is_ballooned(h.dev, pfns[i]));
		assert_true(page_is(&h, pfns[i], 0)); /* really released */
		assert_false(bln_device_is_ballooned(h.dev, keep[i]));
		assert_true(page_is(&h, keep[i], 0xa5)); /* neighbours kept */
	}
	/* Deflate part of it: no release call, bitmap cleared, page usable. */
	take_snap(&h, &s);
	pages(&h, BLN_VQ_DEFLATE, (uint32_t[]){4, 3, 5}, 3);
	assert_int_equal(bln_prim_calls(BLN_PRIM_FALLOCATE), s.fallocs);
	assert_int_equal(bln_device_ballooned(h.dev), 3);
	assert_false(bln_device_is_ballooned(h.dev, 4));
	assert_true(bln_device_is_ballooned(h.dev, 10));
	fill_page(&h, 4, 0x3c);
	assert_true(page_is(&h, 4, 0x3c));
	bln_device_counters(h.dev, &c);
	assert_int_equal(c.deflate_reqs, 1);
	assert_int_equal(c.pages_deflated, 3);
	h_close(&h);
}

static void test_big_orders(void **state)
{
	uint32_t *p = malloc(MAX_PFNS * sizeof(*p));
	uint64_t calls;
	struct h h;
	(void)state;

	h_open(&h, BLN_BACKING_MEMFD, ALL, ALL);
	/* Descending, 1024 contiguous pages: one call. */
	for (unsigned i = 0; i < MAX_PFNS; i++)
		p[i] = 1023 - i;
	calls = bln_prim_calls(BLN_PRIM_FALLOCATE);
	pages(&h, BLN_VQ_INFLATE, p, MAX_PFNS);
	assert_int_equal(bln_prim_calls(BLN_PRIM_FALLOCATE) - calls, 1);
	/* Shuffled: two runs 1024..1523 and 1530..2029, radix sorted. */
	for (unsigned i = 0; i < 1000; i++)
		p[i] = i < 500 ? 1024 + i : 1530 + i - 500;
	srand(7);
	for (unsigned i = 1000 - 1; i > 0; i--) {
		unsigned j = (unsigned)rand() % (i + 1), t = p[i];

		p[i] = p[j];
		p[j] = t;
	}
	calls = bln_prim_calls(BLN_PRIM_FALLOCATE);
	pages(&h, BLN_VQ_INFLATE, p, 1000);
	assert_int_equal(bln_prim_calls(BLN_PRIM_FALLOCATE) - calls, 2);
	assert_int_equal(bln_device_ballooned(h.dev), MAX_PFNS + 1000);
	for (uint32_t pfn = 0; pfn < 2048; pfn++)
		assert_int_equal(bln_device_is_ballooned(h.dev, pfn),
		                 pfn < 1524 || (pfn >= 1530 && pfn < 2030));
	/* Two segments in one indirect chain are one request. */
	pages(&h, BLN_VQ_DEFLATE, (uint32_t[]){100, 101, 102}, 3);
	{
		struct vq_buf b[2] = {pfn_buf(&h, (uint32_t[]){100, 101}, 2),
		                      pfn_buf(&h, (uint32_t[]){102}, 1)};

		calls = bln_prim_calls(BLN_PRIM_FALLOCATE);
		roundtrip(&h, BLN_VQ_INFLATE, b, 2, NULL, 0);
		assert_int_equal(bln_prim_calls(BLN_PRIM_FALLOCATE) - calls, 1);
		assert_true(bln_device_is_ballooned(h.dev, 102));
	}
	free(p);
	h_close(&h);
}

/* ---- validation: every bln_reject reason, nothing changed -------------- */

static void test_rejects(void **state)
{
	uint32_t *big = malloc((MAX_PFNS + 1) * sizeof(*big));
	struct vq_buf b, segs[BLN_DEV_MAX_SEGS_TEST];
	struct h h;
	(void)state;

	h_open(&h, BLN_BACKING_MEMFD, ALL, ALL);
	for (uint32_t p = 40; p < 64; p++)
		fill_page(&h, p, 0x77);
	pages(&h, BLN_VQ_INFLATE, (uint32_t[]){20, 21}, 2);
	/* Out of range: the last PFN is one past guest RAM. */
	reject_pfns(&h, BLN_VQ_INFLATE, (uint32_t[]){40, 41, RAM_PAGES}, 3,
	            BLN_REJ_RANGE);
	reject_pfns(&h, BLN_VQ_INFLATE, (uint32_t[]){42, UINT32_MAX}, 2,
	            BLN_REJ_RANGE);
	/* Length not a multiple of 4. */
	b = pfn_buf(&h, (uint32_t[]){40, 41}, 2);
	b.len = 6;
	reject(&h, BLN_VQ_INFLATE, &b, 1, NULL, 0, BLN_REJ_LENGTH);
	/* More PFNs than max_pfns_per_req. */
	for (unsigned i = 0; i <= MAX_PFNS; i++)
		big[i] = 40 + i;
	reject_pfns(&h, BLN_VQ_INFLATE, big, MAX_PFNS + 1, BLN_REJ_OVERSIZE);
	/* More segments than the device takes (a direct chain of 65: longer
	 * than the harness's indirect tables). */
	for (unsigned i = 0; i < BLN_DEV_MAX_SEGS_TEST; i++)
		segs[i] = pfn_buf(&h, (uint32_t[]){40 + (i % 20)}, 1);
	reject(&h, BLN_VQ_INFLATE, segs, BLN_DEV_MAX_SEGS_TEST, NULL, 0,
	       BLN_REJ_OVERSIZE);
	/* Duplicates within one request. */
	reject_pfns(&h, BLN_VQ_INFLATE, (uint32_t[]){43, 44, 43}, 3,
	            BLN_REJ_DUPLICATE);
	/* Already ballooned / not ballooned. */
	reject_pfns(&h, BLN_VQ_INFLATE, (uint32_t[]){45, 21}, 2,
	            BLN_REJ_ALREADY);
	reject_pfns(&h, BLN_VQ_DEFLATE, (uint32_t[]){20, 46}, 2,
	            BLN_REJ_NOT_BALLOONED);
	/* Device-writable buffer where a readable one is expected. */
	b = pfn_buf(&h, (uint32_t[]){47}, 1);
	reject(&h, BLN_VQ_INFLATE, NULL, 0, &b, 1, BLN_REJ_WRITABLE);
	reject(&h, BLN_VQ_DEFLATE, NULL, 0, &b, 1, BLN_REJ_WRITABLE);
	/* Malformed chain: the descriptor points outside guest RAM. */
	b = pfn_buf(&h, (uint32_t[]){48}, 1);
	{
		struct vq_driver *vq = &h.vq[BLN_VQ_INFLATE];
		uint16_t head = vq->free_head;
		uint64_t bad = bln_to_le64(RAM);
		struct snap s;

		take_snap(&h, &s);
		assert_int_equal(vq_driver_add(vq, &b, 1, NULL, 0, &h), 0);
		memcpy(h.ram + vq->l.desc_gpa + 16u * head, &bad, 8);
		vq_driver_kick_prepare(vq);
		assert_int_equal(bln_device_process(h.dev), 1);
		assert_int_equal(vq_driver_get_used(vq, NULL, NULL), 0);
		assert_rejected_only(&h, &s, BLN_REJ_CHAIN);
	}
	/* The queue still works after all that. */
	pages(&h, BLN_VQ_INFLATE, (uint32_t[]){40, 41}, 2);
	assert_true(bln_device_is_ballooned(h.dev, 41));
	assert_true(page_is(&h, 41, 0));
	free(big);
	h_close(&h);
}

/* The host kernel refuses: REJ_RELEASE, bitmap and counters unchanged. */
static void release_fault(enum bln_backing backing, enum bln_prim_op op)
{
	static const uint32_t pfns[] = {30, 31, 33, 35};
	struct snap s;
	struct h h;

	h_open(&h, backing, ALL, ALL);
	for (uint32_t p = 30; p < 36; p++)
		fill_page(&h, p, 0x5a);
	/* First release call fails: nothing at all is released. */
	take_snap(&h, &s);
	bln_prim_set_fault(op, 1, EIO);
	pages(&h, BLN_VQ_INFLATE, pfns, 4);
	assert_rejected_only(&h, &s, BLN_REJ_RELEASE);
	for (uint32_t p = 30; p < 36; p++)
		assert_true(page_is(&h, p, 0x5a));
	/* Second of three fails: the bitmap still says nothing. */
	take_snap(&h, &s);
	bln_prim_set_fault(op, 2, ENOMEM);
	pages(&h, BLN_VQ_INFLATE, pfns, 4);
	assert_rejected_only(&h, &s, BLN_REJ_RELEASE);
	assert_int_equal(bln_device_ballooned(h.dev), 0);
	for (unsigned i = 0; i < 4; i++)
		assert_false(bln_device_is_ballooned(h.dev, pfns[i]));
	/* No fault: accepted, released, and 34 (not listed) kept. */
	pages(&h, BLN_VQ_INFLATE, pfns, 4);
	assert_int_equal(bln_device_ballooned(h.dev), 4);
	assert_true(page_is(&h, 33, 0));
	assert_true(page_is(&h, 34, 0x5a));
	h_close(&h);
}

static void test_release_faults(void **state)
{
	(void)state;
	release_fault(BLN_BACKING_MEMFD, BLN_PRIM_FALLOCATE);
	release_fault(BLN_BACKING_ANON, BLN_PRIM_MADVISE);
}

/* Several requests in flight that extend one run: one release call. */
static void queue_pfns(struct h *h, const uint32_t *pfns, unsigned n)
{
	struct vq_buf b = pfn_buf(h, pfns, n);

	assert_int_equal(
	        vq_driver_add(&h->vq[BLN_VQ_INFLATE], &b, 1, NULL, 0, h), 0);
}

static unsigned drain_used(struct h *h)
{
	unsigned n = 0;
	uint32_t len = 1;

	while (vq_driver_get_used(&h->vq[BLN_VQ_INFLATE], NULL, &len) == 0) {
		assert_int_equal(len, 0);
		n++;
	}
	return n;
}

static void test_window(void **state)
{
	struct bln_device_counters c;
	struct snap s;
	struct h h;
	(void)state;

	h_open(&h, BLN_BACKING_MEMFD, ALL, ALL);
	for (uint32_t p = 0; p < 512; p++)
		fill_page(&h, p, 0x42);
	take_snap(&h, &s);
	queue_pfns(&h, (uint32_t[]){100, 101, 102, 103}, 4);
	queue_pfns(&h, (uint32_t[]){99, 98, 97, 96}, 4);     /* below */
	queue_pfns(&h, (uint32_t[]){104, 105, 106, 107}, 4); /* above */
	queue_pfns(&h, (uint32_t[]){200}, 1); /* elsewhere: flush */
	queue_pfns(&h, (uint32_t[]){201, 202}, 2);
	queue_pfns(&h, (uint32_t[]){202, 203}, 2); /* 202: already */
	vq_driver_kick_prepare(&h.vq[BLN_VQ_INFLATE]);
	assert_int_equal(bln_device_process(h.dev), 6);
	assert_int_equal(drain_used(&h), 6);
	assert_int_equal(bln_prim_calls(BLN_PRIM_FALLOCATE) - s.fallocs, 2);
	bln_device_counters(h.dev, &c);
	assert_int_equal(c.inflate_reqs, 5);
	assert_int_equal(c.rejected[BLN_REJ_ALREADY], 1);
	assert_int_equal(bln_device_ballooned(h.dev), 15);
	assert_true(page_is(&h, 96, 0) && page_is(&h, 107, 0));
	assert_true(page_is(&h, 95, 0x42) && page_is(&h, 108, 0x42));
	assert_true(page_is(&h, 202, 0) && page_is(&h, 203, 0x42));
	assert_false(bln_device_is_ballooned(h.dev, 203));
	/* The window's release fails: each of its requests is rejected. */
	take_snap(&h, &s);
	queue_pfns(&h, (uint32_t[]){300, 301, 302, 303}, 4);
	queue_pfns(&h, (uint32_t[]){304, 305, 306, 307}, 4);
	queue_pfns(&h, (uint32_t[]){308}, 1);
	vq_driver_kick_prepare(&h.vq[BLN_VQ_INFLATE]);
	bln_prim_set_fault(BLN_PRIM_FALLOCATE, 1, EIO);
	assert_int_equal(bln_device_process(h.dev), 3);
	assert_int_equal(drain_used(&h), 3);
	bln_device_counters(h.dev, &c);
	assert_int_equal(c.rejected[BLN_REJ_RELEASE], 3);
	s.c.rejected[BLN_REJ_RELEASE] += 2; /* the helper expects one */
	assert_rejected_only(&h, &s, BLN_REJ_RELEASE);
	for (uint32_t p = 300; p < 309; p++) {
		assert_false(bln_device_is_ballooned(h.dev, p));
		assert_true(page_is(&h, p, 0x42));
	}
	h_close(&h);
}

/* ---- stats ----------------------------------------------------------------
 */

static void put_stat(uint8_t *p, uint16_t tag, uint64_t val)
{
	uint16_t t = bln_to_le16(tag);
	uint64_t v = bln_to_le64(val);

	memcpy(p, &t, 2);
	memcpy(p + 2, &v, 8);
}

static void stats_send(struct h *h, const struct vq_buf *b, unsigned n,
                       bool writable)
{
	struct vq_driver *vq = &h->vq[BLN_VQ_STATS];

	if (writable)
		assert_int_equal(vq_driver_add(vq, NULL, 0, b, n, h), 0);
	else
		assert_int_equal(vq_driver_add(vq, b, n, NULL, 0, h), 0);
	vq_driver_kick_prepare(vq);
	assert_int_equal(bln_device_process(h->dev), 1);
	/* The device holds it. */
	assert_int_equal(vq_driver_get_used(vq, NULL, NULL), -EAGAIN);
}

static void request(struct h *h)
{
	uint32_t len = 9;

	assert_int_equal(bln_device_request_stats(h->dev), 0);
	assert_int_equal(vq_driver_get_used(&h->vq[BLN_VQ_STATS], NULL, &len),
	                 0);
	assert_int_equal(len, 0);
	assert_true(bln_drain(h->t.irq_fd) > 0);
}

static void test_stats(void **state)
{
	struct bln_guest_stats g, g2;
	struct bln_device_counters c;
	struct vq_buf b[2];
	struct timespec ts;
	uint8_t *p;
	struct h h;
	(void)state;

	h_open(&h, BLN_BACKING_MEMFD, ALL, ALL);
	assert_int_equal(bln_device_request_stats(h.dev), -EAGAIN);
	/* MEMFREE, an unknown tag (ignored), MEMTOT, AVAIL. */
	b[0].gpa = buf_alloc(&h, 40);
	b[0].len = 40;
	p = h.ram + b[0].gpa;
	put_stat(p, VIRTIO_BALLOON_S_MEMFREE, 123);
	put_stat(p + 10, 999, 7);
	put_stat(p + 20, VIRTIO_BALLOON_S_MEMTOT, 456);
	put_stat(p + 30, VIRTIO_BALLOON_S_AVAIL, 789);
	stats_send(&h, b, 1, false);
	bln_device_stats(h.dev, &g);
	assert_int_equal(g.valid, (1u << VIRTIO_BALLOON_S_MEMFREE) |
	                                  (1u << VIRTIO_BALLOON_S_MEMTOT) |
	                                  (1u << VIRTIO_BALLOON_S_AVAIL));
	assert_int_equal(g.val[VIRTIO_BALLOON_S_MEMFREE], 123);
	assert_int_equal(g.val[VIRTIO_BALLOON_S_MEMTOT], 456);
	assert_int_equal(g.val[VIRTIO_BALLOON_S_AVAIL], 789);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	assert_true(g.updated_ns > 0 &&
	            g.updated_ns <= (uint64_t)ts.tv_sec * 1000000000ull +
	                                    (uint64_t)ts.tv_nsec);
	/* Ask for fresh stats: the buffer comes back; refill, split so an
	 * entry straddles the two segments. */
	request(&h);
	put_stat(p, VIRTIO_BALLOON_S_SWAP_IN, 1);
	put_stat(p + 10, VIRTIO_BALLOON_S_CACHES, UINT64_MAX);
	b[0].len = 14;
	b[1].gpa = b[0].gpa + 14;
	b[1].len = 6;
	stats_send(&h, b, 2, false);
	bln_device_stats(h.dev, &g);
	assert_int_equal(g.valid, (1u << VIRTIO_BALLOON_S_SWAP_IN) |
	                                  (1u << VIRTIO_BALLOON_S_CACHES));
	assert_int_equal(g.val[VIRTIO_BALLOON_S_CACHES], UINT64_MAX);
	/* Bad length, then a writable buffer: counted, stats unchanged. */
	request(&h);
	b[0].len = 15;
	stats_send(&h, b, 1, false);
	request(&h);
	b[0].len = 20;
	stats_send(&h, b, 1, true);
	bln_device_stats(h.dev, &g2);
	assert_memory_equal(&g, &g2, sizeof(g));
	bln_device_counters(h.dev, &c);
	assert_int_equal(c.rejected[BLN_REJ_STATS], 1);
	assert_int_equal(c.rejected[BLN_REJ_WRITABLE], 1);
	assert_int_equal(c.stats_updates, 2);
	/* A second buffer while one is held: the older goes back. */
	b[0].len = 10;
	assert_int_equal(vq_driver_add(&h.vq[BLN_VQ_STATS], b, 1, NULL, 0, &h),
	                 0);
	vq_driver_kick_prepare(&h.vq[BLN_VQ_STATS]);
	assert_int_equal(bln_device_process(h.dev), 1);
	assert_int_equal(vq_driver_get_used(&h.vq[BLN_VQ_STATS], NULL, NULL),
	                 0);
	request(&h);
	h_close(&h);
}

static void test_stats_codec(void **state)
{
	uint64_t vals[VIRTIO_BALLOON_S_NR] = {0};
	uint8_t buf[VIRTIO_BALLOON_S_NR * 10];
	struct bln_guest_stats g = {0};
	struct vq_seg seg = {.host = buf};
	uint32_t valid = 0;
	(void)state;

	for (unsigned t = 0; t < VIRTIO_BALLOON_S_NR; t += 3) {
		vals[t] = 0x0102030405060708ull * (t + 1);
		valid |= 1u << t;
	}
	seg.len = (uint32_t)bln_stats_encode(vals, valid, buf);
	assert_int_equal(seg.len, 6 * 10);
	/* Wire layout: le16 tag then le64 value, packed. */
	assert_int_equal(buf[10], 3);
	assert_int_equal(buf[11], 0);
	assert_int_equal(buf[12], 0x08 * 4 & 0xff);
	assert_int_equal(bln_stats_parse(&seg, 1, &g), 1);
	assert_int_equal(g.valid, valid);
	for (unsigned t = 0; t < VIRTIO_BALLOON_S_NR; t++)
		assert_int_equal(g.val[t], vals[t]);
	seg.len = 0;
	assert_int_equal(bln_stats_parse(&seg, 1, &g), 0);
	seg.len = 11;
	assert_int_equal(bln_stats_parse(&seg, 1, &g), -EINVAL);
	assert_int_equal(g.valid, valid);
}

/* ---- free page reporting ------------------------------------------------ */

static void test_reporting(void **state)
{
	struct bln_device_counters c;
	struct vq_buf b[2];
	struct snap s;
	struct h h;
	(void)state;

	h_open(&h, BLN_BACKING_MEMFD, ALL, ALL);
	for (uint32_t p = 40; p < 64; p++)
		fill_page(&h, p, 0x77);
	for (uint32_t p = 100; p < 200; p++)
		fill_page(&h, p, 0x66);
	/* Two runs, device-writable as Linux queues them. */
	b[0] = (struct vq_buf){100u << 12, 16u << 12};
	b[1] = (struct vq_buf){150u << 12, 8u << 12};
	take_snap(&h, &s);
	roundtrip(&h, BLN_VQ_REPORTING, NULL, 0, b, 2);
	bln_device_counters(h.dev, &c);
	assert_int_equal(c.reported_pages, 24);
	assert_int_equal(bln_prim_calls(BLN_PRIM_FALLOCATE) - s.fallocs, 2);
	assert_true(page_is(&h, 100, 0) && page_is(&h, 115, 0));
	assert_true(page_is(&h, 116, 0x66) && page_is(&h, 149, 0x66));
	assert_true(page_is(&h, 157, 0) && page_is(&h, 158, 0x66));
	assert_int_equal(bln_device_ballooned(h.dev), 0);
	/* Misaligned start, misaligned length, empty: REJ_LENGTH. */
	b[0] = (struct vq_buf){(40u << 12) + 512, 4096};
	reject(&h, BLN_VQ_REPORTING, NULL, 0, b, 1, BLN_REJ_LENGTH);
	b[0] = (struct vq_buf){40u << 12, 4096 + 4};
	reject(&h, BLN_VQ_REPORTING, NULL, 0, b, 1, BLN_REJ_LENGTH);
	b[0] = (struct vq_buf){40u << 12, 0};
	b[1] = (struct vq_buf){41u << 12, 4096};
	reject(&h, BLN_VQ_REPORTING, NULL, 0, b, 2, BLN_REJ_LENGTH);
	/* Release refused. */
	b[0] = (struct vq_buf){40u << 12, 4096};
	bln_prim_set_fault(BLN_PRIM_FALLOCATE, 1, EIO);
	reject(&h, BLN_VQ_REPORTING, NULL, 0, b, 1, BLN_REJ_RELEASE);
	h_close(&h);
}

/* ---- target, reset ------------------------------------------------------ */

static void test_target_reset(void **state)
{
	uint32_t gen;
	struct h h;
	(void)state;

	h_open(&h, BLN_BACKING_MEMFD, ALL, ALL);
	gen = bln_le32(h.t.regs->config_generation);
	assert_int_equal(bln_device_set_target(h.dev, RAM_PAGES + 1), -EINVAL);
	assert_int_equal(bln_device_set_target(h.dev, 300), 0);
	assert_int_equal(bln_device_target(h.dev), 300);
	assert_int_equal(bln_le32(h.t.regs->config.num_pages), 300);
	assert_int_equal(bln_le32(h.t.regs->config_generation), gen + 1);
	assert_true(bln_drain(h.t.cfg_fd) > 0);
	h.t.regs->config.actual = bln_to_le32(2);
	assert_int_equal(bln_device_actual(h.dev), 2);
	pages(&h, BLN_VQ_INFLATE, (uint32_t[]){7, 8}, 2);
	/* Host-side reset: forgotten, and a live driver sees NEEDS_RESET. */
	bln_device_reset(h.dev);
	assert_int_equal(bln_device_ballooned(h.dev), 0);
	assert_false(bln_device_is_ballooned(h.dev, 7));
	assert_false(bln_device_ready(h.dev));
	assert_true(status(&h) & BLN_STATUS_NEEDS_RESET);
	assert_int_equal(bln_device_process(h.dev), -EIO);
	/* The driver resets and starts over; the old pages can go again. */
	assert_true(negotiate(&h, ALL));
	queues_for(&h);
	set_status(&h, BLN_STATUS_DRIVER_OK);
	assert_int_equal(bln_device_process(h.dev), 0);
	assert_true(bln_device_ready(h.dev));
	pages(&h, BLN_VQ_INFLATE, (uint32_t[]){7, 8}, 2);
	assert_int_equal(bln_device_ballooned(h.dev), 2);
	/* A driver reset (status 0) also forgets the balloon. */
	set_status(&h, 0);
	assert_int_equal(bln_device_process(h.dev), 0);
	assert_int_equal(bln_device_ballooned(h.dev), 0);
	assert_false(bln_device_ready(h.dev));
	h_close(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_create_checks),
	        cmocka_unit_test(test_negotiation),
	        cmocka_unit_test(test_queue_setup),
	        cmocka_unit_test(test_coalesce),
	        cmocka_unit_test(test_big_orders),
	        cmocka_unit_test(test_rejects),
	        cmocka_unit_test(test_release_faults),
	        cmocka_unit_test(test_window),
	        cmocka_unit_test(test_stats),
	        cmocka_unit_test(test_stats_codec),
	        cmocka_unit_test(test_reporting),
	        cmocka_unit_test(test_target_reset),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
