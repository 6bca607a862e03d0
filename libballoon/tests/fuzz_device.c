/* SPDX-License-Identifier: MIT */
/*
 * fuzz_device - libFuzzer target for the balloon device.  Each input sets up
 * a fresh device over 1 MiB of anonymous guest RAM (followed by a PROT_NONE
 * guard page, so a read past its end faults), negotiates features taken
 * from the input, and then plays a script of operations read from the input:
 * well-formed chains whose buffer contents (PFN arrays, stats, reported
 * ranges) are arbitrary bytes, raw bytes written straight over the rings
 * (descriptors, avail ring, indices), stats requests, new targets, status
 * writes and resets.  The device must never crash, leak, or trip a
 * sanitizer, whatever the guest writes.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "balloon/bln_device.h"
#include "balloon/bln_prim.h"

#define RAM      (1u << 20)
#define DATA_END (512u << 10) /* data pages below, rings etc. above */
#define RINGS    DATA_END     /* + q * 16 KiB */
#define INDIRECT (640u << 10) /* + q * 4 KiB */
#define BUFS     (768u << 10)
#define QSIZE    64

struct in {
	const uint8_t *p;
	size_t n;
};

static uint8_t take(struct in *in)
{
	if (!in->n)
		return 0;
	in->n--;
	return *in->p++;
}

static uint32_t take32(struct in *in)
{
	uint32_t v = 0;

	for (int i = 0; i < 4; i++)
		v = v << 8 | take(in);
	return v;
}

/* Copy up to @len input bytes into guest memory at @gpa. */
static void take_bytes(struct in *in, uint8_t *ram, uint64_t gpa, size_t len)
{
	if (len > in->n)
		len = in->n;
	memcpy(ram + gpa, in->p, len);
	in->p += len;
	in->n -= len;
}

struct rig {
	uint8_t *ram;
	struct bln_transport t;
	struct bln_device *dev;
	struct vq_driver vq[BLN_VQ_COUNT];
	bool raw[BLN_VQ_COUNT]; /* ring scribbled on: driver half unusable */
	uint64_t buf_next;      /* next request buffer, offset in BUFS */
	uint64_t features;
};

static void set_status(struct rig *r, uint32_t bits)
{
	if (!bits) {
		r->t.regs->reset_gen++;
		r->t.regs->status = 0;
	}
	r->t.regs->status |= bln_to_le32(bits);
	r->t.regs->status_gen++;
}

/* The queues the features call for (all five for raw feature words, so
 * that refused setups are exercised too). */
static bool wanted(const struct rig *r, unsigned q, bool all)
{
	if (all || q <= BLN_VQ_DEFLATE)
		return true;
	if (q == BLN_VQ_STATS)
		return r->features & BLN_FEATURE(VIRTIO_BALLOON_F_STATS_VQ);
	if (q == BLN_VQ_REPORTING)
		return r->features &
		       BLN_FEATURE(VIRTIO_BALLOON_F_PAGE_REPORTING);
	return false;
}

static void setup_queues(struct rig *r, bool all)
{
	for (unsigned q = 0; q < BLN_VQ_COUNT; q++) {
		struct vq_layout l;
		uint64_t gpa = RINGS + q * 16384u;

		if (!wanted(r, q, all))
			continue;
		memset(r->ram + gpa, 0, 16384);
		if (vq_layout_init(&l, gpa, QSIZE) ||
		    vq_driver_init(&r->vq[q], &(struct vq_mem){r->ram, RAM}, &l,
		                   r->features, INDIRECT + q * 4096u, 4))
			continue;
		r->t.regs->q[q].desc = bln_to_le64(l.desc_gpa);
		r->t.regs->q[q].avail = bln_to_le64(l.avail_gpa);
		r->t.regs->q[q].used = bln_to_le64(l.used_gpa);
		r->t.regs->q[q].size = bln_to_le16(QSIZE);
		r->t.regs->q[q].enabled = bln_to_le16(1);
	}
}

/* A well-formed chain of up to 4 buffers with fuzzed contents. */
static void op_request(struct rig *r, unsigned q, struct in *in)
{
	struct vq_buf b[4];
	uint8_t shape = take(in);
	unsigned n = 1 + (shape & 3), n_out = (shape >> 2) % (n + 1);
	uint64_t gpa;

	/* Requests batched before the device runs need buffers of their own:
	 * up to 4 KiB each, round robin over the buffer area. */
	if (r->buf_next + 4096 > RAM - BUFS)
		r->buf_next = 0;
	gpa = BUFS + r->buf_next;
	r->buf_next += 4096;

	if (r->raw[q])
		return;
	for (unsigned i = 0; i < n; i++) {
		if (shape & 0x80) { /* a raw range (reporting-style) */
			b[i].gpa = take32(in) % RAM;
			b[i].len = take32(in) % (RAM - (uint32_t)b[i].gpa + 1);
			continue;
		}
		b[i].gpa = gpa;
		b[i].len = take(in);
		b[i].len |= (uint32_t)(take(in) & 3) << 8;
		take_bytes(in, r->ram, gpa, b[i].len);
		gpa += b[i].len;
	}
	if (vq_driver_add(&r->vq[q], b, n_out, b + n_out, n - n_out, r) == 0)
		vq_driver_kick_prepare(&r->vq[q]);
}

/* Raw bytes over a queue's ring: descriptors, avail ring and index. */
static void op_raw(struct rig *r, unsigned q, struct in *in)
{
	uint32_t off = (uint32_t)take(in) << 6;
	uint32_t len;

	off |= take(in);
	len = take(in) % 64;

	off %= 16384 - 64;
	r->raw[q] = true;
	take_bytes(in, r->ram, RINGS + q * 16384u + off, len);
}

static void reap(struct rig *r)
{
	for (unsigned q = 0; q < BLN_VQ_COUNT; q++)
		while (!r->raw[q] && r->vq[q].tokens &&
		       vq_driver_get_used(&r->vq[q], NULL, NULL) == 0)
			;
}

static void play(struct rig *r, struct in *in)
{
	while (in->n) {
		uint8_t op = take(in);
		unsigned q = (op >> 4) % BLN_VQ_COUNT;

		switch (op & 7) {
		case 0:
		case 1:
		case 2:
			op_request(r, q, in);
			break;
		case 3:
			op_raw(r, q, in);
			break;
		case 4:
			bln_device_request_stats(r->dev);
			break;
		case 5:
			bln_device_set_target(r->dev, take32(in) % 1024);
			break;
		case 6:
			set_status(r, take(in) & 0x8f);
			break;
		default:
			if (take(in) & 1)
				bln_device_reset(r->dev);
			else
				r->t.regs->q[q].size = bln_to_le16(take(in));
			break;
		}
		if (op & 8) /* batch: several requests before the device runs */
			continue;
		bln_device_process(r->dev);
		reap(r);
	}
	bln_device_process(r->dev);
}

/* Mostly a subset of the offer (so the queues come up); 0xff: any bits
 * at all, to exercise refusals. */
static uint64_t pick_features(struct in *in)
{
	static const unsigned bits[] = {
	        VIRTIO_BALLOON_F_MUST_TELL_HOST,
	        VIRTIO_BALLOON_F_STATS_VQ,
	        VIRTIO_BALLOON_F_DEFLATE_ON_OOM,
	        VIRTIO_BALLOON_F_PAGE_REPORTING,
	        VIRTIO_F_RING_EVENT_IDX,
	        VIRTIO_F_RING_INDIRECT_DESC,
	};
	uint8_t fb = take(in);
	uint64_t f = BLN_FEATURE(VIRTIO_F_VERSION_1);

	if (fb == 0xff) {
		f = (uint64_t)take32(in) << 32;
		return f | take32(in);
	}
	for (unsigned i = 0; i < sizeof(bits) / sizeof(bits[0]); i++)
		if (fb & (1u << i))
			f |= BLN_FEATURE(bits[i]);
	return f;
}

/*
 * Guest RAM is an mmap, which ASan does not watch: a device read past its
 * end would go unnoticed if another mapping happened to follow.  A PROT_NONE
 * guard page right after it makes such a read fault at once.  Made once and
 * kept for the process (every input reuses it).
 */
static uint8_t *guest_ram(void)
{
	static uint8_t *ram;
	long ps = sysconf(_SC_PAGESIZE);
	void *p;

	if (ram)
		return ram;
	if (ps <= 0 || RAM % (unsigned long)ps ||
	    bln_prim_map(-1, RAM + (size_t)ps, &p))
		return NULL;
	if (bln_prim_guard((uint8_t *)p + RAM, (size_t)ps)) {
		bln_prim_unmap(p, RAM + (size_t)ps);
		return NULL;
	}
	ram = p;
	return ram;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *ram = guest_ram();
	struct in in = {data, size};
	struct bln_device_cfg cfg = {.backing = BLN_BACKING_ANON,
	                             .ram_fd = -1,
	                             .host_features = BLN_DEVICE_FEATURES,
	                             .queue_max = QSIZE,
	                             .max_pfns_per_req = 256};
	struct rig r = {0};

	if (!ram)
		__builtin_trap(); /* no guest RAM: nothing can be fuzzed */
	r.ram = ram;
	if (bln_transport_create(&r.t))
		return 0;
	cfg.ram = (struct vq_mem){ram, RAM};
	cfg.t = &r.t;
	if (bln_device_create(&cfg, &r.dev))
		goto out_transport;
	r.features = pick_features(&in);
	set_status(&r, BLN_STATUS_ACKNOWLEDGE | BLN_STATUS_DRIVER);
	r.t.regs->driver_features = bln_to_le64(r.features);
	set_status(&r, BLN_STATUS_FEATURES_OK);
	setup_queues(&r, size && data[0] == 0xff);
	set_status(&r, BLN_STATUS_DRIVER_OK);
	bln_device_process(r.dev);
	play(&r, &in);
	for (unsigned q = 0; q < BLN_VQ_COUNT; q++)
		vq_driver_destroy(&r.vq[q]);
	bln_device_destroy(r.dev);
out_transport:
	bln_transport_destroy(&r.t);
	return 0;
}
