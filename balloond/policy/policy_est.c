/* SPDX-License-Identifier: MIT */
/*
 * policy_est.c - the policy's measurements: quantization helpers, the guest
 * need / active-fraction estimator (two moving averages, fast rising and
 * slow falling), the per-tick shrink allowance and the host free-memory
 * state machine with hysteresis.  See docs/policy.md.
 */
#include "policy_internal.h"

uint64_t pol_clamp(uint64_t x, uint64_t lo, uint64_t hi)
{
	if (x < lo)
		return lo;
	if (x > hi)
		return hi;
	return x;
}

uint64_t pol_q_up(uint64_t x, uint64_t step)
{
	uint64_t r = x % step;

	if (r == 0)
		return x;
	if (x > UINT64_MAX - (step - r))
		return x - r;
	return x + (step - r);
}

uint64_t pol_q_down(uint64_t x, uint64_t step)
{
	return x - x % step;
}

static uint64_t max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

static uint64_t delta(uint64_t cur, uint64_t prev)
{
	/* A counter that went backwards was reset (guest reboot). */
	return cur >= prev ? cur - prev : 0;
}

/* Guest available memory (bytes): MemAvailable if reported, else free plus
 * disk caches; never above the guest's total. */
uint64_t pol_guest_avail(const struct bln_policy_vm *vm)
{
	uint64_t a = vm->avail_bytes;

	if (a == 0) {
		a = vm->free_bytes + vm->cache_bytes;
		if (a < vm->free_bytes) /* overflow */
			a = UINT64_MAX;
	}
	return a < vm->total_bytes ? a : vm->total_bytes;
}

/* Active bytes A = f * P (P = actual); a VM without stats counts as fully
 * active. */
uint64_t pol_active_bytes(const struct bln_policy_vm *vm,
                          const struct bln_policy_vm_state *s)
{
	if (!vm->stats_valid)
		return vm->actual_bytes;
	return (uint64_t)(s->active * (double)vm->actual_bytes);
}

/* Waldspurger's shares-per-page ratio, in shares per byte:
 * rho = S / (P * (f + k (1 - f))) = S / (A + k (P - A)) with A = f P; for an
 * allocation below the active size every byte counts once. */
double pol_rho(double shares, double active, double alloc, double k)
{
	double cost;

	if (alloc <= active)
		cost = alloc;
	else
		cost = active + k * (alloc - active);
	if (cost <= 0)
		return shares > 0 ? 1e300 : 0;
	return shares / cost;
}

/* Aggressiveness a in [0, 1] moves a VM's reclaim floor from x (a = 1) to
 * max (a = 0): floor_a = x + (1 - a) (max - x). */
static uint64_t agg_floor(const struct bln_policy_params *p, uint64_t x,
                          uint64_t max)
{
	double f;

	if (x >= max)
		return max;
	f = (double)x + (1.0 - p->aggressiveness) * (double)(max - x);
	if (f >= (double)max)
		return max;
	return (uint64_t)f;
}

/* The reservation the baselines see: min moved toward max by the
 * aggressiveness (a = 1 keeps min). */
uint64_t pol_effective_min(const struct bln_policy_params *p,
                           const struct bln_policy_vm *vm)
{
	return agg_floor(p, vm->min_bytes, vm->max_bytes);
}

static uint64_t shrink_allowance(const struct pol_ctx *c,
                                 const struct bln_policy_vm_state *s)
{
	uint64_t el;

	if (s->last_change_ms == 0)
		return c->p->max_shrink_bytes;
	el = c->now > s->last_change_ms ? c->now - s->last_change_ms : 0;
	if (el >= c->p->tick_ms)
		return c->p->max_shrink_bytes;
	return (uint64_t)((double)c->p->max_shrink_bytes * (double)el /
	                  (double)c->p->tick_ms);
}

/* Pressure evidence since the previous step: swap traffic, a storm of
 * major faults, or an OOM kill. */
static bool pressure(const struct bln_policy_vm *vm,
                     const struct bln_policy_vm_state *s)
{
	return delta(vm->swap_out_bytes, s->prev_swap_out) >=
	               POL_SWAP_EVT_BYTES ||
	       delta(vm->swap_in_bytes, s->prev_swap_in) >=
	               POL_SWAP_EVT_BYTES ||
	       delta(vm->major_faults, s->prev_majflt) >= POL_MAJFLT_EVT ||
	       delta(vm->oom_kills, s->prev_oom_kills) > 0;
}

static void ewma_update(const struct pol_ctx *c, struct bln_policy_vm_state *s,
                        double f, bool first)
{
	double dt = (double)c->dt;
	double af = dt / (POL_EWMA_FAST_MS + dt);
	double as = dt / (POL_EWMA_SLOW_MS + dt);

	if (first) {
		s->active_fast = f;
		s->active_slow = f;
	} else {
		s->active_fast += af * (f - s->active_fast);
		s->active_slow += as * (f - s->active_slow);
	}
	s->active = f;
	if (s->active_fast > s->active)
		s->active = s->active_fast;
	if (s->active_slow > s->active)
		s->active = s->active_slow;
}

/* How much more an urgent VM gets beyond need + margin: what the last
 * interval shows it is short of, at least one more margin. */
static uint64_t burst(const struct pol_ctx *c, const struct bln_policy_vm *vm,
                      const struct bln_policy_vm_state *s, uint64_t need)
{
	uint64_t b = c->p->margin_bytes;

	b = max_u64(b, delta(vm->swap_out_bytes, s->prev_swap_out));
	b = max_u64(b, delta(need, s->need_bytes));
	b = max_u64(b, delta(vm->major_faults, s->prev_majflt) * POL_PAGE);
	return b;
}

static void save_counters(const struct bln_policy_vm *vm,
                          struct bln_policy_vm_state *s)
{
	s->prev_swap_in = vm->swap_in_bytes;
	s->prev_swap_out = vm->swap_out_bytes;
	s->prev_majflt = vm->major_faults;
	s->prev_oom_kills = vm->oom_kills;
}

/* need = what the guest uses plus the memory it cannot see (kernel image,
 * struct pages): in units of the allocation P = actual. */
static uint64_t guest_need(const struct bln_policy_vm *vm, uint64_t avail)
{
	uint64_t over = vm->actual_bytes > vm->total_bytes
	                        ? vm->actual_bytes - vm->total_bytes
	                        : 0;

	return vm->total_bytes - avail + over;
}

static void estimate_stats(struct pol_ctx *c, size_t i)
{
	const struct bln_policy_vm *vm = &c->vms[i];
	struct bln_policy_vm_state *s = &c->vst[i];
	uint64_t avail = pol_guest_avail(vm), need = guest_need(vm, avail);
	uint64_t act, want;
	bool first = !s->seen, press;
	double f;

	if (first) { /* no history yet: every delta is 0 */
		s->need_bytes = need;
		save_counters(vm, s);
	}
	press = pressure(vm, s);
	s->urgent = press || avail < c->p->margin_bytes;
	f = vm->actual_bytes ? (double)need / (double)vm->actual_bytes : 1.0;
	if (press || f > 1.0)
		f = 1.0;
	ewma_update(c, s, f, first);
	act = pol_active_bytes(vm, s);
	want = max_u64(need, act) + c->p->margin_bytes;
	if (s->urgent)
		want += burst(c, vm, s, need);
	s->want_bytes = pol_clamp(want, vm->min_bytes, vm->max_bytes);
	s->need_bytes = need;
	s->floor_bytes = agg_floor(c->p,
	                           pol_clamp(need + c->p->margin_bytes,
	                                     vm->min_bytes, vm->max_bytes),
	                           vm->max_bytes);
	s->seen = true;
	save_counters(vm, s);
}

/* No stats: treat all of the VM as needed; never grow it, reclaim it only
 * as a last resort. */
static void estimate_blind(struct pol_ctx *c, size_t i, uint64_t t0)
{
	const struct bln_policy_vm *vm = &c->vms[i];
	struct bln_policy_vm_state *s = &c->vst[i];

	s->urgent = false;
	s->need_bytes = vm->actual_bytes;
	s->want_bytes = t0;
	s->floor_bytes = pol_clamp(vm->actual_bytes + c->p->margin_bytes,
	                           vm->min_bytes, vm->max_bytes);
}

/* Pass 1 over the VMs: estimator, allowance, sums, and every out[i] set to
 * the unchanged target. */
void pol_estimate(struct pol_ctx *c)
{
	for (size_t i = 0; i < c->n; i++) {
		const struct bln_policy_vm *vm = &c->vms[i];
		struct bln_policy_vm_state *s = &c->vst[i];
		uint64_t t0 = pol_clamp(vm->target_bytes, vm->min_bytes,
		                        vm->max_bytes);

		c->out[i].target_bytes = t0;
		c->out[i].reason = vm->pinned               ? BLN_REASON_PINNED
		                   : t0 != vm->target_bytes ? BLN_REASON_FLOOR
		                                            : BLN_REASON_NONE;
		c->sum_actual += (double)vm->actual_bytes;
		c->sum_min += (double)vm->min_bytes;
		if (vm->stats_valid)
			estimate_stats(c, i);
		else
			estimate_blind(c, i, t0);
		s->allow_bytes = shrink_allowance(c, s);
	}
}

/*
 * ESX-style states with hysteresis: a worse state is entered when free
 * memory drops below its threshold (soft/hard/low), and left only when free
 * memory climbs back to the threshold of the next better state
 * (SOFT -> HIGH at high_pct, HARD -> SOFT at soft_pct, LOW -> HARD at
 * hard_pct).  PSI some avg10 >= psi_some_hard holds the state at HARD or
 * worse.
 */
enum bln_host_state pol_host_state(const struct bln_policy_params *p,
                                   enum bln_host_state prev, double free,
                                   double ref, double psi_some)
{
	const double enter[BLN_HOST_NR] = {0, p->soft_pct, p->hard_pct,
	                                   p->low_pct};
	const double leave[BLN_HOST_NR] = {0, p->high_pct, p->soft_pct,
	                                   p->hard_pct};
	double pct = ref > 0 ? 100.0 * free / ref : -1.0;
	int s = prev < BLN_HOST_NR ? (int)prev : BLN_HOST_HIGH;

	if (s < BLN_HOST_LOW && pct < enter[s + 1]) {
		while (s < BLN_HOST_LOW && pct < enter[s + 1])
			s++;
	} else {
		while (s > BLN_HOST_HIGH && pct >= leave[s])
			s--;
	}
	if (psi_some >= p->psi_some_hard && s < BLN_HOST_HARD)
		s = BLN_HOST_HARD;
	return (enum bln_host_state)s;
}

void pol_set(struct pol_ctx *c, size_t i, uint64_t target, enum bln_reason why)
{
	c->out[i].target_bytes = target;
	c->out[i].reason = why;
}
