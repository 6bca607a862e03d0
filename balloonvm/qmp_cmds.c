/* SPDX-License-Identifier: MIT */
/*
 * qmp_cmds.c - request validation and dispatch, in QEMU's order: the request
 * must be an object; "id" is set aside and echoed; "execute" must be a
 * string, "arguments" an object, nothing else may appear; before
 * qmp_capabilities only qmp_capabilities exists; then the command's
 * arguments are checked like QAPI's input visitor checks them.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#include "qmp_cmds_int.h"

static const char *const stat_names[VIRTIO_BALLOON_S_NR] = {
        [VIRTIO_BALLOON_S_SWAP_IN] = "stat-swap-in",
        [VIRTIO_BALLOON_S_SWAP_OUT] = "stat-swap-out",
        [VIRTIO_BALLOON_S_MAJFLT] = "stat-major-faults",
        [VIRTIO_BALLOON_S_MINFLT] = "stat-minor-faults",
        [VIRTIO_BALLOON_S_MEMFREE] = "stat-free-memory",
        [VIRTIO_BALLOON_S_MEMTOT] = "stat-total-memory",
        [VIRTIO_BALLOON_S_AVAIL] = "stat-available-memory",
        [VIRTIO_BALLOON_S_CACHES] = "stat-disk-caches",
        [VIRTIO_BALLOON_S_HTLB_PGALLOC] = "stat-htlb-pgalloc",
        [VIRTIO_BALLOON_S_HTLB_PGFAIL] = "stat-htlb-pgfail",
        [VIRTIO_BALLOON_S_OOM_KILL] = "stat-oom-kills",
        [VIRTIO_BALLOON_S_ALLOC_STALL] = "stat-alloc-stalls",
        [VIRTIO_BALLOON_S_ASYNC_SCAN] = "stat-async-scans",
        [VIRTIO_BALLOON_S_DIRECT_SCAN] = "stat-direct-scans",
        [VIRTIO_BALLOON_S_ASYNC_RECLAIM] = "stat-async-reclaims",
        [VIRTIO_BALLOON_S_DIRECT_RECLAIM] = "stat-direct-reclaims",
};

const char *bvm_qmp_stat_name(unsigned tag)
{
	return tag < VIRTIO_BALLOON_S_NR ? stat_names[tag] : NULL;
}

struct json_object *bvm_qmp_error(const char *cls, const char *fmt, ...)
{
	struct json_object *o = json_object_new_object();
	struct json_object *e = json_object_new_object();
	char desc[512];
	va_list ap;

	if (!o || !e) {
		json_object_put(o);
		json_object_put(e);
		return NULL;
	}
	va_start(ap, fmt);
	vsnprintf(desc, sizeof(desc), fmt, ap);
	va_end(ap);
	json_object_object_add(e, "class", json_object_new_string(cls));
	json_object_object_add(e, "desc", json_object_new_string(desc));
	json_object_object_add(o, "error", e);
	return o;
}

struct json_object *bvm_qmp_ok(struct json_object *ret)
{
	struct json_object *o = json_object_new_object();

	if (!ret)
		ret = json_object_new_object();
	if (!o || !ret) {
		json_object_put(o);
		json_object_put(ret);
		return NULL;
	}
	json_object_object_add(o, "return", ret);
	return o;
}

struct json_object *bvm_qmp_backend_error(int ret, const char *err)
{
	if (err && err[0])
		return bvm_qmp_error(QMP_GENERIC_ERROR, "%s", err);
	return bvm_qmp_error(QMP_GENERIC_ERROR, "%s", strerror(-ret));
}

struct json_object *bvm_qmp_greeting(void)
{
	struct json_object *g = json_object_new_object();
	struct json_object *qmp = json_object_new_object();
	struct json_object *ver = json_object_new_object();
	struct json_object *q = json_object_new_object();

	if (!g || !qmp || !ver || !q) {
		json_object_put(g);
		json_object_put(qmp);
		json_object_put(ver);
		json_object_put(q);
		return NULL;
	}
	json_object_object_add(q, "micro", json_object_new_int(BVM_QEMU_MICRO));
	json_object_object_add(q, "minor", json_object_new_int(BVM_QEMU_MINOR));
	json_object_object_add(q, "major", json_object_new_int(BVM_QEMU_MAJOR));
	json_object_object_add(ver, "qemu", q);
	json_object_object_add(ver, "package",
	                       json_object_new_string(BVM_PACKAGE));
	json_object_object_add(qmp, "version", ver);
	json_object_object_add(qmp, "capabilities", json_object_new_array());
	json_object_object_add(g, "QMP", qmp);
	return g;
}

struct json_object *bvm_qmp_event(const char *name, struct json_object *data)
{
	struct json_object *o = json_object_new_object();
	struct json_object *ts = json_object_new_object();
	struct timeval tv;

	if (!o || !ts) {
		json_object_put(o);
		json_object_put(ts);
		json_object_put(data);
		return NULL;
	}
	gettimeofday(&tv, NULL);
	json_object_object_add(o, "event", json_object_new_string(name));
	if (data)
		json_object_object_add(o, "data", data);
	json_object_object_add(ts, "seconds", json_object_new_int64(tv.tv_sec));
	json_object_object_add(ts, "microseconds",
	                       json_object_new_int64(tv.tv_usec));
	json_object_object_add(o, "timestamp", ts);
	return o;
}

static const struct qmp_cmd *const groups[] = {bvm_qmp_machine_cmds,
                                               bvm_qmp_bvm_cmds};

static const struct qmp_cmd *find_cmd(const char *name)
{
	for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]); g++)
		for (const struct qmp_cmd *c = groups[g]; c->name; c++)
			if (!strcmp(c->name, name))
				return c;
	return NULL;
}

const char *const *bvm_qmp_command_names(void)
{
	static const char *names[64];

	if (!names[0]) {
		size_t n = 0;
		for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]); g++)
			for (const struct qmp_cmd *c = groups[g];
			     c->name &&
			     n + 1 < sizeof(names) / sizeof(names[0]);
			     c++)
				names[n++] = c->name;
	}
	return names;
}

const char *bvm_qmp_arg_str(const struct qmp_call *c, const char *name)
{
	struct json_object *v = bvm_qmp_arg(c, name);

	return v ? json_object_get_string(v) : NULL;
}

int64_t bvm_qmp_arg_int(const struct qmp_call *c, const char *name)
{
	struct json_object *v = bvm_qmp_arg(c, name);

	return v ? json_object_get_int64(v) : 0;
}

struct json_object *bvm_qmp_arg(const struct qmp_call *c, const char *name)
{
	struct json_object *v;

	if (!json_object_object_get_ex(c->args, name, &v))
		return NULL;
	return v;
}

static const char *type_name(enum json_type t)
{
	switch (t) {
	case json_type_int:
		return "integer";
	case json_type_string:
		return "string";
	case json_type_boolean:
		return "boolean";
	case json_type_array:
		return "array";
	case json_type_object:
		return "object";
	default:
		return "any";
	}
}

/* QAPI's input checks: missing, mistyped and unexpected parameters. */
static struct json_object *check_args(const struct qmp_cmd *cmd,
                                      struct json_object *args)
{
	const struct bvm_qmp_arg *a;

	for (a = cmd->args; a && a->name; a++) {
		struct json_object *v;
		if (!json_object_object_get_ex(args, a->name, &v)) {
			if (a->optional)
				continue;
			return bvm_qmp_error(QMP_GENERIC_ERROR,
			                     "Parameter '%s' is missing",
			                     a->name);
		}
		if (a->type != json_type_null &&
		    !json_object_is_type(v, a->type))
			return bvm_qmp_error(QMP_GENERIC_ERROR,
			                     "Invalid parameter type for '%s', "
			                     "expected: %s",
			                     a->name, type_name(a->type));
	}
	json_object_object_foreach(args, key, val)
	{
		(void)val;
		for (a = cmd->args; a && a->name && strcmp(a->name, key); a++)
			;
		if (!a || !a->name)
			return bvm_qmp_error(QMP_GENERIC_ERROR,
			                     "Parameter '%s' is unexpected",
			                     key);
	}
	return NULL;
}

/* The request's shape (qmp_dispatch_check_obj in QEMU). */
static struct json_object *check_request(struct json_object *req,
                                         const char **execute)
{
	*execute = NULL;
	if (!json_object_is_type(req, json_type_object))
		return bvm_qmp_error(QMP_GENERIC_ERROR,
		                     "QMP input must be a JSON object");
	json_object_object_foreach(req, key, val)
	{
		if (!strcmp(key, "id"))
			continue;
		if (!strcmp(key, "execute")) {
			if (!json_object_is_type(val, json_type_string))
				return bvm_qmp_error(
				        QMP_GENERIC_ERROR,
				        "QMP input member 'execute' "
				        "must be a string");
			*execute = json_object_get_string(val);
		} else if (!strcmp(key, "arguments")) {
			if (!json_object_is_type(val, json_type_object))
				return bvm_qmp_error(
				        QMP_GENERIC_ERROR,
				        "QMP input member 'arguments' "
				        "must be an object");
		} else {
			return bvm_qmp_error(
			        QMP_GENERIC_ERROR,
			        "QMP input member '%s' is unexpected", key);
		}
	}
	if (!*execute)
		return bvm_qmp_error(QMP_GENERIC_ERROR,
		                     "QMP input lacks member 'execute'");
	return NULL;
}

static struct json_object *run(struct qmp_session *s,
                               const struct qmp_backend *be, void *ctx,
                               struct json_object *req)
{
	struct qmp_call c = {.s = s, .be = be, .ctx = ctx};
	const struct qmp_cmd *cmd;
	struct json_object *rsp, *empty = NULL;
	const char *execute;

	rsp = check_request(req, &execute);
	if (rsp)
		return rsp;
	if (!s->negotiated && strcmp(execute, "qmp_capabilities"))
		return bvm_qmp_error(QMP_COMMAND_NOT_FOUND,
		                     "Expecting capabilities negotiation with "
		                     "'qmp_capabilities'");
	cmd = find_cmd(execute);
	if (!cmd)
		return bvm_qmp_error(QMP_COMMAND_NOT_FOUND,
		                     "The command %s has not been found",
		                     execute);
	if (!json_object_object_get_ex(req, "arguments", &c.args)) {
		empty = json_object_new_object();
		if (!empty)
			return NULL;
		c.args = empty;
	}
	rsp = check_args(cmd, c.args);
	if (!rsp)
		rsp = cmd->fn(&c);
	json_object_put(empty);
	return rsp;
}

struct json_object *bvm_qmp_dispatch(struct qmp_session *s,
                                     const struct qmp_backend *be, void *ctx,
                                     struct json_object *req)
{
	struct json_object *rsp = run(s, be, ctx, req), *id;

	if (rsp && json_object_is_type(req, json_type_object) &&
	    json_object_object_get_ex(req, "id", &id))
		json_object_object_add(rsp, "id", json_object_get(id));
	return rsp;
}

bool bvm_qmp_request_waits_guest(const struct qmp_session *s,
                                 struct json_object *req)
{
	struct json_object *ex;
	const struct qmp_cmd *cmd;

	if (!s->negotiated || !json_object_is_type(req, json_type_object) ||
	    !json_object_object_get_ex(req, "execute", &ex) ||
	    !json_object_is_type(ex, json_type_string))
		return false;
	cmd = find_cmd(json_object_get_string(ex));
	return cmd && cmd->waits_guest;
}
