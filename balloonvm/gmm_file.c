/* SPDX-License-Identifier: MIT */
/*
 * gmm_file.c - the page cache: real files on the guest's disk, read page by
 * page into guest frames.  Cache pages are clean (files are read-only once
 * filled), so reclaim drops them without I/O.
 */
#include "gmm_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#define FILL_CHUNK 64 /* pages per pwrite when filling */

static int file_id_alloc(struct gmm *g, struct gmm_file *f)
{
	unsigned i, cap;
	struct gmm_file **n;

	for (i = 0; i < g->nfiles_cap; i++)
		if (!g->files[i])
			goto found;
	if (g->nfiles_cap >= GMM_MAX_OWNER)
		return -ENOSPC;
	cap = g->nfiles_cap ? g->nfiles_cap * 2 : 4;
	if (cap > GMM_MAX_OWNER)
		cap = GMM_MAX_OWNER;
	n = realloc(g->files, cap * sizeof(*n));
	if (!n)
		return -ENOMEM;
	memset(n + g->nfiles_cap, 0, (cap - g->nfiles_cap) * sizeof(*n));
	g->files = n;
	i = g->nfiles_cap;
	g->nfiles_cap = cap;
found:
	g->files[i] = f;
	f->id = (uint16_t)i;
	return 0;
}

int gmm_file_create(struct gmm *g, uint64_t bytes, struct gmm_file **out)
{
	uint64_t npages = (bytes + GMM_PAGE_SIZE - 1) >> GMM_PAGE_SHIFT;
	struct gmm_file *f;
	int err;

	if (!g || !out || !npages || npages >= GMM_NIL)
		return -EINVAL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->g = g;
	f->npages = npages;
	f->map = calloc(npages, sizeof(*f->map));
	if (!f->map) {
		err = -ENOMEM;
		goto err_free;
	}
	f->fd = gmm_io_open(g->dir, npages << GMM_PAGE_SHIFT, g->cfg.io_mode,
	                    &f->direct);
	if (f->fd < 0) {
		err = f->fd;
		goto err_map;
	}
	err = file_id_alloc(g, f);
	if (err)
		goto err_close;
	g->file_direct = f->direct;
	*out = f;
	return 0;

err_close:
	close(f->fd);
err_map:
	free(f->map);
err_free:
	free(f);
	return err;
}

void gmm_cache_drop(struct gmm *g, uint32_t pfn)
{
	struct gmm_frame *fr = &g->fr[pfn];
	struct gmm_file *f = g->files[fr->owner];

	f->map[fr->idx] = 0;
	f->cached--;
	gmm_list_del(g, GMM_L_CACHE, pfn);
	gmm_frame_to_free(g, pfn, false);
}

void gmm_file_destroy(struct gmm_file *f)
{
	if (!f)
		return;
	for (uint64_t i = 0; i < f->npages && f->cached; i++)
		if (f->map[i])
			gmm_cache_drop(f->g, f->map[i] - 1);
	f->g->files[f->id] = NULL;
	close(f->fd);
	free(f->map);
	free(f);
}

uint64_t gmm_file_word(uint64_t fpage, unsigned w)
{
	uint64_t x = (fpage + 1) * UINT64_C(0x9e3779b97f4a7c15);

	return x ^ ((uint64_t)w << 48) ^ UINT64_C(0x46494c4500000000);
}

int gmm_file_fill(struct gmm_file *f, uint64_t max_pages)
{
	struct iovec iov;
	uint64_t *buf;
	int err = 0;

	if (!f)
		return -EINVAL;
	/* O_DIRECT wants an aligned buffer. */
	if (posix_memalign((void **)&buf, GMM_PAGE_SIZE,
	                   FILL_CHUNK * GMM_PAGE_SIZE))
		return -ENOMEM;
	while (max_pages && f->filled < f->npages) {
		uint64_t n = f->npages - f->filled;

		if (n > FILL_CHUNK)
			n = FILL_CHUNK;
		if (n > max_pages)
			n = max_pages;
		for (uint64_t p = 0; p < n; p++)
			for (unsigned w = 0; w < GMM_PAGE_SIZE / 8; w++)
				buf[p * (GMM_PAGE_SIZE / 8) + w] =
				        gmm_file_word(f->filled + p, w);
		iov.iov_base = buf;
		iov.iov_len = n << GMM_PAGE_SHIFT;
		err = gmm_io_pwritev(f->fd, &iov, 1,
		                     f->filled << GMM_PAGE_SHIFT);
		if (err)
			break;
		f->filled += n;
		max_pages -= n;
	}
	free(buf);
	if (err)
		return err;
	return f->filled < f->npages;
}

int gmm_file_read(struct gmm_file *f, uint64_t fpage, const void **mem)
{
	struct gmm *g;
	struct gmm_frame *fr;
	uint32_t pfn;
	int err;

	if (!f || !mem || fpage >= f->npages)
		return -EINVAL;
	g = f->g;
	if (f->map[fpage]) {
		pfn = f->map[fpage] - 1;
		g->fr[pfn].flags |= GMM_FR_ACCESSED;
		g->c.cache_hits++;
		*mem = gmm_pfn_mem(g, pfn);
		return 0;
	}
	err = gmm_frame_get(g, &pfn);
	if (err)
		return err;
	err = gmm_io_pread(f->fd, gmm_pfn_mem(g, pfn), GMM_PAGE_SIZE,
	                   fpage << GMM_PAGE_SHIFT);
	if (err) {
		g->c.io_errors++;
		gmm_frame_to_free(g, pfn, false);
		return err;
	}
	fr = &g->fr[pfn];
	fr->state = GMM_FRAME_CACHE;
	fr->owner = f->id;
	fr->idx = (uint32_t)fpage;
	fr->flags = GMM_FR_ACCESSED;
	gmm_list_add(g, GMM_L_CACHE, pfn);
	f->map[fpage] = pfn + 1;
	f->cached++;
	g->c.cache_misses++;
	*mem = gmm_pfn_mem(g, pfn);
	return 1;
}

uint64_t gmm_file_pages(const struct gmm_file *f)
{
	return f ? f->npages : 0;
}
uint64_t gmm_file_cached(const struct gmm_file *f)
{
	return f ? f->cached : 0;
}

int gmm_check_files(const struct gmm *g)
{
	for (unsigned i = 0; i < g->nfiles_cap; i++) {
		const struct gmm_file *f = g->files[i];
		uint64_t n = 0;

		if (!f)
			continue;
		if (f->id != i)
			return -EUCLEAN;
		for (uint64_t p = 0; p < f->npages; p++) {
			const struct gmm_frame *fr;

			if (!f->map[p])
				continue;
			if (f->map[p] - 1 >= g->npages)
				return -EUCLEAN;
			fr = &g->fr[f->map[p] - 1];
			if (fr->state != GMM_FRAME_CACHE || fr->owner != i ||
			    fr->idx != p)
				return -EUCLEAN;
			n++;
		}
		if (n != f->cached)
			return -EUCLEAN;
	}
	return 0;
}
