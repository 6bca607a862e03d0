/* SPDX-License-Identifier: MIT */
/*
 * test_gmm_rig.h - a guest for the gmm/workload unit tests: guest RAM from
 * bln_prim_memfd() + bln_prim_map() (as balloonvm does), a private temp dir
 * for the swap and data files, and a gmm over them.  Header-only; include
 * after <cmocka.h>.
 */
#ifndef TEST_GMM_RIG_H
#define TEST_GMM_RIG_H

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "balloon/bln_prim.h"
#include "gmm.h"

#define MIB (1024ull * 1024ull)

struct rig {
	int fd;
	void *ram;
	uint64_t bytes;
	char dir[64];
	struct gmm *g;
};

/* Guest RAM of @ram_mib MiB (garbage-filled, so zeroing is tested), swap
 * of @swap_mib MiB (0 = none); @tweak may adjust the cfg before creation. */
static inline void rig_up(struct rig *r, unsigned ram_mib, unsigned swap_mib,
                          void (*tweak)(struct gmm_cfg *))
{
	struct gmm_cfg cfg = {0};

	memset(r, 0, sizeof(*r));
	r->bytes = ram_mib * MIB;
	r->fd = bln_prim_memfd("gmm-test", r->bytes);
	assert_true(r->fd >= 0);
	assert_int_equal(bln_prim_map(r->fd, r->bytes, &r->ram), 0);
	memset(r->ram, 0xa5, r->bytes);
	strcpy(r->dir, "/var/tmp/gmm-test-XXXXXX");
	assert_non_null(mkdtemp(r->dir));
	cfg.ram = r->ram;
	cfg.npages = r->bytes / GMM_PAGE_SIZE;
	cfg.reserved = 16;
	cfg.dir = r->dir;
	cfg.swap_bytes = swap_mib * MIB;
	cfg.min_free_pages = 64; /* low 80, high 96 */
	cfg.floor_pages = 256;
	if (tweak)
		tweak(&cfg);
	assert_int_equal(gmm_create(&cfg, &r->g), 0);
}

static inline void rig_down(struct rig *r)
{
	assert_int_equal(gmm_check(r->g), 0);
	gmm_destroy(r->g);
	assert_int_equal(bln_prim_unmap(r->ram, r->bytes), 0);
	close(r->fd);
	assert_int_equal(rmdir(r->dir), 0); /* files were unlinked at once */
}

static inline struct gmm_stats rig_stats(struct rig *r)
{
	struct gmm_stats s;

	gmm_stats(r->g, &s);
	return s;
}

/* PFN of the frame behind a pointer returned by gmm_touch/gmm_file_read. */
static inline uint64_t rig_pfn(struct rig *r, const void *mem)
{
	return (uint64_t)((const uint8_t *)mem - (const uint8_t *)r->ram) /
	       GMM_PAGE_SIZE;
}

#endif
