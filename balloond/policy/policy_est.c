/* SPDX-License-Identifier: MIT */
/*
 * policy_est.c - the policy's measurements: quantization helpers, the guest
 * working-set estimator (a fast part that rises at once on evidence of use
 * and decays slowly after it, and a hot part fed by swap read-backs; the
 * active fraction is their maximum over the allocation), urgency, the
 * per-tick shrink allowance and the host free-memory state machine with
 * hysteresis.  See docs/policy.md, "Estimator".
 */
#include "policy_internal.h"

uint64_t bln_pol_clamp(uint64_t x, uint64_t lo, uint64_t hi)
{
	if (x < lo)
		return lo;
	if (x > hi)
		return hi;
	return x;
}

uint64_t bln_pol_q_up(uint64_t x, uint64_t step)
{
	uint64_t r = x % step;

	if (r == 0)
		return x;
	if (x > UINT64_MAX - (step - r))
		return x - r;
	return x + (step - r);
}

uint64_t bln_pol_q_down(uint64_t x, uint64_t step)
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
uint64_t bln_pol_guest_avail(const struct bln_policy_vm *vm)
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
uint64_t bln_pol_active_bytes(const struct bln_policy_vm *vm,
                              const struct bln_policy_vm_state *s)
{
	if (!vm->stats_valid)
		return vm->actual_bytes;
	return (uint64_t)(s->active * (double)vm->actual_bytes);
}

/* Waldspurger's shares-per-page ratio, in shares per byte:
 * rho = S / (P * (f + k (1 - f))) = S / (A + k (P - A)) with A = f P; for an
 * allocation below the active size every byte counts once. */
double bln_pol_rho(double shares, double active, double alloc, double k)
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
uint64_t bln_pol_effective_min(const struct bln_policy_params *p,
                               const struct bln_policy_vm *vm)
{
	return agg_floor(p, vm->min_bytes, vm->max_bytes);
}

static uint64_t shrink_allowance(const struct pol_ctx *c,
                                 const struct bln_policy_vm *vm,
                                 const struct bln_policy_vm_state *s)
{
	uint64_t el, allow = c->p->max_shrink_bytes, lag;

	if (s->last_change_ms != 0) {
		el = c->now > s->last_change_ms ? c->now - s->last_change_ms
		                                : 0;
		if (el < c->p->tick_ms)
			allow = (uint64_t)((double)allow * (double)el /
			                   (double)c->p->tick_ms);
	}
	/* A donor still inflating toward an earlier target (its guest must
	 * swap to give pages) is not asked for more than one allowance
	 * beyond its actual size. */
	lag = vm->actual_bytes > vm->target_bytes
	              ? vm->actual_bytes - vm->target_bytes
	              : 0;
	return allow > lag ? allow - lag : 0;
}

/* @growth over the interval between the previous counters and these,
 * projected over one tick (never less than @growth): how much more the
 * guest will want before we would next look at it on the tick.  Intervals
 * below POL_MIN_SAMPLE_MS count as that (one sample's noise is not a
 * rate); without both timestamps, @growth as it is. */
static uint64_t tick_scaled(const struct bln_policy_params *p,
                            const struct bln_policy_vm *vm,
                            const struct bln_policy_vm_state *s,
                            uint64_t growth)
{
	uint64_t dt;

	if (!vm->stats_ms || !s->prev_stats_ms ||
	    vm->stats_ms <= s->prev_stats_ms)
		return growth;
	dt = vm->stats_ms - s->prev_stats_ms;
	if (dt < POL_MIN_SAMPLE_MS)
		dt = POL_MIN_SAMPLE_MS;
	if (dt >= p->tick_ms)
		return growth;
	return (uint64_t)((double)growth * (double)p->tick_ms / (double)dt);
}

/* What the counters show since the previous step (docs/policy.md,
 * "Estimator"). */
void bln_pol_evidence(const struct bln_policy_params *p,
                      const struct bln_policy_vm *vm,
                      const struct bln_policy_vm_state *s, uint64_t used,
                      struct pol_ev *e)
{
	uint64_t d_min = delta(vm->minor_faults, s->prev_minflt);
	uint64_t d_maj = delta(vm->major_faults, s->prev_majflt);
	bool inflating = vm->actual_bytes > vm->target_bytes + POL_MIB;

	e->d_out = delta(vm->swap_out_bytes, s->prev_swap_out);
	e->d_in = delta(vm->swap_in_bytes, s->prev_swap_in);
	e->refault_bytes = max_u64(e->d_in, d_maj * POL_PAGE);
	e->growth = max_u64(delta(used, s->prev_used), d_min * POL_PAGE);
	e->growth_tick = tick_scaled(p, vm, s, e->growth);
	e->oom = delta(vm->oom_kills, s->prev_oom_kills) > 0;
	e->refault = e->d_in >= POL_SWAP_EVT_BYTES || d_maj >= POL_MAJFLT_EVT;
	e->new_pages = d_min >= POL_MINFLT_EVT;
	/* swap-out counts only when we are not inflating its balloon */
	/* Swap-out counts only while we are not squeezing the VM: neither
	 * inflating its balloon nor with a shrink as its last change (its
	 * guest then swaps to make room for the balloon, not for itself). */
	e->swapping = e->d_out >= POL_SWAP_EVT_BYTES && !inflating &&
	              s->last_dir >= 0;
	e->demand = e->new_pages || e->refault || e->swapping;
}

/* Urgent: demand with available memory about to collapse (within a
 * quarter margin plus one tick of growth at the last rate), or an OOM
 * kill.  The reclaim floor leaves at least half a margin: a dead band. */
bool bln_pol_urgent_ev(const struct bln_policy_params *p, uint64_t avail,
                       const struct pol_ev *e)
{
	if (e->oom)
		return true;
	return e->demand && avail < p->margin_bytes / 4 + e->growth_tick;
}

/* How much more an urgent VM gets beyond need + margin: what the last
 * interval shows it is short of, at least one more margin. */
static uint64_t burst(const struct pol_ctx *c, const struct pol_ev *e)
{
	uint64_t b = c->p->margin_bytes;

	b = max_u64(b, e->d_out);
	b = max_u64(b, 2 * e->growth_tick); /* it keeps growing: two ticks */
	b = max_u64(b, e->refault_bytes);
	return b;
}

static void save_counters(const struct bln_policy_vm *vm,
                          struct bln_policy_vm_state *s, uint64_t used)
{
	s->prev_swap_in = vm->swap_in_bytes;
	s->prev_swap_out = vm->swap_out_bytes;
	s->prev_majflt = vm->major_faults;
	s->prev_minflt = vm->minor_faults;
	s->prev_oom_kills = vm->oom_kills;
	s->prev_used = used;
	s->prev_stats_ms = vm->stats_ms;
}

/* used = what the guest has resident plus the memory it cannot see (kernel
 * image, struct pages): in units of the allocation P = actual. */
uint64_t bln_pol_guest_used(const struct bln_policy_vm *vm)
{
	uint64_t over = vm->actual_bytes > vm->total_bytes
	                        ? vm->actual_bytes - vm->total_bytes
	                        : 0;

	return vm->total_bytes - bln_pol_guest_avail(vm) + over;
}

static double decay(double w, double dt, double tc)
{
	return w - w * dt / (tc + dt);
}

/* The working-set estimate W = max(W_fast, H) (docs/policy.md,
 * "Estimator"): W_fast rises to the used memory at once when the guest
 * touches new pages or swaps on its own, is held while there is evidence of
 * use and then decays with POL_IDLE_DECAY_MS; the hot part H rises by
 * POL_REFAULT_WEIGHT x what the guest reads back from swap (its working set
 * exceeds what it has) and decays with POL_HOT_DECAY_MS.  Without refaults
 * neither exceeds the used memory, except that memory the guest frees
 * itself (POL_FREE_EVT_BYTES or more in a step, not while we squeeze it)
 * stays in W for POL_FREE_HOLD_MS, so that a spike that pauses for a
 * second is not reclaimed just before it comes back (H follows only guest
 * frees); never above max. */
static void update_ws(const struct pol_ctx *c, const struct bln_policy_vm *vm,
                      struct bln_policy_vm_state *s, uint64_t used,
                      const struct pol_ev *e)
{
	double w = (double)s->ws_bytes, h = (double)s->hot_bytes;
	double dt = (double)c->dt, u = (double)used,
	       cap = (double)vm->max_bytes;
	bool squeezed = vm->actual_bytes > vm->target_bytes || s->last_dir < 0;
	bool held;

	if (e->new_pages || e->oom || e->swapping)
		w = w > u ? w : u;
	if (e->refault)
		h = (h > u ? h : u) +
		    (double)POL_REFAULT_WEIGHT * (double)e->refault_bytes;
	if (e->demand || e->oom)
		s->last_active_ms = c->now;
	else if ((double)(c->now - s->last_active_ms) >= POL_IDLE_GRACE_MS)
		w = decay(w, dt, POL_IDLE_DECAY_MS);
	if (!squeezed && s->prev_used >= used + POL_FREE_EVT_BYTES)
		s->last_free_ms = c->now;
	held = !squeezed && s->last_free_ms &&
	       (double)(c->now - s->last_free_ms) < POL_FREE_HOLD_MS;
	if (!e->refault)
		h = decay(h, dt, POL_HOT_DECAY_MS);
	if (!e->refault && w > u && !held)
		w = u;
	if (!e->refault && !squeezed && h > u)
		h = u;
	h = h < cap ? h : cap;
	w = w > h ? w : h;
	s->hot_bytes = (uint64_t)h;
	s->ws_bytes = (uint64_t)w;
	s->active = vm->actual_bytes ? w / (double)vm->actual_bytes : 1.0;
	if (s->active > 1.0)
		s->active = 1.0;
}

/* Headroom of the reclaim floor over the estimate: the margin, half of it
 * once the host was in HARD or LOW at the previous step. */
static uint64_t floor_headroom(const struct pol_ctx *c)
{
	if (c->st->host_state >= BLN_HOST_HARD)
		return c->p->margin_bytes / 2;
	return c->p->margin_bytes;
}

static void estimate_stats(struct pol_ctx *c, size_t i)
{
	const struct bln_policy_vm *vm = &c->vms[i];
	struct bln_policy_vm_state *s = &c->vst[i];
	uint64_t avail = bln_pol_guest_avail(vm), used = bln_pol_guest_used(vm);
	uint64_t want;
	struct pol_ev e;

	if (!s->seen) { /* no history yet: every delta is 0 */
		save_counters(vm, s, used);
		s->ws_bytes = used;
		s->last_active_ms = c->now;
	}
	bln_pol_evidence(c->p, vm, s, used, &e);
	s->urgent = bln_pol_urgent_ev(c->p, avail, &e);
	/* no history: a collapse alone counts (as in bln_policy_urgent) */
	if (!s->seen && avail < c->p->margin_bytes / 4)
		s->urgent = true;
	update_ws(c, vm, s, used, &e);
	want = s->ws_bytes + c->p->margin_bytes;
	if (s->urgent)
		want += burst(c, &e);
	s->want_bytes = bln_pol_clamp(want, vm->min_bytes, vm->max_bytes);
	s->need_bytes = s->ws_bytes;
	s->used_bytes = used;
	s->floor_bytes =
	        agg_floor(c->p,
	                  bln_pol_clamp(s->ws_bytes + floor_headroom(c),
	                                vm->min_bytes, vm->max_bytes),
	                  vm->max_bytes);
	s->seen = true;
	save_counters(vm, s, used);
}

/* No stats: treat all of the VM as needed; never grow it, reclaim it only
 * as a last resort. */
static void estimate_blind(struct pol_ctx *c, size_t i, uint64_t t0)
{
	const struct bln_policy_vm *vm = &c->vms[i];
	struct bln_policy_vm_state *s = &c->vst[i];

	s->urgent = false;
	s->need_bytes = vm->actual_bytes;
	s->used_bytes = vm->actual_bytes;
	s->want_bytes = t0;
	s->floor_bytes = bln_pol_clamp(vm->actual_bytes + c->p->margin_bytes,
	                               vm->min_bytes, vm->max_bytes);
}

/* Pass 1 over the VMs: estimator, allowance, sums, and every out[i] set to
 * the unchanged target. */
void bln_pol_estimate(struct pol_ctx *c)
{
	for (size_t i = 0; i < c->n; i++) {
		const struct bln_policy_vm *vm = &c->vms[i];
		struct bln_policy_vm_state *s = &c->vst[i];
		uint64_t t0 = bln_pol_clamp(vm->target_bytes, vm->min_bytes,
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
		s->allow_bytes = shrink_allowance(c, vm, s);
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
enum bln_host_state bln_pol_host_state(const struct bln_policy_params *p,
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

void bln_pol_set(struct pol_ctx *c, size_t i, uint64_t target,
                 enum bln_reason why)
{
	c->out[i].target_bytes = target;
	c->out[i].reason = why;
}
