/* SPDX-License-Identifier: MIT */
/*
 * vm.c - a balloonvm's lifecycle and its VMM thread: guest RAM, transport,
 * device, the epoll loop (QMP, signals, vCPU exit, the device thread's
 * "actual or stats changed"), BALLOON_CHANGE, X_BVM_STATS_ALERT and
 * SHUTDOWN events.  The device itself
 * is served by the device thread (vm_dev.c), the guest by the vCPU thread
 * (vcpu.c): nothing here waits for either.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <bc_util.h>

#include "vm_int.h"

#define BOOT_TIMEOUT_MS 30000

/* Firmware bytes the driver's configuration needs, whole 4 KiB pages. */
static uint64_t firmware_bytes(void)
{
	struct bln_driver_cfg dc = {
	        .want_features = BLN_DEVICE_FEATURES,
	        .queue_size = VM_QUEUE_SIZE,
	        .batch_pfns = VM_BATCH_PFNS,
	        .max_inflight = VM_MAX_INFLIGHT,
	};
	uint64_t b = bln_driver_scratch_bytes(&dc);

	return (b + BLN_PAGE_SIZE - 1) & ~(BLN_PAGE_SIZE - 1);
}

static int check_cfg(const struct vm_cfg *cfg)
{
	struct wl_spec spec;
	char err[256];

	if (!cfg->name || !cfg->qmp || cfg->nworkloads > VM_MAX_WORKLOADS)
		return -EINVAL;
	if (cfg->memory % BLN_PAGE_SIZE || cfg->memory < (16u << 20) ||
	    cfg->memory / BLN_PAGE_SIZE >= UINT32_MAX - 1024) {
		bc_err("--memory must be a multiple of 4 KiB, 16 MiB..16 TiB");
		return -EINVAL;
	}
	for (unsigned i = 0; i < cfg->nworkloads; i++) {
		if (wl_spec_parse(cfg->workloads[i], &spec, err, sizeof(err))) {
			bc_err("--workload %s: %s", cfg->workloads[i], err);
			return -EINVAL;
		}
	}
	return 0;
}

/* ---- VMM loop callbacks ------------------------------------------------- */

/* The logical size now (RAM minus the balloon the driver reports), bytes,
 * as BALLOON_CHANGE and query-balloon show it. */
static int64_t actual_bytes(struct vm *vm, uint32_t pages)
{
	uint64_t bytes = (uint64_t)pages * BLN_PAGE_SIZE;

	return (int64_t)(bytes > vm->cfg.memory ? 0 : vm->cfg.memory - bytes);
}

static void check_actual(struct vm *vm)
{
	uint32_t a = bln_device_actual(vm->dev);
	struct json_object *d;

	if (a == vm->last_actual)
		return;
	vm->last_actual = a;
	d = json_object_new_object();
	if (!d)
		return;
	json_object_object_add(d, "actual",
	                       json_object_new_int64(actual_bytes(vm, a)));
	if (vm->qmp_up)
		bvm_qmp_server_emit(&vm->qmp, "BALLOON_CHANGE", d);
	else
		json_object_put(d);
}

/* A new stats sample: X_BVM_STATS_ALERT if it is worth one. */
static void check_alert(struct vm *vm)
{
	struct qmp_guest_stats gs;
	struct json_object *d;
	const char *why;
	uint64_t ns;

	if (!vm->alert.period_ms)
		return;
	ns = vm_guest_stats(vm, &gs);
	if (ns == vm->alert_seen_ns)
		return;
	vm->alert_seen_ns = ns;
	why = bvm_alert_check(&vm->alert, &gs);
	if (!why || !vm->qmp_up)
		return;
	d = bvm_stats_json(&gs);
	if (!d)
		return;
	json_object_object_add(d, "reason", json_object_new_string(why));
	/* the size that goes with the sample: BALLOON_CHANGE is throttled */
	json_object_object_add(d, "actual",
	                       json_object_new_int64(actual_bytes(
	                               vm, bln_device_actual(vm->dev))));
	bvm_qmp_server_emit(&vm->qmp, "X_BVM_STATS_ALERT", d);
}

/* The device thread saw actual or the guest stats change. */
static void actual_io(struct vm_watch *w, uint32_t events)
{
	struct vm *vm = bvm_container_of(w, struct vm, actual_w);

	(void)events;
	bln_drain(w->fd);
	check_actual(vm);
	check_alert(vm);
}

static void sig_io(struct vm_watch *w, uint32_t events)
{
	struct vm *vm = bvm_container_of(w, struct vm, sig_w);
	struct signalfd_siginfo si;

	(void)events;
	if (read(w->fd, &si, sizeof(si)) != sizeof(si))
		return;
	bc_info("signal %u: shutting down", si.ssi_signo);
	vm->stop = true;
	vm->stop_reason = "host-signal";
}

static void exit_io(struct vm_watch *w, uint32_t events)
{
	struct vm *vm = bvm_container_of(w, struct vm, exit_w);
	bool exited;
	int err;

	(void)events;
	bln_drain(w->fd);
	pthread_mutex_lock(&vm->lock);
	exited = vm->snap.exited;
	err = vm->snap.error;
	pthread_mutex_unlock(&vm->lock);
	if (exited && !vm->stop) {
		bc_err("guest stopped: %s", strerror(err ? -err : EIO));
		vm->stop = true;
		vm->stop_reason = "guest-panic";
		vm->exit_code = err ? err : -EIO;
	}
}

/* Period (ms) at which the device asks the guest for stats. */
static uint64_t stats_period_ms(int64_t secs, uint32_t alert_ms)
{
	uint64_t ms = (uint64_t)secs * 1000;

	return alert_ms && (!ms || alert_ms < ms) ? alert_ms : ms;
}

/* Re-arm the device's stats timer for @secs / @alert_ms: newly enabled, it
 * asks at once (as QEMU does); else from now on at the new period. */
static int arm_stats(struct vm *vm, int64_t secs, uint32_t alert_ms)
{
	uint64_t old = stats_period_ms(vm->stats_interval, vm->alert.period_ms);
	uint64_t ms = stats_period_ms(secs, alert_ms);
	struct itimerspec its = {0};

	if (ms == old)
		return 0;
	if (ms) {
		its.it_interval.tv_sec = (time_t)(ms / 1000);
		its.it_interval.tv_nsec = (long)(ms % 1000) * 1000000;
		its.it_value = its.it_interval;
		if (!old) {
			its.it_value.tv_sec = 0;
			its.it_value.tv_nsec = 1;
		}
	}
	return timerfd_settime(vm->timer_fd, 0, &its, NULL) < 0 ? -errno : 0;
}

int vm_set_stats_interval(struct vm *vm, int64_t secs)
{
	int ret = arm_stats(vm, secs, vm->alert.period_ms);

	if (!ret)
		vm->stats_interval = secs;
	return ret;
}

int vm_set_stats_alert(struct vm *vm, int64_t period_ms, int64_t drop_bytes,
                       char *err)
{
	struct bvm_alert a = vm->alert;
	int ret = bvm_alert_config(&a, period_ms, drop_bytes, err);

	if (ret)
		return ret;
	ret = arm_stats(vm, vm->stats_interval, a.period_ms);
	if (ret) {
		snprintf(err, QMP_ERR_LEN, "timer: %s", strerror(-ret));
		return ret;
	}
	vm->alert = a;
	return 0;
}

/* ---- creation ------------------------------------------------------------ */

static int ram_create(struct vm *vm)
{
	void *p;
	int ret;

	vm->fw_bytes = firmware_bytes();
	vm->ram_bytes = vm->fw_bytes + vm->cfg.memory;
	ret = bln_prim_memfd(vm->cfg.name, vm->ram_bytes);
	if (ret < 0)
		return ret;
	vm->ram_fd = ret;
	ret = bln_prim_map(vm->ram_fd, vm->ram_bytes, &p);
	if (ret)
		return ret;
	vm->ram = p;
	return 0;
}

static int device_create(struct vm *vm)
{
	struct bln_device_cfg dc = {
	        .ram = {.base = vm->ram, .size = vm->ram_bytes},
	        .backing = BLN_BACKING_MEMFD,
	        .ram_fd = vm->ram_fd,
	        .host_features = BLN_FEATURE(VIRTIO_F_VERSION_1) |
	                         BLN_FEATURE(VIRTIO_F_RING_EVENT_IDX) |
	                         BLN_FEATURE(VIRTIO_F_RING_INDIRECT_DESC) |
	                         BLN_FEATURE(VIRTIO_BALLOON_F_STATS_VQ),
	        .t = &vm->t,
	};
	int ret;

	if (vm->cfg.deflate_on_oom)
		dc.host_features |=
		        BLN_FEATURE(VIRTIO_BALLOON_F_DEFLATE_ON_OOM);
	if (vm->cfg.free_page_reporting)
		dc.host_features |=
		        BLN_FEATURE(VIRTIO_BALLOON_F_PAGE_REPORTING);
	ret = bln_transport_create(&vm->t);
	if (ret)
		return ret;
	return bln_device_create(&dc, &vm->dev);
}

static int watch_all(struct vm *vm)
{
	sigset_t ss;
	int ret = bvm_vm_loop_init(&vm->loop);

	if (ret)
		return ret;
	/* SIGINT/SIGTERM arrive through a signalfd; the device and vCPU
	 * threads, created later, inherit the blocked mask. */
	sigemptyset(&ss);
	sigaddset(&ss, SIGINT);
	sigaddset(&ss, SIGTERM);
	ret = -pthread_sigmask(SIG_BLOCK, &ss, NULL);
	if (ret)
		return ret;
	ret = vm_dev_init(vm);
	if (ret)
		return ret;
	vm->sig_fd = signalfd(-1, &ss, SFD_NONBLOCK | SFD_CLOEXEC);
	if (vm->sig_fd < 0)
		return -errno;
	vm->exit_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (vm->exit_fd < 0)
		return -errno;
	ret = bvm_vm_loop_add(&vm->loop, &vm->sig_w, vm->sig_fd, EPOLLIN,
	                      sig_io);
	if (!ret)
		ret = bvm_vm_loop_add(&vm->loop, &vm->exit_w, vm->exit_fd,
		                      EPOLLIN, exit_io);
	if (!ret)
		ret = bvm_vm_loop_add(&vm->loop, &vm->actual_w, vm->actual_fd,
		                      EPOLLIN, actual_io);
	return ret;
}

/* Wait for the guest to boot (the device thread serves its driver). */
static int wait_boot(struct vm *vm)
{
	uint64_t end = bc_now_ms() + BOOT_TIMEOUT_MS;

	for (;;) {
		pthread_mutex_lock(&vm->lock);
		bool up = vm->snap.booted;
		int err = vm->snap.error;
		pthread_mutex_unlock(&vm->lock);
		if (err)
			return err;
		if (up)
			return 0;
		if (bc_now_ms() > end || vm->stop)
			return -ETIMEDOUT;
		bvm_vm_loop_run_once(&vm->loop, 100);
	}
}

int vm_create(const struct vm_cfg *cfg, struct vm **out)
{
	struct vm *vm;
	int ret = check_cfg(cfg);

	if (ret)
		return ret;
	vm = calloc(1, sizeof(*vm));
	if (!vm)
		return -ENOMEM;
	vm->cfg = *cfg;
	vm->ram_fd = vm->timer_fd = vm->sig_fd = vm->exit_fd = -1;
	vm->stop_fd = vm->loop.epfd = vm->dev_loop.epfd = -1;
	vm->dev_stop_fd = vm->actual_fd = -1;
	vm->stop_reason = "host-qmp-quit";
	ret = -pthread_mutex_init(&vm->lock, NULL);
	if (ret) {
		free(vm);
		return ret;
	}
	ret = -pthread_cond_init(&vm->cond, NULL);
	if (ret) {
		pthread_mutex_destroy(&vm->lock);
		free(vm);
		return ret;
	}
	ret = ram_create(vm);
	if (ret)
		goto err_vm;
	ret = device_create(vm);
	if (ret)
		goto err_vm;
	ret = watch_all(vm);
	if (ret)
		goto err_vm;
	ret = vm_dev_start(vm);
	if (ret)
		goto err_vm;
	ret = vcpu_start(vm);
	if (ret)
		goto err_vm;
	ret = wait_boot(vm);
	if (ret)
		goto err_vm;
	ret = vm_set_stats_interval(vm, cfg->stats_interval);
	if (ret)
		goto err_vm;
	ret = bvm_qmp_server_init(&vm->qmp, &vm->loop, cfg->qmp,
	                          &vm_qmp_backend, vm);
	if (ret) {
		bc_err("QMP socket %s: %s", cfg->qmp, strerror(-ret));
		goto err_vm;
	}
	vm->qmp_up = true;
	*out = vm;
	return 0;

err_vm:
	vm_destroy(vm); /* undoes whatever part was built */
	return ret;
}

int vm_run(struct vm *vm)
{
	struct json_object *d;
	int timeout = -1;

	bc_info("%s: running, %llu MiB RAM, QMP at %s", vm->cfg.name,
	        (unsigned long long)(vm->cfg.memory >> 20), vm->cfg.qmp);
	while (!vm->stop) {
		int ret = bvm_vm_loop_run_once(&vm->loop, timeout);
		if (ret < 0) {
			vm->exit_code = ret;
			break;
		}
		timeout = bvm_qmp_server_tick(&vm->qmp, bc_now_ms());
	}
	d = json_object_new_object();
	if (d) {
		json_object_object_add(d, "guest", json_object_new_boolean(0));
		json_object_object_add(d, "reason",
		                       json_object_new_string(vm->stop_reason));
	}
	bvm_qmp_server_emit(&vm->qmp, "SHUTDOWN", d);
	bvm_qmp_server_drain(&vm->qmp, 500);
	return vm->exit_code;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* A guest stuck in I/O must not keep the process from exiting. */
#define VCPU_STOP_MS 2000

void vm_destroy(struct vm *vm)
{
	if (!vm)
		return;
	if (vcpu_stop(vm, VCPU_STOP_MS)) {
		/* The vCPU thread still runs on guest RAM and the transport:
		 * free nothing, the process is about to exit anyway. */
		bc_err("guest did not stop within %d ms; leaving it",
		       VCPU_STOP_MS);
		if (vm->qmp_up)
			unlink(vm->cfg.qmp);
		return;
	}
	vm_dev_fini(vm);
	if (vm->qmp_up)
		bvm_qmp_server_fini(&vm->qmp);
	bvm_vm_loop_fini(&vm->loop);
	close_fd(&vm->sig_fd);
	close_fd(&vm->exit_fd);
	bln_device_destroy(vm->dev);
	bln_transport_destroy(&vm->t);
	if (vm->ram)
		bln_prim_unmap(vm->ram, vm->ram_bytes);
	close_fd(&vm->ram_fd);
	pthread_cond_destroy(&vm->cond);
	pthread_mutex_destroy(&vm->lock);
	free(vm);
}
