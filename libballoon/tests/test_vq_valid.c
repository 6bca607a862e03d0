/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the split virtqueue's distrust of its peer: every device-side
 * validation rule (corrupt descriptors written straight into guest memory,
 * checked for the exact error, the error count and that the queue still
 * works afterwards), the sticky -EIO cases, and the driver's checks of what
 * the device returns in the used ring.
 */
#include <errno.h>

#include "vq_rig.h"

/* Where a descriptor in a test case points. */
enum where {
	BUF,   /* valid data slot */
	TBL,   /* the indirect table below, in the data area */
	END4,  /* 4 bytes before the end of guest memory */
	END16, /* 16 bytes before the end */
	END,   /* exactly the end */
	OVF,   /* UINT64_MAX - 3: addr + len wraps */
};

struct dspec {
	enum where at;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct vcase {
	const char *name;
	uint64_t feat;
	unsigned max_segs;
	int want;          /* pop result */
	unsigned n_segs;   /* when want == 1 */
	struct dspec d[8]; /* ring descriptors 0..nd-1 */
	unsigned nd;
	struct dspec t[4]; /* indirect table at TBL, 0..nt-1 */
	unsigned nt;
};

#define N VQ_DESC_F_NEXT
#define W VQ_DESC_F_WRITE
#define I VQ_DESC_F_INDIRECT

static const struct vcase cases[] = {
        {.name = "next out of range",
         .feat = F_IND,
         .max_segs = 8,
         .want = -EINVAL,
         .d = {{BUF, 8, N, 8}},
         .nd = 1},
        {.name = "self loop",
         .feat = F_IND,
         .max_segs = 8,
         .want = -EINVAL,
         .d = {{BUF, 8, N, 0}},
         .nd = 1},
        {.name = "3-cycle",
         .feat = F_IND,
         .max_segs = 8,
         .want = -EINVAL,
         .d = {{BUF, 8, N, 1}, {BUF, 8, N, 2}, {BUF, 8, N, 0}},
         .nd = 3},
        {.name = "buffer past the end",
         .feat = F_IND,
         .max_segs = 8,
         .want = -EINVAL,
         .d = {{END4, 8, 0, 0}},
         .nd = 1},
        {.name = "addr + len wraps",
         .feat = F_IND,
         .max_segs = 8,
         .want = -EINVAL,
         .d = {{OVF, 16, 0, 0}},
         .nd = 1},
        {.name = "one byte at the end",
         .feat = F_IND,
         .max_segs = 8,
         .want = -EINVAL,
         .d = {{END, 1, 0, 0}},
         .nd = 1},
        {.name = "readable after writable",
         .feat = F_IND,
         .max_segs = 8,
         .want = -EINVAL,
         .d = {{BUF, 8, W | N, 1}, {BUF, 8, 0, 0}},
         .nd = 2},
        {.name = "indirect not negotiated",
         .feat = 0,
         .max_segs = 8,
         .want = -EINVAL,
         .d = {{TBL, 16, I, 0}},
         .nd = 1,
         .t = {{BUF, 8, 0, 0}},
         .nt = 1},
        {.name = "indirect with next",
         .feat = F_IND,
         .max_segs = 8,
         .want = -EINVAL,
         .d = {{TBL, 16, I | N, 1}, {BUF, 8, 0, 0}},
         .nd = 2,
         .t = {{BUF, 8, 0, 0}},
         .nt = 1},
        {.name = "indirect len 0",
         .feat = F_IND,
         .max_segs = 8,
         .want = -EINVAL,
         .d = {{TBL, 0, I, 0}},
         .nd = 1},
        {.name = "indirect len 17",
         .feat = F_IND,
         .max_segs = 8,
         .want = -EINVAL,
         .d = {{TBL, 17, I, 0}},
         .nd = 1},
        {.name = "indirect len 8",
         .feat = F_IND,
         .max_segs = 8,
         .want = -EINVAL,
         .d = {{TBL, 8, I, 0}},
         .nd = 1},
        {.name = "indirect table past the end",
         .feat = F_IND,
         .max_segs = 8,
         .want = -EINVAL,
         .d = {{END16, 32, I, 0}},
         .nd = 1},
        {.name = "indirect table wraps",
         .feat = F_IND,
         .max_segs = 8,
         .want = -EINVAL,
         .d = {{OVF, 32, I, 0}},
         .nd = 1},
        {.name = "nested indirect",
         .feat = F_IND,
         .max_segs = 8,
         .want = -EINVAL,
         .d = {{TBL, 32, I, 0}},
         .nd = 1,
         .t = {{TBL, 16, I, 0}, {BUF, 8, 0, 0}},
         .nt = 2},
        {.name = "indirect loop",
         .feat = F_IND,
         .max_segs = 8,
         .want = -EINVAL,
         .d = {{TBL, 32, I, 0}},
         .nd = 1,
         .t = {{BUF, 8, N, 1}, {BUF, 8, N, 0}},
         .nt = 2},
        {.name = "indirect next past the table",
         .feat = F_IND,
         .max_segs = 8,
         .want = -EINVAL,
         .d = {{TBL, 32, I, 0}},
         .nd = 1,
         .t = {{BUF, 8, N, 2}, {BUF, 8, 0, 0}},
         .nt = 2},
        {.name = "indirect buffer past the end",
         .feat = F_IND,
         .max_segs = 8,
         .want = -EINVAL,
         .d = {{TBL, 16, I, 0}},
         .nd = 1,
         .t = {{END4, 8, 0, 0}},
         .nt = 1},
        {.name = "readable after writable via indirect",
         .feat = F_IND,
         .max_segs = 8,
         .want = -EINVAL,
         .d = {{BUF, 8, W | N, 1}, {TBL, 16, I, 0}},
         .nd = 2,
         .t = {{BUF, 8, 0, 0}},
         .nt = 1},
        {.name = "more than max_segs",
         .feat = F_IND,
         .max_segs = 2,
         .want = -E2BIG,
         .d = {{BUF, 8, N, 1}, {BUF, 8, N, 2}, {BUF, 8, 0, 0}},
         .nd = 3},
        {.name = "more than max_segs via indirect",
         .feat = F_IND,
         .max_segs = 3,
         .want = -E2BIG,
         .d = {{TBL, 64, I, 0}},
         .nd = 1,
         .t = {{BUF, 8, N, 1}, {BUF, 8, N, 2}, {BUF, 8, N, 3}, {BUF, 8, 0, 0}},
         .nt = 4},
        /* Positive controls: the edges of each rule are accepted. */
        {.name = "exactly max_segs",
         .feat = F_IND,
         .max_segs = 3,
         .want = 1,
         .n_segs = 3,
         .d = {{BUF, 8, N, 1}, {BUF, 8, N, 2}, {BUF, 8, 0, 0}},
         .nd = 3},
        {.name = "chain as long as the ring",
         .feat = 0,
         .max_segs = 8,
         .want = 1,
         .n_segs = 8,
         .d = {{BUF, 8, N, 1},
               {BUF, 8, N, 2},
               {BUF, 8, N, 3},
               {BUF, 8, N, 4},
               {BUF, 8, N, 5},
               {BUF, 8, N, 6},
               {BUF, 8, N, 7},
               {BUF, 8, W, 0}},
         .nd = 8},
        {.name = "empty buffer at the end",
         .feat = F_IND,
         .max_segs = 8,
         .want = 1,
         .n_segs = 1,
         .d = {{END, 0, 0, 0}},
         .nd = 1},
        {.name = "last 4 bytes",
         .feat = F_IND,
         .max_segs = 8,
         .want = 1,
         .n_segs = 1,
         .d = {{END4, 4, W, 0}},
         .nd = 1},
        {.name = "direct then indirect",
         .feat = F_IND,
         .max_segs = 8,
         .want = 1,
         .n_segs = 3,
         .d = {{BUF, 8, N, 1}, {TBL, 32, I, 0}},
         .nd = 2,
         .t = {{BUF, 8, W | N, 1}, {BUF, 8, W, 0}},
         .nt = 2},
        {.name = "write flag on the indirect descriptor ignored",
         .feat = F_IND,
         .max_segs = 8,
         .want = 1,
         .n_segs = 1,
         .d = {{TBL, 16, I | W, 0}},
         .nd = 1,
         .t = {{BUF, 8, 0, 0}},
         .nt = 1},
};

static uint64_t where_gpa(const struct rig *r, enum where at)
{
	switch (at) {
	case BUF:
		return r->data_gpa;
	case TBL:
		return r->data_gpa + 256;
	case END4:
		return r->vm.size - 4;
	case END16:
		return r->vm.size - 16;
	case END:
		return r->vm.size;
	case OVF:
		return UINT64_MAX - 3;
	}
	return 0;
}

static void run_case(const struct vcase *c)
{
	struct vq_seg segs[8];
	struct vq_elem e;
	struct rig r;
	unsigned i;
	int rc;

	print_message("case: %s\n", c->name);
	rig_init(&r, 8, F_EVENT | c->feat, 0);
	assert_true(r.vm.size - r.data_gpa >= 512);
	for (i = 0; i < c->nd; i++)
		wr_desc(&r, r.l.desc_gpa, i, where_gpa(&r, c->d[i].at),
		        c->d[i].len, c->d[i].flags, c->d[i].next);
	for (i = 0; i < c->nt; i++)
		wr_desc(&r, where_gpa(&r, TBL), i, where_gpa(&r, c->t[i].at),
		        c->t[i].len, c->t[i].flags, c->t[i].next);
	raw_publish(&r, 0);
	e.head = 0xffff;
	rc = vq_device_pop(&r.dev, &e, segs, c->max_segs);
	assert_int_equal(rc, c->want);
	assert_int_equal(e.head, 0);
	assert_int_equal(r.dev.errors, c->want < 0);
	assert_int_equal(e.n_segs, c->want == 1 ? c->n_segs : 0);
	assert_int_equal(e.n_out + e.n_in, e.n_segs);
	for (i = 0; i < e.n_segs; i++)
		assert_ptr_equal(segs[i].host, r.mem + segs[i].gpa);

	/* The bad request goes back with len 0; the queue carries on. */
	assert_int_equal(vq_device_push(&r.dev, e.head, 0), 0);
	assert_int_equal(vq_device_publish(&r.dev), 1);
	assert_int_equal(rd16(&r, USED_IDX(&r)), 1);
	assert_int_equal(rd16(&r, r.l.used_gpa + 4), 0); /* id */
	wr_desc(&r, r.l.desc_gpa, 0, r.data_gpa, 8, 0, 0);
	raw_publish(&r, 0);
	assert_int_equal(vq_device_pop(&r.dev, &e, segs, 8), 1);
	assert_int_equal(e.n_segs, 1);
	assert_int_equal(vq_device_pop(&r.dev, &e, segs, 8), 0);
	rig_fini(&r);
}

static void test_descriptor_rules(void **state)
{
	unsigned i;
	(void)state;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_case(&cases[i]);
}

/* A corrupt avail->idx or head index makes the queue unusable (sticky). */
static void test_device_eio(void **state)
{
	struct vq_seg seg;
	struct vq_elem e;
	struct rig r;
	unsigned k;
	(void)state;

	rig_init(&r, 8, 0, 0);
	wr16(&r, AVAIL_RING(&r, 0), 8); /* head == ring size */
	wr16(&r, AVAIL_IDX(&r), 1);
	assert_int_equal(vq_device_pending(&r.dev), 1);
	assert_int_equal(vq_device_pop(&r.dev, &e, &seg, 1), -EIO);
	assert_int_equal(vq_device_pop(&r.dev, &e, &seg, 1), -EIO);
	assert_int_equal(r.dev.errors, 2);
	assert_int_equal(vq_device_push(&r.dev, 0, 0), -EINVAL);
	rig_fini(&r);

	/* avail->idx exactly ring-size ahead is fine, one more is not. */
	rig_init(&r, 8, 0, 0);
	for (k = 0; k < 8; k++) {
		wr_desc(&r, r.l.desc_gpa, k, slot(&r, k), 8, 0, 0);
		raw_publish(&r, (uint16_t)k);
	}
	assert_int_equal(vq_device_pending(&r.dev), 8);
	for (k = 0; k < 8; k++)
		assert_int_equal(vq_device_pop(&r.dev, &e, &seg, 1), 1);
	wr16(&r, AVAIL_IDX(&r), 8 + 8);
	assert_int_equal(vq_device_pending(&r.dev), 8);
	wr16(&r, AVAIL_IDX(&r), 8 + 9);
	assert_int_equal(vq_device_pending(&r.dev), 0);
	assert_int_equal(vq_device_pop(&r.dev, &e, &seg, 1), -EIO);
	assert_int_equal(r.dev.errors, 1);
	rig_fini(&r);

	/* Far behind (idx moved backwards) is just as corrupt. */
	rig_init(&r, 8, 0, 0);
	wr16(&r, AVAIL_IDX(&r), 0xffff);
	assert_int_equal(vq_device_pop(&r.dev, &e, &seg, 1), -EIO);
	rig_fini(&r);
}

static void test_device_push_checks(void **state)
{
	struct vq_seg seg;
	struct vq_elem e;
	struct rig r;
	(void)state;

	rig_init(&r, 8, 0, 0);
	assert_int_equal(vq_device_push(&r.dev, 0, 0), -EINVAL);
	add_one(&r, 0);
	vq_driver_kick_prepare(&r.drv);
	assert_int_equal(vq_device_pop(&r.dev, &e, &seg, 1), 1);
	assert_int_equal(vq_device_push(&r.dev, 8, 0), -EINVAL);
	assert_int_equal(vq_device_push(&r.dev, e.head, 0), 0);
	assert_int_equal(vq_device_push(&r.dev, e.head, 0), -EINVAL);
	rig_fini(&r);
}

/* The driver checks every used entry against what it has in flight. */
static void used_case(uint32_t id, uint16_t idx, unsigned ok_before)
{
	struct rig r;
	void *tok;
	unsigned k;

	rig_init(&r, 8, F_EVENT, 0);
	add_one(&r, 0);
	add_one(&r, 1);
	vq_driver_kick_prepare(&r.drv);
	for (k = 0; k < ok_before; k++)
		wr32(&r, USED_ELEM(&r, k), k);
	wr32(&r, USED_ELEM(&r, ok_before), id);
	wr16(&r, USED_IDX(&r), idx);
	for (k = 0; k < ok_before; k++) {
		assert_int_equal(vq_driver_get_used(&r.drv, &tok, NULL), 0);
		assert_ptr_equal(tok, TOKEN(k));
	}
	assert_int_equal(vq_driver_get_used(&r.drv, &tok, NULL), -EIO);
	assert_int_equal(vq_driver_get_used(&r.drv, &tok, NULL), -EIO);
	assert_int_equal(vq_driver_num_free(&r.drv), 6 + ok_before);
	rig_fini(&r);
}

static void test_driver_used_checks(void **state)
{
	(void)state;
	used_case(8, 1, 0);       /* id out of range */
	used_case(0x10000, 1, 0); /* id beyond 16 bits */
	used_case(5, 1, 0);       /* id not in flight */
	used_case(0, 2, 1);       /* the same id twice */
	used_case(1, 9, 0);       /* used->idx more than the ring ahead */
	used_case(1, 0xffff, 0);  /* ... or behind */
}

static void test_driver_add_checks(void **state)
{
	struct vq_buf b[9];
	struct rig r;
	unsigned j;
	(void)state;

	rig_init(&r, 4, 0, 0);
	for (j = 0; j < 9; j++)
		b[j] = (struct vq_buf){slot(&r, 0), 8};
	assert_int_equal(vq_driver_add(&r.drv, b, 0, b, 0, NULL), -EINVAL);
	assert_int_equal(vq_driver_add(&r.drv, NULL, 1, NULL, 0, NULL),
	                 -EINVAL);
	assert_int_equal(vq_driver_add(&r.drv, b, 5, NULL, 0, NULL), -EINVAL);
	b[0].gpa = r.vm.size - 4;
	assert_int_equal(vq_driver_add(&r.drv, b, 1, NULL, 0, NULL), -EINVAL);
	b[0].gpa = UINT64_MAX - 3;
	assert_int_equal(vq_driver_add(&r.drv, NULL, 0, b, 1, NULL), -EINVAL);
	assert_int_equal(vq_driver_num_free(&r.drv), 4);
	assert_int_equal(rd16(&r, AVAIL_IDX(&r)), 0);
	assert_int_equal(vq_driver_kick_prepare(&r.drv), 0);
	rig_fini(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_descriptor_rules),
	        cmocka_unit_test(test_device_eio),
	        cmocka_unit_test(test_device_push_checks),
	        cmocka_unit_test(test_driver_used_checks),
	        cmocka_unit_test(test_driver_add_checks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
