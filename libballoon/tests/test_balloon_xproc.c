/* SPDX-License-Identifier: MIT */
/*
 * Integration test: the balloon across two processes, as in a real VMM.
 * The child is the guest: 1 GiB + 16 MiB (+ scratch) of memfd-backed guest
 * RAM it maps itself and writes completely, and a balloon driver over a
 * trivial allocator.  The parent is the device process.  The parent inflates
 * exactly 1 GiB of that touched memory (the 16 MiB stay with the guest); it
 * then checks that the memfd's allocated blocks and the child's RssShmem
 * really dropped by at least 90 % of the gigabyte, deflates, and has the
 * child check that ballooned pages come back zeroed and usable while the
 * rest kept its contents.  The parent holds only the read ends of the pipes
 * from the child, so a child that dies fails the test at once (EOF) instead
 * of leaving it to the timeout.
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "balloon/bln_device.h"
#include "balloon/bln_driver.h"
#include "balloon/bln_prim.h"

#define BALLOON     (1ull << 30) /* bytes inflated: exactly 1 GiB */
#define KEEP_PAGES  4096u        /* 16 MiB the guest keeps for itself */
#define TARGET      ((uint32_t)(BALLOON >> 12))
#define GUEST       (BALLOON + ((uint64_t)KEEP_PAGES << 12))
#define GUEST_PAGES ((uint32_t)(GUEST >> 12))
#define MAGIC       0x9e3779b97f4a7c15ull

struct rig {
	struct bln_transport t;
	struct bln_device *dev;
	struct bln_driver_cfg dc;
	int fd, up[2], down[2]; /* up: child -> parent, down: reverse */
	uint64_t ram_bytes;
};

/* ---- the guest (child) -------------------------------------------------- */

struct pool {
	uint32_t *free;
	uint32_t n;
	uint8_t *ballooned; /* ever ballooned, per page */
};

static unsigned pool_alloc(void *ctx, uint32_t *pfns, unsigned n)
{
	struct pool *p = ctx;
	unsigned k = 0;

	while (k < n && p->n) {
		pfns[k] = p->free[--p->n];
		p->ballooned[pfns[k++]] = 1;
	}
	return k;
}

static void pool_free(void *ctx, const uint32_t *pfns, unsigned n)
{
	struct pool *p = ctx;

	for (unsigned i = 0; i < n; i++)
		p->free[p->n++] = pfns[i];
}

static const struct bln_driver_ops pool_ops = {
        .alloc_pages = pool_alloc,
        .free_pages = pool_free,
};

static uint64_t *word(uint8_t *ram, uint32_t pfn, unsigned i)
{
	return (uint64_t *)(ram + ((uint64_t)pfn << 12)) + i;
}

/* After deflate: ballooned pages read zero and take new data; the others
 * kept what the guest wrote.  Returns 0 or a distinct failure code. */
static int guest_verify(uint8_t *ram, const struct pool *p)
{
	for (uint32_t pfn = 0; pfn < GUEST_PAGES; pfn++) {
		uint64_t want = pfn ^ MAGIC;

		if (!p->ballooned[pfn]) {
			if (*word(ram, pfn, 0) != want ||
			    *word(ram, pfn, 511) != ~want)
				return 20;
			continue;
		}
		if (*word(ram, pfn, 0) || *word(ram, pfn, 511))
			return 21; /* not released */
		*word(ram, pfn, 0) = want + 1;
		*word(ram, pfn, 511) = ~want;
		if (*word(ram, pfn, 0) != want + 1 ||
		    *word(ram, pfn, 511) != ~want)
			return 22;
	}
	return 0;
}

/* Step the driver until the parent says what to do next. */
static char guest_serve(struct rig *r, struct bln_driver *drv)
{
	struct pollfd pf[3] = {{.fd = r->t.irq_fd, .events = POLLIN},
	                       {.fd = r->t.cfg_fd, .events = POLLIN},
	                       {.fd = r->down[0], .events = POLLIN}};
	char cmd;

	for (;;) {
		int ret = bln_driver_step(drv);

		if (ret < 0)
			return 'E';
		poll(pf, 3, ret > 0 ? 5 : 200);
		bln_drain(r->t.irq_fd);
		bln_drain(r->t.cfg_fd);
		if ((pf[2].revents & POLLIN) && read(r->down[0], &cmd, 1) == 1)
			return cmd;
	}
}

static int guest(struct rig *r)
{
	struct pool p = {0};
	struct bln_driver *drv;
	uint8_t *ram;
	char c;
	int ret;

	p.free = malloc(sizeof(uint32_t) * GUEST_PAGES);
	p.ballooned = calloc(GUEST_PAGES, 1);
	if (!p.free || !p.ballooned)
		return 10;
	if (bln_prim_map(r->fd, r->ram_bytes, (void **)&ram))
		return 11;
	/* Fault the gigabyte in with one call rather than 2^18 faults. */
	if (bln_prim_populate(ram, GUEST))
		return 17;
	for (uint32_t pfn = 0; pfn < GUEST_PAGES; pfn++) {
		*word(ram, pfn, 0) = pfn ^ MAGIC;
		*word(ram, pfn, 511) = ~(pfn ^ MAGIC);
		p.free[p.n++] = pfn;
	}
	r->dc.ram = (struct vq_mem){ram, r->ram_bytes};
	r->dc.ctx = &p;
	if (bln_driver_create(&r->dc, &drv))
		return 12;
	if (write(r->up[1], "T", 1) != 1)
		return 13;
	c = guest_serve(r, drv);
	if (c != 'V')
		return 14;
	if (bln_driver_balloon_pages(drv) != 0 || p.n != GUEST_PAGES)
		return 15;
	/* Populating does not change what a present page holds; released
	 * pages come back zero-filled (which guest_verify checks). */
	if (bln_prim_populate(ram, GUEST))
		return 18;
	ret = guest_verify(ram, &p);
	if (write(r->up[1], "D", 1) != 1)
		return 16;
	bln_driver_destroy(drv);
	return ret;
}

/* ---- the device (parent) ------------------------------------------------ */

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The guest never writes while the parent serves: a readable (or hung
 * up) pipe means it died. */
static void assert_guest_alive(struct rig *r)
{
	struct pollfd pf = {.fd = r->up[0], .events = POLLIN};

	assert_int_equal(poll(&pf, 1, 0), 0);
}

/* Serve the device until it and the driver agree on @target. */
static void serve_until(struct rig *r, uint32_t target)
{
	int fds[BLN_VQ_COUNT + 2];
	uint64_t end = now_ms() + 60000;

	for (unsigned q = 0; q < BLN_VQ_COUNT; q++)
		fds[q] = r->t.kick_fd[q];
	fds[BLN_VQ_COUNT] = r->t.status_fd;
	fds[BLN_VQ_COUNT + 1] = r->up[0]; /* wakes us if the guest dies */
	assert_int_equal(bln_device_set_target(r->dev, target), 0);
	while (bln_device_ballooned(r->dev) != target ||
	       bln_device_actual(r->dev) != target) {
		assert_true(now_ms() < end);
		bln_wait(fds, BLN_VQ_COUNT + 2, 50);
		assert_guest_alive(r);
		for (unsigned i = 0; i <= BLN_VQ_COUNT; i++)
			bln_drain(fds[i]);
		assert_true(bln_device_process(r->dev) >= 0);
	}
}

static uint64_t file_bytes(int fd)
{
	struct stat st;

	assert_int_equal(fstat(fd, &st), 0);
	return (uint64_t)st.st_blocks * 512;
}

static uint64_t rss_shmem(pid_t pid)
{
	char path[64], line[256];
	unsigned long long kb = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "RssShmem: %llu kB", &kb) == 1)
			break;
	fclose(f);
	return kb * 1024;
}

static void wait_for(struct rig *r, char want)
{
	char c = 0;

	assert_int_equal(read(r->up[0], &c, 1), 1);
	assert_int_equal(c, want);
}

static void test_xproc(void **state)
{
	uint64_t f0, f1, f2, m0, m1, ballooned = (uint64_t)TARGET << 12;
	_Static_assert((uint64_t)TARGET << 12 == 1ull << 30, "1 GiB");
	struct bln_device_cfg cfg = {.backing = BLN_BACKING_MEMFD,
	                             .host_features = BLN_DEVICE_FEATURES};
	struct bln_device_counters c;
	struct rig r = {0};
	uint8_t *map;
	int status;
	pid_t pid;
	(void)state;

	r.dc = (struct bln_driver_cfg){
	        .want_features = BLN_DEVICE_FEATURES,
	        .ops = &pool_ops,
	        .t = &r.t,
	};
	r.dc.scratch_gpa = GUEST;
	r.dc.scratch_len = bln_driver_scratch_bytes(&r.dc);
	r.ram_bytes = GUEST + r.dc.scratch_len;
	r.fd = bln_prim_memfd("xproc-ram", r.ram_bytes);
	assert_true(r.fd >= 0);
	assert_int_equal(bln_prim_map(r.fd, r.ram_bytes, (void **)&map), 0);
	assert_int_equal(bln_transport_create(&r.t), 0);
	cfg.ram = (struct vq_mem){map, r.ram_bytes};
	cfg.ram_fd = r.fd;
	cfg.t = &r.t;
	assert_int_equal(bln_device_create(&cfg, &r.dev), 0);
	assert_int_equal(pipe(r.up), 0);
	assert_int_equal(pipe(r.down), 0);

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive a failure */
		close(r.up[0]);
		close(r.down[1]);
		_exit(guest(&r));
	}
	/* Only the child may hold the write end of "up": its death is EOF. */
	close(r.up[1]);
	close(r.down[0]);

	wait_for(&r, 'T'); /* the guest wrote all its memory */
	f0 = file_bytes(r.fd);
	m0 = rss_shmem(pid);
	assert_true(f0 >= GUEST && m0 >= GUEST);
	serve_until(&r, TARGET);
	f1 = file_bytes(r.fd);
	m1 = rss_shmem(pid);
	printf("inflated %u pages: memfd %llu -> %llu MiB, child RssShmem "
	       "%llu -> %llu MiB\n",
	       TARGET, (unsigned long long)f0 >> 20,
	       (unsigned long long)f1 >> 20, (unsigned long long)m0 >> 20,
	       (unsigned long long)m1 >> 20);
	assert_true(f0 - f1 >= ballooned / 10 * 9);
	assert_true(m1 < m0 && m0 - m1 >= ballooned / 10 * 9);
	bln_device_counters(r.dev, &c);
	assert_int_equal(c.pages_inflated, TARGET);
	assert_int_equal(c.bytes_released, ballooned);
	assert_int_equal(bln_device_ballooned(r.dev) << 12, 1ull << 30);

	serve_until(&r, 0);
	assert_int_equal(write(r.down[1], "V", 1), 1);
	wait_for(&r, 'D'); /* the guest rewrote every ballooned page */
	f2 = file_bytes(r.fd);
	assert_true(f2 >= GUEST);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);

	bln_device_destroy(r.dev);
	bln_transport_destroy(&r.t);
	bln_prim_unmap(map, r.ram_bytes);
	close(r.fd);
	close(r.up[0]);
	close(r.down[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_xproc),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
