/* SPDX-License-Identifier: MIT */
/*
 * device_stats.c - the memory statistics queue (5.5.6.3) on the device side,
 * and the stats wire codec both halves use.
 *
 * The driver queues one buffer; the device holds it.  Giving it back (used
 * ring, len 0) asks for fresh statistics; the driver answers by queueing the
 * buffer again, filled, and the device parses it and holds it again.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "device_int.h"

#define STAT_BYTES 10 /* le16 tag + le64 value, packed */

size_t bln_stats_encode(const uint64_t vals[VIRTIO_BALLOON_S_NR],
                        uint32_t valid, uint8_t *buf)
{
	size_t off = 0;

	for (unsigned tag = 0; tag < VIRTIO_BALLOON_S_NR; tag++) {
		uint16_t t = bln_to_le16((uint16_t)tag);
		uint64_t v = bln_to_le64(vals[tag]);

		if (!(valid & (1u << tag)))
			continue;
		memcpy(buf + off, &t, sizeof(t));
		memcpy(buf + off + sizeof(t), &v, sizeof(v));
		off += STAT_BYTES;
	}
	return off;
}

/* Store one wire entry in @vals/@valid unless its tag is unknown. */
static void take_entry(const uint8_t *p, uint64_t *vals, uint32_t *valid)
{
	uint16_t tag;
	uint64_t v;

	memcpy(&tag, p, sizeof(tag));
	memcpy(&v, p + sizeof(tag), sizeof(v));
	tag = bln_le16(tag);
	if (tag >= VIRTIO_BALLOON_S_NR)
		return; /* unknown tags are ignored (5.5.6.3) */
	vals[tag] = bln_le64(v);
	*valid |= 1u << tag;
}

int bln_stats_parse(const struct vq_seg *segs, unsigned n,
                    struct bln_guest_stats *out)
{
	uint64_t vals[VIRTIO_BALLOON_S_NR] = {0}, total = 0;
	uint8_t entry[STAT_BYTES];
	uint32_t valid = 0;
	struct timespec ts;
	unsigned fill = 0;

	for (unsigned i = 0; i < n; i++)
		total += segs[i].len;
	if (total % STAT_BYTES)
		return -EINVAL;
	if (!total)
		return 0;
	/* Entries may straddle segments: gather them 10 bytes at a time,
	 * copying out of guest memory once. */
	for (unsigned i = 0; i < n; i++) {
		const uint8_t *p = segs[i].host;
		uint32_t left = segs[i].len;

		while (left) {
			unsigned k = STAT_BYTES - fill;

			if (k > left)
				k = left;
			memcpy(entry + fill, p, k);
			fill += k;
			p += k;
			left -= k;
			if (fill == STAT_BYTES) {
				take_entry(entry, vals, &valid);
				fill = 0;
			}
		}
	}
	for (unsigned tag = 0; tag < VIRTIO_BALLOON_S_NR; tag++)
		if (valid & (1u << tag))
			out->val[tag] = vals[tag];
	out->valid = valid;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	out->updated_ns =
	        (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	return 1;
}

void bln_dev_stats_popped(struct bln_device *dev, const struct vq_elem *e,
                          int pop_ret)
{
	int ret;

	/* At most one buffer may be queued (5.5.6.3); the older one goes
	 * back, which the driver reads as a request for stats. */
	if (dev->stats_held)
		bln_dev_complete(dev, BLN_VQ_STATS, dev->stats_head, 0);
	dev->stats_held = true;
	dev->stats_head = e->head;
	if (pop_ret < 0) {
		dev_reject(dev, pop_ret == -E2BIG ? BLN_REJ_OVERSIZE
		                                  : BLN_REJ_CHAIN);
		return;
	}
	if (e->n_in) {
		dev_reject(dev, BLN_REJ_WRITABLE);
		return;
	}
	ret = bln_stats_parse(dev->segs, e->n_segs, &dev->stats);
	if (ret < 0)
		dev_reject(dev, BLN_REJ_STATS);
	else if (ret > 0)
		cnt_add(&dev->c.stats_updates, 1);
}

int bln_device_request_stats(struct bln_device *dev)
{
	if (!dev)
		return -EINVAL;
	if (!(dev->features & BLN_FEATURE(VIRTIO_BALLOON_F_STATS_VQ)))
		return -ENOTSUP;
	if (!dev->live || !dev->stats_held)
		return -EAGAIN;
	dev->stats_held = false;
	bln_dev_complete(dev, BLN_VQ_STATS, dev->stats_head, 0);
	return 0;
}

void bln_device_stats(const struct bln_device *dev, struct bln_guest_stats *out)
{
	*out = dev->stats;
}
