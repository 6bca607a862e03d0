/* SPDX-License-Identifier: MIT */
/*
 * qmp_server.c - QMP over a Unix socket on the VMM thread's loop: accept,
 * greet, parse the client's JSON stream (qmp_stream.c), dispatch, queue
 * replies and events.  Requests that wait for the guest go to a worker
 * thread; their replies come back through an eventfd, and the client's
 * further input waits in its read buffer.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bc_util.h>

#include "qmp_server.h"

#define READS_PER_WAKEUP 16 /* 16 KiB reads before yielding to others */

struct qmp_client {
	struct vm_watch w;
	struct qmp_server *srv;
	struct qmp_session sess;
	struct qmp_stream rd;
	struct bc_buf out; /* queued for the socket */
	bool dead;         /* closed; freed by bvm_qmp_server_tick() */
	bool busy;         /* a request of ours is with the worker */
	struct qmp_client *next;
};

/* A request for the worker thread, and then its reply. */
struct qmp_job {
	struct qmp_client *c;
	struct qmp_session sess; /* a copy: the worker only reads it */
	struct json_object *req, *rsp;
	struct qmp_job *next;
};

static void client_close(struct qmp_client *c)
{
	if (c->dead)
		return;
	int fd = c->w.fd;
	bvm_vm_loop_del(c->srv->loop, &c->w);
	close(fd);
	c->dead = true;
	c->srv->nclients--;
}

static int client_flush(struct qmp_client *c)
{
	int ret = bc_buf_send(&c->out, c->w.fd);

	if (ret < 0)
		return ret;
	/* A busy client's next requests wait until its reply is sent. */
	return bvm_vm_loop_mod(c->srv->loop, &c->w,
	                       (c->busy ? 0 : EPOLLIN) | (ret ? EPOLLOUT : 0));
}

/* Queue one message; a client over QMP_MAX_OUT is dropped. */
static void client_send(struct qmp_client *c, struct json_object *msg)
{
	const char *s;
	size_t n;

	if (c->dead || !msg)
		return;
	s = json_object_to_json_string_ext(
	        msg, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	n = strlen(s);
	/* Each message ends in "\r\n", as QEMU's monitor writes it. */
	if (c->out.len + n + 2 > QMP_MAX_OUT) {
		bc_warn("qmp: client not reading, disconnecting it");
		client_close(c);
		return;
	}
	if (bc_buf_append(&c->out, s, n) || bc_buf_append(&c->out, "\r\n", 2) ||
	    client_flush(c) < 0)
		client_close(c);
}

/* Hand @req to the worker; false on ENOMEM (then it runs here). */
static bool submit_job(struct qmp_client *c, struct json_object *req)
{
	struct qmp_server *s = c->srv;
	struct qmp_job *j = calloc(1, sizeof(*j));

	if (!j)
		return false;
	j->c = c;
	j->sess = c->sess;
	j->req = json_object_get(req);
	c->busy = true;
	pthread_mutex_lock(&s->wlock);
	*s->todo_tail = j;
	s->todo_tail = &j->next;
	pthread_cond_signal(&s->wcond);
	pthread_mutex_unlock(&s->wlock);
	if (client_flush(c) < 0) /* stop reading its input meanwhile */
		client_close(c);
	return true;
}

static void handle_msg(struct qmp_client *c, int ret, struct json_object *req)
{
	struct json_object *rsp;

	if (ret > 0 && c->srv->worker_up &&
	    bvm_qmp_request_waits_guest(&c->sess, req) && submit_job(c, req))
		return;
	if (ret == -EMSGSIZE)
		rsp = bvm_qmp_error(
		        QMP_GENERIC_ERROR,
		        "JSON parse error, message longer than %u bytes",
		        QMP_MAX_MSG);
	else if (ret == -EBADMSG)
		rsp = bvm_qmp_error(QMP_GENERIC_ERROR, "JSON parse error, %s",
		                    bvm_qmp_stream_error(&c->rd));
	else
		rsp = bvm_qmp_dispatch(&c->sess, c->srv->be, c->srv->ctx, req);
	if (!rsp)
		rsp = bvm_qmp_error(QMP_GENERIC_ERROR, "out of memory");
	client_send(c, rsp);
	json_object_put(rsp);
}

/* Dispatch the complete requests we hold, until one goes to the worker. */
static void client_msgs(struct qmp_client *c)
{
	while (!c->dead && !c->busy) {
		struct json_object *req = NULL;
		int ret = bvm_qmp_stream_next(&c->rd, &req);
		if (ret == 0)
			break;
		if (ret < 0 && ret != -EMSGSIZE && ret != -EBADMSG) {
			client_close(c);
			return;
		}
		handle_msg(c, ret, req);
		json_object_put(req);
	}
}

static void client_read(struct qmp_client *c)
{
	for (int i = 0; i < READS_PER_WAKEUP && !c->dead && !c->busy; i++) {
		ssize_t n = bvm_qmp_stream_read(&c->rd, c->w.fd);
		if (n == -EAGAIN)
			return;
		client_msgs(c);
		if (n <= 0) {
			/* EOF or error (no-op if closed); a reply still with
			 * the worker is dropped */
			client_close(c);
			return;
		}
	}
}

static void client_io(struct vm_watch *w, uint32_t events)
{
	struct qmp_client *c = bvm_container_of(w, struct qmp_client, w);

	if (c->busy && (events & (EPOLLHUP | EPOLLERR))) {
		client_close(c); /* gone while the worker has its request */
		return;
	}
	if (!c->busy && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		client_read(c);
	if (!c->dead && (events & EPOLLOUT) && client_flush(c) < 0)
		client_close(c);
}

static void accept_one(struct qmp_server *s, int fd)
{
	struct qmp_client *c;
	struct json_object *g;

	if (s->nclients >= QMP_MAX_CLIENTS) {
		s->rejected++;
		close(fd);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		goto err_close;
	if (bvm_qmp_stream_init(&c->rd, QMP_MAX_MSG))
		goto err_free;
	c->srv = s;
	if (bvm_vm_loop_add(s->loop, &c->w, fd, EPOLLIN, client_io))
		goto err_rd;
	c->next = s->clients;
	s->clients = c;
	s->nclients++;
	g = bvm_qmp_greeting();
	client_send(c, g);
	json_object_put(g);
	return;
err_rd:
	bvm_qmp_stream_free(&c->rd);
err_free:
	free(c);
err_close:
	close(fd);
}

static void listen_io(struct vm_watch *w, uint32_t events)
{
	struct qmp_server *s = bvm_container_of(w, struct qmp_server, lw);

	(void)events;
	for (int i = 0; i < QMP_MAX_CLIENTS; i++) {
		int fd = accept4(w->fd, NULL, NULL,
		                 SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		accept_one(s, fd);
	}
}

/* ---- the worker thread -------------------------------------------------- */

static void *worker_main(void *arg)
{
	struct qmp_server *s = arg;
	uint64_t one = 1;

	pthread_mutex_lock(&s->wlock);
	for (;;) {
		struct qmp_job *j;

		while (!s->wquit && !s->todo)
			pthread_cond_wait(&s->wcond, &s->wlock);
		if (s->wquit)
			break;
		j = s->todo;
		s->todo = j->next;
		if (!s->todo)
			s->todo_tail = &s->todo;
		pthread_mutex_unlock(&s->wlock);
		j->rsp = bvm_qmp_dispatch(&j->sess, s->be, s->ctx, j->req);
		pthread_mutex_lock(&s->wlock);
		j->next = s->done;
		s->done = j;
		if (write(s->done_fd, &one, sizeof(one)) < 0) {
			/* the counter cannot overflow: nothing to do */
		}
	}
	pthread_mutex_unlock(&s->wlock);
	return NULL;
}

static void job_free(struct qmp_job *j)
{
	json_object_put(j->req);
	json_object_put(j->rsp);
	free(j);
}

/* QMP thread: send the worker's replies, resume their clients. */
static void done_io(struct vm_watch *w, uint32_t events)
{
	struct qmp_server *s = bvm_container_of(w, struct qmp_server, done_w);
	struct qmp_job *j, *next;
	uint64_t n;

	(void)events;
	if (read(w->fd, &n, sizeof(n)) < 0) {
		/* EAGAIN: already drained */
	}
	pthread_mutex_lock(&s->wlock);
	j = s->done;
	s->done = NULL;
	pthread_mutex_unlock(&s->wlock);
	for (; j; j = next) {
		struct qmp_client *c = j->c;

		next = j->next;
		c->busy = false;
		if (!c->dead) {
			if (!j->rsp)
				j->rsp = bvm_qmp_error(QMP_GENERIC_ERROR,
				                       "out of memory");
			client_send(c, j->rsp);
		}
		job_free(j);
		client_msgs(c); /* what it sent meanwhile */
		if (!c->dead && client_flush(c) < 0)
			client_close(c);
	}
}

static int worker_start(struct qmp_server *s)
{
	int ret;

	s->todo_tail = &s->todo;
	s->done_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (s->done_fd < 0)
		return -errno;
	ret = bvm_vm_loop_add(s->loop, &s->done_w, s->done_fd, EPOLLIN,
	                      done_io);
	if (ret)
		goto err_fd;
	ret = -pthread_mutex_init(&s->wlock, NULL);
	if (ret)
		goto err_watch;
	ret = -pthread_cond_init(&s->wcond, NULL);
	if (ret)
		goto err_mutex;
	ret = -pthread_create(&s->worker, NULL, worker_main, s);
	if (ret)
		goto err_cond;
	s->worker_up = true;
	return 0;
err_cond:
	pthread_cond_destroy(&s->wcond);
err_mutex:
	pthread_mutex_destroy(&s->wlock);
err_watch:
	bvm_vm_loop_del(s->loop, &s->done_w);
err_fd:
	close(s->done_fd);
	s->done_fd = -1;
	return ret;
}

/* Join the worker (after the request it runs); drop every job. */
static void worker_stop(struct qmp_server *s)
{
	struct qmp_job *lists[2], *next;

	if (!s->worker_up)
		return;
	pthread_mutex_lock(&s->wlock);
	s->wquit = true;
	pthread_cond_broadcast(&s->wcond);
	pthread_mutex_unlock(&s->wlock);
	pthread_join(s->worker, NULL);
	s->worker_up = false;
	lists[0] = s->todo;
	lists[1] = s->done;
	s->todo = s->done = NULL;
	for (int i = 0; i < 2; i++)
		for (struct qmp_job *j = lists[i]; j; j = next) {
			next = j->next;
			j->c->busy = false;
			job_free(j);
		}
	pthread_cond_destroy(&s->wcond);
	pthread_mutex_destroy(&s->wlock);
	bvm_vm_loop_del(s->loop, &s->done_w);
	close(s->done_fd);
	s->done_fd = -1;
}

int bvm_qmp_server_init(struct qmp_server *s, struct vm_loop *loop,
                        const char *path, const struct qmp_backend *be,
                        void *ctx)
{
	int fd, ret;

	memset(s, 0, sizeof(*s));
	s->loop = loop;
	s->done_fd = -1;
	s->be = be;
	s->ctx = ctx;
	s->lw.fd = -1;
	s->thr[0] = (struct qmp_throttle){.name = "BALLOON_CHANGE",
	                                  .period_ms = 1000};
	s->path = strdup(path);
	if (!s->path)
		return -ENOMEM;
	fd = bc_unix_listen(path, 0600);
	if (fd < 0) {
		ret = fd;
		goto err_path;
	}
	ret = bc_file_id_get(path, &s->path_id);
	if (ret)
		goto err_close;
	ret = bvm_vm_loop_add(loop, &s->lw, fd, EPOLLIN, listen_io);
	if (ret)
		goto err_sock;
	ret = worker_start(s);
	if (ret)
		goto err_watch;
	return 0;
err_watch:
	bvm_vm_loop_del(loop, &s->lw);
err_sock:
	bc_unlink_own(path, &s->path_id);
err_close:
	close(fd);
err_path:
	free(s->path);
	s->path = NULL;
	return ret;
}

static void free_dead(struct qmp_server *s)
{
	struct qmp_client **pp = &s->clients;

	while (*pp) {
		struct qmp_client *c = *pp;
		if (!c->dead || c->busy) { /* a job still points at it */
			pp = &c->next;
			continue;
		}
		*pp = c->next;
		bvm_qmp_stream_free(&c->rd);
		bc_buf_free(&c->out);
		free(c);
	}
}

void bvm_qmp_server_fini(struct qmp_server *s)
{
	worker_stop(s);
	for (struct qmp_client *c = s->clients; c; c = c->next)
		client_close(c);
	free_dead(s);
	for (size_t i = 0; i < sizeof(s->thr) / sizeof(s->thr[0]); i++) {
		json_object_put(s->thr[i].pending);
		s->thr[i].pending = NULL;
	}
	if (s->lw.fd >= 0) {
		int fd = s->lw.fd;
		bvm_vm_loop_del(s->loop, &s->lw);
		close(fd);
	}
	if (s->path) {
		bc_unlink_own(s->path, &s->path_id);
		free(s->path);
		s->path = NULL;
	}
}

static void broadcast(struct qmp_server *s, struct json_object *ev)
{
	for (struct qmp_client *c = s->clients; c; c = c->next)
		if (c->sess.negotiated)
			client_send(c, ev);
}

void bvm_qmp_server_emit(struct qmp_server *s, const char *name,
                         struct json_object *data)
{
	struct json_object *ev = bvm_qmp_event(name, data);
	uint64_t now = bc_now_ms();

	if (!ev)
		return;
	for (size_t i = 0; i < sizeof(s->thr) / sizeof(s->thr[0]); i++) {
		struct qmp_throttle *t = &s->thr[i];
		if (strcmp(t->name, name))
			continue;
		if (t->until_ms > now) { /* hold the latest */
			json_object_put(t->pending);
			t->pending = ev;
			return;
		}
		t->until_ms = now + t->period_ms;
	}
	broadcast(s, ev);
	json_object_put(ev);
}

int bvm_qmp_server_tick(struct qmp_server *s, uint64_t now_ms)
{
	int next = -1;

	for (size_t i = 0; i < sizeof(s->thr) / sizeof(s->thr[0]); i++) {
		struct qmp_throttle *t = &s->thr[i];
		if (t->until_ms && t->until_ms <= now_ms) {
			t->until_ms = 0;
			if (t->pending) {
				/* QEMU sends the held event at the end of the
				 * period and starts a new one. */
				broadcast(s, t->pending);
				json_object_put(t->pending);
				t->pending = NULL;
				t->until_ms = now_ms + t->period_ms;
			}
		}
		if (t->until_ms) {
			int d = (int)(t->until_ms - now_ms);
			if (next < 0 || d < next)
				next = d;
		}
	}
	free_dead(s);
	return next;
}

void bvm_qmp_server_drain(struct qmp_server *s, int timeout_ms)
{
	uint64_t end = bc_now_ms() + (uint64_t)timeout_ms;

	for (;;) {
		struct pollfd pfd[QMP_MAX_CLIENTS];
		struct qmp_client *map[QMP_MAX_CLIENTS];
		nfds_t n = 0;
		uint64_t now = bc_now_ms();
		for (struct qmp_client *c = s->clients; c; c = c->next) {
			if (c->dead || !c->out.len || n == QMP_MAX_CLIENTS)
				continue;
			pfd[n] = (struct pollfd){.fd = c->w.fd,
			                         .events = POLLOUT};
			map[n++] = c;
		}
		if (!n || now >= end)
			return;
		if (poll(pfd, n, (int)(end - now)) <= 0)
			return;
		for (nfds_t i = 0; i < n; i++)
			if (pfd[i].revents && client_flush(map[i]) < 0)
				client_close(map[i]);
	}
}

unsigned bvm_qmp_server_clients(const struct qmp_server *s)
{
	return s->nclients;
}
