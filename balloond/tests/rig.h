/* SPDX-License-Identifier: MIT */
/*
 * rig.h - test rig for balloond: a temp dir with a fake /proc, a daemon
 * config pointing into it, an in-process struct bd driven by bd_run_once,
 * and a control-socket client.
 */
#ifndef BD_RIG_H
#define BD_RIG_H

#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>

#include "config.h"
#include "daemon.h"

#define MiB (1ull << 20)
#define GiB (1ull << 30)

struct rig {
	char dir[64];
	char path[256]; /* scratch for rig_path */
	struct bd_conf conf;
	struct bd bd;
	bool up;
	int cfd; /* control client, -1 if none */
};

/* Temp dir, fake /proc (16 GiB total, 12 GiB available, PSI 0), config with
 * the policy disabled and tick_ms @tick_ms.  Does not start the daemon. */
void rig_setup(struct rig *r, uint32_t tick_ms);
/* Start the daemon and connect a control client. */
void rig_start(struct rig *r);
/* Stop the daemon (state saved) and close the client. */
void rig_stop(struct rig *r);
/* rig_stop if up, remove the temp dir, free the config. */
void rig_teardown(struct rig *r);
/* "<dir>/<name>" (in r->path, overwritten by the next call). */
const char *rig_path(struct rig *r, const char *name);
void rig_write(struct rig *r, const char *name, const char *text);
/* Run the loop for @ms milliseconds. */
void rig_pump(struct rig *r, int ms);
/* Run until @cond(@arg) or @ms pass; returns cond's last value. */
bool rig_until(struct rig *r, bool (*cond)(void *), void *arg, int ms);
/* Send @line (a JSON request, no newline) and return the parsed reply
 * (caller puts it), pumping the loop meanwhile; NULL on timeout. */
struct json_object *rig_rpc(struct rig *r, const char *line);
/* rig_rpc with printf formatting; returns the reply. */
struct json_object *rig_rpcf(struct rig *r, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
/* Reply helpers: "ok"/error code ("" if ok), result member. */
const char *rig_code(struct json_object *reply);
struct json_object *rig_result(struct json_object *reply, const char *key);
uint64_t rig_u64(struct json_object *o, const char *key);
/* The state as JSON text (to compare before/after a refused request). */
char *rig_state_text(struct rig *r);
/* A VM being connected (ready). */
bool rig_vm_ready(void *vm);

#endif
