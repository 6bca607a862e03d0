/* SPDX-License-Identifier: MIT */
/*
 * vq.h - VIRTIO 1.2 split virtqueue (section 2.7), driver and device halves.
 *
 * A virtqueue lives in guest memory: a flat guest-physical address space
 * [0, size) that both halves map (in one process for unit tests, or through a
 * shared memfd across two processes).  All ring fields are little-endian in
 * that memory.  Descriptor addresses are guest-physical addresses (bytes),
 * lengths are bytes.
 *
 * Ordering: the driver publishes descriptors before avail->idx with a release
 * fence; the device reads avail->idx with acquire semantics before reading the
 * ring, and symmetrically for the used ring.  Notifications (kicks and
 * interrupts) are the caller's business (eventfds in libballoon's transport);
 * this header only answers "does the other side need a notification?".
 *
 * Return contract: functions return 0 (or a documented non-negative value) on
 * success and -errno on failure.  Nothing here prints or allocates after
 * init; the device side never trusts a value it reads from the ring.
 */
#ifndef BALLOON_VQ_H
#define BALLOON_VQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VQ_MAX_SIZE 32768 /* largest split ring the spec allows */

/* Descriptor flags (2.7.5). */
#define VQ_DESC_F_NEXT     1
#define VQ_DESC_F_WRITE    2
#define VQ_DESC_F_INDIRECT 4
/* Ring flags (2.7.7, 2.7.10). */
#define VQ_AVAIL_F_NO_INTERRUPT 1
#define VQ_USED_F_NO_NOTIFY     1

/* On-wire descriptor, 16 bytes, little-endian. */
struct vq_desc {
	uint64_t addr;  /* guest-physical address, bytes */
	uint32_t len;   /* bytes */
	uint16_t flags; /* VQ_DESC_F_* */
	uint16_t next;  /* index of the next descriptor if F_NEXT */
};

/* Guest memory as seen by one side: GPA 0 is at @base, @size bytes long. */
struct vq_mem {
	uint8_t *base;
	uint64_t size;
};

/* Where the three parts of a ring sit in guest memory (GPAs). */
struct vq_layout {
	uint64_t desc_gpa;  /* 16-byte aligned */
	uint64_t avail_gpa; /* 2-byte aligned */
	uint64_t used_gpa;  /* 4-byte aligned */
	uint16_t size;      /* number of descriptors, power of two */
};

/* True if @size is a valid split-ring size: a power of two, 1..32768. */
bool vq_size_valid(unsigned size);

/* Bytes needed for desc table + avail + used of a ring of @size, laid out
 * contiguously by vq_layout_init(); 0 if @size is invalid. */
size_t vq_ring_bytes(unsigned size);

/* Fill @l for a contiguous ring at @ring_gpa (16-byte aligned).
 * Returns 0, or -EINVAL for a bad size or alignment. */
int vq_layout_init(struct vq_layout *l, uint64_t ring_gpa, unsigned size);

/* A buffer handed to the driver side: guest-physical address and length. */
struct vq_buf {
	uint64_t gpa;
	uint32_t len;
};

/* Driver (guest) half.  Treat the fields as private. */
struct vq_driver {
	struct vq_mem mem;
	struct vq_layout l;
	bool event_idx;        /* VIRTIO_F_RING_EVENT_IDX negotiated */
	bool indirect;         /* VIRTIO_F_RING_INDIRECT_DESC negotiated */
	uint64_t indirect_gpa; /* per-head indirect tables, or 0 */
	uint16_t indirect_max; /* descriptors per indirect table */
	uint16_t free_head;    /* first free descriptor */
	uint16_t num_free;
	uint16_t avail_idx;    /* our shadow of avail->idx */
	uint16_t last_used;    /* next used entry to consume */
	uint16_t kicked_avail; /* avail idx at the last kick decision */
	uint16_t used_cache;   /* used->idx as last read (acquire) */
	bool irq_off;          /* vq_driver_set_interrupts(false) in force */
	void **tokens;         /* per head, caller's cookie */
	uint16_t *chain_len;   /* per head, descriptors used in the table;
	                          0 = head not pending */
	uint16_t *next;        /* private shadow of desc.next: free list and
	                          chain links, never read back from the ring */
};

/*
 * Initialise the driver half over an existing (zeroed) ring.  @features are
 * the negotiated feature bits (only RING_EVENT_IDX and RING_INDIRECT_DESC
 * matter here).  If @indirect_gpa is non-zero it must point at
 * size * @indirect_max descriptors of guest memory reserved for indirect
 * tables.  Returns 0, -EINVAL on a bad layout, -ENOMEM.
 */
int vq_driver_init(struct vq_driver *vq, const struct vq_mem *mem,
                   const struct vq_layout *l, uint64_t features,
                   uint64_t indirect_gpa, uint16_t indirect_max);
void vq_driver_destroy(struct vq_driver *vq);

/*
 * Queue one request made of @n_out device-readable buffers followed by @n_in
 * device-writable buffers.  Uses an indirect table (one descriptor of the
 * ring) when negotiated, indirect_gpa is set and the chain has 2..indirect_max
 * buffers; otherwise a direct chain of n_out + n_in descriptors.  @token (may
 * be NULL) comes back from vq_driver_get_used.  Returns 0, -ENOSPC if there
 * are not enough free descriptors right now, -EINVAL on bad arguments (no
 * buffer, a buffer outside guest memory, a direct chain longer than the ring).
 * The request is not visible to the device until vq_driver_kick_prepare().
 */
int vq_driver_add(struct vq_driver *vq, const struct vq_buf *out,
                  unsigned n_out, const struct vq_buf *in, unsigned n_in,
                  void *token);

/* Publish queued requests (release fence + avail->idx).  Returns 1 if the
 * device wants a notification (honouring EVENT_IDX or NO_NOTIFY), else 0
 * (also 0 when nothing was added since the last call). */
int vq_driver_kick_prepare(struct vq_driver *vq);

/* Take one completed request.  Returns 0 and fills *@token and *@len (either
 * may be NULL), -EAGAIN if none is pending, or -EIO if the device returned a
 * bad id (out of range or not in flight) or moved used->idx more than the ring
 * size ahead; -EIO is sticky (the queue is unusable until reset). */
int vq_driver_get_used(struct vq_driver *vq, void **token, uint32_t *len);

/* Ask for (true) or suppress (false) interrupts on completion.  With
 * EVENT_IDX this writes used_event (and get_used keeps it current while
 * interrupts are on), else the avail NO_INTERRUPT flag.  Returns 1 if
 * completions are already pending (the caller must poll again to avoid a lost
 * wakeup), else 0 (always 0 when suppressing). */
int vq_driver_set_interrupts(struct vq_driver *vq, bool on);

/* Free descriptors (how many more single-buffer requests fit). */
unsigned vq_driver_num_free(const struct vq_driver *vq);

/* One segment of a popped request, translated and bounds-checked. */
struct vq_seg {
	uint64_t gpa;
	uint32_t len;
	bool write; /* device-writable */
	void *host; /* host pointer to gpa, valid for len bytes */
};

/* A popped request. */
struct vq_elem {
	uint16_t head; /* id to hand back in vq_device_push */
	unsigned n_out;
	unsigned n_in; /* segs[0..n_out) readable, then n_in writable */
	unsigned n_segs;
};

/* Device (host) half.  Treat the fields as private. */
struct vq_device {
	struct vq_mem mem;
	struct vq_layout l;
	bool event_idx;
	bool indirect;
	uint16_t last_avail;     /* next avail entry to consume */
	uint16_t avail_cache;    /* avail->idx as last read (acquire) */
	uint16_t used_idx;       /* our shadow of used->idx */
	uint16_t signalled_used; /* used->idx at the last publish */
	bool notify_off;         /* vq_device_set_notify(false) in force */
	uint64_t errors;         /* malformed requests seen */
};

/* Initialise the device half.  Validates that the ring lies inside guest
 * memory and is aligned.  Returns 0 or -EINVAL. */
int vq_device_init(struct vq_device *vq, const struct vq_mem *mem,
                   const struct vq_layout *l, uint64_t features);

/*
 * Pop the next available request into @elem and @segs (at most @max_segs).
 * Every descriptor is validated: index in range, buffer inside guest memory
 * (overflow-safe), no loops (more hops than the table has descriptors),
 * readable before writable, indirect only if negotiated and never with NEXT
 * or nested, indirect table length a non-zero multiple of 16 and inside
 * memory.  Returns 1 if a request was popped, 0 if the ring is empty,
 * -EINVAL if the request is malformed (elem->head is set, n_segs is 0, and the
 * caller should push it back with len 0), -E2BIG if it has more than
 * @max_segs segments (same handling), -EIO if avail->idx is more than the ring
 * size ahead or the head index itself is out of range (nothing is consumed;
 * the queue is unusable until reset).  Every error counts in vq->errors.
 */
int vq_device_pop(struct vq_device *vq, struct vq_elem *elem,
                  struct vq_seg *segs, unsigned max_segs);

/* Return request @head with @len bytes written.  Not visible to the driver
 * until vq_device_publish().  Returns 0, or -EINVAL if @head is out of range
 * or every popped request has already been pushed. */
int vq_device_push(struct vq_device *vq, uint16_t head, uint32_t len);

/* Publish pushed entries (release fence + used->idx).  Returns 1 if the
 * driver wants an interrupt (EVENT_IDX / NO_INTERRUPT honoured), else 0. */
int vq_device_publish(struct vq_device *vq);

/* Ask for (true) or suppress (false) kicks.  With EVENT_IDX this writes
 * avail_event (and pop keeps it current while kicks are on), else the used
 * NO_NOTIFY flag.  Returns 1 if requests are already available (poll again to
 * avoid a lost wakeup), else 0 (always 0 when suppressing). */
int vq_device_set_notify(struct vq_device *vq, bool on);

/* Requests available but not yet popped (0 if none or if corrupt). */
unsigned vq_device_pending(const struct vq_device *vq);

/*
 * Busy-polling a ring from outside its vq_device / vq_driver: a thread that
 * is about to sleep on its notification eventfd first watches the ring for a
 * bounded time (the transport's bln_poll_wait()), and meanwhile asks the peer
 * not to notify it, exactly as the owner would (used NO_NOTIFY / avail_event
 * on the device side, avail NO_INTERRUPT / used_event on the driver side).
 * It must be the thread that owns the consuming half (it writes that half's
 * event index or flags), and only between the owner's calls, i.e. after
 * vq_device_set_notify(true) / vq_driver_set_interrupts(true) left
 * notifications on.  The owner's next pop / get_used / set_* rewrites the
 * same field, so a watch never leaves the owner in a state it does not know.
 */
struct vq_watch {
	struct vq_mem mem;
	struct vq_layout l;
	bool event_idx; /* VIRTIO_F_RING_EVENT_IDX negotiated */
	bool device;    /* true: watch avail (device side), false: used */
	uint16_t seen;  /* consumer's position when the watch began */
};

/*
 * Begin watching the ring at @l (same checks as vq_device_init: aligned,
 * inside @mem; -EINVAL otherwise, nothing written).  @device selects the side
 * (true: new available buffers, kicks suppressed; false: new used buffers,
 * interrupts suppressed).  The consumer's position is taken, with EVENT_IDX,
 * from the event index the owner left (which is exactly its position while
 * notifications are on), else as the peer's idx now.  Returns 0.
 */
int vq_watch_begin(struct vq_watch *w, const struct vq_mem *mem,
                   const struct vq_layout *l, uint64_t features, bool device);

/* Entries the peer published since the position taken at begin (acquire
 * load; 0 if none, or if the idx moved more than the ring size: corrupt,
 * left for the owner to find). */
unsigned vq_watch_pending(const struct vq_watch *w);

/* End the watch: ask for notifications again (event index back at the
 * position taken at begin, or flags cleared), then re-read the peer's idx
 * after a full fence.  Returns 1 if entries are pending (do not sleep: the
 * peer may have skipped its notification), else 0. */
int vq_watch_end(struct vq_watch *w);

#endif
