/* SPDX-License-Identifier: MIT */
/*
 * vcpu.c - the guest thread.  It "boots" the guest (memory manager, balloon
 * driver over the gmm's hooks, workload scheduler, the --workload
 * workloads), then loops: run workloads for a few milliseconds (the
 * scheduler also runs the gmm's kswapd tick), let the balloon driver make
 * progress whenever the device interrupted (irq_fd / cfg_fd) or it asked to
 * be called again (each step spends at most DRV_ALLOC_NS reclaiming for
 * the balloon), publish a snapshot, and sleep on the transport's eventfds
 * until there is something to do.  On power-off it closes the scheduler to
 * QMP's worker and leaves; vcpu_stop() joins it and frees the guest.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <bc_util.h>

#include "vm_int.h"

#define RUN_BUDGET_NS (4 * 1000 * 1000)  /* workloads per iteration */
#define DRV_RETRY_MS  5                  /* driver waiting for pages */
#define PUBLISH_NS    (50 * 1000 * 1000) /* snapshot period */
#define IDLE_MAX_MS   50
/* Inflating under pressure means reclaim and swap-out: a driver step gets
 * this much of it, in chunks, then the workloads and power-off get their
 * turn (the driver asks to be called again for the rest). */
#define DRV_ALLOC_NS    (20 * 1000 * 1000)
#define DRV_ALLOC_CHUNK 256 /* pages per gmm_balloon_alloc() */

/* Deflate-on-OOM: the gmm is out of memory; ask the balloon first. */
static size_t oom_notify(void *ctx, size_t want_pages)
{
	struct vcpu *c = ctx;
	int64_t got;

	if (!c->drv)
		return 0;
	got = bln_driver_deflate_oom(c->drv, want_pages);
	return got > 0 ? (size_t)got : 0;
}

/* The driver's hooks: the gmm's, with inflation bounded per step. */
static unsigned drv_alloc(void *ctx, uint32_t *pfns, unsigned n)
{
	struct vcpu *c = ctx;
	unsigned got = 0;

	while (got < n && bc_now_ns() < c->alloc_end_ns) {
		unsigned k =
		        n - got < DRV_ALLOC_CHUNK ? n - got : DRV_ALLOC_CHUNK;
		unsigned g = gmm_balloon_alloc(c->gmm, pfns + got, k);

		got += g;
		if (g < k)
			break; /* at the floor, or nothing reclaimable */
	}
	return got;
}

static void drv_free(void *ctx, const uint32_t *pfns, unsigned n)
{
	gmm_driver_ops.free_pages(((struct vcpu *)ctx)->gmm, pfns, n);
}

static void drv_stats(void *ctx, uint64_t vals[VIRTIO_BALLOON_S_NR],
                      uint32_t *valid)
{
	gmm_driver_ops.fill_stats(((struct vcpu *)ctx)->gmm, vals, valid);
}

static unsigned drv_report_take(void *ctx, struct bln_range *r, unsigned max)
{
	return gmm_driver_ops.report_take(((struct vcpu *)ctx)->gmm, r, max);
}

static void drv_report_done(void *ctx, const struct bln_range *r, unsigned n)
{
	gmm_driver_ops.report_done(((struct vcpu *)ctx)->gmm, r, n);
}

static const struct bln_driver_ops vcpu_driver_ops = {
        .alloc_pages = drv_alloc,
        .free_pages = drv_free,
        .fill_stats = drv_stats,
        .report_take = drv_report_take,
        .report_done = drv_report_done,
};

static void publish(struct vm *vm, bool booted, int err)
{
	struct vcpu *c = &vm->cpu;

	pthread_mutex_lock(&vm->lock);
	vm->snap.booted = booted;
	if (err)
		vm->snap.error = err;
	if (c->drv) {
		vm->snap.drv_features = bln_driver_features(c->drv);
		vm->snap.balloon_pages = bln_driver_balloon_pages(c->drv);
		bln_driver_counters(c->drv, &vm->snap.drv);
	}
	pthread_mutex_unlock(&vm->lock);
}

static int boot_gmm(struct vm *vm)
{
	struct gmm_cfg gc = {
	        .ram = vm->ram,
	        .npages = vm->ram_bytes / GMM_PAGE_SIZE,
	        .reserved = vm->fw_bytes / GMM_PAGE_SIZE,
	        .dir = vm->cfg.dir,
	        .swap_bytes = vm->cfg.swap,
	        .io_mode = (enum gmm_io_mode)vm->cfg.disk_io,
	        /* Linux keeps ballooned pages in MemTotal when it may take
	         * them back on OOM. */
	        .balloon_in_total = vm->cfg.deflate_on_oom,
	};
	int ret = gmm_create(&gc, &vm->cpu.gmm);

	if (ret) {
		bc_err("guest: memory manager: %s", strerror(-ret));
		return ret;
	}
	gmm_set_oom_notifier(vm->cpu.gmm, oom_notify, &vm->cpu);
	return 0;
}

static int boot_driver(struct vm *vm)
{
	struct bln_driver_cfg dc = {
	        .ram = {.base = vm->ram, .size = vm->ram_bytes},
	        .t = &vm->t,
	        /* ask for everything; the device's offer decides */
	        .want_features = BLN_DEVICE_FEATURES,
	        .scratch_gpa = 0,
	        .scratch_len = vm->fw_bytes,
	        .queue_size = VM_QUEUE_SIZE,
	        .batch_pfns = VM_BATCH_PFNS,
	        .max_inflight = VM_MAX_INFLIGHT,
	        .ops = &vcpu_driver_ops,
	        .ctx = &vm->cpu,
	};
	int ret = bln_driver_create(&dc, &vm->cpu.drv);

	if (ret)
		bc_err("guest: balloon driver: %s", strerror(-ret));
	vm->cpu.drv_pending = true;
	return ret;
}

static int boot_workloads(struct vm *vm)
{
	struct wl_sched_cfg sc = {.gmm = vm->cpu.gmm};
	char err[256];
	uint32_t id;
	int ret = wl_sched_create(&sc, &vm->sched);

	if (ret) {
		bc_err("guest: workload scheduler: %s", strerror(-ret));
		return ret;
	}
	for (unsigned i = 0; i < vm->cfg.nworkloads; i++) {
		ret = wl_add(vm->sched, vm->cfg.workloads[i], &id, err,
		             sizeof(err));
		if (ret) {
			bc_err("guest: workload '%s': %s", vm->cfg.workloads[i],
			       err);
			return ret;
		}
		bc_info("guest: workload %u: %s", id, vm->cfg.workloads[i]);
	}
	return 0;
}

/* Called with the guest gone (joined): free it. */
static void free_guest(struct vm *vm)
{
	wl_sched_destroy(vm->sched);
	vm->sched = NULL;
	bln_driver_destroy(vm->cpu.drv);
	vm->cpu.drv = NULL;
	gmm_destroy(vm->cpu.gmm);
	vm->cpu.gmm = NULL;
}

/* CLOCK_REALTIME (the condition variable's clock) @ms from now. */
static void deadline_in(struct timespec *ts, long ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/*
 * Leaving: refuse new workload commands, and carry out those that QMP's
 * worker has already queued (it waits for them), until no caller is left
 * inside the scheduler.  Then the scheduler can be freed safely.
 */
static void close_sched(struct vm *vm)
{
	pthread_mutex_lock(&vm->lock);
	vm->sched_closed = true;
	while (vm->sched_users && vm->sched) {
		struct timespec ts;

		pthread_mutex_unlock(&vm->lock);
		wl_sched_run(vm->sched, 0, NULL);
		deadline_in(&ts, 1);
		pthread_mutex_lock(&vm->lock);
		if (vm->sched_users)
			pthread_cond_timedwait(&vm->cond, &vm->lock, &ts);
	}
	pthread_mutex_unlock(&vm->lock);
}

/* The balloon driver's turn: after an interrupt, or when it asked. */
static void drive_balloon(struct vm *vm, bool irq)
{
	struct vcpu *c = &vm->cpu;
	int ret;

	if (!c->drv || (!irq && !c->drv_pending))
		return;
	c->alloc_end_ns = bc_now_ns() + DRV_ALLOC_NS;
	ret = bln_driver_step(c->drv);
	if (ret < 0) {
		/* The device wants a reset or the rings are corrupt: a real
		 * guest would reset the device; we stop ballooning. */
		bc_err("guest: balloon driver failed: %s", strerror(-ret));
		pthread_mutex_lock(&vm->lock);
		vm->snap.drv_err = ret;
		pthread_mutex_unlock(&vm->lock);
		c->drv_pending = false;
		return;
	}
	c->drv_pending = ret > 0;
}

static bool drained(int fd)
{
	return bln_drain(fd) > 0;
}

static void guest_loop(struct vm *vm)
{
	int fds[3] = {vm->t.irq_fd, vm->t.cfg_fd, vm->stop_fd};
	struct vcpu *c = &vm->cpu;

	for (;;) {
		uint64_t sleep_ns = 0, now;
		int timeout;
		bool irq;

		wl_sched_run(vm->sched, RUN_BUDGET_NS, &sleep_ns);
		irq = drained(vm->t.irq_fd);
		irq = drained(vm->t.cfg_fd) || irq;
		drive_balloon(vm, irq);
		now = bc_now_ns();
		if (now >= c->next_publish_ns) {
			publish(vm, true, 0);
			c->next_publish_ns = now + PUBLISH_NS;
		}
		if (__atomic_load_n(&vm->power_off, __ATOMIC_ACQUIRE))
			return;
		timeout = (int)(sleep_ns / 1000000);
		if (timeout > IDLE_MAX_MS)
			timeout = IDLE_MAX_MS;
		if (c->drv_pending && timeout > DRV_RETRY_MS)
			timeout = DRV_RETRY_MS;
		if (timeout > 0)
			bln_wait(fds, 3, timeout);
	}
}

static void *vcpu_main(void *arg)
{
	struct vm *vm = arg;
	int ret = boot_gmm(vm);

	if (!ret)
		ret = boot_driver(vm);
	if (!ret)
		ret = boot_workloads(vm);
	publish(vm, ret == 0, ret);
	bln_notify(vm->exit_fd); /* booted (or failed to) */
	if (!ret)
		guest_loop(vm);
	close_sched(vm);
	pthread_mutex_lock(&vm->lock);
	vm->snap.booted = false;
	vm->snap.exited = true;
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
	bln_notify(vm->exit_fd);
	return NULL;
}

int vcpu_start(struct vm *vm)
{
	int ret;

	vm->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (vm->stop_fd < 0)
		return -errno;
	ret = pthread_create(&vm->vcpu_thread, NULL, vcpu_main, vm);
	if (ret) {
		close(vm->stop_fd);
		vm->stop_fd = -1;
		return -ret;
	}
	vm->vcpu_started = true;
	return 0;
}

int vcpu_stop(struct vm *vm, int timeout_ms)
{
	struct timespec ts;
	bool exited;

	if (!vm->vcpu_started)
		return 0;
	__atomic_store_n(&vm->power_off, true, __ATOMIC_RELEASE);
	bln_notify(vm->stop_fd);
	deadline_in(&ts, timeout_ms);
	pthread_mutex_lock(&vm->lock);
	while (!vm->snap.exited &&
	       pthread_cond_timedwait(&vm->cond, &vm->lock, &ts) == 0)
		;
	exited = vm->snap.exited;
	pthread_mutex_unlock(&vm->lock);
	if (!exited)
		return -ETIMEDOUT;
	pthread_join(vm->vcpu_thread, NULL);
	vm->vcpu_started = false;
	close(vm->stop_fd);
	vm->stop_fd = -1;
	free_guest(vm);
	return 0;
}
