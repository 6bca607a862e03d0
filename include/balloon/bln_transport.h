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
#include "vq.h"

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

/*
 * Spin-then-block waiting (busy-poll), as vhost's busyloop and io_uring's
 * SQPOLL idle do it: before sleeping on its eventfds, a side watches the
 * shared rings and registers for a bounded time with its notifications
 * suppressed through the rings' own mechanism (EVENT_IDX event indexes, else
 * the NO_NOTIFY / NO_INTERRUPT flags), so a peer that answers quickly costs
 * neither a notification nor a wake-up.  Before sleeping it asks for
 * notifications again and re-checks (no lost wake-up).
 *
 * The spin budget adapts like KVM's halt polling: it starts at @max_us; a
 * spin that finds nothing followed by a sleep longer than max_us halves it
 * (down to 0: plain blocking), a sleep that ended within max_us (a longer
 * spin would have caught it) doubles it (from BLN_POLL_GROW_US) up to
 * max_us.  An idle side therefore stops spinning after a few waits.
 */
#define BLN_POLL_DEFAULT_US 50 /* default max_us, vhost busyloop-like */
#define BLN_POLL_MAX_US     10000
#define BLN_POLL_GROW_US    10

struct bln_poll {
	uint32_t max_us; /* spin budget per wait, microseconds; 0 = never */
	uint32_t cur_us; /* current adaptive budget (private) */
	/* Counters, for benchmarks and tests. */
	uint64_t waits;     /* bln_poll_wait() calls */
	uint64_t spin_hits; /* work seen while spinning */
	uint64_t sleeps;    /* calls that blocked on the eventfds */
	uint64_t spin_ns;   /* time spent spinning, nanoseconds */
};

/* Which side of the transport waits. */
enum bln_poll_side {
	BLN_POLL_DEVICE, /* watches avail rings and status_gen/status_ack */
	BLN_POLL_DRIVER, /* watches used rings, config_generation, status */
};

/* Initialise @p with a budget of @max_us microseconds per wait (0 = never
 * spin; at most BLN_POLL_MAX_US).  Returns 0 or -EINVAL. */
int bln_poll_init(struct bln_poll *p, uint32_t max_us);

/*
 * Wait for work on @side of @t: spin for up to the current budget watching
 * (device) every enabled queue's avail->idx and status_gen != status_ack, or
 * (driver) every enabled queue's used->idx, config_generation, status and
 * status_ack, with notifications suppressed; then re-arm notifications and,
 * if nothing came, block like bln_wait(@fds, @n, @timeout_ms).  Rings are
 * watched only while the driver's DRIVER_OK has been acknowledged by the
 * device without NEEDS_RESET; their layout comes from the register page and
 * is validated against @ram (guest memory as this side maps it).
 *
 * Call it from the thread that runs bln_device_process() (device side) or
 * bln_driver_step() (driver side), in place of bln_wait(), and call that
 * function after every return > 0.  @fds are not drained (callers drain as
 * with bln_wait; after BLN_POLL_SPUN they may skip it, at the price of one
 * early return later).  An eventfd that fires during the spin (one not tied
 * to a ring or register above) is seen when the spin ends, at most the
 * budget later.  Without EVENT_IDX, work published in the instant between
 * the caller's last check and this call is found when the spin ends.
 *
 * Returns BLN_POLL_SPUN (1): work seen while spinning or at the re-check;
 * BLN_POLL_WOKE (2): an eventfd became readable; 0: timeout or signal;
 * -EINVAL (bad arguments, as bln_wait) or another -errno from poll().
 */
#define BLN_POLL_SPUN 1
#define BLN_POLL_WOKE 2
int bln_poll_wait(struct bln_poll *p, struct bln_transport *t,
                  const struct vq_mem *ram, enum bln_poll_side side,
                  const int *fds, unsigned n, int timeout_ms);

#endif
