/* SPDX-License-Identifier: MIT */
/*
 * workload.c - the guest's scheduler: round-robin time slices on the guest
 * thread, per-op measurement, the cross-thread command queue and the
 * published info.
 */
#include "workload_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bc_util.h"

#define MAX_WORKLOADS 256
#define NOMEM_BACKOFF 100000000ull /* ns to wait after -ENOMEM */
#define RATE_BURST                                                             \
	100000000ull /* ns of missed ops a capped one may                      \
	                  catch up on */

enum { CMD_ADD, CMD_SET, CMD_STOP, CMD_REMOVE };

/* A control call; lives on the caller's stack until done. */
struct wl_cmd {
	int op;
	uint32_t id;
	const char *spec;
	char *err;
	size_t errlen;
	int ret;
	bool taken, done;
	struct wl_cmd *next;
};

struct wl_sched {
	struct wl_sched_cfg cfg;
	struct wl **w; /* by ascending id */
	unsigned n;
	uint32_t next_id;
	unsigned rr;
	uint64_t rng, last_tick;
	pthread_t owner;
	pthread_mutex_t lock; /* guards everything below */
	pthread_cond_t cond;
	struct wl_cmd *q;
	int pending; /* atomic: q non-empty */
	unsigned waiters;
	bool shutdown;
	struct wl_info *pub;
	unsigned npub, pubcap;
};

static struct wl *find(struct wl_sched *s, uint32_t id, unsigned *idx)
{
	for (unsigned i = 0; i < s->n; i++)
		if (s->w[i]->id == id) {
			if (idx)
				*idx = i;
			return s->w[i];
		}
	return NULL;
}

/* Free a workload's memory and give it its final state. */
static void finish(struct wl *w, enum wl_state st, int error, uint64_t now)
{
	if (w->proc)
		gmm_proc_info(w->proc, &w->pi);
	w->pi.resident = w->pi.swapped = 0;
	wl_release_all(w);
	w->state = st;
	w->error = error;
	w->end_ns = now;
}

static int do_add(struct wl_sched *s, const char *text, uint32_t *id, char *err,
                  size_t errlen)
{
	struct wl *w;
	struct wl_spec spec;
	int ret;

	if (wl_spec_parse(text, &spec, err, errlen))
		return -EINVAL;
	if (s->n >= MAX_WORKLOADS) {
		wl_errf(err, errlen, "too many workloads (%d)", MAX_WORKLOADS);
		return -ENOSPC;
	}
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->id = s->next_id;
	w->spec = spec;
	w->g = s->cfg.gmm;
	w->tag = zipf_rand(&s->rng) | 1;
	w->rng = zipf_rand(&s->rng);
	wl_meter_init(&w->m, bc_now_ns());
	ret = wl_kinds[spec.kind]->start(w, err, errlen);
	if (ret) {
		if (err && !err[0])
			wl_errf(err, errlen, "cannot start workload: %s",
			        strerror(-ret));
		wl_release_all(w);
		free(w);
		return ret;
	}
	s->w[s->n++] = w;
	s->next_id++;
	*id = w->id;
	return 0;
}

static int do_set(struct wl_sched *s, uint32_t id, const char *text, char *err,
                  size_t errlen)
{
	struct wl *w = find(s, id, NULL);
	struct wl_spec n;
	int ret;

	if (!w) {
		wl_errf(err, errlen, "no workload %u", id);
		return -ENOENT;
	}
	if (w->state != WL_RUNNING) {
		wl_errf(err, errlen, "workload %u is %s", id,
		        wl_state_name(w->state));
		return -EBUSY;
	}
	if (wl_spec_change(&w->spec, text, &n, err, errlen))
		return -EINVAL;
	ret = wl_kinds[w->spec.kind]->apply(w, &n, err, errlen);
	if (!ret) {
		w->spec = n;
		w->wake_ns = 0; /* act on the change now, even if asleep */
		w->next_op_ns = 0;
	}
	return ret;
}

static int exec_cmd(struct wl_sched *s, struct wl_cmd *c)
{
	unsigned idx;
	struct wl *w;

	if (c->op == CMD_ADD)
		return do_add(s, c->spec, &c->id, c->err, c->errlen);
	if (c->op == CMD_SET)
		return do_set(s, c->id, c->spec, c->err, c->errlen);
	w = find(s, c->id, &idx);
	if (!w) {
		wl_errf(c->err, c->errlen, "no workload %u", c->id);
		return -ENOENT;
	}
	if (w->state == WL_RUNNING)
		finish(w, WL_STOPPED, 0, bc_now_ns());
	if (c->op == CMD_REMOVE) {
		memmove(s->w + idx, s->w + idx + 1,
		        (s->n - idx - 1) * sizeof(*s->w));
		s->n--;
		free(w);
	}
	return 0;
}

static void publish(struct wl_sched *s, uint64_t now);

/* Guest thread: run every queued command, publish, wake the callers. */
static void run_cmds(struct wl_sched *s)
{
	struct wl_cmd *c, *next;

	pthread_mutex_lock(&s->lock);
	c = s->q;
	s->q = NULL;
	__atomic_store_n(&s->pending, 0, __ATOMIC_RELEASE);
	for (struct wl_cmd *t = c; t; t = t->next)
		t->taken = true; /* its caller now waits for done */
	pthread_mutex_unlock(&s->lock);
	for (struct wl_cmd *t = c; t; t = t->next)
		t->ret = exec_cmd(s, t);
	publish(s, bc_now_ns()); /* callers see their change at once */
	pthread_mutex_lock(&s->lock);
	for (; c; c = next) {
		next = c->next; /* c may vanish once done is seen */
		c->done = true;
	}
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

static void unlink_cmd(struct wl_sched *s, struct wl_cmd *c)
{
	for (struct wl_cmd **p = &s->q; *p; p = &(*p)->next)
		if (*p == c) {
			*p = c->next;
			return;
		}
}

static void deadline(struct timespec *ts, uint64_t ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += (time_t)(ms / 1000);
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* Any thread: execute @c on the guest thread and return its result. */
static int submit(struct wl_sched *s, struct wl_cmd *c)
{
	struct timespec ts;
	int ret;

	if (pthread_equal(pthread_self(), s->owner)) {
		ret = exec_cmd(s, c);
		publish(s, bc_now_ns());
		return ret;
	}
	deadline(&ts, s->cfg.cmd_timeout_ms);
	pthread_mutex_lock(&s->lock);
	if (s->shutdown) {
		pthread_mutex_unlock(&s->lock);
		return -ESHUTDOWN;
	}
	s->waiters++;
	c->next = NULL;
	{
		struct wl_cmd **p = &s->q;

		while (*p)
			p = &(*p)->next;
		*p = c;
	}
	__atomic_store_n(&s->pending, 1, __ATOMIC_RELEASE);
	while (!c->done) {
		int rc = pthread_cond_timedwait(&s->cond, &s->lock, &ts);

		if (rc == ETIMEDOUT && !c->done && !c->taken) {
			unlink_cmd(s, c);
			c->ret = -ETIMEDOUT;
			wl_errf(c->err, c->errlen,
			        "the guest did not run the command in time");
			break;
		}
	}
	ret = c->ret;
	s->waiters--;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	return ret;
}

static int control(struct wl_sched *s, int op, uint32_t id, const char *spec,
                   uint32_t *out_id, char *err, size_t errlen)
{
	struct wl_cmd c = {
	        .op = op, .id = id, .spec = spec, .err = err, .errlen = errlen};
	int ret;

	if (!s)
		return -EINVAL;
	if (err && errlen)
		err[0] = 0;
	ret = submit(s, &c);
	if (!ret && out_id)
		*out_id = c.id;
	return ret;
}

int wl_add(struct wl_sched *s, const char *spec, uint32_t *id, char *err,
           size_t errlen)
{
	if (!id)
		return -EINVAL;
	return control(s, CMD_ADD, 0, spec, id, err, errlen);
}

int wl_set(struct wl_sched *s, uint32_t id, const char *spec, char *err,
           size_t errlen)
{
	return control(s, CMD_SET, id, spec, NULL, err, errlen);
}

int wl_stop(struct wl_sched *s, uint32_t id, char *err, size_t errlen)
{
	return control(s, CMD_STOP, id, NULL, NULL, err, errlen);
}

int wl_remove(struct wl_sched *s, uint32_t id, char *err, size_t errlen)
{
	return control(s, CMD_REMOVE, id, NULL, NULL, err, errlen);
}

int wl_sched_create(const struct wl_sched_cfg *cfg, struct wl_sched **out)
{
	struct wl_sched *s;
	pthread_condattr_t ca;

	if (!cfg || !cfg->gmm || !out)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->w = calloc(MAX_WORKLOADS, sizeof(*s->w));
	if (!s->w)
		goto err_free;
	s->cfg = *cfg;
	if (!s->cfg.slice_us)
		s->cfg.slice_us = 2000;
	if (!s->cfg.tick_us)
		s->cfg.tick_us = 10000;
	if (!s->cfg.cmd_timeout_ms)
		s->cfg.cmd_timeout_ms = 5000;
	s->rng = cfg->seed ? cfg->seed : UINT64_C(0x62616c6c6f6f6e);
	s->next_id = 1;
	s->owner = pthread_self();
	s->last_tick = bc_now_ns();
	if (pthread_condattr_init(&ca))
		goto err_w;
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	if (pthread_cond_init(&s->cond, &ca)) {
		pthread_condattr_destroy(&ca);
		goto err_w;
	}
	pthread_condattr_destroy(&ca);
	if (pthread_mutex_init(&s->lock, NULL))
		goto err_cond;
	*out = s;
	return 0;

err_cond:
	pthread_cond_destroy(&s->cond);
err_w:
	free(s->w);
err_free:
	free(s);
	return -ENOMEM;
}

void wl_sched_destroy(struct wl_sched *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	s->shutdown = true;
	for (struct wl_cmd *c = s->q; c; c = c->next) {
		c->ret = -ESHUTDOWN;
		c->done = true;
	}
	s->q = NULL;
	pthread_cond_broadcast(&s->cond);
	while (s->waiters)
		pthread_cond_wait(&s->cond, &s->lock);
	pthread_mutex_unlock(&s->lock);
	for (unsigned i = 0; i < s->n; i++) {
		wl_release_all(s->w[i]);
		free(s->w[i]);
	}
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->cond);
	free(s->pub);
	free(s->w);
	free(s);
}

void wl_sched_bind(struct wl_sched *s)
{
	s->owner = pthread_self();
}

static void op_error(struct wl *w, int err, uint64_t now)
{
	if (err == -ENOMEM) /* nothing left even after OOM: back off */
		w->wake_ns = now + NOMEM_BACKOFF;
	else if (err == -ESRCH)
		finish(w, WL_KILLED, 0, now);
	else
		finish(w, WL_FAILED, err, now);
}

/* Run @w until @end or until it sleeps; returns ops done. */
static uint64_t run_slice(struct wl *w, uint64_t end)
{
	const struct wl_kind_ops *k = wl_kinds[w->spec.kind];
	uint64_t t = bc_now_ns(), t0 = t, ops = 0;

	while (t < end && w->state == WL_RUNNING) {
		uint64_t t2;
		int r;

		if (w->spec.rate && w->next_op_ns > t) {
			w->wake_ns = w->next_op_ns;
			break;
		}
		r = k->op(w, t);
		t2 = bc_now_ns();
		if (r == WL_R_OP) {
			wl_meter_op(&w->m, t2 - t, t2);
			ops++;
			if (w->spec.rate) {
				uint64_t base = w->next_op_ns;

				if (base + RATE_BURST < t2)
					base = t2 - RATE_BURST;
				w->next_op_ns =
				        base + 1000000000ull / w->spec.rate;
			}
		} else if (r == WL_R_END) {
			finish(w, WL_DONE, 0, t2);
		} else if (r < 0) {
			op_error(w, r, t2);
		}
		t = t2;
		if (r == WL_R_SLEEP || r < 0)
			break;
	}
	w->cpu_ns += t - t0;
	return ops;
}

static struct wl *next_runnable(struct wl_sched *s, uint64_t now)
{
	for (unsigned i = 0; i < s->n; i++) {
		struct wl *w = s->w[(s->rr + i) % s->n];

		if (w->state == WL_RUNNING && w->wake_ns <= now) {
			s->rr = (s->rr + i + 1) % s->n;
			return w;
		}
	}
	return NULL;
}

static void fill_info(struct wl *w, uint64_t now, struct wl_info *o)
{
	const struct wl_hist *win = wl_meter_window(&w->m, now);
	uint64_t end = w->end_ns ? w->end_ns : now;

	memset(o, 0, sizeof(*o));
	o->id = w->id;
	o->kind = w->spec.kind;
	o->state = w->state;
	o->error = w->error;
	snprintf(o->phase, sizeof(o->phase), "%s",
	         w->state == WL_RUNNING ? wl_kinds[w->spec.kind]->phase(w)
	                                : wl_state_name(w->state));
	wl_spec_format(&w->spec, o->spec, sizeof(o->spec));
	if (w->proc)
		gmm_proc_info(w->proc, &w->pi);
	o->ops = w->m.ops;
	o->ops_per_s = wl_meter_rate(&w->m, now);
	o->run_ns = end - w->m.start_ns;
	if (o->run_ns)
		o->ops_per_s_avg = (double)o->ops * 1e9 / (double)o->run_ns;
	o->p50_ns = wl_hist_pct(&w->m.all, 0.50);
	o->p99_ns = wl_hist_pct(&w->m.all, 0.99);
	o->p999_ns = wl_hist_pct(&w->m.all, 0.999);
	o->max_ns = w->m.all.max;
	o->win_p50_ns = wl_hist_pct(win, 0.50);
	o->win_p99_ns = wl_hist_pct(win, 0.99);
	o->cpu_ns = w->cpu_ns;
	o->vpages = w->proc ? w->pi.vpages : w->file ? w->npages : 0;
	o->resident = w->pi.resident;
	o->swapped = w->pi.swapped;
	o->minor_faults = w->pi.minor_faults;
	o->major_faults = w->pi.major_faults;
	if (w->file)
		o->resident = gmm_file_cached(w->file);
	o->cache_hits = w->hits;
	o->cache_misses = w->misses;
	o->verify_errors = w->verify_errors;
}

static void publish(struct wl_sched *s, uint64_t now)
{
	pthread_mutex_lock(&s->lock);
	if (s->n > s->pubcap) {
		struct wl_info *p = realloc(s->pub, MAX_WORKLOADS * sizeof(*p));

		if (!p) {
			pthread_mutex_unlock(&s->lock);
			return; /* keep the old copy */
		}
		s->pub = p;
		s->pubcap = MAX_WORKLOADS;
	}
	for (unsigned i = 0; i < s->n; i++)
		fill_info(s->w[i], now, &s->pub[i]);
	s->npub = s->n;
	pthread_mutex_unlock(&s->lock);
}

static uint64_t sleep_time(struct wl_sched *s, uint64_t now)
{
	uint64_t tick = s->cfg.tick_us * 1000, best = tick;

	for (unsigned i = 0; i < s->n; i++) {
		struct wl *w = s->w[i];

		if (w->state != WL_RUNNING)
			continue;
		if (w->wake_ns <= now)
			return 0;
		if (w->wake_ns - now < best)
			best = w->wake_ns - now;
	}
	return best;
}

int64_t wl_sched_run(struct wl_sched *s, uint64_t budget_ns, uint64_t *sleep_ns)
{
	uint64_t now = bc_now_ns(), end = now + budget_ns, ops = 0;
	uint64_t slice = s->cfg.slice_us * 1000, tick = s->cfg.tick_us * 1000;

	for (;;) {
		struct wl *w;

		if (__atomic_load_n(&s->pending, __ATOMIC_ACQUIRE))
			run_cmds(s);
		now = bc_now_ns();
		if (now - s->last_tick >= tick) {
			gmm_tick(s->cfg.gmm);
			s->last_tick = now;
		}
		if (now >= end)
			break;
		w = next_runnable(s, now);
		if (!w)
			break;
		ops += run_slice(w, end - now < slice ? end : now + slice);
	}
	publish(s, now);
	if (sleep_ns)
		*sleep_ns = sleep_time(s, bc_now_ns());
	return (int64_t)ops;
}

unsigned wl_list(struct wl_sched *s, struct wl_info *out, unsigned max)
{
	unsigned n;

	pthread_mutex_lock(&s->lock);
	n = s->npub;
	if (out && n && max) /* s->pub is NULL until a workload exists */
		memcpy(out, s->pub, (max < n ? max : n) * sizeof(*out));
	pthread_mutex_unlock(&s->lock);
	return n;
}

int wl_get(struct wl_sched *s, uint32_t id, struct wl_info *out)
{
	int ret = -ENOENT;

	pthread_mutex_lock(&s->lock);
	for (unsigned i = 0; i < s->npub; i++)
		if (s->pub[i].id == id) {
			*out = s->pub[i];
			ret = 0;
			break;
		}
	pthread_mutex_unlock(&s->lock);
	return ret;
}
