/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the split virtqueue: layout, full and empty rings at sizes 1,
 * 2, 256 and 32768, 16-bit index wrap-around, chained and indirect requests,
 * notification suppression (EVENT_IDX and the flags), and every validation
 * rule, checked by writing corrupt descriptors straight into guest memory.
 * Ring fields are located here from the spec's layout, not from vq.c.
 */
#include <errno.h>

#include "vq_rig.h"

static void test_layout(void **state)
{
	struct vq_layout l;
	(void)state;

	assert_false(vq_size_valid(0));
	assert_true(vq_size_valid(1));
	assert_true(vq_size_valid(2));
	assert_false(vq_size_valid(3));
	assert_true(vq_size_valid(32768));
	assert_false(vq_size_valid(65536));
	/* 16N desc + (6 + 2N) avail, padded to 4, + (6 + 8N) used. */
	assert_int_equal(vq_ring_bytes(1), 24 + 14);
	assert_int_equal(vq_ring_bytes(256), 4616 + 2054);
	assert_int_equal(vq_ring_bytes(3), 0);
	assert_int_equal(vq_layout_init(&l, 4096, 256), 0);
	assert_int_equal(l.desc_gpa, 4096);
	assert_int_equal(l.avail_gpa, 4096 + 4096);
	assert_int_equal(l.used_gpa, 4096 + 4616);
	assert_int_equal(l.size, 256);
	assert_int_equal(vq_layout_init(&l, 8, 256), -EINVAL);
	assert_int_equal(vq_layout_init(&l, 0, 100), -EINVAL);
	assert_int_equal(vq_layout_init(&l, UINT64_MAX - 15, 1), -EINVAL);
}

static void test_init_checks(void **state)
{
	struct rig r;
	struct vq_layout l;
	struct vq_device dev;
	struct vq_driver drv;
	struct vq_mem small;
	(void)state;

	rig_init(&r, 8, 0, 0);
	small = (struct vq_mem){r.mem, vq_ring_bytes(8) - 1};
	assert_int_equal(vq_device_init(&dev, &small, &r.l, 0), -EINVAL);
	assert_int_equal(vq_driver_init(&drv, &small, &r.l, 0, 0, 0), -EINVAL);
	l = r.l;
	l.avail_gpa++;
	assert_int_equal(vq_device_init(&dev, &r.vm, &l, 0), -EINVAL);
	l = r.l;
	l.used_gpa += 2;
	assert_int_equal(vq_device_init(&dev, &r.vm, &l, 0), -EINVAL);
	l = r.l;
	l.size = 6;
	assert_int_equal(vq_driver_init(&drv, &r.vm, &l, 0, 0, 0), -EINVAL);
	l = r.l;
	l.desc_gpa = UINT64_MAX - 15;
	assert_int_equal(vq_device_init(&dev, &r.vm, &l, 0), -EINVAL);
	/* Indirect tables must fit in guest memory. */
	assert_int_equal(
	        vq_driver_init(&drv, &r.vm, &r.l, F_IND, r.data_gpa, 64),
	        -EINVAL);
	assert_int_equal(
	        vq_driver_init(&drv, &r.vm, &r.l, F_IND, r.data_gpa, 0),
	        -EINVAL);
	rig_fini(&r);
}

/* Fill the ring with single-buffer requests, check -ENOSPC, drain it. */
static void fill_drain(unsigned size, uint64_t feat)
{
	struct vq_seg seg;
	struct vq_elem e;
	struct rig r;
	unsigned k, round;
	void *tok;
	uint32_t len;

	rig_init(&r, size, feat, 0);
	for (round = 0; round < 2; round++) {
		for (k = 0; k < size; k++) {
			wr32(&r, slot(&r, k), k ^ round);
			add_one(&r, k);
		}
		assert_int_equal(vq_driver_num_free(&r.drv), 0);
		assert_int_equal(vq_driver_add(&r.drv,
		                               &(struct vq_buf){slot(&r, 0), 8},
		                               1, NULL, 0, NULL),
		                 -ENOSPC);
		assert_int_equal(vq_device_pop(&r.dev, &e, &seg, 1), 0);
		assert_int_equal(vq_driver_kick_prepare(&r.drv), 1);
		assert_int_equal(vq_device_pending(&r.dev), size);
		for (k = 0; k < size; k++) {
			assert_int_equal(vq_device_pop(&r.dev, &e, &seg, 1), 1);
			assert_int_equal(e.n_out, 1);
			assert_int_equal(e.n_in, 0);
			assert_int_equal(seg.gpa, slot(&r, k));
			assert_int_equal(seg.len, 8);
			assert_false(seg.write);
			assert_ptr_equal(seg.host, r.mem + slot(&r, k));
			assert_int_equal(*(uint32_t *)seg.host, k ^ round);
			assert_int_equal(vq_device_push(&r.dev, e.head, k), 0);
		}
		assert_int_equal(vq_device_pop(&r.dev, &e, &seg, 1), 0);
		assert_int_equal(vq_device_push(&r.dev, 0, 0), -EINVAL);
		assert_int_equal(vq_driver_get_used(&r.drv, &tok, &len),
		                 -EAGAIN);
		assert_int_equal(vq_device_publish(&r.dev), 1);
		for (k = 0; k < size; k++) {
			assert_int_equal(vq_driver_get_used(&r.drv, &tok, &len),
			                 0);
			assert_int_equal(UNTOKEN(tok), k);
			assert_int_equal(len, k);
		}
		assert_int_equal(vq_driver_get_used(&r.drv, &tok, &len),
		                 -EAGAIN);
		assert_int_equal(vq_driver_num_free(&r.drv), size);
	}
	rig_fini(&r);
}

static void test_fill_drain(void **state)
{
	static const unsigned sizes[] = {1, 2, 256, 32768};
	unsigned i;
	(void)state;

	for (i = 0; i < 4; i++) {
		fill_drain(sizes[i], 0);
		fill_drain(sizes[i], F_EVENT | F_IND);
	}
}

/* Shape of request @s: 1-2 readable then 0-2 writable buffers (a direct
 * chain must fit in the ring). */
static void shape(unsigned s, unsigned size, uint16_t ind_max, unsigned *n_out,
                  unsigned *n_in)
{
	*n_out = 1 + s % 2;
	*n_in = s % 3;
	if (!ind_max && *n_out + *n_in > size) {
		*n_out = 1;
		*n_in = 0;
	}
}

/* Device side of one batch: pop @n requests of request numbers
 * first..first+n, check them and answer into their writable buffers. */
static void device_batch(struct rig *r, unsigned first, unsigned n,
                         uint16_t ind_max, bool reverse)
{
	unsigned k, j, s, n_out, n_in;
	struct vq_seg segs[8];
	uint16_t heads[64];
	struct vq_elem e;

	for (k = 0; k < n; k++) {
		s = first + k;
		shape(s, r->l.size, ind_max, &n_out, &n_in);
		assert_int_equal(vq_device_pop(&r->dev, &e, segs, 8), 1);
		assert_int_equal(e.n_out, n_out);
		assert_int_equal(e.n_in, n_in);
		assert_int_equal(e.n_segs, n_out + n_in);
		for (j = 0; j < e.n_segs; j++) {
			assert_int_equal(segs[j].write, j >= e.n_out);
			if (segs[j].write)
				*(uint32_t *)segs[j].host = ~(s + j);
			else
				assert_int_equal(*(uint32_t *)segs[j].host,
				                 s + j);
		}
		heads[k] = e.head;
	}
	assert_int_equal(vq_device_pop(&r->dev, &e, segs, 8), 0);
	for (k = 0; k < n; k++) {
		j = reverse ? n - 1 - k : k;
		assert_int_equal(vq_device_push(&r->dev, heads[j], j), 0);
	}
	vq_device_publish(&r->dev);
}

/* Driver side of one batch: queue up to min(size, 64) requests. */
static unsigned driver_batch(struct rig *r, unsigned first, unsigned max,
                             uint16_t ind_max)
{
	unsigned n, j, s, n_out, n_in;
	struct vq_buf out[2], in[2];
	int rc;

	for (n = 0; n < r->l.size && n < 64 && n < max; n++) {
		s = first + n;
		shape(s, r->l.size, ind_max, &n_out, &n_in);
		for (j = 0; j < 2; j++) {
			out[j] = (struct vq_buf){slot(r, n) + 8 * j, 4};
			in[j] = (struct vq_buf){slot(r, n) + 32 + 8 * j, 4};
			wr32(r, out[j].gpa, s + j);
		}
		rc = vq_driver_add(&r->drv, out, n_out, in, n_in, TOKEN(s));
		if (rc == -ENOSPC)
			break;
		assert_int_equal(rc, 0);
	}
	assert_true(n > 0);
	vq_driver_kick_prepare(&r->drv);
	return n;
}

/* Driver completions of a batch: tokens, lengths, the device's answers. */
static void driver_reap(struct rig *r, unsigned first, unsigned n,
                        uint16_t ind_max, bool reverse)
{
	unsigned k, j, s, n_out, n_in;
	uint32_t len, *ans;
	void *tok;

	for (k = 0; k < n; k++) {
		j = reverse ? n - 1 - k : k;
		s = first + j;
		assert_int_equal(vq_driver_get_used(&r->drv, &tok, &len), 0);
		assert_int_equal(UNTOKEN(tok), s);
		assert_int_equal(len, j);
		shape(s, r->l.size, ind_max, &n_out, &n_in);
		for (j = 0; j < n_in; j++) {
			ans = (uint32_t *)(r->mem + slot(r, s - first) + 32 +
			                   8 * j);
			assert_int_equal(*ans, ~(s + n_out + j));
		}
	}
	assert_int_equal(vq_driver_get_used(&r->drv, &tok, &len), -EAGAIN);
	assert_int_equal(vq_driver_num_free(&r->drv), r->l.size);
}

/* Push @total requests through a small ring in batches, completing them in
 * order or in reverse (which scrambles the free list). */
static void traffic(unsigned size, uint64_t feat, uint16_t ind_max,
                    unsigned total, bool reverse)
{
	unsigned done = 0, n;
	struct rig r;

	rig_init(&r, size, feat, ind_max);
	while (done < total) {
		n = driver_batch(&r, done, total - done, ind_max);
		device_batch(&r, done, n, ind_max, reverse);
		driver_reap(&r, done, n, ind_max, reverse);
		done += n;
	}
	/* The free-running 16-bit indices wrapped several times. */
	assert_int_equal(rd16(&r, AVAIL_IDX(&r)), total & 0xffff);
	assert_int_equal(rd16(&r, USED_IDX(&r)), total & 0xffff);
	assert_int_equal(r.dev.errors, 0);
	rig_fini(&r);
}

static void test_wraparound(void **state)
{
	(void)state;
	traffic(1, 0, 0, 70000, false);
	traffic(2, F_EVENT, 0, 140000, true);
	traffic(4, 0, 0, 140000, true);
	traffic(1, F_EVENT | F_IND, 4, 70000, false);
	traffic(2, F_IND, 4, 70000, true);
	traffic(64, F_EVENT | F_IND, 4, 200000, true);
}

static void test_chained(void **state)
{
	struct vq_buf out[2], in[3];
	struct vq_seg segs[8];
	struct vq_elem e, e3;
	struct rig r;
	uint32_t len;
	unsigned j;
	void *tok;
	(void)state;

	rig_init(&r, 8, F_EVENT, 0);
	for (j = 0; j < 3; j++) {
		out[j % 2] = (struct vq_buf){slot(&r, 0) + 8 * (j % 2), 8};
		in[j] = (struct vq_buf){slot(&r, 1) + 8 * j, 8};
		wr32(&r, out[j % 2].gpa, 100 + j % 2);
	}
	assert_int_equal(vq_driver_add(&r.drv, out, 2, in, 3, TOKEN(7)), 0);
	assert_int_equal(vq_driver_num_free(&r.drv), 3);
	/* The chain as the spec lays it out: readable, then writable. */
	assert_int_equal(desc_flags(&r, 0), VQ_DESC_F_NEXT);
	assert_int_equal(desc_flags(&r, 1), VQ_DESC_F_NEXT);
	assert_int_equal(desc_flags(&r, 2), VQ_DESC_F_NEXT | VQ_DESC_F_WRITE);
	assert_int_equal(desc_flags(&r, 3), VQ_DESC_F_NEXT | VQ_DESC_F_WRITE);
	assert_int_equal(desc_flags(&r, 4), VQ_DESC_F_WRITE);
	assert_int_equal(vq_driver_add(&r.drv, out, 2, in, 2, NULL), -ENOSPC);
	assert_int_equal(vq_driver_add(&r.drv, out, 1, in, 2, TOKEN(8)), 0);
	assert_int_equal(vq_driver_num_free(&r.drv), 0);
	assert_int_equal(vq_driver_kick_prepare(&r.drv), 1);

	assert_int_equal(vq_device_pop(&r.dev, &e, segs, 8), 1);
	assert_int_equal(e.head, 0);
	assert_int_equal(e.n_out, 2);
	assert_int_equal(e.n_in, 3);
	assert_int_equal(e.n_segs, 5);
	for (j = 0; j < 5; j++) {
		assert_int_equal(segs[j].write, j >= 2);
		assert_int_equal(segs[j].len, 8);
		assert_int_equal(segs[j].gpa,
		                 j < 2 ? out[j].gpa : in[j - 2].gpa);
		if (j < 2)
			assert_int_equal(*(uint32_t *)segs[j].host, 100 + j);
		else
			*(uint32_t *)segs[j].host = 200 + j;
	}
	assert_int_equal(vq_device_pop(&r.dev, &e3, segs, 8), 1);
	assert_int_equal(e3.n_out, 1);
	assert_int_equal(e3.n_in, 2);
	/* Complete the second request first. */
	assert_int_equal(vq_device_push(&r.dev, e3.head, 0), 0);
	assert_int_equal(vq_device_push(&r.dev, e.head, 24), 0);
	assert_int_equal(vq_device_publish(&r.dev), 1);
	assert_int_equal(vq_driver_get_used(&r.drv, &tok, &len), 0);
	assert_ptr_equal(tok, TOKEN(8));
	assert_int_equal(vq_driver_num_free(&r.drv), 3);
	assert_int_equal(vq_driver_get_used(&r.drv, &tok, &len), 0);
	assert_ptr_equal(tok, TOKEN(7));
	assert_int_equal(len, 24);
	for (j = 0; j < 3; j++)
		assert_int_equal(*(uint32_t *)(r.mem + in[j].gpa), 202 + j);
	assert_int_equal(vq_driver_num_free(&r.drv), 8);
	rig_fini(&r);
}

static void test_indirect(void **state)
{
	struct vq_buf b[9];
	struct vq_seg segs[16];
	struct vq_elem e[3];
	struct rig r;
	uint32_t len;
	unsigned j;
	void *tok;
	(void)state;

	rig_init(&r, 4, F_IND | F_EVENT, 8);
	for (j = 0; j < 9; j++)
		b[j] = (struct vq_buf){slot(&r, 0) + 4 * j, 4};
	assert_int_equal(vq_driver_add(&r.drv, b, 2, b + 2, 3, TOKEN(1)), 0);
	assert_int_equal(vq_driver_num_free(&r.drv), 3);
	assert_int_equal(desc_flags(&r, 0), VQ_DESC_F_INDIRECT);
	assert_int_equal(rd16(&r, r.l.desc_gpa + 8), 5 * 16); /* len */
	assert_int_equal(vq_driver_add(&r.drv, b, 1, NULL, 0, TOKEN(2)), 0);
	assert_int_equal(desc_flags(&r, 1), 0); /* one buffer: direct */
	/* Longer than indirect_max: direct, and here longer than the ring. */
	assert_int_equal(vq_driver_add(&r.drv, b, 9, NULL, 0, NULL), -EINVAL);
	assert_int_equal(vq_driver_add(&r.drv, NULL, 0, b, 8, TOKEN(3)), 0);
	assert_int_equal(vq_driver_num_free(&r.drv), 1);
	assert_int_equal(vq_driver_kick_prepare(&r.drv), 1);

	assert_int_equal(vq_device_pop(&r.dev, &e[0], segs, 16), 1);
	assert_int_equal(e[0].n_out, 2);
	assert_int_equal(e[0].n_in, 3);
	for (j = 0; j < 5; j++) {
		assert_int_equal(segs[j].gpa, b[j].gpa);
		assert_int_equal(segs[j].write, j >= 2);
	}
	assert_int_equal(vq_device_pop(&r.dev, &e[1], segs, 16), 1);
	assert_int_equal(e[1].n_segs, 1);
	assert_int_equal(vq_device_pop(&r.dev, &e[2], segs, 16), 1);
	assert_int_equal(e[2].n_out, 0);
	assert_int_equal(e[2].n_in, 8);
	for (j = 3; j-- > 0;)
		assert_int_equal(vq_device_push(&r.dev, e[j].head, j), 0);
	vq_device_publish(&r.dev);
	for (j = 3; j-- > 0;) {
		assert_int_equal(vq_driver_get_used(&r.drv, &tok, &len), 0);
		assert_ptr_equal(tok, TOKEN(j + 1));
	}
	assert_int_equal(vq_driver_num_free(&r.drv), 4);
	/* Four indirect requests fill the ring: one descriptor each. */
	for (j = 0; j < 4; j++)
		assert_int_equal(vq_driver_add(&r.drv, b, 4, NULL, 0, NULL), 0);
	assert_int_equal(vq_driver_add(&r.drv, b, 4, NULL, 0, NULL), -ENOSPC);
	rig_fini(&r);

	/* More buffers than indirect_max but within the ring: direct chain. */
	rig_init(&r, 16, F_IND, 2);
	assert_int_equal(vq_driver_add(&r.drv, b, 3, NULL, 0, NULL), 0);
	assert_int_equal(vq_driver_num_free(&r.drv), 13);
	assert_int_equal(desc_flags(&r, 0), VQ_DESC_F_NEXT);
	rig_fini(&r);
}

/* Driver -> device: kicks with EVENT_IDX (avail_event). */
static void test_event_idx_kick(void **state)
{
	struct vq_seg seg;
	struct vq_elem e;
	struct rig r;
	(void)state;

	rig_init(&r, 8, F_EVENT, 0);
	assert_int_equal(vq_driver_kick_prepare(&r.drv), 0); /* nothing new */
	add_one(&r, 0);
	assert_int_equal(vq_driver_kick_prepare(&r.drv), 1);
	add_one(&r, 1);
	/* The device has not caught up with the first kick yet. */
	assert_int_equal(vq_driver_kick_prepare(&r.drv), 0);
	assert_int_equal(vq_device_pop(&r.dev, &e, &seg, 1), 1);
	assert_int_equal(vq_device_pop(&r.dev, &e, &seg, 1), 1);
	assert_int_equal(rd16(&r, AVAIL_EVENT(&r)), 2);
	add_one(&r, 2);
	add_one(&r, 3);
	assert_int_equal(vq_driver_kick_prepare(&r.drv), 1); /* one per batch */
	assert_int_equal(vq_device_pop(&r.dev, &e, &seg, 1), 1);
	assert_int_equal(vq_device_pop(&r.dev, &e, &seg, 1), 1);

	/* Suppressed (the device is polling), even right after catching up. */
	assert_int_equal(vq_device_set_notify(&r.dev, false), 0);
	add_one(&r, 4);
	assert_int_equal(vq_driver_kick_prepare(&r.drv), 0);
	/* Re-enabling reports the request that arrived meanwhile. */
	assert_int_equal(vq_device_set_notify(&r.dev, true), 1);
	assert_int_equal(vq_device_pop(&r.dev, &e, &seg, 1), 1);
	assert_int_equal(vq_device_set_notify(&r.dev, true), 0);
	add_one(&r, 5);
	assert_int_equal(vq_driver_kick_prepare(&r.drv), 1);
	/* The flag is not used with EVENT_IDX. */
	assert_int_equal(rd16(&r, USED_FLAGS(&r)), 0);
	rig_fini(&r);
}

/* Device -> driver: interrupts with EVENT_IDX (used_event). */
static void test_event_idx_irq(void **state)
{
	struct vq_seg seg;
	struct vq_elem e[6];
	struct rig r;
	unsigned k;
	void *tok;
	(void)state;

	rig_init(&r, 8, F_EVENT, 0);
	for (k = 0; k < 6; k++)
		add_one(&r, k);
	vq_driver_kick_prepare(&r.drv);
	for (k = 0; k < 6; k++)
		assert_int_equal(vq_device_pop(&r.dev, &e[k], &seg, 1), 1);
	assert_int_equal(vq_device_publish(&r.dev), 0); /* nothing pushed */
	assert_int_equal(vq_device_push(&r.dev, e[0].head, 0), 0);
	assert_int_equal(vq_device_publish(&r.dev), 1);
	assert_int_equal(vq_device_push(&r.dev, e[1].head, 0), 0);
	/* The driver has not consumed the first completion yet. */
	assert_int_equal(vq_device_publish(&r.dev), 0);
	assert_int_equal(vq_driver_get_used(&r.drv, &tok, NULL), 0);
	assert_int_equal(vq_driver_get_used(&r.drv, &tok, NULL), 0);
	assert_int_equal(rd16(&r, USED_EVENT(&r)), 2);
	assert_int_equal(vq_device_push(&r.dev, e[2].head, 0), 0);
	assert_int_equal(vq_device_push(&r.dev, e[3].head, 0), 0);
	assert_int_equal(vq_device_publish(&r.dev), 1); /* one per batch */

	/* Suppressed while the driver polls, even right after catching up. */
	assert_int_equal(vq_driver_get_used(&r.drv, &tok, NULL), 0);
	assert_int_equal(vq_driver_get_used(&r.drv, &tok, NULL), 0);
	assert_int_equal(vq_driver_set_interrupts(&r.drv, false), 0);
	assert_int_equal(vq_device_push(&r.dev, e[4].head, 0), 0);
	assert_int_equal(vq_device_publish(&r.dev), 0);
	/* Re-enabling reports the completion already there. */
	assert_int_equal(vq_driver_set_interrupts(&r.drv, true), 1);
	assert_int_equal(vq_driver_get_used(&r.drv, &tok, NULL), 0);
	assert_int_equal(vq_driver_set_interrupts(&r.drv, true), 0);
	assert_int_equal(vq_device_push(&r.dev, e[5].head, 0), 0);
	assert_int_equal(vq_device_publish(&r.dev), 1);
	assert_int_equal(rd16(&r, AVAIL_FLAGS(&r)), 0);
	rig_fini(&r);
}

/* Without EVENT_IDX: VQ_USED_F_NO_NOTIFY and VQ_AVAIL_F_NO_INTERRUPT. */
static void test_flags(void **state)
{
	struct vq_seg seg;
	struct vq_elem e;
	struct rig r;
	void *tok;
	(void)state;

	rig_init(&r, 8, 0, 0);
	add_one(&r, 0);
	assert_int_equal(vq_driver_kick_prepare(&r.drv), 1);
	add_one(&r, 1);
	assert_int_equal(vq_driver_kick_prepare(&r.drv), 1); /* no coalescing */
	assert_int_equal(vq_device_set_notify(&r.dev, false), 0);
	assert_int_equal(rd16(&r, USED_FLAGS(&r)), VQ_USED_F_NO_NOTIFY);
	add_one(&r, 2);
	assert_int_equal(vq_driver_kick_prepare(&r.drv), 0);
	assert_int_equal(vq_device_set_notify(&r.dev, true), 1);
	assert_int_equal(rd16(&r, USED_FLAGS(&r)), 0);
	add_one(&r, 3);
	assert_int_equal(vq_driver_kick_prepare(&r.drv), 1);

	assert_int_equal(vq_device_pop(&r.dev, &e, &seg, 1), 1);
	assert_int_equal(vq_device_push(&r.dev, e.head, 0), 0);
	assert_int_equal(vq_device_publish(&r.dev), 1);
	assert_int_equal(vq_driver_set_interrupts(&r.drv, false), 0);
	assert_int_equal(rd16(&r, AVAIL_FLAGS(&r)), VQ_AVAIL_F_NO_INTERRUPT);
	assert_int_equal(vq_device_pop(&r.dev, &e, &seg, 1), 1);
	assert_int_equal(vq_device_push(&r.dev, e.head, 0), 0);
	assert_int_equal(vq_device_publish(&r.dev), 0);
	assert_int_equal(vq_driver_set_interrupts(&r.drv, true), 1);
	assert_int_equal(rd16(&r, AVAIL_FLAGS(&r)), 0);
	assert_int_equal(vq_device_pop(&r.dev, &e, &seg, 1), 1);
	assert_int_equal(vq_device_push(&r.dev, e.head, 0), 0);
	assert_int_equal(vq_device_publish(&r.dev), 1);
	assert_int_equal(vq_driver_get_used(&r.drv, &tok, NULL), 0);
	assert_int_equal(rd16(&r, USED_EVENT(&r)), 0); /* unused here */
	assert_int_equal(rd16(&r, AVAIL_EVENT(&r)), 0);
	rig_fini(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_layout),
	        cmocka_unit_test(test_init_checks),
	        cmocka_unit_test(test_fill_drain),
	        cmocka_unit_test(test_wraparound),
	        cmocka_unit_test(test_chained),
	        cmocka_unit_test(test_indirect),
	        cmocka_unit_test(test_event_idx_kick),
	        cmocka_unit_test(test_event_idx_irq),
	        cmocka_unit_test(test_flags),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
