/* SPDX-License-Identifier: MIT */
/*
 * transport.c - the register page (a one-page memfd, so a forked or exec'd
 * peer can map it) and the eventfds that join a balloon driver and device.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "balloon/bln_prim.h"
#include "balloon/bln_transport.h"

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
