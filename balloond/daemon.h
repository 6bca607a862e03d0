/* SPDX-License-Identifier: MIT */
/*
 * daemon.h - the balloond process: one epoll loop that owns every VM's QMP
 * link, the control socket, the metrics endpoint (libmicrohttpd driven from
 * the same loop, no threads), the host monitor and the policy.
 * Return contract: 0 or -errno; init errors also fill a message.
 */
#ifndef BD_DAEMON_H
#define BD_DAEMON_H

#include <stdbool.h>
#include <stdint.h>

#include <balloon/bln_policy.h>

#include "config.h"
#include "hostmon.h"
#include "loop.h"
#include "vm.h"

#define BD_URGENT_GAP_MS 100 /* urgent steps at most this often */

struct bd_ctl;
struct bd_metrics;

struct bd_counters {
	uint64_t loops;           /* loop iterations */
	uint64_t reconnects;      /* QMP connection attempts after the first */
	uint64_t qmp_errors_gone; /* errors of VMs since removed */
	uint64_t decisions[BLN_REASON_NR]; /* per VM per step, by reason */
	uint64_t steps, step_errors;
	uint64_t step_ns_last, step_ns_sum;
	uint64_t targets_sent;
	uint64_t state_writes, state_errors;
};

struct bd {
	struct bd_loop loop;
	const struct bd_conf *conf;
	struct bln_policy_params params;
	bool policy_enabled;
	struct bln_policy_state pst;
	struct vm **vms; /* in order of addition */
	size_t nvms, capvms;
	struct bd_host host;
	struct bd_ctl *ctl;
	struct bd_metrics *metrics;
	struct bd_counters cnt;
	uint64_t start_ms, next_tick_ms, last_urgent_ms;
	double start_wall;
	bool stop, urgent;
	bool loading; /* applying config/state, or shutting down: no saves */
	int last_step_err, last_host_err;
	char *saved; /* state text last written, to skip identical writes */
	int sigfd;
	struct bd_watch sigw;
	int lockfd; /* flock'ed STATE.lock, -1 if not held */
	/* scratch for the policy step, grown with nvms */
	struct bln_policy_vm *pvms;
	struct bln_policy_vm_state *pvst;
	struct bln_policy_out *pout;
	struct vm **pvm;
};

/* Set everything up from @conf (kept by reference): the state file's lock
 * (one balloond per state file), control socket (-EADDRINUSE if another
 * balloond serves it), state (loaded and VMs re-attached), metrics, signal
 * handling.  @handle_signals:
 * catch SIGTERM/SIGINT via signalfd (main) or not (tests). */
int bd_init(struct bd *bd, const struct bd_conf *conf, bool handle_signals,
            char *err, size_t errlen);
/* One loop iteration: wait up to @max_wait_ms (or less if a timer is due),
 * dispatch, run ticks and steps that are due.  0 or -errno. */
int bd_run_once(struct bd *bd, int max_wait_ms);
/* Save state, close everything. */
void bd_fini(struct bd *bd);

struct vm *bd_vm_find(struct bd *bd, const char *name);
/* Take ownership of @vm (no connection yet).  0 or -ENOMEM. */
int bd_vm_append(struct bd *bd, struct vm *vm);
/* Take ownership of @vm and start connecting it.  0 or -ENOMEM. */
int bd_vm_add(struct bd *bd, struct vm *vm);
/* Forget @vm (its balloon is left as it is) and free it. */
void bd_vm_remove(struct bd *bd, struct vm *vm);
/* Something persistent changed: write the state file now. */
void bd_changed(struct bd *bd);
/* Apply a new tick interval to the loop and the VMs' stats polling. */
void bd_tick_changed(struct bd *bd);
uint64_t bd_qmp_errors(const struct bd *bd);
/* mkdir the directory @path is in (one level; errors ignored). */
void bd_mkdir_parent(const char *path, unsigned mode);

/* policy_glue.c: one policy step now (host re-read first). */
void bd_policy_step(struct bd *bd, uint64_t now_ms);
/* policy_glue.c: a VM's stats just changed; maybe ask for an urgent step. */
void bd_policy_stats_update(struct bd *bd, struct vm *vm);

/* state.c */
struct json_object *bd_state_to_json(const struct bd *bd);
/* Apply a parsed state file: policy and VMs (created or updated). */
int bd_state_apply(struct bd *bd, struct json_object *root, char *err,
                   size_t errlen);
/* Write the state file if it changed.  0 or -errno. */
int bd_state_save(struct bd *bd);
/* Read and apply the state file; -ENOENT if there is none. */
int bd_state_load(struct bd *bd, char *err, size_t errlen);
/* One balloond per state file: take an exclusive flock on STATE.lock (kept
 * until bd_state_unlock) and write our pid into it.  -EWOULDBLOCK if
 * another process holds it (err: "state file STATE is locked by pid N"),
 * or another -errno. */
int bd_state_lock(struct bd *bd, char *err, size_t errlen);
void bd_state_unlock(struct bd *bd);

#endif
