/* SPDX-License-Identifier: MIT */
/*
 * policy_step.c - how long one bln_policy_step takes for 100, 1 000 and
 * 10 000 VMs.  Each case builds a synthetic snapshot (random sizes, shares
 * and usage; 10 % of the guests swapping; budgets that keep the host in
 * SOFT with 5 % free (a partial reclaim: the water-fill bisection runs, and
 * urgent grants), LOW (last resort) and HIGH (plenty growth); the
 * baselines in a round), then times
 * the step many times from the same carried state with clock_gettime
 * (CLOCK_MONOTONIC) and reports the median and the 99th percentile.
 * Goal: <= 10 ms per step at 10 000 VMs.
 *
 * Usage: policy_step [CSV-PATH]    (default policy_step.csv)
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "balloon/bln_policy.h"

#define MIB     (1024ull * 1024ull)
#define GOAL_US 10000.0

struct world {
	size_t n;
	struct bln_policy_params p;
	struct bln_policy_state st;
	struct bln_policy_host host;
	struct bln_policy_vm *vm;
	struct bln_policy_vm_state *vst, *vst0;
	struct bln_policy_out *out;
};

struct scenario {
	const char *name;
	enum bln_policy_kind kind;
	double free_pct; /* budget leaves this much of itself free */
};

static const struct scenario scenarios[] = {
        {"idletax-soft", BLN_POLICY_IDLETAX, 5},
        {"idletax-low", BLN_POLICY_IDLETAX, -10},
        {"idletax-high", BLN_POLICY_IDLETAX, 25},
        {"proxmox-round", BLN_POLICY_PROXMOX, 3},
        {"mom-round", BLN_POLICY_MOM, 3},
        {"static", BLN_POLICY_STATIC, 3},
};

static uint64_t rng = 0x2545f4914f6cdd1dull;

static uint64_t rnd(uint64_t lo, uint64_t hi)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return lo + rng % (hi - lo + 1);
}

static void make_vm(struct bln_policy_vm *vm)
{
	uint64_t max = rnd(512, 16384) * MIB, used;

	memset(vm, 0, sizeof(*vm));
	vm->max_bytes = max;
	vm->min_bytes = max / 8;
	vm->shares = (uint32_t)rnd(500, 2000);
	vm->actual_bytes = rnd(max / 4, max) / MIB * MIB;
	vm->target_bytes = vm->actual_bytes;
	vm->stats_valid = true;
	vm->total_bytes = vm->actual_bytes - vm->actual_bytes / 64;
	used = rnd(vm->total_bytes / 20, vm->total_bytes);
	vm->avail_bytes = vm->total_bytes - used;
	vm->free_bytes = vm->avail_bytes / 3;
	vm->cache_bytes = vm->avail_bytes - vm->free_bytes;
	vm->major_faults = rnd(0, 100000);
	vm->swap_out_bytes = rnd(0, 1000) * MIB;
}

/* Build the snapshot and warm the carried state with one step, then make
 * 10 % of the guests swap so the timed step has urgent work. */
static int world_init(struct world *w, size_t n, const struct scenario *sc)
{
	uint64_t sum = 0;

	memset(w, 0, sizeof(*w));
	w->n = n;
	w->vm = calloc(n, sizeof(*w->vm));
	w->vst = calloc(n, sizeof(*w->vst));
	w->vst0 = calloc(n, sizeof(*w->vst0));
	w->out = calloc(n, sizeof(*w->out));
	if (!w->vm || !w->vst || !w->vst0 || !w->out)
		return -ENOMEM;
	bln_policy_defaults(&w->p, sc->kind);
	for (size_t i = 0; i < n; i++) {
		make_vm(&w->vm[i]);
		sum += w->vm[i].actual_bytes;
	}
	/* warm up in SOFT (3 % free), then time at the scenario's level */
	w->p.budget_bytes = (uint64_t)((double)sum / 0.97);
	w->host.total_bytes = sum * 2;
	w->host.avail_bytes = sum;
	w->host.now_ms = 1000000;
	if (bln_policy_step(&w->p, &w->st, &w->host, w->vm, w->vst, w->out, n))
		return -EINVAL;
	for (size_t i = 0; i < n; i += 10)
		w->vm[i].swap_out_bytes += rnd(2, 512) * MIB;
	w->p.budget_bytes = (uint64_t)((double)sum / (1 - sc->free_pct / 100));
	w->host.now_ms += w->p.baseline_interval_ms; /* a baseline round */
	memcpy(w->vst0, w->vst, n * sizeof(*w->vst));
	return 0;
}

static void world_free(struct world *w)
{
	free(w->vm);
	free(w->vst);
	free(w->vst0);
	free(w->out);
}

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Time @reps steps, each from the same carried state. */
static int time_steps(struct world *w, double *t, int reps)
{
	struct bln_policy_state st0 = w->st;

	for (int r = 0; r < reps; r++) {
		double t0;
		int rc;

		memcpy(w->vst, w->vst0, w->n * sizeof(*w->vst));
		w->st = st0;
		t0 = now_us();
		rc = bln_policy_step(&w->p, &w->st, &w->host, w->vm, w->vst,
		                     w->out, w->n);
		t[r] = now_us() - t0;
		if (rc)
			return rc;
	}
	qsort(t, (size_t)reps, sizeof(*t), cmp_double);
	return 0;
}

static size_t changed(const struct world *w)
{
	size_t c = 0;

	for (size_t i = 0; i < w->n; i++)
		c += w->out[i].target_bytes != w->vm[i].target_bytes;
	return c;
}

static int run_case(FILE *csv, const struct scenario *sc, size_t n, int *slow)
{
	int reps = n <= 100 ? 2000 : n <= 1000 ? 400 : 60;
	double *t = calloc((size_t)reps, sizeof(*t)), med, p99;
	struct world w;
	int rc = t ? world_init(&w, n, sc) : -ENOMEM;

	if (rc == 0)
		rc = time_steps(&w, t, reps);
	if (rc == 0) {
		med = t[reps / 2];
		p99 = t[(reps * 99) / 100];
		printf("%-18s %6zu %6d %11.1f %11.1f %11.1f %8zu  %s\n",
		       sc->name, n, reps, med, p99, t[reps - 1], changed(&w),
		       bln_host_state_name(w.st.host_state));
		fprintf(csv, "%s,%s,%zu,%d,%.2f,%.2f,%.2f,%zu,%s\n", sc->name,
		        bln_policy_kind_name(sc->kind), n, reps, med, p99,
		        t[reps - 1], changed(&w),
		        bln_host_state_name(w.st.host_state));
		if (n >= 10000 && p99 > GOAL_US)
			*slow = 1;
	}
	world_free(&w);
	free(t);
	return rc;
}

int main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : "policy_step.csv";
	const size_t sizes[] = {100, 1000, 10000};
	FILE *csv = fopen(path, "w");
	int slow = 0;

	if (!csv) {
		perror(path);
		return 1;
	}
	fprintf(csv, "scenario,kind,vms,repeats,median_us,p99_us,max_us,"
	             "changed,host_state\n");
	printf("%-18s %6s %6s %11s %11s %11s %8s  %s\n", "scenario", "vms",
	       "reps", "median_us", "p99_us", "max_us", "changed", "state");
	for (size_t s = 0; s < sizeof(scenarios) / sizeof(scenarios[0]); s++)
		for (size_t k = 0; k < 3; k++)
			if (run_case(csv, &scenarios[s], sizes[k], &slow)) {
				fprintf(stderr,
				        "policy_step: %s n=%zu failed\n",
				        scenarios[s].name, sizes[k]);
				fclose(csv);
				return 1;
			}
	if (fclose(csv)) {
		perror(path);
		return 1;
	}
	printf("goal: p99 <= %.0f us at 10000 VMs: %s\nCSV: %s\n", GOAL_US,
	       slow ? "MISSED" : "met", path);
	return 0;
}
