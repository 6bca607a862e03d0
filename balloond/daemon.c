/* SPDX-License-Identifier: MIT */
/*
 * daemon.c - balloond's lifecycle and main loop: timers (tick, reconnect
 * backoff, waits) are deadlines folded into the epoll timeout; libmicrohttpd
 * runs from the same loop (metrics.c), so nothing needs a lock.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bc_util.h>

#include "ctl.h"
#include "daemon.h"
#include "metrics.h"

struct vm *bd_vm_find(struct bd *bd, const char *name)
{
	for (size_t i = 0; i < bd->nvms; i++)
		if (!strcmp(bd->vms[i]->name, name))
			return bd->vms[i];
	return NULL;
}

int bd_vm_append(struct bd *bd, struct vm *vm)
{
	if (bd->nvms == bd->capvms) {
		size_t cap = bd->capvms ? bd->capvms * 2 : 8;
		struct vm **a = realloc(bd->vms, cap * sizeof(*a));
		if (!a)
			return -ENOMEM;
		bd->vms = a;
		bd->capvms = cap;
	}
	bd->vms[bd->nvms++] = vm;
	return 0;
}

int bd_vm_add(struct bd *bd, struct vm *vm)
{
	int ret = bd_vm_append(bd, vm);

	if (ret)
		return ret;
	bc_info("vm %s: added (qmp %s)", vm->name, vm->qmp_path);
	bd_vm_connect(vm);
	return 0;
}

void bd_vm_remove(struct bd *bd, struct vm *vm)
{
	size_t i;

	for (i = 0; i < bd->nvms && bd->vms[i] != vm; i++)
		;
	if (i == bd->nvms)
		return;
	memmove(&bd->vms[i], &bd->vms[i + 1],
	        (bd->nvms - i - 1) * sizeof(*bd->vms));
	bd->nvms--;
	bc_info("vm %s: removed (balloon left at %llu)", vm->name,
	        (unsigned long long)vm->target);
	bd->cnt.qmp_errors_gone += bd_vm_errors(vm);
	bd_vm_free(vm);
}

uint64_t bd_qmp_errors(const struct bd *bd)
{
	uint64_t n = bd->cnt.qmp_errors_gone;

	for (size_t i = 0; i < bd->nvms; i++)
		n += bd_vm_errors(bd->vms[i]);
	return n;
}

void bd_changed(struct bd *bd)
{
	if (bd->loading)
		return;
	bd_state_save(bd);
}

void bd_tick_changed(struct bd *bd)
{
	bd->next_tick_ms = bc_now_ms() + bd->params.tick_ms;
	for (size_t i = 0; i < bd->nvms; i++)
		bd_vm_set_polling(bd->vms[i]);
}

void bd_mkdir_parent(const char *path, unsigned mode)
{
	char dir[4096];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return;
	*slash = '\0';
	mkdir(dir, mode); /* EEXIST is the usual answer */
}

static void on_signal(struct bd_watch *w, uint32_t events)
{
	struct bd *bd = bd_container_of(w, struct bd, sigw);
	struct signalfd_siginfo si;

	(void)events;
	while (read(bd->sigfd, &si, sizeof(si)) == sizeof(si)) {
		bc_info("signal %u: saving state and exiting", si.ssi_signo);
		bd->stop = true;
	}
}

static int setup_signals(struct bd *bd)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -errno;
	bd->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (bd->sigfd < 0)
		return -errno;
	return bd_loop_add(&bd->loop, &bd->sigw, bd->sigfd, EPOLLIN, on_signal);
}

static int add_config_vms(struct bd *bd)
{
	const struct bd_conf *c = bd->conf;

	for (size_t i = 0; i < c->nvms; i++) {
		struct vm *vm = bd_vm_new(bd, c->vms[i].name, c->vms[i].qmp);
		if (!vm || bd_vm_append(bd, vm)) {
			bd_vm_free(vm);
			return -ENOMEM;
		}
		vm->min = c->vms[i].min;
		vm->max = c->vms[i].max;
		vm->shares = c->vms[i].shares;
	}
	return 0;
}

int bd_init(struct bd *bd, const struct bd_conf *conf, bool handle_signals,
            char *err, size_t errlen)
{
	int ret;

	memset(bd, 0, sizeof(*bd));
	/* 0.6, not 0.59999999999999998, in replies and the state file */
	json_c_set_serialization_double_format("%.15g", JSON_C_OPTION_GLOBAL);
	bd->conf = conf;
	bd->sigfd = -1;
	bd->lockfd = -1;
	bd->params = conf->policy;
	bd->policy_enabled = conf->policy_enabled;
	bd->start_ms = bc_now_ms();
	bd->start_wall = bc_wall_s();
	bd->loading = true;
	ret = bd_loop_init(&bd->loop);
	if (ret) {
		snprintf(err, errlen, "epoll: %s", strerror(-ret));
		return ret;
	}
	ret = add_config_vms(bd);
	if (ret) {
		snprintf(err, errlen, "out of memory");
		goto err_fini;
	}
	bd_mkdir_parent(conf->state_path, 0700);
	ret = bd_state_lock(bd, err, errlen);
	if (ret)
		goto err_fini;
	ret = bd_state_load(bd, err, errlen);
	if (ret && ret != -ENOENT)
		goto err_fini;
	if (conf->tick_ms_cli)
		bd->params.tick_ms = conf->tick_ms_cli;
	ret = bd_ctl_init(bd, err, errlen);
	if (ret)
		goto err_fini;
	if (conf->metrics) {
		ret = bd_metrics_init(bd, conf->metrics, err, errlen);
		if (ret)
			goto err_fini;
	}
	if (handle_signals) {
		ret = setup_signals(bd);
		if (ret) {
			snprintf(err, errlen, "signals: %s", strerror(-ret));
			goto err_fini;
		}
	}
	bd->loading = false;
	bd_host_read(conf->proc_root, &bd->host);
	for (size_t i = 0; i < bd->nvms; i++)
		bd_vm_connect(bd->vms[i]);
	bd->next_tick_ms = bc_now_ms() + bd->params.tick_ms;
	bd_changed(bd);
	bc_info("balloond %s: %zu VMs, policy %s (%s), tick %u ms",
	        BALLOOND_VERSION, bd->nvms,
	        bln_policy_kind_name(bd->params.kind),
	        bd->policy_enabled ? "enabled" : "disabled",
	        bd->params.tick_ms);
	return 0;
err_fini:
	bd->loading = true; /* do not overwrite a state file we could not use */
	bd_fini(bd);
	return ret;
}

static uint64_t earliest(uint64_t a, uint64_t b)
{
	return !a ? b : (!b || a < b) ? a : b;
}

static int wait_ms(struct bd *bd, int max_wait_ms)
{
	uint64_t now = bc_now_ms(), due = bd->next_tick_ms;
	int64_t ms;

	for (size_t i = 0; i < bd->nvms; i++)
		due = earliest(due, bd_vm_deadline(bd->vms[i]));
	due = earliest(due, bd_ctl_deadline(bd));
	due = earliest(due, bd_metrics_deadline(bd));
	if (bd->urgent)
		due = earliest(due, bd->last_urgent_ms + BD_URGENT_GAP_MS);
	ms = due > now ? (int64_t)(due - now) : 0;
	if (max_wait_ms >= 0 && ms > max_wait_ms)
		ms = max_wait_ms;
	return (int)ms;
}

int bd_run_once(struct bd *bd, int max_wait_ms)
{
	int ret = bd_loop_wait(&bd->loop, wait_ms(bd, max_wait_ms));
	uint64_t now;
	bool tick;

	if (ret < 0)
		return ret;
	bd->cnt.loops++;
	bd_metrics_run(bd);
	now = bc_now_ms();
	tick = now >= bd->next_tick_ms;
	if (tick) {
		bd->next_tick_ms += bd->params.tick_ms;
		if (bd->next_tick_ms <= now)
			bd->next_tick_ms = now + bd->params.tick_ms;
	}
	for (size_t i = 0; i < bd->nvms; i++)
		bd_vm_tick(bd->vms[i], now, tick);
	if (tick ||
	    (bd->urgent && now >= bd->last_urgent_ms + BD_URGENT_GAP_MS)) {
		if (!tick)
			bd->last_urgent_ms = now;
		bd->urgent = false;
		bd_policy_step(bd, now);
	}
	bd_ctl_poll(bd, now);
	return 0;
}

void bd_fini(struct bd *bd)
{
	if (!bd->loading)
		bd_state_save(bd);
	bd->loading = true;
	bd_ctl_fini(bd); /* first: replies to calls still open go nowhere */
	for (size_t i = 0; i < bd->nvms; i++)
		bd_vm_free(bd->vms[i]);
	bd->nvms = 0;
	bd_metrics_fini(bd);
	if (bd->sigfd >= 0) {
		bd_loop_del(&bd->loop, &bd->sigw);
		close(bd->sigfd);
		bd->sigfd = -1;
	}
	bd_loop_fini(&bd->loop);
	free(bd->vms);
	free(bd->saved);
	free(bd->pvms);
	free(bd->pvst);
	free(bd->pout);
	free(bd->pvm);
	bd_state_unlock(bd); /* last: the state is saved, the socket gone */
	bd->vms = NULL;
	bd->saved = NULL;
	bd->pvms = NULL;
	bd->pvst = NULL;
	bd->pout = NULL;
	bd->pvm = NULL;
}
