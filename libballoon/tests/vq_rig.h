/* SPDX-License-Identifier: MIT */
/*
 * vq_rig.h - shared test fixture for the split-virtqueue tests: guest memory
 * holding one ring, its indirect tables and per-request data slots, with a
 * driver and a device half over it, plus raw little-endian accessors that
 * locate ring fields from the spec's layout (2.7.5-2.7.8), not from vq.c.
 */
#ifndef BALLOON_TESTS_VQ_RIG_H
#define BALLOON_TESTS_VQ_RIG_H

#include <endian.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "balloon/virtio_balloon.h"
#include "balloon/vq.h"

#define F_EVENT        BLN_FEATURE(VIRTIO_F_RING_EVENT_IDX)
#define F_IND          BLN_FEATURE(VIRTIO_F_RING_INDIRECT_DESC)
#define SLOT           64 /* data bytes per request slot */
#define ALIGN_UP(x, a) (((x) + (a)-1) / (a) * (a))
#define TOKEN(n)       ((void *)(uintptr_t)((n) + 1))
#define UNTOKEN(t)     ((unsigned)((uintptr_t)(t)-1))

struct rig {
	uint8_t *mem;
	struct vq_mem vm;
	struct vq_layout l;
	struct vq_driver drv;
	struct vq_device dev;
	uint64_t ind_gpa, data_gpa;
};

static inline void rig_init(struct rig *r, unsigned size, uint64_t feat,
                            uint16_t ind_max)
{
	uint64_t total;

	memset(r, 0, sizeof(*r));
	r->ind_gpa = ALIGN_UP(vq_ring_bytes(size), 4096);
	r->data_gpa = ALIGN_UP(r->ind_gpa + 16ull * size * ind_max, 4096);
	total = r->data_gpa + (uint64_t)SLOT * size;
	r->mem = calloc(1, total);
	assert_non_null(r->mem);
	r->vm = (struct vq_mem){.base = r->mem, .size = total};
	assert_int_equal(vq_layout_init(&r->l, 0, size), 0);
	assert_int_equal(vq_driver_init(&r->drv, &r->vm, &r->l, feat,
	                                ind_max ? r->ind_gpa : 0, ind_max),
	                 0);
	assert_int_equal(vq_device_init(&r->dev, &r->vm, &r->l, feat), 0);
}

static inline void rig_fini(struct rig *r)
{
	vq_driver_destroy(&r->drv);
	free(r->mem);
}

static inline uint64_t slot(const struct rig *r, unsigned k)
{
	return r->data_gpa + (uint64_t)SLOT * (k % r->l.size);
}

/* Raw little-endian access to guest memory, as a hostile peer would. */
static inline void wr16(struct rig *r, uint64_t gpa, uint16_t v)
{
	v = htole16(v);
	memcpy(r->mem + gpa, &v, 2);
}

static inline uint16_t rd16(const struct rig *r, uint64_t gpa)
{
	uint16_t v;

	memcpy(&v, r->mem + gpa, 2);
	return le16toh(v);
}

static inline void wr32(struct rig *r, uint64_t gpa, uint32_t v)
{
	v = htole32(v);
	memcpy(r->mem + gpa, &v, 4);
}

static inline void wr_desc(struct rig *r, uint64_t table, unsigned i,
                           uint64_t addr, uint32_t len, uint16_t flags,
                           uint16_t next)
{
	struct vq_desc d = {htole64(addr), htole32(len), htole16(flags),
	                    htole16(next)};

	memcpy(r->mem + table + 16ull * i, &d, sizeof(d));
}

static inline uint16_t desc_flags(const struct rig *r, unsigned i)
{
	return rd16(r, r->l.desc_gpa + 16ull * i + 12);
}

/* Field addresses straight from spec 2.7.6 / 2.7.8. */
#define AVAIL_FLAGS(r)   ((r)->l.avail_gpa)
#define AVAIL_IDX(r)     ((r)->l.avail_gpa + 2)
#define AVAIL_RING(r, i) ((r)->l.avail_gpa + 4 + 2ull * ((i) % (r)->l.size))
#define USED_EVENT(r)    ((r)->l.avail_gpa + 4 + 2ull * (r)->l.size)
#define USED_FLAGS(r)    ((r)->l.used_gpa)
#define USED_IDX(r)      ((r)->l.used_gpa + 2)
#define USED_ELEM(r, i)  ((r)->l.used_gpa + 4 + 8ull * ((i) % (r)->l.size))
#define AVAIL_EVENT(r)   ((r)->l.used_gpa + 4 + 8ull * (r)->l.size)

/* Make descriptor @head available, bypassing the driver half. */
static inline void raw_publish(struct rig *r, uint16_t head)
{
	uint16_t idx = rd16(r, AVAIL_IDX(r));

	wr16(r, AVAIL_RING(r, idx), head);
	wr16(r, AVAIL_IDX(r), (uint16_t)(idx + 1));
}

static inline void add_one(struct rig *r, unsigned k)
{
	struct vq_buf b = {slot(r, k), 8};

	assert_int_equal(vq_driver_add(&r->drv, &b, 1, NULL, 0, TOKEN(k)), 0);
}

#endif
