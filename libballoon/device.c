/* SPDX-License-Identifier: MIT */
/*
 * device.c - the device half of virtio-balloon: lifecycle, the status
 * handshake and feature negotiation, queue setup at DRIVER_OK, and the loop
 * that pops every queue's requests and hands them to device_pages.c and
 * device_stats.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "device_int.h"
#include "regs.h"

#define DEFAULT_QUEUE_MAX 1024
#define DEFAULT_MAX_PFNS  65536
#define MAX_PFNS_LIMIT    (1u << 24)

/*
 * The declared backing decides the release call, so a wrong declaration
 * would make every release fail or, worse, succeed without freeing anything
 * (MADV_DONTNEED on a shared mapping only unmaps).  Refuse what can be told
 * cheaply: an unknown kind, ANON with an fd, MEMFD/FILE without one, or an
 * fd that is not an open regular file (memfds are) at least ram.size long.
 */
static int backing_check(const struct bln_device_cfg *cfg)
{
	struct stat st;

	switch (cfg->backing) {
	case BLN_BACKING_ANON:
		return cfg->ram_fd < 0 ? 0 : -EINVAL;
	case BLN_BACKING_MEMFD:
	case BLN_BACKING_FILE:
		break;
	default:
		return -EINVAL;
	}
	if (cfg->ram_fd < 0 || fstat(cfg->ram_fd, &st) ||
	    !S_ISREG(st.st_mode) || st.st_size < 0 ||
	    (uint64_t)st.st_size < cfg->ram.size)
		return -EINVAL;
	return 0;
}

static int cfg_check(const struct bln_device_cfg *cfg)
{
	uint64_t f = cfg->host_features;

	if (!cfg->t || !cfg->t->regs || !cfg->ram.base || !cfg->ram.size)
		return -EINVAL;
	if (((uintptr_t)cfg->ram.base & 4095) || (cfg->ram.size & 4095) ||
	    (cfg->ram.size >> VIRTIO_BALLOON_PFN_SHIFT) > UINT32_MAX + 1ull)
		return -EINVAL;
	if (backing_check(cfg))
		return -EINVAL;
	if ((f & ~BLN_DEVICE_FEATURES) ||
	    !(f & BLN_FEATURE(VIRTIO_F_VERSION_1)))
		return -EINVAL;
	if (cfg->queue_max && !vq_size_valid(cfg->queue_max))
		return -EINVAL;
	if (cfg->max_pfns_per_req > MAX_PFNS_LIMIT)
		return -EINVAL;
	return 0;
}

int bln_device_create(const struct bln_device_cfg *cfg, struct bln_device **out)
{
	struct bln_device *dev;
	long ps = sysconf(_SC_PAGESIZE);
	uint32_t max;
	int ret;

	if (!cfg || !out)
		return -EINVAL;
	ret = cfg_check(cfg);
	if (ret)
		return ret;
	dev = calloc(1, sizeof(*dev));
	if (!dev)
		return -ENOMEM;
	dev->cfg = *cfg;
	if (!dev->cfg.queue_max)
		dev->cfg.queue_max = DEFAULT_QUEUE_MAX;
	if (!dev->cfg.max_pfns_per_req)
		dev->cfg.max_pfns_per_req = DEFAULT_MAX_PFNS;
	max = dev->cfg.max_pfns_per_req;
	dev->regs = cfg->t->regs;
	dev->ram_pages = cfg->ram.size >> VIRTIO_BALLOON_PFN_SHIFT;
	dev->host_page = ps > 0 ? (uint64_t)ps : BLN_PAGE_SIZE;
	dev->pfns = malloc(sizeof(*dev->pfns) * max);
	if (!dev->pfns)
		goto err_pfns;
	dev->tmp = malloc(sizeof(*dev->tmp) * max);
	if (!dev->tmp)
		goto err_tmp;
	dev->ranges = malloc(sizeof(*dev->ranges) * max);
	if (!dev->ranges)
		goto err_ranges;
	if (bln_bitmap_init(&dev->bitmap, dev->ram_pages))
		goto err_bitmap;

	reg_st64(&dev->regs->device_features, cfg->host_features);
	reg_st16(&dev->regs->queue_max, dev->cfg.queue_max);
	*out = dev;
	return 0;

err_bitmap:
	free(dev->ranges);
err_ranges:
	free(dev->tmp);
err_tmp:
	free(dev->pfns);
err_pfns:
	free(dev);
	return -ENOMEM;
}

void bln_device_destroy(struct bln_device *dev)
{
	if (!dev)
		return;
	bln_bitmap_free(&dev->bitmap);
	free(dev->ranges);
	free(dev->tmp);
	free(dev->pfns);
	free(dev);
}

/* Forget queues, negotiation and the balloon (the driver starts over). */
static void soft_reset(struct bln_device *dev)
{
	memset(dev->q_live, 0, sizeof(dev->q_live));
	memset(dev->vq, 0, sizeof(dev->vq));
	dev->win.count = 0;
	__atomic_store_n(&dev->features, 0, __ATOMIC_RELAXED);
	dev->features_ok = false;
	dev->features_bad = false;
	__atomic_store_n(&dev->live, false, __ATOMIC_RELAXED);
	dev->broken = false;
	dev->stats_held = false;
	bln_bitmap_clear_all(&dev->bitmap);
	__atomic_store_n(&dev->ballooned, 0, __ATOMIC_RELAXED);
}

/* Enter the error state the driver must reset us out of. */
static void raise_needs_reset(struct bln_device *dev)
{
	memset(dev->q_live, 0, sizeof(dev->q_live));
	__atomic_store_n(&dev->live, false, __ATOMIC_RELAXED);
	dev->broken = true;
	reg_or32(&dev->regs->status, BLN_STATUS_NEEDS_RESET);
	bln_notify(dev->cfg.t->cfg_fd);
}

static void negotiate(struct bln_device *dev)
{
	uint64_t want = reg_ld64(&dev->regs->driver_features);

	if (!(want & ~dev->cfg.host_features) &&
	    (want & BLN_FEATURE(VIRTIO_F_VERSION_1))) {
		__atomic_store_n(&dev->features, want, __ATOMIC_RELAXED);
		dev->features_ok = true;
		return;
	}
	dev->features_bad = true;
	reg_and32(&dev->regs->status, ~(uint32_t)BLN_STATUS_FEATURES_OK);
}

/* Which queues exist with the negotiated features (fixed indices). */
static bool queue_wanted(uint64_t features, unsigned q)
{
	switch (q) {
	case BLN_VQ_INFLATE:
	case BLN_VQ_DEFLATE:
		return true;
	case BLN_VQ_STATS:
		return features & BLN_FEATURE(VIRTIO_BALLOON_F_STATS_VQ);
	case BLN_VQ_REPORTING:
		return features & BLN_FEATURE(VIRTIO_BALLOON_F_PAGE_REPORTING);
	default:
		return false; /* free_page_vq: FREE_PAGE_HINT never offered */
	}
}

static int setup_queue(struct bln_device *dev, unsigned q)
{
	struct bln_queue_regs *r = &dev->regs->q[q];
	uint16_t size = reg_ld16(&r->size);
	struct vq_layout l;

	if (!reg_ld16(&r->enabled))
		return queue_wanted(dev->features, q) ? -EINVAL : 0;
	if (!queue_wanted(dev->features, q))
		return -EINVAL;
	if (!vq_size_valid(size) || size > dev->cfg.queue_max)
		return -EINVAL;
	l.desc_gpa = reg_ld64(&r->desc);
	l.avail_gpa = reg_ld64(&r->avail);
	l.used_gpa = reg_ld64(&r->used);
	l.size = size;
	if (vq_device_init(&dev->vq[q], &dev->cfg.ram, &l, dev->features))
		return -EINVAL;
	dev->q_live[q] = true;
	return 0;
}

static void driver_ok(struct bln_device *dev)
{
	if (!dev->features_ok) {
		raise_needs_reset(dev);
		return;
	}
	for (unsigned q = 0; q < BLN_VQ_COUNT; q++) {
		if (setup_queue(dev, q)) {
			raise_needs_reset(dev);
			return;
		}
	}
	__atomic_store_n(&dev->live, true, __ATOMIC_RELAXED);
}

/* Act on the newest status the driver published, then acknowledge it. */
static void handle_status(struct bln_device *dev)
{
	uint32_t gen = reg_ld32(&dev->regs->status_gen);
	uint32_t reset = reg_ld32(&dev->regs->reset_gen);
	uint32_t status;

	if (gen == dev->seen_gen && reset == dev->seen_reset)
		return;
	status = reg_ld32(&dev->regs->status);
	if (reset != dev->seen_reset || status == 0) {
		soft_reset(dev);
		dev->seen_reset = reset;
	}
	if (!dev->broken) {
		if ((status & BLN_STATUS_FEATURES_OK) && !dev->features_ok &&
		    !dev->features_bad)
			negotiate(dev);
		if ((status & BLN_STATUS_DRIVER_OK) && !dev->live)
			driver_ok(dev);
	}
	dev->seen_gen = gen;
	reg_st32(&dev->regs->status_ack, gen);
	bln_notify(dev->cfg.t->cfg_fd);
}

void bln_dev_publish(struct bln_device *dev, unsigned q)
{
	if (vq_device_publish(&dev->vq[q]) == 1)
		bln_notify(dev->cfg.t->irq_fd);
}

void bln_dev_complete(struct bln_device *dev, unsigned q, uint16_t head,
                      uint32_t len)
{
	if (!vq_device_push(&dev->vq[q], head, len))
		bln_dev_publish(dev, q);
}

/* Pop and handle one request of queue @q: 1 handled, 0 empty, -EIO. */
static int handle_one(struct bln_device *dev, unsigned q)
{
	struct vq_elem e;
	int ret = vq_device_pop(&dev->vq[q], &e, dev->segs, BLN_DEV_MAX_SEGS);
	int res;

	if (ret == 0 || ret == -EIO)
		return ret;
	if (q == BLN_VQ_STATS) {
		bln_dev_stats_popped(dev, &e, ret);
		return 1;
	}
	if (ret < 0)
		res = ret == -E2BIG ? BLN_REJ_OVERSIZE : BLN_REJ_CHAIN;
	else if (q == BLN_VQ_REPORTING)
		res = bln_dev_report_request(dev, &e);
	else
		res = bln_dev_pfn_request(dev, &e, q == BLN_VQ_INFLATE);
	if (res == BLN_DEFERRED)
		return 1;
	if (res != BLN_ACCEPTED)
		dev_reject(dev, res);
	bln_dev_complete(dev, q, e.head, 0);
	return 1;
}

/* Drain queue @q (bounded); returns requests handled or -EIO. */
static int process_queue(struct bln_device *dev, unsigned q)
{
	unsigned limit = 2u * dev->vq[q].l.size, n = 0;
	int ret;

	do {
		while ((ret = handle_one(dev, q)) > 0) {
			if (++n >= limit) {
				bln_dev_flush(dev);
				bln_notify(dev->cfg.t->kick_fd[q]);
				return (int)n;
			}
		}
		bln_dev_flush(dev);
		if (ret < 0) {
			dev_reject(dev, BLN_REJ_CHAIN);
			raise_needs_reset(dev);
			return -EIO;
		}
	} while (vq_device_set_notify(&dev->vq[q], true) == 1);
	return (int)n;
}

int bln_device_process(struct bln_device *dev)
{
	int total = 0, ret;

	if (!dev)
		return -EINVAL;
	handle_status(dev);
	for (unsigned q = 0; q < BLN_VQ_COUNT && dev->live; q++) {
		if (!dev->q_live[q])
			continue;
		ret = process_queue(dev, q);
		if (ret < 0)
			break;
		total += ret;
	}
	return dev->broken ? -EIO : total;
}

int bln_device_set_target(struct bln_device *dev, uint32_t num_pages)
{
	if (!dev || num_pages > dev->ram_pages)
		return -EINVAL;
	reg_st32(&dev->regs->config.num_pages, num_pages);
	reg_bump32(&dev->regs->config_generation);
	return bln_notify(dev->cfg.t->cfg_fd);
}

uint32_t bln_device_target(const struct bln_device *dev)
{
	return reg_ld32(&dev->regs->config.num_pages);
}

uint32_t bln_device_actual(const struct bln_device *dev)
{
	return reg_ld32(&dev->regs->config.actual);
}

uint64_t bln_device_ballooned(const struct bln_device *dev)
{
	return __atomic_load_n(&dev->ballooned, __ATOMIC_RELAXED);
}

bool bln_device_is_ballooned(const struct bln_device *dev, uint64_t pfn)
{
	return pfn < dev->ram_pages && bln_bitmap_test(&dev->bitmap, pfn);
}

void bln_device_counters(const struct bln_device *dev,
                         struct bln_device_counters *out)
{
	const uint64_t *src = (const uint64_t *)&dev->c;
	uint64_t *dst = (uint64_t *)out;

	_Static_assert(sizeof(*out) % sizeof(uint64_t) == 0, "all u64");
	for (size_t i = 0; i < sizeof(*out) / sizeof(uint64_t); i++)
		dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
}

uint64_t bln_device_features(const struct bln_device *dev)
{
	return __atomic_load_n(&dev->features, __ATOMIC_RELAXED);
}

bool bln_device_ready(const struct bln_device *dev)
{
	return __atomic_load_n(&dev->live, __ATOMIC_RELAXED);
}

void bln_device_reset(struct bln_device *dev)
{
	bool was_live;

	if (!dev)
		return;
	was_live = dev->live;
	soft_reset(dev);
	/* The status the driver last wrote is stale now: never act on it. */
	dev->seen_gen = reg_ld32(&dev->regs->status_gen);
	dev->seen_reset = reg_ld32(&dev->regs->reset_gen);
	reg_st32(&dev->regs->status_ack, dev->seen_gen);
	if (was_live)
		raise_needs_reset(dev);
}
