/* SPDX-License-Identifier: MIT */
/*
 * client.h - balloonctl's side of the control protocol
 * (docs/control-protocol.md): connect to balloond's Unix socket, send one
 * JSON-line request, wait (bounded) for the reply carrying the same id.
 *
 * Return contract: 0 on success; -EREMOTEIO when the daemon answered
 * "ok": false (err holds its code and message as sent); otherwise -errno for
 * a local failure (err->code is "connect", "timeout", "closed", "protocol" or
 * "io" and err->message one readable line).
 */
#ifndef BALLOONCTL_CLIENT_H
#define BALLOONCTL_CLIENT_H

#include <json-c/json.h>
#include <stdint.h>

#include "bc_jsonl.h"

#define CTL_PROTOCOL_VERSION 1
#define CTL_MAX_LINE         (64 * 1024) /* bytes, as the daemon's limit */

struct ctl_err {
	char code[32];
	char message[512];
};

struct ctl_client {
	int fd;
	char path[108];
	struct bc_jsonl rd;
	int64_t next_id;
	int timeout_ms; /* per request, from send to reply */
};

/* Connect to @path.  On failure err->message reads "cannot connect to
 * balloond at PATH: REASON (is balloond running?)". */
int bctl_client_open(struct ctl_client *c, const char *path, int timeout_ms,
                     struct ctl_err *err);
void bctl_client_close(struct ctl_client *c);

/*
 * One request.  @args is borrowed (may be NULL).  On success *result is a
 * new reference to the reply's "result" (an empty object if the daemon sent
 * none); the caller puts it.  Replies carrying another id (stale answers to
 * an earlier, timed-out request) are skipped; a reply without id is taken as
 * the answer (the daemon sends those for connection-level errors).
 */
int bctl_call(struct ctl_client *c, const char *cmd, struct json_object *args,
              struct json_object **result, struct ctl_err *err);

/* Convenience: open, one call, close. */
int bctl_call_once(const char *path, int timeout_ms, const char *cmd,
                   struct json_object *args, struct json_object **result,
                   struct ctl_err *err);

/* Fill @err with a local error. */
void bctl_err_set(struct ctl_err *err, const char *code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

#endif
