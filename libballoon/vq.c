/* SPDX-License-Identifier: MIT */
/*
 * vq.c - VIRTIO 1.2 split virtqueue (spec 2.7), driver and device halves.
 *
 * Guest memory layout of a ring of N descriptors (all little-endian):
 *   desc table  N x 16 bytes          {le64 addr, le32 len, le16 flags, next}
 *   avail ring  le16 flags, le16 idx, le16 ring[N], le16 used_event
 *   used ring   le16 flags, le16 idx, {le32 id, le32 len}[N], le16 avail_event
 *
 * Memory ordering: the 16-bit idx fields are published with release stores
 * and read with acquire loads, which orders the descriptor, ring-entry and
 * buffer contents written before them.  Deciding whether the other side needs
 * a notification is a store-then-load pattern (publish idx, then read the
 * other side's event index or flags, while that side writes its event index
 * and then re-reads our idx), so a full fence sits between the two.
 *
 * The device half reads every descriptor exactly once into a local copy
 * (memcpy plus a compiler barrier) and validates only that copy, so a driver
 * rewriting the ring concurrently cannot get an unchecked value past it.
 */
#include "balloon/vq.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "balloon/virtio_balloon.h"
#include "vq_ring.h"

/* ---- layout ------------------------------------------------------------- */

bool vq_size_valid(unsigned size)
{
	return size >= 1 && size <= VQ_MAX_SIZE && (size & (size - 1)) == 0;
}

/* Offset of the used ring from the start of a contiguous ring. */
static inline uint64_t used_offset(unsigned n)
{
	return (DESC_BYTES * (uint64_t)n + avail_bytes(n) + 3) & ~3ull;
}

size_t vq_ring_bytes(unsigned size)
{
	if (!vq_size_valid(size))
		return 0;
	return used_offset(size) + used_bytes(size);
}

int vq_layout_init(struct vq_layout *l, uint64_t ring_gpa, unsigned size)
{
	if (!l || !vq_size_valid(size) || (ring_gpa & 15))
		return -EINVAL;
	if (ring_gpa > UINT64_MAX - vq_ring_bytes(size))
		return -EINVAL;
	l->desc_gpa = ring_gpa;
	l->avail_gpa = ring_gpa + DESC_BYTES * (uint64_t)size;
	l->used_gpa = ring_gpa + used_offset(size);
	l->size = (uint16_t)size;
	return 0;
}

/* Both halves: the ring must be aligned and inside guest memory. */
static int layout_check(const struct vq_mem *m, const struct vq_layout *l)
{
	if (!m || !l || !m->base || ((uintptr_t)m->base & 15))
		return -EINVAL;
	if (!vq_size_valid(l->size))
		return -EINVAL;
	if ((l->desc_gpa & 15) || (l->avail_gpa & 1) || (l->used_gpa & 3))
		return -EINVAL;
	if (!region_ok(m, l->desc_gpa, DESC_BYTES * (uint64_t)l->size) ||
	    !region_ok(m, l->avail_gpa, avail_bytes(l->size)) ||
	    !region_ok(m, l->used_gpa, used_bytes(l->size)))
		return -EINVAL;
	return 0;
}

/* ---- notifications (2.7.7, 2.7.10) ------------------------------------- */

/* Both "don't notify me" flags are bit 0 of the peer's ring flags. */
#define RING_F_NO_NOTIFY 1
_Static_assert(VQ_USED_F_NO_NOTIFY == RING_F_NO_NOTIFY &&
                       VQ_AVAIL_F_NO_INTERRUPT == RING_F_NO_NOTIFY,
               "ring flags");

/*
 * Publish @new (moved on from @old) at @idx_gpa, then tell whether the peer
 * wants a notification: with EVENT_IDX, if [old, new) stepped over the event
 * index it left at @event_gpa, else if its flags at @flags_gpa allow it.
 */
static int publish_idx(const struct vq_mem *m, bool event_idx, uint64_t idx_gpa,
                       uint16_t old, uint16_t new, uint64_t event_gpa,
                       uint64_t flags_gpa)
{
	st16_release(m, idx_gpa, new);
	full_fence();
	if (event_idx)
		return need_event(ld16(m, event_gpa), new, old);
	return !(ld16(m, flags_gpa) & RING_F_NO_NOTIFY);
}

/*
 * Ask the peer for (@on) or spare us notifications, having consumed its ring
 * up to @seen: with EVENT_IDX through our event index at @event_gpa (off
 * writes an index already passed, so the peer never fires, or at worst once
 * per 2^16 entries, which is harmless), else through our flags at @flags_gpa.
 * When asking, re-read the peer's idx at @peer_idx_gpa after a full fence:
 * returns 1 if entries are already there (poll again, else a wakeup is lost).
 */
static int arm_notify(const struct vq_mem *m, bool event_idx, bool on,
                      uint16_t seen, uint64_t event_gpa, uint64_t flags_gpa,
                      uint64_t peer_idx_gpa)
{
	if (event_idx)
		st16(m, event_gpa, on ? seen : (uint16_t)(seen - 1));
	else
		st16(m, flags_gpa, on ? 0 : RING_F_NO_NOTIFY);
	if (!on)
		return 0;
	full_fence();
	return ld16_acquire(m, peer_idx_gpa) != seen;
}

/* ---- driver half -------------------------------------------------------- */

int vq_driver_init(struct vq_driver *vq, const struct vq_mem *mem,
                   const struct vq_layout *l, uint64_t features,
                   uint64_t indirect_gpa, uint16_t indirect_max)
{
	unsigned i;
	int err;

	if (!vq)
		return -EINVAL;
	err = layout_check(mem, l);
	if (err)
		return err;
	if (indirect_gpa &&
	    (!indirect_max || (indirect_gpa & 15) ||
	     !region_ok(mem, indirect_gpa,
	                (uint64_t)l->size * indirect_max * DESC_BYTES)))
		return -EINVAL;

	memset(vq, 0, sizeof(*vq));
	vq->mem = *mem;
	vq->l = *l;
	vq->event_idx = features & BLN_FEATURE(VIRTIO_F_RING_EVENT_IDX);
	vq->indirect = (features & BLN_FEATURE(VIRTIO_F_RING_INDIRECT_DESC)) &&
	               indirect_gpa;
	vq->indirect_gpa = indirect_gpa;
	vq->indirect_max = indirect_max;
	vq->num_free = l->size;

	vq->tokens = calloc(l->size, sizeof(*vq->tokens));
	if (!vq->tokens)
		goto err_tokens;
	vq->chain_len = calloc(l->size, sizeof(*vq->chain_len));
	if (!vq->chain_len)
		goto err_chain_len;
	vq->next = malloc(l->size * sizeof(*vq->next));
	if (!vq->next)
		goto err_next;
	for (i = 0; i < l->size; i++)
		vq->next[i] = (uint16_t)((i + 1) & (l->size - 1u));

	/* Interrupts wanted from the first completion on. */
	st16(&vq->mem, vq->l.avail_gpa, 0);
	st16(&vq->mem, used_event_gpa(&vq->l), 0);
	return 0;

err_next:
	free(vq->chain_len);
err_chain_len:
	free(vq->tokens);
err_tokens:
	memset(vq, 0, sizeof(*vq));
	return -ENOMEM;
}

void vq_driver_destroy(struct vq_driver *vq)
{
	if (!vq)
		return;
	free(vq->next);
	free(vq->chain_len);
	free(vq->tokens);
	memset(vq, 0, sizeof(*vq));
}

static bool bufs_ok(const struct vq_driver *vq, const struct vq_buf *b,
                    unsigned n)
{
	unsigned i;

	if (n && !b)
		return false;
	for (i = 0; i < n; i++)
		if (!region_ok(&vq->mem, b[i].gpa, b[i].len))
			return false;
	return true;
}

/* The k-th buffer of a request and its descriptor flags (without NEXT). */
static inline const struct vq_buf *req_buf(const struct vq_buf *out,
                                           unsigned n_out,
                                           const struct vq_buf *in, unsigned k,
                                           uint16_t *flags)
{
	*flags = k < n_out ? 0 : VQ_DESC_F_WRITE;
	return k < n_out ? &out[k] : &in[k - n_out];
}

static uint16_t add_direct(struct vq_driver *vq, const struct vq_buf *out,
                           unsigned n_out, const struct vq_buf *in, unsigned n)
{
	uint8_t *table = vq->mem.base + vq->l.desc_gpa;
	uint16_t head = vq->free_head, i = head, flags;
	const struct vq_buf *b;
	unsigned k;

	for (k = 0; k < n; k++) {
		b = req_buf(out, n_out, in, k, &flags);
		if (k + 1 < n)
			flags |= VQ_DESC_F_NEXT;
		desc_write(table + (size_t)i * DESC_BYTES, b->gpa, b->len,
		           flags, vq->next[i]);
		i = vq->next[i];
	}
	vq->free_head = i;
	vq->num_free -= n;
	vq->chain_len[head] = (uint16_t)n;
	return head;
}

static uint16_t add_indirect(struct vq_driver *vq, const struct vq_buf *out,
                             unsigned n_out, const struct vq_buf *in,
                             unsigned n)
{
	uint16_t head = vq->free_head, flags;
	uint64_t tbl = vq->indirect_gpa +
	               (uint64_t)head * vq->indirect_max * DESC_BYTES;
	const struct vq_buf *b;
	unsigned k;

	for (k = 0; k < n; k++) {
		b = req_buf(out, n_out, in, k, &flags);
		if (k + 1 < n)
			flags |= VQ_DESC_F_NEXT;
		desc_write(vq->mem.base + tbl + (uint64_t)k * DESC_BYTES,
		           b->gpa, b->len, flags, (uint16_t)(k + 1));
	}
	desc_write(vq->mem.base + vq->l.desc_gpa + (size_t)head * DESC_BYTES,
	           tbl, n * DESC_BYTES, VQ_DESC_F_INDIRECT, 0);
	vq->free_head = vq->next[head];
	vq->num_free--;
	vq->chain_len[head] = 1;
	return head;
}

int vq_driver_add(struct vq_driver *vq, const struct vq_buf *out,
                  unsigned n_out, const struct vq_buf *in, unsigned n_in,
                  void *token)
{
	unsigned n = n_out + n_in;
	uint16_t head;

	if (!vq || n_out > VQ_MAX_SIZE || n_in > VQ_MAX_SIZE || n == 0)
		return -EINVAL;
	if (!bufs_ok(vq, out, n_out) || !bufs_ok(vq, in, n_in))
		return -EINVAL;
	if (vq->indirect && n > 1 && n <= vq->indirect_max) {
		if (!vq->num_free)
			return -ENOSPC;
		head = add_indirect(vq, out, n_out, in, n);
	} else {
		if (n > vq->l.size)
			return -EINVAL;
		if (n > vq->num_free)
			return -ENOSPC;
		head = add_direct(vq, out, n_out, in, n);
	}
	vq->tokens[head] = token;
	st16(&vq->mem, avail_ring_gpa(&vq->l, vq->avail_idx), head);
	vq->avail_idx++;
	return 0;
}

int vq_driver_kick_prepare(struct vq_driver *vq)
{
	uint16_t old = vq->kicked_avail;

	if (vq->avail_idx == old)
		return 0;
	vq->kicked_avail = vq->avail_idx;
	return publish_idx(&vq->mem, vq->event_idx, avail_idx_gpa(&vq->l), old,
	                   vq->avail_idx, avail_event_gpa(&vq->l),
	                   vq->l.used_gpa);
}

/* Put the chain starting at @head back on the free list. */
static void free_chain(struct vq_driver *vq, uint16_t head)
{
	uint16_t n = vq->chain_len[head], last = head, k;

	for (k = 1; k < n; k++)
		last = vq->next[last];
	vq->next[last] = vq->free_head;
	vq->free_head = head;
	vq->num_free += n;
	vq->chain_len[head] = 0;
	vq->tokens[head] = NULL;
}

int vq_driver_get_used(struct vq_driver *vq, void **token, uint32_t *len)
{
	uint64_t elem;
	uint32_t id, ulen;

	if (vq->last_used == vq->used_cache) {
		vq->used_cache = ld16_acquire(&vq->mem, used_idx_gpa(&vq->l));
		if (vq->last_used == vq->used_cache)
			return -EAGAIN;
	}
	if ((uint16_t)(vq->used_cache - vq->last_used) > vq->l.size)
		return -EIO;
	elem = used_elem_gpa(&vq->l, vq->last_used);
	id = ld32(&vq->mem, elem);
	ulen = ld32(&vq->mem, elem + 4);
	if (id >= vq->l.size || !vq->chain_len[id])
		return -EIO;
	if (token)
		*token = vq->tokens[id];
	if (len)
		*len = ulen;
	free_chain(vq, (uint16_t)id);
	vq->last_used++;
	if (vq->event_idx && !vq->irq_off)
		st16(&vq->mem, used_event_gpa(&vq->l), vq->last_used);
	return 0;
}

int vq_driver_set_interrupts(struct vq_driver *vq, bool on)
{
	vq->irq_off = !on;
	return arm_notify(&vq->mem, vq->event_idx, on, vq->last_used,
	                  used_event_gpa(&vq->l), vq->l.avail_gpa,
	                  used_idx_gpa(&vq->l));
}

unsigned vq_driver_num_free(const struct vq_driver *vq)
{
	return vq->num_free;
}

/* ---- device half -------------------------------------------------------- */

int vq_device_init(struct vq_device *vq, const struct vq_mem *mem,
                   const struct vq_layout *l, uint64_t features)
{
	int err;

	if (!vq)
		return -EINVAL;
	err = layout_check(mem, l);
	if (err)
		return err;
	memset(vq, 0, sizeof(*vq));
	vq->mem = *mem;
	vq->l = *l;
	vq->event_idx = features & BLN_FEATURE(VIRTIO_F_RING_EVENT_IDX);
	vq->indirect = features & BLN_FEATURE(VIRTIO_F_RING_INDIRECT_DESC);
	/* Kicks wanted from the first request on. */
	st16(&vq->mem, vq->l.used_gpa, 0);
	st16(&vq->mem, avail_event_gpa(&vq->l), 0);
	return 0;
}

/* Append the (validated) buffer @d to the element. */
static int add_seg(const struct vq_device *vq, const struct vq_desc *d,
                   struct vq_elem *e, struct vq_seg *segs, unsigned max_segs)
{
	bool write = d->flags & VQ_DESC_F_WRITE;
	struct vq_seg *s;

	if (!region_ok(&vq->mem, d->addr, d->len))
		return -EINVAL;
	if (!write && e->n_in)
		return -EINVAL; /* readable after writable */
	if (e->n_segs >= max_segs)
		return -E2BIG;
	s = &segs[e->n_segs++];
	s->gpa = d->addr;
	s->len = d->len;
	s->write = write;
	s->host = vq->mem.base + d->addr;
	if (write)
		e->n_in++;
	else
		e->n_out++;
	return 0;
}

/* Switch the walk to the indirect table described by @d. */
static int enter_indirect(const struct vq_device *vq, const struct vq_desc *d,
                          const uint8_t **table, unsigned *n)
{
	if (!vq->indirect || (d->flags & VQ_DESC_F_NEXT))
		return -EINVAL;
	if (!d->len || d->len % DESC_BYTES ||
	    !region_ok(&vq->mem, d->addr, d->len))
		return -EINVAL;
	*table = vq->mem.base + d->addr;
	*n = d->len / DESC_BYTES;
	return 0;
}

/*
 * Walk the chain from @head, first in the descriptor table, then (at most
 * once) in an indirect table.  A table of n descriptors can hold no chain
 * longer than n without a loop, so more hops than that is rejected; every
 * hop also produces a segment, so max_segs bounds the work as well.
 */
static int walk_chain(const struct vq_device *vq, uint16_t head,
                      struct vq_elem *e, struct vq_seg *segs, unsigned max_segs)
{
	const uint8_t *table = vq->mem.base + vq->l.desc_gpa;
	unsigned n = vq->l.size, i = head, hops = 0;
	bool nested = false;
	struct vq_desc d;
	int err;

	for (;;) {
		desc_read(table + (size_t)i * DESC_BYTES, &d);
		if (d.flags & VQ_DESC_F_INDIRECT) {
			if (nested)
				return -EINVAL;
			err = enter_indirect(vq, &d, &table, &n);
			if (err)
				return err;
			nested = true;
			i = 0;
			hops = 0;
			continue;
		}
		err = add_seg(vq, &d, e, segs, max_segs);
		if (err)
			return err;
		if (!(d.flags & VQ_DESC_F_NEXT))
			return 0;
		if (d.next >= n || ++hops >= n)
			return -EINVAL;
		i = d.next;
	}
}

int vq_device_pop(struct vq_device *vq, struct vq_elem *elem,
                  struct vq_seg *segs, unsigned max_segs)
{
	uint16_t head;
	int err;

	if (vq->last_avail == vq->avail_cache) {
		vq->avail_cache = ld16_acquire(&vq->mem, avail_idx_gpa(&vq->l));
		if (vq->last_avail == vq->avail_cache)
			return 0;
	}
	if ((uint16_t)(vq->avail_cache - vq->last_avail) > vq->l.size)
		goto err_io;
	head = ld16(&vq->mem, avail_ring_gpa(&vq->l, vq->last_avail));
	if (head >= vq->l.size)
		goto err_io;
	vq->last_avail++;
	if (vq->event_idx && !vq->notify_off)
		st16(&vq->mem, avail_event_gpa(&vq->l), vq->last_avail);

	memset(elem, 0, sizeof(*elem));
	elem->head = head;
	err = walk_chain(vq, head, elem, segs, max_segs);
	if (err) {
		vq->errors++;
		elem->n_out = elem->n_in = elem->n_segs = 0;
		return err;
	}
	return 1;

err_io:
	vq->errors++;
	return -EIO;
}

int vq_device_push(struct vq_device *vq, uint16_t head, uint32_t len)
{
	uint64_t elem;

	if (head >= vq->l.size)
		return -EINVAL;
	/* Never return more requests than were popped. */
	if (vq->used_idx == vq->last_avail)
		return -EINVAL;
	elem = used_elem_gpa(&vq->l, vq->used_idx);
	st32(&vq->mem, elem, head);
	st32(&vq->mem, elem + 4, len);
	vq->used_idx++;
	return 0;
}

int vq_device_publish(struct vq_device *vq)
{
	uint16_t old = vq->signalled_used;

	if (vq->used_idx == old)
		return 0;
	vq->signalled_used = vq->used_idx;
	return publish_idx(&vq->mem, vq->event_idx, used_idx_gpa(&vq->l), old,
	                   vq->used_idx, used_event_gpa(&vq->l),
	                   vq->l.avail_gpa);
}

int vq_device_set_notify(struct vq_device *vq, bool on)
{
	vq->notify_off = !on;
	return arm_notify(&vq->mem, vq->event_idx, on, vq->last_avail,
	                  avail_event_gpa(&vq->l), vq->l.used_gpa,
	                  avail_idx_gpa(&vq->l));
}

unsigned vq_device_pending(const struct vq_device *vq)
{
	uint16_t n = (uint16_t)(ld16_acquire(&vq->mem, avail_idx_gpa(&vq->l)) -
	                        vq->last_avail);

	return n <= vq->l.size ? n : 0;
}

/* ---- watching a ring from outside its owner (busy-polling) ------------- */

/* The fields one side reads and writes: the peer's idx, our event index
 * and our flags. */
static uint64_t watch_peer_idx(const struct vq_watch *w)
{
	return w->device ? avail_idx_gpa(&w->l) : used_idx_gpa(&w->l);
}

static uint64_t watch_event(const struct vq_watch *w)
{
	return w->device ? avail_event_gpa(&w->l) : used_event_gpa(&w->l);
}

static uint64_t watch_flags(const struct vq_watch *w)
{
	return w->device ? w->l.used_gpa : w->l.avail_gpa;
}

int vq_watch_begin(struct vq_watch *w, const struct vq_mem *mem,
                   const struct vq_layout *l, uint64_t features, bool device)
{
	if (!w || layout_check(mem, l))
		return -EINVAL;
	w->mem = *mem;
	w->l = *l;
	w->event_idx = features & BLN_FEATURE(VIRTIO_F_RING_EVENT_IDX);
	w->device = device;
	if (w->event_idx)
		w->seen = ld16(&w->mem, watch_event(w));
	else
		w->seen = ld16_acquire(&w->mem, watch_peer_idx(w));
	arm_notify(&w->mem, w->event_idx, false, w->seen, watch_event(w),
	           watch_flags(w), watch_peer_idx(w));
	return 0;
}

unsigned vq_watch_pending(const struct vq_watch *w)
{
	uint16_t n =
	        (uint16_t)(ld16_acquire(&w->mem, watch_peer_idx(w)) - w->seen);

	return n <= w->l.size ? n : 0;
}

int vq_watch_end(struct vq_watch *w)
{
	return arm_notify(&w->mem, w->event_idx, true, w->seen, watch_event(w),
	                  watch_flags(w), watch_peer_idx(w));
}
