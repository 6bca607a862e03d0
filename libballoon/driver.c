/* SPDX-License-Identifier: MIT */
/*
 * driver.c - the driver half of virtio-balloon: configuration, the layout of
 * rings, PFN arrays, the stats buffer and indirect tables in scratch guest
 * memory, feature negotiation and queue setup (VIRTIO 1.2, 3.1.1).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "driver_int.h"
#include "regs.h"

/* What this driver implements; FREE_PAGE_HINT and PAGE_POISON are not. */
#define DRV_FEATURES                                                           \
	(BLN_FEATURE(VIRTIO_F_VERSION_1) |                                     \
	 BLN_FEATURE(VIRTIO_F_RING_EVENT_IDX) |                                \
	 BLN_FEATURE(VIRTIO_F_RING_INDIRECT_DESC) |                            \
	 BLN_FEATURE(VIRTIO_BALLOON_F_MUST_TELL_HOST) |                        \
	 BLN_FEATURE(VIRTIO_BALLOON_F_STATS_VQ) |                              \
	 BLN_FEATURE(VIRTIO_BALLOON_F_DEFLATE_ON_OOM) |                        \
	 BLN_FEATURE(VIRTIO_BALLOON_F_PAGE_REPORTING))

#define STATS_BYTES (VIRTIO_BALLOON_S_NR * 10u)
#define PAGE        4096u

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

static void fill_defaults(struct bln_driver_cfg *c)
{
	if (!c->queue_size)
		c->queue_size = DRV_DEFAULT_QSIZE;
	if (!c->batch_pfns)
		c->batch_pfns = DRV_DEFAULT_BATCH;
	if (!c->max_inflight)
		c->max_inflight = DRV_DEFAULT_INFLIGHT;
	if (c->max_inflight > c->queue_size)
		c->max_inflight = c->queue_size;
}

/* Lay out scratch memory for @features; ring sizes capped at @qmax. */
static void plan(const struct bln_driver_cfg *c, uint64_t features,
                 uint16_t qmax, struct drv_plan *p)
{
	uint64_t off = 0;

	memset(p, 0, sizeof(*p));
	p->qsize[BLN_VQ_INFLATE] = c->queue_size;
	p->qsize[BLN_VQ_DEFLATE] = c->queue_size;
	if (features & BLN_FEATURE(VIRTIO_BALLOON_F_STATS_VQ))
		p->qsize[BLN_VQ_STATS] = DRV_STATS_QSIZE;
	if (features & BLN_FEATURE(VIRTIO_BALLOON_F_PAGE_REPORTING))
		p->qsize[BLN_VQ_REPORTING] = DRV_REPORT_QSIZE;
	for (unsigned q = 0; q < BLN_VQ_COUNT; q++) {
		if (p->qsize[q] > qmax)
			p->qsize[q] = qmax;
		if (!p->qsize[q])
			continue;
		p->ring[q] = off;
		off = align_up(off + vq_ring_bytes(p->qsize[q]), 64);
	}
	p->pfn_arrays = off;
	off += 2ull * c->max_inflight * c->batch_pfns * sizeof(uint32_t);
	off = align_up(off, 64);
	p->stats = off;
	off = align_up(off + STATS_BYTES, 64);
	if (p->qsize[BLN_VQ_REPORTING] &&
	    (features & BLN_FEATURE(VIRTIO_F_RING_INDIRECT_DESC))) {
		p->indirect = off;
		off += (uint64_t)p->qsize[BLN_VQ_REPORTING] * DRV_REPORT_SEGS *
		       sizeof(struct vq_desc);
	}
	p->total = align_up(off, PAGE);
}

static bool cfg_valid(const struct bln_driver_cfg *c)
{
	return vq_size_valid(c->queue_size) && c->batch_pfns &&
	       c->batch_pfns <= DRV_MAX_BATCH;
}

uint64_t bln_driver_scratch_bytes(const struct bln_driver_cfg *cfg)
{
	struct bln_driver_cfg c;
	struct drv_plan p;

	if (!cfg)
		return 0;
	c = *cfg;
	fill_defaults(&c);
	if (!cfg_valid(&c))
		return 0;
	plan(&c, c.want_features & DRV_FEATURES, VQ_MAX_SIZE, &p);
	return p.total;
}

static int check_cfg(const struct bln_driver_cfg *c)
{
	const struct bln_driver_ops *o = c->ops;

	if (!c->t || !c->t->regs || !c->ram.base || !o || !o->alloc_pages ||
	    !o->free_pages || !cfg_valid(c))
		return -EINVAL;
	if ((c->ram.size & (PAGE - 1)) || (c->scratch_gpa & (PAGE - 1)) ||
	    (c->ram.size >> VIRTIO_BALLOON_PFN_SHIFT) > UINT32_MAX + 1ull)
		return -EINVAL;
	if (c->scratch_gpa > c->ram.size ||
	    c->scratch_len > c->ram.size - c->scratch_gpa ||
	    c->scratch_len < bln_driver_scratch_bytes(c))
		return -EINVAL;
	return 0;
}

void bln_drv_status(struct bln_driver *drv, uint32_t bits)
{
	if (!bits) {
		reg_bump32(&drv->regs->reset_gen);
		reg_st32(&drv->regs->status, 0);
	} else {
		reg_or32(&drv->regs->status, bits);
	}
	drv->status_gen = reg_bump32(&drv->regs->status_gen);
	bln_notify(drv->cfg.t->status_fd);
}

uint64_t bln_drv_slot_gpa(const struct bln_driver *drv, unsigned w, unsigned i)
{
	return drv->cfg.scratch_gpa + drv->plan.pfn_arrays +
	       ((uint64_t)w * drv->cfg.max_inflight + i) * drv->cfg.batch_pfns *
	               sizeof(uint32_t);
}

/* Features to ask for: the offer, what we implement and have ops for. */
static uint64_t pick_features(const struct bln_driver *drv, uint64_t offer)
{
	const struct bln_driver_ops *o = drv->cfg.ops;
	uint64_t f = drv->cfg.want_features & offer & DRV_FEATURES;

	if (!o->fill_stats)
		f &= ~BLN_FEATURE(VIRTIO_BALLOON_F_STATS_VQ);
	if (!o->report_take || !o->report_done)
		f &= ~BLN_FEATURE(VIRTIO_BALLOON_F_PAGE_REPORTING);
	return f;
}

static int negotiate(struct bln_driver *drv)
{
	uint64_t f;

	bln_drv_status(drv, 0);
	bln_drv_status(drv, BLN_STATUS_ACKNOWLEDGE | BLN_STATUS_DRIVER);
	f = pick_features(drv, reg_ld64(&drv->regs->device_features));
	if (!(f & BLN_FEATURE(VIRTIO_F_VERSION_1)))
		goto err_refused;
	drv->features = f;
	reg_st64(&drv->regs->driver_features, f);
	bln_drv_status(drv, BLN_STATUS_FEATURES_OK);
	/* The device acts asynchronously; if it already answered, honour the
	 * answer now, else bln_driver_step() reports a refusal later. */
	if (reg_ld32(&drv->regs->status_ack) == drv->status_gen &&
	    !(reg_ld32(&drv->regs->status) & BLN_STATUS_FEATURES_OK))
		goto err_refused;
	return 0;

err_refused:
	bln_drv_status(drv, BLN_STATUS_FAILED);
	return -ENODEV;
}

static int setup_queue(struct bln_driver *drv, unsigned q)
{
	struct bln_queue_regs *r = &drv->regs->q[q];
	uint16_t size = drv->plan.qsize[q];
	uint64_t gpa = drv->cfg.scratch_gpa + drv->plan.ring[q], ind = 0;
	struct vq_layout l;
	int ret;

	if (!size) {
		memset(r, 0, sizeof(*r));
		return 0;
	}
	memset(drv->cfg.ram.base + gpa, 0, vq_ring_bytes(size));
	ret = vq_layout_init(&l, gpa, size);
	if (ret)
		return ret;
	if (q == BLN_VQ_REPORTING && drv->plan.indirect)
		ind = drv->cfg.scratch_gpa + drv->plan.indirect;
	ret = vq_driver_init(&drv->vq[q], &drv->cfg.ram, &l, drv->features, ind,
	                     ind ? DRV_REPORT_SEGS : 0);
	if (ret)
		return ret;
	drv->q_present[q] = true;
	reg_st64(&r->desc, l.desc_gpa);
	reg_st64(&r->avail, l.avail_gpa);
	reg_st64(&r->used, l.used_gpa);
	reg_st16(&r->size, size);
	reg_st16(&r->enabled, 1);
	return 0;
}

static int alloc_slots(struct bln_driver *drv)
{
	uint32_t batch = drv->cfg.batch_pfns;

	for (unsigned w = 0; w < 2; w++) {
		drv->slots[w] =
		        calloc(drv->cfg.max_inflight, sizeof(**drv->slots));
		if (!drv->slots[w])
			return -ENOMEM;
		for (unsigned i = 0; i < drv->cfg.max_inflight; i++) {
			struct drv_slot *s = &drv->slots[w][i];

			s->gpa = bln_drv_slot_gpa(drv, w, i);
			s->wire = (uint32_t *)(drv->cfg.ram.base + s->gpa);
			s->pfns = malloc(sizeof(uint32_t) * batch);
			if (!s->pfns)
				return -ENOMEM;
		}
	}
	drv->balloon_cap = drv->cfg.ram.size >> VIRTIO_BALLOON_PFN_SHIFT;
	drv->balloon = malloc(sizeof(uint32_t) * (drv->balloon_cap + 1));
	return drv->balloon ? 0 : -ENOMEM;
}

static void free_all(struct bln_driver *drv)
{
	for (unsigned q = 0; q < BLN_VQ_COUNT; q++)
		if (drv->q_present[q])
			vq_driver_destroy(&drv->vq[q]);
	for (unsigned w = 0; w < 2; w++) {
		for (unsigned i = 0; drv->slots[w] && i < drv->cfg.max_inflight;
		     i++)
			free(drv->slots[w][i].pfns);
		free(drv->slots[w]);
	}
	free(drv->balloon);
	free(drv);
}

/* Queues, the reporting segment budget, then DRIVER_OK and the first
 * stats buffer (5.5.5: after DRIVER_OK, notify the stats buffer). */
static int start(struct bln_driver *drv)
{
	uint16_t qmax = reg_ld16(&drv->regs->queue_max);
	int ret;

	if (!vq_size_valid(qmax))
		qmax = VQ_MAX_SIZE;
	if (drv->cfg.max_inflight > qmax)
		drv->cfg.max_inflight = qmax;
	plan(&drv->cfg, drv->features, qmax, &drv->plan);
	drv->rep_segs = drv->plan.indirect ? DRV_REPORT_SEGS
	                                   : drv->plan.qsize[BLN_VQ_REPORTING];
	if (drv->rep_segs > DRV_REPORT_SEGS)
		drv->rep_segs = DRV_REPORT_SEGS;
	ret = alloc_slots(drv);
	if (ret)
		return ret;
	for (unsigned q = 0; q < BLN_VQ_COUNT; q++) {
		ret = setup_queue(drv, q);
		if (ret)
			return ret;
	}
	drv->stats_gpa = drv->cfg.scratch_gpa + drv->plan.stats;
	drv->stats_buf = drv->cfg.ram.base + drv->stats_gpa;
	reg_st32(&drv->regs->config.actual, 0);
	bln_drv_status(drv, BLN_STATUS_DRIVER_OK);
	if (drv->q_present[BLN_VQ_STATS])
		return bln_drv_stats_send(drv);
	return 0;
}

int bln_driver_create(const struct bln_driver_cfg *cfg, struct bln_driver **out)
{
	struct bln_driver *drv;
	int ret;

	if (!cfg || !out)
		return -EINVAL;
	drv = calloc(1, sizeof(*drv));
	if (!drv)
		return -ENOMEM;
	drv->cfg = *cfg;
	fill_defaults(&drv->cfg);
	ret = check_cfg(&drv->cfg);
	if (ret)
		goto err_free;
	drv->regs = cfg->t->regs;
	ret = negotiate(drv);
	if (ret)
		goto err_free;
	ret = start(drv);
	if (ret)
		goto err_failed;
	*out = drv;
	return 0;

err_failed:
	bln_drv_status(drv, BLN_STATUS_FAILED);
err_free:
	free_all(drv);
	return ret;
}

void bln_driver_destroy(struct bln_driver *drv)
{
	if (!drv)
		return;
	bln_drv_status(drv,
	               0); /* unbind: the device forgets queues and balloon */
	free_all(drv);
}

uint64_t bln_driver_balloon_pages(const struct bln_driver *drv)
{
	return drv->nballoon;
}

uint64_t bln_driver_features(const struct bln_driver *drv)
{
	return drv->features;
}

void bln_driver_counters(const struct bln_driver *drv,
                         struct bln_driver_counters *out)
{
	*out = drv->c;
}
