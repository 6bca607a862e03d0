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
};

/* A device eventfd's watch (one per kick fd, plus the status fd). */
struct vm_dev_watch {
	struct vm_watch w;
	struct vm *vm;
};

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
	struct vm_dev_watch dev_w[BLN_VQ_COUNT + 1]; /* kicks, then status */
	struct vm_watch timer_w, sig_w, exit_w;
	int timer_fd, sig_fd;
	int64_t stats_interval; /* seconds, 0 = off */
	uint32_t last_actual;   /* for BALLOON_CHANGE */
	bool dev_err_logged;
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
	/* shared */
	pthread_mutex_t lock;
	struct vm_snap snap;
};

/* vcpu.c: start the vCPU thread (it boots the guest) / stop and join it. */
int vcpu_start(struct vm *vm);
void vcpu_stop(struct vm *vm);

/* vm_backend.c: the QMP backend over a struct vm. */
extern const struct qmp_backend vm_qmp_backend;

/* vm.c: change the guest-stats polling interval (seconds, 0 = off). */
int vm_set_stats_interval(struct vm *vm, int64_t secs);

/* vm_memory.c: host RSS of this process from /proc/self/status, bytes. */
struct vm_rss {
	uint64_t anon, file, shmem;
};
int vm_read_rss(struct vm_rss *out);

/* vm_memory.c: x-bvm-query-memory's report (@ctx is the struct vm). */
struct json_object *vm_query_memory(void *ctx);

#endif
