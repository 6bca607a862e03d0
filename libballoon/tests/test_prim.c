/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the memory primitives layer: for each backing, touch 64 MiB,
 * release it and check that the kernel really dropped the pages (RSS from
 * /proc/self/status, allocated blocks from fstat) and that the memory reads
 * back as zeroes; plus sealing, inheritability, guard pages and fault
 * injection.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "balloon/bln_prim.h"

#define MIB    (1024ull * 1024ull)
#define REGION (64 * MIB) /* bytes touched and released per test */
#define SLACK  (4 * MIB)  /* tolerance for unrelated RSS movement */

/* One "Name:   123 kB" line of /proc/self/status, in bytes. */
static uint64_t status_bytes(const char *name)
{
	char line[256];
	size_t n = strlen(name);
	uint64_t kb = 0;
	FILE *f = fopen("/proc/self/status", "r");

	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, name, n) && line[n] == ':') {
			kb = strtoull(line + n + 1, NULL, 10);
			break;
		}
	fclose(f);
	return kb * 1024;
}

static uint64_t fd_alloc_bytes(int fd)
{
	struct stat st;

	assert_int_equal(fstat(fd, &st), 0);
	return (uint64_t)st.st_blocks * 512;
}

static void touch(uint8_t *p, uint64_t len, uint8_t v)
{
	memset(p, v, len);
}

static void assert_all(const uint8_t *p, uint64_t len, uint8_t v)
{
	uint64_t i;

	for (i = 0; i < len; i++)
		if (p[i] != v)
			fail_msg("byte %llu is %u, want %u",
			         (unsigned long long)i, p[i], v);
}

static void test_anon_release(void **state)
{
	uint64_t before, touched, after;
	uint8_t *p;
	(void)state;

	before = status_bytes("RssAnon");
	assert_int_equal(bln_prim_map(-1, REGION, (void **)&p), 0);
	touch(p, REGION, 0xab);
	touched = status_bytes("RssAnon");
	assert_true(touched >= before + REGION - SLACK);

	/* Partial release first: the neighbours keep their data. */
	assert_int_equal(
	        bln_prim_release(BLN_BACKING_ANON, -1, p, 4 * MIB, 8 * MIB), 0);
	assert_all(p + 4 * MIB, 8 * MIB, 0);
	assert_all(p, 4 * MIB, 0xab);
	assert_all(p + 12 * MIB, MIB, 0xab);

	assert_int_equal(bln_prim_release(BLN_BACKING_ANON, -1, p, 0, REGION),
	                 0);
	after = status_bytes("RssAnon");
	assert_true(after + REGION - SLACK <= touched);
	/* No RSS check after this read: on some kernels (this machine's 6.18
	 * among them) reading released anonymous memory faults in real zeroed
	 * pages instead of the shared zero page. */
	assert_all(p, REGION, 0);
	assert_int_equal(bln_prim_unmap(p, REGION), 0);
}

static void test_memfd_release(void **state)
{
	uint64_t before, touched;
	uint8_t *p;
	int fd, fl;
	(void)state;

	fd = bln_prim_memfd("test-prim", REGION);
	assert_true(fd >= 0);
	/* Inheritable across fork/exec, sealed against shrinking. */
	fl = fcntl(fd, F_GETFD);
	assert_true(fl >= 0);
	assert_int_equal(fl & FD_CLOEXEC, 0);
	assert_true(fcntl(fd, F_GET_SEALS) & F_SEAL_SHRINK);
	assert_int_equal(ftruncate(fd, REGION / 2), -1);
	assert_int_equal(errno, EPERM);

	before = status_bytes("RssShmem");
	assert_int_equal(bln_prim_map(fd, REGION, (void **)&p), 0);
	touch(p, REGION, 0x5a);
	touched = status_bytes("RssShmem");
	assert_true(touched >= before + REGION - SLACK);
	assert_true(fd_alloc_bytes(fd) >= REGION);

	assert_int_equal(
	        bln_prim_release(BLN_BACKING_MEMFD, fd, p, 0, REGION / 2), 0);
	assert_true(fd_alloc_bytes(fd) <= REGION / 2);
	assert_all(p + REGION / 2, REGION / 2, 0x5a);
	assert_int_equal(bln_prim_release(BLN_BACKING_MEMFD, fd, p, REGION / 2,
	                                  REGION / 2),
	                 0);
	assert_int_equal(fd_alloc_bytes(fd), 0);
	assert_true(status_bytes("RssShmem") + REGION - SLACK <= touched);
	assert_all(p, REGION, 0);
	assert_int_equal(bln_prim_unmap(p, REGION), 0);
	close(fd);
}

/* A shared mapping of a regular file in @dir released with MADV_REMOVE. */
static void file_release(const char *dir)
{
	char path[256];
	uint8_t *p;
	int fd;

	snprintf(path, sizeof(path), "%s/test-prim-XXXXXX", dir);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(ftruncate(fd, REGION), 0);
	assert_int_equal(bln_prim_map(fd, REGION, (void **)&p), 0);
	touch(p, REGION, 0x77);
	assert_true(fd_alloc_bytes(fd) >= REGION);

	assert_int_equal(
	        bln_prim_release(BLN_BACKING_FILE, fd, p, 0, REGION - MIB), 0);
	assert_true(fd_alloc_bytes(fd) <= 2 * MIB);
	assert_all(p + REGION - MIB, MIB, 0x77);
	assert_all(p, REGION - MIB, 0);
	assert_int_equal(bln_prim_unmap(p, REGION), 0);
	close(fd);
}

static void test_file_release_tmpfs(void **state)
{
	(void)state;
	file_release("/dev/shm");
}

static void test_file_release_disk(void **state)
{
	const char *dir = getenv("TMPDIR");

	(void)state;
	file_release(dir && *dir ? dir : "/tmp");
}

static void test_release_args(void **state)
{
	uint8_t *p;
	(void)state;

	assert_int_equal(bln_prim_map(-1, 4 * MIB, (void **)&p), 0);
	assert_int_equal(bln_prim_release(BLN_BACKING_ANON, -1, p, 1, 4096),
	                 -EINVAL);
	assert_int_equal(bln_prim_release(BLN_BACKING_ANON, -1, p, 0, 100),
	                 -EINVAL);
	assert_int_equal(bln_prim_release(BLN_BACKING_ANON, -1, p, 4096,
	                                  UINT64_MAX - 4095),
	                 -EINVAL);
	assert_int_equal(bln_prim_release((enum bln_backing)7, -1, p, 0, 4096),
	                 -EINVAL);
	assert_int_equal(bln_prim_release(BLN_BACKING_MEMFD, -1, p, 0, 4096),
	                 -EBADF);
	assert_int_equal(bln_prim_release(BLN_BACKING_ANON, -1, p, 0, 0), 0);
	assert_int_equal(bln_prim_map(-1, 0, (void **)&p), -EINVAL);
	assert_int_equal(bln_prim_memfd("x", 0), -EINVAL);
	assert_int_equal(bln_prim_unmap(p, 4 * MIB), 0);
}

static void test_populate(void **state)
{
	uint64_t before;
	uint8_t *p;
	(void)state;

	assert_int_equal(bln_prim_map(-1, 32 * MIB, (void **)&p), 0);
	before = status_bytes("RssAnon");
	assert_int_equal(bln_prim_populate(p, 32 * MIB), 0);
	/* MADV_POPULATE_WRITE exists since Linux 5.14 (Debian 12 has 6.1). */
	assert_true(status_bytes("RssAnon") >= before + 32 * MIB - SLACK);
	assert_int_equal(bln_prim_unmap(p, 32 * MIB), 0);
}

static void on_segv(int sig)
{
	(void)sig;
	_exit(42);
}

/* In a child: write @p[0], then read @p[@at].  Returns what the child did:
 * 0 read fine, 42 faulted (our SIGSEGV handler, installed over any
 * sanitizer's), or 128 + the signal that killed it. */
static int child_reads(volatile uint8_t *p, size_t at)
{
	struct sigaction sa = {.sa_handler = on_segv};
	int st;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		sigaction(SIGSEGV, &sa, NULL);
		sigaction(SIGBUS, &sa, NULL);
		p[0] = 1;
		_exit(p[at] == 0xee ? 1 : 0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void test_guard(void **state)
{
	size_t ps = (size_t)sysconf(_SC_PAGESIZE);
	uint64_t calls = bln_prim_calls(BLN_PRIM_MPROTECT);
	uint8_t *p;
	(void)state;

	assert_int_equal(bln_prim_map(-1, MIB + ps, (void **)&p), 0);
	assert_int_equal(child_reads(p, MIB), 0); /* not guarded yet */
	assert_int_equal(bln_prim_guard(p + MIB, ps - 1), -EINVAL);
	assert_int_equal(bln_prim_guard(p + MIB + 1, ps), -EINVAL);
	assert_int_equal(bln_prim_guard(p + MIB, 0), -EINVAL);
	assert_int_equal(bln_prim_guard(NULL, ps), -EINVAL);
	/* An injected fault leaves the page accessible. */
	bln_prim_set_fault(BLN_PRIM_MPROTECT, 1, ENOMEM);
	assert_int_equal(bln_prim_guard(p + MIB, ps), -ENOMEM);
	assert_int_equal(child_reads(p, MIB), 0);
	assert_int_equal(bln_prim_guard(p + MIB, ps), 0);
	assert_int_equal(bln_prim_calls(BLN_PRIM_MPROTECT), calls + 2);
	/* The last byte before the guard reads, the first of it faults. */
	assert_int_equal(child_reads(p, MIB - 1), 0);
	assert_int_equal(child_reads(p, MIB), 42);
	assert_int_equal(bln_prim_unmap(p, MIB + ps), 0);
}

static void test_fault_injection(void **state)
{
	uint64_t calls;
	uint8_t *p, *q;
	int fd;
	(void)state;

	/* mmap: the 2nd next call fails, the others succeed. */
	calls = bln_prim_calls(BLN_PRIM_MMAP);
	bln_prim_set_fault(BLN_PRIM_MMAP, 2, ENOMEM);
	assert_int_equal(bln_prim_map(-1, MIB, (void **)&p), 0);
	q = NULL;
	assert_int_equal(bln_prim_map(-1, MIB, (void **)&q), -ENOMEM);
	assert_null(q);
	assert_int_equal(bln_prim_map(-1, MIB, (void **)&q), 0);
	assert_int_equal(bln_prim_calls(BLN_PRIM_MMAP), calls + 3);

	/* madvise (release of ANON) and munmap. */
	p[0] = 1;
	bln_prim_set_fault(BLN_PRIM_MADVISE, 1, EAGAIN);
	assert_int_equal(bln_prim_release(BLN_BACKING_ANON, -1, p, 0, MIB),
	                 -EAGAIN);
	assert_int_equal(p[0], 1); /* nothing was released */
	assert_int_equal(bln_prim_release(BLN_BACKING_ANON, -1, p, 0, MIB), 0);
	assert_int_equal(p[0], 0);
	bln_prim_set_fault(BLN_PRIM_MADVISE, 1, ENOMEM);
	assert_int_equal(bln_prim_populate(q, MIB), -ENOMEM);
	bln_prim_set_fault(BLN_PRIM_MUNMAP, 1, EINVAL);
	assert_int_equal(bln_prim_unmap(p, MIB), -EINVAL);
	assert_int_equal(bln_prim_unmap(p, MIB), 0);
	assert_int_equal(bln_prim_unmap(q, MIB), 0);

	/* memfd and fallocate (release of MEMFD). */
	bln_prim_set_fault(BLN_PRIM_MEMFD, 1, EMFILE);
	assert_int_equal(bln_prim_memfd("fault", MIB), -EMFILE);
	fd = bln_prim_memfd("fault", MIB);
	assert_true(fd >= 0);
	assert_int_equal(bln_prim_map(fd, MIB, (void **)&p), 0);
	p[0] = 9;
	calls = bln_prim_calls(BLN_PRIM_FALLOCATE);
	bln_prim_set_fault(BLN_PRIM_FALLOCATE, 1, ENOSPC);
	assert_int_equal(bln_prim_release(BLN_BACKING_MEMFD, fd, p, 0, MIB),
	                 -ENOSPC);
	assert_int_equal(p[0], 9);
	assert_int_equal(bln_prim_release(BLN_BACKING_MEMFD, fd, p, 0, MIB), 0);
	assert_int_equal(p[0], 0);
	assert_int_equal(bln_prim_calls(BLN_PRIM_FALLOCATE), calls + 2);

	/* A cleared fault does not fire. */
	bln_prim_set_fault(BLN_PRIM_MUNMAP, 1, EINVAL);
	bln_prim_set_fault(BLN_PRIM_MUNMAP, 0, 0);
	assert_int_equal(bln_prim_unmap(p, MIB), 0);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_anon_release),
	        cmocka_unit_test(test_memfd_release),
	        cmocka_unit_test(test_file_release_tmpfs),
	        cmocka_unit_test(test_file_release_disk),
	        cmocka_unit_test(test_release_args),
	        cmocka_unit_test(test_populate),
	        cmocka_unit_test(test_guard),
	        cmocka_unit_test(test_fault_injection),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
