/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the balloon device, part 2: every validation rule on the
 * inflate and deflate queues, each with an exact counter and a "nothing
 * changed" check (counters, bitmap, release calls, page contents), the order
 * in which the rules apply, release failures injected through the
 * primitives layer; and the queues with rules of their own: stats (and the
 * stats wire codec) and free page reporting.  The rig is dev_rig.h.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "balloon/bln_device.h"
#include "balloon/bln_prim.h"
#include "dev_rig.h"
#include "stats_wire.h"

/* ---- validation: every bln_reject reason, nothing changed -------------- */

/*
 * The rules both page queues share, on queue q: out of range, bad length,
 * too many PFNs, too many segments, a duplicate.  PFNs base..base+span-1 are
 * valid for q (free for inflate, ballooned for deflate) so that only the
 * broken rule can explain the rejection.
 */
static void shared_rejects(struct h *h, unsigned q, uint32_t base,
                           uint32_t span)
{
	uint32_t *big = malloc((MAX_PFNS + 1) * sizeof(*big));
	struct vq_buf b, segs[BLN_DEV_MAX_SEGS_TEST];

	assert_non_null(big);
	/* Out of range: the last PFN is one past guest RAM. */
	reject_pfns(h, q, (uint32_t[]){base, base + 1, RAM_PAGES}, 3,
	            BLN_REJ_RANGE);
	reject_pfns(h, q, (uint32_t[]){base + 2, UINT32_MAX}, 2, BLN_REJ_RANGE);
	/* Length not a multiple of 4. */
	b = pfn_buf(h, (uint32_t[]){base, base + 1}, 2);
	b.len = 6;
	reject(h, q, &b, 1, NULL, 0, BLN_REJ_LENGTH);
	/* More PFNs than max_pfns_per_req. */
	for (unsigned i = 0; i <= MAX_PFNS; i++)
		big[i] = base + i % span;
	reject_pfns(h, q, big, MAX_PFNS + 1, BLN_REJ_OVERSIZE);
	/* More segments than the device takes (a direct chain of 65: longer
	 * than the harness's indirect tables). */
	for (unsigned i = 0; i < BLN_DEV_MAX_SEGS_TEST; i++)
		segs[i] = pfn_buf(h, (uint32_t[]){base + (i % span)}, 1);
	reject(h, q, segs, BLN_DEV_MAX_SEGS_TEST, NULL, 0, BLN_REJ_OVERSIZE);
	/* Duplicates within one request. */
	reject_pfns(h, q, (uint32_t[]){base + 3, base + 4, base + 3}, 3,
	            BLN_REJ_DUPLICATE);
	free(big);
}

static void test_rejects(void **state)
{
	struct vq_buf b;
	struct h h;
	(void)state;

	h_open(&h, BLN_BACKING_MEMFD, ALL, ALL);
	for (uint32_t p = 40; p < 64; p++)
		fill_page(&h, p, 0x77);
	pages(&h, BLN_VQ_INFLATE, (uint32_t[]){20, 21}, 2);
	shared_rejects(&h, BLN_VQ_INFLATE, 40, 20);
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
	h_close(&h);
}

/* The deflate side: the same rules, nothing changed (the ballooned pages
 * stay ballooned). */
static void test_deflate_rejects(void **state)
{
	static const uint32_t in[] = {20, 21, 22, 23, 24, 25, 26, 27};
	struct h h;
	(void)state;

	h_open(&h, BLN_BACKING_MEMFD, ALL, ALL);
	for (uint32_t p = 40; p < 64; p++)
		fill_page(&h, p, 0x77);
	pages(&h, BLN_VQ_INFLATE, in, 8);
	shared_rejects(&h, BLN_VQ_DEFLATE, 20, 8);
	/* All eight are still ballooned, and a good deflate takes them. */
	for (unsigned i = 0; i < 8; i++)
		assert_true(bln_device_is_ballooned(h.dev, in[i]));
	pages(&h, BLN_VQ_DEFLATE, in, 8);
	assert_int_equal(bln_device_ballooned(h.dev), 0);
	h_close(&h);
}

/* Several rules broken at once: the first in docs/protocol.md's order is
 * the one counted. */
static void test_reject_order(void **state)
{
	uint32_t *big = malloc((MAX_PFNS + 1) * sizeof(*big));
	struct vq_buf b[2];
	struct h h;
	(void)state;

	h_open(&h, BLN_BACKING_MEMFD, ALL, ALL);
	for (uint32_t p = 40; p < 64; p++)
		fill_page(&h, p, 0x77);
	pages(&h, BLN_VQ_INFLATE, (uint32_t[]){20, 21}, 2);
	/* WRITABLE before LENGTH. */
	b[0] = pfn_buf(&h, (uint32_t[]){40, 41}, 2);
	b[0].len = 6;
	reject(&h, BLN_VQ_INFLATE, NULL, 0, b, 1, BLN_REJ_WRITABLE);
	/* LENGTH before OVERSIZE: too many PFNs, and a 6-byte segment. */
	for (unsigned i = 0; i <= MAX_PFNS; i++)
		big[i] = 40 + i % 20;
	b[0] = pfn_buf(&h, big, MAX_PFNS + 1);
	b[1] = pfn_buf(&h, (uint32_t[]){44, 45}, 2);
	b[1].len = 6;
	reject(&h, BLN_VQ_INFLATE, b, 2, NULL, 0, BLN_REJ_LENGTH);
	/* OVERSIZE before RANGE. */
	big[7] = RAM_PAGES;
	reject_pfns(&h, BLN_VQ_INFLATE, big, MAX_PFNS + 1, BLN_REJ_OVERSIZE);
	/* RANGE before DUPLICATE, inflate and deflate. */
	reject_pfns(&h, BLN_VQ_INFLATE, (uint32_t[]){40, 40, RAM_PAGES}, 3,
	            BLN_REJ_RANGE);
	reject_pfns(&h, BLN_VQ_DEFLATE, (uint32_t[]){20, 20, RAM_PAGES}, 3,
	            BLN_REJ_RANGE);
	/* DUPLICATE before ALREADY / NOT_BALLOONED. */
	reject_pfns(&h, BLN_VQ_INFLATE, (uint32_t[]){20, 42, 20}, 3,
	            BLN_REJ_DUPLICATE);
	reject_pfns(&h, BLN_VQ_DEFLATE, (uint32_t[]){43, 43}, 2,
	            BLN_REJ_DUPLICATE);
	free(big);
	h_close(&h);
}

/* ---- release failures --------------------------------------------------- */

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

/* ---- stats -------------------------------------------------------------- */

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
	uint64_t vals[VIRTIO_BALLOON_S_NR], v;
	uint8_t buf[(VIRTIO_BALLOON_S_NR + 1) * 10];
	struct bln_guest_stats g = {0};
	struct vq_seg seg = {.host = buf};
	uint16_t tag;
	(void)state;

	_Static_assert(VIRTIO_BALLOON_S_NR == 16, "tags 0..15 known");
	for (unsigned t = 0; t < VIRTIO_BALLOON_S_NR; t++)
		vals[t] = 0x0102030405060708ull * (t + 1) + t;
	/* Every tag 0..15, plus bit 16 (no such tag: never read or written):
	 * 16 entries of le16 tag then le64 value, packed, in tag order. */
	seg.len = (uint32_t)bln_stats_encode(vals, 0x1ffff, buf);
	assert_int_equal(seg.len, VIRTIO_BALLOON_S_NR * 10);
	for (unsigned t = 0; t < VIRTIO_BALLOON_S_NR; t++) {
		memcpy(&tag, buf + 10 * t, 2);
		memcpy(&v, buf + 10 * t + 2, 8);
		assert_int_equal(bln_le16(tag), t);
		assert_int_equal(bln_le64(v), vals[t]);
	}
	assert_int_equal(buf[150], 15);
	assert_int_equal(buf[151], 0);
	assert_int_equal(buf[12], (0x08 * 2 + 1) & 0xff);
	assert_int_equal(bln_stats_parse(&seg, 1, &g), 1);
	assert_int_equal(g.valid, 0xffff);
	for (unsigned t = 0; t < VIRTIO_BALLOON_S_NR; t++)
		assert_int_equal(g.val[t], vals[t]);
	/* Tag 16, the first unknown one, and 0xffff are ignored. */
	put_stat(buf, 16, 99);
	put_stat(buf + 10, 15, 1234);
	put_stat(buf + 20, 0xffff, 5);
	put_stat(buf + 30, 0, 77);
	seg.len = 40;
	assert_int_equal(bln_stats_parse(&seg, 1, &g), 1);
	assert_int_equal(g.valid, (1u << 15) | 1u);
	assert_int_equal(g.val[15], 1234);
	assert_int_equal(g.val[0], 77);
	seg.len = 10; /* only tag 16: a report with nothing known in it */
	assert_int_equal(bln_stats_parse(&seg, 1, &g), 1);
	assert_int_equal(g.valid, 0);
	/* Empty: nothing changes; not a multiple of 10: refused. */
	g.valid = 3;
	seg.len = 0;
	assert_int_equal(bln_stats_parse(&seg, 1, &g), 0);
	seg.len = 11;
	assert_int_equal(bln_stats_parse(&seg, 1, &g), -EINVAL);
	assert_int_equal(g.valid, 3);
	/* Encoding nothing writes nothing. */
	assert_int_equal(bln_stats_encode(vals, 1u << 16, buf), 0);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_rejects),
	        cmocka_unit_test(test_deflate_rejects),
	        cmocka_unit_test(test_reject_order),
	        cmocka_unit_test(test_release_faults),
	        cmocka_unit_test(test_stats),
	        cmocka_unit_test(test_stats_codec),
	        cmocka_unit_test(test_reporting),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
