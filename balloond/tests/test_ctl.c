/* SPDX-License-Identifier: MIT */
/*
 * The control protocol end to end in-process: a real control socket, a fake
 * QMP VM in a thread, every verb, every error code, and for every refused
 * request a check that nothing changed (state and QMP traffic).
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <bc_util.h>

#include "ctl.h"
#include "fake_qmp.h"
#include "rig.h"

struct t {
	struct rig r;
	struct fake_qmp fq;
};

static int setup(void **state)
{
	struct t *t = calloc(1, sizeof(*t));

	rig_setup(&t->r, 100);
	assert_int_equal(
	        fake_qmp_start(&t->fq, rig_path(&t->r, "web.qmp"), 1 * GiB), 0);
	t->fq.boot = 1 * GiB;
	rig_start(&t->r);
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct t *t = *state;

	rig_stop(&t->r);
	fake_qmp_stop(&t->fq);
	rig_teardown(&t->r);
	free(t);
	return 0;
}

/* Send a request that must be refused with @code and change nothing. */
static void refused(struct t *t, const char *code, const char *line)
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

static struct json_object *ok(struct t *t, const char *line)
{
	struct json_object *rep = rig_rpc(&t->r, line);

	if (strcmp(rig_code(rep), ""))
		fail_msg("%s: error '%s': %s", line, rig_code(rep),
		         rep ? json_object_to_json_string(rep) : "");
	return rep;
}

static void add_web(struct t *t, const char *extra)
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

static void test_framing(void **state)
{
	struct t *t = *state;
	struct json_object *rep, *v;

	rep = ok(t, "{\"v\":1,\"id\":7,\"cmd\":\"version\"}");
	assert_true(json_object_object_get_ex(rep, "id", &v));
	assert_int_equal(json_object_get_int(v), 7);
	assert_true(json_object_object_get_ex(rep, "v", &v));
	assert_int_equal(json_object_get_int(v), 1);
	assert_string_equal(json_object_get_string(rig_result(rep, "version")),
	                    BALLOOND_VERSION);
	assert_int_equal(rig_u64(rig_result(rep, NULL), "protocol"), 1);
	json_object_put(rep);
	rep = ok(t, "{\"cmd\":\"version\",\"id\":\"abc\"}"); /* v optional */
	assert_true(json_object_object_get_ex(rep, "id", &v));
	assert_string_equal(json_object_get_string(v), "abc");
	json_object_put(rep);
	rep = rig_rpc(&t->r, "{\"v\":2,\"id\":3,\"cmd\":\"version\"}");
	assert_string_equal(rig_code(rep), "version");
	assert_true(json_object_object_get_ex(rep, "id", &v));
	json_object_put(rep);
	refused(t, "version", "{\"v\":\"1\",\"cmd\":\"list\"}");
	refused(t, "bad-request", "{\"v\":1}");
	refused(t, "bad-request", "{\"v\":1,\"cmd\":5}");
	refused(t, "bad-request", "[1,2]");
	refused(t, "bad-request", "not json at all");
	refused(t, "bad-request", "{\"v\":1,\"cmd\":\"list\"} trailing");
	refused(t, "bad-request", "{\"v\":1,\"cmd\":\"info\",\"args\":[]}");
	refused(t, "unknown-cmd", "{\"v\":1,\"cmd\":\"explode\"}");

	/* over-long line: one error, then the connection still works */
	size_t big = CTL_MAX_LINE + 1000;
	char *line = malloc(big + 1);
	memset(line, ' ', big);
	memcpy(line, "{\"v\":1,\"cmd\":\"list\",\"x\":\"", 25);
	line[big - 2] = '"';
	line[big - 1] = '}';
	line[big] = '\0';
	refused(t, "bad-request", line);
	free(line);
	json_object_put(ok(t, "{\"v\":1,\"cmd\":\"list\"}"));

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
	struct t *t = *state;
	struct json_object *rep;
	char req[512];

	refused(t, "bad-request", "{\"v\":1,\"cmd\":\"add\"}");
	refused(t, "bad-request",
	        "{\"v\":1,\"cmd\":\"add\",\"args\":{\"vm\":\"web\"}}");
	refused(t, "bad-request",
	        "{\"v\":1,\"cmd\":\"add\",\"args\":{\"vm\":\"w b\",\"qmp\":"
	        "\"/x\"}}");
	refused(t, "bad-request",
	        "{\"v\":1,\"cmd\":\"add\",\"args\":{\"vm\":\"web\",\"qmp\":5}"
	        "}");
	refused(t, "bad-request",
	        "{\"v\":1,\"cmd\":\"add\",\"args\":{\"vm\":\"web\",\"qmp\":"
	        "\"/x\",\"shares\":0}}");
	refused(t, "bad-request",
	        "{\"v\":1,\"cmd\":\"add\",\"args\":{\"vm\":\"web\",\"qmp\":"
	        "\"/x\",\"max\":0}}");
	refused(t, "bad-request",
	        "{\"v\":1,\"cmd\":\"add\",\"args\":{\"vm\":\"web\",\"qmp\":"
	        "\"/x\",\"min\":-5}}");
	refused(t, "min-above-max",
	        "{\"v\":1,\"cmd\":\"add\",\"args\":{\"vm\":\"web\",\"qmp\":"
	        "\"/x\",\"min\":2000,\"max\":1000}}");
	add_web(t, ",\"shares\":1500");
	rep = ok(t, "{\"v\":1,\"cmd\":\"info\",\"args\":{\"vm\":\"web\"}}");
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
	refused(t, "exists", req);
	refused(t, "unknown-vm",
	        "{\"v\":1,\"cmd\":\"info\",\"args\":{\"vm\":\"nope\"}}");
	refused(t, "bad-request", "{\"v\":1,\"cmd\":\"info\"}");
	rep = ok(t, "{\"v\":1,\"cmd\":\"list\"}");
	assert_int_equal(json_object_array_length(rig_result(rep, "vms")), 1);
	json_object_put(rep);
	refused(t, "unknown-vm",
	        "{\"v\":1,\"cmd\":\"remove\",\"args\":{\"vm\":\"nope\"}}");
	json_object_put(ok(
	        t, "{\"v\":1,\"cmd\":\"remove\",\"args\":{\"vm\":\"web\"}}"));
	rep = ok(t, "{\"v\":1,\"cmd\":\"list\"}");
	assert_int_equal(json_object_array_length(rig_result(rep, "vms")), 0);
	json_object_put(rep);
	/* removing left the balloon alone */
	assert_int_equal(fake_qmp_count(&t->fq, "balloon"), 0);
}

static bool has_pinned_512(void *arg)
{
	struct t *t = arg;
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
	struct t *t = *state;
	struct json_object *rep;

	add_web(t, ",\"min\":268435456");
	refused(t, "below-min",
	        "{\"v\":1,\"cmd\":\"set\",\"args\":{\"vm\":\"web\",\"target\":"
	        "134217728}}");
	refused(t, "above-max",
	        "{\"v\":1,\"cmd\":\"set\",\"args\":{\"vm\":\"web\",\"target\":"
	        "2147483648}}");
	refused(t, "bad-request",
	        "{\"v\":1,\"cmd\":\"set\",\"args\":{\"vm\":\"web\"}}");
	refused(t, "bad-request",
	        "{\"v\":1,\"cmd\":\"set\",\"args\":{\"vm\":\"web\",\"target\":"
	        "\"512M\"}}");
	refused(t, "bad-request",
	        "{\"v\":1,\"cmd\":\"set\",\"args\":{\"vm\":\"web\",\"target\":"
	        "1.5}}");
	refused(t, "unknown-vm",
	        "{\"v\":1,\"cmd\":\"set\",\"args\":{\"vm\":\"db\",\"target\":"
	        "1}}");
	rep = ok(t, "{\"v\":1,\"cmd\":\"set\",\"args\":{\"vm\":\"web\","
	            "\"target\":536870912}}");
	assert_int_equal(rig_u64(rig_result(rep, NULL), "target"), 512 * MiB);
	assert_true(json_object_get_boolean(rig_result(rep, "pinned")));
	assert_string_equal(json_object_get_string(rig_result(rep, "reason")),
	                    "pinned");
	json_object_put(rep);
	assert_int_equal(fake_qmp_count(&t->fq, "balloon 536870912"), 1);
	/* persisted at once, not only at exit (kill -9 safe) */
	assert_true(has_pinned_512(t));
	/* BALLOON_CHANGE moved actual */
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

	rep = ok(t, "{\"v\":1,\"cmd\":\"policy-release\",\"args\":{\"vm\":"
	            "\"web\"}}");
	assert_false(json_object_get_boolean(rig_result(rep, "pinned")));
	assert_string_equal(json_object_get_string(rig_result(rep, "reason")),
	                    "none");
	assert_int_equal(rig_u64(rig_result(rep, NULL), "target"), 512 * MiB);
	json_object_put(rep);
	refused(t, "unknown-vm",
	        "{\"v\":1,\"cmd\":\"policy-release\",\"args\":{\"vm\":\"x\"}}");
}

static void test_unreachable(void **state)
{
	struct t *t = *state;
	struct json_object *rep;

	rep = ok(t, "{\"v\":1,\"cmd\":\"add\",\"args\":{\"vm\":\"ghost\","
	            "\"qmp\":\"/nonexistent/ghost.qmp\",\"max\":1073741824}}");
	assert_string_equal(json_object_get_string(rig_result(rep, "state")),
	                    "connecting");
	json_object_put(rep);
	refused(t, "unreachable",
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
	struct t *t = *state;
	struct json_object *rep;
	struct vm *vm;

	add_web(t, "");
	vm = bd_vm_find(&t->r.bd, "web");
	json_object_put(ok(t, "{\"v\":1,\"cmd\":\"set\",\"args\":{\"vm\":"
	                      "\"web\",\"target\":536870912}}"));
	refused(t, "min-above-max",
	        "{\"v\":1,\"cmd\":\"min\",\"args\":{\"vm\":\"web\",\"min\":"
	        "2147483648}}");
	refused(t, "bad-request",
	        "{\"v\":1,\"cmd\":\"min\",\"args\":{\"vm\":\"web\"}}");
	refused(t, "unknown-vm",
	        "{\"v\":1,\"cmd\":\"min\",\"args\":{\"vm\":\"x\",\"min\":1}}");
	/* raising min above the target raises the target */
	rep = ok(t, "{\"v\":1,\"cmd\":\"min\",\"args\":{\"vm\":\"web\","
	            "\"min\":805306368}}");
	assert_int_equal(rig_u64(rig_result(rep, NULL), "min"), 768 * MiB);
	json_object_put(rep);
	assert_true(rig_until(&t->r, target_768, vm, 2000));
	assert_int_equal(fake_qmp_count(&t->fq, "balloon 805306368"), 1);
	assert_int_equal(vm->target, 768 * MiB);

	refused(t, "min-above-max",
	        "{\"v\":1,\"cmd\":\"max\",\"args\":{\"vm\":\"web\",\"max\":"
	        "536870912}}");
	refused(t, "bad-request",
	        "{\"v\":1,\"cmd\":\"max\",\"args\":{\"vm\":\"web\",\"max\":0}"
	        "}");
	refused(t, "above-max",
	        "{\"v\":1,\"cmd\":\"max\",\"args\":{\"vm\":\"web\",\"max\":"
	        "2147483648}}");
	rep = ok(t, "{\"v\":1,\"cmd\":\"max\",\"args\":{\"vm\":\"web\","
	            "\"max\":943718400}}");
	assert_int_equal(rig_u64(rig_result(rep, NULL), "max"), 900 * MiB);
	json_object_put(rep);

	refused(t, "bad-request",
	        "{\"v\":1,\"cmd\":\"shares\",\"args\":{\"vm\":\"web\","
	        "\"shares\":0}}");
	refused(t, "bad-request",
	        "{\"v\":1,\"cmd\":\"shares\",\"args\":{\"vm\":\"web\","
	        "\"shares\":2000000}}");
	refused(t, "bad-request",
	        "{\"v\":1,\"cmd\":\"shares\",\"args\":{\"vm\":\"web\","
	        "\"shares\":\"many\"}}");
	refused(t, "unknown-vm",
	        "{\"v\":1,\"cmd\":\"shares\",\"args\":{\"vm\":\"x\","
	        "\"shares\":5}}");
	rep = ok(t, "{\"v\":1,\"cmd\":\"shares\",\"args\":{\"vm\":\"web\","
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
	struct t *t = *state;
	struct json_object *rep, *boot;

	t->fq.boot = 0;
	add_web(t, "");
	rep = ok(t, "{\"v\":1,\"cmd\":\"info\",\"args\":{\"vm\":\"web\"}}");
	assert_true(json_object_object_get_ex(rig_result(rep, NULL), "boot",
	                                      &boot));
	assert_null(boot);
	assert_int_equal(rig_u64(rig_result(rep, NULL), "max"), 1 * GiB);
	json_object_put(rep);
	rep = ok(t, "{\"v\":1,\"cmd\":\"max\",\"args\":{\"vm\":\"web\","
	            "\"max\":2147483648}}");
	assert_int_equal(rig_u64(rig_result(rep, NULL), "max"), 2 * GiB);
	json_object_put(rep);
	json_object_put(ok(t, "{\"v\":1,\"cmd\":\"remove\",\"args\":{"
	                      "\"vm\":\"web\"}}"));

	t->fq.boot = 1 * GiB;
	add_web(t, "");
	rep = ok(t, "{\"v\":1,\"cmd\":\"info\",\"args\":{\"vm\":\"web\"}}");
	assert_int_equal(rig_u64(rig_result(rep, NULL), "boot"), 1 * GiB);
	json_object_put(rep);
	refused(t, "above-max",
	        "{\"v\":1,\"cmd\":\"max\",\"args\":{\"vm\":\"web\",\"max\":"
	        "2147483648}}");
}

static bool has_stats(void *arg)
{
	struct vm *vm = arg;

	return vm->stats_updated > 0;
}

static void test_stats_host(void **state)
{
	struct t *t = *state;
	struct json_object *rep, *st;

	refused(t, "unknown-vm",
	        "{\"v\":1,\"cmd\":\"stats\",\"args\":{\"vm\":\"web\"}}");
	add_web(t, "");
	rep = ok(t, "{\"v\":1,\"cmd\":\"stats\",\"args\":{\"vm\":\"web\"}}");
	assert_int_equal(json_object_object_length(rig_result(rep, "stats")),
	                 0);
	json_object_put(rep);
	pthread_mutex_lock(&t->fq.lock);
	snprintf(t->fq.stats, sizeof(t->fq.stats),
	         "{\"stat-swap-in\": 4096, \"stat-free-memory\": 104857600, "
	         "\"stat-total-memory\": 1000000000, \"stat-htlb-pgalloc\": "
	         "-1}");
	t->fq.last_update = bc_wall_s();
	pthread_mutex_unlock(&t->fq.lock);
	assert_true(
	        rig_until(&t->r, has_stats, bd_vm_find(&t->r.bd, "web"), 2000));
	rep = ok(t, "{\"v\":1,\"cmd\":\"stats\",\"args\":{\"vm\":\"web\"}}");
	st = rig_result(rep, "stats");
	assert_int_equal(rig_u64(st, "stat-swap-in"), 4096);
	assert_int_equal(rig_u64(st, "stat-free-memory"), 100 * MiB);
	/* QEMU's -1 means "not reported": left out */
	assert_int_equal(rig_u64(st, "stat-htlb-pgalloc"), UINT64_MAX);
	assert_true(json_object_get_double(rig_result(rep, "last-update")) > 0);
	json_object_put(rep);
	/* guest stats polling was switched on with the tick in seconds */
	assert_true(fake_qmp_count(&t->fq, "qom-set") >= 1);

	rep = ok(t, "{\"v\":1,\"cmd\":\"host\"}");
	assert_int_equal(rig_u64(rig_result(rep, NULL), "total"), 16 * GiB);
	assert_int_equal(rig_u64(rig_result(rep, NULL), "free"), 8 * GiB);
	assert_int_equal(rig_u64(rig_result(rep, NULL), "available"), 12 * GiB);
	assert_string_equal(json_object_get_string(rig_result(rep, "state")),
	                    "high");
	assert_true(json_object_get_boolean(rig_result(rep, "psi-available")));
	json_object_put(rep);
}

static bool alerted(void *arg)
{
	struct vm *vm = arg;

	return vm->alerts > 0 && vm->stats_updated > 0;
}

static bool asked_alert(void *arg)
{
	return fake_qmp_count(arg, "x-bvm-stats-alert") > 0;
}

/* balloonvm peers are asked for stats alerts (a quarter margin); QEMU
 * refuses the command, which is no error; an alert brings stats (even
 * within the second of the last ones) and the size that goes with them. */
static void test_stats_alert(void **state)
{
	struct t *t = *state;
	struct json_object *rep;
	struct vm *vm;
	char ev[512];
	long now = (long)bc_wall_s();

	add_web(t, ""); /* QEMU-like: CommandNotFound */
	vm = bd_vm_find(&t->r.bd, "web");
	assert_true(rig_until(&t->r, asked_alert, &t->fq, 2000));
	rig_pump(&t->r, 50);
	assert_int_equal(vm->cmd_errors, 0);
	json_object_put(ok(t, "{\"v\":1,\"cmd\":\"remove\",\"args\":{"
	                      "\"vm\":\"web\"}}"));
	t->fq.alerts = true;
	add_web(t, "");
	vm = bd_vm_find(&t->r.bd, "web");
	assert_true(rig_until(&t->r, asked_alert, &t->fq, 2000));
	assert_int_equal(
	        fake_qmp_count(&t->fq, "x-bvm-stats-alert 100 16777216"), 1);
	snprintf(ev, sizeof(ev),
	         "{\"event\": \"X_BVM_STATS_ALERT\", \"data\": {\"reason\": "
	         "\"swap\", \"actual\": 805306368, \"last-update\": %ld, "
	         "\"stats\": {\"stat-available-memory\": 41943040, "
	         "\"stat-total-memory\": 800000000, \"stat-swap-out\": -1}}}",
	         now);
	fake_qmp_event(&t->fq, ev);
	assert_true(rig_until(&t->r, alerted, vm, 2000));
	assert_int_equal(vm->alerts, 1);
	assert_int_equal(vm->actual, 768 * MiB);
	rep = ok(t, "{\"v\":1,\"cmd\":\"stats\",\"args\":{\"vm\":\"web\"}}");
	assert_int_equal(
	        rig_u64(rig_result(rep, "stats"), "stat-available-memory"),
	        40 * MiB);
	json_object_put(rep);
	/* the same second again: an alert is newer all the same */
	ev[0] = '\0';
	snprintf(ev, sizeof(ev),
	         "{\"event\": \"X_BVM_STATS_ALERT\", \"data\": {\"reason\": "
	         "\"available-drop\", \"actual\": 805306368, "
	         "\"last-update\": %ld, \"stats\": {\"stat-available-memory\": "
	         "20971520, \"stat-total-memory\": 800000000}}}",
	         now);
	fake_qmp_event(&t->fq, ev);
	for (int i = 0; i < 100 && vm->alerts < 2; i++)
		rig_pump(&t->r, 20);
	assert_int_equal(vm->alerts, 2);
	rep = ok(t, "{\"v\":1,\"cmd\":\"stats\",\"args\":{\"vm\":\"web\"}}");
	assert_int_equal(
	        rig_u64(rig_result(rep, "stats"), "stat-available-memory"),
	        20 * MiB);
	json_object_put(rep);
}

static void test_policy_verbs(void **state)
{
	struct t *t = *state;
	struct json_object *rep;
	char *text = NULL;

	rep = ok(t, "{\"v\":1,\"cmd\":\"policy-get\"}");
	assert_false(json_object_get_boolean(rig_result(rep, "enabled")));
	assert_string_equal(json_object_get_string(rig_result(rep, "kind")),
	                    "idletax");
	assert_true(json_object_get_double(rig_result(rep, "tax_rate")) ==
	            0.75);
	assert_int_equal(rig_u64(rig_result(rep, NULL), "margin"), 64 * MiB);
	assert_int_equal(rig_u64(rig_result(rep, NULL), "tick_ms"), 100);
	json_object_put(rep);
	refused(t, "bad-request",
	        "{\"v\":1,\"cmd\":\"policy-set\",\"args\":{\"tax_rate\":0.5,"
	        "\"frobnicate\":1}}");
	refused(t, "bad-request",
	        "{\"v\":1,\"cmd\":\"policy-set\",\"args\":{\"tax_rate\":"
	        "\"lots\"}"
	        "}");
	refused(t, "bad-request",
	        "{\"v\":1,\"cmd\":\"policy-set\",\"args\":{\"tax_rate\":1.5}}");
	refused(t, "bad-request",
	        "{\"v\":1,\"cmd\":\"policy-set\",\"args\":{\"kind\":\"magic\"}"
	        "}");
	refused(t, "bad-request",
	        "{\"v\":1,\"cmd\":\"policy-set\",\"args\":{\"soft_pct\":1,"
	        "\"hard_pct\":3}}");
	refused(t, "bad-request",
	        "{\"v\":1,\"cmd\":\"policy-set\",\"args\":{\"margin\":-1}}");
	refused(t, "bad-request",
	        "{\"v\":1,\"cmd\":\"policy-set\",\"args\":{\"enabled\":1}}");
	refused(t, "bad-request",
	        "{\"v\":1,\"cmd\":\"policy-set\",\"args\":{\"tick_ms\":0}}");
	rep = ok(t, "{\"v\":1,\"cmd\":\"policy-set\",\"args\":{\"tax_rate\":"
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

static void test_peer_allowed(void **state)
{
	(void)state;
	assert_true(bd_ctl_peer_allowed(0, 0, false, 0));
	assert_true(bd_ctl_peer_allowed(getuid(), 1234, false, 0));
	assert_false(bd_ctl_peer_allowed(65534, 65534, false, 0));
	assert_true(bd_ctl_peer_allowed(65534, 65534, true, 65534));
	assert_false(bd_ctl_peer_allowed(65534, 65534, true, 4321));
}

/* A real peer of another uid: the socket mode lets it in, the credential
 * check must not. */
static void test_permission(void **state)
{
	struct t *t = *state;
	int status = -1;
	pid_t pid;

	if (getuid() != 0)
		fail_msg("this test needs root to switch the peer's uid");
	assert_int_equal(chmod(t->r.dir, 0711), 0);
	assert_int_equal(chmod(t->r.conf.socket_path, 0666), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		char buf[1024] = "";
		ssize_t n, got = 0;
		int fd;
		/* the daemon may refuse and close before our write */
		signal(SIGPIPE, SIG_IGN);
		if (setgid(65534) || setuid(65534))
			_exit(10);
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s",
		         t->r.conf.socket_path);
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
			_exit(11);
		n = write(fd, "{\"v\":1,\"cmd\":\"list\"}\n", 21);
		(void)n;
		while ((n = read(fd, buf + got, sizeof(buf) - 1 - got)) > 0)
			got += n;
		buf[got] = '\0';
		/* one error reply, then the daemon closed (read hit EOF) */
		_exit(strstr(buf, "\"code\":\"permission\"") &&
		                      !strstr(buf, "\"ok\":true")
		              ? 0
		              : 12);
	}
	uint64_t end = bc_now_ms() + 5000;
	while (bc_now_ms() < end) {
		bd_run_once(&t->r.bd, 10);
		if (waitpid(pid, &status, WNOHANG) == pid)
			break;
	}
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	/* the refused peer changed nothing and we still serve root */
	json_object_put(ok(t, "{\"v\":1,\"cmd\":\"list\"}"));
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
	        T(test_framing),
	        T(test_add_info_list_remove),
	        T(test_set),
	        T(test_unreachable),
	        T(test_min_max_shares),
	        T(test_boot_size),
	        T(test_stats_host),
	        T(test_stats_alert),
	        T(test_policy_verbs),
	        cmocka_unit_test(test_peer_allowed),
	        T(test_permission),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
