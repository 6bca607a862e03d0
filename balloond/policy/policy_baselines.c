/* SPDX-License-Identifier: MIT */
/*
 * policy_baselines.c - the two published automatic ballooning policies we
 * compare against, re-implemented from their descriptions (docs/policy.md
 * cites the sources):
 *  - Proxmox VE autoballoon (pvestatd every 10 s + PVE::AutoBalloon::
 *    compute_alg1): steer host usage to 80 %, split the change by shares
 *    above each VM's minimum, at most 100 MiB per VM per round;
 *  - oVirt MOM's default balloon policy (vdsm mom.d/02-balloon.policy,
 *    evaluated every 10 s): below 20 % host free shrink each guest by 5 %
 *    toward a free-memory floor, otherwise grow it by 5 %.
 * Both act once per baseline_interval_ms and leave targets alone between
 * rounds.  Targets are rounded toward the VM's actual size, so a change
 * never exceeds the baseline's own limit.
 */
#include "policy_internal.h"

/* Round a baseline's decision @x for a VM whose actual size is @a; returns
 * false when rounding leaves nothing to do. */
static bool round_toward(const struct pol_ctx *c, size_t i, double x,
                         uint64_t *res)
{
	const struct bln_policy_vm *vm = &c->vms[i];
	uint64_t a = vm->actual_bytes, r;

	if (x <= (double)vm->min_bytes)
		r = vm->min_bytes;
	else if (x >= (double)vm->max_bytes)
		r = vm->max_bytes;
	else if (x >= (double)a)
		r = bln_pol_q_down((uint64_t)x, c->p->step_bytes);
	else
		r = bln_pol_q_up((uint64_t)x, c->p->step_bytes);
	r = bln_pol_clamp(r, vm->min_bytes, vm->max_bytes);
	if ((x >= (double)a && r <= a) || (x < (double)a && r >= a))
		return false;
	*res = r;
	return true;
}

static void baseline_set(struct pol_ctx *c, size_t i, double x)
{
	uint64_t r;

	if (round_toward(c, i, x, &r))
		bln_pol_set(c, i, r, BLN_REASON_BASELINE);
}

/* ---- Proxmox VE ------------------------------------------------------- */

enum pve_list { PVE_ALL, PVE_PRESSURE, PVE_FREE };

static bool pve_member(const struct pol_ctx *c, size_t i, enum pve_list l)
{
	const struct bln_policy_vm *vm = &c->vms[i];
	uint64_t min = bln_pol_effective_min(c->p, vm);
	bool enough_free;

	/* pvestatd skips VMs without a balloon, with shares 0, and we keep
	 * pinned VMs out as every policy does. */
	if (vm->pinned || vm->shares == 0 || vm->actual_bytes == 0)
		return false;
	enough_free =
	        vm->stats_valid && vm->free_bytes > 0 &&
	        (double)vm->free_bytes > (double)min * POL_PVE_FREE_FRAC &&
	        vm->actual_bytes >= min;
	return l == PVE_ALL || (l == PVE_FREE) == enough_free;
}

/* Working value "res" of compute_alg1, kept in out[].target_bytes while the
 * round runs; out[].reason == POL_REASON_WORK marks the per-call done set. */
struct pve_iter {
	int64_t alloc_new;
	double shares_total;
};

static struct pve_iter pve_totals(const struct pol_ctx *c, enum pve_list l,
                                  int64_t rest)
{
	struct pve_iter it = {0, 0};

	for (size_t i = 0; i < c->n; i++) {
		if (!pve_member(c, i, l) || c->out[i].reason == POL_REASON_WORK)
			continue;
		it.alloc_new +=
		        (int64_t)c->out[i].target_bytes -
		        (int64_t)bln_pol_effective_min(c->p, &c->vms[i]);
		it.shares_total += c->vms[i].shares;
	}
	it.alloc_new += rest;
	return it;
}

/* One VM's move in one iteration; returns the change of its res. */
static int64_t pve_move(struct pol_ctx *c, size_t i, const struct pve_iter *it,
                        int64_t bytes, bool *repeat, int64_t *progress)
{
	const struct bln_policy_vm *vm = &c->vms[i];
	int64_t min = (int64_t)bln_pol_effective_min(c->p, vm);
	int64_t bal = (int64_t)vm->actual_bytes, step, res, d;
	int64_t chg = (int64_t)c->p->proxmox_step_bytes;

	d = (int64_t)((double)it->alloc_new / it->shares_total * vm->shares);
	d += min;
	if (d > (int64_t)vm->max_bytes || d < min) {
		d = d > (int64_t)vm->max_bytes ? (int64_t)vm->max_bytes : min;
		*repeat = true;
	}
	if (bytes > 0 && d > bal)
		res = bal + chg < d ? bal + chg : d;
	else if (d < bal)
		res = bal - chg > d ? bal - chg : d;
	else {
		c->out[i].reason = POL_REASON_WORK;
		return 0;
	}
	if (res == bal)
		return 0;
	step = res - (int64_t)c->out[i].target_bytes;
	c->out[i].target_bytes = (uint64_t)res;
	if (step != 0) {
		*progress += res > bal ? res - bal : bal - res;
		*repeat = true;
	}
	return step;
}

/* compute_alg1's change_func: distribute @bytes over list @l by shares. */
static int64_t pve_change(struct pol_ctx *c, enum pve_list l, int64_t bytes)
{
	int64_t rest = bytes, progress = 1;
	bool repeat = true;

	for (size_t i = 0; i < c->n; i++)
		if (c->out[i].reason == POL_REASON_WORK)
			c->out[i].reason = BLN_REASON_NONE;
	for (int k = 0; rest && repeat && progress && k < POL_PVE_MAX_ITER;
	     k++) {
		struct pve_iter it = pve_totals(c, l, rest);
		int64_t changes = 0;

		repeat = false;
		progress = 0;
		if (it.shares_total <= 0)
			break;
		for (size_t i = 0; i < c->n; i++)
			if (pve_member(c, i, l) &&
			    c->out[i].reason != POL_REASON_WORK)
				changes += pve_move(c, i, &it, bytes, &repeat,
				                    &progress);
		rest -= changes;
	}
	return rest;
}

static int64_t pve_goal(const struct pol_ctx *c)
{
	const struct bln_policy_host *h = c->host;
	double pct = c->p->proxmox_target_pct / 100.0;

	if (c->p->budget_bytes)
		return (int64_t)(pct * (double)c->p->budget_bytes -
		                 c->sum_actual);
	/* memused = MemTotal - MemAvailable (PVE::ProcFSTools) */
	return (int64_t)(pct * (double)h->total_bytes -
	                 ((double)h->total_bytes - (double)h->avail_bytes));
}

/* compute_alg1 for @goal bytes: leaves res (bytes) in out[].target_bytes of
 * every member VM; res == actual means "no change". */
void bln_pol_proxmox_alg1(struct pol_ctx *c, int64_t goal)
{
	int64_t rest;

	/* res starts at each VM's balloon (actual) value. */
	for (size_t i = 0; i < c->n; i++)
		if (pve_member(c, i, PVE_ALL))
			c->out[i].target_bytes = c->vms[i].actual_bytes;
	if (goal > POL_PVE_DEADZONE) {
		/* VMs under memory pressure first */
		rest = pve_change(c, PVE_PRESSURE, goal);
		if (rest >= goal)
			pve_change(c, PVE_ALL, rest);
	} else if (goal < -POL_PVE_DEADZONE) {
		/* VMs with enough free memory first */
		rest = pve_change(c, PVE_FREE, goal);
		if (rest <= goal)
			pve_change(c, PVE_ALL, rest);
	}
	for (size_t i = 0; i < c->n; i++)
		if (c->out[i].reason == POL_REASON_WORK)
			c->out[i].reason = BLN_REASON_NONE;
}

void bln_pol_step_proxmox(struct pol_ctx *c)
{
	bln_pol_proxmox_alg1(c, pve_goal(c));
	for (size_t i = 0; i < c->n; i++) {
		const struct bln_policy_vm *vm = &c->vms[i];
		double res = (double)c->out[i].target_bytes;

		if (!pve_member(c, i, PVE_ALL))
			continue;
		/* Unchanged unless res differs from the balloon value. */
		c->out[i].target_bytes = bln_pol_clamp(
		        vm->target_bytes, vm->min_bytes, vm->max_bytes);
		c->out[i].reason = c->out[i].target_bytes != vm->target_bytes
		                           ? BLN_REASON_FLOOR
		                           : BLN_REASON_NONE;
		if (res != (double)vm->actual_bytes)
			baseline_set(c, i, res);
	}
}

/* ---- oVirt MOM -------------------------------------------------------- */

static double mom_host_free(const struct pol_ctx *c)
{
	const struct bln_policy_host *h = c->host;

	if (c->p->budget_bytes)
		return ((double)c->p->budget_bytes - c->sum_actual) /
		       (double)c->p->budget_bytes;
	/* Host.mem_free / Host.mem_available = (MemFree + Buffers + Cached)
	 * / MemTotal; MemAvailable is our closest reading. */
	return (double)h->avail_bytes / (double)h->total_bytes;
}

static void mom_guest(struct pol_ctx *c, size_t i, double host_free)
{
	const struct bln_policy_vm *vm = &c->vms[i];
	double cur = (double)vm->actual_bytes, max = (double)vm->max_bytes;
	double min = (double)bln_pol_effective_min(c->p, vm);
	double used = cur - (double)vm->free_bytes; /* balloon_cur - unused */
	double gfree, bmin, size;
	bool pressure = host_free < POL_MOM_PRESSURE;

	if (host_free <= POL_MOM_CRITICAL)
		gfree = -0.05 + host_free; /* force the guest to swap */
	else
		gfree = POL_MOM_GUEST_FREE * host_free / POL_MOM_PRESSURE;
	bmin = used + gfree * cur;
	if (bmin < min)
		bmin = min;
	if (pressure) {
		size = cur * (1 - POL_MOM_MAX_CHANGE);
		if (size < bmin)
			size = bmin;
		if (size > cur)
			return;
	} else {
		if (cur >= max)
			return;
		size = cur * (1 + POL_MOM_MAX_CHANGE);
		if (size < bmin)
			size = bmin;
		if (size > max)
			size = max;
	}
	if (size - cur > POL_MOM_MIN_CHANGE * cur ||
	    cur - size > POL_MOM_MIN_CHANGE * cur)
		baseline_set(c, i, size);
}

void bln_pol_step_mom(struct pol_ctx *c)
{
	double host_free = mom_host_free(c);

	for (size_t i = 0; i < c->n; i++) {
		const struct bln_policy_vm *vm = &c->vms[i];

		if (vm->pinned)
			continue;
		if (vm->stats_valid && vm->actual_bytes)
			mom_guest(c, i, host_free);
		/* guest_qos: never below the guaranteed minimum */
		if (vm->actual_bytes < vm->min_bytes)
			bln_pol_set(c, i, vm->min_bytes, BLN_REASON_BASELINE);
	}
}
