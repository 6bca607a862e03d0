/* SPDX-License-Identifier: MIT */
/*
 * bench_inflate - the mechanism benchmark: how fast libballoon moves memory
 * from a guest to the host and back, against the physical limit measured in
 * the same repeat on the same amount of memory.
 *
 * Guest RAM is a memfd (as in balloonvm), made resident beforehand with one
 * populate call (so the host really has to free every page).  The "guest"
 * thread runs the balloon driver over a trivial allocator holding every page
 * of RAM; the "host" thread runs the device, which validates, coalesces and
 * punches holes.  Inflate goes from SIZE to TARGET (logical size), deflate
 * goes back.  Each repeat first measures the raw kernel on a fresh memfd of
 * SIZE: one fallocate(PUNCH_HOLE) over the moved bytes (raw inflate), then
 * one MADV_POPULATE_WRITE over them (raw refill).  Deflate itself releases
 * nothing (the pages are just the guest's again); like with like, the
 * deflate ratio compares deflate + one populate call over the returned range
 * with the raw populate alone.  The protocol-only deflate rate is shown too.
 *
 *   bench_inflate [--size 4G] [--target 256M] [--headline 4096x8]
 *                 [--headline-repeats 5] [--batch 256,1024,4096,16384,65536]
 *                 [--inflight 1,8] [--repeats 3] [--fault-sample 256M]
 *                 [--csv FILE] [--spin-us 0|0,50,...]
 *
 * Both threads wait with bln_poll_wait(): a busy-poll of the rings for up to
 * --spin-us microseconds (adaptive; 0, the default, = block on the eventfds
 * at once, as before) with notifications suppressed, then block.  A list gives
 * one row per budget, side by side; "hit%" is the share of waits that found
 * work while spinning and "spin_ms" the CPU both threads spent spinning.
 *
 * Sizes are bytes with K/M/G suffixes.  Rates are GiB/s of guest memory moved.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "balloon/bln_device.h"
#include "balloon/bln_driver.h"
#include "balloon/bln_prim.h"
#include "bc_util.h"
#include "bench_util.h"

struct pool {
	uint32_t *pfns; /* free guest pages, a stack */
	uint64_t n;
};

struct run {
	struct bln_transport t;
	struct bln_device *dev;
	struct bln_driver *drv;
	struct pool pool;
	atomic_bool stop;
	struct bln_poll dev_poll, drv_poll; /* device / driver thread's */
	int ram_fd;
	uint8_t *ram;
	uint64_t ram_bytes, guest_bytes, scratch_gpa;
};

static unsigned pool_alloc(void *ctx, uint32_t *pfns, unsigned n)
{
	struct pool *p = ctx;
	unsigned k = 0;

	while (k < n && p->n)
		pfns[k++] = p->pfns[--p->n];
	return k;
}

static void pool_free(void *ctx, const uint32_t *pfns, unsigned n)
{
	struct pool *p = ctx;

	for (unsigned i = 0; i < n; i++)
		p->pfns[p->n++] = pfns[i];
}

static const struct bln_driver_ops pool_ops = {
        .alloc_pages = pool_alloc,
        .free_pages = pool_free,
};

static void *device_thread(void *arg)
{
	struct run *r = arg;
	int fds[BLN_VQ_COUNT + 1];

	for (unsigned q = 0; q < BLN_VQ_COUNT; q++)
		fds[q] = r->t.kick_fd[q];
	fds[BLN_VQ_COUNT] = r->t.status_fd;
	struct vq_mem ram = {.base = r->ram, .size = r->ram_bytes};
	while (!atomic_load(&r->stop)) {
		/* After a spin hit the eventfds hold at most stale counts
		 * (kicks were suppressed): leave them for the next sleep. */
		if (bln_poll_wait(&r->dev_poll, &r->t, &ram, BLN_POLL_DEVICE,
		                  fds, BLN_VQ_COUNT + 1, 50) != BLN_POLL_SPUN)
			for (unsigned i = 0; i <= BLN_VQ_COUNT; i++)
				bln_drain(fds[i]);
		bln_device_process(r->dev);
	}
	return NULL;
}

/* Step the driver until the balloon holds @pages; returns seconds taken. */
static double drive_to(struct run *r, uint32_t pages)
{
	int fds[2] = {r->t.irq_fd, r->t.cfg_fd};
	struct vq_mem ram = {.base = r->ram, .size = r->ram_bytes};
	uint64_t t0 = bc_now_ns();

	bln_device_set_target(r->dev, pages);
	for (;;) {
		int ret = bln_driver_step(r->drv);
		if (ret < 0) {
			fprintf(stderr, "bench_inflate: driver step: %s\n",
			        strerror(-ret));
			exit(1);
		}
		if (bln_driver_balloon_pages(r->drv) == pages &&
		    bln_device_actual(r->dev) == pages)
			break;
		if (ret > 0 &&
		    bln_poll_wait(&r->drv_poll, &r->t, &ram, BLN_POLL_DRIVER,
		                  fds, 2, 5) == BLN_POLL_SPUN)
			continue; /* nothing to drain: interrupts were off */
		bln_drain(r->t.irq_fd);
		bln_drain(r->t.cfg_fd);
	}
	return (double)(bc_now_ns() - t0) / 1e9;
}

static int setup(struct run *r, uint64_t guest_bytes, uint32_t batch,
                 uint16_t inflight, uint32_t spin_us)
{
	struct bln_driver_cfg dc = {
	        .want_features = BLN_FEATURE(VIRTIO_F_VERSION_1) |
	                         BLN_FEATURE(VIRTIO_BALLOON_F_MUST_TELL_HOST) |
	                         BLN_FEATURE(VIRTIO_F_RING_EVENT_IDX) |
	                         BLN_FEATURE(VIRTIO_F_RING_INDIRECT_DESC),
	        .batch_pfns = batch,
	        .max_inflight = inflight,
	        .ops = &pool_ops,
	};
	int ret;

	memset(r, 0, sizeof(*r));
	ret = bln_poll_init(&r->dev_poll, spin_us);
	if (!ret)
		ret = bln_poll_init(&r->drv_poll, spin_us);
	if (ret)
		return ret;
	uint64_t scratch = bln_driver_scratch_bytes(&dc);
	r->guest_bytes = guest_bytes;
	r->scratch_gpa = guest_bytes;
	r->ram_bytes = guest_bytes + scratch;
	ret = bln_prim_memfd("bench-ram", r->ram_bytes);
	if (ret < 0)
		return ret;
	r->ram_fd = ret;
	ret = bln_prim_map(r->ram_fd, r->ram_bytes, (void **)&r->ram);
	if (ret)
		goto err_fd;
	ret = bln_transport_create(&r->t);
	if (ret)
		goto err_unmap;
	struct bln_device_cfg cfg = {
	        .ram = {.base = r->ram, .size = r->ram_bytes},
	        .backing = BLN_BACKING_MEMFD,
	        .ram_fd = r->ram_fd,
	        .host_features = dc.want_features,
	        .t = &r->t,
	        .max_pfns_per_req = 65536,
	};
	ret = bln_device_create(&cfg, &r->dev);
	if (ret)
		goto err_transport;
	r->pool.pfns = malloc(sizeof(uint32_t) * (guest_bytes / BLN_PAGE_SIZE));
	if (!r->pool.pfns) {
		ret = -ENOMEM;
		goto err_dev;
	}
	for (uint64_t i = 0; i < guest_bytes / BLN_PAGE_SIZE; i++)
		r->pool.pfns[r->pool.n++] = (uint32_t)i;
	dc.ram = cfg.ram;
	dc.t = &r->t;
	dc.scratch_gpa = r->scratch_gpa;
	dc.scratch_len = scratch;
	dc.ctx = &r->pool;
	ret = bln_driver_create(&dc, &r->drv);
	if (ret)
		goto err_pool;
	return 0;
err_pool:
	free(r->pool.pfns);
err_dev:
	bln_device_destroy(r->dev);
err_transport:
	bln_transport_destroy(&r->t);
err_unmap:
	bln_prim_unmap(r->ram, r->ram_bytes);
err_fd:
	close(r->ram_fd);
	return ret;
}

static void teardown(struct run *r)
{
	bln_driver_destroy(r->drv);
	bln_device_destroy(r->dev);
	bln_transport_destroy(&r->t);
	free(r->pool.pfns);
	bln_prim_unmap(r->ram, r->ram_bytes);
	close(r->ram_fd);
}

static void spin_stats(const struct run *r, struct bench_result *res)
{
	uint64_t waits = r->dev_poll.waits + r->drv_poll.waits;
	uint64_t hits = r->dev_poll.spin_hits + r->drv_poll.spin_hits;

	res->spin_ms =
	        (double)(r->dev_poll.spin_ns + r->drv_poll.spin_ns) / 1e6;
	res->hit_pct = waits ? 100.0 * (double)hits / (double)waits : 0;
}

static int balloon_once(const struct bench_opts *o, uint32_t batch,
                        uint16_t inflight, struct bench_result *res)
{
	struct run r;
	pthread_t th;
	struct bln_device_counters c;
	uint64_t moved = o->size - o->target, t0;
	int ret;

	memset(res, 0, sizeof(*res));
	ret = bench_raw(o->size, moved, res);
	if (ret)
		return ret;
	ret = setup(&r, o->size, batch, inflight, o->spin_us);
	if (ret)
		return ret;
	ret = bench_populate(r.ram, o->size);
	if (ret)
		goto out;
	ret = pthread_create(&th, NULL, device_thread, &r);
	if (ret) {
		ret = -ret;
		goto out;
	}
	/* The allocator hands out the highest PFNs first: the balloon takes
	 * GPA [target, size) and deflate gives exactly that range back. */
	res->inflate_s = drive_to(&r, (uint32_t)(moved / BLN_PAGE_SIZE));
	bln_device_counters(r.dev, &c);
	res->reqs = c.inflate_reqs;
	res->ranges = c.ranges_released;
	res->deflate_s = drive_to(&r, 0);
	t0 = bc_now_ns();
	ret = bench_populate(r.ram + o->target, moved);
	res->refill_s = (double)(bc_now_ns() - t0) / 1e9;
	atomic_store(&r.stop, true);
	bln_notify(r.t.status_fd);
	pthread_join(th, NULL);
	spin_stats(&r, res);
	if (!ret && c.bytes_released != moved)
		ret = -EIO; /* the device did not release what it was given */
out:
	teardown(&r);
	return ret;
}

/* One row per busy-poll budget, side by side. */
static int run_row(const struct bench_opts *o, uint32_t batch,
                   uint16_t inflight, unsigned repeats, int headline, FILE *csv)
{
	struct bench_opts os = *o;
	struct bench_row row;

	for (unsigned i = 0; i < o->n_spin; i++) {
		os.spin_us = o->spin_list[i];
		int ret = bench_measure(&os, batch, inflight, repeats,
		                        balloon_once, &row);
		if (ret) {
			fprintf(stderr,
			        "bench_inflate: batch %u inflight %u spin %u: "
			        "%s\n",
			        batch, inflight, os.spin_us, strerror(-ret));
			return ret;
		}
		row.headline = headline;
		bench_print_row(&row, o->size - o->target, csv);
	}
	return 0;
}

static int run_sweep(const struct bench_opts *o, FILE *csv)
{
	if (o->head_batch && run_row(o, o->head_batch, o->head_inflight,
	                             o->head_repeats, 1, csv))
		return -1;
	for (unsigned b = 0; b < o->n_batch; b++) {
		for (unsigned f = 0; f < o->n_inflight; f++) {
			if (o->batch[b] == o->head_batch &&
			    o->inflight[f] == o->head_inflight)
				continue; /* measured above, more repeats */
			if (run_row(o, o->batch[b], o->inflight[f], o->repeats,
			            0, csv))
				return -1;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct bench_opts o;
	FILE *csv = NULL;
	int ret;

	if (bench_parse_opts(argc, argv, &o))
		return 2;
	if (o.csv && !(csv = fopen(o.csv, "w"))) {
		perror(o.csv);
		return 1;
	}
	uint64_t moved = o.size - o.target;
	printf("guest RAM %.2f GiB (resident), balloon %.2f GiB -> target "
	       "%.0f MiB and back; GiB/s of the %.2f GiB moved.\n"
	       "raw = the kernel on a fresh memfd in the same repeat: inflate "
	       "vs one punch-hole call, deflate+refill vs one populate call.\n"
	       "ratios and rates are medians over repeats; +-%% is the "
	       "run-to-run spread of the ratio, (max-min)/median.\n\n",
	       o.size / 1073741824.0, moved / 1073741824.0,
	       o.target / 1048576.0, moved / 1073741824.0);
	bench_print_header(csv);
	ret = run_sweep(&o, csv);
	if (!ret && o.fault_sample) {
		double f = bench_fault_rate(o.fault_sample);
		printf("\nreference: faulting %.0f MiB back one 4 KiB page at "
		       "a "
		       "time (a guest just using returned memory): %.3f "
		       "GiB/s\n",
		       o.fault_sample / 1048576.0, f);
	}
	if (csv && fclose(csv)) {
		perror(o.csv);
		return 1;
	}
	return ret ? 1 : 0;
}
