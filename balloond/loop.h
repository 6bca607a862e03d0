/* SPDX-License-Identifier: MIT */
/*
 * loop.h - balloond's single-threaded event loop (epoll) and a per-socket
 * output queue, so a slow peer never blocks the loop.
 * Return contract: 0 or -errno unless stated.
 */
#ifndef BD_LOOP_H
#define BD_LOOP_H

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include <bc_buf.h>

struct bd_watch;
typedef void (*bd_watch_fn)(struct bd_watch *w, uint32_t events);

/* Embedded in its owner; recover the owner with container_of-style math. */
struct bd_watch {
	int fd;
	uint32_t events;
	bd_watch_fn fn;
};

#define BD_LOOP_BATCH 16

struct bd_loop {
	int epfd;
	/* the batch being dispatched, so a watch deleted mid-batch is skipped
	 */
	struct bd_watch *batch[BD_LOOP_BATCH];
	int nbatch;
};

#define bd_container_of(ptr, type, member)                                     \
	((type *)(void *)((char *)(ptr)-offsetof(type, member)))

int bd_loop_init(struct bd_loop *l);
void bd_loop_fini(struct bd_loop *l);
/* Watch @fd for @events (EPOLLIN, EPOLLOUT ...) and call @fn. */
int bd_loop_add(struct bd_loop *l, struct bd_watch *w, int fd, uint32_t events,
                bd_watch_fn fn);
int bd_loop_mod(struct bd_loop *l, struct bd_watch *w, uint32_t events);
/* Stop watching (safe from inside any callback).  Does not close the fd. */
void bd_loop_del(struct bd_loop *l, struct bd_watch *w);
/* Wait up to @timeout_ms (-1 = forever) and dispatch.  Returns the number of
 * events dispatched (0 on timeout) or -errno (-EINTR is reported as 0). */
int bd_loop_wait(struct bd_loop *l, int timeout_ms);

/* Output queue of one socket (a struct bc_buf, sent with bc_buf_send).
 * Bounded: a peer that stops reading is cut off once BD_OBUF_MAX bytes are
 * queued. */
#define BD_OBUF_MAX (4u << 20)

/* Queue @obj as one compact JSON line.  0, -ENOMEM or -ENOBUFS. */
int bd_obuf_put_json(struct bc_buf *o, struct json_object *obj);

#endif
