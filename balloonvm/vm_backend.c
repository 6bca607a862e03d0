/* SPDX-License-Identifier: MIT */
/*
 * vm_backend.c - what QMP sees of a struct vm: the device's balloon state
 * (its registers and atomic counters) and the guest stats the device thread
 * published, workloads through the scheduler's thread-safe calls (on the
 * QMP worker thread: they wait for the guest), and a memory report that puts
 * the guest's view (gmm snapshot), the driver's and the device's counters and
 * the host's view (RSS of this process) side by side.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bc_util.h>

#include "vm_int.h"

static struct vm *V(void *ctx)
{
	return ctx;
}

static uint64_t be_ram(void *ctx)
{
	return V(ctx)->cfg.memory;
}

static uint64_t be_actual(void *ctx)
{
	struct vm *vm = ctx;
	uint64_t b = (uint64_t)bln_device_actual(vm->dev) * BLN_PAGE_SIZE;

	return b > vm->cfg.memory ? 0 : vm->cfg.memory - b;
}

static int be_set_target(void *ctx, uint32_t pages, char *err)
{
	int ret = bln_device_set_target(V(ctx)->dev, pages);

	if (ret)
		snprintf(err, QMP_ERR_LEN, "balloon target refused: %s",
		         strerror(-ret));
	return ret;
}

static int64_t be_interval(void *ctx)
{
	return V(ctx)->stats_interval;
}

static int be_set_interval(void *ctx, int64_t secs, char *err)
{
	int ret = vm_set_stats_interval(V(ctx), secs);

	if (ret)
		snprintf(err, QMP_ERR_LEN, "timer: %s", strerror(-ret));
	return ret;
}

uint64_t vm_guest_stats(struct vm *vm, struct qmp_guest_stats *out)
{
	struct bln_guest_stats gs;
	uint64_t now = bc_now_ns();

	/* the device thread's copy after its last pass */
	pthread_mutex_lock(&vm->lock);
	gs = vm->dev_stats;
	pthread_mutex_unlock(&vm->lock);
	memcpy(out->val, gs.val, sizeof(out->val));
	out->valid = gs.valid;
	out->last_update = 0;
	if (gs.updated_ns && gs.updated_ns <= now)
		out->last_update =
		        (int64_t)(bc_wall_s() -
		                  (double)(now - gs.updated_ns) / 1e9);
	return gs.updated_ns;
}

static void be_stats(void *ctx, struct qmp_guest_stats *out)
{
	vm_guest_stats(ctx, out);
}

static int be_stats_alert(void *ctx, int64_t period_ms, int64_t drop, char *err)
{
	return vm_set_stats_alert(V(ctx), period_ms, drop, err);
}

/*
 * Workload commands run on the QMP worker thread and wait there until the
 * guest has carried them out.  The guest frees its scheduler only after
 * every such caller has left it (vcpu.c, close_sched()).
 */
static struct wl_sched *sched_enter(struct vm *vm, char *err)
{
	struct wl_sched *s;

	pthread_mutex_lock(&vm->lock);
	s = vm->sched_closed ? NULL : vm->sched;
	if (s)
		vm->sched_users++;
	pthread_mutex_unlock(&vm->lock);
	if (!s)
		snprintf(err, QMP_ERR_LEN, "the guest is shutting down");
	return s;
}

static void sched_leave(struct vm *vm)
{
	pthread_mutex_lock(&vm->lock);
	vm->sched_users--;
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
}

static int be_wl_add(void *ctx, const char *spec, int64_t *id, char *err)
{
	struct wl_sched *s = sched_enter(V(ctx), err);
	uint32_t wid = 0;
	int ret;

	if (!s)
		return -ESHUTDOWN;
	ret = wl_add(s, spec, &wid, err, QMP_ERR_LEN);
	sched_leave(V(ctx));
	*id = wid;
	return ret;
}

static int be_wl_set(void *ctx, int64_t id, const char *spec, char *err)
{
	struct wl_sched *s;
	int ret;

	if (id <= 0 || id > UINT32_MAX) {
		snprintf(err, QMP_ERR_LEN, "no workload %lld", (long long)id);
		return -ENOENT;
	}
	s = sched_enter(V(ctx), err);
	if (!s)
		return -ESHUTDOWN;
	ret = wl_set(s, (uint32_t)id, spec, err, QMP_ERR_LEN);
	sched_leave(V(ctx));
	return ret;
}

static int be_wl_stop(void *ctx, int64_t id, char *err)
{
	struct wl_sched *s;
	int ret;

	if (id <= 0 || id > UINT32_MAX) {
		snprintf(err, QMP_ERR_LEN, "no workload %lld", (long long)id);
		return -ENOENT;
	}
	s = sched_enter(V(ctx), err);
	if (!s)
		return -ESHUTDOWN;
	ret = wl_stop(s, (uint32_t)id, err, QMP_ERR_LEN);
	sched_leave(V(ctx));
	return ret;
}

static void put_u64(struct json_object *o, const char *k, uint64_t v)
{
	json_object_object_add(o, k, json_object_new_int64((int64_t)v));
}

static struct json_object *wl_json(const struct wl_info *w)
{
	struct json_object *o = json_object_new_object();

	if (!o)
		return NULL;
	put_u64(o, "id", w->id);
	json_object_object_add(o, "kind",
	                       json_object_new_string(wl_kind_name(w->kind)));
	json_object_object_add(o, "state",
	                       json_object_new_string(wl_state_name(w->state)));
	json_object_object_add(o, "phase", json_object_new_string(w->phase));
	json_object_object_add(o, "spec", json_object_new_string(w->spec));
	if (w->error)
		json_object_object_add(
		        o, "error",
		        json_object_new_string(strerror(-w->error)));
	put_u64(o, "ops", w->ops);
	json_object_object_add(o, "ops-per-s",
	                       json_object_new_double(w->ops_per_s));
	json_object_object_add(o, "ops-per-s-avg",
	                       json_object_new_double(w->ops_per_s_avg));
	put_u64(o, "p50-ns", w->p50_ns);
	put_u64(o, "p99-ns", w->p99_ns);
	put_u64(o, "p999-ns", w->p999_ns);
	put_u64(o, "max-ns", w->max_ns);
	put_u64(o, "window-p50-ns", w->win_p50_ns);
	put_u64(o, "window-p99-ns", w->win_p99_ns);
	put_u64(o, "run-ns", w->run_ns);
	put_u64(o, "cpu-ns", w->cpu_ns);
	put_u64(o, "size", w->vpages * GMM_PAGE_SIZE);
	put_u64(o, "resident", w->resident * GMM_PAGE_SIZE);
	put_u64(o, "swapped", w->swapped * GMM_PAGE_SIZE);
	put_u64(o, "minor-faults", w->minor_faults);
	put_u64(o, "major-faults", w->major_faults);
	put_u64(o, "cache-hits", w->cache_hits);
	put_u64(o, "cache-misses", w->cache_misses);
	put_u64(o, "verify-errors", w->verify_errors);
	return o;
}

static struct json_object *be_query_wl(void *ctx)
{
	struct vm *vm = ctx;
	unsigned n = wl_list(vm->sched, NULL, 0), got;
	struct wl_info *w = calloc(n ? n : 1, sizeof(*w));
	struct json_object *a = json_object_new_array();

	if (!w || !a)
		goto err;
	got = wl_list(vm->sched, w, n);
	for (unsigned i = 0; i < got && i < n; i++) {
		struct json_object *o = wl_json(&w[i]);
		if (!o)
			goto err;
		json_object_array_add(a, o);
	}
	free(w);
	return a;
err:
	free(w);
	json_object_put(a);
	return NULL;
}

static void be_quit(void *ctx)
{
	V(ctx)->stop = true;
	V(ctx)->stop_reason = "host-qmp-quit";
}

const struct qmp_backend vm_qmp_backend = {
        .ram_bytes = be_ram,
        .actual_bytes = be_actual,
        .set_target = be_set_target,
        .stats_interval = be_interval,
        .set_stats_interval = be_set_interval,
        .guest_stats = be_stats,
        .workload_add = be_wl_add,
        .workload_set = be_wl_set,
        .workload_stop = be_wl_stop,
        .query_workloads = be_query_wl,
        .query_memory = vm_query_memory,
        .set_stats_alert = be_stats_alert,
        .quit = be_quit,
};
