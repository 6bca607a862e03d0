/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the balloon driver, against the real device in the same
 * process over the transport: 64 MiB of memfd guest RAM, a trivial guest
 * allocator (a stack of free PFNs) behind struct bln_driver_ops.  Inflate,
 * deflate, MUST_TELL_HOST ordering, pipelining, stats, free page reporting,
 * deflate-on-OOM with and without the feature (and against a device that
 * returns a bad used entry), refusal and reset.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "balloon/bln_device.h"
#include "balloon/bln_driver.h"
#include "balloon/bln_prim.h"

#define DATA_PAGES 14336u /* 56 MiB the allocator owns */
#define F(x)       BLN_FEATURE(x)
#define BASE       (F(VIRTIO_F_VERSION_1) | F(VIRTIO_F_RING_EVENT_IDX))
#define MUST       F(VIRTIO_BALLOON_F_MUST_TELL_HOST)
#define OOM        F(VIRTIO_BALLOON_F_DEFLATE_ON_OOM)

/* The guest: its free pages, and what the balloon did with them. */
struct guest {
	uint32_t free[DATA_PAGES];
	uint32_t nfree;
	uint8_t in_balloon[DATA_PAGES];
	uint64_t given_back;           /* pages free_pages() returned */
	uint64_t back_still_ballooned; /* of those, device still had them */
	uint64_t stats_calls;
	struct bln_range rep[4];
	unsigned rep_n, rep_done_n, rep_done_calls;
	struct bln_device *dev; /* for ordering checks (single thread) */
};

struct t {
	struct bln_transport tr;
	struct bln_device *dev;
	struct bln_driver *drv;
	struct guest g;
	uint8_t *ram;
	uint64_t ram_bytes;
	int fd;
	pthread_t th;
	atomic_bool stop;
};

static unsigned g_alloc(void *ctx, uint32_t *pfns, unsigned n)
{
	struct guest *g = ctx;
	unsigned k = 0;

	while (k < n && g->nfree) {
		pfns[k] = g->free[--g->nfree];
		assert_false(g->in_balloon[pfns[k]]);
		g->in_balloon[pfns[k]] = 1;
		k++;
	}
	return k;
}

static void g_free(void *ctx, const uint32_t *pfns, unsigned n)
{
	struct guest *g = ctx;

	for (unsigned i = 0; i < n; i++) {
		assert_true(pfns[i] < DATA_PAGES && g->in_balloon[pfns[i]]);
		g->in_balloon[pfns[i]] = 0;
		g->free[g->nfree++] = pfns[i];
		if (g->dev && bln_device_is_ballooned(g->dev, pfns[i]))
			g->back_still_ballooned++;
	}
	g->given_back += n;
}

static void g_stats(void *ctx, uint64_t vals[VIRTIO_BALLOON_S_NR],
                    uint32_t *valid)
{
	struct guest *g = ctx;

	g->stats_calls++;
	vals[VIRTIO_BALLOON_S_MEMFREE] = (uint64_t)g->nfree * 4096;
	vals[VIRTIO_BALLOON_S_MEMTOT] = (uint64_t)DATA_PAGES * 4096;
	vals[VIRTIO_BALLOON_S_MAJFLT] = g->stats_calls;
	*valid = (1u << VIRTIO_BALLOON_S_MEMFREE) |
	         (1u << VIRTIO_BALLOON_S_MEMTOT) |
	         (1u << VIRTIO_BALLOON_S_MAJFLT);
}

static unsigned g_rep_take(void *ctx, struct bln_range *r, unsigned max)
{
	struct guest *g = ctx;
	unsigned n = g->rep_n < max ? g->rep_n : max;

	memcpy(r, g->rep, n * sizeof(*r));
	g->rep_n = 0; /* one round */
	return n;
}

static void g_rep_done(void *ctx, const struct bln_range *r, unsigned n)
{
	struct guest *g = ctx;

	assert_memory_equal(r, g->rep, n * sizeof(*r));
	g->rep_done_n += n;
	g->rep_done_calls++;
}

static const struct bln_driver_ops ops = {
        .alloc_pages = g_alloc,
        .free_pages = g_free,
        .fill_stats = g_stats,
        .report_take = g_rep_take,
        .report_done = g_rep_done,
};

static void open_t(struct t *t, uint64_t offer, uint64_t want, uint32_t batch,
                   uint16_t inflight)
{
	struct bln_driver_cfg dc = {.want_features = want,
	                            .batch_pfns = batch,
	                            .max_inflight = inflight,
	                            .ops = &ops};
	struct bln_device_cfg cfg = {.backing = BLN_BACKING_MEMFD,
	                             .host_features = offer};
	uint64_t scratch = bln_driver_scratch_bytes(&dc);

	memset(t, 0, sizeof(*t));
	assert_true(scratch > 0 && scratch % 4096 == 0);
	t->ram_bytes = (uint64_t)DATA_PAGES * 4096 + scratch;
	t->fd = bln_prim_memfd("drv-ram", t->ram_bytes);
	assert_true(t->fd >= 0);
	assert_int_equal(bln_prim_map(t->fd, t->ram_bytes, (void **)&t->ram),
	                 0);
	/* Touch it all, scratch included (the driver must not assume zeroed
	 * scratch), so every ballooned page shows as a drop in st_blocks. */
	memset(t->ram, 0xee, t->ram_bytes);
	assert_int_equal(bln_transport_create(&t->tr), 0);
	cfg.ram = (struct vq_mem){t->ram, t->ram_bytes};
	cfg.ram_fd = t->fd;
	cfg.t = &t->tr;
	assert_int_equal(bln_device_create(&cfg, &t->dev), 0);
	for (uint32_t p = 0; p < DATA_PAGES; p++)
		t->g.free[t->g.nfree++] = p;
	dc.ram = cfg.ram;
	dc.t = &t->tr;
	dc.scratch_gpa = (uint64_t)DATA_PAGES * 4096;
	dc.scratch_len = scratch;
	dc.ctx = &t->g;
	assert_int_equal(bln_driver_create(&dc, &t->drv), 0);
	assert_true(bln_device_process(t->dev) >= 0);
	assert_true(bln_device_ready(t->dev));
	assert_int_equal(bln_driver_features(t->drv), want & offer);
	assert_int_equal(bln_device_features(t->dev), want & offer);
}

static void close_t(struct t *t)
{
	bln_driver_destroy(t->drv);
	bln_device_destroy(t->dev);
	bln_transport_destroy(&t->tr);
	bln_prim_unmap(t->ram, t->ram_bytes);
	close(t->fd);
}

/* Alternate driver and device until both agree on @target. */
static void run_to(struct t *t, uint32_t target)
{
	int ret = 1;

	assert_int_equal(bln_device_set_target(t->dev, target), 0);
	for (int i = 0; i < 100000; i++) {
		ret = bln_driver_step(t->drv);
		assert_true(ret >= 0);
		assert_true(bln_device_process(t->dev) >= 0);
		if (!ret && bln_driver_balloon_pages(t->drv) == target &&
		    bln_device_actual(t->dev) == target)
			return;
	}
	fail_msg("balloon stuck at %llu (target %u)",
	         (unsigned long long)bln_driver_balloon_pages(t->drv), target);
}

static uint64_t blocks(struct t *t)
{
	struct stat st;

	assert_int_equal(fstat(t->fd, &st), 0);
	return (uint64_t)st.st_blocks * 512;
}

static bool page_is(struct t *t, uint32_t pfn, uint8_t v)
{
	const uint8_t *p = t->ram + (uint64_t)pfn * 4096;

	for (unsigned i = 0; i < 4096; i += 64)
		if (p[i] != v)
			return false;
	return true;
}

static void test_inflate_deflate(void **state)
{
	uint64_t want = BASE | MUST | F(VIRTIO_F_RING_INDIRECT_DESC);
	struct bln_driver_counters dc;
	struct bln_device_counters c;
	uint64_t b0;
	struct t t;
	(void)state;

	open_t(&t, BLN_DEVICE_FEATURES, want, 256, 4);
	b0 = blocks(&t);
	run_to(&t, 8192);
	assert_int_equal(bln_device_ballooned(t.dev), 8192);
	assert_int_equal(t.g.nfree, DATA_PAGES - 8192);
	assert_int_equal(b0 - blocks(&t), 8192ull * 4096);
	for (uint32_t p = 0; p < DATA_PAGES; p++) {
		assert_int_equal(bln_device_is_ballooned(t.dev, p),
		                 t.g.in_balloon[p]);
		assert_true(page_is(&t, p, t.g.in_balloon[p] ? 0 : 0xee));
	}
	bln_driver_counters(t.drv, &dc);
	bln_device_counters(t.dev, &c);
	assert_int_equal(dc.inflate_reqs, 8192 / 256);
	assert_int_equal(c.inflate_reqs, 8192 / 256);
	assert_int_equal(dc.pages_inflated, 8192);
	/* The allocator hands out contiguous runs, and the four requests in
	 * flight at a time extend each other: one release call for four. */
	assert_int_equal(c.ranges_released, 8192 / 256 / 4);
	run_to(&t, 1000);
	assert_int_equal(bln_device_ballooned(t.dev), 1000);
	assert_int_equal(t.g.given_back, 7192);
	run_to(&t, 0);
	assert_int_equal(bln_device_ballooned(t.dev), 0);
	assert_int_equal(t.g.nfree, DATA_PAGES);
	bln_device_counters(t.dev, &c);
	for (int r = 0; r < BLN_REJ_NR; r++)
		assert_int_equal(c.rejected[r], 0);
	/* Every page is usable again. */
	for (uint32_t p = 0; p < DATA_PAGES; p++)
		t.ram[(uint64_t)p * 4096 + p % 4096] = (uint8_t)p;
	for (uint32_t p = 0; p < DATA_PAGES; p++)
		assert_int_equal(t.ram[(uint64_t)p * 4096 + p % 4096],
		                 (uint8_t)p);
	close_t(&t);
}

/* With MUST_TELL_HOST pages come back only after the device cleared them;
 * without it, right away (while the device still has them ballooned). */
static void tell_order(uint64_t must)
{
	struct bln_device_counters c;
	struct t t;

	open_t(&t, BLN_DEVICE_FEATURES, BASE | must, 512, 8);
	run_to(&t, 4096);
	t.g.dev = t.dev;
	assert_int_equal(bln_device_set_target(t.dev, 0), 0);
	assert_int_equal(bln_driver_step(t.drv), 1); /* deflates queued */
	if (must) {
		assert_int_equal(t.g.given_back, 0);
	} else {
		assert_int_equal(t.g.given_back, 4096);
		assert_int_equal(t.g.back_still_ballooned, 4096);
	}
	run_to(&t, 0);
	assert_int_equal(t.g.given_back, 4096);
	assert_int_equal(t.g.back_still_ballooned, must ? 0 : 4096);
	assert_int_equal(bln_device_ballooned(t.dev), 0);
	/* Change of mind while deflates are in flight: the pages freed first
	 * are the first the allocator hands out again, yet the device must
	 * never see them inflated before it has seen them deflated. */
	run_to(&t, 2048);
	assert_int_equal(bln_device_set_target(t.dev, 0), 0);
	assert_int_equal(bln_driver_step(t.drv), 1);
	run_to(&t, 2048);
	assert_int_equal(bln_device_ballooned(t.dev), 2048);
	bln_device_counters(t.dev, &c);
	for (int r = 0; r < BLN_REJ_NR; r++)
		assert_int_equal(c.rejected[r], 0);
	close_t(&t);
}

static void test_must_tell_order(void **state)
{
	(void)state;
	tell_order(MUST);
	tell_order(0);
}

static void test_pipelining(void **state)
{
	struct bln_driver_counters dc;
	struct t t;
	(void)state;

	open_t(&t, BLN_DEVICE_FEATURES, BASE, 64, 8);
	bln_drain(t.tr.kick_fd[BLN_VQ_INFLATE]);
	bln_drain(t.tr.irq_fd);
	assert_int_equal(bln_device_set_target(t.dev, 2048), 0);
	assert_int_equal(bln_driver_step(t.drv), 1);
	/* Eight requests in flight at once, announced by a single kick. */
	assert_int_equal(bln_drain(t.tr.kick_fd[BLN_VQ_INFLATE]), 1);
	assert_int_equal(bln_device_process(t.dev), 8);
	assert_true(bln_drain(t.tr.irq_fd) >= 1);
	assert_int_equal(bln_driver_step(t.drv), 1);
	assert_int_equal(bln_driver_balloon_pages(t.drv), 8 * 64);
	assert_int_equal(bln_device_actual(t.dev), 8 * 64);
	assert_int_equal(bln_device_process(t.dev), 8);
	run_to(&t, 2048);
	bln_driver_counters(t.drv, &dc);
	assert_int_equal(dc.inflate_reqs, 2048 / 64);
	close_t(&t);
}

static void test_stats(void **state)
{
	uint64_t want = BASE | F(VIRTIO_BALLOON_F_STATS_VQ);
	struct bln_driver_counters dc;
	struct bln_guest_stats gs;
	struct t t;
	(void)state;

	open_t(&t, BLN_DEVICE_FEATURES, want, 0, 0);
	/* The first buffer came filled at DRIVER_OK. */
	bln_device_stats(t.dev, &gs);
	assert_int_equal(gs.val[VIRTIO_BALLOON_S_MAJFLT], 1);
	assert_int_equal(gs.val[VIRTIO_BALLOON_S_MEMTOT], DATA_PAGES * 4096ull);
	run_to(&t, 100);
	assert_int_equal(bln_device_request_stats(t.dev), 0);
	assert_int_equal(bln_driver_step(t.drv), 0);
	assert_int_equal(bln_device_process(t.dev), 1);
	bln_device_stats(t.dev, &gs);
	assert_int_equal(gs.val[VIRTIO_BALLOON_S_MAJFLT], 2);
	assert_int_equal(gs.val[VIRTIO_BALLOON_S_MEMFREE],
	                 (DATA_PAGES - 100) * 4096ull);
	assert_int_equal(gs.valid, (1u << VIRTIO_BALLOON_S_MEMFREE) |
	                                   (1u << VIRTIO_BALLOON_S_MEMTOT) |
	                                   (1u << VIRTIO_BALLOON_S_MAJFLT));
	bln_driver_counters(t.drv, &dc);
	assert_int_equal(dc.stats_sent, 2);
	/* Held again: a second request works the same way. */
	assert_int_equal(bln_device_request_stats(t.dev), 0);
	assert_int_equal(bln_device_request_stats(t.dev), -EAGAIN);
	close_t(&t);
}

static void test_reporting(void **state)
{
	uint64_t want = BASE | F(VIRTIO_BALLOON_F_PAGE_REPORTING) |
	                F(VIRTIO_F_RING_INDIRECT_DESC);
	struct bln_driver_counters dc;
	struct bln_device_counters c;
	struct t t;
	(void)state;

	open_t(&t, BLN_DEVICE_FEATURES, want, 0, 0);
	t.g.rep[0] = (struct bln_range){5000, 64};
	t.g.rep[1] = (struct bln_range){6000, 32};
	t.g.rep[2] = (struct bln_range){7000, 0}; /* empty: skipped */
	t.g.rep_n = 3;
	assert_int_equal(bln_driver_step(t.drv), 1);
	assert_int_equal(t.g.rep_done_calls, 0); /* not before the ack */
	assert_int_equal(bln_device_process(t.dev), 1);
	assert_int_equal(bln_driver_step(t.drv), 0);
	assert_int_equal(t.g.rep_done_calls, 1);
	assert_int_equal(t.g.rep_done_n, 3);
	bln_device_counters(t.dev, &c);
	bln_driver_counters(t.drv, &dc);
	assert_int_equal(c.reported_pages, 96);
	assert_int_equal(dc.reported_pages, 96);
	assert_true(page_is(&t, 5000, 0) && page_is(&t, 5063, 0));
	assert_true(page_is(&t, 5064, 0xee) && page_is(&t, 6031, 0));
	assert_int_equal(bln_device_ballooned(t.dev), 0);
	close_t(&t);
}

static void *device_thread(void *arg)
{
	struct t *t = arg;
	int fds[BLN_VQ_COUNT + 1];

	for (unsigned q = 0; q < BLN_VQ_COUNT; q++)
		fds[q] = t->tr.kick_fd[q];
	fds[BLN_VQ_COUNT] = t->tr.status_fd;
	while (!atomic_load(&t->stop)) {
		bln_wait(fds, BLN_VQ_COUNT + 1, 20);
		for (unsigned i = 0; i <= BLN_VQ_COUNT; i++)
			bln_drain(fds[i]);
		bln_device_process(t->dev);
	}
	return NULL;
}

static void test_oom(void **state)
{
	struct bln_driver_counters dc;
	struct t t;
	(void)state;

	/* Not negotiated: refused, nothing moves. */
	open_t(&t, BLN_DEVICE_FEATURES, BASE | MUST, 0, 0);
	run_to(&t, 1000);
	assert_int_equal(bln_driver_deflate_oom(t.drv, 100), -EPERM);
	assert_int_equal(bln_driver_balloon_pages(t.drv), 1000);
	assert_int_equal(t.g.given_back, 0);
	close_t(&t);

	/* Without MUST_TELL_HOST: at once, the host told in passing. */
	open_t(&t, BLN_DEVICE_FEATURES, BASE | OOM, 256, 4);
	run_to(&t, 1000);
	assert_int_equal(bln_driver_deflate_oom(t.drv, 300), 300);
	assert_int_equal(t.g.given_back, 300);
	assert_int_equal(bln_driver_balloon_pages(t.drv), 700);
	assert_int_equal(bln_device_ballooned(t.dev), 1000);
	assert_int_equal(bln_device_process(t.dev), 2); /* 256 + 44 */
	assert_int_equal(bln_device_ballooned(t.dev), 700);
	/* No re-inflation while the host's target stays as it was... */
	assert_int_equal(bln_driver_step(t.drv), 0);
	assert_int_equal(bln_device_actual(t.dev), 700);
	assert_int_equal(bln_driver_step(t.drv), 0);
	assert_int_equal(bln_driver_balloon_pages(t.drv), 700);
	/* ...until the host speaks again. */
	run_to(&t, 1000);
	bln_driver_counters(t.drv, &dc);
	assert_int_equal(dc.oom_deflated, 300);
	close_t(&t);

	/* With MUST_TELL_HOST: synchronous, against a device thread. */
	open_t(&t, BLN_DEVICE_FEATURES, BASE | OOM | MUST, 256, 4);
	run_to(&t, 1000);
	pthread_create(&t.th, NULL, device_thread, &t);
	assert_int_equal(bln_driver_deflate_oom(t.drv, 600), 600);
	assert_int_equal(t.g.given_back, 600);
	assert_int_equal(bln_device_ballooned(t.dev), 400);
	atomic_store(&t.stop, true);
	pthread_join(t.th, NULL);
	/* No device at all: nothing may be used before the ack; after a
	 * bounded wait it returns 0 and the pages follow on the ack. */
	assert_int_equal(bln_driver_deflate_oom(t.drv, 100), 0);
	assert_int_equal(t.g.given_back, 600);
	assert_int_equal(bln_device_process(t.dev), 1);
	assert_int_equal(bln_driver_step(t.drv), 0);
	assert_int_equal(t.g.given_back, 700);
	bln_driver_counters(t.drv, &dc);
	assert_int_equal(dc.oom_deflated, 700);
	close_t(&t);
}

/* A broken device: it answers the first deflate kick with a used entry
 * that names no request in flight. */
static void *bad_used_thread(void *arg)
{
	struct t *t = arg;
	const struct bln_queue_regs *q = &t->tr.regs->q[BLN_VQ_DEFLATE];
	uint8_t *used = t->ram + bln_le64(q->used);
	uint16_t *idx = (uint16_t *)(used + 2), i;
	uint32_t bad[2] = {bln_to_le32(0xffff), 0}; /* id, len */

	if (bln_wait(&t->tr.kick_fd[BLN_VQ_DEFLATE], 1, 2000) <= 0)
		return NULL;
	i = bln_le16(__atomic_load_n(idx, __ATOMIC_ACQUIRE));
	memcpy(used + 4 + 8 * (i % bln_le16(q->size)), bad, sizeof(bad));
	__atomic_store_n(idx, bln_to_le16((uint16_t)(i + 1)), __ATOMIC_RELEASE);
	bln_notify(t->tr.irq_fd);
	return NULL;
}

/* Deflate-on-OOM waiting for acks gets a bad used entry: -EIO at once,
 * nothing given back; and NULL is -EINVAL. */
static void test_oom_bad_used(void **state)
{
	struct t t;
	(void)state;

	assert_int_equal(bln_driver_deflate_oom(NULL, 1), -EINVAL);
	assert_int_equal(bln_driver_step(NULL), -EINVAL);
	open_t(&t, BLN_DEVICE_FEATURES, BASE | OOM | MUST, 256, 4);
	run_to(&t, 1000);
	bln_drain(t.tr.kick_fd[BLN_VQ_DEFLATE]);
	pthread_create(&t.th, NULL, bad_used_thread, &t);
	assert_int_equal(bln_driver_deflate_oom(t.drv, 100), -EIO);
	pthread_join(t.th, NULL);
	assert_int_equal(t.g.given_back, 0);
	assert_int_equal(bln_driver_step(t.drv), -EIO);
	close_t(&t);
}

static void test_refusal_reset(void **state)
{
	struct bln_driver_cfg dc = {.ops = &ops};
	struct bln_driver *d;
	struct t t;
	(void)state;

	/* The device offers less than the driver wants: the subset. */
	open_t(&t, F(VIRTIO_F_VERSION_1), BASE | MUST, 0, 0);
	/* Host-side reset: the driver is told to reset. */
	bln_device_reset(t.dev);
	assert_int_equal(bln_driver_step(t.drv), -EIO);
	bln_driver_destroy(t.drv);
	/* Registers that claim a feature the device does not offer: the
	 * device refuses FEATURES_OK and the driver learns it. */
	t.tr.regs->device_features |= bln_to_le64(MUST);
	dc.want_features = BASE | MUST;
	dc.t = &t.tr;
	dc.ram = (struct vq_mem){t.ram, t.ram_bytes};
	dc.scratch_gpa = (uint64_t)DATA_PAGES * 4096;
	dc.scratch_len = t.ram_bytes - dc.scratch_gpa;
	assert_int_equal(bln_driver_create(&dc, &t.drv), 0);
	assert_int_equal(bln_device_process(t.dev), -EIO);
	assert_int_equal(bln_driver_step(t.drv), -ENODEV);
	/* Bad configurations. */
	dc.want_features = F(VIRTIO_BALLOON_F_STATS_VQ); /* no VERSION_1 */
	assert_int_equal(bln_driver_create(&dc, &d), -ENODEV);
	dc.want_features = BASE;
	dc.scratch_len = 4096;
	assert_int_equal(bln_driver_create(&dc, &d), -EINVAL);
	dc.scratch_len = t.ram_bytes - dc.scratch_gpa;
	dc.scratch_gpa += 1;
	assert_int_equal(bln_driver_create(&dc, &d), -EINVAL);
	close_t(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_inflate_deflate),
	        cmocka_unit_test(test_must_tell_order),
	        cmocka_unit_test(test_pipelining),
	        cmocka_unit_test(test_stats),
	        cmocka_unit_test(test_reporting),
	        cmocka_unit_test(test_oom),
	        cmocka_unit_test(test_oom_bad_used),
	        cmocka_unit_test(test_refusal_reset),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
