/* SPDX-License-Identifier: MIT */
/*
 * qmp_cmds_bvm.c - balloonvm's own commands, prefixed x-bvm- the way QEMU
 * marks experimental ones: workloads (add, set, stop, query) and a memory
 * report (guest memory manager counters, device counters, host RSS), and
 * guest-stats alerts (stats_alert.h).
 */
#include "qmp_cmds_int.h"
#include "stats_alert.h"

static struct json_object *cmd_wl_add(const struct qmp_call *c)
{
	char err[QMP_ERR_LEN] = "";
	struct json_object *o;
	int64_t id = 0;
	int ret;

	ret = c->be->workload_add(c->ctx, bvm_qmp_arg_str(c, "spec"), &id, err);
	if (ret)
		return bvm_qmp_backend_error(ret, err);
	o = json_object_new_object();
	if (!o)
		return NULL;
	json_object_object_add(o, "id", json_object_new_int64(id));
	return bvm_qmp_ok(o);
}

static struct json_object *cmd_wl_set(const struct qmp_call *c)
{
	char err[QMP_ERR_LEN] = "";
	int ret = c->be->workload_set(c->ctx, bvm_qmp_arg_int(c, "id"),
	                              bvm_qmp_arg_str(c, "spec"), err);

	return ret ? bvm_qmp_backend_error(ret, err) : bvm_qmp_ok(NULL);
}

static struct json_object *cmd_wl_stop(const struct qmp_call *c)
{
	char err[QMP_ERR_LEN] = "";
	int ret = c->be->workload_stop(c->ctx, bvm_qmp_arg_int(c, "id"), err);

	return ret ? bvm_qmp_backend_error(ret, err) : bvm_qmp_ok(NULL);
}

static struct json_object *cmd_query_workloads(const struct qmp_call *c)
{
	struct json_object *v = c->be->query_workloads(c->ctx);

	return v ? bvm_qmp_ok(v) : NULL;
}

static struct json_object *cmd_query_memory(const struct qmp_call *c)
{
	struct json_object *v = c->be->query_memory(c->ctx);

	return v ? bvm_qmp_ok(v) : NULL;
}

static struct json_object *cmd_stats_alert(const struct qmp_call *c)
{
	char err[QMP_ERR_LEN] = "";
	struct json_object *d = bvm_qmp_arg(c, "drop");
	int64_t drop =
	        d ? json_object_get_int64(d) : (int64_t)BVM_ALERT_DROP_DFL;
	int ret = c->be->set_stats_alert(
	        c->ctx, bvm_qmp_arg_int(c, "period-ms"), drop, err);

	return ret ? bvm_qmp_backend_error(ret, err) : bvm_qmp_ok(NULL);
}

static const struct bvm_qmp_arg args_alert[] = {
        {"period-ms", json_type_int, false},
        {"drop", json_type_int, true},
        {0},
};
static const struct bvm_qmp_arg args_add[] = {
        {"spec", json_type_string, false},
        {0},
};
static const struct bvm_qmp_arg args_set[] = {
        {"id", json_type_int, false},
        {"spec", json_type_string, false},
        {0},
};
static const struct bvm_qmp_arg args_stop[] = {
        {"id", json_type_int, false},
        {0},
};

const struct qmp_cmd bvm_qmp_bvm_cmds[] = {
        {"x-bvm-workload-add", args_add, cmd_wl_add, true},
        {"x-bvm-workload-set", args_set, cmd_wl_set, true},
        {"x-bvm-workload-stop", args_stop, cmd_wl_stop, true},
        {"x-bvm-query-workloads", NULL, cmd_query_workloads, false},
        {"x-bvm-query-memory", NULL, cmd_query_memory, false},
        {"x-bvm-stats-alert", args_alert, cmd_stats_alert, false},
        {0},
};
