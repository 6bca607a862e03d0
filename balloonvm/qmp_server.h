/* SPDX-License-Identifier: MIT */
/*
 * qmp_server.h - the QMP socket of a balloonvm: a listening Unix socket,
 * any number of clients (up to QMP_MAX_CLIENTS) each with its own session,
 * a continuous stream of JSON texts in as QEMU parses it (qmp_stream.h: no
 * newline needed, invalid JSON or a text over QMP_MAX_MSG bytes is answered
 * with an error and the stream resynchronises), replies and events out one
 * per line ("\n"-terminated) through a bounded per-client buffer (a client
 * that stops reading is disconnected rather than stalling the VMM thread).
 * Events are rate limited per name the way QEMU limits them (BALLOON_CHANGE: at
 * most one a second, the latest value delivered at the end of the period). Runs
 * on the VMM thread's vm_loop.  Commands that wait for the guest
 * (bvm_qmp_request_waits_guest()) are dispatched on the server's worker thread
 * instead, one at a time: their client gets no further command handled
 * until that reply is sent (QMP's one-command-at-a-time per session), while
 * every other client, events and the rest of the loop carry on.
 * Return contract: 0 or -errno.
 */
#ifndef BVM_QMP_SERVER_H
#define BVM_QMP_SERVER_H

#include <pthread.h>

#include "qmp_cmds.h"
#include "qmp_stream.h"
#include "vm_loop.h"
#include <bc_util.h>

#define QMP_MAX_MSG     (64u * 1024)       /* bytes per request */
#define QMP_MAX_CLIENTS 16                 /* further connects are closed */
#define QMP_MAX_OUT     (8u * 1024 * 1024) /* unsent bytes per client */

struct qmp_client;
struct qmp_job;

/* A rate-limited event: at most one per @period_ms. */
struct qmp_throttle {
	const char *name;
	uint64_t period_ms;
	uint64_t until_ms;           /* end of the current period, 0 none */
	struct json_object *pending; /* latest event held back */
};

struct qmp_server {
	struct vm_loop *loop;
	struct vm_watch lw; /* listening socket */
	char *path;
	struct bc_file_id path_id; /* removed at exit only if still ours */
	const struct qmp_backend *be;
	void *ctx;
	struct qmp_client *clients;
	unsigned nclients;
	struct qmp_throttle thr[1];
	uint64_t rejected; /* connections refused (too many clients) */
	/* the worker thread: requests that wait for the guest */
	pthread_t worker;
	bool worker_up;
	pthread_mutex_t wlock; /* guards todo, done, wquit */
	pthread_cond_t wcond;  /* todo non-empty or wquit */
	struct qmp_job *todo, **todo_tail, *done;
	bool wquit;
	int done_fd; /* eventfd: the worker finished a job */
	struct vm_watch done_w;
};

/* Listen on @path (a stale socket is replaced, mode 0600) and serve
 * commands through @be.  Returns 0 or -errno. */
int bvm_qmp_server_init(struct qmp_server *s, struct vm_loop *loop,
                        const char *path, const struct qmp_backend *be,
                        void *ctx);
/* Stop the worker (it finishes the request it is running; queued ones are
 * dropped), close every client and the socket, unlink @path. */
void bvm_qmp_server_fini(struct qmp_server *s);

/* Broadcast an event to every negotiated client (rate limited per name).
 * @data (may be NULL) is consumed. */
void bvm_qmp_server_emit(struct qmp_server *s, const char *name,
                         struct json_object *data);

/* Deliver held events that are due and free clients closed meanwhile; call
 * after every bvm_vm_loop_run_once().  Returns ms until the next deadline, or
 * -1 if none. */
int bvm_qmp_server_tick(struct qmp_server *s, uint64_t now_ms);

/* Try for up to @timeout_ms to write out what clients still have queued
 * (before exit, so that a SHUTDOWN event reaches them). */
void bvm_qmp_server_drain(struct qmp_server *s, int timeout_ms);

unsigned bvm_qmp_server_clients(const struct qmp_server *s);

#endif
