/* SPDX-License-Identifier: MIT */
/*
 * swap.h - the guest's block I/O: a swap file with a slot allocator, and the
 * helper that opens the backing files of the guest's "disk" (swap and the
 * page-cache data files).  Internal to balloonvm (used by gmm*.c).
 *
 * Files are created in a directory, unlinked at once (nothing is left behind
 * if the VM dies) and opened with O_DIRECT when the filesystem accepts it, so
 * a guest read really reaches the disk instead of being a memcpy out of the
 * host page cache (like a QEMU disk with cache=none).  If O_DIRECT is refused
 * (tmpfs before Linux 6.6, some FUSE/overlay setups) the file falls back to
 * buffered I/O; gmm_swap_direct() / the gmm stats say which one is in use.
 *
 * Units: a slot is one 4 KiB page; offsets are slot * 4096 bytes.
 * Return contract: 0 (or a documented value) on success, -errno on failure.
 */
#ifndef BALLOONVM_SWAP_H
#define BALLOONVM_SWAP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

/* How the guest's disk files are opened. */
enum gmm_io_mode {
	GMM_IO_AUTO = 0,     /* O_DIRECT if the filesystem supports it */
	GMM_IO_BUFFERED = 1, /* plain buffered I/O (through the host cache) */
	GMM_IO_DIRECT = 2,   /* O_DIRECT or fail with -EINVAL */
};

/*
 * Create an anonymous (already unlinked) file of @bytes bytes in @dir (NULL =
 * "/var/tmp"), opened read-write and close-on-exec, with O_DIRECT according
 * to @mode.  The file is sparse (ftruncate).  Stores whether O_DIRECT is in
 * effect in *@direct.  Returns the fd (>= 0) or -errno.
 */
int gmm_io_open(const char *dir, uint64_t bytes, enum gmm_io_mode mode,
                bool *direct);

/* pread/pwrite of exactly @len bytes, retrying short transfers and EINTR.
 * Returns 0, -errno, or -EIO on an unexpected end of file. */
int gmm_io_pread(int fd, void *buf, uint64_t len, uint64_t off);
int gmm_io_pwritev(int fd, const struct iovec *iov, unsigned n, uint64_t off);

struct gmm_swap;

/* Open a swap area of @bytes bytes (rounded down to whole slots, >= 1) in
 * @dir.  Returns 0, -EINVAL, -ENOMEM or the error of gmm_io_open(). */
int gmm_swap_open(const char *dir, uint64_t bytes, enum gmm_io_mode mode,
                  struct gmm_swap **out);
void gmm_swap_close(struct gmm_swap *s);

/* Allocate one free slot (next-fit, so consecutive allocations tend to be
 * contiguous and can be written with one pwritev).  Returns the slot (>= 0)
 * or -ENOSPC when the swap area is full. */
int64_t gmm_swap_alloc(struct gmm_swap *s);

/* Return @slot to the allocator (ignored if it is not allocated). */
void gmm_swap_free(struct gmm_swap *s, uint64_t slot);

/* Write @n pages (each iov entry is one 4 KiB page, 4 KiB aligned) to the
 * consecutive slots starting at @slot.  Returns 0 or -errno. */
int gmm_swap_write(struct gmm_swap *s, uint64_t slot, const struct iovec *iov,
                   unsigned n);

/* Read slot @slot into the 4 KiB aligned page @page.  Returns 0 or -errno. */
int gmm_swap_read(struct gmm_swap *s, uint64_t slot, void *page);

uint64_t gmm_swap_slots(const struct gmm_swap *s); /* capacity, slots */
uint64_t gmm_swap_used(const struct gmm_swap *s);  /* allocated slots */
bool gmm_swap_direct(const struct gmm_swap *s);    /* O_DIRECT in effect */

#endif
