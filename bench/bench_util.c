/* SPDX-License-Identifier: MIT */
#include "bench_util.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "balloon/bln_prim.h"
#include "bc_util.h"

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

double bench_median(double *v, unsigned n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int parse_list(const char *s, unsigned long *out, unsigned *n)
{
	char *copy = strdup(s), *save = NULL, *tok;
	int ret = 0;

	*n = 0;
	for (tok = strtok_r(copy, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		char *end;
		unsigned long v = strtoul(tok, &end, 10);
		if (*end || !v || *n == BENCH_MAX_SWEEP) {
			ret = -1;
			break;
		}
		out[(*n)++] = v;
	}
	free(copy);
	return *n ? ret : -1;
}

static void usage(const char *prog)
{
	fprintf(stderr,
	        "usage: %s [--size 4G] [--target 256M] [--batch 256,4096,...]\n"
	        "          [--inflight 1,8,...] [--repeats 3] [--csv FILE]\n",
	        prog);
}

int bench_parse_opts(int argc, char **argv, struct bench_opts *o)
{
	static const struct option opts[] = {
	        {"size", 1, NULL, 's'},    {"target", 1, NULL, 't'},
	        {"batch", 1, NULL, 'b'},   {"inflight", 1, NULL, 'i'},
	        {"repeats", 1, NULL, 'r'}, {"csv", 1, NULL, 'c'},
	        {"help", 0, NULL, 'h'},    {NULL, 0, NULL, 0},
	};
	unsigned long tmp[BENCH_MAX_SWEEP];
	int c;

	memset(o, 0, sizeof(*o));
	o->size = 4ull << 30;
	o->target = 256ull << 20;
	o->repeats = 3;
	o->batch[0] = 256, o->batch[1] = 4096, o->batch[2] = 16384;
	o->n_batch = 3;
	o->inflight[0] = 1, o->inflight[1] = 8;
	o->n_inflight = 2;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's':
		case 't':
			if (bc_parse_size(optarg,
			                  c == 's' ? &o->size : &o->target))
				goto bad;
			break;
		case 'b':
			if (parse_list(optarg, tmp, &o->n_batch))
				goto bad;
			for (unsigned i = 0; i < o->n_batch; i++)
				o->batch[i] = (uint32_t)tmp[i];
			break;
		case 'i':
			if (parse_list(optarg, tmp, &o->n_inflight))
				goto bad;
			for (unsigned i = 0; i < o->n_inflight; i++)
				o->inflight[i] = (uint16_t)tmp[i];
			break;
		case 'r':
			o->repeats = (unsigned)atoi(optarg);
			if (!o->repeats)
				goto bad;
			break;
		case 'c':
			o->csv = optarg;
			break;
		default:
			goto bad;
		}
	}
	if (o->target >= o->size || o->size % 4096 || o->target % 4096)
		goto bad;
	return 0;
bad:
	usage(argv[0]);
	return -1;
}

void bench_touch(void *p, uint64_t n)
{
	volatile uint8_t *b = p;

	for (uint64_t off = 0; off < n; off += 4096)
		b[off] = 1;
}

double bench_raw_release_rate(uint64_t size, uint64_t moved, unsigned repeats)
{
	double v[64];
	unsigned n = 0;

	for (unsigned r = 0; r < repeats && n < 64; r++) {
		void *p;
		int fd = bln_prim_memfd("bench-raw", size);
		if (fd < 0)
			continue;
		if (bln_prim_map(fd, size, &p)) {
			close(fd);
			continue;
		}
		bench_touch(p, size);
		uint64_t t0 = bc_now_ns();
		int ret = bln_prim_release(BLN_BACKING_MEMFD, fd, p, 0, moved);
		uint64_t dt = bc_now_ns() - t0;
		if (!ret)
			v[n++] = (double)moved / 1073741824.0 /
			         ((double)dt / 1e9);
		bln_prim_unmap(p, size);
		close(fd);
	}
	return n ? bench_median(v, n) : 0;
}

int bench_measure(const struct bench_opts *o, uint32_t batch, uint16_t inflight,
                  bench_fn fn, struct bench_row *row)
{
	double inf[64] = {0}, def[64] = {0};
	unsigned n = 0;

	memset(row, 0, sizeof(*row));
	row->batch = batch;
	row->inflight = inflight;
	for (unsigned r = 0; r < o->repeats && n < 64; r++) {
		struct bench_result res;
		int ret = fn(o->size, o->target, batch, inflight, &res);
		if (ret)
			return ret;
		inf[n] = res.inflate_s;
		def[n] = res.deflate_s;
		row->reqs = res.reqs;
		row->ranges = res.ranges;
		n++;
	}
	double lo = inf[0], hi = inf[0];
	for (unsigned i = 1; i < n; i++) {
		lo = inf[i] < lo ? inf[i] : lo;
		hi = inf[i] > hi ? inf[i] : hi;
	}
	row->inflate_s = bench_median(inf, n);
	row->deflate_s = bench_median(def, n);
	row->spread_pct = 100.0 * (hi - lo) / row->inflate_s;
	return 0;
}

void bench_print_row(const struct bench_row *row, double raw_gibs,
                     uint64_t moved, FILE *csv)
{
	double gib = (double)moved / 1073741824.0;
	double inf = gib / row->inflate_s, def = gib / row->deflate_s;
	double ppr = row->reqs ? (double)moved / 4096.0 / (double)row->reqs : 0;
	double rpg = row->reqs ? (double)row->reqs / gib : 0;

	printf("%7u %8u | %6.2f/s %5.0f%% | %6.2f/s %5.0f%% | %9.0f %9.1f "
	       "%.0f%%\n",
	       row->batch, row->inflight, inf, 100 * inf / raw_gibs, def,
	       100 * def / raw_gibs, ppr, rpg, row->spread_pct);
	if (csv)
		fprintf(csv,
		        "%u,%u,%.3f,%.3f,%.3f,%.3f,%.1f,%.2f,%llu,%.3f,%.1f\n",
		        row->batch, row->inflight, inf, inf / raw_gibs, def,
		        def / raw_gibs, ppr, rpg,
		        (unsigned long long)row->ranges, raw_gibs,
		        row->spread_pct);
}
