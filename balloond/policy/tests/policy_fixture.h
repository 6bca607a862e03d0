/* SPDX-License-Identifier: MIT */
/*
 * policy_fixture.h - a small world for the policy tests: parameters, host,
 * VMs and a toy guest model (a guest "uses" a fixed amount of memory; what
 * does not fit into its allocation is swapped out; growth touches new pages,
 * counted as minor faults; a "busy" guest also faults churn[i] pages per
 * update), so a test can run the policy for many ticks and let actual sizes
 * follow the targets.
 */
#ifndef POLICY_FIXTURE_H
#define POLICY_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "balloon/bln_policy.h"

#define MIB    (1024ull * 1024ull)
#define GIB    (1024ull * MIB)
#define FX_MAX 64

struct fx {
	struct bln_policy_params p;
	struct bln_policy_state st;
	struct bln_policy_host host;
	struct bln_policy_vm vm[FX_MAX];
	struct bln_policy_vm_state vst[FX_MAX];
	struct bln_policy_out out[FX_MAX];
	uint64_t used[FX_MAX]; /* guest memory in use (toy model) */
	uint64_t last_used[FX_MAX];
	uint64_t churn[FX_MAX]; /* minor faults per sync: a busy guest */
	size_t n;
	uint64_t now;
};

static inline void fx_init(struct fx *f, enum bln_policy_kind kind,
                           uint64_t budget)
{
	memset(f, 0, sizeof(*f));
	bln_policy_defaults(&f->p, kind);
	f->p.budget_bytes = budget;
	f->host.total_bytes = 24 * GIB;
	f->host.avail_bytes = 20 * GIB;
	f->host.free_bytes = 20 * GIB;
	f->now = 1000;
}

/* Guest stats from the toy model: total = actual, avail = actual - used;
 * anything that does not fit is swapped out (cumulative counter grows). */
static inline void fx_sync(struct fx *f, size_t i)
{
	struct bln_policy_vm *vm = &f->vm[i];
	uint64_t a = vm->actual_bytes, u = f->used[i];

	vm->stats_valid = true;
	vm->total_bytes = a;
	vm->avail_bytes = a > u ? a - u : 0;
	vm->free_bytes = vm->avail_bytes / 2;
	vm->cache_bytes = vm->avail_bytes - vm->free_bytes;
	if (u > a)
		vm->swap_out_bytes += u - a;
	if (u > f->last_used[i])
		vm->minor_faults += (u - f->last_used[i]) / 4096;
	f->last_used[i] = u;
	vm->minor_faults += f->churn[i];
}

static inline size_t fx_add(struct fx *f, uint64_t min, uint64_t max,
                            uint64_t actual, uint64_t used)
{
	size_t i = f->n++;
	struct bln_policy_vm *vm = &f->vm[i];

	assert_true(i < FX_MAX);
	vm->min_bytes = min;
	vm->max_bytes = max;
	vm->shares = 1000;
	vm->actual_bytes = actual;
	vm->target_bytes = actual;
	f->used[i] = used;
	f->last_used[i] = used;
	fx_sync(f, i);
	return i;
}

static inline int fx_step(struct fx *f)
{
	f->host.now_ms = f->now;
	return bln_policy_step(&f->p, &f->st, &f->host, f->vm, f->vst, f->out,
	                       f->n);
}

/* The daemon's part: set every target; balloons reach them at once. */
static inline void fx_apply(struct fx *f)
{
	for (size_t i = 0; i < f->n; i++) {
		f->vm[i].target_bytes = f->out[i].target_bytes;
		f->vm[i].actual_bytes = f->out[i].target_bytes;
		fx_sync(f, i);
	}
}

/* One tick: step, check success, apply, advance the clock. */
static inline void fx_tick(struct fx *f)
{
	assert_int_equal(fx_step(f), 0);
	fx_apply(f);
	f->now += f->p.tick_ms;
}

static inline uint64_t fx_sum_actual(const struct fx *f)
{
	uint64_t s = 0;

	for (size_t i = 0; i < f->n; i++)
		s += f->vm[i].actual_bytes;
	return s;
}

#endif
