/* SPDX-License-Identifier: MIT */
/*
 * stats_alert.c - when a guest-stats sample is worth an X_BVM_STATS_ALERT
 * event (see stats_alert.h), and the guest-stats JSON shared with qom-get.
 */
#include <errno.h>
#include <stdio.h>

#include "stats_alert.h"

int bvm_alert_config(struct bvm_alert *a, int64_t period_ms, int64_t drop_bytes,
                     char *err)
{
	if (period_ms != 0 &&
	    (period_ms < BVM_ALERT_MIN_MS || period_ms > BVM_ALERT_MAX_MS)) {
		snprintf(err, QMP_ERR_LEN,
		         "'period-ms' must be 0 (off) or %u..%u",
		         BVM_ALERT_MIN_MS, BVM_ALERT_MAX_MS);
		return -EINVAL;
	}
	if (drop_bytes < 4096 || drop_bytes > (INT64_C(1) << 40)) {
		snprintf(err, QMP_ERR_LEN,
		         "'drop' must be 4096..1099511627776 bytes");
		return -EINVAL;
	}
	a->period_ms = (uint32_t)period_ms;
	a->drop_bytes = (uint64_t)drop_bytes;
	a->have_ref = false;
	return 0;
}

static bool has(const struct qmp_guest_stats *gs, unsigned tag)
{
	return gs->valid & (1u << tag);
}

static uint64_t val(const struct qmp_guest_stats *gs, unsigned tag)
{
	return has(gs, tag) ? gs->val[tag] : 0;
}

static void set_ref(struct bvm_alert *a, uint64_t avail, uint64_t swap,
                    uint64_t oom)
{
	a->ref_avail = avail;
	a->ref_swap = swap;
	a->ref_oom = oom;
	a->have_ref = true;
}

const char *bvm_alert_check(struct bvm_alert *a,
                            const struct qmp_guest_stats *gs)
{
	unsigned at = has(gs, VIRTIO_BALLOON_S_AVAIL)
	                      ? VIRTIO_BALLOON_S_AVAIL
	                      : VIRTIO_BALLOON_S_MEMFREE;
	uint64_t avail = val(gs, at);
	uint64_t swap = val(gs, VIRTIO_BALLOON_S_SWAP_IN) +
	                val(gs, VIRTIO_BALLOON_S_SWAP_OUT);
	uint64_t oom = val(gs, VIRTIO_BALLOON_S_OOM_KILL);
	const char *why = NULL;

	if (!a->period_ms || !has(gs, at))
		return NULL;
	if (!a->have_ref) {
		set_ref(a, avail, swap, oom);
		return NULL;
	}
	if (oom > a->ref_oom)
		why = "oom-kill";
	else if (swap >= a->ref_swap + BVM_ALERT_SWAP_BYTES)
		why = "swap";
	else if (avail + a->drop_bytes <= a->ref_avail)
		why = "available-drop";
	if (why)
		set_ref(a, avail, swap, oom);
	else if (avail > a->ref_avail)
		a->ref_avail = avail;
	return why;
}

struct json_object *bvm_stats_json(const struct qmp_guest_stats *gs)
{
	struct json_object *o = json_object_new_object();
	struct json_object *st = json_object_new_object();

	if (!o || !st) {
		json_object_put(o);
		json_object_put(st);
		return NULL;
	}
	for (unsigned t = 0; t < VIRTIO_BALLOON_S_NR; t++) {
		int64_t v = has(gs, t) ? (int64_t)gs->val[t] : -1;
		json_object_object_add(st, bvm_qmp_stat_name(t),
		                       json_object_new_int64(v));
	}
	json_object_object_add(o, "last-update",
	                       json_object_new_int64(gs->last_update));
	json_object_object_add(o, "stats", st);
	return o;
}
