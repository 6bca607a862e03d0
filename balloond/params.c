/* SPDX-License-Identifier: MIT */
/*
 * params.c - struct bln_policy_params by name, for the config file's
 * [policy] section, the control protocol's policy-get/policy-set and the
 * state file.  Sizes are bytes ("margin", "budget" ...).
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "config.h"

enum ptype { P_DOUBLE, P_BYTES, P_MS };

struct pdesc {
	const char *name;
	enum ptype type;
	size_t off;
};

#define PD(n, t, f)                                                            \
	{                                                                      \
		n, t, offsetof(struct bln_policy_params, f)                    \
	}

static const struct pdesc pdescs[] = {
        PD("tax_rate", P_DOUBLE, tax_rate),
        PD("high_pct", P_DOUBLE, high_pct),
        PD("soft_pct", P_DOUBLE, soft_pct),
        PD("hard_pct", P_DOUBLE, hard_pct),
        PD("low_pct", P_DOUBLE, low_pct),
        PD("psi_some_hard", P_DOUBLE, psi_some_hard),
        PD("budget", P_BYTES, budget_bytes),
        PD("host_reserve", P_BYTES, host_reserve_bytes),
        PD("margin", P_BYTES, margin_bytes),
        PD("max_shrink", P_BYTES, max_shrink_bytes),
        PD("step", P_BYTES, step_bytes),
        PD("aggressiveness", P_DOUBLE, aggressiveness),
        PD("tick_ms", P_MS, tick_ms),
        PD("proxmox_target_pct", P_DOUBLE, proxmox_target_pct),
        PD("proxmox_step", P_BYTES, proxmox_step_bytes),
        PD("baseline_interval_ms", P_MS, baseline_interval_ms),
};

#define NPARAMS (sizeof(pdescs) / sizeof(pdescs[0]))

static const struct pdesc *find(const char *name)
{
	for (size_t i = 0; i < NPARAMS; i++)
		if (!strcmp(pdescs[i].name, name))
			return &pdescs[i];
	return NULL;
}

static int put(struct bln_policy_params *p, const struct pdesc *d, double dv,
               uint64_t uv)
{
	char *base = (char *)p + d->off;

	switch (d->type) {
	case P_DOUBLE:
		if (!isfinite(dv))
			return -EINVAL;
		memcpy(base, &dv, sizeof(dv));
		return 0;
	case P_BYTES:
		memcpy(base, &uv, sizeof(uv));
		return 0;
	case P_MS: {
		if (uv > UINT32_MAX)
			return -EINVAL;
		uint32_t v = (uint32_t)uv;
		memcpy(base, &v, sizeof(v));
		return 0;
	}
	}
	return -EINVAL;
}

static int parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = {"1", "yes", "true", "on"};
	static const char *const no[] = {"0", "no", "false", "off"};

	for (size_t i = 0; i < 4; i++) {
		if (!strcasecmp(s, yes[i])) {
			*out = true;
			return 0;
		}
		if (!strcasecmp(s, no[i])) {
			*out = false;
			return 0;
		}
	}
	return -EINVAL;
}

int bd_param_set_text(struct bln_policy_params *p, bool *enabled,
                      const char *name, const char *value)
{
	const struct pdesc *d;
	uint64_t uv = 0;
	double dv = 0;
	char *end;

	if (!strcmp(name, "enabled"))
		return parse_bool(value, enabled);
	if (!strcmp(name, "kind"))
		return bln_policy_kind_parse(value, &p->kind) ? -EINVAL : 0;
	d = find(name);
	if (!d)
		return -ENOENT;
	if (d->type == P_DOUBLE) {
		dv = strtod(value, &end);
		if (end == value || *end)
			return -EINVAL;
	} else if (d->type == P_BYTES) {
		if (bc_parse_size(value, &uv))
			return -EINVAL;
	} else {
		if (*value < '0' || *value > '9')
			return -EINVAL;
		errno = 0;
		uv = strtoull(value, &end, 10);
		if (*end || errno)
			return -EINVAL;
	}
	return put(p, d, dv, uv);
}

int bd_param_set_json(struct bln_policy_params *p, bool *enabled,
                      const char *name, struct json_object *v)
{
	const struct pdesc *d;

	if (!strcmp(name, "enabled")) {
		if (!json_object_is_type(v, json_type_boolean))
			return -EINVAL;
		*enabled = json_object_get_boolean(v);
		return 0;
	}
	if (!strcmp(name, "kind")) {
		if (!json_object_is_type(v, json_type_string))
			return -EINVAL;
		return bln_policy_kind_parse(json_object_get_string(v),
		                             &p->kind)
		               ? -EINVAL
		               : 0;
	}
	d = find(name);
	if (!d)
		return -ENOENT;
	if (d->type == P_DOUBLE) {
		if (!json_object_is_type(v, json_type_double) &&
		    !json_object_is_type(v, json_type_int))
			return -EINVAL;
		return put(p, d, json_object_get_double(v), 0);
	}
	if (!json_object_is_type(v, json_type_int) ||
	    json_object_get_int64(v) < 0)
		return -EINVAL;
	return put(p, d, 0, json_object_get_uint64(v));
}

struct json_object *bd_params_to_json(const struct bln_policy_params *p,
                                      bool enabled)
{
	struct json_object *o = json_object_new_object();

	if (!o)
		return NULL;
	json_object_object_add(o, "enabled", json_object_new_boolean(enabled));
	json_object_object_add(
	        o, "kind",
	        json_object_new_string(bln_policy_kind_name(p->kind)));
	for (size_t i = 0; i < NPARAMS; i++) {
		const struct pdesc *d = &pdescs[i];
		const char *base = (const char *)p + d->off;
		struct json_object *v;
		if (d->type == P_DOUBLE) {
			double dv;
			memcpy(&dv, base, sizeof(dv));
			v = json_object_new_double(dv);
		} else if (d->type == P_BYTES) {
			uint64_t uv;
			memcpy(&uv, base, sizeof(uv));
			v = json_object_new_uint64(uv);
		} else {
			uint32_t uv;
			memcpy(&uv, base, sizeof(uv));
			v = json_object_new_int64(uv);
		}
		json_object_object_add(o, d->name, v);
	}
	return o;
}
