/* SPDX-License-Identifier: MIT */
/*
 * wait.h - `balloonctl set --wait`: after balloond accepted a target, poll
 * `info` until the VM's actual size is within tolerance of it.
 *
 * Tolerance: max(1 MiB, 1 % of the target) in bytes.  The balloon moves in
 * 4 KiB pages and a guest may stop a little short (its driver's floor), so
 * exact equality is not a fair finish line.
 */
#ifndef BALLOONCTL_WAIT_H
#define BALLOONCTL_WAIT_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

#include "client.h"
#include "ctl.h"

struct ctl_wait {
	const char *vm;
	uint64_t target;    /* bytes, as the daemon accepted it */
	uint64_t start;     /* bytes: actual when the target was set */
	uint64_t tolerance; /* bytes: bctl_wait_tolerance(target) */
};

enum ctl_wait_state {
	CTL_WAIT_MORE, /* keep polling */
	CTL_WAIT_DONE, /* actual within tolerance of the target */
	CTL_WAIT_FAIL, /* lost, unreachable or target changed: err filled */
};

/* max(1 MiB, target / 100), bytes. */
uint64_t bctl_wait_tolerance(uint64_t target);

/* Initialise from the set reply (a VM object); @requested is used if the
 * reply lacks "target". */
void bctl_wait_init(struct ctl_wait *w, const char *vm, uint64_t requested,
                    struct json_object *set_reply);

/* Judge one `info` reply. */
enum ctl_wait_state bctl_wait_check(const struct ctl_wait *w,
                                    struct json_object *vm,
                                    struct ctl_err *err);

/* Share of the way from start to target covered at @actual, 0..100. */
unsigned bctl_wait_percent(const struct ctl_wait *w, uint64_t actual);

/* "web: actual 812 MiB -> target 512 MiB (62%)" into @buf. */
char *bctl_wait_line(const struct ctl_wait *w, uint64_t actual, char *buf,
                     size_t len);

/*
 * The loop: poll every io->poll_ms until done, failure, or @timeout_s.
 * Progress goes to io->out (rewritten in place on a tty, one line per change
 * otherwise, none with --json, where the final VM object is printed).
 * Returns CTL_EXIT_OK, or CTL_EXIT_FAIL after printing one error line.
 */
int bctl_wait_run(struct ctl_io *io, struct ctl_wait *w, double timeout_s);

#endif
