/* SPDX-License-Identifier: MIT */
/*
 * qmp.c - non-blocking QMP client: connect, greeting, capabilities,
 * commands matched to replies by id, events.  Callbacks must not free the
 * struct qmp they are called for.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <bc_util.h>

#include "bd_json.h"
#include "qmp.h"

void bd_qmp_init(struct qmp *q, struct bd_loop *loop,
                 const struct qmp_callbacks *cb, void *ctx)
{
	memset(q, 0, sizeof(*q));
	q->loop = loop;
	q->cb = cb;
	q->ctx = ctx;
	q->w.fd = -1;
	q->next_id = 1;
}

/* Detach every pending command, then fail each (callbacks may re-enter). */
static void fail_all(struct qmp *q, const char *cls, const char *desc)
{
	struct qmp_pending *p = q->pend;

	q->pend = NULL;
	while (p) {
		struct qmp_pending *next = p->next;
		p->fn(p->ctx, NULL, cls, desc);
		free(p);
		p = next;
	}
}

static void shut(struct qmp *q)
{
	if (q->w.fd >= 0) {
		int fd = q->w.fd;
		bd_loop_del(q->loop, &q->w);
		close(fd);
	}
	if (q->phase >= QMP_GREETING)
		bc_jsonl_free(&q->rd);
	bc_buf_free(&q->out);
	q->phase = QMP_CLOSED;
	fail_all(q, QMP_ERR_DISCONNECTED,
	         "connection to the QMP socket closed");
}

void bd_qmp_close(struct qmp *q)
{
	shut(q);
}

static void drop(struct qmp *q, int err)
{
	shut(q);
	if (q->cb->closed)
		q->cb->closed(q->ctx, err);
}

static int flush(struct qmp *q)
{
	int ret = bc_buf_send(&q->out, q->w.fd);

	if (ret < 0)
		return ret;
	return bd_loop_mod(q->loop, &q->w, ret ? EPOLLIN | EPOLLOUT : EPOLLIN);
}

static int send_cmd(struct qmp *q, const char *cmd, struct json_object *args,
                    int64_t id)
{
	struct json_object *o = json_object_new_object();
	int ret;

	if (!o) {
		json_object_put(args);
		return -ENOMEM;
	}
	json_object_object_add(o, "execute", json_object_new_string(cmd));
	if (args)
		json_object_object_add(o, "arguments", args);
	json_object_object_add(o, "id", json_object_new_int64(id));
	ret = bd_obuf_put_json(&q->out, o);
	json_object_put(o);
	if (ret)
		return ret;
	/* A write error shows up as EPOLLERR/EPOLLHUP in the loop, where the
	 * connection is dropped: never re-enter the caller from here. */
	if (flush(q) < 0)
		bd_loop_mod(q->loop, &q->w, EPOLLIN | EPOLLOUT);
	return 0;
}

static void garbage(struct qmp *q, const char *what)
{
	q->protocol_errors++;
	bc_warn("qmp: %s", what);
}

static void reply(struct qmp *q, struct json_object *msg)
{
	struct json_object *idv, *ret = NULL, *err = NULL;
	struct qmp_pending **pp, *p;
	int64_t id;

	if (!json_object_object_get_ex(msg, "id", &idv) ||
	    !json_object_is_type(idv, json_type_int)) {
		garbage(q, "reply without a numeric id");
		return;
	}
	id = json_object_get_int64(idv);
	json_object_object_get_ex(msg, "return", &ret);
	json_object_object_get_ex(msg, "error", &err);
	if (q->phase == QMP_CAPS && id == q->caps_id) {
		if (!ret) {
			garbage(q, "qmp_capabilities refused");
			drop(q, -EPROTO);
			return;
		}
		q->phase = QMP_READY;
		if (q->cb->ready)
			q->cb->ready(q->ctx);
		return;
	}
	for (pp = &q->pend; *pp && (*pp)->id != id; pp = &(*pp)->next)
		;
	if (!*pp) {
		garbage(q, "reply to no pending command");
		return;
	}
	p = *pp;
	*pp = p->next;
	if (ret) {
		p->fn(p->ctx, ret, NULL, NULL);
	} else {
		const char *cls = err ? bd_json_str(err, "class") : NULL;
		const char *desc = err ? bd_json_str(err, "desc") : NULL;
		p->fn(p->ctx, NULL, cls ? cls : "GenericError",
		      desc ? desc : "malformed error reply");
	}
	free(p);
}

static void handle_msg(struct qmp *q, struct json_object *msg)
{
	struct json_object *v;

	if (!json_object_is_type(msg, json_type_object)) {
		garbage(q, "message is not a JSON object");
		return;
	}
	if (q->phase == QMP_GREETING) {
		if (!json_object_object_get_ex(msg, "QMP", &v)) {
			garbage(q, "no QMP greeting");
			drop(q, -EPROTO);
			return;
		}
		q->caps_id = q->next_id++;
		q->phase = QMP_CAPS;
		if (send_cmd(q, "qmp_capabilities", NULL, q->caps_id))
			drop(q, -ENOMEM);
		return;
	}
	const char *ev = bd_json_str(msg, "event");
	if (ev) {
		json_object_object_get_ex(msg, "data", &v);
		if (q->phase == QMP_READY && q->cb->event)
			q->cb->event(q->ctx, ev, v);
		return;
	}
	if (json_object_object_get_ex(msg, "return", NULL) ||
	    json_object_object_get_ex(msg, "error", NULL)) {
		reply(q, msg);
		return;
	}
	garbage(q, "message is neither a reply nor an event");
}

static void read_input(struct qmp *q)
{
	for (;;) {
		ssize_t n = bc_jsonl_read(&q->rd, q->w.fd);
		if (n == -EAGAIN)
			return;
		if (n < 0) {
			drop(q, (int)n);
			return;
		}
		for (;;) {
			struct json_object *msg = NULL;
			int ret = bc_jsonl_next(&q->rd, &msg);
			if (ret == 0)
				break;
			if (ret == -EMSGSIZE || ret == -EBADMSG) {
				garbage(q, ret == -EMSGSIZE ? "over-long line"
				                            : "invalid JSON");
				continue;
			}
			if (ret < 0) {
				drop(q, ret);
				return;
			}
			handle_msg(q, msg);
			json_object_put(msg);
			if (q->phase == QMP_CLOSED)
				return;
		}
		if (n == 0) {
			drop(q, -ECONNRESET);
			return;
		}
	}
}

static void on_io(struct bd_watch *w, uint32_t events);

static int start_session(struct qmp *q, int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	int ret = bc_jsonl_init(&q->rd, QMP_MAX_LINE);

	if (ret)
		return ret;
	q->peer_pid = 0;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0)
		q->peer_pid = cred.pid;
	q->phase = QMP_GREETING;
	q->handshake_deadline_ms = bc_now_ms() + QMP_HANDSHAKE_MS;
	if (q->w.fd < 0)
		return bd_loop_add(q->loop, &q->w, fd, EPOLLIN, on_io);
	return bd_loop_mod(q->loop, &q->w, EPOLLIN);
}

static void finish_connect(struct qmp *q)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(q->w.fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err) {
		drop(q, -err);
		return;
	}
	if (start_session(q, q->w.fd))
		drop(q, -ENOMEM);
}

static void on_io(struct bd_watch *w, uint32_t events)
{
	struct qmp *q = bd_container_of(w, struct qmp, w);

	if (q->phase == QMP_CONNECTING) {
		finish_connect(q);
		return;
	}
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		read_input(q);
		if (q->phase == QMP_CLOSED)
			return;
	}
	if (events & (EPOLLOUT | EPOLLERR)) {
		int ret = flush(q);
		if (ret < 0)
			drop(q, ret);
	}
}

int bd_qmp_open(struct qmp *q, const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd, ret;

	if (q->phase != QMP_CLOSED)
		return -EISCONN;
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		ret = start_session(q, fd);
		if (ret)
			goto err_close;
		return 0;
	}
	ret = -errno;
	if (ret != -EINPROGRESS)
		goto err_close;
	q->phase = QMP_CONNECTING;
	q->handshake_deadline_ms = bc_now_ms() + QMP_HANDSHAKE_MS;
	ret = bd_loop_add(q->loop, &q->w, fd, EPOLLOUT, on_io);
	if (ret)
		goto err_phase;
	return 0;
err_phase:
	q->phase = QMP_CLOSED;
err_close:
	close(fd);
	return ret;
}

int bd_qmp_open_fd(struct qmp *q, int fd)
{
	int ret;

	if (q->phase != QMP_CLOSED)
		return -EISCONN;
	ret = bc_set_nonblock(fd);
	if (ret)
		return ret;
	ret = start_session(q, fd);
	if (ret && q->phase >= QMP_GREETING) {
		bc_jsonl_free(&q->rd);
		q->phase = QMP_CLOSED;
	}
	return ret;
}

int bd_qmp_command(struct qmp *q, const char *cmd, struct json_object *args,
                   qmp_reply_fn fn, void *ctx)
{
	struct qmp_pending *p, **pp;
	int ret;

	if (q->phase != QMP_READY) {
		json_object_put(args);
		return -ENOTCONN;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		json_object_put(args);
		return -ENOMEM;
	}
	p->id = q->next_id++;
	p->fn = fn;
	p->ctx = ctx;
	p->deadline_ms = bc_now_ms() + QMP_CMD_TIMEOUT_MS;
	ret = send_cmd(q, cmd, args, p->id);
	if (ret) {
		free(p);
		return ret;
	}
	for (pp = &q->pend; *pp; pp = &(*pp)->next)
		;
	*pp = p;
	return 0;
}

void bd_qmp_expire(struct qmp *q, uint64_t now_ms)
{
	struct qmp_pending **pp = &q->pend;

	if (q->phase != QMP_CLOSED && q->phase != QMP_READY &&
	    now_ms >= q->handshake_deadline_ms) {
		garbage(q, "handshake timed out");
		drop(q, -ETIMEDOUT);
		return;
	}
	while (*pp) {
		struct qmp_pending *p = *pp;
		if (now_ms < p->deadline_ms) {
			pp = &p->next;
			continue;
		}
		*pp = p->next;
		q->protocol_errors++;
		p->fn(p->ctx, NULL, QMP_ERR_TIMEOUT, "no reply from QMP");
		free(p);
		pp = &q->pend; /* the callback may have changed the list */
	}
}
