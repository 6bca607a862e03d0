/* SPDX-License-Identifier: MIT */
/*
 * qmp_cmds_qom.c - a four-object QOM tree, just deep enough for what balloon
 * managers do: / -> machine -> peripheral -> balloon0, where balloon0 (type
 * virtio-balloon-pci) has QEMU's guest-stats (read-only) and
 * guest-stats-polling-interval (int, seconds) properties.  Paths resolve
 * like QEMU's: absolute ("/machine/peripheral/balloon0", empty components
 * ignored) or partial ("balloon0") when the suffix names one object.
 */
#include <stdio.h>
#include <string.h>

#include "qmp_cmds_int.h"
#include "stats_alert.h"

struct qom_obj {
	const char *path;
	const char *type;
	const char *child;      /* its one child's name, or NULL */
	const char *child_type; /* the child's type */
};

static const struct qom_obj objs[] = {
        {"/", "container", "machine", "balloonvm-machine"},
        {"/machine", "balloonvm-machine", "peripheral", "container"},
        {"/machine/peripheral", "container", "balloon0", BVM_BALLOON_TYPE},
        {BVM_BALLOON_PATH, BVM_BALLOON_TYPE, NULL, NULL},
};
#define NOBJS (sizeof(objs) / sizeof(objs[0]))

#define PROP_STATS    "guest-stats"
#define PROP_INTERVAL "guest-stats-polling-interval"

/* Normalise @path to "/a/b" (empty components dropped) and find it. */
static const struct qom_obj *resolve(const char *path)
{
	char norm[256];
	size_t n = 0, nl;
	const char *p = path;
	const struct qom_obj *found = NULL;

	while (*p) {
		size_t len = strcspn(p, "/");
		if (len) {
			if (n + len + 2 > sizeof(norm))
				return NULL;
			norm[n++] = '/';
			memcpy(norm + n, p, len);
			n += len;
		}
		p += len;
		p += *p == '/';
	}
	norm[n] = 0;
	if (!n)
		return path[0] == '/' ? &objs[0] : NULL;
	nl = strlen(norm);
	for (size_t i = 0; i < NOBJS; i++) {
		size_t pl = strlen(objs[i].path);
		if (path[0] == '/') {
			if (!strcmp(objs[i].path, norm))
				return &objs[i];
		} else if (pl >= nl && !strcmp(objs[i].path + pl - nl, norm)) {
			if (found)
				return NULL; /* ambiguous */
			found = &objs[i];
		}
	}
	return found;
}

static bool is_balloon(const struct qom_obj *o)
{
	return !strcmp(o->path, BVM_BALLOON_PATH);
}

static struct json_object *not_found(const char *path)
{
	return bvm_qmp_error(QMP_DEVICE_NOT_FOUND, "Device '%s' not found",
	                     path);
}

static struct json_object *no_prop(const struct qom_obj *o, const char *prop)
{
	return bvm_qmp_error(QMP_GENERIC_ERROR, "Property '%s.%s' not found",
	                     o->type, prop);
}

static int add_prop(struct json_object *list, const char *name,
                    const char *type)
{
	struct json_object *o = json_object_new_object();

	if (!o)
		return -1;
	json_object_object_add(o, "name", json_object_new_string(name));
	json_object_object_add(o, "type", json_object_new_string(type));
	return json_object_array_add(list, o);
}

struct json_object *bvm_qmp_cmd_qom_list(const struct qmp_call *c)
{
	const char *path = bvm_qmp_arg_str(c, "path");
	const struct qom_obj *o = resolve(path);
	struct json_object *list;
	char ctype[96];
	int ret;

	if (!o)
		return not_found(path);
	list = json_object_new_array();
	if (!list)
		return NULL;
	ret = add_prop(list, "type", "string");
	if (o->child) {
		snprintf(ctype, sizeof(ctype), "child<%s>", o->child_type);
		ret |= add_prop(list, o->child, ctype);
	}
	if (is_balloon(o)) {
		ret |= add_prop(list, PROP_STATS, "guest statistics");
		ret |= add_prop(list, PROP_INTERVAL, "int");
	}
	if (ret) {
		json_object_put(list);
		return NULL;
	}
	return bvm_qmp_ok(list);
}

/* {"last-update": s, "stats": {name: value or -1}} like QEMU. */
static struct json_object *guest_stats(const struct qmp_call *c)
{
	struct qmp_guest_stats gs;

	memset(&gs, 0, sizeof(gs));
	c->be->guest_stats(c->ctx, &gs);
	return bvm_stats_json(&gs);
}

struct json_object *bvm_qmp_cmd_qom_get(const struct qmp_call *c)
{
	const char *path = bvm_qmp_arg_str(c, "path");
	const char *prop = bvm_qmp_arg_str(c, "property");
	const struct qom_obj *o = resolve(path);

	if (!o)
		return not_found(path);
	if (!strcmp(prop, "type"))
		return bvm_qmp_ok(json_object_new_string(o->type));
	if (o->child && !strcmp(prop, o->child)) {
		char p[128];
		snprintf(p, sizeof(p), "%s/%s",
		         strcmp(o->path, "/") ? o->path : "", o->child);
		return bvm_qmp_ok(json_object_new_string(p));
	}
	if (is_balloon(o) && !strcmp(prop, PROP_STATS)) {
		struct json_object *v = guest_stats(c);
		return v ? bvm_qmp_ok(v) : NULL;
	}
	if (is_balloon(o) && !strcmp(prop, PROP_INTERVAL))
		return bvm_qmp_ok(
		        json_object_new_int64(c->be->stats_interval(c->ctx)));
	return no_prop(o, prop);
}

struct json_object *bvm_qmp_cmd_qom_set(const struct qmp_call *c)
{
	const char *path = bvm_qmp_arg_str(c, "path");
	const char *prop = bvm_qmp_arg_str(c, "property");
	struct json_object *val = bvm_qmp_arg(c, "value");
	const struct qom_obj *o = resolve(path);
	char err[QMP_ERR_LEN] = "";
	int64_t secs;
	int ret;

	if (!o)
		return not_found(path);
	if (!is_balloon(o) || strcmp(prop, PROP_INTERVAL)) {
		bool exists = !strcmp(prop, "type") ||
		              (o->child && !strcmp(prop, o->child)) ||
		              (is_balloon(o) && !strcmp(prop, PROP_STATS));
		if (!exists)
			return no_prop(o, prop);
		return bvm_qmp_error(QMP_GENERIC_ERROR,
		                     "Property '%s.%s' is not writable",
		                     o->type, prop);
	}
	if (!json_object_is_type(val, json_type_int))
		return bvm_qmp_error(
		        QMP_GENERIC_ERROR,
		        "Invalid parameter type for '%s', expected: "
		        "integer",
		        prop);
	secs = json_object_get_int64(val);
	if (secs < 0)
		return bvm_qmp_error(QMP_GENERIC_ERROR,
		                     "timer value must be greater than zero");
	if (secs > (int64_t)UINT32_MAX)
		return bvm_qmp_error(QMP_GENERIC_ERROR,
		                     "timer value is too big");
	ret = c->be->set_stats_interval(c->ctx, secs, err);
	if (ret)
		return bvm_qmp_backend_error(ret, err);
	return bvm_qmp_ok(NULL);
}

const struct bvm_qmp_arg bvm_qmp_qom_list_args[] = {
        {"path", json_type_string, false},
        {0},
};
const struct bvm_qmp_arg bvm_qmp_qom_get_args[] = {
        {"path", json_type_string, false},
        {"property", json_type_string, false},
        {0},
};
const struct bvm_qmp_arg bvm_qmp_qom_set_args[] = {
        {"path", json_type_string, false},
        {"property", json_type_string, false},
        {"value", json_type_null, false},
        {0},
};
