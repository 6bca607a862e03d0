/* SPDX-License-Identifier: MIT */
/* bench_util.h - option parsing, the raw kernel rate and result rows shared
 * by the mechanism benchmarks.  Rates are GiB/s (2^30 bytes per second). */
#ifndef BENCH_UTIL_H
#define BENCH_UTIL_H

#include <stdint.h>
#include <stdio.h>

#define BENCH_MAX_SWEEP 16

struct bench_opts {
	uint64_t size, target; /* bytes: guest RAM and the inflate target */
	uint32_t batch[BENCH_MAX_SWEEP];
	uint16_t inflight[BENCH_MAX_SWEEP];
	unsigned n_batch, n_inflight, repeats;
	const char *csv;
};

/* One balloon run: seconds for inflate and deflate and device counters. */
struct bench_result {
	double inflate_s, deflate_s;
	uint64_t reqs, released_bytes, ranges;
};

typedef int (*bench_fn)(uint64_t size, uint64_t target, uint32_t batch,
                        uint16_t inflight, struct bench_result *res);

/* Medians over repeats of one configuration. */
struct bench_row {
	uint32_t batch;
	uint16_t inflight;
	double inflate_s, deflate_s; /* medians */
	double spread_pct;           /* (max - min) / median of inflate, % */
	uint64_t reqs, ranges;
};

/* Parse argv; prints usage and returns -1 on bad input. */
int bench_parse_opts(int argc, char **argv, struct bench_opts *o);

/* Write one byte in every 4 KiB page of [p, p + n). */
void bench_touch(void *p, uint64_t n);

/* The physical limit: memfd of @size, touch it all, release @moved bytes
 * with one fallocate(PUNCH_HOLE) call; median GiB/s over @repeats. */
double bench_raw_release_rate(uint64_t size, uint64_t moved, unsigned repeats);

/* Run @fn @o->repeats times and fill @row with medians. */
int bench_measure(const struct bench_opts *o, uint32_t batch, uint16_t inflight,
                  bench_fn fn, struct bench_row *row);

/* Print a table row (and a CSV line if @csv). */
void bench_print_row(const struct bench_row *row, double raw_gibs,
                     uint64_t moved, FILE *csv);

double bench_median(double *v, unsigned n);

#endif
