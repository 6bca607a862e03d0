/* SPDX-License-Identifier: MIT */
/*
 * qmp_cmds.h - balloonvm's QMP command dispatcher, independent of sockets and
 * of the VM: it turns one parsed request into one reply, the way QEMU's
 * monitor does (same error classes and, where QEMU has them, the same
 * messages).  The VM side is reached only through struct qmp_backend, so the
 * dispatcher can be unit-tested against any backend.
 *
 * Units: sizes on the wire are bytes (as in QEMU); balloon targets passed to
 * the backend are 4 KiB balloon pages.
 * Return contract: constructors return a new json-c reference or NULL on
 * ENOMEM; backend callbacks return 0 or -errno.
 */
#ifndef BVM_QMP_CMDS_H
#define BVM_QMP_CMDS_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <balloon/virtio_balloon.h>

/* The version the greeting and query-version announce.  9.2 is the first
 * QEMU whose guest-stats carry the six Linux stats we report. */
#define BVM_QEMU_MAJOR 9
#define BVM_QEMU_MINOR 2
#define BVM_QEMU_MICRO 0
#define BVM_PACKAGE    "balloonvm"

/* The one QOM object we expose, and its type name in error messages. */
#define BVM_BALLOON_PATH "/machine/peripheral/balloon0"
#define BVM_BALLOON_TYPE "virtio-balloon-pci"

/* QEMU's error classes (qapi/error.json). */
#define QMP_GENERIC_ERROR     "GenericError"
#define QMP_COMMAND_NOT_FOUND "CommandNotFound"
#define QMP_DEVICE_NOT_FOUND  "DeviceNotFound"

/* Room for a backend's error message. */
#define QMP_ERR_LEN 256

/* Guest statistics as QOM's guest-stats shows them. */
struct qmp_guest_stats {
	uint64_t val[VIRTIO_BALLOON_S_NR]; /* bytes or counts per tag */
	uint32_t valid;                    /* bit t: tag t reported */
	int64_t last_update;               /* Unix seconds, 0 = never */
};

/*
 * What the dispatcher needs from the VM.  Callbacks run on the QMP thread,
 * except workload_add/_set/_stop, which the server calls from its worker
 * thread (one at a time) because they wait for the guest.
 * Callbacks that can fail fill @err (a NUL-terminated message for the
 * GenericError reply) and return -errno.
 */
struct qmp_backend {
	/* Guest RAM size (bytes) and the logical size the guest has now:
	 * RAM minus the balloon the driver reports (bytes). */
	uint64_t (*ram_bytes)(void *ctx);
	uint64_t (*actual_bytes)(void *ctx);
	/* New balloon target in 4 KiB pages (the device's num_pages). */
	int (*set_target)(void *ctx, uint32_t num_pages, char *err);
	/* Stats polling interval, seconds (0 = off). */
	int64_t (*stats_interval)(void *ctx);
	int (*set_stats_interval)(void *ctx, int64_t secs, char *err);
	void (*guest_stats)(void *ctx, struct qmp_guest_stats *out);
	/* Workloads: @spec is a workload spec string (see docs/balloonvm.md);
	 * add stores the new workload's id. */
	int (*workload_add)(void *ctx, const char *spec, int64_t *id,
	                    char *err);
	int (*workload_set)(void *ctx, int64_t id, const char *spec, char *err);
	int (*workload_stop)(void *ctx, int64_t id, char *err);
	/* New references for x-bvm-query-workloads / x-bvm-query-memory
	 * (NULL on ENOMEM). */
	struct json_object *(*query_workloads)(void *ctx);
	struct json_object *(*query_memory)(void *ctx);
	/* x-bvm-stats-alert: sample guest stats every @period_ms (0 = off)
	 * and emit X_BVM_STATS_ALERT on a @drop_bytes fall of available
	 * memory, swapping or an OOM kill (stats_alert.h). */
	int (*set_stats_alert)(void *ctx, int64_t period_ms, int64_t drop_bytes,
	                       char *err);
	/* quit: stop the VM once the reply has been sent. */
	void (*quit)(void *ctx);
};

/* Per-connection protocol state. */
struct qmp_session {
	bool negotiated; /* qmp_capabilities accepted */
};

/*
 * Handle one request.  Returns the reply to send (new reference: a
 * {"return": ...} or {"error": {"class", "desc"}} object with the request's
 * "id" echoed when it had one), or NULL on ENOMEM.
 */
struct json_object *bvm_qmp_dispatch(struct qmp_session *s,
                                     const struct qmp_backend *be, void *ctx,
                                     struct json_object *req);

/*
 * Whether @req, in session @s, names a command whose backend call waits for
 * the guest to act (the x-bvm-workload-* control commands).  The server
 * runs those through bvm_qmp_dispatch() on a worker thread, so that the QMP
 * thread never waits for the guest.  A request that is malformed or not
 * allowed yet returns false (its error reply is immediate).
 */
bool bvm_qmp_request_waits_guest(const struct qmp_session *s,
                                 struct json_object *req);

/* {"error": {"class": @cls, "desc": printf(@fmt, ...)}} without an id. */
struct json_object *bvm_qmp_error(const char *cls, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

/* The greeting {"QMP": {"version": ..., "capabilities": []}}. */
struct json_object *bvm_qmp_greeting(void);

/* An event: {"event": @name, "data": @data, "timestamp": {"seconds",
 * "microseconds"}} with the wall clock now.  @data (may be NULL) is
 * consumed. */
struct json_object *bvm_qmp_event(const char *name, struct json_object *data);

/* QEMU's name of a guest statistic ("stat-swap-in", ...), NULL if none. */
const char *bvm_qmp_stat_name(unsigned tag);

/* Names of every command, in table order; NULL-terminated. */
const char *const *bvm_qmp_command_names(void);

#endif
