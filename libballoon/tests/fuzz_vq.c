/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the split virtqueue.  The input is a 4-byte header
 * followed by an image of guest memory holding a ring at GPA 0:
 *   byte 0: log2 of the ring size (low 3 bits: 1..128 descriptors)
 *   byte 1: bit 0 EVENT_IDX, bit 1 INDIRECT_DESC, bit 2 also fuzz the driver
 *   byte 2: max_segs for vq_device_pop (0..255)
 *   byte 3: requests the driver queues before reading the fuzzed used ring
 *   rest:   guest memory (zero-padded up to the ring's size)
 * The device half pops, touches every segment, pushes and publishes until the
 * ring is empty or declared corrupt; the driver half reads whatever used ring
 * the input holds.  Guest memory is an exact-size heap block, so any access
 * outside it is caught by ASan.  Nothing here may crash, hang or leak.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "balloon/virtio_balloon.h"
#include "balloon/vq.h"

#define HDR 4

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t *mem_image(const uint8_t *data, size_t size, size_t mem_size)
{
	uint8_t *mem = calloc(1, mem_size);

	if (mem)
		memcpy(mem, data + HDR, size - HDR);
	return mem;
}

/* Read the first and last byte of every segment, write writable ones. */
static uint32_t touch(const struct vq_elem *e, const struct vq_seg *segs)
{
	volatile uint8_t sink = 0;
	uint32_t written = 0;
	unsigned i;

	for (i = 0; i < e->n_segs; i++) {
		uint8_t *p = segs[i].host;

		if (!segs[i].len)
			continue;
		sink ^= p[0] ^ p[segs[i].len - 1];
		if (segs[i].write) {
			p[0] = 0xa5;
			p[segs[i].len - 1] = 0x5a;
			written += segs[i].len;
		}
	}
	(void)sink;
	return written;
}

static void fuzz_device(const struct vq_mem *vm, const struct vq_layout *l,
                        uint64_t feat, unsigned max_segs)
{
	struct vq_seg *segs = malloc(max_segs * sizeof(*segs) + !max_segs);
	struct vq_device dev;
	struct vq_elem e;
	unsigned i;
	int rc;

	if (!segs || vq_device_init(&dev, vm, l, feat))
		goto out;
	/* avail->idx only moves if a writable segment overlaps it: bounded. */
	for (i = 0; i <= 2u * l->size; i++) {
		rc = vq_device_pop(&dev, &e, segs, max_segs);
		if (rc == 0 || rc == -EIO)
			break;
		if (vq_device_push(&dev, e.head, rc == 1 ? touch(&e, segs) : 0))
			abort(); /* a popped request can always be pushed */
		if (i % 3 == 0)
			vq_device_publish(&dev);
		if (i % 5 == 0)
			vq_device_set_notify(&dev, i & 1);
		(void)vq_device_pending(&dev);
	}
	vq_device_publish(&dev);
out:
	free(segs);
}

static void fuzz_driver(const struct vq_mem *vm, const struct vq_layout *l,
                        uint64_t feat, unsigned nreq)
{
	uint64_t ind = (vq_ring_bytes(l->size) + 15) & ~15ull;
	struct vq_buf b[2] = {{0, 16}, {16, 16}};
	struct vq_driver drv;
	unsigned i;
	uint32_t len;
	void *tok;

	if (vm->size < 32)
		return;
	if (ind + 16ull * 2 * l->size > vm->size)
		ind = 0;
	if (vq_driver_init(&drv, vm, l, feat, ind, 2))
		return;
	for (i = 0; i < nreq; i++)
		if (vq_driver_add(&drv, b, 1, b + 1, i & 1,
		                  (void *)(uintptr_t)(i + 1)))
			break;
	vq_driver_kick_prepare(&drv);
	for (i = 0; i <= 2u * l->size; i++) {
		if (vq_driver_get_used(&drv, &tok, &len))
			break;
		if (!tok || (uintptr_t)tok > nreq)
			abort(); /* only tokens we handed out come back */
		if (i % 4 == 0)
			vq_driver_set_interrupts(&drv, i & 8);
	}
	if (vq_driver_num_free(&drv) > l->size)
		abort();
	vq_driver_destroy(&drv);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vq_layout l;
	struct vq_mem vm;
	uint64_t feat = 0;
	size_t mem_size;
	uint8_t *mem;

	if (size < HDR)
		return 0;
	if (vq_layout_init(&l, 0, 1u << (data[0] & 7)))
		return 0;
	if (data[1] & 1)
		feat |= BLN_FEATURE(VIRTIO_F_RING_EVENT_IDX);
	if (data[1] & 2)
		feat |= BLN_FEATURE(VIRTIO_F_RING_INDIRECT_DESC);
	mem_size = size - HDR;
	if (mem_size < vq_ring_bytes(l.size))
		mem_size = vq_ring_bytes(l.size);

	mem = mem_image(data, size, mem_size);
	if (!mem)
		return 0;
	vm = (struct vq_mem){.base = mem, .size = mem_size};
	fuzz_device(&vm, &l, feat, data[2]);
	free(mem);

	if (data[1] & 4) {
		mem = mem_image(data, size, mem_size);
		if (!mem)
			return 0;
		vm.base = mem;
		fuzz_driver(&vm, &l, feat, data[3]);
		free(mem);
	}
	return 0;
}
