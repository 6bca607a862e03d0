/* SPDX-License-Identifier: MIT */
/*
 * prim.c - the memory primitives layer: every memfd_create, mmap, munmap,
 * mprotect, madvise and fallocate of libballoon passes through here, so
 * tests can count the calls and make any of them fail on demand.
 */
#include "balloon/bln_prim.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif

/* Fault injection: the fault_nth[op]-th next call of op fails with
 * -fault_err[op].  Calls are counted atomically (benches may be threaded). */
static unsigned fault_nth[BLN_PRIM_NR_OPS];
static int fault_err[BLN_PRIM_NR_OPS];
static uint64_t calls[BLN_PRIM_NR_OPS];

void bln_prim_set_fault(enum bln_prim_op op, unsigned nth, int err)
{
	if ((unsigned)op >= BLN_PRIM_NR_OPS)
		return;
	fault_nth[op] = nth;
	fault_err[op] = err > 0 ? err : EIO;
}

uint64_t bln_prim_calls(enum bln_prim_op op)
{
	if ((unsigned)op >= BLN_PRIM_NR_OPS)
		return 0;
	return __atomic_load_n(&calls[op], __ATOMIC_RELAXED);
}

/* Count a call of @op; returns -errno if it is the one to fail, else 0. */
static int prim_enter(enum bln_prim_op op)
{
	__atomic_fetch_add(&calls[op], 1, __ATOMIC_RELAXED);
	if (fault_nth[op] && --fault_nth[op] == 0)
		return -fault_err[op];
	return 0;
}

static uint64_t page_size(void)
{
	static uint64_t ps;
	uint64_t v = __atomic_load_n(&ps, __ATOMIC_RELAXED);

	if (!v) {
		v = (uint64_t)sysconf(_SC_PAGESIZE);
		__atomic_store_n(&ps, v, __ATOMIC_RELAXED);
	}
	return v;
}

int bln_prim_memfd(const char *name, size_t size)
{
	int fd, err;

	if (!name || !size || size > (size_t)INT64_MAX)
		return -EINVAL;
	err = prim_enter(BLN_PRIM_MEMFD);
	if (err)
		return err;
	/* No MFD_CLOEXEC: the fd must survive fork() for two-process use. */
	fd = memfd_create(name, MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size) < 0)
		goto err_close;
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK) < 0)
		goto err_close;
	return fd;

err_close:
	err = -errno;
	close(fd);
	return err;
}

int bln_prim_map(int fd, size_t size, void **out)
{
	void *p;
	int err;

	if (!out || !size)
		return -EINVAL;
	err = prim_enter(BLN_PRIM_MMAP);
	if (err)
		return err;
	if (fd < 0)
		p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	else
		p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	*out = p;
	return 0;
}

int bln_prim_unmap(void *addr, size_t size)
{
	int err = prim_enter(BLN_PRIM_MUNMAP);

	if (err)
		return err;
	return munmap(addr, size) < 0 ? -errno : 0;
}

int bln_prim_guard(void *addr, size_t len)
{
	uint64_t mask = page_size() - 1;
	int err;

	if (!addr || ((uintptr_t)addr & mask) || !len || (len & mask))
		return -EINVAL;
	err = prim_enter(BLN_PRIM_MPROTECT);
	if (err)
		return err;
	return mprotect(addr, len, PROT_NONE) < 0 ? -errno : 0;
}

static int do_madvise(void *addr, size_t len, int advice)
{
	int err = prim_enter(BLN_PRIM_MADVISE);

	if (err)
		return err;
	return madvise(addr, len, advice) < 0 ? -errno : 0;
}

int bln_prim_release(enum bln_backing backing, int fd, void *base, uint64_t off,
                     uint64_t len)
{
	uint64_t mask = page_size() - 1;
	int err;

	if (!base || (off & mask) || (len & mask) || off > UINT64_MAX - len ||
	    off + len > (uint64_t)INT64_MAX)
		return -EINVAL;
	if (!len)
		return 0;
	switch (backing) {
	case BLN_BACKING_ANON:
		return do_madvise((uint8_t *)base + off, len, MADV_DONTNEED);
	case BLN_BACKING_MEMFD:
		/* Punching the hole also zaps every mapping of the range. */
		err = prim_enter(BLN_PRIM_FALLOCATE);
		if (err)
			return err;
		if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		              (off_t)off, (off_t)len) < 0)
			return -errno;
		return 0;
	case BLN_BACKING_FILE:
		return do_madvise((uint8_t *)base + off, len, MADV_REMOVE);
	}
	return -EINVAL;
}

int bln_prim_populate(void *addr, size_t len)
{
	int err;

	if (!len)
		return 0;
	err = do_madvise(addr, len, MADV_POPULATE_WRITE);
	/* Kernels before 5.14 reject the unknown advice: it is only a hint. */
	return err == -EINVAL ? 0 : err;
}
