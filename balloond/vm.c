/* SPDX-License-Identifier: MIT */
/*
 * vm.c - one VM's QMP link: connect with backoff, adopt its current size,
 * follow BALLOON_CHANGE, poll the balloon and guest stats each tick, and
 * send targets.  See vm.h for the adoption rule.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bc_util.h>

#include "bd_json.h"
#include "daemon.h"
#include "vm.h"

#define BALLOON_QOM "/machine/peripheral/balloon0"

static void on_ready(void *ctx);
static void on_event(void *ctx, const char *name, struct json_object *data);
static void on_closed(void *ctx, int err);

static const struct qmp_callbacks vm_qmp_cb = {
        .ready = on_ready, .event = on_event, .closed = on_closed};

static const char *const state_names[] = {"connecting", "connected", "lost",
                                          "error"};

const char *bd_vm_state_name(enum vm_state s)
{
	return (unsigned)s < 4 ? state_names[s] : "?";
}

struct vm *bd_vm_new(struct bd *bd, const char *name, const char *qmp_path)
{
	struct vm *vm;

	if (strlen(name) > BD_NAME_MAX)
		return NULL;
	vm = calloc(1, sizeof(*vm));
	if (!vm)
		return NULL;
	vm->qmp_path = strdup(qmp_path);
	if (!vm->qmp_path) {
		free(vm);
		return NULL;
	}
	strcpy(vm->name, name);
	vm->bd = bd;
	vm->shares = BD_DEFAULT_SHARES;
	vm->backoff_ms = VM_BACKOFF_MIN_MS;
	bd_qmp_init(&vm->qmp, &bd->loop, &vm_qmp_cb, vm);
	return vm;
}

void bd_vm_free(struct vm *vm)
{
	if (!vm)
		return;
	bd_qmp_close(&vm->qmp);
	json_object_put(vm->stats);
	free(vm->qmp_path);
	free(vm);
}

uint64_t bd_vm_errors(const struct vm *vm)
{
	return vm->cmd_errors + vm->qmp.protocol_errors;
}

/* A zombie still answers kill(pid, 0): a killed, daemonized QEMU stays one
 * until init reaps it, so read its state from /proc/PID/stat as well. */
static bool pid_zombie(pid_t pid)
{
	char path[64], buf[512], *paren;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	paren = strrchr(buf, ')');
	return paren && paren[1] == ' ' && (paren[2] == 'Z' || paren[2] == 'X');
}

static bool pid_gone(pid_t pid)
{
	if (pid <= 0)
		return false;
	return (kill(pid, 0) < 0 && errno == ESRCH) || pid_zombie(pid);
}

static void set_state(struct vm *vm, enum vm_state st, int err)
{
	bool news = vm->state != st || (err && vm->failures == 1);

	vm->state = st;
	if (!news || st == VM_CONNECTED)
		return;
	bc_warn("vm %s: %s (%s)", vm->name, bd_vm_state_name(st),
	        err ? strerror(-err) : "no error");
}

static void link_failed(struct vm *vm, int err)
{
	pid_t peer = vm->qmp.peer_pid ? vm->qmp.peer_pid : vm->pid;
	enum vm_state st = VM_CONNECTING;

	vm->ready = vm->polling = vm->querying = false;
	vm->failures++;
	vm->last_err = err;
	if (pid_gone(peer))
		st = VM_LOST;
	else if (err == -EPROTO || err == -ETIMEDOUT || err == -EACCES ||
	         err == -ENOTSOCK || err == -ENAMETOOLONG)
		st = VM_ERROR;
	set_state(vm, st, err);
	vm->retry_at_ms = bc_now_ms() + vm->backoff_ms;
	vm->backoff_ms = bd_vm_backoff_next(vm->backoff_ms);
}

uint64_t bd_vm_backoff_next(uint64_t delay_ms)
{
	if (delay_ms < VM_BACKOFF_MIN_MS)
		return VM_BACKOFF_MIN_MS;
	return delay_ms >= VM_BACKOFF_MAX_MS / 2 ? VM_BACKOFF_MAX_MS
	                                         : delay_ms * 2;
}

void bd_vm_connect(struct vm *vm)
{
	int ret;

	if (qmp_is_open(&vm->qmp))
		return;
	if (vm->attempts++)
		vm->bd->cnt.reconnects++;
	ret = bd_qmp_open(&vm->qmp, vm->qmp_path);
	if (ret)
		link_failed(vm, ret);
}

static void on_closed(void *ctx, int err)
{
	struct vm *vm = ctx;

	if (vm->ready)
		bc_warn("vm %s: QMP link dropped (%s)", vm->name,
		        strerror(-err));
	link_failed(vm, err);
}

static bool disconnected(const char *cls)
{
	return cls && !strcmp(cls, QMP_ERR_DISCONNECTED);
}

static void cmd_failed(struct vm *vm, const char *what, const char *cls,
                       const char *desc)
{
	vm->cmd_errors++;
	bc_warn("vm %s: %s failed: %s: %s", vm->name, what, cls, desc);
}

static void mem_summary_cb(void *ctx, struct json_object *ret, const char *cls,
                           const char *desc)
{
	struct vm *vm = ctx;

	(void)cls;
	(void)desc; /* older QEMU / balloonvm: no such command, learn later */
	if (ret)
		bd_json_u64(ret, "base-memory", &vm->boot);
}

static void adopt(struct vm *vm, uint64_t actual)
{
	pid_t peer = vm->qmp.peer_pid;
	bool same = !vm->pid || !peer || vm->pid == peer;
	bool resend = false;

	vm->actual = actual;
	vm->actual_known = true;
	if (!vm->max)
		vm->max = vm->boot ? vm->boot : actual;
	if (vm->target_known && !same && vm->pinned)
		resend = true; /* a new instance: the user's pin still holds */
	else if (!vm->target_known || !same) {
		vm->target = actual;
		vm->target_known = true;
		vm->reason = BLN_REASON_NONE;
	}
	vm->pid = peer;
	vm->ready = true;
	vm->backoff_ms = VM_BACKOFF_MIN_MS;
	set_state(vm, VM_CONNECTED, 0);
	bc_info("vm %s: adopted (pid %d, actual %llu, target %llu, max %llu)%s",
	        vm->name, (int)peer, (unsigned long long)actual,
	        (unsigned long long)vm->target, (unsigned long long)vm->max,
	        same ? "" : " - new instance");
	bd_vm_set_polling(vm);
	bd_changed(vm->bd);
	if (resend)
		bd_vm_balloon(vm, vm->target, BLN_REASON_PINNED, true, NULL,
		              NULL);
}

static void balloon_query_cb(void *ctx, struct json_object *ret,
                             const char *cls, const char *desc)
{
	struct vm *vm = ctx;
	uint64_t actual;

	vm->querying = false;
	if (disconnected(cls))
		return;
	if (!ret || !bd_json_u64(ret, "actual", &actual)) {
		cmd_failed(vm, "query-balloon", cls ? cls : "GenericError",
		           desc ? desc : "no 'actual' in the reply");
		if (!vm->ready) { /* cannot adopt without the size */
			bd_qmp_close(&vm->qmp);
			link_failed(vm, -EPROTO);
		}
		return;
	}
	if (!vm->ready) {
		adopt(vm, actual);
		return;
	}
	vm->actual = actual;
	vm->actual_known = true;
}

static void status_cb(void *ctx, struct json_object *ret, const char *cls,
                      const char *desc)
{
	struct vm *vm = ctx;
	const char *st = bd_json_str(ret, "status");

	(void)cls;
	(void)desc; /* a peer without query-status: the status stays "" */
	snprintf(vm->status, sizeof(vm->status), "%s", st ? st : "");
}

static void on_ready(void *ctx)
{
	struct vm *vm = ctx;

	vm->querying = true;
	vm->status[0] = '\0';
	if (bd_qmp_command(&vm->qmp, "query-status", NULL, status_cb, vm) ||
	    bd_qmp_command(&vm->qmp, "query-memory-size-summary", NULL,
	                   mem_summary_cb, vm) ||
	    bd_qmp_command(&vm->qmp, "query-balloon", NULL, balloon_query_cb,
	                   vm)) {
		bd_qmp_close(&vm->qmp);
		link_failed(vm, -ENOMEM);
	}
}

static bool take_stats(struct vm *vm, struct json_object *ret, bool fresh);

static void on_event(void *ctx, const char *name, struct json_object *data)
{
	struct vm *vm = ctx;

	if (!strcmp(name, "X_BVM_STATS_ALERT")) {
		vm->alerts++;
		/* the sample's size: BALLOON_CHANGE may be up to 1 s behind */
		if (bd_json_u64(data, "actual", &vm->actual))
			vm->actual_known = true;
		if (take_stats(vm, data, true))
			bd_policy_stats_update(vm->bd, vm);
		return;
	}
	if (!strcmp(name, "BALLOON_CHANGE")) {
		if (bd_json_u64(data, "actual", &vm->actual))
			vm->actual_known = true;
		return;
	}
	if (!strcmp(name, "SHUTDOWN")) {
		bc_info("vm %s: guest shut down", vm->name);
		snprintf(vm->status, sizeof(vm->status), "shutdown");
		return;
	}
	if (!strcmp(name, "STOP") || !strcmp(name, "RESUME")) {
		snprintf(vm->status, sizeof(vm->status), "%s",
		         name[0] == 'S' ? "paused" : "running");
		return;
	}
	bc_debug("vm %s: event %s", vm->name, name);
}

static void polling_cb(void *ctx, struct json_object *ret, const char *cls,
                       const char *desc)
{
	if (!ret && !disconnected(cls))
		cmd_failed(ctx, "qom-set guest-stats-polling-interval", cls,
		           desc);
}

static void alert_cb(void *ctx, struct json_object *ret, const char *cls,
                     const char *desc)
{
	struct vm *vm = ctx;

	if (ret || disconnected(cls))
		return;
	if (cls && !strcmp(cls, "CommandNotFound")) /* QEMU: polling only */
		bc_debug("vm %s: no stats alerts: %s", vm->name, desc);
	else
		cmd_failed(vm, "x-bvm-stats-alert", cls, desc);
}

/* balloonvm peers: X_BVM_STATS_ALERT when the guest's available memory
 * falls by a quarter margin, or it swaps (balloonvm/stats_alert.h). */
static void set_alert(struct vm *vm)
{
	struct json_object *a = json_object_new_object();
	uint64_t drop = vm->bd->params.margin_bytes / 4;

	if (!a)
		return;
	json_object_object_add(
	        a, "period-ms",
	        json_object_new_int64(vm->bd->conf->stats_alert_ms));
	json_object_object_add(
	        a, "drop", json_object_new_int64(drop < 4096 ? 4096 : drop));
	bd_qmp_command(&vm->qmp, "x-bvm-stats-alert", a, alert_cb, vm);
}

void bd_vm_set_polling(struct vm *vm)
{
	struct json_object *a = json_object_new_object();
	uint32_t tick = vm->bd->params.tick_ms;

	if (!a || !vm->ready) {
		json_object_put(a);
		return;
	}
	json_object_object_add(a, "path", json_object_new_string(BALLOON_QOM));
	json_object_object_add(
	        a, "property",
	        json_object_new_string("guest-stats-polling-interval"));
	json_object_object_add(a, "value",
	                       json_object_new_int64((tick + 999) / 1000));
	bd_qmp_command(&vm->qmp, "qom-set", a, polling_cb, vm);
	if (vm->bd->conf->stats_alert_ms)
		set_alert(vm);
}

/* Keep the stats the guest reported.  "Not reported" is -1 in older QEMU
 * (and balloonvm) and 2^64 - 1 in QEMU that visits the stats as unsigned. */
static struct json_object *filter_stats(struct json_object *in)
{
	struct json_object *out = json_object_new_object();

	if (!out || !json_object_is_type(in, json_type_object))
		return out;
	json_object_object_foreach(in, k, v)
	{
		if (json_object_is_type(v, json_type_int) &&
		    json_object_get_int64(v) >= 0 &&
		    json_object_get_uint64(v) != UINT64_MAX)
			json_object_object_add(
			        out, k,
			        json_object_new_uint64(
			                json_object_get_uint64(v)));
	}
	return out;
}

/* Keep guest-stats @ret (from qom-get, or an alert: @fresh, newer than
 * what we have even within the same second).  True if taken. */
static bool take_stats(struct vm *vm, struct json_object *ret, bool fresh)
{
	struct json_object *st = NULL, *lu = NULL;
	double t;

	json_object_object_get_ex(ret, "stats", &st);
	json_object_object_get_ex(ret, "last-update", &lu);
	if (!lu || !(json_object_is_type(lu, json_type_int) ||
	             json_object_is_type(lu, json_type_double))) {
		cmd_failed(vm, "guest-stats", "GenericError",
		           "no last-update in the reply");
		return false;
	}
	t = json_object_get_double(lu);
	if (t <= 0 || (t == vm->stats_updated && !fresh))
		return false;
	json_object_put(vm->stats);
	vm->stats = filter_stats(st);
	vm->stats_updated = t;
	vm->stats_rx_ms = bc_now_ms();
	return true;
}

static void stats_cb(void *ctx, struct json_object *ret, const char *cls,
                     const char *desc)
{
	struct vm *vm = ctx;

	vm->polling = false;
	if (!ret) {
		/* QEMU answers an error until the guest's first update */
		if (!disconnected(cls))
			bc_debug("vm %s: guest-stats: %s", vm->name, desc);
		return;
	}
	if (take_stats(vm, ret, false))
		bd_policy_stats_update(vm->bd, vm);
}

static void poll_vm(struct vm *vm)
{
	if (!vm->querying) {
		vm->querying = true;
		if (bd_qmp_command(&vm->qmp, "query-balloon", NULL,
		                   balloon_query_cb, vm))
			vm->querying = false;
	}
	if (!vm->polling) {
		struct json_object *a = json_object_new_object();
		if (!a)
			return;
		json_object_object_add(a, "path",
		                       json_object_new_string(BALLOON_QOM));
		json_object_object_add(a, "property",
		                       json_object_new_string("guest-stats"));
		vm->polling = true;
		if (bd_qmp_command(&vm->qmp, "qom-get", a, stats_cb, vm))
			vm->polling = false;
	}
}

void bd_vm_tick(struct vm *vm, uint64_t now_ms, bool poll_now)
{
	if (!qmp_is_open(&vm->qmp)) {
		if (now_ms >= vm->retry_at_ms)
			bd_vm_connect(vm);
		return;
	}
	bd_qmp_expire(&vm->qmp, now_ms);
	if (poll_now && vm->ready)
		poll_vm(vm);
}

uint64_t bd_vm_deadline(const struct vm *vm)
{
	return qmp_is_open(&vm->qmp) ? 0 : vm->retry_at_ms;
}

struct balloon_op {
	struct vm *vm;
	uint64_t value;
	enum bln_reason reason;
	bool pin;
	vm_done_fn done;
	void *ctx;
};

static void balloon_cb(void *ctx, struct json_object *ret, const char *cls,
                       const char *desc)
{
	struct balloon_op *op = ctx;
	struct vm *vm = op->vm;
	int err = 0;

	vm->balloon_busy--;
	if (ret) {
		vm->target = op->value;
		vm->target_known = true;
		vm->reason = op->reason;
		if (op->pin)
			vm->pinned = true;
		vm->bd->cnt.targets_sent++;
		bd_changed(vm->bd);
	} else if (disconnected(cls)) {
		err = -ENOTCONN;
	} else {
		cmd_failed(vm, "balloon", cls, desc);
		err = -EIO;
	}
	if (op->done)
		op->done(op->ctx, vm, err, cls, desc);
	free(op);
}

int bd_vm_balloon(struct vm *vm, uint64_t target, enum bln_reason reason,
                  bool pin, vm_done_fn done, void *ctx)
{
	struct balloon_op *op;
	struct json_object *a;
	int ret;

	if (!vm->ready)
		return -ENOTCONN;
	op = calloc(1, sizeof(*op));
	a = json_object_new_object();
	if (!op || !a) {
		free(op);
		json_object_put(a);
		return -ENOMEM;
	}
	*op = (struct balloon_op){vm, target, reason, pin, done, ctx};
	json_object_object_add(a, "value", json_object_new_uint64(target));
	ret = bd_qmp_command(&vm->qmp, "balloon", a, balloon_cb, op);
	if (ret) {
		free(op);
		return ret;
	}
	vm->balloon_busy++;
	return 0;
}

static uint64_t stat_of(struct json_object *stats, const char *name)
{
	uint64_t v = 0;

	bd_json_u64(stats, name, &v);
	return v;
}

void bd_vm_policy_input(const struct vm *vm, double now_wall,
                        struct bln_policy_vm *pv)
{
	double poll_s = (vm->bd->params.tick_ms + 999) / 1000;
	double stale =
	        poll_s * 5 > VM_STATS_STALE_S ? poll_s * 5 : VM_STATS_STALE_S;
	struct json_object *s = vm->stats;

	memset(pv, 0, sizeof(*pv));
	pv->max_bytes = vm->max;
	pv->min_bytes = vm->min;
	pv->shares = vm->shares;
	pv->actual_bytes = vm->actual_known ? vm->actual : vm->target;
	pv->target_bytes = vm->target;
	pv->pinned = vm->pinned;
	pv->total_bytes = stat_of(s, "stat-total-memory");
	pv->stats_valid = s && vm->stats_updated > 0 && pv->total_bytes &&
	                  now_wall - vm->stats_updated <= stale;
	pv->free_bytes = stat_of(s, "stat-free-memory");
	pv->avail_bytes = stat_of(s, "stat-available-memory");
	pv->cache_bytes = stat_of(s, "stat-disk-caches");
	pv->swap_in_bytes = stat_of(s, "stat-swap-in");
	pv->swap_out_bytes = stat_of(s, "stat-swap-out");
	pv->major_faults = stat_of(s, "stat-major-faults");
	pv->minor_faults = stat_of(s, "stat-minor-faults");
	pv->oom_kills = stat_of(s, "stat-oom-kills");
	pv->stats_ms = vm->stats_rx_ms;
}

static struct json_object *u64_or_null(bool known, uint64_t v)
{
	return known ? json_object_new_uint64(v) : NULL;
}

struct json_object *bd_vm_to_json(const struct vm *vm)
{
	struct json_object *o = json_object_new_object();
	const char *reason =
	        vm->pinned ? "pinned" : bln_reason_name(vm->reason);

	if (!o)
		return NULL;
	json_object_object_add(o, "name", json_object_new_string(vm->name));
	json_object_object_add(o, "qmp", json_object_new_string(vm->qmp_path));
	json_object_object_add(
	        o, "state",
	        json_object_new_string(bd_vm_state_name(vm->state)));
	json_object_object_add(
	        o, "status",
	        vm->status[0] ? json_object_new_string(vm->status) : NULL);
	json_object_object_add(o, "max", u64_or_null(vm->max, vm->max));
	json_object_object_add(o, "boot", u64_or_null(vm->boot, vm->boot));
	json_object_object_add(o, "min", json_object_new_uint64(vm->min));
	json_object_object_add(o, "shares", json_object_new_int64(vm->shares));
	json_object_object_add(o, "target",
	                       u64_or_null(vm->target_known, vm->target));
	json_object_object_add(o, "actual",
	                       u64_or_null(vm->actual_known, vm->actual));
	json_object_object_add(o, "pinned",
	                       json_object_new_boolean(vm->pinned));
	json_object_object_add(o, "reason", json_object_new_string(reason));
	json_object_object_add(o, "stats",
	                       vm->stats ? json_object_get(vm->stats)
	                                 : json_object_new_object());
	json_object_object_add(o, "stats-updated",
	                       json_object_new_double(vm->stats_updated));
	json_object_object_add(o, "errors",
	                       json_object_new_uint64(bd_vm_errors(vm)));
	return o;
}
