/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "loop.h"

int bd_loop_init(struct bd_loop *l)
{
	memset(l, 0, sizeof(*l));
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	return l->epfd < 0 ? -errno : 0;
}

void bd_loop_fini(struct bd_loop *l)
{
	if (l->epfd >= 0)
		close(l->epfd);
	l->epfd = -1;
}

int bd_loop_add(struct bd_loop *l, struct bd_watch *w, int fd, uint32_t events,
                bd_watch_fn fn)
{
	struct epoll_event ev = {.events = events, .data.ptr = w};

	w->fd = fd;
	w->events = events;
	w->fn = fn;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	return 0;
}

int bd_loop_mod(struct bd_loop *l, struct bd_watch *w, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = w};

	if (w->events == events)
		return 0;
	if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, w->fd, &ev) < 0)
		return -errno;
	w->events = events;
	return 0;
}

void bd_loop_del(struct bd_loop *l, struct bd_watch *w)
{
	if (w->fd >= 0)
		epoll_ctl(l->epfd, EPOLL_CTL_DEL, w->fd, NULL);
	for (int i = 0; i < l->nbatch; i++)
		if (l->batch[i] == w)
			l->batch[i] = NULL;
	w->fd = -1;
}

int bd_loop_wait(struct bd_loop *l, int timeout_ms)
{
	struct epoll_event evs[BD_LOOP_BATCH];
	int n = epoll_wait(l->epfd, evs, BD_LOOP_BATCH, timeout_ms);

	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (int i = 0; i < n; i++)
		l->batch[i] = evs[i].data.ptr;
	l->nbatch = n;
	for (int i = 0; i < n; i++) {
		struct bd_watch *w = l->batch[i];
		if (w)
			w->fn(w, evs[i].events);
	}
	l->nbatch = 0;
	return n;
}

int bd_obuf_put_json(struct bc_buf *o, struct json_object *obj)
{
	size_t len;
	const char *s = json_object_to_json_string_length(
	        obj, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE,
	        &len);
	int ret;

	if (o->len + len + 1 > BD_OBUF_MAX)
		return -ENOBUFS;
	ret = bc_buf_reserve(o, len + 1);
	if (ret)
		return ret;
	memcpy(o->data + o->len, s, len);
	o->data[o->len + len] = '\n';
	o->len += len + 1;
	return 0;
}
