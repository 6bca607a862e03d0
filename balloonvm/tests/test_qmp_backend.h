/* SPDX-License-Identifier: MIT */
/*
 * test_qmp_backend.h - a recording struct qmp_backend for the dispatcher and
 * server tests: it holds a little balloon state (RAM, target, actual,
 * interval, stats, workloads) so that a command's effect can be checked.
 */
#ifndef BVM_TEST_QMP_BACKEND_H
#define BVM_TEST_QMP_BACKEND_H

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "qmp_cmds.h"
#include "stats_alert.h"

struct fake_vm {
	uint64_t ram;
	uint64_t actual;    /* logical size, bytes */
	uint32_t target;    /* last num_pages set */
	unsigned set_calls; /* set_target calls */
	int fail_set;       /* -errno returned by set_target, 0 = ok */
	int64_t interval;
	struct qmp_guest_stats gs;
	int64_t next_id;
	char last_spec[128];
	int64_t last_id;
	unsigned quits;
	size_t memory_blob;           /* bytes of padding in query-memory */
	int64_t alert_ms, alert_drop; /* last x-bvm-stats-alert */
	bool gated;                   /* workload_add blocks reading gate_fd */
	int gate_fd; /* a blocking eventfd the test writes to */
};

static inline struct fake_vm *fv(void *ctx)
{
	return ctx;
}

static uint64_t fake_ram(void *ctx)
{
	return fv(ctx)->ram;
}
static uint64_t fake_actual(void *ctx)
{
	return fv(ctx)->actual;
}

static int fake_set_target(void *ctx, uint32_t pages, char *err)
{
	struct fake_vm *v = ctx;

	v->set_calls++;
	if (v->fail_set) {
		snprintf(err, QMP_ERR_LEN, "balloon refused");
		return v->fail_set;
	}
	v->target = pages;
	return 0;
}

static int64_t fake_interval(void *ctx)
{
	return fv(ctx)->interval;
}

static int fake_set_interval(void *ctx, int64_t secs, char *err)
{
	(void)err;
	fv(ctx)->interval = secs;
	return 0;
}

static void fake_stats(void *ctx, struct qmp_guest_stats *out)
{
	*out = fv(ctx)->gs;
}

static int fake_wl_add(void *ctx, const char *spec, int64_t *id, char *err)
{
	struct fake_vm *v = ctx;

	if (v->gated) { /* a guest that takes its time */
		uint64_t n;
		if (read(v->gate_fd, &n, sizeof(n)) != sizeof(n))
			return -EIO;
	}
	if (!strncmp(spec, "bad", 3)) {
		snprintf(err, QMP_ERR_LEN, "unknown workload kind '%s'", spec);
		return -EINVAL;
	}
	snprintf(v->last_spec, sizeof(v->last_spec), "%s", spec);
	*id = __atomic_add_fetch(&v->next_id, 1, __ATOMIC_RELEASE);
	return 0;
}

static int fake_wl_set(void *ctx, int64_t id, const char *spec, char *err)
{
	struct fake_vm *v = ctx;

	if (id < 1 || id > v->next_id) {
		snprintf(err, QMP_ERR_LEN, "no workload %lld", (long long)id);
		return -ENOENT;
	}
	v->last_id = id;
	snprintf(v->last_spec, sizeof(v->last_spec), "%s", spec);
	return 0;
}

static int fake_wl_stop(void *ctx, int64_t id, char *err)
{
	(void)err; /* no message: the dispatcher falls back to strerror */
	if (id < 1 || id > fv(ctx)->next_id)
		return -ENOENT;
	fv(ctx)->last_id = id;
	return 0;
}

static struct json_object *fake_query_wl(void *ctx)
{
	struct json_object *a = json_object_new_array();

	for (int64_t i = 1; i <= fv(ctx)->next_id; i++) {
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "id", json_object_new_int64(i));
		json_object_array_add(a, o);
	}
	return a;
}

static struct json_object *fake_query_mem(void *ctx)
{
	struct json_object *o = json_object_new_object();
	struct fake_vm *v = ctx;

	json_object_object_add(o, "ram",
	                       json_object_new_int64((int64_t)v->ram));
	if (v->memory_blob) {
		char *pad = malloc(v->memory_blob + 1);
		memset(pad, 'x', v->memory_blob);
		pad[v->memory_blob] = 0;
		json_object_object_add(o, "pad", json_object_new_string(pad));
		free(pad);
	}
	return o;
}

static int fake_stats_alert(void *ctx, int64_t period_ms, int64_t drop,
                            char *err)
{
	struct fake_vm *v = ctx;
	struct bvm_alert a = {0};
	int ret = bvm_alert_config(&a, period_ms, drop, err);

	if (!ret) {
		v->alert_ms = a.period_ms;
		v->alert_drop = (int64_t)a.drop_bytes;
	}
	return ret;
}

static void fake_quit(void *ctx)
{
	fv(ctx)->quits++;
}

static const struct qmp_backend fake_backend = {
        .ram_bytes = fake_ram,
        .actual_bytes = fake_actual,
        .set_target = fake_set_target,
        .stats_interval = fake_interval,
        .set_stats_interval = fake_set_interval,
        .guest_stats = fake_stats,
        .workload_add = fake_wl_add,
        .workload_set = fake_wl_set,
        .workload_stop = fake_wl_stop,
        .query_workloads = fake_query_wl,
        .query_memory = fake_query_mem,
        .set_stats_alert = fake_stats_alert,
        .quit = fake_quit,
};

#endif
