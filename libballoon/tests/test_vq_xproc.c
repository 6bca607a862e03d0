/* SPDX-License-Identifier: MIT */
/*
 * Two-process split-virtqueue test: guest memory is a memfd mapped by both
 * processes, kicks and interrupts are two eventfds.  The driver (a forked
 * child) pushes requests carrying sequence numbers; the device (the parent)
 * pops them, checks that they arrive in order with no loss or duplicate, and
 * answers each with ~seq in the request's writable buffer, which the driver
 * checks in turn.  Both sides poll with notifications off while busy and
 * re-enable them (checking for a missed wakeup) before sleeping, so lost
 * notifications or missing barriers show up as a hang (caught by a poll
 * timeout) or as corrupt data.
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "balloon/bln_prim.h"
#include "balloon/virtio_balloon.h"
#include "balloon/vq.h"

#define MEM_BYTES (1u << 20)
#define IND_GPA   (256u << 10) /* indirect tables */
#define IND_MAX   4
#define DATA_GPA  (512u << 10) /* 16-byte request slots */
#define STATS_GPA (MEM_BYTES - 64)
#define WAIT_MS   10000 /* a wakeup lost for this long is a failure */

struct xcfg {
	unsigned size;
	uint64_t feat;
	unsigned nreq;
};

/* Counters the driver child leaves in guest memory for the parent. */
struct xstats {
	uint64_t done, kicks, irqs_seen;
};

struct xside {
	uint8_t *mem;
	struct vq_mem vm;
	struct vq_layout l;
	int kick_fd, irq_fd;
};

/* Sleep until @fd is signalled; returns 0, or -ETIMEDOUT. */
static int wait_fd(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	uint64_t v;

	if (poll(&p, 1, WAIT_MS) != 1)
		return -ETIMEDOUT;
	if (read(fd, &v, sizeof(v)) != sizeof(v))
		return -EIO;
	return 0;
}

static void signal_fd(int fd)
{
	uint64_t one = 1;

	if (write(fd, &one, sizeof(one)) != sizeof(one))
		abort();
}

/* Driver loop (child).  Returns 0 or a small failure code. */
static int driver_run(const struct xcfg *c, struct xside *x)
{
	struct xstats *st = (struct xstats *)(void *)(x->mem + STATS_GPA);
	uint64_t *seq_of = calloc(c->size, sizeof(*seq_of));
	unsigned *free_slots = calloc(c->size, sizeof(*free_slots));
	unsigned sent = 0, done = 0, nfree = c->size, s, k;
	struct vq_driver vq;
	struct vq_buf out, in;
	uint32_t len;
	void *tok;
	bool progress;
	int rc = 0;

	if (!seq_of || !free_slots ||
	    vq_driver_init(&vq, &x->vm, &x->l, c->feat, IND_GPA, IND_MAX))
		return 10;
	for (k = 0; k < c->size; k++)
		free_slots[k] = k;
	vq_driver_set_interrupts(&vq, false);
	while (done < c->nreq && !rc) {
		progress = false;
		while (sent < c->nreq && nfree) {
			s = free_slots[nfree - 1];
			out = (struct vq_buf){DATA_GPA + 16ull * s, 8};
			in = (struct vq_buf){DATA_GPA + 16ull * s + 8, 8};
			memcpy(x->mem + out.gpa, &(uint64_t){sent}, 8);
			memset(x->mem + in.gpa, 0, 8);
			if (vq_driver_add(&vq, &out, 1, &in, 1,
			                  (void *)(uintptr_t)(s + 1)))
				break;
			seq_of[s] = sent++;
			nfree--;
			progress = true;
		}
		if (vq_driver_kick_prepare(&vq)) {
			signal_fd(x->kick_fd);
			st->kicks++;
		}
		while ((rc = vq_driver_get_used(&vq, &tok, &len)) == 0) {
			uint64_t ans;

			s = (unsigned)((uintptr_t)tok - 1);
			memcpy(&ans, x->mem + DATA_GPA + 16ull * s + 8, 8);
			if (s >= c->size || seq_of[s] != done || len != 8 ||
			    ans != ~seq_of[s]) {
				rc = 11;
				break;
			}
			free_slots[nfree++] = s;
			done++;
			progress = true;
		}
		if (rc == -EAGAIN)
			rc = 0;
		if (rc || progress || done == c->nreq)
			continue;
		if (vq_driver_set_interrupts(&vq, true) == 0) {
			if (wait_fd(x->irq_fd))
				rc = 12;
			st->irqs_seen++;
		}
		vq_driver_set_interrupts(&vq, false);
	}
	if (!rc && vq_driver_num_free(&vq) != c->size)
		rc = 13;
	st->done = done;
	vq_driver_destroy(&vq);
	free(free_slots);
	free(seq_of);
	return rc < 0 ? 14 : rc;
}

/* Device loop (parent): every request checked, answered, in order. */
static void device_run(const struct xcfg *c, struct xside *x, uint64_t *irqs)
{
	struct vq_device vq;
	struct vq_seg segs[2];
	struct vq_elem e;
	uint64_t expect = 0, seq;
	int rc;

	assert_int_equal(vq_device_init(&vq, &x->vm, &x->l, c->feat), 0);
	while (expect < c->nreq) {
		while ((rc = vq_device_pop(&vq, &e, segs, 2)) == 1) {
			assert_int_equal(e.n_out, 1);
			assert_int_equal(e.n_in, 1);
			assert_int_equal(segs[0].len, 8);
			assert_int_equal(segs[1].len, 8);
			memcpy(&seq, segs[0].host, 8);
			assert_int_equal(seq, expect); /* no loss, no dup */
			seq = ~seq;
			memcpy(segs[1].host, &seq, 8);
			assert_int_equal(vq_device_push(&vq, e.head, 8), 0);
			expect++;
			/* Hand completions back in batches while busy. */
			if (!(expect % 32) && vq_device_publish(&vq)) {
				signal_fd(x->irq_fd);
				(*irqs)++;
			}
		}
		assert_int_equal(rc, 0);
		if (vq_device_publish(&vq)) {
			signal_fd(x->irq_fd);
			(*irqs)++;
		}
		if (vq_device_pending(&vq))
			continue;
		if (vq_device_set_notify(&vq, true) == 0 && expect < c->nreq)
			assert_int_equal(wait_fd(x->kick_fd), 0);
		vq_device_set_notify(&vq, false);
	}
	assert_int_equal(vq.errors, 0);
	assert_int_equal(vq_device_pop(&vq, &e, segs, 2), 0);
}

static void run_xproc(const struct xcfg *c)
{
	struct xstats *st;
	struct xside x;
	uint64_t irqs = 0;
	int fd, status;
	pid_t pid;

	fd = bln_prim_memfd("vq-xproc", MEM_BYTES);
	assert_true(fd >= 0);
	assert_int_equal(bln_prim_map(fd, MEM_BYTES, (void **)&x.mem), 0);
	x.vm = (struct vq_mem){.base = x.mem, .size = MEM_BYTES};
	assert_int_equal(vq_layout_init(&x.l, 0, c->size), 0);
	x.kick_fd = eventfd(0, EFD_NONBLOCK);
	x.irq_fd = eventfd(0, EFD_NONBLOCK);
	assert_true(x.kick_fd >= 0 && x.irq_fd >= 0);

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(driver_run(c, &x));
	device_run(c, &x, &irqs);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);

	/* Both sides agree on where the free-running indices ended. */
	st = (struct xstats *)(void *)(x.mem + STATS_GPA);
	assert_int_equal(st->done, c->nreq);
	assert_int_equal(*(uint16_t *)(x.mem + x.l.avail_gpa + 2),
	                 c->nreq & 0xffff);
	assert_int_equal(*(uint16_t *)(x.mem + x.l.used_gpa + 2),
	                 c->nreq & 0xffff);
	print_message("size %u feat %#llx: %u requests, %llu kicks, %llu irqs "
	              "(%llu slept on)\n",
	              c->size, (unsigned long long)c->feat, c->nreq,
	              (unsigned long long)st->kicks, (unsigned long long)irqs,
	              (unsigned long long)st->irqs_seen);
	close(x.kick_fd);
	close(x.irq_fd);
	assert_int_equal(bln_prim_unmap(x.mem, MEM_BYTES), 0);
	close(fd);
}

static void test_xproc_event_idx_indirect(void **state)
{
	const struct xcfg c = {256,
	                       BLN_FEATURE(VIRTIO_F_RING_EVENT_IDX) |
	                               BLN_FEATURE(VIRTIO_F_RING_INDIRECT_DESC),
	                       200000};
	(void)state;
	run_xproc(&c);
}

static void test_xproc_flags(void **state)
{
	const struct xcfg c = {64, 0, 200000};
	(void)state;
	run_xproc(&c);
}

static void test_xproc_tiny_ring(void **state)
{
	const struct xcfg c = {2, BLN_FEATURE(VIRTIO_F_RING_EVENT_IDX), 20000};
	(void)state;
	run_xproc(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_xproc_event_idx_indirect),
	        cmocka_unit_test(test_xproc_flags),
	        cmocka_unit_test(test_xproc_tiny_ring),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
