/* SPDX-License-Identifier: MIT */
/*
 * policy_glue.c - between the daemon and the pure policy: build the snapshot
 * (host + every connected VM), step, send the targets that changed, log and
 * count every decision.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <bc_util.h>

#include "daemon.h"

static int grow_scratch(struct bd *bd)
{
	size_t n = bd->capvms ? bd->capvms : 1;
	void *a = realloc(bd->pvms, n * sizeof(*bd->pvms));

	if (!a)
		return -ENOMEM;
	bd->pvms = a;
	a = realloc(bd->pvst, n * sizeof(*bd->pvst));
	if (!a)
		return -ENOMEM;
	bd->pvst = a;
	a = realloc(bd->pout, n * sizeof(*bd->pout));
	if (!a)
		return -ENOMEM;
	bd->pout = a;
	a = realloc(bd->pvm, n * sizeof(*bd->pvm));
	if (!a)
		return -ENOMEM;
	bd->pvm = a;
	return 0;
}

static bool takes_part(const struct vm *vm)
{
	return vm->ready && vm->max && vm->min <= vm->max && vm->target_known;
}

static void read_host(struct bd *bd)
{
	int ret = bd_host_read(bd->conf->proc_root, &bd->host);

	if (ret && ret != bd->last_host_err)
		bc_warn("host monitor: cannot read %s/meminfo: %s",
		        bd->conf->proc_root, strerror(-ret));
	bd->last_host_err = ret;
}

static void apply(struct bd *bd, size_t i)
{
	struct vm *vm = bd->pvm[i];
	const struct bln_policy_out *o = &bd->pout[i];
	char from[32], to[32];

	vm->vst = bd->pvst[i];
	if ((unsigned)o->reason < BLN_REASON_NR)
		bd->cnt.decisions[o->reason]++;
	if (o->target_bytes == vm->target) {
		bc_debug("vm %s: keep %llu (%s)", vm->name,
		         (unsigned long long)vm->target,
		         bln_reason_name(o->reason));
		return;
	}
	if (vm->balloon_busy)
		return; /* a command is in flight: decide again next tick */
	bc_info("vm %s: target %s -> %s (%s; host %s, actual %llu, need %llu, "
	        "used %llu)",
	        vm->name, bc_format_size(vm->target, from, sizeof(from)),
	        bc_format_size(o->target_bytes, to, sizeof(to)),
	        bln_reason_name(o->reason),
	        bln_host_state_name(bd->pst.host_state),
	        (unsigned long long)vm->actual,
	        (unsigned long long)vm->vst.need_bytes,
	        (unsigned long long)vm->vst.used_bytes);
	if (bd_vm_balloon(vm, o->target_bytes, o->reason, false, NULL, NULL))
		bc_warn("vm %s: cannot send the target", vm->name);
}

void bd_policy_step(struct bd *bd, uint64_t now_ms)
{
	struct bln_policy_host host;
	double wall = bc_wall_s();
	size_t n = 0;
	uint64_t t0;
	int ret;

	read_host(bd);
	if (!bd->policy_enabled)
		return;
	if (grow_scratch(bd))
		return;
	memset(&host, 0, sizeof(host));
	host.total_bytes = bd->host.total;
	host.free_bytes = bd->host.free;
	host.avail_bytes = bd->host.avail;
	host.psi_some_avg10 = bd->host.psi_some10;
	host.psi_full_avg10 = bd->host.psi_full10;
	host.now_ms = now_ms;
	for (size_t i = 0; i < bd->nvms; i++) {
		struct vm *vm = bd->vms[i];
		if (!takes_part(vm))
			continue;
		bd_vm_policy_input(vm, wall, &bd->pvms[n]);
		bd->pvst[n] = vm->vst;
		bd->pvm[n++] = vm;
	}
	t0 = bc_now_ns();
	ret = bln_policy_step(&bd->params, &bd->pst, &host, bd->pvms, bd->pvst,
	                      bd->pout, n);
	bd->cnt.step_ns_last = bc_now_ns() - t0;
	bd->cnt.step_ns_sum += bd->cnt.step_ns_last;
	bd->cnt.steps++;
	if (ret) {
		bd->cnt.step_errors++;
		if (ret != bd->last_step_err)
			bc_warn("policy step refused its input: %s",
			        strerror(-ret));
		bd->last_step_err = ret;
		return;
	}
	bd->last_step_err = 0;
	for (size_t i = 0; i < n; i++)
		apply(bd, i);
}

void bd_policy_stats_update(struct bd *bd, struct vm *vm)
{
	struct bln_policy_vm pv;

	if (!bd->policy_enabled || !takes_part(vm))
		return;
	bd_vm_policy_input(vm, bc_wall_s(), &pv);
	if (bln_policy_urgent(&bd->params, &pv, &vm->vst)) {
		bc_debug("vm %s: urgent stats update", vm->name);
		bd->urgent = true;
	}
}
