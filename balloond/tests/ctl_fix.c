/* SPDX-License-Identifier: MIT */
/* ctl_fix.c - see ctl_fix.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ctl_fix.h"

int fix_setup(void **state)
{
	struct ctl_fix *t = calloc(1, sizeof(*t));

	rig_setup(&t->r, 100);
	assert_int_equal(
	        fake_qmp_start(&t->fq, rig_path(&t->r, "web.qmp"), 1 * GiB), 0);
	t->fq.boot = 1 * GiB;
	rig_start(&t->r);
	*state = t;
	return 0;
}

int fix_teardown(void **state)
{
	struct ctl_fix *t = *state;

	rig_stop(&t->r);
	fake_qmp_stop(&t->fq);
	rig_teardown(&t->r);
	free(t);
	return 0;
}

/* Send a request that must be refused with @code and change nothing. */
void fix_refused(struct ctl_fix *t, const char *code, const char *line)
{
	char *before = rig_state_text(&t->r), *after;
	int balloons = fake_qmp_count(&t->fq, "balloon");
	struct json_object *rep = rig_rpc(&t->r, line);

	if (strcmp(rig_code(rep), code))
		fail_msg("%s: got '%s', want '%s'", line, rig_code(rep), code);
	rig_pump(&t->r, 30);
	after = rig_state_text(&t->r);
	assert_string_equal(before, after);
	assert_int_equal(fake_qmp_count(&t->fq, "balloon"), balloons);
	json_object_put(rep);
	free(before);
	free(after);
}

struct json_object *fix_ok(struct ctl_fix *t, const char *line)
{
	struct json_object *rep = rig_rpc(&t->r, line);

	if (strcmp(rig_code(rep), ""))
		fail_msg("%s: error '%s': %s", line, rig_code(rep),
		         rep ? json_object_to_json_string(rep) : "");
	return rep;
}

void fix_add_web(struct ctl_fix *t, const char *extra)
{
	struct json_object *rep =
	        rig_rpcf(&t->r,
	                 "{\"v\":1,\"cmd\":\"add\",\"args\":{\"vm\":\"web\","
	                 "\"qmp\":\"%s\"%s}}",
	                 t->fq.path, extra);

	assert_string_equal(rig_code(rep), "");
	assert_string_equal(json_object_get_string(rig_result(rep, "state")),
	                    "connected");
	json_object_put(rep);
}
