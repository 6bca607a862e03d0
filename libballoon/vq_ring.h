/* SPDX-License-Identifier: MIT */
/*
 * vq_ring.h - internal to vq.c: where the fields of a split ring sit in guest
 * memory (spec 2.7.5-2.7.8) and how they are read and written (little-endian,
 * 16/32-bit atomics so that the idx fields can carry acquire/release order).
 * Callers have validated the layout (alignment, inside guest memory).
 */
#ifndef BALLOON_VQ_RING_H
#define BALLOON_VQ_RING_H

#include <endian.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "balloon/vq.h"

#define DESC_BYTES      16u /* one descriptor */
#define USED_ELEM_BYTES 8u  /* one used-ring element */
#define RING_HDR_BYTES  4u  /* flags + idx of the avail and used rings */

static inline uint16_t *ptr16(const struct vq_mem *m, uint64_t gpa)
{
	return (uint16_t *)(void *)(m->base + gpa);
}

static inline uint32_t *ptr32(const struct vq_mem *m, uint64_t gpa)
{
	return (uint32_t *)(void *)(m->base + gpa);
}

static inline uint16_t ld16(const struct vq_mem *m, uint64_t gpa)
{
	return le16toh(__atomic_load_n(ptr16(m, gpa), __ATOMIC_RELAXED));
}

static inline uint16_t ld16_acquire(const struct vq_mem *m, uint64_t gpa)
{
	return le16toh(__atomic_load_n(ptr16(m, gpa), __ATOMIC_ACQUIRE));
}

static inline void st16(const struct vq_mem *m, uint64_t gpa, uint16_t v)
{
	__atomic_store_n(ptr16(m, gpa), htole16(v), __ATOMIC_RELAXED);
}

static inline void st16_release(const struct vq_mem *m, uint64_t gpa,
                                uint16_t v)
{
	__atomic_store_n(ptr16(m, gpa), htole16(v), __ATOMIC_RELEASE);
}

static inline uint32_t ld32(const struct vq_mem *m, uint64_t gpa)
{
	return le32toh(__atomic_load_n(ptr32(m, gpa), __ATOMIC_RELAXED));
}

static inline void st32(const struct vq_mem *m, uint64_t gpa, uint32_t v)
{
	__atomic_store_n(ptr32(m, gpa), htole32(v), __ATOMIC_RELAXED);
}

/* Full barrier for the publish-then-check-event pattern. */
static inline void full_fence(void)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

/* Snapshot one descriptor into host byte order. */
static inline void desc_read(const uint8_t *p, struct vq_desc *d)
{
	struct vq_desc raw;

	memcpy(&raw, p, sizeof(raw));
	/* Pin the snapshot: the compiler may not re-read guest memory. */
	__asm__ __volatile__("" ::: "memory");
	d->addr = le64toh(raw.addr);
	d->len = le32toh(raw.len);
	d->flags = le16toh(raw.flags);
	d->next = le16toh(raw.next);
}

static inline void desc_write(uint8_t *p, uint64_t addr, uint32_t len,
                              uint16_t flags, uint16_t next)
{
	struct vq_desc raw = {
	        .addr = htole64(addr),
	        .len = htole32(len),
	        .flags = htole16(flags),
	        .next = htole16(next),
	};

	memcpy(p, &raw, sizeof(raw));
}

/* [gpa, gpa + len) lies inside guest memory (overflow-safe). */
static inline bool region_ok(const struct vq_mem *m, uint64_t gpa, uint64_t len)
{
	return len <= m->size && gpa <= m->size - len;
}

/* The standard wrap-safe test: did [old, new) step over @event? */
static inline bool need_event(uint16_t event, uint16_t new, uint16_t old)
{
	return (uint16_t)(new - event - 1) < (uint16_t)(new - old);
}

/* GPAs of the individual ring fields. */
static inline uint64_t avail_idx_gpa(const struct vq_layout *l)
{
	return l->avail_gpa + 2;
}

static inline uint64_t avail_ring_gpa(const struct vq_layout *l, uint16_t i)
{
	return l->avail_gpa + RING_HDR_BYTES + 2u * (i & (l->size - 1u));
}

static inline uint64_t used_event_gpa(const struct vq_layout *l)
{
	return l->avail_gpa + RING_HDR_BYTES + 2u * l->size;
}

static inline uint64_t used_idx_gpa(const struct vq_layout *l)
{
	return l->used_gpa + 2;
}

static inline uint64_t used_elem_gpa(const struct vq_layout *l, uint16_t i)
{
	return l->used_gpa + RING_HDR_BYTES +
	       (uint64_t)USED_ELEM_BYTES * (i & (l->size - 1u));
}

static inline uint64_t avail_event_gpa(const struct vq_layout *l)
{
	return l->used_gpa + RING_HDR_BYTES +
	       (uint64_t)USED_ELEM_BYTES * l->size;
}

/* Sizes of the avail and used rings of @n entries, bytes. */
static inline uint64_t avail_bytes(unsigned n)
{
	return RING_HDR_BYTES + 2ull * n + 2;
}

static inline uint64_t used_bytes(unsigned n)
{
	return RING_HDR_BYTES + (uint64_t)USED_ELEM_BYTES * n + 2;
}

#endif
