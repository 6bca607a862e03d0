/* SPDX-License-Identifier: MIT */
/*
 * swap.c - the guest's disk files: O_DIRECT-when-possible anonymous files and
 * a swap area with a next-fit slot bitmap.
 */
#include "swap.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SLOT_SHIFT 12
#define SLOT_SIZE  (UINT64_C(1) << SLOT_SHIFT)

struct gmm_swap {
	int fd;
	bool direct;
	uint64_t nslots;
	uint64_t used;
	uint64_t cursor; /* next-fit search start, slot */
	uint64_t *bits;  /* 1 = allocated */
};

int gmm_io_open(const char *dir, uint64_t bytes, enum gmm_io_mode mode,
                bool *direct)
{
	char path[PATH_MAX];
	int fd, fl, err;

	if (!bytes || bytes > (uint64_t)INT64_MAX || (unsigned)mode > 2)
		return -EINVAL;
	if (snprintf(path, sizeof(path), "%s/balloonvm-disk-XXXXXX",
	             dir ? dir : "/var/tmp") >= (int)sizeof(path))
		return -ENAMETOOLONG;
	fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	unlink(path); /* anonymous from now on */
	if (ftruncate(fd, (off_t)bytes) < 0)
		goto err_close;
	*direct = false;
	if (mode == GMM_IO_BUFFERED)
		return fd;
	fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		goto err_close;
	/* The kernel refuses O_DIRECT here (EINVAL) when the fs cannot do it.
	 */
	if (fcntl(fd, F_SETFL, fl | O_DIRECT) == 0) {
		*direct = true;
		return fd;
	}
	if (errno == EINVAL && mode == GMM_IO_AUTO)
		return fd;
err_close:
	err = -errno;
	close(fd);
	return err;
}

int gmm_io_pread(int fd, void *buf, uint64_t len, uint64_t off)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t r = pread(fd, p, len, (off_t)off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -EIO;
		p += r;
		off += (uint64_t)r;
		len -= (uint64_t)r;
	}
	return 0;
}

int gmm_io_pwritev(int fd, const struct iovec *iov, unsigned n, uint64_t off)
{
	struct iovec v[64];
	unsigned i = 0;

	while (i < n) {
		unsigned k = n - i < 64 ? n - i : 64;
		ssize_t w;
		size_t want = 0;

		memcpy(v, iov + i, k * sizeof(*v));
		for (unsigned j = 0; j < k; j++)
			want += v[j].iov_len;
		w = pwritev(fd, v, (int)k, (off_t)off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		if ((size_t)w != want) /* short write: disk full or similar */
			return -EIO;
		off += want;
		i += k;
	}
	return 0;
}

int gmm_swap_open(const char *dir, uint64_t bytes, enum gmm_io_mode mode,
                  struct gmm_swap **out)
{
	struct gmm_swap *s;
	uint64_t nslots = bytes >> SLOT_SHIFT;
	int err;

	if (!out || !nslots || nslots > (UINT64_C(1) << 40))
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->nslots = nslots;
	s->bits = calloc((nslots + 63) / 64, sizeof(uint64_t));
	if (!s->bits) {
		err = -ENOMEM;
		goto err_free;
	}
	s->fd = gmm_io_open(dir, nslots << SLOT_SHIFT, mode, &s->direct);
	if (s->fd < 0) {
		err = s->fd;
		goto err_bits;
	}
	*out = s;
	return 0;

err_bits:
	free(s->bits);
err_free:
	free(s);
	return err;
}

void gmm_swap_close(struct gmm_swap *s)
{
	if (!s)
		return;
	close(s->fd);
	free(s->bits);
	free(s);
}

int64_t gmm_swap_alloc(struct gmm_swap *s)
{
	uint64_t words = (s->nslots + 63) / 64, w = s->cursor / 64;

	if (s->used >= s->nslots)
		return -ENOSPC;
	/* Scan whole words from the cursor's word, wrapping once. */
	for (uint64_t i = 0; i <= words; i++, w = (w + 1) % words) {
		uint64_t free_bits = ~s->bits[w];

		if (i == 0) /* first word: only bits at or after the cursor */
			free_bits &= ~UINT64_C(0) << (s->cursor % 64);
		while (free_bits) {
			uint64_t slot =
			        w * 64 + (uint64_t)__builtin_ctzll(free_bits);

			if (slot >= s->nslots)
				break;
			s->bits[w] |= UINT64_C(1) << (slot % 64);
			s->used++;
			s->cursor = slot + 1 == s->nslots ? 0 : slot + 1;
			return (int64_t)slot;
		}
	}
	return -ENOSPC; /* not reached while used < nslots */
}

void gmm_swap_free(struct gmm_swap *s, uint64_t slot)
{
	uint64_t bit = UINT64_C(1) << (slot % 64);

	if (slot >= s->nslots || !(s->bits[slot / 64] & bit))
		return;
	s->bits[slot / 64] &= ~bit;
	s->used--;
}

int gmm_swap_write(struct gmm_swap *s, uint64_t slot, const struct iovec *iov,
                   unsigned n)
{
	if (slot >= s->nslots || n > s->nslots - slot)
		return -EINVAL;
	return gmm_io_pwritev(s->fd, iov, n, slot << SLOT_SHIFT);
}

int gmm_swap_read(struct gmm_swap *s, uint64_t slot, void *page)
{
	if (slot >= s->nslots)
		return -EINVAL;
	return gmm_io_pread(s->fd, page, SLOT_SIZE, slot << SLOT_SHIFT);
}

uint64_t gmm_swap_slots(const struct gmm_swap *s)
{
	return s ? s->nslots : 0;
}
uint64_t gmm_swap_used(const struct gmm_swap *s)
{
	return s ? s->used : 0;
}
bool gmm_swap_direct(const struct gmm_swap *s)
{
	return s && s->direct;
}
