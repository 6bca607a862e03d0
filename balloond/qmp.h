/* SPDX-License-Identifier: MIT */
/*
 * qmp.h - a non-blocking QMP client on balloond's event loop.  QEMU and
 * balloonvm speak the same protocol: the server greets with {"QMP": ...},
 * we send qmp_capabilities, then commands {"execute", "arguments", "id"}.
 * Replies ({"return"} or {"error": {"class", "desc"}}) are matched to
 * requests by "id"; {"event"} messages go to the event callback.
 * Return contract: 0 or -errno.
 */
#ifndef BD_QMP_H
#define BD_QMP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <bc_jsonl.h>

#include "loop.h"

#define QMP_MAX_LINE         (1u << 20) /* bytes per message */
#define QMP_CMD_TIMEOUT_MS   10000 /* a command unanswered this long fails */
#define QMP_HANDSHAKE_MS     5000  /* greeting + capabilities */
#define QMP_ERR_DISCONNECTED "Disconnected" /* class when the link drops */
#define QMP_ERR_TIMEOUT      "Timeout"      /* class on QMP_CMD_TIMEOUT_MS */

enum qmp_phase {
	QMP_CLOSED = 0,
	QMP_CONNECTING, /* non-blocking connect in progress */
	QMP_GREETING,   /* waiting for {"QMP": ...} */
	QMP_CAPS,       /* qmp_capabilities sent */
	QMP_READY,
};

/*
 * Reply to one command: @ret is the "return" value (borrowed) on success, or
 * NULL and @err_class/@err_desc set (QEMU's error, or QMP_ERR_DISCONNECTED /
 * QMP_ERR_TIMEOUT).  Called exactly once per accepted command.
 */
typedef void (*qmp_reply_fn)(void *ctx, struct json_object *ret,
                             const char *err_class, const char *err_desc);

struct qmp_callbacks {
	void (*ready)(void *ctx);
	/* @data is borrowed and may be NULL */
	void (*event)(void *ctx, const char *name, struct json_object *data);
	/* The connection failed or dropped (not called from bd_qmp_close). */
	void (*closed)(void *ctx, int err);
};

struct qmp_pending {
	int64_t id;
	uint64_t deadline_ms;
	qmp_reply_fn fn;
	void *ctx;
	struct qmp_pending *next;
};

struct qmp {
	struct bd_loop *loop;
	struct bd_watch w;
	enum qmp_phase phase;
	struct bc_jsonl rd;
	struct bc_buf out;
	int64_t next_id, caps_id;
	uint64_t handshake_deadline_ms;
	struct qmp_pending *pend, **pend_tail; /* FIFO, in sending order */
	pid_t peer_pid;                        /* SO_PEERCRED at connect */
	uint64_t protocol_errors; /* garbage, unmatched replies, timeouts */
	const struct qmp_callbacks *cb;
	void *ctx;
};

void bd_qmp_init(struct qmp *q, struct bd_loop *loop,
                 const struct qmp_callbacks *cb, void *ctx);
/* Start connecting to the socket at @path.  0 means under way (ready or
 * closed is reported later); -errno means it failed at once. */
int bd_qmp_open(struct qmp *q, const char *path);
/* Adopt an already connected socket (tests use a socketpair). */
int bd_qmp_open_fd(struct qmp *q, int fd);
/* Send a command; @args (may be NULL) is consumed.  -ENOTCONN unless ready;
 * on success @fn is called exactly once later. */
int bd_qmp_command(struct qmp *q, const char *cmd, struct json_object *args,
                   qmp_reply_fn fn, void *ctx);
/* Fail commands and handshakes past their deadline (call every tick). */
void bd_qmp_expire(struct qmp *q, uint64_t now_ms);
/* Close; pending commands fail with QMP_ERR_DISCONNECTED.  No closed(). */
void bd_qmp_close(struct qmp *q);
static inline bool qmp_is_ready(const struct qmp *q)
{
	return q->phase == QMP_READY;
}
static inline bool qmp_is_open(const struct qmp *q)
{
	return q->phase != QMP_CLOSED;
}

#endif
