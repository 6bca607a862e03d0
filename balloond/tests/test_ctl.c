/* SPDX-License-Identifier: MIT */
/*
 * The control protocol end to end in-process: a real control socket, a fake
 * QMP VM in a thread, every verb, every error code, and for every refused
 * request a check that nothing changed (state and QMP traffic).  Stats,
 * host and QMP events: test_ctl_events.c; the socket itself (modes, peer
 * check, one daemon per socket/state): test_ctl_socket.c.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <bc_util.h>

#include "ctl.h"
#include "ctl_fix.h"

static void test_framing(void **state)
{
	struct ctl_fix *t = *state;
	struct json_object *rep, *v;

	rep = fix_ok(t, "{\"v\":1,\"id\":7,\"cmd\":\"version\"}");
	assert_true(json_object_object_get_ex(rep, "id", &v));
	assert_int_equal(json_object_get_int(v), 7);
	assert_true(json_object_object_get_ex(rep, "v", &v));
	assert_int_equal(json_object_get_int(v), 1);
	assert_string_equal(json_object_get_string(rig_result(rep, "version")),
	                    BALLOOND_VERSION);
	assert_int_equal(rig_u64(rig_result(rep, NULL), "protocol"), 1);
	json_object_put(rep);
	rep = fix_ok(t,
	             "{\"cmd\":\"version\",\"id\":\"abc\"}"); /* v optional */
	assert_true(json_object_object_get_ex(rep, "id", &v));
	assert_string_equal(json_object_get_string(v), "abc");
	json_object_put(rep);
	rep = rig_rpc(&t->r, "{\"v\":2,\"id\":3,\"cmd\":\"version\"}");
	assert_string_equal(rig_code(rep), "version");
	assert_true(json_object_object_get_ex(rep, "id", &v));
	json_object_put(rep);
	fix_refused(t, "version", "{\"v\":\"1\",\"cmd\":\"list\"}");
	fix_refused(t, "bad-request", "{\"v\":1}");
	fix_refused(t, "bad-request", "{\"v\":1,\"cmd\":5}");
	fix_refused(t, "bad-request", "[1,2]");
	fix_refused(t, "bad-request", "not json at all");
	fix_refused(t, "bad-request", "{\"v\":1,\"cmd\":\"list\"} trailing");
	fix_refused(t, "bad-request", "{\"v\":1,\"cmd\":\"info\",\"args\":[]}");
	fix_refused(t, "unknown-cmd", "{\"v\":1,\"cmd\":\"explode\"}");

	/* over-long line: one error, then the connection still works */
	size_t big = CTL_MAX_LINE + 1000;
	char *line = malloc(big + 1);
	memset(line, ' ', big);
	memcpy(line, "{\"v\":1,\"cmd\":\"list\",\"x\":\"", 25);
	line[big - 2] = '"';
	line[big - 1] = '}';
	line[big] = '\0';
	fix_refused(t, "bad-request", line);
	free(line);
	json_object_put(fix_ok(t, "{\"v\":1,\"cmd\":\"list\"}"));

	/* two requests in one write: two replies, in order */
	const char two[] = "{\"v\":1,\"id\":1,\"cmd\":\"version\"}\n"
	                   "{\"v\":1,\"id\":2,\"cmd\":\"nope\"}";
	rep = rig_rpc(&t->r, two);
	assert_true(json_object_object_get_ex(rep, "id", &v));
	assert_int_equal(json_object_get_int(v), 1);
	assert_string_equal(rig_code(rep), "");
	json_object_put(rep);
	rep = rig_rpc(&t->r, ""); /* a blank line is skipped; read reply 2 */
	assert_true(json_object_object_get_ex(rep, "id", &v));
	assert_int_equal(json_object_get_int(v), 2);
	assert_string_equal(rig_code(rep), "unknown-cmd");
	json_object_put(rep);
}

static void test_add_info_list_remove(void **state)
{
	struct ctl_fix *t = *state;
	struct json_object *rep;
	char req[512];

	fix_refused(t, "bad-request", "{\"v\":1,\"cmd\":\"add\"}");
	fix_refused(t, "bad-request",
	            "{\"v\":1,\"cmd\":\"add\",\"args\":{\"vm\":\"web\"}}");
	fix_refused(t, "bad-request",
	            "{\"v\":1,\"cmd\":\"add\",\"args\":{\"vm\":\"w b\",\"qmp\":"
	            "\"/x\"}}");
	fix_refused(
	        t, "bad-request",
	        "{\"v\":1,\"cmd\":\"add\",\"args\":{\"vm\":\"web\",\"qmp\":5}"
	        "}");
	fix_refused(t, "bad-request",
	            "{\"v\":1,\"cmd\":\"add\",\"args\":{\"vm\":\"web\",\"qmp\":"
	            "\"/x\",\"shares\":0}}");
	fix_refused(t, "bad-request",
	            "{\"v\":1,\"cmd\":\"add\",\"args\":{\"vm\":\"web\",\"qmp\":"
	            "\"/x\",\"max\":0}}");
	fix_refused(t, "bad-request",
	            "{\"v\":1,\"cmd\":\"add\",\"args\":{\"vm\":\"web\",\"qmp\":"
	            "\"/x\",\"min\":-5}}");
	fix_refused(t, "min-above-max",
	            "{\"v\":1,\"cmd\":\"add\",\"args\":{\"vm\":\"web\",\"qmp\":"
	            "\"/x\",\"min\":2000,\"max\":1000}}");
	fix_add_web(t, ",\"shares\":1500");
	rep = fix_ok(t, "{\"v\":1,\"cmd\":\"info\",\"args\":{\"vm\":\"web\"}}");
	/* max learned from QMP's base memory; target adopted from actual */
	assert_int_equal(rig_u64(rig_result(rep, NULL), "max"), 1 * GiB);
	assert_int_equal(rig_u64(rig_result(rep, NULL), "target"), 1 * GiB);
	assert_int_equal(rig_u64(rig_result(rep, NULL), "actual"), 1 * GiB);
	assert_int_equal(rig_u64(rig_result(rep, NULL), "shares"), 1500);
	assert_string_equal(json_object_get_string(rig_result(rep, "status")),
	                    "running");
	assert_int_equal(rig_u64(rig_result(rep, NULL), "errors"), 0);
	assert_false(json_object_get_boolean(rig_result(rep, "pinned")));
	json_object_put(rep);
	assert_int_equal(fake_qmp_count(&t->fq, "balloon"), 0);
	snprintf(req, sizeof(req),
	         "{\"v\":1,\"cmd\":\"add\",\"args\":{\"vm\":\"web\",\"qmp\":"
	         "\"%s\"}}",
	         t->fq.path);
	fix_refused(t, "exists", req);
	fix_refused(t, "unknown-vm",
	            "{\"v\":1,\"cmd\":\"info\",\"args\":{\"vm\":\"nope\"}}");
	fix_refused(t, "bad-request", "{\"v\":1,\"cmd\":\"info\"}");
	rep = fix_ok(t, "{\"v\":1,\"cmd\":\"list\"}");
	assert_int_equal(json_object_array_length(rig_result(rep, "vms")), 1);
	json_object_put(rep);
	fix_refused(t, "unknown-vm",
	            "{\"v\":1,\"cmd\":\"remove\",\"args\":{\"vm\":\"nope\"}}");
	json_object_put(fix_ok(
	        t, "{\"v\":1,\"cmd\":\"remove\",\"args\":{\"vm\":\"web\"}}"));
	rep = fix_ok(t, "{\"v\":1,\"cmd\":\"list\"}");
	assert_int_equal(json_object_array_length(rig_result(rep, "vms")), 0);
	json_object_put(rep);
	/* removing left the balloon alone */
	assert_int_equal(fake_qmp_count(&t->fq, "balloon"), 0);
}

static bool has_pinned_512(void *arg)
{
	struct ctl_fix *t = arg;
	char *text = NULL;
	bool yes;

	if (bc_read_file(t->r.conf.state_path, 1 << 20, &text, NULL))
		return false;
	yes = strstr(text, "\"target\":536870912") &&
	      strstr(text, "\"pinned\":true");
	free(text);
	return yes;
}

static void test_set(void **state)
{
	struct ctl_fix *t = *state;
	struct json_object *rep;

	fix_add_web(t, ",\"min\":268435456");
	fix_refused(
	        t, "below-min",
	        "{\"v\":1,\"cmd\":\"set\",\"args\":{\"vm\":\"web\",\"target\":"
	        "134217728}}");
	fix_refused(
	        t, "above-max",
	        "{\"v\":1,\"cmd\":\"set\",\"args\":{\"vm\":\"web\",\"target\":"
	        "2147483648}}");
	fix_refused(t, "bad-request",
	            "{\"v\":1,\"cmd\":\"set\",\"args\":{\"vm\":\"web\"}}");
	fix_refused(
	        t, "bad-request",
	        "{\"v\":1,\"cmd\":\"set\",\"args\":{\"vm\":\"web\",\"target\":"
	        "\"512M\"}}");
	fix_refused(
	        t, "bad-request",
	        "{\"v\":1,\"cmd\":\"set\",\"args\":{\"vm\":\"web\",\"target\":"
	        "1.5}}");
	fix_refused(
	        t, "unknown-vm",
	        "{\"v\":1,\"cmd\":\"set\",\"args\":{\"vm\":\"db\",\"target\":"
	        "1}}");
	rep = fix_ok(t, "{\"v\":1,\"cmd\":\"set\",\"args\":{\"vm\":\"web\","
	                "\"target\":536870912}}");
	assert_int_equal(rig_u64(rig_result(rep, NULL), "target"), 512 * MiB);
	assert_true(json_object_get_boolean(rig_result(rep, "pinned")));
	assert_string_equal(json_object_get_string(rig_result(rep, "reason")),
	                    "pinned");
	json_object_put(rep);
	assert_int_equal(fake_qmp_count(&t->fq, "balloon 536870912"), 1);
	/* persisted at once, not only at exit (kill -9 safe) */
	assert_true(has_pinned_512(t));
	/* actual followed (BALLOON_CHANGE or the next poll; the event alone:
	 * test_ctl_events.c) */
	rig_pump(&t->r, 50);
	assert_int_equal(bd_vm_find(&t->r.bd, "web")->actual, 512 * MiB);

	/* QEMU refuses: the error carries its desc; nothing changes */
	t->fq.balloon_error = "No balloon device has been activated";
	rep = rig_rpc(&t->r, "{\"v\":1,\"cmd\":\"set\",\"args\":{\"vm\":"
	                     "\"web\",\"target\":805306368}}");
	assert_string_equal(rig_code(rep), "qmp");
	assert_non_null(strstr(json_object_to_json_string(rep),
	                       "No balloon device has been activated"));
	json_object_put(rep);
	t->fq.balloon_error = NULL;
	assert_int_equal(bd_vm_find(&t->r.bd, "web")->target, 512 * MiB);
	assert_int_equal(bd_vm_errors(bd_vm_find(&t->r.bd, "web")), 1);

	rep = fix_ok(t, "{\"v\":1,\"cmd\":\"policy-release\",\"args\":{\"vm\":"
	                "\"web\"}}");
	assert_false(json_object_get_boolean(rig_result(rep, "pinned")));
	assert_string_equal(json_object_get_string(rig_result(rep, "reason")),
	                    "none");
	assert_int_equal(rig_u64(rig_result(rep, NULL), "target"), 512 * MiB);
	json_object_put(rep);
	fix_refused(
	        t, "unknown-vm",
	        "{\"v\":1,\"cmd\":\"policy-release\",\"args\":{\"vm\":\"x\"}}");
}

static void test_unreachable(void **state)
{
	struct ctl_fix *t = *state;
	struct json_object *rep;

	rep = fix_ok(t,
	             "{\"v\":1,\"cmd\":\"add\",\"args\":{\"vm\":\"ghost\","
	             "\"qmp\":\"/nonexistent/ghost.qmp\",\"max\":1073741824}}");
	assert_string_equal(json_object_get_string(rig_result(rep, "state")),
	                    "connecting");
	json_object_put(rep);
	fix_refused(t, "unreachable",
	            "{\"v\":1,\"cmd\":\"set\",\"args\":{\"vm\":\"ghost\","
	            "\"target\":"
	            "536870912}}");
}

static bool target_768(void *arg)
{
	return ((struct vm *)arg)->target == 768 * MiB;
}

static void test_min_max_shares(void **state)
{
	struct ctl_fix *t = *state;
	struct json_object *rep;
	struct vm *vm;

	fix_add_web(t, "");
	vm = bd_vm_find(&t->r.bd, "web");
	json_object_put(fix_ok(t, "{\"v\":1,\"cmd\":\"set\",\"args\":{\"vm\":"
	                          "\"web\",\"target\":536870912}}"));
	fix_refused(t, "min-above-max",
	            "{\"v\":1,\"cmd\":\"min\",\"args\":{\"vm\":\"web\",\"min\":"
	            "2147483648}}");
	fix_refused(t, "bad-request",
	            "{\"v\":1,\"cmd\":\"min\",\"args\":{\"vm\":\"web\"}}");
	fix_refused(
	        t, "unknown-vm",
	        "{\"v\":1,\"cmd\":\"min\",\"args\":{\"vm\":\"x\",\"min\":1}}");
	/* raising min above the target raises the target */
	rep = fix_ok(t, "{\"v\":1,\"cmd\":\"min\",\"args\":{\"vm\":\"web\","
	                "\"min\":805306368}}");
	assert_int_equal(rig_u64(rig_result(rep, NULL), "min"), 768 * MiB);
	json_object_put(rep);
	assert_true(rig_until(&t->r, target_768, vm, 2000));
	assert_int_equal(fake_qmp_count(&t->fq, "balloon 805306368"), 1);
	assert_int_equal(vm->target, 768 * MiB);

	fix_refused(t, "min-above-max",
	            "{\"v\":1,\"cmd\":\"max\",\"args\":{\"vm\":\"web\",\"max\":"
	            "536870912}}");
	fix_refused(
	        t, "bad-request",
	        "{\"v\":1,\"cmd\":\"max\",\"args\":{\"vm\":\"web\",\"max\":0}"
	        "}");
	fix_refused(t, "above-max",
	            "{\"v\":1,\"cmd\":\"max\",\"args\":{\"vm\":\"web\",\"max\":"
	            "2147483648}}");
	rep = fix_ok(t, "{\"v\":1,\"cmd\":\"max\",\"args\":{\"vm\":\"web\","
	                "\"max\":943718400}}");
	assert_int_equal(rig_u64(rig_result(rep, NULL), "max"), 900 * MiB);
	json_object_put(rep);

	fix_refused(t, "bad-request",
	            "{\"v\":1,\"cmd\":\"shares\",\"args\":{\"vm\":\"web\","
	            "\"shares\":0}}");
	fix_refused(t, "bad-request",
	            "{\"v\":1,\"cmd\":\"shares\",\"args\":{\"vm\":\"web\","
	            "\"shares\":2000000}}");
	fix_refused(t, "bad-request",
	            "{\"v\":1,\"cmd\":\"shares\",\"args\":{\"vm\":\"web\","
	            "\"shares\":\"many\"}}");
	fix_refused(t, "unknown-vm",
	            "{\"v\":1,\"cmd\":\"shares\",\"args\":{\"vm\":\"x\","
	            "\"shares\":5}}");
	rep = fix_ok(t, "{\"v\":1,\"cmd\":\"shares\",\"args\":{\"vm\":\"web\","
	                "\"shares\":3000}}");
	assert_int_equal(rig_u64(rig_result(rep, NULL), "shares"), 3000);
	json_object_put(rep);
	assert_int_equal(vm->shares, 3000);
}

/* A peer without query-memory-size-summary (QEMU before 2.11): the boot
 * size is unknown ("boot": null), max starts at the first actual seen and
 * the user may raise it (QEMU clamps a balloon target to its RAM size).
 * With the command, boot is reported and max cannot exceed it. */
static void test_boot_size(void **state)
{
	struct ctl_fix *t = *state;
	struct json_object *rep, *boot;

	t->fq.boot = 0;
	fix_add_web(t, "");
	rep = fix_ok(t, "{\"v\":1,\"cmd\":\"info\",\"args\":{\"vm\":\"web\"}}");
	assert_true(json_object_object_get_ex(rig_result(rep, NULL), "boot",
	                                      &boot));
	assert_null(boot);
	assert_int_equal(rig_u64(rig_result(rep, NULL), "max"), 1 * GiB);
	json_object_put(rep);
	rep = fix_ok(t, "{\"v\":1,\"cmd\":\"max\",\"args\":{\"vm\":\"web\","
	                "\"max\":2147483648}}");
	assert_int_equal(rig_u64(rig_result(rep, NULL), "max"), 2 * GiB);
	json_object_put(rep);
	json_object_put(fix_ok(t, "{\"v\":1,\"cmd\":\"remove\",\"args\":{"
	                          "\"vm\":\"web\"}}"));

	t->fq.boot = 1 * GiB;
	fix_add_web(t, "");
	rep = fix_ok(t, "{\"v\":1,\"cmd\":\"info\",\"args\":{\"vm\":\"web\"}}");
	assert_int_equal(rig_u64(rig_result(rep, NULL), "boot"), 1 * GiB);
	json_object_put(rep);
	fix_refused(t, "above-max",
	            "{\"v\":1,\"cmd\":\"max\",\"args\":{\"vm\":\"web\",\"max\":"
	            "2147483648}}");
}

static void test_policy_verbs(void **state)
{
	struct ctl_fix *t = *state;
	struct json_object *rep;
	char *text = NULL;

	rep = fix_ok(t, "{\"v\":1,\"cmd\":\"policy-get\"}");
	assert_false(json_object_get_boolean(rig_result(rep, "enabled")));
	assert_string_equal(json_object_get_string(rig_result(rep, "kind")),
	                    "idletax");
	assert_true(json_object_get_double(rig_result(rep, "tax_rate")) ==
	            0.75);
	assert_int_equal(rig_u64(rig_result(rep, NULL), "margin"), 64 * MiB);
	assert_int_equal(rig_u64(rig_result(rep, NULL), "tick_ms"), 100);
	json_object_put(rep);
	fix_refused(
	        t, "bad-request",
	        "{\"v\":1,\"cmd\":\"policy-set\",\"args\":{\"tax_rate\":0.5,"
	        "\"frobnicate\":1}}");
	fix_refused(t, "bad-request",
	            "{\"v\":1,\"cmd\":\"policy-set\",\"args\":{\"tax_rate\":"
	            "\"lots\"}"
	            "}");
	fix_refused(
	        t, "bad-request",
	        "{\"v\":1,\"cmd\":\"policy-set\",\"args\":{\"tax_rate\":1.5}}");
	fix_refused(
	        t, "bad-request",
	        "{\"v\":1,\"cmd\":\"policy-set\",\"args\":{\"kind\":\"magic\"}"
	        "}");
	fix_refused(t, "bad-request",
	            "{\"v\":1,\"cmd\":\"policy-set\",\"args\":{\"soft_pct\":1,"
	            "\"hard_pct\":3}}");
	fix_refused(
	        t, "bad-request",
	        "{\"v\":1,\"cmd\":\"policy-set\",\"args\":{\"margin\":-1}}");
	fix_refused(
	        t, "bad-request",
	        "{\"v\":1,\"cmd\":\"policy-set\",\"args\":{\"enabled\":1}}");
	fix_refused(
	        t, "bad-request",
	        "{\"v\":1,\"cmd\":\"policy-set\",\"args\":{\"tick_ms\":0}}");
	rep = fix_ok(t,
	             "{\"v\":1,\"cmd\":\"policy-set\",\"args\":{\"tax_rate\":"
	             "0.5,\"tick_ms\":200,\"enabled\":true,\"kind\":\"mom\","
	             "\"margin\":33554432}}");
	assert_true(json_object_get_boolean(rig_result(rep, "enabled")));
	assert_string_equal(json_object_get_string(rig_result(rep, "kind")),
	                    "mom");
	assert_true(json_object_get_double(rig_result(rep, "tax_rate")) == 0.5);
	json_object_put(rep);
	assert_true(t->r.bd.policy_enabled);
	assert_int_equal(t->r.bd.params.kind, BLN_POLICY_MOM);
	assert_int_equal(t->r.bd.params.tick_ms, 200);
	assert_int_equal(t->r.bd.params.margin_bytes, 32 * MiB);
	assert_int_equal(
	        bc_read_file(t->r.conf.state_path, 1 << 20, &text, NULL), 0);
	assert_non_null(strstr(text, "\"kind\":\"mom\""));
	assert_non_null(strstr(text, "\"tax_rate\":0.5"));
	free(text);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, fix_setup, fix_teardown)
	const struct CMUnitTest tests[] = {
	        T(test_framing),
	        T(test_add_info_list_remove),
	        T(test_set),
	        T(test_unreachable),
	        T(test_min_max_shares),
	        T(test_boot_size),
	        T(test_policy_verbs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
