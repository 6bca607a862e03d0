/* SPDX-License-Identifier: MIT */
/*
 * vm_int.h - the inside of struct vm, shared by vm.c (lifecycle and the VMM
 * loop), vm_backend.c (what QMP sees) and vcpu.c (the guest thread).
 */
#ifndef BVM_VM_INT_H
#define BVM_VM_INT_H

#include <pthread.h>

#include <balloon/bln_device.h>
#include <balloon/bln_driver.h>
#include <balloon/bln_transport.h>

#include "gmm.h"
#include "qmp_server.h"
#include "stats_alert.h"
#include "vm.h"
#include "vm_loop.h"
#include "workload.h"

/* Driver tuning (see bln_driver.h). */
#define VM_QUEUE_SIZE   256
#define VM_BATCH_PFNS   4096 /* 16 MiB per request */
#define VM_MAX_INFLIGHT 8

/* What the vCPU thread publishes for the VMM thread (under vm->lock). */
struct vm_snap {
	bool booted; /* guest up: gmm, driver and scheduler exist */
	bool exited; /* the vCPU thread has left its loop */
	int error;   /* boot or fatal guest error, -errno */
	uint64_t drv_features;
	uint64_t balloon_pages; /* driver's view, 4 KiB pages */
	struct bln_driver_counters drv;
	int drv_err; /* last bln_driver_step() error, 0 = none */
};

/* The guest's state, owned by the vCPU thread. */
struct vcpu {
	struct gmm *gmm;
	struct bln_driver *drv;
	bool drv_pending; /* bln_driver_step() asked to be called again */
	uint64_t next_publish_ns;
	uint64_t alloc_end_ns; /* this driver step's reclaim budget ends */
};

/* A device eventfd's watch (one per kick fd, plus the status fd). */
struct vm_dev_watch {
	struct vm_watch w;
	struct vm *vm;
};

/*
 * Threads (see docs/balloonvm.md, "Threading"):
 *   VMM thread    - vm_run(): QMP (commands that only read snapshots or set
 *                   registers), signals, BALLOON_CHANGE, the vCPU's exit;
 *                   never waits for the guest or for the device's syscalls.
 *   device thread - vm_dev.c: bln_device_process() (which punches ballooned
 *                   ranges out of the memfd) and the stats timer.
 *   vCPU thread   - vcpu.c: the guest.
 *   QMP worker    - qmp_server.c: x-bvm-workload-* commands, which wait
 *                   until the guest has carried them out.
 */
struct vm {
	struct vm_cfg cfg;
	/* guest RAM: [0, fw_bytes) firmware, then cfg.memory bytes */
	int ram_fd;
	uint8_t *ram;
	uint64_t ram_bytes, fw_bytes;
	struct bln_transport t;
	struct bln_device *dev;
	/* VMM thread */
	struct vm_loop loop;
	struct qmp_server qmp;
	bool qmp_up;
	struct vm_watch sig_w, exit_w, actual_w;
	int sig_fd;
	int64_t stats_interval; /* seconds, 0 = off */
	struct bvm_alert alert; /* x-bvm-stats-alert (stats_alert.h) */
	uint64_t alert_seen_ns; /* updated_ns of the last sample checked */
	uint32_t last_actual;   /* for BALLOON_CHANGE */
	bool stop;
	const char *stop_reason; /* SHUTDOWN "reason" */
	int exit_code;
	/* vCPU thread */
	pthread_t vcpu_thread;
	bool vcpu_started;
	bool power_off; /* atomic: the vCPU leaves its loop */
	int stop_fd;    /* VMM -> vCPU: power off */
	int exit_fd;    /* vCPU -> VMM: booted, or left its loop */
	struct vcpu cpu;
	struct wl_sched *sched; /* set before exit_fd first fires */
	/* device thread (vm_dev.c) */
	struct vm_loop dev_loop;
	struct vm_dev_watch dev_w[BLN_VQ_COUNT + 1]; /* kicks, then status */
	struct vm_watch timer_w, dev_stop_w;
	int timer_fd;
	int dev_stop_fd; /* VMM -> device thread: leave */
	int actual_fd;   /* device thread -> VMM: actual or stats changed */
	uint64_t dev_stats_ns; /* updated_ns the VMM was last told about */
	uint32_t dev_actual;
	bool dev_err_logged;
	bool dev_quit;
	pthread_t dev_thread;
	bool dev_started;
	/* shared, under lock */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct vm_snap snap;
	struct bln_guest_stats dev_stats; /* published after each device pass */
	bool sched_closed;                /* the guest is shutting down */
	unsigned sched_users; /* QMP worker calls into the scheduler */
};

/* vcpu.c: start the vCPU thread (it boots the guest) / stop it: ask it to
 * power off, wait up to @timeout_ms, then join it and free the guest.
 * Returns 0, or -ETIMEDOUT if the guest did not stop (nothing is freed,
 * the thread is left running: the caller should exit the process). */
int vcpu_start(struct vm *vm);
int vcpu_stop(struct vm *vm, int timeout_ms);

/* vm_dev.c: the device thread: create its loop (kick/status/timer fds) and
 * start / stop and join it.  Return 0 or -errno. */
int vm_dev_init(struct vm *vm);
int vm_dev_start(struct vm *vm);
void vm_dev_stop(struct vm *vm);
void vm_dev_fini(struct vm *vm);

/* vm_backend.c: the QMP backend over a struct vm. */
extern const struct qmp_backend vm_qmp_backend;

/* vm.c: change the guest-stats polling interval (seconds, 0 = off), and
 * the stats alert (x-bvm-stats-alert: bvm_alert_config's checks, -EINVAL
 * with @err filled, or a timer's -errno).  The device asks the guest for
 * stats every interval, or every alert period when that is shorter. */
int vm_set_stats_interval(struct vm *vm, int64_t secs);
int vm_set_stats_alert(struct vm *vm, int64_t period_ms, int64_t drop_bytes,
                       char *err);

/* vm_backend.c: the guest stats as QMP shows them (the device thread's
 * last copy); returns their CLOCK_MONOTONIC update time, ns (0 never). */
uint64_t vm_guest_stats(struct vm *vm, struct qmp_guest_stats *out);

/* vm_memory.c: host RSS of this process from /proc/self/status, bytes. */
struct vm_rss {
	uint64_t anon, file, shmem;
};
int vm_read_rss(struct vm_rss *out);

/* vm_memory.c: x-bvm-query-memory's report (@ctx is the struct vm). */
struct json_object *vm_query_memory(void *ctx);

#endif
