/* SPDX-License-Identifier: MIT */
/*
 * vm.h - one managed VM: its settings (max, min, shares, pin), what we know
 * of its balloon (target, actual, guest stats) and its QMP link, which
 * reconnects with exponential backoff (100 ms doubling to 5 s).
 *
 * Adoption rule (docs/balloond.md "Restart semantics"): on (re)connect the
 * daemon sends nothing.  It adopts the VM's current size: the target it
 * remembers if the VM is the same process instance (same QMP peer pid) as
 * when the target was set, otherwise the current actual.  Only a new
 * instance of a pinned VM gets its pinned target sent again.
 */
#ifndef BD_VM_H
#define BD_VM_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <balloon/bln_policy.h>

#include "config.h"
#include "qmp.h"

#define VM_BACKOFF_MIN_MS 100
#define VM_BACKOFF_MAX_MS 5000
#define VM_STATS_STALE_S  10 /* stats older than this (or 5 polls) not used */

enum vm_state { VM_CONNECTING = 0, VM_CONNECTED, VM_LOST, VM_ERROR };

struct bd;

struct vm {
	struct bd *bd;
	char name[BD_NAME_MAX + 1];
	char *qmp_path;
	/* settings (bytes) */
	uint64_t max, min; /* max 0: unknown until learned */
	uint64_t boot;     /* base memory from QMP, 0 = unknown */
	uint32_t shares;
	bool pinned;
	/* balloon */
	uint64_t target; /* valid if target_known */
	bool target_known;
	enum bln_reason reason; /* why target has its value */
	uint64_t actual;        /* valid if actual_known */
	bool actual_known;
	/* guest stats (QEMU names, values >= 0 only) */
	struct json_object *stats;
	double stats_updated; /* guest's "last-update", Unix s, 0 = never */
	uint64_t stats_rx_ms; /* when we received them, monotonic ms */
	uint64_t alerts;      /* X_BVM_STATS_ALERT events received */
	struct bln_policy_vm_state vst;
	/* link */
	struct qmp qmp;
	enum vm_state state;
	char status[24]; /* QMP run state ("running", "paused" ...), "" = ? */
	pid_t pid;       /* QMP peer of the instance whose target we know */
	bool ready;      /* adopted: max/actual/target known, polling */
	bool polling, querying;
	unsigned balloon_busy; /* balloon commands in flight */
	uint64_t retry_at_ms, backoff_ms;
	uint64_t attempts, failures;
	uint64_t cmd_errors; /* QMP error replies and timeouts */
	int last_err;
};

/* Create (settings at their defaults) / destroy (closes QMP; pending
 * commands fail first).  bd_vm_new returns NULL on ENOMEM. */
struct vm *bd_vm_new(struct bd *bd, const char *name, const char *qmp_path);
void bd_vm_free(struct vm *vm);
/* Connect now (also used after a settings change of qmp path). */
void bd_vm_connect(struct vm *vm);
/* Every loop iteration: reconnect when due, expire QMP commands; with
 * @poll_now (once per tick) also poll the balloon and the guest stats. */
void bd_vm_tick(struct vm *vm, uint64_t now_ms, bool poll_now);
/* Earliest time bd_vm_tick has work besides the regular tick (0 = none). */
uint64_t bd_vm_deadline(const struct vm *vm);
/* Reconnect backoff: the delay after one of @delay_ms fails again, in ms:
 * doubled, at least VM_BACKOFF_MIN_MS, at most VM_BACKOFF_MAX_MS.  A VM
 * starts at, and an adopted VM goes back to, VM_BACKOFF_MIN_MS. */
uint64_t bd_vm_backoff_next(uint64_t delay_ms);
/* Re-send the guest-stats polling interval (after tick_ms changed). */
void bd_vm_set_polling(struct vm *vm);

/* Completion of bd_vm_balloon: err 0, or -EIO with QEMU's class/desc, or
 * -ENOTCONN (link dropped: class QMP_ERR_DISCONNECTED). */
typedef void (*vm_done_fn)(void *ctx, struct vm *vm, int err, const char *cls,
                           const char *desc);
/* Send `balloon` {"value": @target}.  When QMP accepts it, vm->target,
 * vm->reason (and vm->pinned if @pin) take the new values and the state is
 * saved.  @done may be NULL.  0 or -errno (-ENOTCONN unless ready). */
int bd_vm_balloon(struct vm *vm, uint64_t target, enum bln_reason reason,
                  bool pin, vm_done_fn done, void *ctx);

/* Policy input for this VM (stats from the last guest update). */
void bd_vm_policy_input(const struct vm *vm, double now_wall,
                        struct bln_policy_vm *pv);
const char *bd_vm_state_name(enum vm_state s);
/* The VM object of the control protocol (new reference or NULL). */
struct json_object *bd_vm_to_json(const struct vm *vm);
uint64_t bd_vm_errors(const struct vm *vm);

#endif
