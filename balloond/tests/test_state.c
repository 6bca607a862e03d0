/* SPDX-License-Identifier: MIT */
/*
 * State and restarts: the state file is written on every change and read
 * back whole; a restarted daemon adopts its VMs without sending anything
 * (the "restart changes nothing" rule), resends only a pinned target to a
 * new VM instance; a dropped QMP link reconnects; a VM whose process dies
 * becomes "lost" without disturbing the others; an urgent guest-stats
 * update triggers a policy step between ticks.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <bc_util.h>

#include "fake_qmp.h"
#include "rig.h"

struct t {
	struct rig r;
	struct fake_qmp web, db;
};

static int setup(void **state)
{
	struct t *t = calloc(1, sizeof(*t));

	rig_setup(&t->r, 50);
	assert_int_equal(
	        fake_qmp_start(&t->web, rig_path(&t->r, "web.qmp"), 1 * GiB),
	        0);
	assert_int_equal(
	        fake_qmp_start(&t->db, rig_path(&t->r, "db.qmp"), 2 * GiB), 0);
	t->web.boot = 1 * GiB;
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct t *t = *state;

	rig_stop(&t->r);
	fake_qmp_stop(&t->web);
	fake_qmp_stop(&t->db);
	rig_teardown(&t->r);
	free(t);
	return 0;
}

static void ok(struct t *t, const char *fmt, const char *arg)
{
	struct json_object *rep = rig_rpcf(&t->r, fmt, arg);

	if (strcmp(rig_code(rep), ""))
		fail_msg("%s: %s", fmt, json_object_to_json_string(rep));
	json_object_put(rep);
}

static bool all_ready(void *arg)
{
	struct bd *bd = arg;

	for (size_t i = 0; i < bd->nvms; i++)
		if (!bd->vms[i]->ready)
			return false;
	return bd->nvms > 0;
}

static __attribute__((noinline)) char *read_state(struct t *t)
{
	char *text = NULL;

	assert_int_equal(
	        bc_read_file(t->r.conf.state_path, 1 << 20, &text, NULL), 0);
	return text;
}

/* web pinned at 512 MiB, db released at 1.5 GiB, tax_rate 0.6, policy off. */
static void populate(struct t *t)
{
	rig_start(&t->r);
	ok(t,
	   "{\"v\":1,\"cmd\":\"add\",\"args\":{\"vm\":\"web\",\"qmp\":\"%s\","
	   "\"min\":268435456}}",
	   t->web.path);
	ok(t,
	   "{\"v\":1,\"cmd\":\"add\",\"args\":{\"vm\":\"db\",\"qmp\":\"%s\"}}",
	   t->db.path);
	ok(t,
	   "{\"v\":1,\"cmd\":\"set\",\"args\":{\"vm\":\"%s\",\"target\":"
	   "536870912}}",
	   "web");
	ok(t,
	   "{\"v\":1,\"cmd\":\"set\",\"args\":{\"vm\":\"%s\",\"target\":"
	   "1610612736}}",
	   "db");
	ok(t, "{\"v\":1,\"cmd\":\"policy-release\",\"args\":{\"vm\":\"%s\"}}",
	   "db");
	ok(t,
	   "{\"v\":1,\"cmd\":\"policy-set\",\"args\":{\"tax_rate\":0.6,"
	   "\"enabled\":%s}}",
	   "false");
	assert_int_equal(fake_qmp_count(&t->web, "balloon"), 1);
	assert_int_equal(fake_qmp_count(&t->db, "balloon"), 1);
}

static void test_round_trip(void **state)
{
	struct t *t = *state;
	char *before, *after, *file;

	populate(t);
	before = rig_state_text(&t->r);
	file = read_state(t);
	/* what is on disk is already everything (no exit needed) */
	assert_non_null(strstr(file, "\"tax_rate\":0.6"));
	assert_non_null(strstr(file, "\"target\":536870912"));
	assert_non_null(strstr(file, "\"target\":1610612736"));
	rig_stop(&t->r);
	rig_start(&t->r);
	after = rig_state_text(&t->r);
	assert_string_equal(before, after);
	struct vm *web = bd_vm_find(&t->r.bd, "web");
	struct vm *db = bd_vm_find(&t->r.bd, "db");
	assert_non_null(web);
	assert_non_null(db);
	assert_true(web->pinned);
	assert_false(db->pinned);
	assert_int_equal(web->min, 256 * MiB);
	assert_int_equal(web->max, 1 * GiB);
	assert_int_equal(db->max, 2 * GiB); /* learned from actual */
	assert_true(t->r.bd.params.tax_rate == 0.6);
	assert_false(t->r.bd.policy_enabled);
	free(before);
	free(after);
	free(file);
}

/* The state file wins over the config for what it records; a config VM it
 * does not know is added. */
static void test_config_and_state(void **state)
{
	struct t *t = *state;
	struct bd_vm_conf *v;

	populate(t);
	rig_stop(&t->r);
	v = calloc(2, sizeof(*v));
	strcpy(v[0].name, "web");
	v[0].qmp = strdup(t->web.path);
	v[0].min = 128 * MiB;
	v[0].shares = 5;
	strcpy(v[1].name, "extra");
	v[1].qmp = strdup("/nonexistent/extra.qmp");
	v[1].min = 64 * MiB;
	v[1].shares = 7;
	t->r.conf.vms = v;
	t->r.conf.nvms = 2;
	t->r.conf.policy.tax_rate = 0.3;
	rig_start(&t->r);
	assert_int_equal(t->r.bd.nvms, 3);
	assert_int_equal(bd_vm_find(&t->r.bd, "web")->min, 256 * MiB);
	assert_int_equal(bd_vm_find(&t->r.bd, "web")->shares, 1000);
	assert_int_equal(bd_vm_find(&t->r.bd, "extra")->min, 64 * MiB);
	assert_int_equal(bd_vm_find(&t->r.bd, "extra")->shares, 7);
	assert_true(t->r.bd.params.tax_rate == 0.6);
}

/* kill -9 then restart: the state file as the crash left it, VMs whose
 * balloon is still moving; nothing may be sent. */
static void restart_changes_nothing(struct t *t, bool policy)
{
	char *file, *before, *after;

	populate(t);
	if (policy) /* with the policy on, only pinned VMs are fixed */
		ok(t,
		   "{\"v\":1,\"cmd\":\"set\",\"args\":{\"vm\":\"%s\","
		   "\"target\":1610612736}}",
		   "db");
	file = read_state(t);
	before = rig_state_text(&t->r);
	rig_stop(&t->r);
	rig_write(&t->r, "state.json", file); /* exactly the crash-time file */
	if (policy) {
		char *p = strstr(file, "\"enabled\":false");
		assert_non_null(p);
		memcpy(p, "\"enabled\":true ", 15);
		rig_write(&t->r, "state.json", file);
	}
	int web0 = fake_qmp_count(&t->web, "balloon");
	int db0 = fake_qmp_count(&t->db, "balloon");
	pthread_mutex_lock(&t->db.lock);
	t->db.actual = 1700 * MiB; /* still deflating towards 1.5 GiB */
	pthread_mutex_unlock(&t->db.lock);

	rig_start(&t->r);
	assert_true(rig_until(&t->r, all_ready, &t->r.bd, 3000));
	rig_pump(&t->r, 500); /* ten ticks */
	assert_int_equal(fake_qmp_count(&t->web, "balloon"), web0);
	assert_int_equal(fake_qmp_count(&t->db, "balloon"), db0);
	struct vm *db = bd_vm_find(&t->r.bd, "db");
	assert_int_equal(db->target, 1536 * MiB); /* not actual, not max */
	assert_int_equal(db->actual, 1700 * MiB);
	assert_int_equal(bd_vm_find(&t->r.bd, "web")->target, 512 * MiB);
	if (policy)
		assert_true(t->r.bd.cnt.steps > 0); /* it ran, and kept */
	after = rig_state_text(&t->r);
	if (!policy)
		assert_string_equal(before, after);
	free(file);
	free(before);
	free(after);
}

static void test_restart_changes_nothing(void **state)
{
	restart_changes_nothing(*state, false);
}

static void test_restart_with_policy_pinned(void **state)
{
	restart_changes_nothing(*state, true);
}

static pid_t dead_pid(void)
{
	pid_t pid = fork();

	if (pid == 0)
		_exit(0);
	waitpid(pid, NULL, 0);
	return pid;
}

/* The VMs were restarted while the daemon was down (another QMP peer pid):
 * the unpinned one adopts its new size, the pinned one gets its pin back. */
static void test_new_instance(void **state)
{
	struct t *t = *state;
	char *file, *p, mine[32], other[32];

	populate(t);
	rig_stop(&t->r);
	file = read_state(t);
	snprintf(mine, sizeof(mine), "\"pid\":%d", (int)getpid());
	snprintf(other, sizeof(other), "\"pid\":%d", (int)dead_pid());
	/* file with every "pid":<ours> replaced by the dead one */
	size_t cap = strlen(file) * 2 + 64, n = 0;
	char *out = malloc(cap);
	for (char *s = file; *s;) {
		p = strstr(s, mine);
		size_t keep = p ? (size_t)(p - s) : strlen(s);
		memcpy(out + n, s, keep);
		n += keep;
		s += keep;
		if (!p)
			break;
		n += (size_t)sprintf(out + n, "%s", other);
		s += strlen(mine);
	}
	out[n] = '\0';
	assert_non_null(strstr(out, other));
	rig_write(&t->r, "state.json", out);
	free(out);
	free(file);
	pthread_mutex_lock(&t->db.lock);
	t->db.actual = 2 * GiB; /* fresh boot: full size */
	pthread_mutex_unlock(&t->db.lock);
	int web0 = fake_qmp_count(&t->web, "balloon");
	int db0 = fake_qmp_count(&t->db, "balloon");

	rig_start(&t->r);
	assert_true(rig_until(&t->r, all_ready, &t->r.bd, 3000));
	rig_pump(&t->r, 200);
	assert_int_equal(fake_qmp_count(&t->db, "balloon"), db0);
	assert_int_equal(bd_vm_find(&t->r.bd, "db")->target, 2 * GiB);
	assert_int_equal(fake_qmp_count(&t->web, "balloon"), web0 + 1);
	assert_int_equal(fake_qmp_count(&t->web, "balloon 536870912"), 2);
	assert_true(bd_vm_find(&t->r.bd, "web")->pinned);
	assert_int_equal(bd_vm_find(&t->r.bd, "web")->pid, getpid());
}

static bool reconnected(void *arg)
{
	struct t *t = arg;

	return t->web.connections >= 2 && bd_vm_find(&t->r.bd, "web")->ready;
}

static void test_reconnect(void **state)
{
	struct t *t = *state;

	populate(t);
	int n0 = fake_qmp_count(&t->web, "balloon");
	t->web.drop_now = 1;
	assert_true(rig_until(&t->r, reconnected, t, 3000));
	assert_true(t->r.bd.cnt.reconnects >= 1);
	assert_int_equal(fake_qmp_count(&t->web, "balloon"), n0);
	assert_int_equal(bd_vm_find(&t->r.bd, "web")->target, 512 * MiB);
	assert_true(bd_vm_find(&t->r.bd, "web")->pinned);
}

static void test_backoff_next(void **state)
{
	/* 100 ms doubling to 5 s (docs/balloond.md, "Link states") */
	static const uint64_t want[] = {200, 400, 800, 1600, 3200, 5000, 5000};
	uint64_t d = 100;
	struct vm *vm;
	(void)state;

	assert_int_equal(VM_BACKOFF_MIN_MS, 100);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		d = bd_vm_backoff_next(d);
		assert_int_equal(d, want[i]);
	}
	assert_int_equal(bd_vm_backoff_next(0), 100);
	assert_int_equal(bd_vm_backoff_next(2600), 5000);
	assert_int_equal(bd_vm_backoff_next(UINT64_MAX), 5000);
	vm = bd_vm_new(&((struct t *)*state)->r.bd, "x", "/nonexistent");
	assert_non_null(vm);
	assert_int_equal(vm->backoff_ms, 100); /* the first retry */
	bd_vm_free(vm);
}

/* Run the loop until @vm's attempts counter moves (or @ms pass); returns
 * the time it moved, 0 on timeout. */
static uint64_t next_attempt(struct t *t, struct vm *vm, int ms)
{
	uint64_t end = bc_now_ms() + (uint64_t)ms, a0 = vm->attempts;

	while (bc_now_ms() < end) {
		bd_run_once(&t->r.bd, 1000); /* wakes at the retry deadline */
		if (vm->attempts != a0)
			return bc_now_ms();
	}
	return 0;
}

static uint64_t link_drop(struct t *t, struct vm *vm)
{
	uint64_t end = bc_now_ms() + 3000;

	while (vm->ready && bc_now_ms() < end)
		bd_run_once(&t->r.bd, 5);
	assert_false(vm->ready);
	return bc_now_ms();
}

static void gap_is(uint64_t from, uint64_t to, uint64_t want)
{
	assert_true(to > 0);
	/* never early (slack: ms truncation, and @from is taken a little
	 * after the daemon armed the retry); late only by scheduling, with
	 * room for a loaded CI machine under ASan - a doubling that went
	 * wrong (constant, or tripling) is still far outside */
	if (to - from + 10 < want || to - from > want + 300)
		fail_msg("retry after %llu ms, want %llu",
		         (unsigned long long)(to - from),
		         (unsigned long long)want);
}

/* The peer goes away: connection attempts come 100, 200, 400 and 800 ms
 * apart; once the peer is back and the VM adopted, the backoff starts over:
 * the next drop is retried after 100 ms, not 1.6 s. */
static void test_reconnect_backoff(void **state)
{
	struct t *t = *state;
	struct vm *web, *db;
	uint64_t prev, at;
	char path[108];
	int n0;

	populate(t);
	web = bd_vm_find(&t->r.bd, "web");
	db = bd_vm_find(&t->r.bd, "db");
	n0 = fake_qmp_count(&t->web, "balloon");
	snprintf(path, sizeof(path), "%s", t->web.path);
	fake_qmp_stop(&t->web); /* closes the session, removes the socket */
	prev = link_drop(t, web);
	at = next_attempt(t, web, 1000);
	gap_is(prev, at, 100);
	prev = at;
	at = next_attempt(t, web, 1000);
	gap_is(prev, at, 200);
	prev = at;
	at = next_attempt(t, web, 1000);
	gap_is(prev, at, 400);
	/* back before the next attempt, which then connects */
	assert_int_equal(fake_qmp_start(&t->web, path, 512 * MiB), 0);
	t->web.boot = 1 * GiB;
	prev = at;
	at = next_attempt(t, web, 2000);
	gap_is(prev, at, 800);
	assert_true(rig_until(&t->r, rig_vm_ready, web, 2000));
	assert_int_equal(web->backoff_ms, VM_BACKOFF_MIN_MS);

	t->web.drop_now = 1;
	prev = link_drop(t, web);
	at = next_attempt(t, web, 2000);
	gap_is(prev, at, 100);
	assert_true(rig_until(&t->r, rig_vm_ready, web, 2000));
	/* nothing was sent on the way; db never noticed */
	assert_int_equal(fake_qmp_count(&t->web, "balloon"), 0);
	assert_int_equal(n0, 1);
	assert_int_equal(web->target, 512 * MiB);
	assert_true(web->pinned);
	assert_true(db->ready);
	assert_int_equal(db->attempts, 1);
}

static bool is_lost(void *arg)
{
	return ((struct vm *)arg)->state == VM_LOST;
}

static void test_lost(void **state)
{
	struct t *t = *state;
	struct fake_qmp child;
	struct json_object *rep;
	pid_t pid;
	int status;

	populate(t);
	/* a QMP peer in its own process (no threads: fake_qmp_serve).  It
	 * must listen itself: SO_PEERCRED names the process that listened. */
	char path[256], ready[300];
	snprintf(path, sizeof(path), "%s", rig_path(&t->r, "c.qmp"));
	snprintf(ready, sizeof(ready), "%s.ready", path);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (fake_qmp_init(&child, path, 1 * GiB))
			_exit(1);
		fclose(fopen(ready, "w"));
		fake_qmp_serve(&child);
		_exit(0);
	}
	for (int i = 0; i < 500 && access(ready, F_OK); i++)
		usleep(10000);
	ok(t,
	   "{\"v\":1,\"cmd\":\"add\",\"args\":{\"vm\":\"c\",\"qmp\":\"%s\"}}",
	   path);
	struct vm *c = bd_vm_find(&t->r.bd, "c");
	assert_true(c->ready);
	assert_int_equal(c->pid, pid);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	assert_true(rig_until(&t->r, is_lost, c, 3000));
	rep = rig_rpc(&t->r, "{\"v\":1,\"cmd\":\"set\",\"args\":{\"vm\":\"c\","
	                     "\"target\":536870912}}");
	assert_string_equal(rig_code(rep), "unreachable");
	json_object_put(rep);
	/* the others are untouched and still served */
	assert_true(bd_vm_find(&t->r.bd, "web")->ready);
	assert_int_equal(bd_vm_find(&t->r.bd, "web")->state, VM_CONNECTED);
	ok(t,
	   "{\"v\":1,\"cmd\":\"set\",\"args\":{\"vm\":\"%s\",\"target\":"
	   "671088640}}",
	   "web");
	assert_int_equal(fake_qmp_count(&t->web, "balloon 671088640"), 1);
}

static bool stepped(void *arg)
{
	return ((struct bd *)arg)->cnt.steps > 0;
}

/* Guest available memory collapses: a step runs at once, not at the next
 * (10 s away) tick, and the VM grows. */
static void test_urgent_step(void **state)
{
	struct t *t = *state;

	t->r.conf.policy.tick_ms = 10000;
	rig_start(&t->r);
	ok(t,
	   "{\"v\":1,\"cmd\":\"add\",\"args\":{\"vm\":\"web\",\"qmp\":\"%s\"}}",
	   t->web.path);
	ok(t,
	   "{\"v\":1,\"cmd\":\"set\",\"args\":{\"vm\":\"%s\",\"target\":"
	   "536870912}}",
	   "web");
	ok(t, "{\"v\":1,\"cmd\":\"policy-release\",\"args\":{\"vm\":\"%s\"}}",
	   "web");
	ok(t, "{\"v\":1,\"cmd\":\"policy-set\",\"args\":{\"enabled\":%s}}",
	   "true");
	uint64_t steps0 = t->r.bd.cnt.steps;
	assert_int_equal(steps0, 0);
	pthread_mutex_lock(&t->web.lock);
	snprintf(t->web.stats, sizeof(t->web.stats),
	         "{\"stat-total-memory\": 503316480, \"stat-free-memory\": "
	         "4194304, \"stat-available-memory\": 8388608, "
	         "\"stat-disk-caches\": 1048576, \"stat-swap-in\": 0, "
	         "\"stat-swap-out\": 0, \"stat-major-faults\": 0, "
	         "\"stat-minor-faults\": 100}");
	t->web.last_update = bc_wall_s();
	pthread_mutex_unlock(&t->web.lock);
	/* the stats poll is on the tick too: trigger one poll by hand */
	bd_vm_tick(bd_vm_find(&t->r.bd, "web"), bc_now_ms(), true);
	assert_true(rig_until(&t->r, stepped, &t->r.bd, 1000));
	assert_int_equal(t->r.bd.cnt.step_errors, 0);
	rig_pump(&t->r, 100);
	struct vm *web = bd_vm_find(&t->r.bd, "web");
	assert_true(web->target > 512 * MiB);
	assert_int_equal(web->reason, BLN_REASON_GROW_DEMAND);
	assert_int_equal(fake_qmp_count(&t->web, "balloon"), 2);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
	        T(test_round_trip),
	        T(test_config_and_state),
	        T(test_restart_changes_nothing),
	        T(test_restart_with_policy_pinned),
	        T(test_new_instance),
	        T(test_reconnect),
	        T(test_backoff_next),
	        T(test_reconnect_backoff),
	        T(test_lost),
	        T(test_urgent_step),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
