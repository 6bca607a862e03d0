/* SPDX-License-Identifier: MIT */
/*
 * run_ctl.h - TEST CODE ONLY: run balloonctl's bctl_main() in-process with
 * captured stdout/stderr, against a fake_daemon started per test.
 */
#ifndef BALLOONCTL_RUN_CTL_H
#define BALLOONCTL_RUN_CTL_H

#include <json-c/json.h>

#include "fake_daemon.h"

#define MiB (1024ull * 1024ull)
#define GiB (1024ull * MiB)

struct run {
	int rc;
	char *out, *err;
};

void run_free(struct run *r);

/* balloonctl [--socket SOCK] WORDS... (NULL-terminated); SOCK NULL: none. */
struct run ctl(const char *sock, ...);

/* cmocka setup/teardown: *state is a started struct fake_daemon. */
int fake_setup(void **state);
int fake_teardown(void **state);

/* stdout parsed as JSON (fails the test if it is not). */
struct json_object *json_out(const struct run *r);

#endif
