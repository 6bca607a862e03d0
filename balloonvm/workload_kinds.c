/* SPDX-License-Identifier: MIT */
/*
 * workload_kinds.c - what each kind of workload does per op: steady, kv,
 * phased, filecache, idle; and the verified page access they share.
 *
 * Anonymous page protocol: word 0 of a page holds a tag derived from the
 * workload and the page number, word 1 the version last written (w->ver
 * keeps the expected one).  A first touch must find a page we never wrote;
 * any other access must find our tag and version.  Anything else is counted
 * in verify_errors.
 */
#include "workload_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bc_util.h"

#define NS_PER_MS    1000000ull
#define RELEASE_STEP 64 /* pages released per step */

static uint64_t pages_of(uint64_t bytes)
{
	return (bytes + GMM_PAGE_SIZE - 1) / GMM_PAGE_SIZE;
}

static uint64_t page_tag(const struct wl *w, uint64_t v)
{
	return w->tag ^ (v * UINT64_C(0x9e3779b97f4a7c15));
}

static uint64_t gcd(uint64_t a, uint64_t b)
{
	while (b) {
		uint64_t t = a % b;

		a = b;
		b = t;
	}
	return a;
}

uint64_t wl_pick_mul(uint64_t n)
{
	uint64_t m;

	if (n <= 2)
		return 1;
	m = (uint64_t)((double)n * 0.6180339887) | 1;
	while (gcd(m, n) != 1)
		m += 2;
	return m % n;
}

uint64_t wl_scatter(const struct wl *w, uint64_t rank, uint64_t n)
{
	return (uint64_t)(((unsigned __int128)rank * w->perm_mul) % n);
}

int wl_anon_init(struct wl *w, uint64_t npages)
{
	char name[32];
	int err;

	w->ver = calloc(npages, sizeof(*w->ver));
	if (!w->ver)
		return -ENOMEM;
	snprintf(name, sizeof(name), "wl%u-%s", w->id,
	         wl_kind_name(w->spec.kind));
	err = gmm_proc_create(w->g, name, npages, &w->proc);
	if (err) {
		free(w->ver);
		w->ver = NULL;
		return err;
	}
	w->npages = npages;
	return 0;
}

int wl_anon_resize(struct wl *w, uint64_t npages)
{
	uint32_t *n;
	int err;

	if (npages > w->npages) {
		n = realloc(w->ver, npages * sizeof(*n));
		if (!n)
			return -ENOMEM;
		memset(n + w->npages, 0, (npages - w->npages) * sizeof(*n));
		w->ver = n;
	}
	err = gmm_proc_resize(w->proc, npages);
	if (err)
		return err;
	w->npages = npages;
	return 0;
}

int wl_anon_access(struct wl *w, uint64_t v, bool write)
{
	uint64_t *p, tag = page_tag(w, v);
	void *mem;
	int r = gmm_touch(w->proc, v, write, &mem);

	if (r < 0)
		return r;
	p = mem;
	if (r == GMM_FAULT_MINOR) {
		if (w->ver[v]) /* we wrote it, and it came back empty */
			w->verify_errors++;
		w->ver[v] = 1;
		p[0] = tag;
		p[1] = 1;
		return 0;
	}
	if (p[0] != tag || p[1] != w->ver[v])
		w->verify_errors++;
	if (write) {
		uint32_t nv = w->ver[v] + 1 ? w->ver[v] + 1 : 1;

		w->ver[v] = nv;
		p[1] = nv;
		p[2 + nv % 510] = nv; /* dirty another cache line too */
	}
	return 0;
}

void wl_anon_drop(struct wl *w, uint64_t v)
{
	gmm_release(w->proc, v);
	w->ver[v] = 0;
}

void wl_release_all(struct wl *w)
{
	gmm_proc_destroy(w->proc);
	w->proc = NULL;
	gmm_file_destroy(w->file);
	w->file = NULL;
	free(w->ver);
	w->ver = NULL;
}

/* A random access over pages [0, n), writing with probability spec.write. */
static int random_access(struct wl *w, uint64_t n, uint64_t now)
{
	int err;

	if (!n) {
		w->wake_ns = now + NS_PER_MS;
		return WL_R_SLEEP;
	}
	err = wl_anon_access(w, zipf_rand_below(&w->rng, n),
	                     zipf_rand_unit(&w->rng) < w->spec.write);
	return err ? err : WL_R_OP;
}

/* ---- steady ----------------------------------------------------------------
 */

static int steady_start(struct wl *w, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	return wl_anon_init(w, pages_of(w->spec.size));
}

static int steady_op(struct wl *w, uint64_t now)
{
	return random_access(w, w->npages, now);
}

static int steady_apply(struct wl *w, const struct wl_spec *n, char *err,
                        size_t errlen)
{
	int ret = 0;

	if (pages_of(n->size) != w->npages)
		ret = wl_anon_resize(w, pages_of(n->size));
	if (ret)
		wl_errf(err, errlen, "cannot resize workload %u: %s", w->id,
		        strerror(-ret));
	return ret;
}

static const char *run_phase(const struct wl *w)
{
	(void)w;
	return "run";
}

static const struct wl_kind_ops steady_ops = {
        "steady", steady_start, steady_op, steady_apply, run_phase,
};

/* ---- kv --------------------------------------------------------------------
 */

static int kv_start(struct wl *w, char *err, size_t errlen)
{
	int ret;

	(void)err;
	(void)errlen;
	w->nkeys = w->spec.keys;
	w->vbytes = w->spec.size / w->nkeys;
	w->perm_mul = wl_pick_mul(w->nkeys);
	ret = bvm_zipf_init(&w->z, w->nkeys, w->spec.alpha);
	return ret ? ret : wl_anon_init(w, pages_of(w->spec.size));
}

static int kv_op(struct wl *w, uint64_t now)
{
	uint64_t key = wl_scatter(w, bvm_zipf_next(&w->z, &w->rng), w->nkeys);
	uint64_t first = key * w->vbytes / GMM_PAGE_SIZE;
	uint64_t last = ((key + 1) * w->vbytes - 1) / GMM_PAGE_SIZE;
	bool set = zipf_rand_unit(&w->rng) < w->spec.write;

	(void)now;
	for (uint64_t v = first; v <= last; v++) {
		int err = wl_anon_access(w, v, set);

		if (err)
			return err;
	}
	return WL_R_OP;
}

static int kv_apply(struct wl *w, const struct wl_spec *n, char *err,
                    size_t errlen)
{
	(void)err;
	(void)errlen;
	return bvm_zipf_init(&w->z, w->nkeys, n->alpha);
}

static const struct wl_kind_ops kv_ops = {
        "kv", kv_start, kv_op, kv_apply, run_phase,
};

/* ---- phased ----------------------------------------------------------------
 */

enum { PH_GROW, PH_HOLD, PH_RELEASE, PH_IDLE, PH_DONE };

static int phased_start(struct wl *w, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	w->phase = PH_GROW;
	w->t0 = bc_now_ns();
	return wl_anon_init(w, pages_of(w->spec.size));
}

static int next_phase(struct wl *w, int phase, uint64_t now)
{
	w->phase = phase;
	w->t0 = now;
	return WL_R_WORK;
}

/* Pages that should be in use @el_ms into a ramp of @ms (up or down). */
static uint64_t ramp(uint64_t n, uint64_t el_ms, uint64_t ms)
{
	if (!ms || el_ms >= ms)
		return n;
	return n * el_ms / ms;
}

static int phased_op(struct wl *w, uint64_t now)
{
	uint64_t el = (now - w->t0) / NS_PER_MS, n = w->npages, keep;
	const struct wl_spec *s = &w->spec;
	int err;

	switch (w->phase) {
	case PH_GROW:
		if (w->grown < ramp(n, el, s->grow_ms)) {
			err = wl_anon_access(w, w->grown, true);
			if (err)
				return err;
			w->grown++;
			return WL_R_OP;
		}
		if (w->grown >= n)
			return next_phase(w, PH_HOLD, now);
		return random_access(w, w->grown, now);
	case PH_HOLD:
		if (el >= s->hold_ms)
			return next_phase(w, PH_RELEASE, now);
		return random_access(w, n, now);
	case PH_RELEASE:
		keep = n - ramp(n, el, s->release_ms);
		if (w->grown > keep) {
			for (unsigned i = 0;
			     i < RELEASE_STEP && w->grown > keep; i++)
				wl_anon_drop(w, --w->grown);
			return WL_R_WORK;
		}
		if (!w->grown)
			return next_phase(w, PH_IDLE, now);
		return random_access(w, w->grown, now);
	case PH_IDLE:
		if (el < s->idle_ms) {
			w->wake_ns = w->t0 + s->idle_ms * NS_PER_MS;
			return WL_R_SLEEP;
		}
		w->cycles++;
		if (s->repeat && w->cycles >= s->repeat) {
			w->phase = PH_DONE;
			return WL_R_END;
		}
		return next_phase(w, PH_GROW, now);
	default:
		return WL_R_END;
	}
}

static int keep_apply(struct wl *w, const struct wl_spec *n, char *err,
                      size_t errlen)
{
	(void)w; /* the new timings are read from w->spec on every op */
	(void)n;
	(void)err;
	(void)errlen;
	return 0;
}

static const char *phased_phase(const struct wl *w)
{
	static const char *const n[] = {"grow", "hold", "release", "idle",
	                                "done"};

	return n[w->phase];
}

static const struct wl_kind_ops phased_ops = {
        "phased", phased_start, phased_op, keep_apply, phased_phase,
};

/* ---- filecache -------------------------------------------------------------
 */

enum { FC_FILL, FC_READ };

static int fc_start(struct wl *w, char *err, size_t errlen)
{
	int ret = gmm_file_create(w->g, w->spec.size, &w->file);

	if (ret) {
		wl_errf(err, errlen, "cannot create a %llu-byte data file: %s",
		        (unsigned long long)w->spec.size, strerror(-ret));
		return ret;
	}
	w->npages = gmm_file_pages(w->file);
	w->perm_mul = wl_pick_mul(w->npages);
	w->phase = FC_FILL;
	return bvm_zipf_init(&w->z, w->npages, w->spec.alpha);
}

static int fc_op(struct wl *w, uint64_t now)
{
	const uint64_t *p;
	uint64_t pg;
	int r;

	(void)now;
	if (w->phase == FC_FILL) {
		r = gmm_file_fill(w->file, 64);
		if (r < 0)
			return r;
		if (!r)
			w->phase = FC_READ;
		return WL_R_WORK;
	}
	pg = bvm_zipf_next(&w->z, &w->rng);
	if (w->spec.alpha > 0) /* hot pages spread over the file */
		pg = wl_scatter(w, pg, w->npages);
	r = gmm_file_read(w->file, pg, (const void **)&p);
	if (r < 0)
		return r;
	if (r)
		w->misses++;
	else
		w->hits++;
	if (p[0] != gmm_file_word(pg, 0) || p[511] != gmm_file_word(pg, 511))
		w->verify_errors++;
	return WL_R_OP;
}

static int fc_apply(struct wl *w, const struct wl_spec *n, char *err,
                    size_t errlen)
{
	(void)err;
	(void)errlen;
	return bvm_zipf_init(&w->z, w->npages, n->alpha);
}

static const char *fc_phase(const struct wl *w)
{
	return w->phase == FC_FILL ? "fill" : "read";
}

static const struct wl_kind_ops fc_ops = {
        "filecache", fc_start, fc_op, fc_apply, fc_phase,
};

/* ---- idle ------------------------------------------------------------------
 */

enum { ID_POPULATE, ID_IDLE };

static int idle_op(struct wl *w, uint64_t now)
{
	int err;

	if (w->grown < w->npages) {
		err = wl_anon_access(w, w->grown, true);
		if (err)
			return err;
		w->grown++;
		return WL_R_OP;
	}
	w->phase = ID_IDLE;
	w->wake_ns = now + 100 * NS_PER_MS;
	return WL_R_SLEEP;
}

static int idle_apply(struct wl *w, const struct wl_spec *n, char *err,
                      size_t errlen)
{
	int ret = steady_apply(w, n, err, errlen);

	if (w->grown > w->npages)
		w->grown = w->npages;
	if (w->grown < w->npages)
		w->phase = ID_POPULATE;
	return ret;
}

static const char *idle_phase(const struct wl *w)
{
	return w->phase == ID_IDLE ? "idle" : "populate";
}

static const struct wl_kind_ops idle_ops = {
        "idle", steady_start, idle_op, idle_apply, idle_phase,
};

const struct wl_kind_ops *const wl_kinds[WL_NR_KINDS] = {
        [WL_STEADY] = &steady_ops, [WL_KV] = &kv_ops,
        [WL_PHASED] = &phased_ops, [WL_FILECACHE] = &fc_ops,
        [WL_IDLE] = &idle_ops,
};
