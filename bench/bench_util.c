/* SPDX-License-Identifier: MIT */
#include "bench_util.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "balloon/bln_prim.h"
#include "balloon/bln_transport.h"
#include "bc_util.h"

#define GIB 1073741824.0

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

double bench_median(double *v, unsigned n)
{
	if (!n)
		return 0;
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double bench_spread(const double *v, unsigned n)
{
	double tmp[BENCH_MAX_REPEATS], lo, hi, med;

	if (!n || n > BENCH_MAX_REPEATS)
		return 0;
	memcpy(tmp, v, n * sizeof(*v));
	med = bench_median(tmp, n);
	lo = tmp[0];
	hi = tmp[n - 1];
	return med > 0 ? 100.0 * (hi - lo) / med : 0;
}

/* "A,B,...": up to BENCH_MAX_SWEEP whole numbers in [lo, hi]. */
static int parse_list(const char *s, unsigned long lo, unsigned long hi,
                      unsigned long *out, unsigned *n)
{
	char *copy = strdup(s), *save = NULL, *tok;
	int ret = 0;

	*n = 0;
	if (!copy)
		return -1;
	for (tok = strtok_r(copy, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		char *end;
		unsigned long v = strtoul(tok, &end, 10);
		if (*end || end == tok || v < lo || v > hi ||
		    *n == BENCH_MAX_SWEEP) {
			ret = -1;
			break;
		}
		out[(*n)++] = v;
	}
	free(copy);
	return *n ? ret : -1;
}

/* "BATCHxINFLIGHT" or "none". */
static int parse_headline(const char *s, struct bench_opts *o)
{
	char *end;
	unsigned long b, f;

	if (!strcmp(s, "none")) {
		o->head_batch = 0;
		return 0;
	}
	b = strtoul(s, &end, 10);
	if (*end != 'x' || !b || b > 65536)
		return -1;
	f = strtoul(end + 1, &end, 10);
	if (*end || !f || f > 256)
		return -1;
	o->head_batch = (uint32_t)b;
	o->head_inflight = (uint16_t)f;
	return 0;
}

static void usage(const char *prog)
{
	fprintf(stderr,
	        "usage: %s [--size 4G] [--target 256M]\n"
	        "          [--headline 4096x8|none] [--headline-repeats 5]\n"
	        "          [--batch 256,1024,...] [--inflight 1,8,...] "
	        "[--repeats 3]\n"
	        "          [--fault-sample 256M|0] [--csv FILE]\n"
	        "          [--spin-us 0|0,%u,...]  (busy-poll budget per "
	        "wait, us; 0 = block at once)\n",
	        prog, BLN_POLL_DEFAULT_US);
}

static void set_defaults(struct bench_opts *o)
{
	static const uint32_t batch[] = {256, 1024, 4096, 16384, 65536};

	memset(o, 0, sizeof(*o));
	o->size = 4ull << 30;
	o->target = 256ull << 20;
	o->repeats = 3;
	for (unsigned i = 0; i < sizeof(batch) / sizeof(batch[0]); i++)
		o->batch[o->n_batch++] = batch[i];
	o->inflight[0] = 1, o->inflight[1] = 8;
	o->n_inflight = 2;
	o->head_batch = 4096; /* balloonvm's configuration */
	o->head_inflight = 8;
	o->head_repeats = 5;
	o->fault_sample = 256ull << 20;
	o->spin_list[0] = 0; /* opt-in: spinning hurts on a loaded machine */
	o->n_spin = 1;
}

static int parse_count(const char *s, unsigned *out)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);

	if (*end || !v || v > BENCH_MAX_REPEATS)
		return -1;
	*out = (unsigned)v;
	return 0;
}

static int parse_one(int c, struct bench_opts *o)
{
	unsigned long tmp[BENCH_MAX_SWEEP];

	switch (c) {
	case 's':
		return bc_parse_size(optarg, &o->size) ? -1 : 0;
	case 't':
		return bc_parse_size(optarg, &o->target) ? -1 : 0;
	case 'f':
		return bc_parse_size(optarg, &o->fault_sample) ? -1 : 0;
	case 'b':
		if (parse_list(optarg, 1, 65536, tmp, &o->n_batch))
			return -1;
		for (unsigned i = 0; i < o->n_batch; i++)
			o->batch[i] = (uint32_t)tmp[i];
		return 0;
	case 'i':
		if (parse_list(optarg, 1, 65536, tmp, &o->n_inflight))
			return -1;
		for (unsigned i = 0; i < o->n_inflight; i++)
			o->inflight[i] = (uint16_t)tmp[i];
		return 0;
	case 'H':
		return parse_headline(optarg, o);
	case 'R':
		return parse_count(optarg, &o->head_repeats);
	case 'r':
		return parse_count(optarg, &o->repeats);
	case 'c':
		o->csv = optarg;
		return 0;
	case 'p': /* busy-poll budgets, microseconds, 0 = block at once */
		if (parse_list(optarg, 0, BLN_POLL_MAX_US, tmp, &o->n_spin))
			return -1;
		for (unsigned i = 0; i < o->n_spin; i++)
			o->spin_list[i] = (uint32_t)tmp[i];
		return 0;
	default:
		return -1;
	}
}

int bench_parse_opts(int argc, char **argv, struct bench_opts *o)
{
	static const struct option opts[] = {
	        {"size", 1, NULL, 's'},
	        {"target", 1, NULL, 't'},
	        {"batch", 1, NULL, 'b'},
	        {"inflight", 1, NULL, 'i'},
	        {"repeats", 1, NULL, 'r'},
	        {"headline", 1, NULL, 'H'},
	        {"headline-repeats", 1, NULL, 'R'},
	        {"fault-sample", 1, NULL, 'f'},
	        {"csv", 1, NULL, 'c'},
	        {"spin-us", 1, NULL, 'p'},
	        {"help", 0, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	int c;

	set_defaults(o);
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1)
		if (parse_one(c, o))
			goto bad;
	if (optind < argc || o->target >= o->size || o->size % 4096 ||
	    o->target % 4096 || o->fault_sample % 4096 ||
	    (o->size - o->target) / 4096 > UINT32_MAX)
		goto bad;
	return 0;
bad:
	usage(argv[0]);
	return -1;
}

int bench_populate(void *p, uint64_t n)
{
	return bln_prim_populate(p, n);
}

void bench_touch(void *p, uint64_t n)
{
	volatile uint8_t *b = p;

	for (uint64_t off = 0; off < n; off += 4096)
		b[off] = 1;
}

int bench_raw(uint64_t size, uint64_t moved, struct bench_result *res)
{
	void *p;
	uint64_t t0, t1, t2;
	int ret, fd = bln_prim_memfd("bench-raw", size);

	if (fd < 0)
		return fd;
	ret = bln_prim_map(fd, size, &p);
	if (ret)
		goto err_fd;
	ret = bench_populate(p, size);
	if (ret)
		goto err_unmap;
	t0 = bc_now_ns();
	ret = bln_prim_release(BLN_BACKING_MEMFD, fd, p, 0, moved);
	t1 = bc_now_ns();
	if (ret)
		goto err_unmap;
	ret = bench_populate(p, moved);
	t2 = bc_now_ns();
	res->raw_release_s = (double)(t1 - t0) / 1e9;
	res->raw_refill_s = (double)(t2 - t1) / 1e9;
err_unmap:
	bln_prim_unmap(p, size);
err_fd:
	close(fd);
	return ret;
}

double bench_fault_rate(uint64_t bytes)
{
	void *p;
	double rate = 0;
	int fd = bln_prim_memfd("bench-fault", bytes);

	if (fd < 0)
		return 0;
	if (bln_prim_map(fd, bytes, &p))
		goto out_fd;
	if (!bench_populate(p, bytes) &&
	    !bln_prim_release(BLN_BACKING_MEMFD, fd, p, 0, bytes)) {
		uint64_t t0 = bc_now_ns();
		bench_touch(p, bytes);
		rate = (double)bytes / GIB / ((double)(bc_now_ns() - t0) / 1e9);
	}
	bln_prim_unmap(p, bytes);
out_fd:
	close(fd);
	return rate;
}

struct samples {
	double inf[BENCH_MAX_REPEATS], raw_rel[BENCH_MAX_REPEATS];
	double inf_ratio[BENCH_MAX_REPEATS], def[BENCH_MAX_REPEATS];
	double fill[BENCH_MAX_REPEATS], raw_fill[BENCH_MAX_REPEATS];
	double def_ratio[BENCH_MAX_REPEATS];
	double spin_ms[BENCH_MAX_REPEATS], hit_pct[BENCH_MAX_REPEATS];
};

static void add_sample(struct samples *s, unsigned i, double gib,
                       const struct bench_result *r)
{
	s->inf[i] = gib / r->inflate_s;
	s->raw_rel[i] = gib / r->raw_release_s;
	s->inf_ratio[i] = s->inf[i] / s->raw_rel[i];
	s->def[i] = gib / r->deflate_s;
	s->fill[i] = gib / (r->deflate_s + r->refill_s);
	s->raw_fill[i] = gib / r->raw_refill_s;
	s->def_ratio[i] = s->fill[i] / s->raw_fill[i];
	s->spin_ms[i] = r->spin_ms;
	s->hit_pct[i] = r->hit_pct;
}

int bench_measure(const struct bench_opts *o, uint32_t batch, uint16_t inflight,
                  unsigned repeats, bench_fn fn, struct bench_row *row)
{
	static struct samples s;
	double gib = (double)(o->size - o->target) / GIB;
	unsigned n = repeats < BENCH_MAX_REPEATS ? repeats : BENCH_MAX_REPEATS;

	memset(row, 0, sizeof(*row));
	row->batch = batch;
	row->inflight = inflight;
	row->repeats = n;
	row->spin_us = o->spin_us;
	for (unsigned i = 0; i < n; i++) {
		struct bench_result res;
		int ret = fn(o, batch, inflight, &res);
		if (ret)
			return ret;
		add_sample(&s, i, gib, &res);
		row->reqs = res.reqs;
		row->ranges = res.ranges;
	}
	row->inflate_spread = bench_spread(s.inf_ratio, n);
	row->deflate_spread = bench_spread(s.def_ratio, n);
	row->inflate_gibs = bench_median(s.inf, n);
	row->raw_release_gibs = bench_median(s.raw_rel, n);
	row->inflate_ratio = bench_median(s.inf_ratio, n);
	row->deflate_gibs = bench_median(s.def, n);
	row->deflate_fill_gibs = bench_median(s.fill, n);
	row->raw_refill_gibs = bench_median(s.raw_fill, n);
	row->deflate_ratio = bench_median(s.def_ratio, n);
	row->spin_ms = bench_median(s.spin_ms, n);
	row->hit_pct = bench_median(s.hit_pct, n);
	return 0;
}

void bench_print_header(FILE *csv)
{
	printf("%6s %4s %3s | %7s %7s %5s %4s | %7s | %7s %7s %5s %4s | "
	       "%8s %8s %6s %5s %5s %7s\n",
	       "batch", "infl", "rep", "inflate", "raw", "ratio", "+-%", "defl",
	       "def+fil", "raw", "ratio", "+-%", "pfns/req", "reqs/GiB",
	       "ranges", "spin", "hit%", "spin_ms");
	if (csv)
		fprintf(csv,
		        "batch,inflight,repeats,headline,inflate_gibs,"
		        "raw_release_gibs,inflate_ratio,inflate_spread_pct,"
		        "deflate_protocol_gibs,deflate_refill_gibs,"
		        "raw_refill_gibs,deflate_ratio,deflate_spread_pct,"
		        "pages_per_req,reqs_per_gib,ranges,spin_us,"
		        "spin_hit_pct,spin_ms\n");
}

void bench_print_row(const struct bench_row *r, uint64_t moved, FILE *csv)
{
	double gib = (double)moved / GIB;
	double ppr = r->reqs ? (double)moved / 4096.0 / (double)r->reqs : 0;
	double rpg = (double)r->reqs / gib;

	printf("%6u %4u %3u | %7.2f %7.2f %4.0f%% %4.0f | %7.2f | %7.2f %7.2f "
	       "%4.0f%% %4.0f | %8.0f %8.1f %6llu %5u %4.0f%% %7.1f%s\n",
	       r->batch, r->inflight, r->repeats, r->inflate_gibs,
	       r->raw_release_gibs, 100 * r->inflate_ratio, r->inflate_spread,
	       r->deflate_gibs, r->deflate_fill_gibs, r->raw_refill_gibs,
	       100 * r->deflate_ratio, r->deflate_spread, ppr, rpg,
	       (unsigned long long)r->ranges, r->spin_us, r->hit_pct,
	       r->spin_ms, r->headline ? "  (headline)" : "");
	fflush(stdout);
	if (csv)
		fprintf(csv,
		        "%u,%u,%u,%d,%.3f,%.3f,%.3f,%.1f,%.3f,%.3f,%.3f,%.3f,"
		        "%.1f,%.1f,%.2f,%llu,%u,%.1f,%.2f\n",
		        r->batch, r->inflight, r->repeats, r->headline,
		        r->inflate_gibs, r->raw_release_gibs, r->inflate_ratio,
		        r->inflate_spread, r->deflate_gibs,
		        r->deflate_fill_gibs, r->raw_refill_gibs,
		        r->deflate_ratio, r->deflate_spread, ppr, rpg,
		        (unsigned long long)r->ranges, r->spin_us, r->hit_pct,
		        r->spin_ms);
}
