/* SPDX-License-Identifier: MIT */
/*
 * qmp_server.c - QMP over a Unix socket on the VMM thread's loop: accept,
 * greet, read lines, dispatch, queue replies and events.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bc_util.h>

#include "qmp_server.h"

#define READS_PER_WAKEUP 16 /* 16 KiB reads before yielding to others */

struct qmp_client {
	struct vm_watch w;
	struct qmp_server *srv;
	struct qmp_session sess;
	struct bc_jsonl rd;
	char *out;
	size_t out_len, out_cap;
	bool dead; /* closed; freed by qmp_server_tick() */
	struct qmp_client *next;
};

static void client_close(struct qmp_client *c)
{
	if (c->dead)
		return;
	int fd = c->w.fd;
	vm_loop_del(c->srv->loop, &c->w);
	close(fd);
	c->dead = true;
	c->srv->nclients--;
}

static int client_flush(struct qmp_client *c)
{
	size_t done = 0;

	while (done < c->out_len) {
		ssize_t n = send(c->w.fd, c->out + done, c->out_len - done,
		                 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n < 0)
			return -errno;
		done += (size_t)n;
	}
	memmove(c->out, c->out + done, c->out_len - done);
	c->out_len -= done;
	return vm_loop_mod(c->srv->loop, &c->w,
	                   c->out_len ? EPOLLIN | EPOLLOUT : EPOLLIN);
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
	if (c->out_len + n + 1 > QMP_MAX_OUT) {
		bc_warn("qmp: client not reading, disconnecting it");
		client_close(c);
		return;
	}
	if (c->out_len + n + 1 > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap : 4096;
		while (cap < c->out_len + n + 1)
			cap *= 2;
		char *nb = realloc(c->out, cap);
		if (!nb) {
			client_close(c);
			return;
		}
		c->out = nb;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, s, n);
	c->out[c->out_len + n] = '\n';
	c->out_len += n + 1;
	if (client_flush(c) < 0)
		client_close(c);
}

static void handle_line(struct qmp_client *c, int ret, struct json_object *req)
{
	struct json_object *rsp;

	if (ret == -EMSGSIZE)
		rsp = qmp_error(
		        QMP_GENERIC_ERROR,
		        "JSON parse error, message longer than %u bytes",
		        QMP_MAX_LINE);
	else if (ret == -EBADMSG)
		rsp = qmp_error(QMP_GENERIC_ERROR,
		                "JSON parse error, invalid JSON syntax");
	else
		rsp = qmp_dispatch(&c->sess, c->srv->be, c->srv->ctx, req);
	if (!rsp)
		rsp = qmp_error(QMP_GENERIC_ERROR, "out of memory");
	client_send(c, rsp);
	json_object_put(rsp);
}

static void client_read(struct qmp_client *c)
{
	for (int i = 0; i < READS_PER_WAKEUP && !c->dead; i++) {
		ssize_t n = bc_jsonl_read(&c->rd, c->w.fd);
		if (n == -EAGAIN)
			return;
		while (!c->dead) {
			struct json_object *req = NULL;
			int ret = bc_jsonl_next(&c->rd, &req);
			if (ret == 0)
				break;
			if (ret < 0 && ret != -EMSGSIZE && ret != -EBADMSG) {
				client_close(c);
				return;
			}
			handle_line(c, ret, req);
			json_object_put(req);
		}
		if (n <= 0) {
			client_close(c); /* EOF or error (no-op if closed) */
			return;
		}
	}
}

static void client_io(struct vm_watch *w, uint32_t events)
{
	struct qmp_client *c = bvm_container_of(w, struct qmp_client, w);

	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
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
	if (bc_jsonl_init(&c->rd, QMP_MAX_LINE))
		goto err_free;
	c->srv = s;
	if (vm_loop_add(s->loop, &c->w, fd, EPOLLIN, client_io))
		goto err_rd;
	c->next = s->clients;
	s->clients = c;
	s->nclients++;
	g = qmp_greeting();
	client_send(c, g);
	json_object_put(g);
	return;
err_rd:
	bc_jsonl_free(&c->rd);
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

int qmp_server_init(struct qmp_server *s, struct vm_loop *loop,
                    const char *path, const struct qmp_backend *be, void *ctx)
{
	int fd, ret;

	memset(s, 0, sizeof(*s));
	s->loop = loop;
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
	ret = vm_loop_add(loop, &s->lw, fd, EPOLLIN, listen_io);
	if (ret)
		goto err_sock;
	return 0;
err_sock:
	close(fd);
	unlink(path);
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
		if (!c->dead) {
			pp = &c->next;
			continue;
		}
		*pp = c->next;
		bc_jsonl_free(&c->rd);
		free(c->out);
		free(c);
	}
}

void qmp_server_fini(struct qmp_server *s)
{
	for (struct qmp_client *c = s->clients; c; c = c->next)
		client_close(c);
	free_dead(s);
	for (size_t i = 0; i < sizeof(s->thr) / sizeof(s->thr[0]); i++) {
		json_object_put(s->thr[i].pending);
		s->thr[i].pending = NULL;
	}
	if (s->lw.fd >= 0) {
		int fd = s->lw.fd;
		vm_loop_del(s->loop, &s->lw);
		close(fd);
	}
	if (s->path) {
		unlink(s->path);
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

void qmp_server_emit(struct qmp_server *s, const char *name,
                     struct json_object *data)
{
	struct json_object *ev = qmp_event(name, data);
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

int qmp_server_tick(struct qmp_server *s, uint64_t now_ms)
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

void qmp_server_drain(struct qmp_server *s, int timeout_ms)
{
	uint64_t end = bc_now_ms() + (uint64_t)timeout_ms;

	for (;;) {
		struct pollfd pfd[QMP_MAX_CLIENTS];
		struct qmp_client *map[QMP_MAX_CLIENTS];
		nfds_t n = 0;
		uint64_t now = bc_now_ms();
		for (struct qmp_client *c = s->clients; c; c = c->next) {
			if (c->dead || !c->out_len || n == QMP_MAX_CLIENTS)
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

unsigned qmp_server_clients(const struct qmp_server *s)
{
	return s->nclients;
}
