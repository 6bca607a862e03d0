/* SPDX-License-Identifier: MIT */
/*
 * vm_loop.h - the VMM thread's epoll loop: file descriptors with a callback
 * each.  A callback may add, modify or delete any watch; a deleted watch's
 * memory must stay valid until the current bvm_vm_loop_run_once() returns
 * (owners free such objects afterwards, see bvm_qmp_server_tick()).
 * Return contract: 0 or -errno.
 */
#ifndef BVM_VM_LOOP_H
#define BVM_VM_LOOP_H

#include <stdbool.h>
#include <stdint.h>

struct vm_watch;
typedef void (*vm_watch_fn)(struct vm_watch *w, uint32_t events);

struct vm_watch {
	int fd; /* -1 while not in a loop */
	vm_watch_fn fn;
	bool dead; /* deleted during this batch: skip its events */
};

struct vm_loop {
	int epfd;
};

int bvm_vm_loop_init(struct vm_loop *l);
void bvm_vm_loop_fini(struct vm_loop *l);

/* Watch @fd for @events (EPOLLIN, ...); @w must outlive the watch. */
int bvm_vm_loop_add(struct vm_loop *l, struct vm_watch *w, int fd,
                    uint32_t events, vm_watch_fn fn);
int bvm_vm_loop_mod(struct vm_loop *l, struct vm_watch *w, uint32_t events);
/* Stop watching (the fd is not closed). */
void bvm_vm_loop_del(struct vm_loop *l, struct vm_watch *w);

/* Wait up to @timeout_ms (-1 forever) and run the callbacks of what is
 * ready.  Returns the number of events handled (0 on timeout/EINTR). */
int bvm_vm_loop_run_once(struct vm_loop *l, int timeout_ms);

#define bvm_container_of(ptr, type, member)                                    \
	((type *)(void *)((char *)(ptr) - __builtin_offsetof(type, member)))

#endif
