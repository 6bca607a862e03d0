/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the balloon device, part 1: creation and the backing
 * declaration, feature negotiation, queue setup, coalescing and release for
 * memfd- and file-backed RAM, the release window, target and reset.  The
 * validation rules, stats and free page reporting are in
 * test_device_rejects.c.  The "driver" is hand-made from the split
 * virtqueue's driver half (dev_rig.h), so every request can be crafted at
 * will.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "balloon/bln_device.h"
#include "balloon/bln_prim.h"
#include "dev_rig.h"

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
	assert_int_equal(bln_device_create(NULL, &d), -EINVAL);
	assert_int_equal(bln_device_create(&cfg, NULL), -EINVAL);
	/* NULL devices: -EINVAL where a call can fail. */
	assert_int_equal(bln_device_process(NULL), -EINVAL);
	assert_int_equal(bln_device_request_stats(NULL), -EINVAL);
	assert_int_equal(bln_device_set_target(NULL, 1), -EINVAL);
	h_close(&h);
}

/* MEMFD or FILE declared with @fd: refused (-EINVAL) or accepted (0). */
static int try_fd(struct bln_device_cfg *cfg, enum bln_backing b, int fd)
{
	struct bln_device *d = NULL;
	int ret;

	cfg->backing = b;
	cfg->ram_fd = fd;
	ret = bln_device_create(cfg, &d);
	bln_device_destroy(d);
	return ret;
}

/* The declared backing must fit the fd given (or its absence). */
static void test_backing_checks(void **state)
{
	static const enum bln_backing fds[] = {BLN_BACKING_MEMFD,
	                                       BLN_BACKING_FILE};
	struct bln_device_cfg cfg;
	int p[2], small, closed;
	struct h h;
	(void)state;

	h_open(&h, BLN_BACKING_MEMFD, ALL, 0);
	cfg = (struct bln_device_cfg){
	        .ram = {h.ram, RAM}, .t = &h.t, .host_features = ALL};
	assert_int_equal(pipe(p), 0);
	small = bln_prim_memfd("small", RAM - 4096);
	assert_true(small >= 0);
	closed = dup(h.fd);
	assert_true(closed >= 0);
	close(closed);
	/* ANON with an fd (0 too: a zeroed cfg does not mean "none"). */
	assert_int_equal(try_fd(&cfg, BLN_BACKING_ANON, h.fd), -EINVAL);
	assert_int_equal(try_fd(&cfg, BLN_BACKING_ANON, 0), -EINVAL);
	assert_int_equal(try_fd(&cfg, BLN_BACKING_ANON, -1), 0);
	/* MEMFD/FILE: no fd, a closed one, a pipe, a file shorter than RAM. */
	for (unsigned i = 0; i < 2; i++) {
		assert_int_equal(try_fd(&cfg, fds[i], -1), -EINVAL);
		assert_int_equal(try_fd(&cfg, fds[i], closed), -EINVAL);
		assert_int_equal(try_fd(&cfg, fds[i], p[0]), -EINVAL);
		assert_int_equal(try_fd(&cfg, fds[i], small), -EINVAL);
		assert_int_equal(try_fd(&cfg, fds[i], h.fd), 0);
	}
	/* A kind that does not exist. */
	assert_int_equal(try_fd(&cfg, (enum bln_backing)3, h.fd), -EINVAL);
	close(small);
	close(p[0]);
	close(p[1]);
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

/* Guest RAM in a shared file mapping (FILE backing, MADV_REMOVE) in @dir:
 * an inflate frees the file's blocks, a deflate makes the pages usable. */
static void file_backed(const char *dir)
{
	static const uint32_t pfns[] = {33, 7, 5, 6, 30, 31, 32, 8, 50};
	struct stat st0, st1;
	struct vq_buf b;
	struct snap s;
	struct h h;

	h_open_in(&h, BLN_BACKING_FILE, dir, ALL, ALL);
	for (uint32_t p = 0; p < 64; p++)
		fill_page(&h, p, 0xc3);
	b = pfn_buf(&h, pfns, 9);
	take_snap(&h, &s);
	assert_int_equal(fstat(h.fd, &st0), 0);
	assert_true(st0.st_blocks * 512 >= 64 * 4096);
	roundtrip(&h, BLN_VQ_INFLATE, &b, 1, NULL, 0);
	assert_int_equal(fstat(h.fd, &st1), 0);
	/* {5..8} {30..33} {50}: three MADV_REMOVE calls, no fallocate. */
	assert_int_equal(bln_prim_calls(BLN_PRIM_MADVISE) - s.madvs, 3);
	assert_int_equal(bln_prim_calls(BLN_PRIM_FALLOCATE), s.fallocs);
	assert_int_equal((st0.st_blocks - st1.st_blocks) * 512, 9 * 4096);
	assert_int_equal(bln_device_ballooned(h.dev), 9);
	for (unsigned i = 0; i < 9; i++)
		assert_true(page_is(&h, pfns[i], 0));
	assert_true(page_is(&h, 4, 0xc3) && page_is(&h, 9, 0xc3));
	assert_true(page_is(&h, 29, 0xc3) && page_is(&h, 34, 0xc3));
	assert_true(page_is(&h, 49, 0xc3) && page_is(&h, 51, 0xc3));
	pages(&h, BLN_VQ_DEFLATE, pfns, 9);
	assert_int_equal(bln_device_ballooned(h.dev), 0);
	fill_page(&h, 5, 0x11);
	assert_true(page_is(&h, 5, 0x11));
	h_close(&h);
}

static void test_file_backing(void **state)
{
	const char *tmp = getenv("TMPDIR");

	(void)state;
	file_backed("/dev/shm");                 /* tmpfs */
	file_backed(tmp && *tmp ? tmp : "/tmp"); /* the disk's file system */
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

/* ---- target, reset ------------------------------------------------------ */

static void test_target_reset(void **state)
{
	uint32_t gen;
	struct h h;
	int fd;
	(void)state;

	h_open(&h, BLN_BACKING_MEMFD, ALL, ALL);
	gen = bln_le32(h.t.regs->config_generation);
	assert_int_equal(bln_device_set_target(h.dev, RAM_PAGES + 1), -EINVAL);
	assert_int_equal(bln_device_set_target(h.dev, 300), 0);
	assert_int_equal(bln_device_target(h.dev), 300);
	assert_int_equal(bln_le32(h.t.regs->config.num_pages), 300);
	assert_int_equal(bln_le32(h.t.regs->config_generation), gen + 1);
	assert_true(bln_drain(h.t.cfg_fd) > 0);
	/* cfg_fd cannot be signalled: bln_notify's error, target stored. */
	fd = h.t.cfg_fd;
	h.t.cfg_fd = -1;
	assert_int_equal(bln_device_set_target(h.dev, 301), -EBADF);
	h.t.cfg_fd = fd;
	assert_int_equal(bln_device_target(h.dev), 301);
	assert_int_equal(bln_le32(h.t.regs->config_generation), gen + 2);
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
	        cmocka_unit_test(test_backing_checks),
	        cmocka_unit_test(test_negotiation),
	        cmocka_unit_test(test_queue_setup),
	        cmocka_unit_test(test_coalesce),
	        cmocka_unit_test(test_file_backing),
	        cmocka_unit_test(test_big_orders),
	        cmocka_unit_test(test_window),
	        cmocka_unit_test(test_target_reset),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
