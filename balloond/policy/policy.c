/* SPDX-License-Identifier: MIT */
/*
 * policy.c - the public face of the policy: defaults, validation, the step
 * (input checks, estimator, host state, dispatch to the kind, bookkeeping),
 * the urgency test and the name tables.  Pure: no I/O, no clock, no
 * allocation.
 */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "policy_internal.h"

void bln_policy_defaults(struct bln_policy_params *p, enum bln_policy_kind kind)
{
	if (!p)
		return;
	memset(p, 0, sizeof(*p));
	p->kind = kind;
	p->tax_rate = 0.75;
	p->high_pct = 6;
	p->soft_pct = 4;
	p->hard_pct = 2;
	p->low_pct = 1;
	p->psi_some_hard = 10;
	p->budget_bytes = 0;
	p->host_reserve_bytes = 256 * POL_MIB;
	p->margin_bytes = 64 * POL_MIB;
	p->max_shrink_bytes = 256 * POL_MIB;
	p->step_bytes = 4 * POL_MIB;
	p->aggressiveness = 1.0;
	p->tick_ms = 1000;
	p->proxmox_target_pct = 80;
	p->proxmox_step_bytes = 100 * POL_MIB;
	p->baseline_interval_ms = 10000;
}

static bool in_range(double x, double lo, double hi)
{
	return isfinite(x) && x >= lo && x <= hi;
}

int bln_policy_validate(const struct bln_policy_params *p)
{
	if (!p || (unsigned)p->kind >= BLN_POLICY_NR)
		return -EINVAL;
	if (!in_range(p->tax_rate, 0, 0.99) ||
	    !in_range(p->aggressiveness, 0, 1) ||
	    !in_range(p->psi_some_hard, 0, 100) || p->psi_some_hard <= 0)
		return -EINVAL;
	if (!in_range(p->low_pct, 0, 100) ||
	    !in_range(p->hard_pct, p->low_pct, 100) ||
	    !in_range(p->soft_pct, p->hard_pct, 100) ||
	    !in_range(p->high_pct, p->soft_pct, 100))
		return -EINVAL;
	if (p->step_bytes == 0 || p->step_bytes % POL_PAGE ||
	    p->max_shrink_bytes == 0 || p->tick_ms == 0)
		return -EINVAL;
	if (!in_range(p->proxmox_target_pct, 0, 100) ||
	    p->proxmox_target_pct <= 0 || p->proxmox_step_bytes == 0 ||
	    p->baseline_interval_ms == 0)
		return -EINVAL;
	return 0;
}

static int check_inputs(const struct bln_policy_params *p,
                        const struct bln_policy_state *st,
                        const struct bln_policy_host *host,
                        const struct bln_policy_vm *vms,
                        const struct bln_policy_vm_state *vst,
                        const struct bln_policy_out *out, size_t n)
{
	if (!st || !host || (n && (!vms || !vst || !out)))
		return -EINVAL;
	if (bln_policy_validate(p))
		return -EINVAL;
	if (p->budget_bytes == 0 && host->total_bytes == 0)
		return -EINVAL;
	if (st->steps && host->now_ms < st->last_step_ms)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (vms[i].max_bytes == 0 ||
		    vms[i].min_bytes > vms[i].max_bytes)
			return -EINVAL;
	return 0;
}

static void ctx_init(struct pol_ctx *c, const struct bln_policy_params *p,
                     struct bln_policy_state *st,
                     const struct bln_policy_host *host)
{
	memset(c, 0, sizeof(*c));
	c->p = p;
	c->st = st;
	c->host = host;
	c->now = host->now_ms;
	c->dt = st->steps ? host->now_ms - st->last_step_ms : 0;
	c->k = 1.0 / (1.0 - p->tax_rate);
	c->ref =
	        (double)(p->budget_bytes ? p->budget_bytes : host->total_bytes);
}

static bool baseline_round(const struct pol_ctx *c)
{
	const struct bln_policy_state *st = c->st;

	return st->steps == 0 || st->last_baseline_ms == 0 ||
	       c->now - st->last_baseline_ms >= c->p->baseline_interval_ms;
}

static void dispatch(struct pol_ctx *c)
{
	if (c->p->kind == BLN_POLICY_IDLETAX) {
		bln_pol_step_idletax(c);
		return;
	}
	if (c->p->kind == BLN_POLICY_STATIC || !baseline_round(c))
		return;
	if (c->p->kind == BLN_POLICY_PROXMOX)
		bln_pol_step_proxmox(c);
	else
		bln_pol_step_mom(c);
	c->st->last_baseline_ms = c->now;
}

static void bookkeeping(struct pol_ctx *c)
{
	for (size_t i = 0; i < c->n; i++) {
		const struct bln_policy_vm *vm = &c->vms[i];
		struct bln_policy_vm_state *s = &c->vst[i];
		uint64_t t = c->out[i].target_bytes;
		enum bln_reason *r = &c->out[i].reason;

		uint64_t t0 = bln_pol_clamp(vm->target_bytes, vm->min_bytes,
		                            vm->max_bytes);

		if (t != t0) {
			s->last_change_ms = c->now;
			s->last_dir = t > t0 ? 1 : -1;
		} else if (*r != BLN_REASON_PINNED && *r != BLN_REASON_FLOOR)
			*r = BLN_REASON_NONE; /* decided what was already set */
		s->rho = bln_pol_rho((double)vm->shares,
		                     (double)bln_pol_active_bytes(vm, s),
		                     (double)t, c->k);
	}
	c->st->host_state = c->state;
	c->st->last_step_ms = c->now;
	c->st->steps++;
}

int bln_policy_step(const struct bln_policy_params *p,
                    struct bln_policy_state *st,
                    const struct bln_policy_host *host,
                    const struct bln_policy_vm *vms,
                    struct bln_policy_vm_state *vst, struct bln_policy_out *out,
                    size_t n)
{
	struct pol_ctx c;
	int rc = check_inputs(p, st, host, vms, vst, out, n);

	if (rc)
		return rc;
	ctx_init(&c, p, st, host);
	c.vms = vms;
	c.vst = vst;
	c.out = out;
	c.n = n;
	bln_pol_estimate(&c);
	if (p->budget_bytes)
		c.free_now = (double)p->budget_bytes - c.sum_actual;
	else
		c.free_now = (double)host->avail_bytes -
		             (double)p->host_reserve_bytes;
	c.state = bln_pol_host_state(p, st->host_state, c.free_now, c.ref,
	                             host->psi_some_avg10);
	dispatch(&c);
	bookkeeping(&c);
	return 0;
}

bool bln_policy_urgent(const struct bln_policy_params *p,
                       const struct bln_policy_vm *vm,
                       const struct bln_policy_vm_state *vst)
{
	struct pol_ev e;

	if (!p || !vm || !vst || p->kind != BLN_POLICY_IDLETAX)
		return false;
	if (vm->pinned || !vm->stats_valid || vm->target_bytes >= vm->max_bytes)
		return false;
	if (!vst->seen) /* no history: only a collapse counts */
		return bln_pol_guest_avail(vm) < p->margin_bytes / 4;
	bln_pol_evidence(p, vm, vst, bln_pol_guest_used(vm), &e);
	return bln_pol_urgent_ev(p, bln_pol_guest_avail(vm), &e);
}

static const char *const kind_names[BLN_POLICY_NR] = {"idletax", "static",
                                                      "proxmox", "mom"};
static const char *const reason_names[BLN_REASON_NR] = {
        "none",  "pinned",      "grow-demand", "grow-plenty", "reclaim-idle",
        "floor", "last-resort", "baseline",    "fair-share"};
static const char *const state_names[BLN_HOST_NR] = {"high", "soft", "hard",
                                                     "low"};

static int lookup(const char *const *names, int nr, const char *s)
{
	if (!s)
		return -EINVAL;
	for (int i = 0; i < nr; i++)
		if (strcmp(names[i], s) == 0)
			return i;
	return -EINVAL;
}

const char *bln_policy_kind_name(enum bln_policy_kind k)
{
	return (unsigned)k < BLN_POLICY_NR ? kind_names[k] : "?";
}

int bln_policy_kind_parse(const char *s, enum bln_policy_kind *out)
{
	int i = lookup(kind_names, BLN_POLICY_NR, s);

	if (i < 0 || !out)
		return -EINVAL;
	*out = (enum bln_policy_kind)i;
	return 0;
}

const char *bln_reason_name(enum bln_reason r)
{
	return (unsigned)r < BLN_REASON_NR ? reason_names[r] : "?";
}

int bln_reason_parse(const char *s, enum bln_reason *out)
{
	int i = lookup(reason_names, BLN_REASON_NR, s);

	if (i < 0 || !out)
		return -EINVAL;
	*out = (enum bln_reason)i;
	return 0;
}

const char *bln_host_state_name(enum bln_host_state s)
{
	return (unsigned)s < BLN_HOST_NR ? state_names[s] : "?";
}

int bln_host_state_parse(const char *s, enum bln_host_state *out)
{
	int i = lookup(state_names, BLN_HOST_NR, s);

	if (i < 0 || !out)
		return -EINVAL;
	*out = (enum bln_host_state)i;
	return 0;
}
