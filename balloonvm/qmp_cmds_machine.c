/* SPDX-License-Identifier: MIT */
/*
 * qmp_cmds_machine.c - the QEMU commands a balloon manager uses, with QEMU's
 * semantics: `balloon` takes the logical size the guest should have (bytes;
 * a value above RAM is clamped to RAM, as virtio_balloon_to_target() does),
 * `query-balloon` reports RAM minus the balloon the driver acknowledged,
 * and the balloon's QOM object carries guest-stats(-polling-interval).
 */
#include <string.h>

#include "qmp_cmds_int.h"

static struct json_object *cmd_capabilities(const struct qmp_call *c)
{
	struct json_object *en = bvm_qmp_arg(c, "enable");

	if (c->s->negotiated)
		return bvm_qmp_error(
		        QMP_COMMAND_NOT_FOUND,
		        "Capabilities negotiation is already complete, "
		        "command ignored");
	/* We offer no capability; "oob" is the only one QEMU knows. */
	for (size_t i = 0; en && i < json_object_array_length(en); i++) {
		struct json_object *v = json_object_array_get_idx(en, i);
		const char *name = json_object_get_string(v);
		if (!json_object_is_type(v, json_type_string))
			return bvm_qmp_error(
			        QMP_GENERIC_ERROR,
			        "Invalid parameter type for 'enable[%zu]', "
			        "expected: string",
			        i);
		if (strcmp(name, "oob"))
			return bvm_qmp_error(
			        QMP_GENERIC_ERROR,
			        "Parameter 'enable[%zu]' does not accept "
			        "value '%s'",
			        i, name);
		return bvm_qmp_error(QMP_GENERIC_ERROR,
		                     "Capability oob not available");
	}
	c->s->negotiated = true;
	return bvm_qmp_ok(NULL);
}

static struct json_object *cmd_query_version(const struct qmp_call *c)
{
	struct json_object *g = bvm_qmp_greeting(), *qmp, *ver;

	(void)c;
	if (!g)
		return NULL;
	json_object_object_get_ex(g, "QMP", &qmp);
	json_object_object_get_ex(qmp, "version", &ver);
	json_object_get(ver);
	json_object_put(g);
	return bvm_qmp_ok(ver);
}

static struct json_object *cmd_query_commands(const struct qmp_call *c)
{
	struct json_object *list = json_object_new_array();
	const char *const *names = bvm_qmp_command_names();

	(void)c;
	if (!list)
		return NULL;
	for (size_t i = 0; names[i]; i++) {
		struct json_object *o = json_object_new_object();
		if (!o) {
			json_object_put(list);
			return NULL;
		}
		json_object_object_add(o, "name",
		                       json_object_new_string(names[i]));
		json_object_array_add(list, o);
	}
	return bvm_qmp_ok(list);
}

static struct json_object *cmd_query_status(const struct qmp_call *c)
{
	struct json_object *o = json_object_new_object();

	(void)c;
	if (!o)
		return NULL;
	json_object_object_add(o, "running", json_object_new_boolean(1));
	json_object_object_add(o, "status", json_object_new_string("running"));
	return bvm_qmp_ok(o);
}

static struct json_object *cmd_query_balloon(const struct qmp_call *c)
{
	struct json_object *o = json_object_new_object();

	if (!o)
		return NULL;
	json_object_object_add(
	        o, "actual",
	        json_object_new_int64((int64_t)c->be->actual_bytes(c->ctx)));
	return bvm_qmp_ok(o);
}

/* The boot size: what a manager takes as the VM's maximum. */
static struct json_object *cmd_memory_summary(const struct qmp_call *c)
{
	struct json_object *o = json_object_new_object();

	if (!o)
		return NULL;
	json_object_object_add(
	        o, "base-memory",
	        json_object_new_int64((int64_t)c->be->ram_bytes(c->ctx)));
	json_object_object_add(o, "plugged-memory", json_object_new_int64(0));
	return bvm_qmp_ok(o);
}

static struct json_object *cmd_balloon(const struct qmp_call *c)
{
	int64_t value = bvm_qmp_arg_int(c, "value");
	uint64_t ram = c->be->ram_bytes(c->ctx);
	char err[QMP_ERR_LEN] = "";
	int ret;

	if (value <= 0)
		return bvm_qmp_error(QMP_GENERIC_ERROR,
		                     "Parameter 'value' expects a size");
	if ((uint64_t)value > ram)
		value = (int64_t)ram;
	ret = c->be->set_target(
	        c->ctx, (uint32_t)((ram - (uint64_t)value) / BLN_PAGE_SIZE),
	        err);
	if (ret)
		return bvm_qmp_backend_error(ret, err);
	return bvm_qmp_ok(NULL);
}

static struct json_object *cmd_quit(const struct qmp_call *c)
{
	c->be->quit(c->ctx);
	return bvm_qmp_ok(NULL);
}

static const struct bvm_qmp_arg args_caps[] = {
        {"enable", json_type_array, true},
        {0},
};
static const struct bvm_qmp_arg args_balloon[] = {
        {"value", json_type_int, false},
        {0},
};
const struct qmp_cmd bvm_qmp_machine_cmds[] = {
        {"qmp_capabilities", args_caps, cmd_capabilities, false},
        {"query-version", NULL, cmd_query_version, false},
        {"query-commands", NULL, cmd_query_commands, false},
        {"query-status", NULL, cmd_query_status, false},
        {"query-balloon", NULL, cmd_query_balloon, false},
        {"query-memory-size-summary", NULL, cmd_memory_summary, false},
        {"balloon", args_balloon, cmd_balloon, false},
        {"qom-list", bvm_qmp_qom_list_args, bvm_qmp_cmd_qom_list, false},
        {"qom-get", bvm_qmp_qom_get_args, bvm_qmp_cmd_qom_get, false},
        {"qom-set", bvm_qmp_qom_set_args, bvm_qmp_cmd_qom_set, false},
        {"quit", NULL, cmd_quit, false},
        {0},
};
