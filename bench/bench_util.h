/* SPDX-License-Identifier: MIT */
/* bench_util.h - option parsing, the raw kernel rates, statistics and result
 * rows of the mechanism benchmark (bench_inflate).  Rates are GiB/s (2^30
 * bytes per second); times are seconds. */
#ifndef BENCH_UTIL_H
#define BENCH_UTIL_H

#include <stdint.h>
#include <stdio.h>

#define BENCH_MAX_SWEEP   16
#define BENCH_MAX_REPEATS 64

struct bench_opts {
	uint64_t size, target; /* bytes: guest RAM and the inflate target */
	uint32_t batch[BENCH_MAX_SWEEP];
	uint16_t inflight[BENCH_MAX_SWEEP];
	unsigned n_batch, n_inflight, repeats;
	uint32_t head_batch; /* the headline configuration, 0 = none */
	uint16_t head_inflight;
	unsigned head_repeats;
	uint64_t fault_sample; /* bytes faulted page by page, 0 = skip */
	const char *csv;
	/* Busy-poll budgets to compare (bln_poll_wait max_us, microseconds;
	 * 0 = block at once, as bln_wait), each a row; spin_us is the one the
	 * repeat in progress uses. */
	uint32_t spin_list[BENCH_MAX_SWEEP];
	unsigned n_spin;
	uint32_t spin_us;
};

/* One repeat of one configuration: the balloon and, right before it on the
 * same amount of memory, the raw kernel. */
struct bench_result {
	double inflate_s;      /* balloon from size to target */
	double deflate_s;      /* balloon back to size (protocol only) */
	double refill_s;       /* then the returned range made resident again */
	double raw_release_s;  /* one punch-hole call over the moved bytes */
	double raw_refill_s;   /* one populate call over the same bytes */
	uint64_t reqs, ranges; /* inflate requests, release calls */
	double spin_ms;        /* both threads' busy-poll time, inflate and
	                          deflate, milliseconds */
	double hit_pct;        /* waits that found work while spinning, % */
};

typedef int (*bench_fn)(const struct bench_opts *o, uint32_t batch,
                        uint16_t inflight, struct bench_result *res);

/* Medians over the repeats of one configuration; ratios are medians of the
 * per-repeat ratios, spreads are (max - min) / median in %. */
struct bench_row {
	uint32_t batch;
	uint16_t inflight;
	unsigned repeats;
	int headline;
	double inflate_gibs, raw_release_gibs, inflate_ratio, inflate_spread;
	double deflate_gibs;      /* protocol only */
	double deflate_fill_gibs; /* protocol + refill */
	double raw_refill_gibs, deflate_ratio, deflate_spread;
	uint64_t reqs, ranges;
	uint32_t spin_us;        /* busy-poll budget, microseconds */
	double spin_ms, hit_pct; /* medians, as in bench_result */
};

/* Parse argv; prints usage and returns -1 on bad input. */
int bench_parse_opts(int argc, char **argv, struct bench_opts *o);

/* Make [p, p + n) resident with one populate call (MADV_POPULATE_WRITE):
 * the "touched" state of guest RAM, reached without a fault per page. */
int bench_populate(void *p, uint64_t n);

/* Write one byte in every 4 KiB page of [p, p + n): a fault per page. */
void bench_touch(void *p, uint64_t n);

/* The physical limit for one repeat: a memfd of @size, made resident; one
 * fallocate(PUNCH_HOLE) over @moved bytes (raw inflate), then one populate
 * call over them (raw refill, the kernel's fastest way back). */
int bench_raw(uint64_t size, uint64_t moved, struct bench_result *res);

/* GiB/s of faulting @bytes back page by page after a punch-hole: what a
 * guest that simply uses returned memory pays.  0 on failure. */
double bench_fault_rate(uint64_t bytes);

/* Run @fn @repeats times and fill @row. */
int bench_measure(const struct bench_opts *o, uint32_t batch, uint16_t inflight,
                  unsigned repeats, bench_fn fn, struct bench_row *row);

/* Print the table header (and the CSV header if @csv). */
void bench_print_header(FILE *csv);

/* Print a table row (and a CSV line if @csv). */
void bench_print_row(const struct bench_row *row, uint64_t moved, FILE *csv);

double bench_median(double *v, unsigned n);

/* (max - min) / median of v[0..n), %. */
double bench_spread(const double *v, unsigned n);

#endif
