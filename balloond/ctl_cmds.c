/* SPDX-License-Identifier: MIT */
/*
 * ctl_cmds.c - the verbs of the control protocol (docs/control-protocol.md).
 * Every verb checks all its arguments before it changes anything, so a
 * request that gets an error changes nothing.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <bc_util.h>

#include "ctl.h"
#include "daemon.h"

static const char *fmt_size(uint64_t v, char *buf)
{
	return bc_format_size(v, buf, 32);
}

static bool arg(struct json_object *args, const char *key,
                struct json_object **out)
{
	return args && json_object_object_get_ex(args, key, out) && *out;
}

static bool arg_str(struct ctl_call *c, struct json_object *args,
                    const char *key, const char **out)
{
	struct json_object *v;

	if (!arg(args, key, &v) || !json_object_is_type(v, json_type_string)) {
		bd_ctl_fail(c, "bad-request", "\"%s\" (a string) is required",
		            key);
		return false;
	}
	*out = json_object_get_string(v);
	return true;
}

/* A byte count or other integer >= 0.  Absent and !required: *present
 * false.  Errors reply and return false. */
static bool arg_u64(struct ctl_call *c, struct json_object *args,
                    const char *key, bool required, uint64_t *out,
                    bool *present)
{
	struct json_object *v;

	if (present)
		*present = false;
	if (!arg(args, key, &v)) {
		if (!required)
			return true;
		bd_ctl_fail(c, "bad-request", "\"%s\" (bytes) is required",
		            key);
		return false;
	}
	if (!json_object_is_type(v, json_type_int) ||
	    json_object_get_int64(v) < 0) {
		bd_ctl_fail(c, "bad-request",
		            "\"%s\" must be a non-negative integer", key);
		return false;
	}
	*out = json_object_get_uint64(v);
	if (present)
		*present = true;
	return true;
}

static struct vm *arg_vm(struct bd *bd, struct ctl_call *c,
                         struct json_object *args)
{
	const char *name;
	struct vm *vm;

	if (!arg_str(c, args, "vm", &name))
		return NULL;
	vm = bd_vm_find(bd, name);
	if (!vm)
		bd_ctl_fail(c, "unknown-vm", "no vm named '%s'", name);
	return vm;
}

static bool shares_ok(struct ctl_call *c, uint64_t s)
{
	if (s >= 1 && s <= BD_SHARES_MAX)
		return true;
	bd_ctl_fail(c, "bad-request", "shares must be in 1..%d", BD_SHARES_MAX);
	return false;
}

static void reply_vm(struct ctl_call *c, struct vm *vm)
{
	bd_ctl_ok(c, bd_vm_to_json(vm));
}

static void cmd_version(struct bd *bd, struct json_object *args,
                        struct ctl_call *c)
{
	struct json_object *o = json_object_new_object();

	(void)bd;
	(void)args;
	json_object_object_add(o, "version",
	                       json_object_new_string(BALLOOND_VERSION));
	json_object_object_add(o, "protocol",
	                       json_object_new_int(CTL_PROTOCOL));
	bd_ctl_ok(c, o);
}

static void cmd_list(struct bd *bd, struct json_object *args,
                     struct ctl_call *c)
{
	struct json_object *o = json_object_new_object();
	struct json_object *a = json_object_new_array();

	(void)args;
	for (size_t i = 0; i < bd->nvms; i++)
		json_object_array_add(a, bd_vm_to_json(bd->vms[i]));
	json_object_object_add(o, "vms", a);
	bd_ctl_ok(c, o);
}

static void cmd_info(struct bd *bd, struct json_object *args,
                     struct ctl_call *c)
{
	struct vm *vm = arg_vm(bd, c, args);

	if (vm)
		reply_vm(c, vm);
}

static void cmd_add(struct bd *bd, struct json_object *args, struct ctl_call *c)
{
	const char *name, *qmp;
	uint64_t min = 0, max = 0, shares = BD_DEFAULT_SHARES;
	bool has_max;
	struct vm *vm;

	if (!arg_str(c, args, "vm", &name) || !arg_str(c, args, "qmp", &qmp) ||
	    !arg_u64(c, args, "min", false, &min, NULL) ||
	    !arg_u64(c, args, "max", false, &max, &has_max) ||
	    !arg_u64(c, args, "shares", false, &shares, NULL))
		return;
	if (!bd_name_valid(name)) {
		bd_ctl_fail(c, "bad-request",
		            "invalid vm name (1-%d of A-Z a-z 0-9 _ . -)",
		            BD_NAME_MAX);
		return;
	}
	if (!*qmp) {
		bd_ctl_fail(c, "bad-request", "\"qmp\" must be a socket path");
		return;
	}
	if (has_max && max == 0) {
		bd_ctl_fail(c, "bad-request", "max must be above 0");
		return;
	}
	if (!shares_ok(c, shares))
		return;
	if (bd_vm_find(bd, name)) {
		bd_ctl_fail(c, "exists", "vm %s is already managed", name);
		return;
	}
	if (has_max && min > max) {
		char a[32], b[32];
		bd_ctl_fail(c, "min-above-max", "min %s is above max %s",
		            fmt_size(min, a), fmt_size(max, b));
		return;
	}
	vm = bd_vm_new(bd, name, qmp);
	if (vm) {
		vm->min = min;
		vm->max = max;
		vm->shares = (uint32_t)shares;
	}
	if (!vm || bd_vm_add(bd, vm)) {
		bd_vm_free(vm);
		bd_ctl_fail(c, "internal", "out of memory");
		return;
	}
	bd_changed(bd);
	bd_ctl_wait_vm(c, bd, name, bc_now_ms() + CTL_ADD_WAIT_MS);
}

static void cmd_remove(struct bd *bd, struct json_object *args,
                       struct ctl_call *c)
{
	struct vm *vm = arg_vm(bd, c, args);

	if (!vm)
		return;
	bd_vm_remove(bd, vm);
	bd_changed(bd);
	bd_ctl_ok(c, NULL);
}

static void set_done(void *ctx, struct vm *vm, int err, const char *cls,
                     const char *desc)
{
	struct ctl_call *c = ctx;

	if (!err)
		reply_vm(c, vm);
	else if (err == -ENOTCONN)
		bd_ctl_fail(c, "unreachable", "lost the QMP link to vm %s",
		            vm->name);
	else
		bd_ctl_fail(c, "qmp", "%s (%s)", desc, cls);
}

static void cmd_set(struct bd *bd, struct json_object *args, struct ctl_call *c)
{
	struct vm *vm = arg_vm(bd, c, args);
	char a[32], b[32];
	uint64_t t;

	if (!vm || !arg_u64(c, args, "target", true, &t, NULL))
		return;
	if (t < vm->min) {
		bd_ctl_fail(c, "below-min",
		            "target %s is below min %s of vm %s",
		            fmt_size(t, a), fmt_size(vm->min, b), vm->name);
		return;
	}
	if (vm->max && t > vm->max) {
		bd_ctl_fail(c, "above-max",
		            "target %s is above max %s of vm %s",
		            fmt_size(t, a), fmt_size(vm->max, b), vm->name);
		return;
	}
	if (t == 0) {
		bd_ctl_fail(c, "bad-request", "target must be above 0");
		return;
	}
	if (!vm->ready) {
		bd_ctl_fail(c, "unreachable", "vm %s is not connected (%s)",
		            vm->name, bd_vm_state_name(vm->state));
		return;
	}
	if (bd_vm_balloon(vm, t, BLN_REASON_PINNED, true, set_done, c))
		bd_ctl_fail(c, "unreachable", "cannot send to vm %s", vm->name);
}

/* After min/max moved: bring a connected VM's target inside the range. */
static void clamp_target(struct vm *vm)
{
	uint64_t t = vm->target;

	if (!vm->ready || !vm->target_known)
		return;
	if (t < vm->min)
		t = vm->min;
	if (vm->max && t > vm->max)
		t = vm->max;
	if (t != vm->target)
		bd_vm_balloon(vm, t, BLN_REASON_FLOOR, false, NULL, NULL);
}

static void cmd_min(struct bd *bd, struct json_object *args, struct ctl_call *c)
{
	struct vm *vm = arg_vm(bd, c, args);
	char a[32], b[32];
	uint64_t v;

	if (!vm || !arg_u64(c, args, "min", true, &v, NULL))
		return;
	if (vm->max && v > vm->max) {
		bd_ctl_fail(c, "min-above-max",
		            "min %s is above max %s of vm %s", fmt_size(v, a),
		            fmt_size(vm->max, b), vm->name);
		return;
	}
	vm->min = v;
	clamp_target(vm);
	bd_changed(bd);
	reply_vm(c, vm);
}

static void cmd_max(struct bd *bd, struct json_object *args, struct ctl_call *c)
{
	struct vm *vm = arg_vm(bd, c, args);
	char a[32], b[32];
	uint64_t v;

	if (!vm || !arg_u64(c, args, "max", true, &v, NULL))
		return;
	if (v == 0) {
		bd_ctl_fail(c, "bad-request", "max must be above 0");
		return;
	}
	if (v < vm->min) {
		bd_ctl_fail(c, "min-above-max",
		            "max %s is below min %s of vm %s", fmt_size(v, a),
		            fmt_size(vm->min, b), vm->name);
		return;
	}
	if (vm->boot && v > vm->boot) {
		bd_ctl_fail(c, "above-max",
		            "max %s is above the boot size %s of vm %s",
		            fmt_size(v, a), fmt_size(vm->boot, b), vm->name);
		return;
	}
	if (!vm->boot && v > vm->max)
		bc_warn("vm %s: boot size unknown (the peer has no "
		        "query-memory-size-summary): max raised to %s "
		        "unchecked",
		        vm->name, fmt_size(v, a));
	vm->max = v;
	clamp_target(vm);
	bd_changed(bd);
	reply_vm(c, vm);
}

static void cmd_shares(struct bd *bd, struct json_object *args,
                       struct ctl_call *c)
{
	struct vm *vm = arg_vm(bd, c, args);
	uint64_t v;

	if (!vm || !arg_u64(c, args, "shares", true, &v, NULL) ||
	    !shares_ok(c, v))
		return;
	vm->shares = (uint32_t)v;
	bd_changed(bd);
	reply_vm(c, vm);
}

static void cmd_stats(struct bd *bd, struct json_object *args,
                      struct ctl_call *c)
{
	struct vm *vm = arg_vm(bd, c, args);
	struct json_object *o;

	if (!vm)
		return;
	o = json_object_new_object();
	json_object_object_add(o, "vm", json_object_new_string(vm->name));
	json_object_object_add(o, "stats",
	                       vm->stats ? json_object_get(vm->stats)
	                                 : json_object_new_object());
	json_object_object_add(o, "last-update",
	                       json_object_new_double(vm->stats_updated));
	bd_ctl_ok(c, o);
}

static void cmd_host(struct bd *bd, struct json_object *args,
                     struct ctl_call *c)
{
	struct json_object *o = json_object_new_object();
	const struct bd_host *h = &bd->host;

	(void)args;
	json_object_object_add(o, "total", json_object_new_uint64(h->total));
	json_object_object_add(o, "free", json_object_new_uint64(h->free));
	json_object_object_add(o, "available",
	                       json_object_new_uint64(h->avail));
	json_object_object_add(o, "psi-some-avg10",
	                       json_object_new_double(h->psi_some10));
	json_object_object_add(o, "psi-full-avg10",
	                       json_object_new_double(h->psi_full10));
	json_object_object_add(o, "psi-available",
	                       json_object_new_boolean(h->psi_valid));
	json_object_object_add(o, "state",
	                       json_object_new_string(bln_host_state_name(
	                               bd->pst.host_state)));
	bd_ctl_ok(c, o);
}

static void cmd_policy_get(struct bd *bd, struct json_object *args,
                           struct ctl_call *c)
{
	(void)args;
	bd_ctl_ok(c, bd_params_to_json(&bd->params, bd->policy_enabled));
}

static void cmd_policy_set(struct bd *bd, struct json_object *args,
                           struct ctl_call *c)
{
	struct bln_policy_params p = bd->params;
	bool enabled = bd->policy_enabled;

	if (args) {
		json_object_object_foreach(args, k, v)
		{
			int ret = bd_param_set_json(&p, &enabled, k, v);
			if (ret == -ENOENT) {
				bd_ctl_fail(c, "bad-request",
				            "unknown policy parameter '%s'", k);
				return;
			}
			if (ret) {
				bd_ctl_fail(
				        c, "bad-request",
				        "bad value for policy parameter '%s'",
				        k);
				return;
			}
		}
	}
	if (bln_policy_validate(&p)) {
		bd_ctl_fail(c, "bad-request",
		            "policy parameters out of range or inconsistent "
		            "(low_pct <= hard_pct <= soft_pct <= high_pct, "
		            "tax_rate 0..0.99, aggressiveness 0..1, step a "
		            "multiple of 4 KiB, tick_ms > 0)");
		return;
	}
	bool tick = p.tick_ms != bd->params.tick_ms;
	if (p.kind != bd->params.kind) { /* the new kind starts afresh */
		memset(&bd->pst, 0, sizeof(bd->pst));
		for (size_t i = 0; i < bd->nvms; i++)
			memset(&bd->vms[i]->vst, 0, sizeof(bd->vms[i]->vst));
	}
	if (enabled != bd->policy_enabled || p.kind != bd->params.kind)
		bc_info("policy: %s, %s", bln_policy_kind_name(p.kind),
		        enabled ? "enabled" : "disabled");
	bd->params = p;
	bd->policy_enabled = enabled;
	if (tick)
		bd_tick_changed(bd);
	bd_changed(bd);
	bd_ctl_ok(c, bd_params_to_json(&bd->params, bd->policy_enabled));
}

static void cmd_policy_release(struct bd *bd, struct json_object *args,
                               struct ctl_call *c)
{
	struct vm *vm = arg_vm(bd, c, args);

	if (!vm)
		return;
	if (vm->pinned)
		bc_info("vm %s: released to the policy", vm->name);
	vm->pinned = false;
	if (vm->reason == BLN_REASON_PINNED)
		vm->reason = BLN_REASON_NONE;
	bd_changed(bd);
	reply_vm(c, vm);
}

static const struct {
	const char *name;
	void (*fn)(struct bd *, struct json_object *, struct ctl_call *);
} verbs[] = {
        {"version", cmd_version},
        {"list", cmd_list},
        {"info", cmd_info},
        {"add", cmd_add},
        {"remove", cmd_remove},
        {"set", cmd_set},
        {"min", cmd_min},
        {"max", cmd_max},
        {"shares", cmd_shares},
        {"stats", cmd_stats},
        {"host", cmd_host},
        {"policy-get", cmd_policy_get},
        {"policy-set", cmd_policy_set},
        {"policy-release", cmd_policy_release},
};

void bd_ctl_dispatch(struct bd *bd, const char *cmd, struct json_object *args,
                     struct ctl_call *c)
{
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		if (!strcmp(verbs[i].name, cmd)) {
			verbs[i].fn(bd, args, c);
			return;
		}
	}
	bd_ctl_fail(c, "unknown-cmd", "unknown command '%s'", cmd);
}
