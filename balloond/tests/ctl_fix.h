/* SPDX-License-Identifier: MIT */
/*
 * ctl_fix.h - cmocka fixture shared by the control-socket tests: a running
 * in-process daemon (rig.h, tick 100 ms) and one fake QMP VM "web.qmp"
 * (1 GiB, boot size 1 GiB) that is not added yet.
 */
#ifndef BD_CTL_FIX_H
#define BD_CTL_FIX_H

#include <json-c/json.h>

#include "fake_qmp.h"
#include "rig.h"

struct ctl_fix {
	struct rig r;
	struct fake_qmp fq;
};

/* cmocka setup/teardown: *state is a struct ctl_fix. */
int fix_setup(void **state);
int fix_teardown(void **state);
/* Send @line: it must be refused with @code and change nothing (state and
 * balloon commands). */
void fix_refused(struct ctl_fix *t, const char *code, const char *line);
/* Send @line: it must succeed; returns the reply (caller puts it). */
struct json_object *fix_ok(struct ctl_fix *t, const char *line);
/* add vm "web" on the fake QMP with extra args @extra (",\"min\":1"...);
 * it must reply connected. */
void fix_add_web(struct ctl_fix *t, const char *extra);

#endif
