/* SPDX-License-Identifier: MIT */
/*
 * workload_int.h - internals of the workloads (workload*.c): the meter, the
 * workload object and the per-kind operations.
 */
#ifndef BALLOONVM_WORKLOAD_INT_H
#define BALLOONVM_WORKLOAD_INT_H

#include <pthread.h>
#include <stdbool.h>

#include "workload.h"
#include "zipf.h"

/* ---- meter (workload_meter.c) ----------------------------------------------
 */

/* Log-linear latency histogram: 8 sub-buckets per power of two (ns). */
#define WL_HIST_N 496

struct wl_hist {
	uint64_t b[WL_HIST_N];
	uint64_t n, max;
};

#define WL_WIN_SLOTS   10
#define WL_WIN_SLOT_NS 100000000ull /* 100 ms per rate slot */
#define WL_HWIN_NS     1000000000ull

struct wl_meter {
	uint64_t start_ns;
	uint64_t ops;
	uint64_t slot_ops[WL_WIN_SLOTS];
	uint64_t slot_id[WL_WIN_SLOTS]; /* absolute slot number + 1 */
	struct wl_hist all, cur, prev;  /* cur: this second; prev: last */
	uint64_t cur_t0;
	bool have_prev;
};

void wl_meter_init(struct wl_meter *m, uint64_t now);
void wl_meter_op(struct wl_meter *m, uint64_t lat_ns, uint64_t now);
/* ops/s over the last WL_WIN_SLOTS slots (less right after start). */
double wl_meter_rate(struct wl_meter *m, uint64_t now);
uint64_t wl_hist_pct(const struct wl_hist *h, double p);
/* The last full second's histogram (the current one before that). */
const struct wl_hist *wl_meter_window(struct wl_meter *m, uint64_t now);

/* ---- workloads --------------------------------------------------------------
 */

/* What a kind's op() did. */
enum {
	WL_R_OP = 0,    /* one op done: measure it */
	WL_R_WORK = 1,  /* progress that is not an op (fill, release) */
	WL_R_SLEEP = 2, /* nothing to do before w->wake_ns */
	WL_R_END = 3,   /* finished */
};

struct wl {
	uint32_t id;
	struct wl_spec spec;
	enum wl_state state;
	int error;
	struct gmm *g;
	struct gmm_proc *proc;
	struct gmm_file *file;
	uint32_t *ver;   /* per vpage: last version written, 0 = none */
	uint64_t npages; /* pages in use (proc size or file size) */
	uint64_t tag;    /* per-workload page tag */
	uint64_t rng;
	struct zipf z;
	uint64_t perm_mul; /* rank -> key/page scattering (coprime) */
	uint64_t nkeys, vbytes;
	int phase;       /* kind-specific */
	uint64_t t0;     /* phase start, ns */
	uint64_t grown;  /* phased/idle: pages [0, grown) in use */
	uint32_t cycles; /* phased: completed cycles */
	uint64_t wake_ns, next_op_ns;
	uint64_t cpu_ns, end_ns; /* end_ns: when it stopped, else 0 */
	struct gmm_proc_info pi; /* last seen (kept after the proc is gone) */
	uint64_t hits, misses, verify_errors;
	struct wl_meter m;
};

struct wl_kind_ops {
	const char *name;
	/* Allocate memory/files; @err gets a message on failure. */
	int (*start)(struct wl *w, char *err, size_t errlen);
	/* Do one step at time @now: WL_R_* or -errno. */
	int (*op)(struct wl *w, uint64_t now);
	/* Apply a validated new spec (same kind) at run time. */
	int (*apply)(struct wl *w, const struct wl_spec *n, char *err,
	             size_t errlen);
	/* Name of the current phase. */
	const char *(*phase)(const struct wl *w);
};

extern const struct wl_kind_ops *const wl_kinds[WL_NR_KINDS];

/* workload_kinds.c: shared helpers */
int wl_anon_init(struct wl *w, uint64_t npages);
int wl_anon_resize(struct wl *w, uint64_t npages);
int wl_anon_access(struct wl *w, uint64_t vpage, bool write);
void wl_anon_drop(struct wl *w, uint64_t vpage);
uint64_t wl_scatter(const struct wl *w, uint64_t rank, uint64_t n);
uint64_t wl_pick_mul(uint64_t n);
/* Free everything a workload holds (proc, file, versions). */
void wl_release_all(struct wl *w);

/* workload_spec.c: parse @text as changes on top of @base (same kind);
 * fails on keys that cannot change at run time. */
int wl_spec_change(const struct wl_spec *base, const char *text,
                   struct wl_spec *out, char *err, size_t errlen);

/* Message helper: snprintf into err if err != NULL. */
void wl_errf(char *err, size_t errlen, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

#endif
