/* SPDX-License-Identifier: MIT */
/*
 * metrics.c - the /metrics page text (Prometheus exposition format 0.0.4):
 * per-VM settings and balloon, every guest stat, the host, daemon health.
 * VM names are restricted to [A-Za-z0-9_.-], so label values need no
 * escaping.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bc_util.h>

#include "daemon.h"
#include "metrics.h"

#define P "balloond_"

static void family(FILE *f, const char *name, const char *type,
                   const char *help)
{
	fprintf(f, "# HELP " P "%s %s\n# TYPE " P "%s %s\n", name, help, name,
	        type);
}

static void gauge(FILE *f, const char *name, const char *help, double v)
{
	family(f, name, "gauge", help);
	fprintf(f, P "%s %.15g\n", name, v);
}

static void counter(FILE *f, const char *name, const char *help, uint64_t v)
{
	family(f, name, "counter", help);
	fprintf(f, P "%s %llu\n", name, (unsigned long long)v);
}

void bd_metrics_stat_name(const char *stat, char *out, size_t len)
{
	size_t i = 0;

	if (!strncmp(stat, "stat-", 5))
		stat += 5;
	for (; *stat && i + 1 < len; stat++) {
		char ch = *stat;
		bool ok = (ch >= 'a' && ch <= 'z') ||
		          (ch >= 'A' && ch <= 'Z') ||
		          (ch >= '0' && ch <= '9') || ch == '_';
		out[i++] = ok ? ch : '_';
	}
	out[i] = '\0';
}

static void daemon_health(FILE *f, const struct bd *bd)
{
	const struct bd_counters *c = &bd->cnt;

	gauge(f, "up", "1 while balloond is running.", 1);
	gauge(f, "uptime_seconds", "Seconds since balloond started.",
	      (double)(bc_now_ms() - bd->start_ms) / 1000.0);
	counter(f, "loop_iterations_total", "Event loop iterations.", c->loops);
	counter(f, "qmp_errors_total",
	        "QMP error replies, timeouts and protocol errors.",
	        bd_qmp_errors(bd));
	counter(f, "qmp_reconnects_total",
	        "QMP connection attempts after a VM's first.", c->reconnects);
	counter(f, "targets_sent_total", "Balloon targets accepted by QMP.",
	        c->targets_sent);
	counter(f, "state_writes_total", "State file writes.", c->state_writes);
	counter(f, "state_write_errors_total", "Failed state file writes.",
	        c->state_errors);
	gauge(f, "policy_enabled", "1 if the automatic policy is on.",
	      bd->policy_enabled);
	counter(f, "policy_steps_total", "Policy steps run.", c->steps);
	counter(f, "policy_step_errors_total", "Policy steps that failed.",
	        c->step_errors);
	gauge(f, "policy_step_seconds", "Duration of the last policy step.",
	      (double)c->step_ns_last / 1e9);
	family(f, "policy_step_seconds_total", "counter",
	       "Time spent in policy steps.");
	fprintf(f, P "policy_step_seconds_total %.9f\n",
	        (double)c->step_ns_sum / 1e9);
	family(f, "policy_decisions_total", "counter",
	       "Per-VM policy decisions, by reason.");
	for (int r = 0; r < BLN_REASON_NR; r++)
		fprintf(f, P "policy_decisions_total{reason=\"%s\"} %llu\n",
		        bln_reason_name((enum bln_reason)r),
		        (unsigned long long)c->decisions[r]);
}

static void host(FILE *f, const struct bd *bd)
{
	const struct bd_host *h = &bd->host;

	gauge(f, "host_memory_total_bytes", "MemTotal of the host.",
	      (double)h->total);
	gauge(f, "host_memory_free_bytes", "MemFree of the host.",
	      (double)h->free);
	gauge(f, "host_memory_available_bytes", "MemAvailable of the host.",
	      (double)h->avail);
	gauge(f, "host_psi_available", "1 if the kernel reports memory PSI.",
	      h->psi_valid);
	gauge(f, "host_psi_some_avg10",
	      "Memory PSI 'some' avg10 (percent of time).", h->psi_some10);
	gauge(f, "host_psi_full_avg10",
	      "Memory PSI 'full' avg10 (percent of time).", h->psi_full10);
	family(f, "host_state", "gauge",
	       "Host free-memory state of the policy (1 = current).");
	for (int s = 0; s < BLN_HOST_NR; s++)
		fprintf(f, P "host_state{state=\"%s\"} %d\n",
		        bln_host_state_name((enum bln_host_state)s),
		        bd->pst.host_state == (enum bln_host_state)s);
}

enum vm_field {
	F_TARGET,
	F_ACTUAL,
	F_MAX,
	F_MIN,
	F_SHARES,
	F_PINNED,
	F_ERRORS,
	F_UPDATED,
	F_ALERTS,
	F_NR
};

static const struct {
	const char *name, *type, *help;
} vm_fields[F_NR] = {
        {"vm_target_bytes", "gauge", "Balloon target (logical VM size)."},
        {"vm_actual_bytes", "gauge", "Actual logical VM size."},
        {"vm_max_bytes", "gauge", "Maximum target (boot size)."},
        {"vm_min_bytes", "gauge", "Minimum target (floor)."},
        {"vm_shares", "gauge", "Proportional share for the policy."},
        {"vm_pinned", "gauge", "1 if a manual target pins the VM."},
        {"vm_qmp_errors_total", "counter", "QMP errors of this VM."},
        {"vm_stats_updated_seconds", "gauge",
         "Unix time of the guest's last stats update."},
        {"vm_stats_alerts_total", "counter",
         "X_BVM_STATS_ALERT events received (balloonvm guests)."},
};

static bool vm_value(const struct vm *vm, enum vm_field fd, double *v)
{
	switch (fd) {
	case F_TARGET:
		*v = (double)vm->target;
		return vm->target_known;
	case F_ACTUAL:
		*v = (double)vm->actual;
		return vm->actual_known;
	case F_MAX:
		*v = (double)vm->max;
		return vm->max != 0;
	case F_MIN:
		*v = (double)vm->min;
		return true;
	case F_SHARES:
		*v = vm->shares;
		return true;
	case F_PINNED:
		*v = vm->pinned;
		return true;
	case F_ERRORS:
		*v = (double)bd_vm_errors(vm);
		return true;
	case F_UPDATED:
		*v = vm->stats_updated;
		return vm->stats_updated > 0;
	case F_ALERTS:
		*v = (double)vm->alerts;
		return true;
	default:
		return false;
	}
}

static void vms(FILE *f, const struct bd *bd)
{
	gauge(f, "vms", "VMs managed.", (double)bd->nvms);
	for (int fd = 0; fd < F_NR; fd++) {
		family(f, vm_fields[fd].name, vm_fields[fd].type,
		       vm_fields[fd].help);
		for (size_t i = 0; i < bd->nvms; i++) {
			double v;
			if (vm_value(bd->vms[i], (enum vm_field)fd, &v))
				fprintf(f, P "%s{vm=\"%s\"} %.15g\n",
				        vm_fields[fd].name, bd->vms[i]->name,
				        v);
		}
	}
	family(f, "vm_state", "gauge", "VM link state (1 = current).");
	for (size_t i = 0; i < bd->nvms; i++)
		for (int s = VM_CONNECTING; s <= VM_ERROR; s++)
			fprintf(f, P "vm_state{vm=\"%s\",state=\"%s\"} %d\n",
			        bd->vms[i]->name,
			        bd_vm_state_name((enum vm_state)s),
			        bd->vms[i]->state == (enum vm_state)s);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* One family per stat name any VM reports, sorted, then a sample per VM. */
static void guest_stats(FILE *f, const struct bd *bd)
{
	const char **names = NULL;
	size_t n = 0, cap = 0;

	for (size_t i = 0; i < bd->nvms; i++) {
		if (!bd->vms[i]->stats)
			continue;
		json_object_object_foreach(bd->vms[i]->stats, k, v)
		{
			(void)v;
			size_t j;
			for (j = 0; j < n && strcmp(names[j], k); j++)
				;
			if (j < n)
				continue;
			if (n == cap) {
				cap = cap ? cap * 2 : 32;
				const char **a =
				        realloc(names, cap * sizeof(*a));
				if (!a)
					goto out;
				names = a;
			}
			names[n++] = k;
		}
	}
	if (n)
		qsort(names, n, sizeof(*names), cmp_str);
	for (size_t j = 0; j < n; j++) {
		char metric[128], help[192];
		snprintf(metric, sizeof(metric), "guest_");
		bd_metrics_stat_name(names[j], metric + 6, sizeof(metric) - 6);
		snprintf(help, sizeof(help),
		         "Guest statistic %s as reported over QMP.", names[j]);
		family(f, metric, "gauge", help);
		for (size_t i = 0; i < bd->nvms; i++) {
			struct json_object *v;
			if (!bd->vms[i]->stats ||
			    !json_object_object_get_ex(bd->vms[i]->stats,
			                               names[j], &v))
				continue;
			fprintf(f, P "%s{vm=\"%s\"} %llu\n", metric,
			        bd->vms[i]->name,
			        (unsigned long long)json_object_get_uint64(v));
		}
	}
out:
	free(names);
}

char *bd_metrics_text(const struct bd *bd, size_t *len)
{
	char *buf = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&buf, &n);

	if (!f)
		return NULL;
	daemon_health(f, bd);
	host(f, bd);
	vms(f, bd);
	guest_stats(f, bd);
	if (fclose(f)) {
		free(buf);
		return NULL;
	}
	if (len)
		*len = n;
	return buf;
}
