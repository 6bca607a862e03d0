/* SPDX-License-Identifier: MIT */
/*
 * vm_loop.c - a minimal level-triggered epoll loop.
 */
#include <errno.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "vm_loop.h"

#define BATCH 32

int bvm_vm_loop_init(struct vm_loop *l)
{
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	return l->epfd < 0 ? -errno : 0;
}

void bvm_vm_loop_fini(struct vm_loop *l)
{
	if (l->epfd >= 0)
		close(l->epfd);
	l->epfd = -1;
}

int bvm_vm_loop_add(struct vm_loop *l, struct vm_watch *w, int fd,
                    uint32_t events, vm_watch_fn fn)
{
	struct epoll_event ev = {.events = events, .data.ptr = w};

	w->fd = fd;
	w->fn = fn;
	w->dead = false;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		w->fd = -1;
		return -errno;
	}
	return 0;
}

int bvm_vm_loop_mod(struct vm_loop *l, struct vm_watch *w, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = w};

	if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, w->fd, &ev) < 0)
		return -errno;
	return 0;
}

void bvm_vm_loop_del(struct vm_loop *l, struct vm_watch *w)
{
	if (w->fd >= 0)
		epoll_ctl(l->epfd, EPOLL_CTL_DEL, w->fd, NULL);
	w->fd = -1;
	w->dead = true;
}

int bvm_vm_loop_run_once(struct vm_loop *l, int timeout_ms)
{
	struct epoll_event ev[BATCH];
	int n = epoll_wait(l->epfd, ev, BATCH, timeout_ms);

	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	/* A callback may delete a later watch of this batch: its dead flag
	 * (memory kept by its owner until we return) makes us skip it. */
	for (int i = 0; i < n; i++) {
		struct vm_watch *w = ev[i].data.ptr;
		if (!w->dead)
			w->fn(w, ev[i].events);
	}
	return n;
}
