/* SPDX-License-Identifier: MIT */
/*
 * verbs.c - one function per balloonctl verb: build the request's args,
 * make the call, print the result (human, or the daemon's JSON with --json).
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bc_util.h"
#include "client.h"
#include "ctl.h"
#include "output.h"
#include "wait.h"

#ifndef CTL_VERSION
#define CTL_VERSION "unknown"
#endif

/* One request (consumes @args).  CTL_EXIT_OK and *res, or an error line
 * printed and CTL_EXIT_FAIL. */
static int request(struct ctl_io *io, const char *cmd, struct json_object *args,
                   struct json_object **res)
{
	struct ctl_err e;
	int ret = bctl_call_once(io->socket, io->reply_timeout_ms, cmd, args,
	                         res, &e);

	json_object_put(args);
	if (ret) {
		bctl_print_error(io, &e);
		return CTL_EXIT_FAIL;
	}
	return CTL_EXIT_OK;
}

static struct json_object *vm_args(const char *vm)
{
	struct json_object *a = json_object_new_object();

	if (a)
		json_object_object_add(a, "vm", json_object_new_string(vm));
	return a;
}

static void add_size(struct json_object *a, const char *key, uint64_t v)
{
	json_object_object_add(a, key, json_object_new_uint64(v));
}

typedef void (*human_fn)(struct ctl_io *io, const struct ctl_cmd *cmd,
                         struct json_object *res);

/* Request, then print the JSON result or the human form. */
static int run(struct ctl_io *io, const struct ctl_cmd *cmd, const char *name,
               struct json_object *args, human_fn human)
{
	struct json_object *res;
	int ret = request(io, name, args, &res);

	if (ret)
		return ret;
	if (io->json)
		bctl_print_json(io->out, res, true);
	else
		human(io, cmd, res);
	json_object_put(res);
	return CTL_EXIT_OK;
}

static void show_list(struct ctl_io *io, const struct ctl_cmd *cmd,
                      struct json_object *res)
{
	struct json_object *vms = NULL;

	(void)cmd;
	json_object_object_get_ex(res, "vms", &vms);
	bctl_print_vms(io->out, vms);
}

static void show_vm(struct ctl_io *io, const struct ctl_cmd *cmd,
                    struct json_object *res)
{
	(void)cmd;
	bctl_print_vm(io->out, res, bc_wall_s());
}

static void show_stats(struct ctl_io *io, const struct ctl_cmd *cmd,
                       struct json_object *res)
{
	(void)cmd;
	bctl_print_stats(io->out, res, bc_wall_s());
}

static void show_host(struct ctl_io *io, const struct ctl_cmd *cmd,
                      struct json_object *res)
{
	(void)cmd;
	bctl_print_host(io->out, res);
}

static void show_policy(struct ctl_io *io, const struct ctl_cmd *cmd,
                        struct json_object *res)
{
	(void)cmd;
	bctl_print_policy(io->out, res);
}

/* "web: min 256 MiB" style confirmations for the setters. */
static void said(struct ctl_io *io, const struct ctl_cmd *cmd,
                 struct json_object *res, const char *key)
{
	char b[32];

	fprintf(io->out, "%s: %s %s\n", bctl_json_str(res, "name", cmd->vm),
	        key, bctl_size_field(res, key, b, sizeof(b)));
}

static void show_added(struct ctl_io *io, const struct ctl_cmd *cmd,
                       struct json_object *res)
{
	fprintf(io->out, "%s: added (qmp %s, state %s)\n",
	        bctl_json_str(res, "name", cmd->vm),
	        bctl_json_str(res, "qmp", cmd->qmp),
	        bctl_json_str(res, "state", "-"));
}

static void show_removed(struct ctl_io *io, const struct ctl_cmd *cmd,
                         struct json_object *res)
{
	(void)res;
	fprintf(io->out, "%s: removed (its balloon is left as it is)\n",
	        cmd->vm);
}

static void show_min(struct ctl_io *io, const struct ctl_cmd *cmd,
                     struct json_object *res)
{
	said(io, cmd, res, "min");
}

static void show_max(struct ctl_io *io, const struct ctl_cmd *cmd,
                     struct json_object *res)
{
	said(io, cmd, res, "max");
}

static void show_shares(struct ctl_io *io, const struct ctl_cmd *cmd,
                        struct json_object *res)
{
	uint64_t v = cmd->count;

	bctl_json_u64(res, "shares", &v);
	fprintf(io->out, "%s: shares %llu\n",
	        bctl_json_str(res, "name", cmd->vm), (unsigned long long)v);
}

static void show_released(struct ctl_io *io, const struct ctl_cmd *cmd,
                          struct json_object *res)
{
	char t[32], a[32];

	fprintf(io->out, "%s: released to the policy (target %s, actual %s)\n",
	        bctl_json_str(res, "name", cmd->vm),
	        bctl_size_field(res, "target", t, sizeof(t)),
	        bctl_size_field(res, "actual", a, sizeof(a)));
}

int bctl_run_list(const struct ctl_cmd *cmd, struct ctl_io *io)
{
	return run(io, cmd, "list", NULL, show_list);
}

int bctl_run_info(const struct ctl_cmd *cmd, struct ctl_io *io)
{
	return run(io, cmd, "info", vm_args(cmd->vm), show_vm);
}

int bctl_run_add(const struct ctl_cmd *cmd, struct ctl_io *io)
{
	struct json_object *a = vm_args(cmd->vm);

	json_object_object_add(a, "qmp", json_object_new_string(cmd->qmp));
	if (cmd->has_min)
		add_size(a, "min", cmd->min);
	if (cmd->has_max)
		add_size(a, "max", cmd->max);
	if (cmd->has_shares)
		json_object_object_add(a, "shares",
		                       json_object_new_int64(cmd->shares));
	return run(io, cmd, "add", a, show_added);
}

int bctl_run_remove(const struct ctl_cmd *cmd, struct ctl_io *io)
{
	return run(io, cmd, "remove", vm_args(cmd->vm), show_removed);
}

int bctl_run_set(const struct ctl_cmd *cmd, struct ctl_io *io)
{
	struct json_object *a = vm_args(cmd->vm), *res;
	struct ctl_wait w;
	char t[32], c[32];
	int ret;

	add_size(a, "target", cmd->size);
	ret = request(io, "set", a, &res);
	if (ret)
		return ret;
	if (cmd->wait) {
		bctl_wait_init(&w, cmd->vm, cmd->size, res);
		json_object_put(res);
		return bctl_wait_run(io, &w, cmd->timeout_s);
	}
	if (io->json)
		bctl_print_json(io->out, res, true);
	else
		fprintf(io->out, "%s: target %s (actual %s), pinned\n",
		        bctl_json_str(res, "name", cmd->vm),
		        bctl_size_field(res, "target", t, sizeof(t)),
		        bctl_size_field(res, "actual", c, sizeof(c)));
	json_object_put(res);
	return CTL_EXIT_OK;
}

int bctl_run_min(const struct ctl_cmd *cmd, struct ctl_io *io)
{
	struct json_object *a = vm_args(cmd->vm);

	add_size(a, "min", cmd->size);
	return run(io, cmd, "min", a, show_min);
}

int bctl_run_max(const struct ctl_cmd *cmd, struct ctl_io *io)
{
	struct json_object *a = vm_args(cmd->vm);

	add_size(a, "max", cmd->size);
	return run(io, cmd, "max", a, show_max);
}

int bctl_run_shares(const struct ctl_cmd *cmd, struct ctl_io *io)
{
	struct json_object *a = vm_args(cmd->vm);

	json_object_object_add(a, "shares", json_object_new_int64(cmd->count));
	return run(io, cmd, "shares", a, show_shares);
}

int bctl_run_stats(const struct ctl_cmd *cmd, struct ctl_io *io)
{
	return run(io, cmd, "stats", vm_args(cmd->vm), show_stats);
}

int bctl_run_host(const struct ctl_cmd *cmd, struct ctl_io *io)
{
	return run(io, cmd, "host", NULL, show_host);
}

int bctl_run_policy(const struct ctl_cmd *cmd, struct ctl_io *io)
{
	return run(io, cmd, "policy-get", NULL, show_policy);
}

int bctl_run_policy_set(const struct ctl_cmd *cmd, struct ctl_io *io)
{
	return run(io, cmd, "policy-set", json_object_get(cmd->policy_args),
	           show_policy);
}

int bctl_run_policy_release(const struct ctl_cmd *cmd, struct ctl_io *io)
{
	return run(io, cmd, "policy-release", vm_args(cmd->vm), show_released);
}

static void show_version(struct ctl_io *io, const struct ctl_cmd *cmd,
                         struct json_object *res)
{
	(void)cmd;
	bctl_print_version(io->out, res);
}

int bctl_run_version(const struct ctl_cmd *cmd, struct ctl_io *io)
{
	if (!io->json) {
		fprintf(io->out, "balloonctl %s (control protocol %d)\n",
		        CTL_VERSION, CTL_PROTOCOL_VERSION);
		fflush(io->out);
	}
	return run(io, cmd, "version", NULL, show_version);
}

/* policy set keys and how their values are typed. */
enum kv_type { KV_KIND, KV_BOOL, KV_NUM, KV_INT, KV_SIZE };

static const struct {
	const char *key;
	enum kv_type type;
} policy_keys[] = {
        {"kind", KV_KIND},    {"enabled", KV_BOOL},       {"tax_rate", KV_NUM},
        {"high_pct", KV_NUM}, {"soft_pct", KV_NUM},       {"hard_pct", KV_NUM},
        {"low_pct", KV_NUM},  {"aggressiveness", KV_NUM}, {"tick_ms", KV_INT},
        {"margin", KV_SIZE},  {"max_shrink", KV_SIZE},    {"budget", KV_SIZE},
};

static bool is_one_of(const char *v, const char *const *words, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v, words[i]))
			return true;
	return false;
}

/* A typed JSON value for @v, or NULL if @v is not of @type. */
static struct json_object *kv_value(enum kv_type type, const char *v)
{
	static const char *const kinds[] = {"idletax", "static", "proxmox",
	                                    "mom"};
	static const char *const yes[] = {"true", "yes", "on", "1"};
	static const char *const no[] = {"false", "no", "off", "0"};
	char *end;
	uint64_t u;
	double d;

	switch (type) {
	case KV_KIND:
		return is_one_of(v, kinds, 4) ? json_object_new_string(v)
		                              : NULL;
	case KV_BOOL:
		if (is_one_of(v, yes, 4))
			return json_object_new_boolean(1);
		return is_one_of(v, no, 4) ? json_object_new_boolean(0) : NULL;
	case KV_NUM:
		errno = 0;
		d = strtod(v, &end);
		if (end == v || *end || errno || !isfinite(d))
			return NULL;
		return json_object_new_double(d);
	case KV_INT:
		errno = 0;
		u = strtoull(v, &end, 10);
		if (*v < '0' || *v > '9' || *end || errno || u > INT64_MAX)
			return NULL;
		return json_object_new_int64((int64_t)u);
	default:
		if (bc_parse_size(v, &u))
			return NULL;
		return json_object_new_uint64(u);
	}
}

static const char *const kv_expect[] = {
        [KV_KIND] = "one of idletax, static, proxmox, mom",
        [KV_BOOL] = "true or false",
        [KV_NUM] = "a number",
        [KV_INT] = "a whole number",
        [KV_SIZE] = "a size such as 64M or 1G",
};

static int kv_one(char *kv, struct json_object *args, char *msg, size_t len)
{
	const char *eq = strchr(kv, '=');
	size_t n = eq ? (size_t)(eq - kv) : 0;
	struct json_object *val;

	if (!eq || !n || !eq[1]) {
		snprintf(msg, len, "expected KEY=VALUE, got '%s'", kv);
		return -EINVAL;
	}
	for (size_t i = 0; i < sizeof(policy_keys) / sizeof(*policy_keys);
	     i++) {
		const char *k = policy_keys[i].key;
		if (strlen(k) != n || strncmp(kv, k, n))
			continue;
		val = kv_value(policy_keys[i].type, eq + 1);
		if (!val) {
			snprintf(msg, len, "%s needs %s, got '%s'", k,
			         kv_expect[policy_keys[i].type], eq + 1);
			return -EINVAL;
		}
		json_object_object_add(args, k, val);
		return 0;
	}
	snprintf(msg, len,
	         "unknown policy key '%.*s' (keys: kind, enabled, tax_rate, "
	         "high_pct, soft_pct, hard_pct, low_pct, aggressiveness, "
	         "tick_ms, margin, max_shrink, budget)",
	         (int)n, kv);
	return -EINVAL;
}

int bctl_policy_kv(char *const *kv, size_t n, struct json_object **out,
                   char *msg, size_t msglen)
{
	struct json_object *args = json_object_new_object();
	int ret = 0;

	if (!args)
		return -ENOMEM;
	for (size_t i = 0; i < n && !ret; i++)
		ret = kv_one(kv[i], args, msg, msglen);
	if (ret) {
		json_object_put(args);
		return ret;
	}
	*out = args;
	return 0;
}
