/* SPDX-License-Identifier: MIT */
/*
 * test_poll.c - busy-polling a ring from outside its owner (vq_watch_*) and
 * the transport's spin-then-block wait (bln_poll_wait): notifications are
 * suppressed while a side spins and are back on before it sleeps, so a peer
 * that publishes during the spin sends nothing, and one that publishes after
 * it is not lost.  One queue (inflate) is set up by hand in the register
 * page; the driver and device halves are vq.c's.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "balloon/bln_transport.h"

#define RAM_BYTES (1u << 20)
#define RING_GPA  0x10000u
#define BUF_GPA   0x20000u
#define QSIZE     16
#define EVIDX     BLN_FEATURE(VIRTIO_F_RING_EVENT_IDX)

struct rig {
	struct bln_transport t;
	uint8_t *ram;
	struct vq_mem mem;
	struct vq_layout l;
	struct vq_driver drv;
	struct vq_device dev;
	uint64_t feat;
};

static void rig_init(struct rig *r, uint64_t feat)
{
	struct bln_regs *g;

	memset(r, 0, sizeof(*r));
	r->feat = feat | BLN_FEATURE(VIRTIO_F_VERSION_1);
	r->ram = aligned_alloc(4096, RAM_BYTES);
	assert_non_null(r->ram);
	memset(r->ram, 0, RAM_BYTES);
	r->mem = (struct vq_mem){r->ram, RAM_BYTES};
	assert_int_equal(bln_transport_create(&r->t), 0);
	assert_int_equal(vq_layout_init(&r->l, RING_GPA, QSIZE), 0);
	assert_int_equal(vq_driver_init(&r->drv, &r->mem, &r->l, r->feat, 0, 0),
	                 0);
	assert_int_equal(vq_device_init(&r->dev, &r->mem, &r->l, r->feat), 0);
	g = r->t.regs;
	g->device_features = bln_to_le64(r->feat);
	g->driver_features = bln_to_le64(r->feat);
	g->q[BLN_VQ_INFLATE].desc = bln_to_le64(r->l.desc_gpa);
	g->q[BLN_VQ_INFLATE].avail = bln_to_le64(r->l.avail_gpa);
	g->q[BLN_VQ_INFLATE].used = bln_to_le64(r->l.used_gpa);
	g->q[BLN_VQ_INFLATE].size = bln_to_le16(QSIZE);
	g->q[BLN_VQ_INFLATE].enabled = bln_to_le16(1);
	/* DRIVER_OK, acknowledged by the device. */
	g->status = bln_to_le32(BLN_STATUS_ACKNOWLEDGE | BLN_STATUS_DRIVER |
	                        BLN_STATUS_FEATURES_OK | BLN_STATUS_DRIVER_OK);
	g->status_gen = bln_to_le32(4);
	g->status_ack = bln_to_le32(4);
	/* Both owners leave notifications on, as between their calls. */
	assert_int_equal(vq_device_set_notify(&r->dev, true), 0);
	assert_int_equal(vq_driver_set_interrupts(&r->drv, true), 0);
}

static void rig_fini(struct rig *r)
{
	vq_driver_destroy(&r->drv);
	bln_transport_destroy(&r->t);
	free(r->ram);
}

/* Driver: queue one 4-byte request; returns kick_prepare's verdict. */
static int drv_send(struct rig *r)
{
	struct vq_buf b = {BUF_GPA, 4};

	assert_int_equal(vq_driver_add(&r->drv, &b, 1, NULL, 0, NULL), 0);
	return vq_driver_kick_prepare(&r->drv);
}

/* Device: take every request, complete it; returns publish's verdict. */
static int dev_complete_all(struct rig *r)
{
	struct vq_elem e;
	struct vq_seg s[4];

	while (vq_device_pop(&r->dev, &e, s, 4) == 1)
		assert_int_equal(vq_device_push(&r->dev, e.head, 0), 0);
	return vq_device_publish(&r->dev);
}

static void drv_reap_all(struct rig *r)
{
	while (vq_driver_get_used(&r->drv, NULL, NULL) == 0)
		;
	assert_int_equal(vq_driver_set_interrupts(&r->drv, true), 0);
}

/* ---- vq_watch ---------------------------------------------------------- */

static void watch_device_side(uint64_t feat)
{
	struct rig r;
	struct vq_watch w;

	rig_init(&r, feat);
	/* Baseline: kicks are on. */
	assert_int_equal(drv_send(&r), 1);
	assert_int_equal(dev_complete_all(&r), 1);
	assert_int_equal(vq_device_set_notify(&r.dev, true), 0);
	drv_reap_all(&r);

	/* While watching: the driver's request costs no kick, and is seen. */
	assert_int_equal(vq_watch_begin(&w, &r.mem, &r.l, r.feat, true), 0);
	assert_int_equal(vq_watch_pending(&w), 0);
	assert_int_equal(drv_send(&r), 0);
	assert_int_equal(vq_watch_pending(&w), 1);
	assert_int_equal(vq_watch_end(&w), 1); /* do not sleep */
	assert_int_equal(dev_complete_all(&r), 1);
	assert_int_equal(vq_device_set_notify(&r.dev, true), 0);
	drv_reap_all(&r);

	/* A watch that saw nothing leaves kicks on: no lost wake-up. */
	assert_int_equal(vq_watch_begin(&w, &r.mem, &r.l, r.feat, true), 0);
	assert_int_equal(vq_watch_end(&w), 0);
	assert_int_equal(drv_send(&r), 1);
	rig_fini(&r);
}

static void test_watch_device_evidx(void **state)
{
	(void)state;
	watch_device_side(EVIDX);
}

static void test_watch_device_flags(void **state)
{
	(void)state;
	watch_device_side(0);
}

static void watch_driver_side(uint64_t feat)
{
	struct rig r;
	struct vq_watch w;

	rig_init(&r, feat);
	assert_int_equal(drv_send(&r), 1);
	assert_int_equal(vq_watch_begin(&w, &r.mem, &r.l, r.feat, false), 0);
	/* The completion costs no interrupt while the driver watches. */
	assert_int_equal(dev_complete_all(&r), 0);
	assert_int_equal(vq_watch_pending(&w), 1);
	assert_int_equal(vq_watch_end(&w), 1);
	drv_reap_all(&r);

	/* Nothing came: interrupts are back on when the watch ends. */
	assert_int_equal(drv_send(&r), 1);
	assert_int_equal(vq_watch_begin(&w, &r.mem, &r.l, r.feat, false), 0);
	assert_int_equal(vq_watch_end(&w), 0);
	assert_int_equal(dev_complete_all(&r), 1);
	rig_fini(&r);
}

static void test_watch_driver_evidx(void **state)
{
	(void)state;
	watch_driver_side(EVIDX);
}

static void test_watch_driver_flags(void **state)
{
	(void)state;
	watch_driver_side(0);
}

static void test_watch_bad_layout(void **state)
{
	struct rig r;
	struct vq_watch w;
	struct vq_layout l;

	(void)state;
	rig_init(&r, EVIDX);
	l = r.l;
	l.used_gpa = RAM_BYTES - 8; /* runs off the end of guest memory */
	assert_int_equal(vq_watch_begin(&w, &r.mem, &l, r.feat, true), -EINVAL);
	l = r.l;
	l.size = 3;
	assert_int_equal(vq_watch_begin(&w, &r.mem, &l, r.feat, false),
	                 -EINVAL);
	rig_fini(&r);
}

/* ---- bln_poll_wait ----------------------------------------------------- */

struct peer {
	struct rig *r;
	int delay_ms;     /* >= 0: sleep, then send; -1: send once the
	                     device has suppressed kicks */
	int kick_verdict; /* what kick_prepare said */
	pthread_t th;
};

static bool kicks_suppressed(struct rig *r)
{
	const uint16_t *ev =
	        (const uint16_t *)(const void *)(r->ram + r->l.used_gpa + 4 +
	                                         8u * QSIZE); /* avail_event */
	uint16_t v = __atomic_load_n(ev, __ATOMIC_ACQUIRE);

	return v == (uint16_t)(r->dev.last_avail - 1);
}

static void *peer_main(void *arg)
{
	struct peer *p = arg;

	if (p->delay_ms >= 0) {
		usleep((useconds_t)p->delay_ms * 1000);
	} else {
		while (!kicks_suppressed(p->r))
			;
	}
	p->kick_verdict = drv_send(p->r);
	if (p->kick_verdict == 1)
		bln_notify(p->r->t.kick_fd[BLN_VQ_INFLATE]);
	return NULL;
}

static void peer_start(struct peer *p, struct rig *r, int delay_ms)
{
	memset(p, 0, sizeof(*p));
	p->r = r;
	p->delay_ms = delay_ms;
	p->kick_verdict = -1;
	assert_int_equal(pthread_create(&p->th, NULL, peer_main, p), 0);
}

static void test_poll_spin_hit(void **state)
{
	struct rig r;
	struct bln_poll p;
	struct peer peer;
	int fd;

	(void)state;
	rig_init(&r, EVIDX);
	fd = r.t.kick_fd[BLN_VQ_INFLATE];
	assert_int_equal(bln_poll_init(&p, BLN_POLL_MAX_US), 0);
	peer_start(&peer, &r, -1);
	assert_int_equal(
	        bln_poll_wait(&p, &r.t, &r.mem, BLN_POLL_DEVICE, &fd, 1, 5000),
	        BLN_POLL_SPUN);
	pthread_join(peer.th, NULL);
	assert_int_equal(peer.kick_verdict, 0); /* the driver did not kick */
	assert_int_equal(bln_drain(fd), -EAGAIN);
	assert_int_equal(p.waits, 1);
	assert_int_equal(p.spin_hits, 1);
	assert_int_equal(p.sleeps, 0);
	assert_true(p.spin_ns > 0);
	/* Kicks are on again: the owner's state holds. */
	assert_int_equal(vq_device_pending(&r.dev), 1);
	assert_false(kicks_suppressed(&r));
	rig_fini(&r);
}

static void no_lost_wakeup(uint64_t feat)
{
	struct rig r;
	struct bln_poll p;
	struct peer peer;
	int fd;
	struct timespec a, b;

	rig_init(&r, feat);
	fd = r.t.kick_fd[BLN_VQ_INFLATE];
	assert_int_equal(bln_poll_init(&p, 20), 0); /* 20 us, then sleep */
	peer_start(&peer, &r, 30);
	clock_gettime(CLOCK_MONOTONIC, &a);
	assert_int_equal(
	        bln_poll_wait(&p, &r.t, &r.mem, BLN_POLL_DEVICE, &fd, 1, 10000),
	        BLN_POLL_WOKE);
	clock_gettime(CLOCK_MONOTONIC, &b);
	pthread_join(peer.th, NULL);
	/* The spin ended long before the request: kicks were on again. */
	assert_int_equal(peer.kick_verdict, 1);
	assert_int_equal(bln_drain(fd), 1);
	assert_int_equal(p.spin_hits, 0);
	assert_int_equal(p.sleeps, 1);
	assert_true(b.tv_sec - a.tv_sec < 5); /* woken, not timed out */
	rig_fini(&r);
}

static void test_poll_no_lost_wakeup_evidx(void **state)
{
	(void)state;
	no_lost_wakeup(EVIDX);
}

static void test_poll_no_lost_wakeup_flags(void **state)
{
	(void)state;
	no_lost_wakeup(0);
}

/* The driver side: a completion that arrives while it spins costs no
 * interrupt; one published before the wait is found at once. */
static bool irqs_suppressed(struct rig *r)
{
	const uint16_t *ev =
	        (const uint16_t *)(const void *)(r->ram + r->l.avail_gpa + 4 +
	                                         2u * QSIZE); /* used_event */
	uint16_t v = __atomic_load_n(ev, __ATOMIC_ACQUIRE);

	return v == (uint16_t)(r->drv.last_used - 1);
}

struct dev_peer {
	struct rig *r;
	int verdict;
};

static void *dev_peer_main(void *arg)
{
	struct dev_peer *p = arg;

	while (!irqs_suppressed(p->r))
		;
	p->verdict = dev_complete_all(p->r);
	return NULL;
}

static void test_poll_driver_side(void **state)
{
	struct rig r;
	struct bln_poll p;
	struct dev_peer peer = {.verdict = -1};
	pthread_t th;
	int fds[2];

	(void)state;
	rig_init(&r, EVIDX);
	fds[0] = r.t.irq_fd;
	fds[1] = r.t.cfg_fd;
	assert_int_equal(bln_poll_init(&p, BLN_POLL_MAX_US), 0);
	assert_int_equal(drv_send(&r), 1);
	peer.r = &r;
	assert_int_equal(pthread_create(&th, NULL, dev_peer_main, &peer), 0);
	assert_int_equal(
	        bln_poll_wait(&p, &r.t, &r.mem, BLN_POLL_DRIVER, fds, 2, 5000),
	        BLN_POLL_SPUN);
	pthread_join(th, NULL);
	assert_int_equal(peer.verdict, 0); /* no interrupt asked for */
	assert_int_equal(p.spin_hits, 1);
	assert_false(irqs_suppressed(&r));
	drv_reap_all(&r);
	/* Published before the wait, with interrupts on: found at once. */
	assert_int_equal(drv_send(&r), 1);
	assert_int_equal(dev_complete_all(&r), 1);
	assert_int_equal(
	        bln_poll_wait(&p, &r.t, &r.mem, BLN_POLL_DRIVER, fds, 2, 5000),
	        BLN_POLL_SPUN);
	assert_int_equal(p.spin_hits, 2);
	rig_fini(&r);
}

/* Idle: the budget halves after every sleep longer than it, down to 0
 * (plain blocking, rings untouched); a quick wake-up grows it again. */
static void test_poll_adapts(void **state)
{
	struct rig r;
	struct bln_poll p;
	uint32_t expect[] = {50, 25, 12, 0, 0};
	int fd;
	uint16_t flags_before;

	(void)state;
	rig_init(&r, 0);
	fd = r.t.kick_fd[BLN_VQ_INFLATE];
	assert_int_equal(bln_poll_init(&p, 100), 0);
	for (unsigned i = 0; i < 5; i++) {
		assert_int_equal(bln_poll_wait(&p, &r.t, &r.mem,
		                               BLN_POLL_DEVICE, &fd, 1, 2),
		                 0);
		assert_int_equal(p.cur_us, expect[i]);
	}
	/* Budget 0: no spin, the ring's flags are not written. */
	*(uint16_t *)(void *)(r.ram + r.l.used_gpa) = bln_to_le16(0x8000);
	flags_before = bln_le16(*(uint16_t *)(void *)(r.ram + r.l.used_gpa));
	uint64_t spun = p.spin_ns;
	assert_int_equal(bln_notify(fd), 0);
	assert_int_equal(
	        bln_poll_wait(&p, &r.t, &r.mem, BLN_POLL_DEVICE, &fd, 1, 1000),
	        BLN_POLL_WOKE);
	assert_int_equal(p.spin_ns, spun);
	assert_int_equal(bln_le16(*(uint16_t *)(void *)(r.ram + r.l.used_gpa)),
	                 flags_before);
	assert_int_equal(p.cur_us, BLN_POLL_GROW_US); /* woken quickly */
	rig_fini(&r);
}

/* Rings are left alone until the device has acknowledged DRIVER_OK; a
 * status the device has not acted on is work for it. */
static void test_poll_status(void **state)
{
	struct rig r;
	struct bln_poll p;
	int fd;
	uint16_t ev;

	(void)state;
	rig_init(&r, EVIDX);
	fd = r.t.status_fd;
	assert_int_equal(bln_poll_init(&p, 50), 0);
	r.t.regs->status_gen = bln_to_le32(5); /* not acknowledged yet */
	assert_int_equal(
	        bln_poll_wait(&p, &r.t, &r.mem, BLN_POLL_DEVICE, &fd, 1, 1000),
	        BLN_POLL_SPUN);
	/* Not live: nothing in guest memory is written. */
	r.t.regs->status = 0;
	r.t.regs->status_ack = bln_to_le32(5);
	ev = 0x1234;
	memcpy(r.ram + r.l.used_gpa + 4 + 8u * QSIZE, &ev, 2);
	assert_int_equal(
	        bln_poll_wait(&p, &r.t, &r.mem, BLN_POLL_DEVICE, &fd, 1, 1), 0);
	memcpy(&ev, r.ram + r.l.used_gpa + 4 + 8u * QSIZE, 2);
	assert_int_equal(ev, 0x1234);
	rig_fini(&r);
}

static void test_poll_bad_args(void **state)
{
	struct rig r;
	struct bln_poll p;
	int fd;

	(void)state;
	rig_init(&r, 0);
	fd = r.t.kick_fd[0];
	assert_int_equal(bln_poll_init(&p, BLN_POLL_MAX_US + 1), -EINVAL);
	assert_int_equal(bln_poll_init(NULL, 1), -EINVAL);
	assert_int_equal(bln_poll_init(&p, 10), 0);
	assert_int_equal(
	        bln_poll_wait(&p, &r.t, NULL, BLN_POLL_DEVICE, &fd, 1, 0),
	        -EINVAL);
	assert_int_equal(
	        bln_poll_wait(&p, &r.t, &r.mem, BLN_POLL_DEVICE, &fd, 0, 0),
	        -EINVAL);
	assert_int_equal(bln_poll_wait(&p, &r.t, &r.mem, (enum bln_poll_side)7,
	                               &fd, 1, 0),
	                 -EINVAL);
	rig_fini(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_watch_device_evidx),
	        cmocka_unit_test(test_watch_device_flags),
	        cmocka_unit_test(test_watch_driver_evidx),
	        cmocka_unit_test(test_watch_driver_flags),
	        cmocka_unit_test(test_watch_bad_layout),
	        cmocka_unit_test(test_poll_spin_hit),
	        cmocka_unit_test(test_poll_no_lost_wakeup_evidx),
	        cmocka_unit_test(test_poll_no_lost_wakeup_flags),
	        cmocka_unit_test(test_poll_driver_side),
	        cmocka_unit_test(test_poll_adapts),
	        cmocka_unit_test(test_poll_status),
	        cmocka_unit_test(test_poll_bad_args),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
