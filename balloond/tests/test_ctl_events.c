/* SPDX-License-Identifier: MIT */
/*
 * What comes from the VM side, seen through the control protocol: guest
 * stats (polled, and balloonvm's stats alerts), the host monitor, and the
 * BALLOON_CHANGE event on its own.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <bc_util.h>

#include "ctl_fix.h"

static bool has_stats(void *arg)
{
	struct vm *vm = arg;

	return vm->stats_updated > 0;
}

static void test_stats_host(void **state)
{
	struct ctl_fix *t = *state;
	struct json_object *rep, *st;

	fix_refused(t, "unknown-vm",
	            "{\"v\":1,\"cmd\":\"stats\",\"args\":{\"vm\":\"web\"}}");
	fix_add_web(t, "");
	rep = fix_ok(t,
	             "{\"v\":1,\"cmd\":\"stats\",\"args\":{\"vm\":\"web\"}}");
	assert_int_equal(json_object_object_length(rig_result(rep, "stats")),
	                 0);
	json_object_put(rep);
	pthread_mutex_lock(&t->fq.lock);
	snprintf(t->fq.stats, sizeof(t->fq.stats),
	         "{\"stat-swap-in\": 4096, \"stat-free-memory\": 104857600, "
	         "\"stat-total-memory\": 1000000000, \"stat-htlb-pgalloc\": "
	         "-1, \"stat-htlb-pgfail\": 18446744073709551615}");
	t->fq.last_update = bc_wall_s();
	pthread_mutex_unlock(&t->fq.lock);
	assert_true(
	        rig_until(&t->r, has_stats, bd_vm_find(&t->r.bd, "web"), 2000));
	rep = fix_ok(t,
	             "{\"v\":1,\"cmd\":\"stats\",\"args\":{\"vm\":\"web\"}}");
	st = rig_result(rep, "stats");
	assert_int_equal(rig_u64(st, "stat-swap-in"), 4096);
	assert_int_equal(rig_u64(st, "stat-free-memory"), 100 * MiB);
	/* "Not reported" (-1, or 2^64 - 1 from newer QEMU): left out */
	assert_false(json_object_object_get_ex(st, "stat-htlb-pgalloc", NULL));
	assert_false(json_object_object_get_ex(st, "stat-htlb-pgfail", NULL));
	assert_int_equal(json_object_object_length(st), 3);
	assert_true(json_object_get_double(rig_result(rep, "last-update")) > 0);
	json_object_put(rep);
	/* guest stats polling was switched on with the tick in seconds */
	assert_true(fake_qmp_count(&t->fq, "qom-set") >= 1);

	rep = fix_ok(t, "{\"v\":1,\"cmd\":\"host\"}");
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
	struct ctl_fix *t = *state;
	struct json_object *rep;
	struct vm *vm;
	char ev[512];
	long now = (long)bc_wall_s();

	fix_add_web(t, ""); /* QEMU-like: CommandNotFound */
	vm = bd_vm_find(&t->r.bd, "web");
	assert_true(rig_until(&t->r, asked_alert, &t->fq, 2000));
	rig_pump(&t->r, 50);
	assert_int_equal(vm->cmd_errors, 0);
	json_object_put(fix_ok(t, "{\"v\":1,\"cmd\":\"remove\",\"args\":{"
	                          "\"vm\":\"web\"}}"));
	t->fq.alerts = true;
	fix_add_web(t, "");
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
	rep = fix_ok(t,
	             "{\"v\":1,\"cmd\":\"stats\",\"args\":{\"vm\":\"web\"}}");
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
	rep = fix_ok(t,
	             "{\"v\":1,\"cmd\":\"stats\",\"args\":{\"vm\":\"web\"}}");
	assert_int_equal(
	        rig_u64(rig_result(rep, "stats"), "stat-available-memory"),
	        20 * MiB);
	json_object_put(rep);
}

static bool actual_700(void *arg)
{
	return ((struct vm *)arg)->actual == 700 * MiB;
}

/* Only the event can explain the change: the peer leaves its own size at
 * 1 GiB (a balloon command moves nothing) and stops answering
 * query-balloon, so no poll can bring a new actual; then it announces
 * BALLOON_CHANGE with 700 MiB, and the daemon's info must show that. */
static void test_balloon_change_event(void **state)
{
	struct ctl_fix *t = *state;
	struct json_object *rep;
	struct vm *vm;
	int q0;

	t->fq.follow = false;
	fix_add_web(t, "");
	vm = bd_vm_find(&t->r.bd, "web");
	pthread_mutex_lock(&t->fq.lock);
	t->fq.mute_query = true;
	q0 = 0; /* query-balloons answered so far */
	for (int i = 0; i < t->fq.ncmds; i++)
		q0 += !strcmp(t->fq.cmds[i], "query-balloon");
	pthread_mutex_unlock(&t->fq.lock);
	/* a poll is now stuck at the peer: the daemon sends no other */
	for (int i = 0;
	     i < 100 && fake_qmp_count(&t->fq, "query-balloon") <= q0; i++)
		rig_pump(&t->r, 20);
	assert_true(fake_qmp_count(&t->fq, "query-balloon") > q0);
	json_object_put(fix_ok(t, "{\"v\":1,\"cmd\":\"set\",\"args\":{"
	                          "\"vm\":\"web\",\"target\":734003200}}"));
	rig_pump(&t->r, 300); /* three ticks: nothing moves actual */
	rep = fix_ok(t, "{\"v\":1,\"cmd\":\"info\",\"args\":{\"vm\":\"web\"}}");
	assert_int_equal(rig_u64(rig_result(rep, NULL), "target"), 700 * MiB);
	assert_int_equal(rig_u64(rig_result(rep, NULL), "actual"), 1 * GiB);
	json_object_put(rep);

	fake_qmp_event(&t->fq, "{\"event\": \"BALLOON_CHANGE\", \"data\": "
	                       "{\"actual\": 734003200}}");
	assert_true(rig_until(&t->r, actual_700, vm, 2000));
	rep = fix_ok(t, "{\"v\":1,\"cmd\":\"info\",\"args\":{\"vm\":\"web\"}}");
	assert_int_equal(rig_u64(rig_result(rep, NULL), "actual"), 700 * MiB);
	json_object_put(rep);
	/* what a poll would have said is still the old size */
	assert_int_equal(fake_qmp_actual(&t->fq), 1 * GiB);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, fix_setup, fix_teardown)
	const struct CMUnitTest tests[] = {
	        T(test_stats_host),
	        T(test_stats_alert),
	        T(test_balloon_change_event),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
