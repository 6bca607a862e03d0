/* SPDX-License-Identifier: MIT */
/*
 * workload.h - guest workloads of balloonvm: cooperative guest "processes"
 * run by a small round-robin scheduler on the guest (vCPU) thread, each
 * measuring its own throughput and latency.
 *
 * Every operation really touches guest memory through the gmm (gmm.h): a
 * page that was swapped out is read back from the swap file, a page-cache
 * miss reads the data file, so throughput falls and latency rises when the
 * balloon squeezes the guest.  Every page a workload writes carries a tag and
 * a version that later reads verify (verify_errors counts mismatches: it must
 * stay 0; a non-zero value means memory was lost or corrupted).
 *
 * Spec strings ("kind:key=value,..."; sizes take K/M/G/T suffixes, binary;
 * durations take ms/s/m, a bare number is seconds):
 *   steady:ws=SIZE[,write=0.3][,rate=N]
 *       random page touches over a working set; write = fraction of writes.
 *   kv:size=SIZE[,alpha=0.99][,keys=N][,write=0][,rate=N]
 *       a Zipf(alpha)-keyed cache of @keys values (default one 4 KiB value
 *       per page; values are size/keys bytes, >= 64).  One op = one get (or
 *       a set, with probability write) touching the value's pages.
 *   phased:peak=SIZE[,grow=5s][,hold=10s][,release=2s][,idle=10s]
 *          [,repeat=1][,write=0.3][,rate=N]
 *       grow to peak linearly over grow, hold touching at random, release
 *       (free) the pages linearly over release, idle; repeat times (0 =
 *       forever), then done.
 *   filecache:file=SIZE[,alpha=0][,rate=N]
 *       writes a data file of SIZE on the guest's disk, then reads random
 *       pages of it through the page cache (alpha > 0: Zipf-skewed).
 *   idle:size=SIZE
 *       touches SIZE once, then sleeps (its pages go cold).
 * rate=N caps a workload at N ops/s (0 = as fast as it can).
 * Run-time changes (wl_set) accept the same keys; allowed: steady ws, write,
 * rate; kv alpha, write, rate; phased grow, hold, release, idle, repeat,
 * write, rate (at once); filecache alpha, rate; idle size.
 *
 * Threading: wl_sched_run() runs on the guest thread (the one that created
 * the scheduler or last called wl_sched_bind()).  wl_add/wl_set/wl_stop/
 * wl_remove may be called from any thread: from the guest thread they act at
 * once, from another thread they are queued and the caller waits until the
 * guest thread executes them in wl_sched_run() (-ETIMEDOUT after
 * cfg.cmd_timeout_ms if it never does).  wl_list/wl_get read the copy
 * published at the end of each wl_sched_run() and are safe from any thread.
 *
 * Return contract: 0 (or a documented count) on success, -errno on failure;
 * functions with @err fill it with a one-line message for the user.  Never
 * prints.
 */
#ifndef BALLOONVM_WORKLOAD_H
#define BALLOONVM_WORKLOAD_H

#include <stddef.h>
#include <stdint.h>

#include "gmm.h"

#define WL_SPEC_LEN  192 /* canonical spec text, with its NUL */
#define WL_PHASE_LEN 12

enum wl_kind {
	WL_STEADY = 0,
	WL_KV = 1,
	WL_PHASED = 2,
	WL_FILECACHE = 3,
	WL_IDLE = 4,
	WL_NR_KINDS
};

enum wl_state {
	WL_RUNNING = 0, /* runnable or sleeping between ops/phases */
	WL_DONE = 1,    /* finished (phased after its repeats) */
	WL_STOPPED = 2, /* stopped by wl_stop(); memory freed */
	WL_KILLED = 3,  /* OOM-killed by the gmm; memory freed */
	WL_FAILED = 4,  /* an I/O error (see wl_info.error); memory freed */
};

struct wl_spec {
	enum wl_kind kind;
	uint64_t size; /* bytes: steady ws, kv size, phased peak,
	                  filecache file, idle size */
	double write;  /* fraction of writes (steady, phased) / sets (kv) */
	double alpha;  /* Zipf exponent (kv, filecache); 0 = uniform */
	uint64_t keys; /* kv: number of keys */
	uint64_t grow_ms, hold_ms, release_ms, idle_ms; /* phased */
	uint32_t repeat; /* phased: cycles, 0 = forever */
	uint64_t rate;   /* ops/s cap, 0 = none */
};

/*
 * Parse and validate @text into @out (defaults filled in).  Returns 0 or
 * -EINVAL with a message in @err such as "steady: unknown parameter 'wss'
 * (expected ws, write, rate)".
 */
int wl_spec_parse(const char *text, struct wl_spec *out, char *err,
                  size_t errlen);

/* Canonical text of @s ("steady:ws=600M,write=0.3"); returns the length
 * wl_spec_parse() can read back, or -ENOSPC. */
int wl_spec_format(const struct wl_spec *s, char *buf, size_t len);

const char *wl_kind_name(enum wl_kind k);
const char *wl_state_name(enum wl_state s); /* "running", "done", ... */

struct wl_sched;

struct wl_sched_cfg {
	struct gmm *gmm;         /* the guest; must outlive the scheduler */
	uint64_t slice_us;       /* time slice per workload turn; 0 = 2000 */
	uint64_t tick_us;        /* gmm_tick() period; 0 = 10000 */
	uint64_t cmd_timeout_ms; /* cross-thread command wait; 0 = 5000 */
	uint64_t seed;           /* PRNG seed (0 = fixed default) */
};

/* Returns 0, -EINVAL, -ENOMEM.  The calling thread is the guest thread. */
int wl_sched_create(const struct wl_sched_cfg *cfg, struct wl_sched **out);

/* Stop and free every workload (pending cross-thread callers get
 * -ESHUTDOWN) and the scheduler. */
void wl_sched_destroy(struct wl_sched *s);

/* Make the calling thread the guest thread. */
void wl_sched_bind(struct wl_sched *s);

/*
 * Guest thread: execute queued commands, then run workloads round-robin in
 * time slices for about @budget_ns (calling gmm_tick() every tick_us), then
 * publish their info.  Stores in *@sleep_ns how long the caller may sleep
 * before anything needs the CPU (0 = call again at once; never more than
 * one tick).  Returns the number of ops executed (>= 0).
 */
int64_t wl_sched_run(struct wl_sched *s, uint64_t budget_ns,
                     uint64_t *sleep_ns);

/* Add a workload from a spec string; stores its id (1, 2, ...) in *@id.
 * Returns 0, -EINVAL (bad spec), -ENOMEM, -ENOSPC (too many), or the gmm's
 * error creating its memory or file. */
int wl_add(struct wl_sched *s, const char *spec, uint32_t *id, char *err,
           size_t errlen);

/* Change a running workload: @spec is "key=value,..." or a full spec of
 * the same kind.  Returns 0, -ENOENT, -EINVAL (unknown/unchangeable key,
 * other kind), -EBUSY (not running), -ENOMEM. */
int wl_set(struct wl_sched *s, uint32_t id, const char *spec, char *err,
           size_t errlen);

/* Stop a workload and free its memory; it stays listed (state "stopped")
 * until wl_remove().  Stopping a finished one is a no-op.  Returns 0 or
 * -ENOENT. */
int wl_stop(struct wl_sched *s, uint32_t id, char *err, size_t errlen);

/* Stop (if needed) and forget a workload.  Returns 0 or -ENOENT. */
int wl_remove(struct wl_sched *s, uint32_t id, char *err, size_t errlen);

struct wl_info {
	uint32_t id;
	enum wl_kind kind;
	enum wl_state state;
	char phase[WL_PHASE_LEN]; /* "run", "fill", "read", "grow", "hold",
	                             "release", "idle", "populate", "done" */
	char spec[WL_SPEC_LEN];   /* canonical spec */
	int error;                /* -errno that failed it, else 0 */
	uint64_t ops;             /* completed ops since start */
	double ops_per_s;         /* over the last second (sliding) */
	double ops_per_s_avg;     /* ops / wall seconds since start */
	uint64_t p50_ns, p99_ns, p999_ns, max_ns; /* op latency, all ops */
	uint64_t win_p50_ns, win_p99_ns;    /* op latency, last full second */
	uint64_t run_ns;                    /* wall time since start */
	uint64_t cpu_ns;                    /* time in its slices */
	uint64_t vpages, resident, swapped; /* its memory, 4 KiB pages */
	uint64_t minor_faults, major_faults;
	uint64_t cache_hits, cache_misses; /* filecache */
	uint64_t verify_errors;            /* must be 0 */
};

/* Copy up to @max published infos into @out (in id order); returns how
 * many workloads there are (may exceed @max). */
unsigned wl_list(struct wl_sched *s, struct wl_info *out, unsigned max);

/* Published info of workload @id.  Returns 0 or -ENOENT. */
int wl_get(struct wl_sched *s, uint32_t id, struct wl_info *out);

#endif
