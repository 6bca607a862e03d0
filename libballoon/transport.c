/* SPDX-License-Identifier: MIT */
/*
 * transport.c - the register page (a one-page memfd, so a forked or exec'd
 * peer can map it), the eventfds that join a balloon driver and device, and
 * the spin-then-block wait (bln_poll_wait) either side may use instead of
 * bln_wait.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "balloon/bln_prim.h"
#include "balloon/bln_transport.h"
#include "regs.h"

#define REGS_BYTES 4096

_Static_assert(sizeof(struct bln_regs) <= REGS_BYTES, "regs fit a page");

/* Every eventfd of @t, for loops; @out must hold BLN_VQ_COUNT + 3. */
static unsigned all_fds(struct bln_transport *t, int **out)
{
	unsigned n = 0;

	for (unsigned q = 0; q < BLN_VQ_COUNT; q++)
		out[n++] = &t->kick_fd[q];
	out[n++] = &t->status_fd;
	out[n++] = &t->irq_fd;
	out[n++] = &t->cfg_fd;
	return n;
}

static void close_fds(struct bln_transport *t)
{
	int *fds[BLN_VQ_COUNT + 3];
	unsigned n = all_fds(t, fds);

	for (unsigned i = 0; i < n; i++) {
		if (*fds[i] >= 0)
			close(*fds[i]);
		*fds[i] = -1;
	}
}

static int open_fds(struct bln_transport *t)
{
	int *fds[BLN_VQ_COUNT + 3];
	unsigned n = all_fds(t, fds);

	for (unsigned i = 0; i < n; i++) {
		/* Non-blocking, inheritable: the peer may be a child. */
		*fds[i] = eventfd(0, EFD_NONBLOCK);
		if (*fds[i] < 0)
			return -errno;
	}
	return 0;
}

int bln_transport_create(struct bln_transport *t)
{
	int *fds[BLN_VQ_COUNT + 3];
	unsigned n;
	void *map;
	int ret;

	if (!t)
		return -EINVAL;
	memset(t, 0, sizeof(*t));
	n = all_fds(t, fds);
	for (unsigned i = 0; i < n; i++)
		*fds[i] = -1;
	ret = bln_prim_memfd("bln-regs", REGS_BYTES);
	if (ret < 0)
		goto err_memfd;
	t->regs_fd = ret;
	ret = bln_prim_map(t->regs_fd, REGS_BYTES, &map);
	if (ret)
		goto err_map;
	ret = open_fds(t);
	if (ret)
		goto err_fds;
	t->regs = map;
	return 0;

err_fds:
	close_fds(t);
	bln_prim_unmap(map, REGS_BYTES);
err_map:
	close(t->regs_fd);
err_memfd:
	t->regs_fd = -1;
	return ret;
}

void bln_transport_destroy(struct bln_transport *t)
{
	/* A zeroed struct has regs == NULL and its fds must stay alone (0 is
	 * stdin); a failed create also leaves regs == NULL with nothing open.
	 */
	if (!t || !t->regs)
		return;
	close_fds(t);
	bln_prim_unmap(t->regs, REGS_BYTES);
	close(t->regs_fd);
	t->regs = NULL;
	t->regs_fd = -1;
}

int bln_notify(int efd)
{
	uint64_t one = 1;

	if (write(efd, &one, sizeof(one)) == sizeof(one))
		return 0;
	/* EAGAIN: the counter is saturated, so the peer is already woken. */
	return errno == EAGAIN ? 0 : -errno;
}

int64_t bln_drain(int efd)
{
	uint64_t v;

	if (read(efd, &v, sizeof(v)) == sizeof(v))
		return (int64_t)(v & INT64_MAX);
	return -errno;
}

int bln_wait(const int *fds, unsigned n, int timeout_ms)
{
	struct pollfd p[16];
	int ret;

	if (!fds || n == 0 || n > 16)
		return -EINVAL;
	for (unsigned i = 0; i < n; i++) {
		p[i].fd = fds[i];
		p[i].events = POLLIN;
		p[i].revents = 0;
	}
	ret = poll(p, n, timeout_ms);
	if (ret < 0)
		return errno == EINTR ? 0 : -errno;
	return ret;
}

/* ---- spin-then-block waiting ------------------------------------------ */

#define SPIN_CLOCK_EVERY 8 /* ring checks between two clock reads */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#else
	__asm__ __volatile__("" ::: "memory");
#endif
}

int bln_poll_init(struct bln_poll *p, uint32_t max_us)
{
	if (!p || max_us > BLN_POLL_MAX_US)
		return -EINVAL;
	memset(p, 0, sizeof(*p));
	p->max_us = max_us;
	p->cur_us = max_us;
	return 0;
}

/* What one wait watches: the rings' peer indexes plus registers. */
struct watch_set {
	struct bln_regs *regs;
	enum bln_poll_side side;
	struct vq_watch w[BLN_VQ_COUNT];
	unsigned nw;
	uint32_t cfg_gen, status, status_ack; /* driver side, at begin */
};

/* Rings may be touched once the device has acted on DRIVER_OK, while
 * neither side has given up on them. */
static bool rings_live(const struct bln_regs *r)
{
	uint32_t st = reg_ld32(&r->status);

	if (!(st & BLN_STATUS_DRIVER_OK) ||
	    (st & (BLN_STATUS_NEEDS_RESET | BLN_STATUS_FAILED)))
		return false;
	return reg_ld32(&r->status_ack) == reg_ld32(&r->status_gen);
}

static void watch_rings(struct watch_set *s, const struct vq_mem *ram)
{
	struct bln_regs *r = s->regs;
	uint64_t feat =
	        reg_ld64(&r->driver_features) & reg_ld64(&r->device_features);
	struct vq_layout l;

	for (unsigned q = 0; q < BLN_VQ_COUNT; q++) {
		if (!reg_ld16(&r->q[q].enabled))
			continue;
		l.desc_gpa = reg_ld64(&r->q[q].desc);
		l.avail_gpa = reg_ld64(&r->q[q].avail);
		l.used_gpa = reg_ld64(&r->q[q].used);
		l.size = reg_ld16(&r->q[q].size);
		if (!vq_watch_begin(&s->w[s->nw], ram, &l, feat,
		                    s->side == BLN_POLL_DEVICE))
			s->nw++;
	}
}

static void watch_begin(struct watch_set *s, struct bln_transport *t,
                        const struct vq_mem *ram, enum bln_poll_side side)
{
	s->regs = t->regs;
	s->side = side;
	s->nw = 0;
	s->cfg_gen = reg_ld32(&t->regs->config_generation);
	s->status = reg_ld32(&t->regs->status);
	s->status_ack = reg_ld32(&t->regs->status_ack);
	if (rings_live(t->regs))
		watch_rings(s, ram);
}

/* Anything for this side since watch_begin()? */
static bool watch_ready(const struct watch_set *s)
{
	const struct bln_regs *r = s->regs;

	for (unsigned i = 0; i < s->nw; i++)
		if (vq_watch_pending(&s->w[i]))
			return true;
	if (s->side == BLN_POLL_DEVICE)
		return reg_ld32(&r->status_gen) != reg_ld32(&r->status_ack);
	return reg_ld32(&r->config_generation) != s->cfg_gen ||
	       reg_ld32(&r->status) != s->status ||
	       reg_ld32(&r->status_ack) != s->status_ack;
}

/* Notifications back on, then one last look (no lost wake-up). */
static bool watch_end(struct watch_set *s)
{
	bool pending = false;

	for (unsigned i = 0; i < s->nw; i++)
		pending |= vq_watch_end(&s->w[i]) == 1;
	return pending || watch_ready(s);
}

/* Spin for up to @budget_ns; true if work showed up. */
static bool spin(struct bln_poll *p, const struct watch_set *s,
                 uint64_t budget_ns)
{
	uint64_t t0 = now_ns(), t = t0;
	bool ready = false;

	for (unsigned i = 1; !(ready = watch_ready(s)); i++) {
		cpu_relax();
		if (i % SPIN_CLOCK_EVERY == 0 &&
		    (t = now_ns()) - t0 >= budget_ns)
			break;
	}
	if (ready)
		t = now_ns();
	p->spin_ns += t - t0;
	return ready;
}

/* KVM-style adaptation after a sleep of @slept_ns that ended with @ret. */
static void adapt(struct bln_poll *p, int ret, uint64_t slept_ns)
{
	uint64_t max_ns = (uint64_t)p->max_us * 1000u;

	if (ret > 0 && slept_ns <= max_ns) {
		uint32_t grown = p->cur_us ? p->cur_us * 2 : BLN_POLL_GROW_US;
		p->cur_us = grown < p->max_us ? grown : p->max_us;
	} else if (ret >= 0) {
		p->cur_us =
		        p->cur_us / 2 < BLN_POLL_GROW_US ? 0 : p->cur_us / 2;
	}
}

int bln_poll_wait(struct bln_poll *p, struct bln_transport *t,
                  const struct vq_mem *ram, enum bln_poll_side side,
                  const int *fds, unsigned n, int timeout_ms)
{
	struct watch_set s;
	uint64_t t0;
	int ret;

	if (!p || !t || !t->regs || !ram || !fds || n == 0 || n > 16 ||
	    (side != BLN_POLL_DEVICE && side != BLN_POLL_DRIVER))
		return -EINVAL;
	p->waits++;
	if (p->cur_us) {
		watch_begin(&s, t, ram, side);
		bool hit = spin(p, &s, (uint64_t)p->cur_us * 1000u);
		if (watch_end(&s) || hit) {
			p->spin_hits++;
			return BLN_POLL_SPUN;
		}
	}
	p->sleeps++;
	t0 = now_ns();
	ret = bln_wait(fds, n, timeout_ms);
	adapt(p, ret, now_ns() - t0);
	return ret > 0 ? BLN_POLL_WOKE : ret;
}
