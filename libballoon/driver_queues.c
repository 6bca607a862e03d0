/* SPDX-License-Identifier: MIT */
/*
 * driver_queues.c - the driver's queues at run time: reaping completions,
 * pipelined inflate/deflate requests toward num_pages, the stats answer,
 * free page reports, and deflate-on-OOM.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "driver_int.h"
#include "regs.h"
#include "stats_wire.h"

#define MUST_TELL BLN_FEATURE(VIRTIO_BALLOON_F_MUST_TELL_HOST)

static bool has(const struct bln_driver *drv, uint64_t f)
{
	return (drv->features & f) == f;
}

int bln_drv_kick(struct bln_driver *drv, unsigned q)
{
	if (vq_driver_kick_prepare(&drv->vq[q]) == 1)
		return bln_notify(drv->cfg.t->kick_fd[q]);
	return 0;
}

/* ---- completions -------------------------------------------------------- */

static void inflate_done(struct bln_driver *drv, struct drv_slot *s)
{
	memcpy(drv->balloon + drv->nballoon, s->pfns, s->n * sizeof(uint32_t));
	drv->nballoon += s->n;
	drv->inflating -= s->n;
	drv->actual += s->n;
	drv->c.inflate_reqs++;
	drv->c.pages_inflated += s->n;
}

static void deflate_done(struct bln_driver *drv, struct drv_slot *s)
{
	if (!s->freed) {
		/* MUST_TELL_HOST: the host has been told, now the guest may
		 * use the pages. */
		drv->cfg.ops->free_pages(drv->cfg.ctx, s->pfns, s->n);
		if (s->oom) {
			drv->c.oom_deflated += s->n;
			drv->oom_acked += s->n;
		}
	}
	drv->deflating -= s->n;
	drv->actual -= s->n;
	drv->c.deflate_reqs++;
	drv->c.pages_deflated += s->n;
}

static void stats_done(struct bln_driver *drv)
{
	drv->stats_due = true;
}

static void report_done(struct bln_driver *drv)
{
	drv->rep_inflight = false;
	drv->c.reported_pages += drv->rep_pages;
	if (drv->rep_idx == drv->rep_n) {
		drv->cfg.ops->report_done(drv->cfg.ctx, drv->rep, drv->rep_n);
		drv->rep_n = 0;
	}
}

static void one_done(struct bln_driver *drv, unsigned q, void *token)
{
	struct drv_slot *s = token;

	switch (q) {
	case BLN_VQ_INFLATE:
	case BLN_VQ_DEFLATE:
		if (q == BLN_VQ_INFLATE)
			inflate_done(drv, s);
		else
			deflate_done(drv, s);
		s->busy = false;
		drv->busy[q == BLN_VQ_INFLATE ? DRV_INFL : DRV_DEFL]--;
		break;
	case BLN_VQ_STATS:
		stats_done(drv);
		break;
	default:
		report_done(drv);
		break;
	}
}

/* Take every completion of queue @q, re-arming interrupts until none is
 * left pending (no lost wakeup).  Returns 0 or -EIO. */
static int reap(struct bln_driver *drv, unsigned q)
{
	void *token;
	int ret;

	if (!drv->q_present[q])
		return 0;
	do {
		while ((ret = vq_driver_get_used(&drv->vq[q], &token, NULL)) ==
		       0)
			one_done(drv, q, token);
		if (ret != -EAGAIN)
			return -EIO;
	} while (vq_driver_set_interrupts(&drv->vq[q], true) == 1);
	return 0;
}

static int reap_all(struct bln_driver *drv)
{
	for (unsigned q = 0; q < BLN_VQ_COUNT; q++)
		if (reap(drv, q))
			return -EIO;
	if (drv->actual != drv->actual_written) {
		drv->actual_written = (uint32_t)drv->actual;
		reg_st32(&drv->regs->config.actual, drv->actual_written);
		bln_notify(drv->cfg.t->status_fd);
	}
	return 0;
}

/* ---- inflate and deflate ------------------------------------------------ */

static struct drv_slot *free_slot(struct bln_driver *drv, unsigned w)
{
	for (unsigned i = 0; i < drv->cfg.max_inflight; i++)
		if (!drv->slots[w][i].busy)
			return &drv->slots[w][i];
	return NULL;
}

/* Queue slot @s (s->pfns holds s->n PFNs) on queue @q. */
static int queue_slot(struct bln_driver *drv, unsigned q, struct drv_slot *s)
{
	struct vq_buf b = {.gpa = s->gpa, .len = s->n * sizeof(uint32_t)};
	int ret;

	for (uint32_t i = 0; i < s->n; i++)
		s->wire[i] = bln_to_le32(s->pfns[i]);
	ret = vq_driver_add(&drv->vq[q], &b, 1, NULL, 0, s);
	if (ret)
		return ret;
	s->busy = true;
	drv->busy[q == BLN_VQ_INFLATE ? DRV_INFL : DRV_DEFL]++;
	return 0;
}

static int inflate_some(struct bln_driver *drv, uint64_t target)
{
	struct drv_slot *s;
	uint64_t want;
	unsigned got;
	int ret;

	/* Not while deflates are unacknowledged: without MUST_TELL_HOST their
	 * pages are already back with the guest, and inflating one again
	 * before the device has seen the deflate would be refused. */
	while (!drv->deflating && drv->nballoon + drv->inflating < target &&
	       (s = free_slot(drv, DRV_INFL))) {
		want = target - drv->nballoon - drv->inflating;
		if (want > drv->cfg.batch_pfns)
			want = drv->cfg.batch_pfns;
		got = drv->cfg.ops->alloc_pages(drv->cfg.ctx, s->pfns,
		                                (unsigned)want);
		if (got > want)
			got = (unsigned)want;
		if (got < want)
			drv->c.alloc_failures++;
		if (!got)
			break; /* the guest has nothing now: retry next step */
		s->n = got;
		s->freed = s->oom = false;
		ret = queue_slot(drv, BLN_VQ_INFLATE, s);
		if (ret) {
			drv->cfg.ops->free_pages(drv->cfg.ctx, s->pfns, got);
			return ret;
		}
		drv->inflating += got;
	}
	return bln_drv_kick(drv, BLN_VQ_INFLATE);
}

/* Queue one deflate of up to @n pages from the balloon.  Without
 * MUST_TELL_HOST the guest gets them back at once, else on the ack. */
static int deflate_one(struct bln_driver *drv, struct drv_slot *s, uint64_t n,
                       bool oom)
{
	int ret;

	if (n > drv->cfg.batch_pfns)
		n = drv->cfg.batch_pfns;
	if (n > drv->nballoon)
		n = drv->nballoon;
	s->n = (uint32_t)n;
	s->oom = oom;
	s->freed = false;
	memcpy(s->pfns, drv->balloon + drv->nballoon - n, n * sizeof(uint32_t));
	ret = queue_slot(drv, BLN_VQ_DEFLATE, s);
	if (ret)
		return ret;
	drv->nballoon -= n;
	drv->deflating += n;
	if (!has(drv, MUST_TELL)) {
		drv->cfg.ops->free_pages(drv->cfg.ctx, s->pfns, s->n);
		s->freed = true;
	}
	return 0;
}

static int deflate_some(struct bln_driver *drv, uint64_t target)
{
	struct drv_slot *s;
	int ret;

	while (drv->nballoon && drv->nballoon + drv->inflating > target &&
	       (s = free_slot(drv, DRV_DEFL))) {
		ret = deflate_one(
		        drv, s, drv->nballoon + drv->inflating - target, false);
		if (ret)
			return ret;
	}
	return bln_drv_kick(drv, BLN_VQ_DEFLATE);
}

/* ---- stats and free page reporting -------------------------------------- */

int bln_drv_stats_send(struct bln_driver *drv)
{
	uint64_t vals[VIRTIO_BALLOON_S_NR] = {0};
	uint32_t valid = 0;
	struct vq_buf b = {.gpa = drv->stats_gpa};
	int ret;

	drv->cfg.ops->fill_stats(drv->cfg.ctx, vals, &valid);
	b.len = (uint32_t)bln_stats_encode(vals, valid, drv->stats_buf);
	ret = vq_driver_add(&drv->vq[BLN_VQ_STATS], &b, 1, NULL, 0, drv);
	if (ret)
		return ret;
	drv->stats_due = false;
	drv->c.stats_sent++;
	return bln_drv_kick(drv, BLN_VQ_STATS);
}

/* Describe the next part of the taken ranges in @b; returns buffers. */
static unsigned report_bufs(struct bln_driver *drv, struct vq_buf *b)
{
	unsigned n = 0;

	drv->rep_pages = 0;
	while (n < drv->rep_segs && drv->rep_idx < drv->rep_n) {
		const struct bln_range *r = &drv->rep[drv->rep_idx];
		uint64_t left = r->npages - drv->rep_off;

		if (left > DRV_SEG_MAX_PAGES)
			left = DRV_SEG_MAX_PAGES;
		if (left) {
			b[n].gpa = (r->pfn + drv->rep_off)
			           << VIRTIO_BALLOON_PFN_SHIFT;
			b[n++].len =
			        (uint32_t)(left << VIRTIO_BALLOON_PFN_SHIFT);
			drv->rep_off += left;
			drv->rep_pages += left;
		}
		if (drv->rep_off == r->npages) {
			drv->rep_idx++;
			drv->rep_off = 0;
		}
	}
	return n;
}

static int report_some(struct bln_driver *drv)
{
	struct vq_buf b[DRV_REPORT_SEGS];
	unsigned n;
	int ret;

	if (!drv->q_present[BLN_VQ_REPORTING] || drv->rep_inflight)
		return 0;
	if (!drv->rep_n) {
		drv->rep_n = drv->cfg.ops->report_take(drv->cfg.ctx, drv->rep,
		                                       DRV_REPORT_RANGES);
		if (drv->rep_n > DRV_REPORT_RANGES)
			drv->rep_n = DRV_REPORT_RANGES;
		drv->rep_idx = 0;
		drv->rep_off = 0;
	}
	if (!drv->rep_n)
		return 0;
	n = report_bufs(drv, b);
	if (!n) { /* only empty ranges */
		report_done(drv);
		return 0;
	}
	/* Linux queues reported pages device-writable; so do we. */
	ret = vq_driver_add(&drv->vq[BLN_VQ_REPORTING], NULL, 0, b, n, drv);
	if (ret)
		return ret;
	drv->rep_inflight = true;
	return bln_drv_kick(drv, BLN_VQ_REPORTING);
}

/* ---- step --------------------------------------------------------------- */

/* -ENODEV: features refused; -EIO: the device wants a reset. */
static int check_device(const struct bln_driver *drv)
{
	uint32_t st = reg_ld32(&drv->regs->status);

	if (!(st & BLN_STATUS_FEATURES_OK) &&
	    reg_ld32(&drv->regs->status_ack) == drv->status_gen)
		return -ENODEV;
	return (st & BLN_STATUS_NEEDS_RESET) ? -EIO : 0;
}

/* num_pages, clamped to what the balloon can hold; 0 while an OOM
 * deflate holds the balloon back and the host has not spoken since. */
static uint64_t target_pages(struct bln_driver *drv)
{
	uint64_t t = reg_ld32(&drv->regs->config.num_pages);

	if (drv->oom_hold &&
	    reg_ld32(&drv->regs->config_generation) != drv->oom_gen)
		drv->oom_hold = false;
	if (t > drv->balloon_cap)
		t = drv->balloon_cap;
	if (drv->oom_hold && t > drv->nballoon + drv->inflating)
		t = drv->nballoon + drv->inflating;
	return t;
}

int bln_driver_step(struct bln_driver *drv)
{
	uint64_t target;
	int ret;

	if (!drv)
		return -EINVAL;
	ret = check_device(drv);
	if (!ret)
		ret = reap_all(drv);
	if (!ret && drv->stats_due)
		ret = bln_drv_stats_send(drv);
	if (!ret)
		ret = report_some(drv);
	if (ret)
		return ret;
	target = target_pages(drv);
	ret = inflate_some(drv, target);
	if (!ret)
		ret = deflate_some(drv, target);
	if (ret)
		return ret;
	return drv->inflating || drv->deflating || drv->rep_inflight ||
	       drv->nballoon != target;
}

/* ---- deflate-on-OOM ----------------------------------------------------- */

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Wait for a completion until @deadline (ms) and reap: 1 waited (call
 * again), 0 the deadline passed, -EIO a bad used entry. */
static int oom_wait(struct bln_driver *drv, uint64_t deadline)
{
	uint64_t now = now_ms();

	if (now >= deadline)
		return 0;
	bln_wait(&drv->cfg.t->irq_fd, 1, (int)(deadline - now));
	bln_drain(drv->cfg.t->irq_fd);
	return reap_all(drv) ? -EIO : 1;
}

int64_t bln_driver_deflate_oom(struct bln_driver *drv, uint64_t pages)
{
	uint64_t deadline = now_ms() + DRV_OOM_WAIT_MS, queued = 0, freed = 0;
	struct drv_slot *s;
	int ret = 1;

	if (!drv)
		return -EINVAL;
	if (!has(drv, BLN_FEATURE(VIRTIO_BALLOON_F_DEFLATE_ON_OOM)))
		return -EPERM;
	if (reap_all(drv))
		return -EIO;
	drv->oom_hold = true;
	drv->oom_gen = reg_ld32(&drv->regs->config_generation);
	drv->oom_acked = 0;
	while (queued < pages && drv->nballoon) {
		s = free_slot(drv, DRV_DEFL);
		if (!s) {
			ret = oom_wait(drv, deadline);
			if (ret <= 0)
				break;
			continue;
		}
		if (deflate_one(drv, s, pages - queued, true))
			break;
		queued += s->n;
		if (s->freed) {
			drv->c.oom_deflated += s->n;
			freed += s->n;
		}
		bln_drv_kick(drv, BLN_VQ_DEFLATE);
	}
	/* MUST_TELL_HOST: the pages are usable only once the host acked. */
	while (ret > 0 && has(drv, MUST_TELL) && drv->oom_acked < queued)
		ret = oom_wait(drv, deadline);
	if (ret < 0) /* the device is broken; bln_driver_step() says so too */
		return ret;
	return (int64_t)(freed + drv->oom_acked);
}
