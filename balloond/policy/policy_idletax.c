/* SPDX-License-Identifier: MIT */
/*
 * policy_idletax.c - our policy: ESX semantics (min = reservation, max =
 * limit, shares) with Waldspurger's idle memory tax, driven by host
 * free-memory states.  Reclaim and grants are both "water-filling" over the
 * level x = 1/rho (bytes per share): reclaim lowers the VMs with the lowest
 * rho until their rho rises to a common level, grants raise the VMs with the
 * highest rho until theirs falls to one.  Each water-fill is a bisection on
 * x over O(n) sums: O(n) per step with a constant bound on iterations, and
 * no allocation.  See docs/policy.md.
 */
#include "policy_internal.h"

enum wf_mode {
	WF_RECLAIM,     /* down to max(min, need + margin): idle tax */
	WF_LAST_RESORT, /* down to min: host in LOW */
	WF_GROW_URGENT, /* swapping / collapsed guests */
	WF_GROW_PLENTY, /* host HIGH: back to need + margin */
	WF_FAIR_SHARE,  /* contention: down to the share, for VMs below it */
};

#define WF_MAX_ITER 64

static bool wf_shrinks(enum wf_mode m)
{
	return m == WF_RECLAIM || m == WF_LAST_RESORT || m == WF_FAIR_SHARE;
}

/* VM i's fair share of the memory: pool x shares / total shares, between
 * its min and max (ESX: shares divide what is contended). */
static uint64_t share_of(const struct pol_ctx *c, size_t i)
{
	const struct bln_policy_vm *vm = &c->vms[i];
	double s;

	if (c->pool_shares <= 0)
		return vm->max_bytes;
	s = c->pool * (double)vm->shares / c->pool_shares;
	if (s <= (double)vm->min_bytes)
		return vm->min_bytes;
	if (s >= (double)vm->max_bytes)
		return vm->max_bytes;
	return (uint64_t)s;
}

/* Within the dwell time of a change in the direction opposite to @dir. */
static bool dwelling(const struct pol_ctx *c, size_t i, int dir)
{
	const struct bln_policy_vm_state *s = &c->vst[i];

	return s->last_dir == -dir && s->last_change_ms &&
	       c->now - s->last_change_ms < POL_DWELL_MS;
}

/* Largest change of VM i allowed in mode m (bytes). */
static uint64_t wf_cap(const struct pol_ctx *c, size_t i, enum wf_mode m)
{
	const struct bln_policy_vm *vm = &c->vms[i];
	const struct bln_policy_vm_state *s = &c->vst[i];
	uint64_t t = c->out[i].target_bytes, t0, taken, allow, lo;

	if (vm->pinned)
		return 0;
	t0 = bln_pol_clamp(vm->target_bytes, vm->min_bytes, vm->max_bytes);
	if (!wf_shrinks(m)) {
		/* never give back in the step that took (last resort) */
		if (s->urgent != (m == WF_GROW_URGENT) || s->want_bytes <= t ||
		    t < t0)
			return 0;
		if (m == WF_GROW_PLENTY && dwelling(c, i, 1))
			return 0;
		if (m == WF_GROW_URGENT && c->contended) {
			uint64_t share = share_of(c, i);

			if (t >= share)
				return 0;
			if (s->want_bytes > share)
				return share - t;
		}
		return s->want_bytes - t;
	}
	if (m == WF_RECLAIM &&
	    (s->urgent || (dwelling(c, i, -1) && !c->fund_urgent)))
		return 0;
	if (m == WF_FAIR_SHARE && t > t0)
		return 0; /* never take back in the step that gave */
	taken = t0 > t ? t0 - t : 0;
	allow = s->allow_bytes > taken ? s->allow_bytes - taken : 0;
	lo = m == WF_RECLAIM      ? s->floor_bytes
	     : m == WF_FAIR_SHARE ? share_of(c, i)
	                          : vm->min_bytes;
	if (t <= lo)
		return 0;
	allow = allow < t - lo ? allow : t - lo;
	if (m == WF_FAIR_SHARE)
		return allow < c->p->step_bytes ? 0 : allow;
	return m == WF_RECLAIM && allow < POL_MIN_RECLAIM ? 0 : allow;
}

/* Allocation of a VM at level x: rho(P) = 1/x solved for P. */
static double alloc_at(double shares, double act, double k, double x)
{
	double sx = shares * x;

	return sx <= act ? sx : act + (sx - act) / k;
}

/* Level at which a VM's allocation is P (inverse of alloc_at). */
static double level_of(double shares, double act, double k, double p)
{
	if (shares <= 0)
		return 0;
	if (p <= act)
		return p / shares;
	return (act + k * (p - act)) / shares;
}

static double wf_amount(const struct pol_ctx *c, size_t i, enum wf_mode m,
                        double x, uint64_t cap)
{
	double a = alloc_at(
	        (double)c->vms[i].shares,
	        (double)bln_pol_active_bytes(&c->vms[i], &c->vst[i]), c->k, x);
	double t = (double)c->out[i].target_bytes;
	double d = wf_shrinks(m) ? t - a : a - t;

	if (d <= 0)
		return 0;
	return d < (double)cap ? d : (double)cap;
}

static double wf_sum(const struct pol_ctx *c, enum wf_mode m, double x)
{
	double sum = 0;

	for (size_t i = 0; i < c->n; i++) {
		uint64_t cap = wf_cap(c, i, m);

		if (cap)
			sum += wf_amount(c, i, m, x, cap);
	}
	return sum;
}

/* Sum of caps and the level beyond which nothing changes any more (reclaim:
 * every VM above its allocation; grants: every VM saturated). */
static double wf_bounds(const struct pol_ctx *c, enum wf_mode m, double *hi)
{
	double caps = 0;

	*hi = 0;
	for (size_t i = 0; i < c->n; i++) {
		uint64_t cap = wf_cap(c, i, m), t = c->out[i].target_bytes;
		double lv;

		if (!cap)
			continue;
		caps += (double)cap;
		lv = level_of(
		        (double)c->vms[i].shares,
		        (double)bln_pol_active_bytes(&c->vms[i], &c->vst[i]),
		        c->k, (double)(wf_shrinks(m) ? t : t + cap));
		if (lv > *hi)
			*hi = lv;
	}
	return caps;
}

/* The level that moves @goal bytes: reclaim takes at least goal (the
 * largest such x), grants give at most goal (the largest such x). */
static double wf_level(const struct pol_ctx *c, enum wf_mode m, double goal,
                       bool *all)
{
	double hi, lo = 0, caps = wf_bounds(c, m, &hi);
	/* close enough: within a step, or 0.01 % of the goal */
	double tol = (double)c->p->step_bytes + goal * 1e-4;

	*all = caps <= goal;
	if (*all)
		return wf_shrinks(m) ? 0 : hi;
	for (int it = 0; it < WF_MAX_ITER; it++) {
		double mid = lo + (hi - lo) / 2, f = wf_sum(c, m, mid);
		bool ok = wf_shrinks(m) ? f >= goal : f <= goal;

		if (!ok) {
			hi = mid;
			continue;
		}
		lo = mid;
		if ((wf_shrinks(m) ? f - goal : goal - f) < tol)
			break;
	}
	return lo;
}

static uint64_t wf_new_target(const struct pol_ctx *c, size_t i, enum wf_mode m,
                              double amount, bool all)
{
	const struct bln_policy_vm *vm = &c->vms[i];
	uint64_t t = c->out[i].target_bytes, d = (uint64_t)amount, v;

	if (wf_shrinks(m)) {
		v = t - d;
		return v <= vm->min_bytes ? vm->min_bytes
		                          : bln_pol_q_up(v, c->p->step_bytes);
	}
	v = t + d;
	if (v >= vm->max_bytes)
		return vm->max_bytes;
	/* Fully funded urgent grants round up: never less than asked. */
	v = all && m == WF_GROW_URGENT ? bln_pol_q_up(v, c->p->step_bytes)
	                               : bln_pol_q_down(v, c->p->step_bytes);
	return v > vm->max_bytes ? vm->max_bytes : v;
}

static enum bln_reason wf_reason(const struct pol_ctx *c, size_t i,
                                 enum wf_mode m, uint64_t nt)
{
	switch (m) {
	case WF_RECLAIM:
		return BLN_REASON_RECLAIM_IDLE;
	case WF_LAST_RESORT:
		return nt < c->vst[i].floor_bytes ? BLN_REASON_LAST_RESORT
		                                  : BLN_REASON_RECLAIM_IDLE;
	case WF_GROW_URGENT:
		return BLN_REASON_GROW_DEMAND;
	case WF_FAIR_SHARE:
		return BLN_REASON_FAIR_SHARE;
	default:
		return BLN_REASON_GROW_PLENTY;
	}
}

/* Move about @goal bytes in mode @m; returns the bytes actually moved. */
static double wf_run(struct pol_ctx *c, enum wf_mode m, double goal)
{
	double moved = 0, x;
	bool all;

	if (goal <= 0)
		return 0;
	x = wf_level(c, m, goal, &all);
	for (size_t i = 0; i < c->n; i++) {
		uint64_t cap = wf_cap(c, i, m), t = c->out[i].target_bytes, nt;
		double d;

		if (!cap)
			continue;
		d = all ? (double)cap : wf_amount(c, i, m, x, cap);
		if (d <= 0)
			continue;
		nt = wf_new_target(c, i, m, d, all);
		if (wf_shrinks(m) ? nt >= t : nt <= t)
			continue;
		moved += wf_shrinks(m) ? (double)(t - nt) : (double)(nt - t);
		bln_pol_set(c, i, nt, wf_reason(c, i, m, nt));
	}
	return moved;
}

/* VMs the reclaim wanted more from but that sit at their floor. */
static void mark_floors(struct pol_ctx *c, bool short_goal)
{
	bool over = c->sum_min > c->ref;

	for (size_t i = 0; i < c->n; i++) {
		const struct bln_policy_vm *vm = &c->vms[i];
		uint64_t t = c->out[i].target_bytes;
		uint64_t lo = c->state == BLN_HOST_LOW ? vm->min_bytes
		                                       : c->vst[i].floor_bytes;

		if (vm->pinned || c->out[i].reason != BLN_REASON_NONE)
			continue;
		if ((short_goal && t <= lo) || (over && t <= vm->min_bytes))
			c->out[i].reason = BLN_REASON_FLOOR;
	}
}

/* Bytes free now once pending grants are counted: budget - sum over VMs of
 * max(actual, target).  Grants are made only from this (a reclaim counts
 * once the donor's balloon has actually inflated). */
static double grantable_now(const struct pol_ctx *c)
{
	double g = c->free_now;

	for (size_t i = 0; i < c->n; i++) {
		uint64_t t = c->out[i].target_bytes, a = c->vms[i].actual_bytes;

		if (t > a)
			g -= (double)(t - a);
	}
	return g;
}

static double min_d(double a, double b)
{
	return a < b ? a : b;
}

/* A guest with a quarter of its size or more in swap (swapped out less
 * swapped in) and still short is the one its swap may not hold much
 * longer; only for such a guest are the others squeezed below their
 * floors.  Spreading a shortage costs more throughput than leaving it
 * where it fell (every guest with a page in swap faults), so a guest that
 * swaps less is left to its swap. */
static bool swapped_deep(const struct bln_policy_vm *vm)
{
	uint64_t out = vm->swap_out_bytes, in = vm->swap_in_bytes;

	return out > in && out - in >= vm->max_bytes / 4;
}

/* The pool the fair shares divide: what the unpinned VMs have plus what is
 * free beyond the low mark the policy always keeps. */
static void pool_init(struct pol_ctx *c, double t_low)
{
	double spare = c->free_now - t_low;

	c->pool = spare > 0 ? spare : 0;
	c->pool_shares = 0;
	c->contended = false;
	for (size_t i = 0; i < c->n; i++) {
		if (c->vms[i].pinned)
			continue;
		c->pool += (double)c->vms[i].actual_bytes;
		c->pool_shares += (double)c->vms[i].shares;
	}
}

/* Urgent demand of @urgent bytes, of which @g can be funded: short of it,
 * is an urgent VM below its share? */
static bool contended(const struct pol_ctx *c, double urgent, double g)
{
	if (urgent <= g)
		return false;
	for (size_t i = 0; i < c->n; i++) {
		const struct bln_policy_vm_state *s = &c->vst[i];
		uint64_t t = c->out[i].target_bytes;

		if (!c->vms[i].pinned && s->urgent && s->want_bytes > t &&
		    t < share_of(c, i))
			return true;
	}
	return false;
}

/*
 * Urgent demand the free memory and the idle tax could not fund: active
 * VMs contend.  A VM below its fair share that runs short takes from the
 * VMs above theirs (lowest shares per page first, down to their share, at
 * most one shrink allowance per tick), so that the shortage is spread by
 * shares instead of falling on whoever started growing last; memory is
 * granted from what the donors' balloons actually give back, on later
 * steps.  Memory already on its way back (balloons still inflating, and
 * @room, what is free beyond the low mark) counts first.  Returns the
 * bytes by which donors' targets were lowered.
 */
static double fair_share(struct pol_ctx *c, double room)
{
	double unfunded = 0, coming = room > 0 ? room : 0;

	for (size_t i = 0; i < c->n; i++) {
		const struct bln_policy_vm *vm = &c->vms[i];
		const struct bln_policy_vm_state *s = &c->vst[i];
		uint64_t t = c->out[i].target_bytes, share = share_of(c, i);
		uint64_t upto = s->want_bytes < share ? s->want_bytes : share;

		if (vm->actual_bytes > t)
			coming += (double)(vm->actual_bytes - t);
		if (s->urgent && !vm->pinned && upto > t && swapped_deep(vm))
			unfunded += (double)(upto - t);
	}
	if (unfunded - coming < (double)c->p->step_bytes)
		return 0;
	return wf_run(c, WF_FAIR_SHARE, unfunded - coming);
}

void bln_pol_step_idletax(struct pol_ctx *c)
{
	const struct bln_policy_params *p = c->p;
	double t_high = p->high_pct / 100.0 * c->ref;
	double t_soft = p->soft_pct / 100.0 * c->ref;
	double t_low = p->low_pct / 100.0 * c->ref;
	double f = c->free_now, urgent = 0, keep, goal, got = 0;
	double room = grantable_now(c), moved;

	pool_init(c, t_low);
	/* Projected free memory once every target is reached. */
	for (size_t i = 0; i < c->n; i++) {
		const struct bln_policy_vm_state *s = &c->vst[i];
		uint64_t t = c->out[i].target_bytes;

		f += (double)c->vms[i].actual_bytes - (double)t;
		if (s->urgent && !c->vms[i].pinned && s->want_bytes > t)
			urgent += (double)(s->want_bytes - t);
	}
	/* Reclaim back to the high mark (SOFT and worse), or keep the soft
	 * mark while granting urgent demand (HIGH). */
	keep = c->state == BLN_HOST_HIGH ? t_soft : t_high;
	goal = keep - (f - urgent);
	c->fund_urgent = urgent > 0 && f - keep < urgent;
	if (goal > 0) {
		/* whole steps, so rounding cannot leave the host just short */
		goal = (double)p->step_bytes *
		       (double)(uint64_t)(goal / (double)p->step_bytes + 1);
		got = wf_run(c, WF_RECLAIM, goal);
		if (c->state == BLN_HOST_LOW && got < goal)
			got += wf_run(c, WF_LAST_RESORT, goal - got);
		f += got;
	}
	if (urgent > 0) {
		double g = min_d(f, room) - t_low;

		/* short even with what the idle tax is reclaiming */
		c->contended = contended(c, urgent, f - t_low);
		moved = wf_run(c, WF_GROW_URGENT, min_d(g, urgent));
		f -= moved;
		room -= moved;
		f += fair_share(c, room - t_low);
	}
	if (c->state == BLN_HOST_HIGH)
		wf_run(c, WF_GROW_PLENTY, min_d(f, room) - t_high);
	mark_floors(c, goal > 0 && goal - got >= (double)p->step_bytes);
}
