/* SPDX-License-Identifier: MIT */
/*
 * stats_alert.h - balloonvm's guest-stats alerts (x-bvm-stats-alert).
 *
 * QEMU's guest-stats-polling-interval is whole seconds, and a manager that
 * polls qom-get guest-stats learns that a guest ran short one to two
 * seconds late.  While an alert is on, the device asks the guest for its
 * statistics every period_ms instead, and the VMM checks every new sample
 * here: when the guest's available memory has fallen by drop_bytes since
 * the last alert (or since its highest point after it), when it swapped at
 * least 1 MiB, or when it OOM-killed, the VMM emits X_BVM_STATS_ALERT with
 * the sample (the same object qom-get guest-stats returns, plus "reason").
 * Idle guests cost their manager nothing; a manager that understands the
 * event reacts within one period.  QEMU has no such event: for QEMU guests
 * the 1 s polling floor stays (docs/balloonvm.md, "Stats alerts").
 */
#ifndef BVM_STATS_ALERT_H
#define BVM_STATS_ALERT_H

#include <stdbool.h>
#include <stdint.h>

#include "qmp_cmds.h"

#define BVM_ALERT_MIN_MS     10u           /* shortest sampling period */
#define BVM_ALERT_MAX_MS     60000u        /* longest */
#define BVM_ALERT_DROP_DFL   (16ull << 20) /* bytes of available memory */
#define BVM_ALERT_SWAP_BYTES (1ull << 20)  /* swap in + out that alerts */

struct bvm_alert {
	uint32_t period_ms;  /* sampling period, 0 = off */
	uint64_t drop_bytes; /* decline of available memory that alerts */
	/* the reference the next sample is compared with */
	bool have_ref;
	uint64_t ref_avail, ref_swap, ref_oom;
};

/*
 * Validate and apply x-bvm-stats-alert's arguments: @period_ms 0 (off) or
 * BVM_ALERT_MIN_MS..BVM_ALERT_MAX_MS, @drop_bytes 4096..2^40 (bytes).
 * Forgets the reference (the next sample only sets it).  Returns 0, or
 * -EINVAL with a message in @err (QMP_ERR_LEN bytes) and @a unchanged.
 */
int bvm_alert_config(struct bvm_alert *a, int64_t period_ms, int64_t drop_bytes,
                     char *err);

/*
 * Check one new sample.  Returns the reason ("available-drop", "swap",
 * "oom-kill") when it should be announced, and the sample becomes the
 * reference; NULL otherwise (the reference keeps the highest available
 * memory seen since).  Always NULL while off, for the first sample after
 * (re)configuration, and for samples without available or free memory.
 */
const char *bvm_alert_check(struct bvm_alert *a,
                            const struct qmp_guest_stats *gs);

/* {"last-update": s, "stats": {name: value or -1}} as qom-get guest-stats
 * shows it (new reference, NULL on ENOMEM). */
struct json_object *bvm_stats_json(const struct qmp_guest_stats *gs);

#endif
