/* SPDX-License-Identifier: MIT */
/*
 * bln_transport.h - the register block and notifications that join a balloon
 * driver to a balloon device, in the manner of virtio-mmio with ioeventfd and
 * irqfd: a small shared-memory register page (a memfd, so it works across
 * processes) plus eventfds.
 *
 *   driver -> device: kick_fd[q] per virtqueue (available buffers),
 *                     status_fd (driver wrote status/features/actual)
 *   device -> driver: irq_fd (used buffers), cfg_fd (configuration changed)
 *
 * All register fields are little-endian.  Return contract: 0 or -errno.
 */
#ifndef BALLOON_BLN_TRANSPORT_H
#define BALLOON_BLN_TRANSPORT_H

#include <stdint.h>

#include "virtio_balloon.h"

/* VIRTIO device status bits (2.1). */
#define BLN_STATUS_ACKNOWLEDGE 1
#define BLN_STATUS_DRIVER      2
#define BLN_STATUS_DRIVER_OK   4
#define BLN_STATUS_FEATURES_OK 8
#define BLN_STATUS_NEEDS_RESET 64
#define BLN_STATUS_FAILED      128

/* One virtqueue's registers (GPAs of its parts, bytes). */
struct bln_queue_regs {
	uint64_t desc;
	uint64_t avail;
	uint64_t used;
	uint16_t size;    /* descriptors; 0 = queue not set up */
	uint16_t enabled; /* driver sets 1 once the addresses are written */
	uint32_t reserved;
};

/*
 * The shared register page.  Who writes each field is noted.
 *
 * Status handshake (there is no trapping MMIO write, so the device learns of
 * a status change asynchronously): the driver changes @status with an atomic
 * OR (or stores 0 to reset, bumping @reset_gen first), then bumps @status_gen
 * with release semantics and signals status_fd.  The device, in
 * bln_device_process(), acts on the newest status (a @reset_gen it has not
 * seen means "reset first"), may clear FEATURES_OK (features refused) or set
 * NEEDS_RESET (bad queue setup, corrupt ring), then stores the @status_gen it
 * acted on in @status_ack and signals cfg_fd.  The driver knows the device's
 * verdict on a status once status_ack == status_gen.
 */
struct bln_regs {
	uint64_t device_features;   /* device */
	uint64_t driver_features;   /* driver, before FEATURES_OK */
	uint32_t status;            /* driver (device may clear FEATURES_OK
	                               or set NEEDS_RESET, atomically) */
	uint32_t config_generation; /* device, bumped on every config write */
	uint16_t queue_max;         /* device: largest ring size it accepts */
	uint16_t reserved;
	uint32_t status_gen; /* driver: bumped after every status write */
	uint32_t reset_gen;  /* driver: bumped before writing status 0 */
	uint32_t status_ack; /* device: the status_gen it has acted on */
	struct virtio_balloon_config config;
	struct bln_queue_regs q[BLN_VQ_COUNT];
};

struct bln_transport {
	struct bln_regs *regs; /* mapped register page */
	int regs_fd;           /* memfd holding the register page */
	int kick_fd[BLN_VQ_COUNT];
	int status_fd;
	int irq_fd;
	int cfg_fd;
};

/* Create a transport: register page + eventfds, all inheritable across
 * fork() (no CLOEXEC).  Returns 0 or -errno; on error nothing is left open. */
int bln_transport_create(struct bln_transport *t);

/* Close everything and unmap.  Safe on a zeroed or partly created struct. */
void bln_transport_destroy(struct bln_transport *t);

/* Signal an eventfd (add 1).  Returns 0 or -errno. */
int bln_notify(int efd);

/* Drain an eventfd; returns the count read (>= 0) or -errno (-EAGAIN if
 * nothing was pending on a non-blocking fd). */
int64_t bln_drain(int efd);

/* Wait until any of @fds (n of them, 1..16) is readable or @timeout_ms passes
 * (-1 = forever).  Returns the number ready (0 on timeout or when a signal
 * interrupted the wait) or -errno.  Does not drain. */
int bln_wait(const int *fds, unsigned n, int timeout_ms);

#endif
