/* SPDX-License-Identifier: MIT */
/*
 * device_pages.c - the device's inflate, deflate and free page reporting
 * requests.  A request is validated completely before anything changes: a
 * bad one is rejected as a whole (nothing released, bitmap untouched).  A
 * valid inflate is sorted and coalesced into contiguous ranges and each
 * range is released with one bln_prim_release() call.
 */
#include <errno.h>
#include <string.h>

#include "device_int.h"

/* Copy the request's PFNs (le32 on the wire) into dev->pfns; returns the
 * count or a negative enum bln_reject reason. */
static long copy_pfns(struct bln_device *dev, const struct vq_elem *e)
{
	uint64_t total = 0;
	size_t k = 0;

	if (e->n_in)
		return -BLN_REJ_WRITABLE;
	for (unsigned i = 0; i < e->n_segs; i++) {
		if (dev->segs[i].len % sizeof(uint32_t))
			return -BLN_REJ_LENGTH;
		total += dev->segs[i].len / sizeof(uint32_t);
	}
	if (total > dev->cfg.max_pfns_per_req)
		return -BLN_REJ_OVERSIZE;
	/* Copy first, validate the copy: the driver cannot change a PFN
	 * between our check and our use of it. */
	for (unsigned i = 0; i < e->n_segs; i++) {
		memcpy(dev->pfns + k, dev->segs[i].host, dev->segs[i].len);
		k += dev->segs[i].len / sizeof(uint32_t);
	}
	for (k = 0; k < total; k++)
		dev->pfns[k] = bln_le32(dev->pfns[k]);
	return (long)total;
}

/* Host-page-aligned part of [off, off + len), bytes; false if empty. */
static bool inward(const struct bln_device *dev, uint64_t *off, uint64_t *len)
{
	uint64_t m = dev->host_page - 1;
	uint64_t start = (*off + m) & ~m, end = (*off + *len) & ~m;

	if (end <= start)
		return false;
	*off = start;
	*len = end - start;
	return true;
}

/* Release [off, off + len) bytes of guest RAM to the host kernel. */
static int release(struct bln_device *dev, uint64_t off, uint64_t len)
{
	int ret = bln_prim_release(dev->cfg.backing, dev->cfg.ram_fd,
	                           dev->cfg.ram.base, off, len);

	if (ret)
		return ret;
	cnt_add(&dev->c.ranges_released, 1);
	cnt_add(&dev->c.bytes_released, len);
	return 0;
}

static int release_ranges(struct bln_device *dev, long n)
{
	for (long i = 0; i < n; i++) {
		uint64_t off = (uint64_t)dev->ranges[i].start
		               << VIRTIO_BALLOON_PFN_SHIFT;
		uint64_t len = (uint64_t)dev->ranges[i].n
		               << VIRTIO_BALLOON_PFN_SHIFT;

		if (inward(dev, &off, &len) && release(dev, off, len))
			return -EIO;
	}
	return 0;
}

/* Sort and coalesce the copied PFNs into dev->ranges; returns the number
 * of ranges or a negative enum bln_reject reason. */
static long to_ranges(struct bln_device *dev, size_t n)
{
	uint32_t max = 0, *sorted;
	long nr;

	for (size_t k = 0; k < n; k++) {
		if (dev->pfns[k] >= dev->ram_pages)
			return -BLN_REJ_RANGE;
		if (dev->pfns[k] > max)
			max = dev->pfns[k];
	}
	sorted = bln_pfn_sort(dev->pfns, dev->tmp, n, max);
	nr = bln_pfn_coalesce(sorted, n, dev->ranges);
	return nr < 0 ? -BLN_REJ_DUPLICATE : nr;
}

/* Every range must be out of the balloon (inflate) / in it (deflate). */
static int check_state(const struct bln_device *dev, long nr, bool inflate)
{
	for (long i = 0; i < nr; i++) {
		const struct bln_prange *r = &dev->ranges[i];

		if (inflate && bln_bitmap_any(&dev->bitmap, r->start, r->n))
			return BLN_REJ_ALREADY;
		if (!inflate && !bln_bitmap_all(&dev->bitmap, r->start, r->n))
			return BLN_REJ_NOT_BALLOONED;
	}
	return BLN_ACCEPTED;
}

static void account(struct bln_device *dev, uint64_t reqs, uint64_t pages,
                    bool inflate)
{
	if (inflate) {
		cnt_add(&dev->c.inflate_reqs, reqs);
		cnt_add(&dev->c.pages_inflated, pages);
		cnt_add(&dev->ballooned, pages);
	} else {
		cnt_add(&dev->c.deflate_reqs, reqs);
		cnt_add(&dev->c.pages_deflated, pages);
		cnt_add(&dev->ballooned, -pages);
	}
}

void bln_dev_flush(struct bln_device *dev)
{
	struct bln_window *w = &dev->win;
	uint64_t off = (uint64_t)w->start << VIRTIO_BALLOON_PFN_SHIFT;
	uint64_t len = (uint64_t)w->n << VIRTIO_BALLOON_PFN_SHIFT;

	if (!w->count)
		return;
	if (!inward(dev, &off, &len) || !release(dev, off, len)) {
		account(dev, w->count, w->n, true);
	} else {
		/* Every request of the window fails as a whole. */
		bln_bitmap_clear_range(&dev->bitmap, w->start, w->n);
		cnt_add(&dev->c.rejected[BLN_REJ_RELEASE], w->count);
	}
	for (unsigned i = 0; i < w->count; i++)
		vq_device_push(&dev->vq[BLN_VQ_INFLATE], w->heads[i], 0);
	bln_dev_publish(dev, BLN_VQ_INFLATE);
	w->count = 0;
}

/* Can the single range @r join the window (touching it at either end)? */
static bool window_takes(const struct bln_window *w, const struct bln_prange *r)
{
	uint64_t r_end = (uint64_t)r->start + r->n;
	uint64_t w_end = (uint64_t)w->start + w->n;

	return w->count < BLN_DEV_WINDOW &&
	       (r_end == w->start || w_end == r->start);
}

/*
 * An inflate request that consists of one contiguous range joins the
 * release window when it extends it, so that consecutive requests (a driver
 * allocating pages in order, many requests in flight) cost one release
 * call between them.  Its pages are marked now, so later requests see them.
 */
static int inflate_accept(struct bln_device *dev, uint16_t head, long nr,
                          uint64_t n)
{
	struct bln_window *w = &dev->win;
	const struct bln_prange *r = &dev->ranges[0];

	if (nr == 1) {
		if (w->count && !window_takes(w, r))
			bln_dev_flush(dev);
		if (!w->count) {
			w->start = r->start;
			w->n = 0;
		} else if (r->start < w->start) {
			w->start = r->start;
		}
		w->n += r->n;
		w->heads[w->count++] = head;
		bln_bitmap_set_range(&dev->bitmap, r->start, r->n);
		return BLN_DEFERRED;
	}
	bln_dev_flush(dev);
	if (release_ranges(dev, nr))
		return BLN_REJ_RELEASE;
	for (long i = 0; i < nr; i++)
		bln_bitmap_set_range(&dev->bitmap, dev->ranges[i].start,
		                     dev->ranges[i].n);
	account(dev, 1, n, true);
	return BLN_ACCEPTED;
}

int bln_dev_pfn_request(struct bln_device *dev, const struct vq_elem *e,
                        bool inflate)
{
	long n = copy_pfns(dev, e), nr;
	int ret;

	if (n < 0)
		return (int)-n;
	nr = to_ranges(dev, (size_t)n);
	if (nr < 0)
		return (int)-nr;
	ret = check_state(dev, nr, inflate);
	if (ret != BLN_ACCEPTED)
		return ret;
	if (inflate)
		return inflate_accept(dev, e->head, nr, (uint64_t)n);
	for (long i = 0; i < nr; i++)
		bln_bitmap_clear_range(&dev->bitmap, dev->ranges[i].start,
		                       dev->ranges[i].n);
	account(dev, 1, (uint64_t)n, false);
	return BLN_ACCEPTED;
}

/*
 * Free page reporting: every segment (Linux queues them device-writable;
 * we take either direction) is a run of free guest memory, GPA and length
 * in bytes, host-page aligned.  Discard them all; nothing is marked
 * ballooned and nothing is written back.
 */
int bln_dev_report_request(struct bln_device *dev, const struct vq_elem *e)
{
	uint64_t m = dev->host_page - 1, pages = 0;

	for (unsigned i = 0; i < e->n_segs; i++) {
		const struct vq_seg *s = &dev->segs[i];

		if (!s->len || (s->gpa & m) || (s->len & m))
			return BLN_REJ_LENGTH;
		if (s->gpa >= dev->cfg.ram.size ||
		    s->len > dev->cfg.ram.size - s->gpa)
			return BLN_REJ_RANGE;
	}
	for (unsigned i = 0; i < e->n_segs; i++) {
		if (release(dev, dev->segs[i].gpa, dev->segs[i].len))
			return BLN_REJ_RELEASE;
		pages += dev->segs[i].len >> VIRTIO_BALLOON_PFN_SHIFT;
	}
	cnt_add(&dev->c.reported_pages, pages);
	return BLN_ACCEPTED;
}
