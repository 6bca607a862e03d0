/* SPDX-License-Identifier: MIT */
/*
 * vm_dev.c - the device thread: the balloon device's half of the transport
 * (bln_device_process() whenever a kick or the status eventfd fires) and
 * the guest-stats polling timer, on a loop of their own.
 *
 * Processing an inflate request releases each coalesced range of the
 * request to the host (fallocate(PUNCH_HOLE) on the memfd), and a guest
 * that had to swap to find its pages hands over thousands of scattered
 * ranges: the kernel then zaps page tables and flushes TLBs for a second or
 * more.  That must not hold up QMP, so the VMM thread only ever reads what
 * this thread publishes: actual (an atomic register the device updates),
 * the counters (atomically updated), and the guest stats, copied under
 * vm->lock after every pass.  BALLOON_CHANGE and X_BVM_STATS_ALERT are the
 * VMM thread's job; this thread tells it through actual_fd that actual or
 * the stats changed.
 */
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <bc_util.h>

#include "vm_int.h"

/* Copy the guest stats for the VMM; returns their update time (ns). */
static uint64_t publish_stats(struct vm *vm)
{
	struct bln_guest_stats gs;

	bln_device_stats(vm->dev, &gs);
	pthread_mutex_lock(&vm->lock);
	vm->dev_stats = gs;
	pthread_mutex_unlock(&vm->lock);
	return gs.updated_ns;
}

static void dev_io(struct vm_watch *w, uint32_t events)
{
	struct vm *vm = bvm_container_of(w, struct vm_dev_watch, w)->vm;
	uint64_t stats_ns;
	uint32_t actual;
	int ret;

	(void)events;
	bln_drain(w->fd);
	ret = bln_device_process(vm->dev);
	if (ret == -EIO && !vm->dev_err_logged) {
		bc_warn("balloon device: needs reset (bad request from guest)");
		vm->dev_err_logged = true;
	} else if (ret >= 0) {
		vm->dev_err_logged = false;
	}
	stats_ns = publish_stats(vm);
	actual = bln_device_actual(vm->dev);
	if (actual != vm->dev_actual || stats_ns != vm->dev_stats_ns) {
		vm->dev_actual = actual;
		vm->dev_stats_ns = stats_ns;
		bln_notify(vm->actual_fd);
	}
}

static void timer_io(struct vm_watch *w, uint32_t events)
{
	struct vm *vm = bvm_container_of(w, struct vm, timer_w);
	uint64_t n;

	(void)events;
	if (read(w->fd, &n, sizeof(n)) != sizeof(n))
		return;
	/* -EAGAIN: the guest has not handed us a stats buffer yet. */
	bln_device_request_stats(vm->dev);
}

static void stop_io(struct vm_watch *w, uint32_t events)
{
	struct vm *vm = bvm_container_of(w, struct vm, dev_stop_w);

	(void)events;
	bln_drain(w->fd);
	vm->dev_quit = true;
}

static void *dev_main(void *arg)
{
	struct vm *vm = arg;

	while (!vm->dev_quit)
		if (bvm_vm_loop_run_once(&vm->dev_loop, -1) < 0)
			break;
	return NULL;
}

int vm_dev_init(struct vm *vm)
{
	int ret = bvm_vm_loop_init(&vm->dev_loop);

	for (unsigned i = 0; !ret && i <= BLN_VQ_COUNT; i++) {
		int fd = i < BLN_VQ_COUNT ? vm->t.kick_fd[i] : vm->t.status_fd;
		vm->dev_w[i].vm = vm;
		ret = bvm_vm_loop_add(&vm->dev_loop, &vm->dev_w[i].w, fd,
		                      EPOLLIN, dev_io);
	}
	if (ret)
		return ret;
	vm->timer_fd =
	        timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (vm->timer_fd < 0)
		return -errno;
	vm->dev_stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (vm->dev_stop_fd < 0)
		return -errno;
	vm->actual_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (vm->actual_fd < 0)
		return -errno;
	ret = bvm_vm_loop_add(&vm->dev_loop, &vm->timer_w, vm->timer_fd,
	                      EPOLLIN, timer_io);
	if (!ret)
		ret = bvm_vm_loop_add(&vm->dev_loop, &vm->dev_stop_w,
		                      vm->dev_stop_fd, EPOLLIN, stop_io);
	return ret;
}

/* Signals stay blocked in this thread: it inherits the caller's mask. */
int vm_dev_start(struct vm *vm)
{
	int ret;

	publish_stats(vm);
	vm->dev_actual = bln_device_actual(vm->dev);
	ret = pthread_create(&vm->dev_thread, NULL, dev_main, vm);
	if (ret)
		return -ret;
	vm->dev_started = true;
	return 0;
}

void vm_dev_stop(struct vm *vm)
{
	if (!vm->dev_started)
		return;
	bln_notify(vm->dev_stop_fd);
	pthread_join(vm->dev_thread, NULL);
	vm->dev_started = false;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

void vm_dev_fini(struct vm *vm)
{
	vm_dev_stop(vm);
	bvm_vm_loop_fini(&vm->dev_loop);
	close_fd(&vm->timer_fd);
	close_fd(&vm->dev_stop_fd);
	close_fd(&vm->actual_fd);
}
