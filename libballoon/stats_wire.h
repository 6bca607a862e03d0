/* SPDX-License-Identifier: MIT */
/*
 * stats_wire.h - internal: the memory statistics wire codec, used by the
 * driver (encode) and the device (parse); implemented in device_stats.c.
 */
#ifndef LIBBALLOON_STATS_WIRE_H
#define LIBBALLOON_STATS_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "balloon/bln_device.h"
#include "balloon/virtio_balloon.h"
#include "balloon/vq.h"

/*
 * Stats wire codec (5.5.6.3): entries of le16 tag + le64 value, packed,
 * 10 bytes each.  Encode writes one entry per bit set in @valid, in tag
 * order, to @buf (room for VIRTIO_BALLOON_S_NR entries) and returns the
 * byte count.  Parse reads the readable segments @segs, ignores unknown
 * tags and stores the known ones in @out (valid = the tags seen, stamped
 * with CLOCK_MONOTONIC); returns 1 if stats were stored, 0 for an empty
 * buffer (nothing changed), -EINVAL if the length is not a multiple of 10
 * (nothing changed).
 */
size_t bln_stats_encode(const uint64_t vals[VIRTIO_BALLOON_S_NR],
                        uint32_t valid, uint8_t *buf);
int bln_stats_parse(const struct vq_seg *segs, unsigned n,
                    struct bln_guest_stats *out);

#endif
