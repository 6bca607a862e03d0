/* SPDX-License-Identifier: MIT */
/*
 * bln_prim.h - the one small layer through which every OS call that touches
 * memory passes (memfd, mmap, munmap, mprotect, madvise, fallocate).  Keeping
 * them in one place lets tests inject faults (bln_prim_set_fault) and lets
 * the rest of the code reason about backing kinds instead of syscalls.
 *
 * Return contract: every function returns 0 (or a non-negative value where
 * stated) on success and -errno on failure; none of them prints.
 */
#ifndef BALLOON_BLN_PRIM_H
#define BALLOON_BLN_PRIM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* How guest RAM is backed; decides how released pages go back to the host. */
enum bln_backing {
	BLN_BACKING_ANON = 0,  /* private anonymous: MADV_DONTNEED */
	BLN_BACKING_MEMFD = 1, /* shared memfd/shmem: fallocate PUNCH_HOLE */
	BLN_BACKING_FILE = 2,  /* shared file mapping: MADV_REMOVE */
};

/* Operations a test can make fail. */
enum bln_prim_op {
	BLN_PRIM_MEMFD = 0,
	BLN_PRIM_MMAP,
	BLN_PRIM_MUNMAP,
	BLN_PRIM_MADVISE,
	BLN_PRIM_FALLOCATE,
	BLN_PRIM_MPROTECT,
	BLN_PRIM_NR_OPS,
};

/*
 * Create a memfd of @size bytes, sealed against shrinking (F_SEAL_SHRINK) and
 * without CLOEXEC so that it survives fork()/exec().  Returns the fd (>= 0),
 * -EINVAL for a NULL name or size 0, or -errno.
 */
int bln_prim_memfd(const char *name, size_t size);

/*
 * Map @size bytes read/write: anonymous private (MAP_NORESERVE) when @fd < 0,
 * else MAP_SHARED of @fd at offset 0.  On success stores the address in *@out
 * and returns 0; -EINVAL for size 0 or a NULL @out, else -errno.
 */
int bln_prim_map(int fd, size_t size, void **out);

/* Unmap a region from bln_prim_map().  Returns 0 or -errno. */
int bln_prim_unmap(void *addr, size_t size);

/*
 * Release [@off, @off + @len) of a mapping at @base back to the host kernel so
 * that its physical pages are freed; a later access reads zeroes.  @off and
 * @len must be multiples of the host page size.  @fd is the backing fd for
 * MEMFD/FILE backings (ignored for ANON).  ANON uses madvise(MADV_DONTNEED),
 * MEMFD fallocate(PUNCH_HOLE | KEEP_SIZE) (which also drops the pages from
 * every mapping), FILE madvise(MADV_REMOVE).  @len 0 is a no-op.  Returns 0,
 * -EINVAL for misaligned/overflowing ranges or an unknown backing, or -errno.
 */
int bln_prim_release(enum bln_backing backing, int fd, void *base, uint64_t off,
                     uint64_t len);

/*
 * Make [@addr, @addr + @len) of a mapping inaccessible (PROT_NONE): a guard
 * page, e.g. right after guest RAM, so that an access past the end faults
 * (SIGSEGV) deterministically instead of reading whatever is mapped there.
 * Map the guard together with the region (bln_prim_map(fd, size + guard)),
 * then guard its tail; bln_prim_unmap() of the whole removes both.  @addr
 * and @len must be multiples of the host page size.  Returns 0, -EINVAL for
 * a NULL/misaligned @addr or a @len of 0 or not page aligned, or -errno.
 */
int bln_prim_guard(void *addr, size_t len);

/*
 * Ask the kernel to populate [@addr, @addr + @len) ahead of use
 * (MADV_POPULATE_WRITE where available; 0 if the kernel rejects the advice
 * with EINVAL, i.e. before Linux 5.14).  Counts as a BLN_PRIM_MADVISE call.
 */
int bln_prim_populate(void *addr, size_t len);

/*
 * Fault injection for tests: make the @nth next call (1 = the very next) of
 * @op fail with -@err (EIO if @err <= 0), once; the call then has no effect.
 * @nth == 0 clears the fault.  Not thread-safe; meant for single-threaded
 * unit tests.  Argument checks that fail with -EINVAL before reaching the OS
 * are neither counted nor faulted.
 */
void bln_prim_set_fault(enum bln_prim_op op, unsigned nth, int err);

/* How many times @op has been called since start (for tests and benches). */
uint64_t bln_prim_calls(enum bln_prim_op op);

#endif
