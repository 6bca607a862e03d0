/* SPDX-License-Identifier: MIT */
/*
 * policy_internal.h - shared between the policy's .c files: the per-step
 * context, the estimator and the per-kind steps.  Not installed.
 */
#ifndef BALLOOND_POLICY_INTERNAL_H
#define BALLOOND_POLICY_INTERNAL_H

#include "balloon/bln_policy.h"

#define POL_MIB  (1024ull * 1024ull)
#define POL_PAGE 4096ull /* balloon page, bytes */

/* Estimator and damping (docs/policy.md, "Estimator", "Damping"). */
#define POL_IDLE_GRACE_MS  3000.0   /* no evidence of use this long: decay */
#define POL_IDLE_DECAY_MS  15000.0  /* time constant of W's decay */
#define POL_HOT_DECAY_MS   600000.0 /* ... of the refaulted (hot) part */
#define POL_REFAULT_WEIGHT 4        /* W grows by 4 x bytes read back */
#define POL_SWAP_EVT_BYTES POL_MIB  /* swap in or out per step = evidence */
#define POL_MAJFLT_EVT     256ull   /* major faults per step = refaults */
#define POL_MINFLT_EVT     256ull   /* minor faults per step = new pages */
#define POL_DWELL_MS       5000ull  /* no voluntary reversal before this */
#define POL_MIN_SAMPLE_MS  50ull    /* shortest interval taken as a rate */
#define POL_FREE_EVT_BYTES (16 * POL_MIB) /* a guest free, per step */
#define POL_FREE_HOLD_MS   2000.0 /* what it freed stays in W this long */
#define POL_MIN_RECLAIM    (16 * POL_MIB) /* smaller idle-tax cuts: skip */

/* Proxmox VE (PVE/AutoBalloon.pm, PVE/Service/pvestatd.pm). */
#define POL_PVE_DEADZONE  (10ll * 1024 * 1024) /* |goal| below: do nothing */
#define POL_PVE_FREE_FRAC 0.25 /* freemem > 25 % of min: "enough free" */
#define POL_PVE_MAX_ITER  100  /* bound on compute_alg1's redistribution */

/* oVirt MOM (vdsm static/etc/vdsm/mom.d/02-balloon.policy). */
#define POL_MOM_PRESSURE   0.20   /* pressure_threshold */
#define POL_MOM_CRITICAL   0.05   /* pressure_critical */
#define POL_MOM_GUEST_FREE 0.20   /* min_guest_free_percent */
#define POL_MOM_MAX_CHANGE 0.05   /* max_balloon_change_percent */
#define POL_MOM_MIN_CHANGE 0.0025 /* min_balloon_change_percent */

/* Internal marker in out[].reason while a baseline works (never returned). */
#define POL_REASON_WORK BLN_REASON_NR

struct pol_ctx {
	const struct bln_policy_params *p;
	struct bln_policy_state *st;
	const struct bln_policy_host *host;
	const struct bln_policy_vm *vms;
	struct bln_policy_vm_state *vst;
	struct bln_policy_out *out;
	size_t n;
	uint64_t now;      /* ms */
	uint64_t dt;       /* ms since the previous step, 0 on the first */
	double ref;        /* bytes the percentages refer to (budget/total) */
	double free_now;   /* budget - sum(actual), or avail - reserve */
	double sum_actual; /* over all VMs */
	double sum_min;    /* over all VMs */
	double k;          /* idle cost factor 1 / (1 - tax_rate) */
	enum bln_host_state state; /* after hysteresis and PSI */
	/* this step reclaims to fund urgent demand: a donor's dwell after a
	 * grow does not protect its memory above its floor */
	bool fund_urgent;
	/* fair shares (policy_idletax.c): the memory the unpinned VMs have
	 * or could have (sum of actual + free now) and their shares */
	double pool, pool_shares;
	/* the urgent demand exceeds what can be granted and an urgent VM
	 * is below its share: no urgent grant lifts a VM above its share */
	bool contended;
};

/* Evidence from one VM's counters since the previous step (bytes). */
struct pol_ev {
	uint64_t d_in, d_out;   /* swap-in, swap-out */
	uint64_t refault_bytes; /* max(swap-in, major faults x 4 KiB) */
	uint64_t growth;        /* max(rise of used, minor faults x 4 KiB) */
	/* growth scaled to one tick: the interval since the previous
	 * counters may be shorter (stats alerts arrive between ticks) */
	uint64_t growth_tick;
	bool oom;       /* an OOM kill */
	bool refault;   /* swap-in or major faults over threshold */
	bool new_pages; /* minor faults over threshold */
	bool swapping;  /* swap-out while not being inflated by us */
	bool demand;    /* any of the three above */
};

/* policy_est.c */
uint64_t bln_pol_clamp(uint64_t x, uint64_t lo, uint64_t hi);
uint64_t bln_pol_q_up(uint64_t x, uint64_t step);
uint64_t bln_pol_q_down(uint64_t x, uint64_t step);
uint64_t bln_pol_guest_avail(const struct bln_policy_vm *vm);
uint64_t bln_pol_guest_used(const struct bln_policy_vm *vm);
void bln_pol_evidence(const struct bln_policy_params *p,
                      const struct bln_policy_vm *vm,
                      const struct bln_policy_vm_state *s, uint64_t used,
                      struct pol_ev *e);
bool bln_pol_urgent_ev(const struct bln_policy_params *p, uint64_t avail,
                       const struct pol_ev *e);
uint64_t bln_pol_active_bytes(const struct bln_policy_vm *vm,
                              const struct bln_policy_vm_state *s);
double bln_pol_rho(double shares, double active, double alloc, double k);
uint64_t bln_pol_effective_min(const struct bln_policy_params *p,
                               const struct bln_policy_vm *vm);
void bln_pol_estimate(struct pol_ctx *c);
enum bln_host_state bln_pol_host_state(const struct bln_policy_params *p,
                                       enum bln_host_state prev, double free,
                                       double ref, double psi_some);
void bln_pol_set(struct pol_ctx *c, size_t i, uint64_t target,
                 enum bln_reason why);

/* policy_idletax.c */
void bln_pol_step_idletax(struct pol_ctx *c);

/* policy_baselines.c */
void bln_pol_proxmox_alg1(struct pol_ctx *c, int64_t goal);
void bln_pol_step_proxmox(struct pol_ctx *c);
void bln_pol_step_mom(struct pol_ctx *c);

#endif
