/* SPDX-License-Identifier: MIT */
/*
 * qmp_cmds_int.h - internals shared by the dispatcher (qmp_cmds.c) and the
 * command groups (qmp_cmds_machine.c: QEMU's commands, qmp_cmds_bvm.c: the
 * x-bvm- extensions).
 */
#ifndef BVM_QMP_CMDS_INT_H
#define BVM_QMP_CMDS_INT_H

#include "qmp_cmds.h"

/* One argument: its JSON type (json_type_null means "any"). */
struct bvm_qmp_arg {
	const char *name;
	enum json_type type;
	bool optional;
};

struct qmp_call {
	struct qmp_session *s;
	const struct qmp_backend *be;
	void *ctx;
	struct json_object *args; /* always an object (maybe empty) */
};

/*
 * A command handler returns the reply without its id: bvm_qmp_ok(value) or
 * bvm_qmp_error(...).  NULL means ENOMEM.  Arguments have been checked against
 * the table (present, typed, nothing unexpected) before it runs.
 */
struct qmp_cmd {
	const char *name;
	const struct bvm_qmp_arg *args; /* NULL-name terminated, NULL = none */
	struct json_object *(*fn)(const struct qmp_call *c);
	bool waits_guest; /* the backend call waits for the guest to act */
};

extern const struct qmp_cmd bvm_qmp_machine_cmds[];
extern const struct qmp_cmd bvm_qmp_bvm_cmds[];

/* qom-list / qom-get / qom-set (qmp_cmds_qom.c). */
extern const struct bvm_qmp_arg bvm_qmp_qom_list_args[], bvm_qmp_qom_get_args[],
        bvm_qmp_qom_set_args[];
struct json_object *bvm_qmp_cmd_qom_list(const struct qmp_call *c);
struct json_object *bvm_qmp_cmd_qom_get(const struct qmp_call *c);
struct json_object *bvm_qmp_cmd_qom_set(const struct qmp_call *c);

/* {"return": @ret}; @ret (NULL means {}) is consumed. */
struct json_object *bvm_qmp_ok(struct json_object *ret);

/* Argument accessors (the argument must have been checked). */
const char *bvm_qmp_arg_str(const struct qmp_call *c, const char *name);
int64_t bvm_qmp_arg_int(const struct qmp_call *c, const char *name);
struct json_object *bvm_qmp_arg(const struct qmp_call *c, const char *name);

/* A failed backend call as GenericError with its message (or strerror). */
struct json_object *bvm_qmp_backend_error(int ret, const char *err);

#endif
