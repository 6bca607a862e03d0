/* SPDX-License-Identifier: MIT */
/*
 * bln_policy.h - balloond's automatic overcommit policy, as a pure function:
 * a snapshot of inputs (host memory, PSI, every VM's settings and guest
 * stats) and the policy's own carried state in, one target per VM out.  No
 * I/O, no clocks, no allocation in the step: unit-testable without processes.
 * The algorithm, the estimator and every constant: docs/policy.md.
 *
 * Units: every memory quantity is bytes; times are milliseconds of a
 * monotonic clock supplied by the caller (a clock that starts above 0, such
 * as CLOCK_MONOTONIC: a time of 0 means "never").
 * Return contract: 0 or -errno (-EINVAL on inconsistent input).
 */
#ifndef BALLOON_BLN_POLICY_H
#define BALLOON_BLN_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum bln_policy_kind {
	BLN_POLICY_IDLETAX =
	        0,          /* ours: shares + idle memory tax + host states */
	BLN_POLICY_STATIC,  /* never changes a target */
	BLN_POLICY_PROXMOX, /* Proxmox VE autoballoon */
	BLN_POLICY_MOM,     /* oVirt MOM default balloon rules */
	BLN_POLICY_NR,
};

/* Host free-memory states (ESX), from plenty to last resort. */
enum bln_host_state {
	BLN_HOST_HIGH = 0,
	BLN_HOST_SOFT,
	BLN_HOST_HARD,
	BLN_HOST_LOW,
	BLN_HOST_NR,
};

/* Why a VM got its target, for logs and metrics. */
enum bln_reason {
	BLN_REASON_NONE = 0,     /* unchanged */
	BLN_REASON_PINNED,       /* manual target from balloonctl set */
	BLN_REASON_GROW_DEMAND,  /* guest swapping / available collapsed */
	BLN_REASON_GROW_PLENTY,  /* host has memory to give back */
	BLN_REASON_RECLAIM_IDLE, /* lowest shares-per-page (idle tax) */
	BLN_REASON_FLOOR,        /* clamped to min or to the guest's need */
	BLN_REASON_LAST_RESORT,  /* below guest need: host in LOW state */
	BLN_REASON_BASELINE,     /* decided by a baseline policy's rule */
	BLN_REASON_FAIR_SHARE,   /* above its share while a VM below its
	                          * share runs short: down toward the share */
	BLN_REASON_NR,
};

struct bln_policy_params {
	enum bln_policy_kind kind;
	double tax_rate; /* tau, idle memory tax in [0, 0.99], default 0.75 */
	/* host state thresholds, % of the budget (or host total): 6/4/2/1 */
	double high_pct, soft_pct, hard_pct, low_pct;
	double psi_some_hard; /* PSI some avg10 % that counts as HARD, 10 */
	/* memory the VMs may use in all; 0 = host available minus reserve */
	uint64_t budget_bytes;
	uint64_t host_reserve_bytes; /* kept for the host when budget is 0 */
	uint64_t margin_bytes;       /* headroom over a guest's need, 64 MiB */
	uint64_t max_shrink_bytes;   /* per VM per tick, 256 MiB */
	uint64_t step_bytes;   /* target granularity, 4 MiB (4 KiB multiple) */
	double aggressiveness; /* 0..1 scaling of reclaim (S3 sweeps it), 1 */
	uint32_t tick_ms;      /* how often the daemon calls step, 1000 */
	/* Baselines: proxmox: target_pct 80, step 100 MiB per 10 s;
	 * mom: its default thresholds (see docs/policy.md). */
	double proxmox_target_pct;
	uint64_t proxmox_step_bytes;
	uint32_t baseline_interval_ms; /* 10000 for proxmox and mom */
};

/* Per-VM input. Stats are cumulative counters as the guest reports them. */
struct bln_policy_vm {
	uint64_t max_bytes;    /* limit: boot size */
	uint64_t min_bytes;    /* reservation: never below */
	uint32_t shares;       /* proportional share, default 1000 */
	uint64_t actual_bytes; /* current logical size (max - balloon) */
	uint64_t target_bytes; /* target currently set */
	bool pinned;           /* manual target: policy must keep it */
	bool stats_valid;      /* the fields below are meaningful */
	uint64_t total_bytes, free_bytes, avail_bytes, cache_bytes;
	uint64_t swap_in_bytes, swap_out_bytes; /* cumulative */
	uint64_t major_faults, minor_faults;    /* cumulative */
	uint64_t oom_kills;                     /* cumulative */
	/* when these stats were taken (monotonic ms; 0 = unknown): growth
	 * between samples closer than a tick is projected over a tick */
	uint64_t stats_ms;
};

/* Policy state carried between steps, one per VM (caller-owned, zeroed at
 * first use; keep it at the same index as the VM). */
struct bln_policy_vm_state {
	bool seen;   /* stats seen once: prev_* are valid */
	bool urgent; /* last step: demand (new pages, refaults) with too little
	              * available memory, or an OOM kill */
	int8_t last_dir; /* +1 grown, -1 shrunk by the last change, 0 none */
	/* Working-set estimate W (bytes, docs/policy.md "Estimator"): rises at
	 * once on evidence of use, decays after POL_IDLE_GRACE_MS without any
	 */
	uint64_t ws_bytes;
	/* hot part of it: memory the guest read back from swap after a
	 * squeeze; decays only slowly (POL_HOT_DECAY_MS) */
	uint64_t hot_bytes;
	uint64_t last_active_ms; /* last step with evidence of use */
	uint64_t last_free_ms;   /* last step the guest freed memory itself */
	double active;           /* f = min(1, W / actual) */
	uint64_t prev_swap_in, prev_swap_out, prev_majflt, prev_minflt;
	uint64_t prev_oom_kills, prev_used;
	uint64_t prev_stats_ms;  /* stats_ms of the prev_* counters */
	uint64_t last_change_ms; /* last step that moved this VM's target */
	/* Derived by the last step, for logs and metrics (not inputs): */
	uint64_t need_bytes;  /* guest's need: the working-set estimate W */
	uint64_t used_bytes;  /* guest's resident use + invisible overhead */
	uint64_t floor_bytes; /* lowest target outside the LOW state */
	uint64_t want_bytes;  /* need + margin (+ burst when urgent) */
	uint64_t allow_bytes; /* shrink the rate limit allowed this step */
	double rho;           /* shares per taxed byte at the new target */
};

struct bln_policy_host {
	uint64_t total_bytes, free_bytes, avail_bytes; /* /proc/meminfo */
	double psi_some_avg10, psi_full_avg10; /* /proc/pressure/memory */
	uint64_t now_ms;                       /* monotonic */
};

struct bln_policy_state {
	enum bln_host_state host_state; /* with hysteresis */
	uint64_t last_step_ms;
	uint64_t last_baseline_ms; /* last round of a baseline policy */
	uint64_t steps;            /* steps taken so far */
};

struct bln_policy_out {
	uint64_t target_bytes;
	enum bln_reason reason;
};

/* Fill @p with the documented defaults for @kind. */
void bln_policy_defaults(struct bln_policy_params *p,
                         enum bln_policy_kind kind);

/* Check parameters; 0 or -EINVAL. */
int bln_policy_validate(const struct bln_policy_params *p);

/*
 * One decision.  @vms and @vst and @out are arrays of @n.  Reads @host and
 * @vms, updates @st and @vst, writes @out[i].target_bytes (always within
 * [min_bytes, max_bytes]) and a reason.  A target the policy changes is a
 * multiple of step_bytes unless it equals min/max; an unchanged target
 * (reason NONE or PINNED) is the caller's target_bytes as given, clamped
 * into [min, max] (reason FLOOR if clamping moved it).
 * Returns 0, or -EINVAL (nothing written) if a pointer is NULL, @p fails
 * bln_policy_validate, a VM has min > max or max == 0, budget_bytes is 0
 * and the host total is 0, or now_ms went backwards.
 */
int bln_policy_step(const struct bln_policy_params *p,
                    struct bln_policy_state *st,
                    const struct bln_policy_host *host,
                    const struct bln_policy_vm *vms,
                    struct bln_policy_vm_state *vst, struct bln_policy_out *out,
                    size_t n);

/* True if a fresh stats update for a VM warrants an immediate step, given
 * its previous state: demand (new pages, refaults, or swap-out while the
 * policy is not squeezing it) with available memory about to collapse, or
 * an OOM kill (docs/policy.md, "Estimator").  Before the first step, only
 * available memory below a quarter margin.  Always false for the
 * baselines, pinned VMs and VMs already at max. */
bool bln_policy_urgent(const struct bln_policy_params *p,
                       const struct bln_policy_vm *vm,
                       const struct bln_policy_vm_state *vst);

/* Names: "idletax" "static" "proxmox" "mom"; "high" "soft" "hard" "low";
 * "none" "pinned" "grow-demand" "grow-plenty" "reclaim-idle" "floor"
 * "last-resort" "baseline".  *_name returns "?" for out-of-range values;
 * *_parse returns 0 or -EINVAL (unknown name or NULL). */
const char *bln_policy_kind_name(enum bln_policy_kind k);
int bln_policy_kind_parse(const char *s, enum bln_policy_kind *out);
const char *bln_reason_name(enum bln_reason r);
int bln_reason_parse(const char *s, enum bln_reason *out);
const char *bln_host_state_name(enum bln_host_state s);
int bln_host_state_parse(const char *s, enum bln_host_state *out);

#endif
