/* SPDX-License-Identifier: MIT */
/*
 * vm.h - one balloonvm virtual machine.
 *
 * Guest RAM is a memfd of (firmware + memory) bytes mapped MAP_SHARED once.
 * A memfd rather than anonymous memory because the device releases
 * ballooned pages with fallocate(PUNCH_HOLE): for shmem that really frees
 * the pages (RssShmem of this process drops, and the host's Shmem), whereas
 * MADV_DONTNEED on a shared mapping only unmaps them.  The first
 * `firmware` bytes (GPA 0..) are reserved for the balloon driver's rings,
 * PFN arrays and stats buffer; the guest memory manager never allocates
 * them, and QMP's notion of RAM (query-balloon, balloon) is `memory` alone.
 *
 * Two threads, joined only by the virtio transport (register page, rings in
 * guest RAM, eventfds) and small mutex-protected snapshots:
 *   - the VMM thread (vm_run): the balloon DEVICE, the QMP server, the
 *     guest-stats polling timer and signals, in one epoll loop;
 *   - the vCPU thread: the guest - memory manager (gmm), workload scheduler
 *     and the balloon DRIVER.
 * Return contract: 0 or -errno.
 */
#ifndef BVM_VM_H
#define BVM_VM_H

#include <stdbool.h>
#include <stdint.h>

#define VM_MAX_WORKLOADS 16 /* --workload options */

struct vm_cfg {
	const char *name;
	uint64_t memory; /* guest RAM, bytes, multiple of 4 KiB */
	const char *qmp; /* QMP socket path */
	uint64_t swap;   /* guest swap file, bytes (0 = none) */
	const char *dir; /* swap and data files (NULL = /var/tmp) */
	int disk_io;     /* enum gmm_io_mode for swap and data files */
	const char *workloads[VM_MAX_WORKLOADS]; /* spec strings */
	unsigned nworkloads;
	bool deflate_on_oom;      /* offer VIRTIO_BALLOON_F_DEFLATE_ON_OOM */
	bool free_page_reporting; /* offer VIRTIO_BALLOON_F_PAGE_REPORTING */
	uint32_t stats_interval;  /* guest-stats polling, seconds (0 = off) */
};

struct vm;

/* Allocate guest RAM, the transport and the device, boot the guest on its
 * vCPU thread (memory manager, driver, the --workload workloads), then open
 * the QMP socket.  Returns 0, -EINVAL (bad cfg or workload spec: a message
 * is logged), or the failing call's -errno. */
int vm_create(const struct vm_cfg *cfg, struct vm **out);

/* Run the VMM loop until `quit`, SIGINT/SIGTERM or a fatal guest error.
 * Returns 0 on a clean shutdown, else -errno. */
int vm_run(struct vm *vm);

/* Stop the vCPU, close QMP (unlinking the socket), free everything. */
void vm_destroy(struct vm *vm);

#endif
