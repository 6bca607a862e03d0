/* SPDX-License-Identifier: MIT */
/*
 * virtio_balloon.h - wire format of the VIRTIO 1.2 "Traditional Memory
 * Balloon Device" (section 5.5), as both halves of libballoon speak it.
 *
 * Everything in this header that crosses the device/driver boundary is
 * little-endian on the wire, whatever the host byte order; use the
 * bln_le*() helpers to read and write it.  Units are stated on every field:
 *   - "balloon pages" are always 4 KiB (VIRTIO_BALLOON_PFN_SHIFT), whatever the
 *     guest or host page size, because the spec fixes them at 4096 bytes;
 *   - stats values are bytes for memory sizes and plain counts for events,
 *     exactly as the spec defines each tag.
 */
#ifndef BALLOON_VIRTIO_BALLOON_H
#define BALLOON_VIRTIO_BALLOON_H

#include <endian.h>
#include <stdint.h>

/* Device ID of the traditional memory balloon (spec 5.5.1). */
#define VIRTIO_ID_BALLOON 5

/*
 * Feature bits (spec 5.5.3 and 6).  FREE_PAGE_HINT and PAGE_POISON are
 * defined for completeness but NOT implemented by libballoon: the device
 * never offers them (bln_device_create() refuses them) and the driver never
 * asks for them.  See docs/protocol.md.
 */
#define VIRTIO_BALLOON_F_MUST_TELL_HOST 0 /* tell host before reusing pages */
#define VIRTIO_BALLOON_F_STATS_VQ       1 /* statsq present */
#define VIRTIO_BALLOON_F_DEFLATE_ON_OOM 2 /* guest may deflate under OOM */
#define VIRTIO_BALLOON_F_FREE_PAGE_HINT 3 /* free_page_vq (not implemented) */
#define VIRTIO_BALLOON_F_PAGE_POISON    4 /* poison_val (not implemented) */
#define VIRTIO_BALLOON_F_PAGE_REPORTING 5 /* reporting_vq present */
#define VIRTIO_F_RING_INDIRECT_DESC     28
#define VIRTIO_F_RING_EVENT_IDX         29
#define VIRTIO_F_VERSION_1              32

#define BLN_FEATURE(bit) (UINT64_C(1) << (bit))

/* Balloon page size: 4 KiB, fixed by the spec (5.5.6). */
#define VIRTIO_BALLOON_PFN_SHIFT 12
#define BLN_PAGE_SIZE            (UINT64_C(1) << VIRTIO_BALLOON_PFN_SHIFT)

/*
 * Virtqueue indices.  The spec lists inflateq(0) deflateq(1) statsq(2)
 * free_page_vq(3) reporting_vq(4); a queue whose feature is not negotiated is
 * absent.  Our transport keeps the fixed numbering (an absent queue is never
 * enabled), so an index always names the same queue; Linux's PCI transport
 * instead compacts the indices over absent queues.  docs/protocol.md notes it.
 */
enum bln_queue {
	BLN_VQ_INFLATE = 0,
	BLN_VQ_DEFLATE = 1,
	BLN_VQ_STATS = 2,
	BLN_VQ_FREE_PAGE = 3,
	BLN_VQ_REPORTING = 4,
	BLN_VQ_COUNT = 5,
};

/* Device configuration layout (spec 5.5.4).  All fields little-endian. */
struct virtio_balloon_config {
	uint32_t num_pages; /* balloon size the host wants, 4 KiB pages
	                       (device writes) */
	uint32_t actual;    /* balloon size the driver has reached, 4 KiB
	                       pages (driver writes) */
	uint32_t free_page_hint_cmd_id; /* FREE_PAGE_HINT (unused) */
	uint32_t poison_val;            /* PAGE_POISON (unused) */
};

/* free_page_hint_cmd_id special values (5.5.6.1). */
#define VIRTIO_BALLOON_CMD_ID_STOP 0
#define VIRTIO_BALLOON_CMD_ID_DONE 1

/*
 * Memory statistics tags (5.5.6.3).  0-9 are in VIRTIO 1.2; 10-15 are the
 * Linux extensions (include/uapi/linux/virtio_balloon.h) that newer QEMU also
 * understands.  Sizes are in bytes, the rest are event counts.
 */
enum bln_stat_tag {
	VIRTIO_BALLOON_S_SWAP_IN = 0,  /* bytes swapped in */
	VIRTIO_BALLOON_S_SWAP_OUT = 1, /* bytes swapped out */
	VIRTIO_BALLOON_S_MAJFLT = 2,   /* major faults (count) */
	VIRTIO_BALLOON_S_MINFLT = 3,   /* minor faults (count) */
	VIRTIO_BALLOON_S_MEMFREE = 4,  /* free memory, bytes */
	VIRTIO_BALLOON_S_MEMTOT = 5,   /* total memory, bytes */
	VIRTIO_BALLOON_S_AVAIL = 6,    /* available memory estimate, bytes */
	VIRTIO_BALLOON_S_CACHES = 7,   /* disk caches, bytes */
	VIRTIO_BALLOON_S_HTLB_PGALLOC = 8, /* hugetlb page allocations */
	VIRTIO_BALLOON_S_HTLB_PGFAIL = 9,  /* hugetlb allocation failures */
	VIRTIO_BALLOON_S_OOM_KILL = 10,    /* OOM kills (Linux) */
	VIRTIO_BALLOON_S_ALLOC_STALL = 11, /* allocation stalls (Linux) */
	VIRTIO_BALLOON_S_ASYNC_SCAN = 12,  /* pages scanned by kswapd (Linux) */
	VIRTIO_BALLOON_S_DIRECT_SCAN = 13, /* pages scanned directly (Linux) */
	VIRTIO_BALLOON_S_ASYNC_RECLAIM = 14,  /* pages reclaimed by kswapd */
	VIRTIO_BALLOON_S_DIRECT_RECLAIM = 15, /* pages reclaimed directly */
	VIRTIO_BALLOON_S_NR = 16,
};

/* One stat on the wire: le16 tag, le64 value, packed (10 bytes). */
struct virtio_balloon_stat {
	uint16_t tag;
	uint64_t val;
} __attribute__((packed));

_Static_assert(sizeof(struct virtio_balloon_stat) == 10, "stat is 10 bytes");
_Static_assert(sizeof(struct virtio_balloon_config) == 16,
               "config is 16 bytes");

/* Little-endian accessors for wire fields. */
static inline uint16_t bln_le16(uint16_t v)
{
	return le16toh(v);
}
static inline uint32_t bln_le32(uint32_t v)
{
	return le32toh(v);
}
static inline uint64_t bln_le64(uint64_t v)
{
	return le64toh(v);
}
static inline uint16_t bln_to_le16(uint16_t v)
{
	return htole16(v);
}
static inline uint32_t bln_to_le32(uint32_t v)
{
	return htole32(v);
}
static inline uint64_t bln_to_le64(uint64_t v)
{
	return htole64(v);
}

#endif
