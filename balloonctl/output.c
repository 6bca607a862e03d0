/* SPDX-License-Identifier: MIT */
/* output.c - tables, key: value blocks and JSON for balloonctl. */
#include "output.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bc_util.h"

struct ctl_table {
	size_t ncols, nrows, cap;
	unsigned right;
	unsigned gap; /* blanks between columns */
	bool header;
	char **cells; /* (nrows + header) * ncols */
};

struct ctl_table *bctl_table_new(size_t ncols, const char *const *headers,
                                 unsigned right_mask)
{
	struct ctl_table *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->ncols = ncols;
	t->right = right_mask;
	t->gap = 2;
	if (headers) {
		if (bctl_table_add(t, headers)) {
			free(t);
			return NULL;
		}
		t->header = true;
		t->nrows = 0;
	}
	return t;
}

static size_t stored_rows(const struct ctl_table *t)
{
	return t->nrows + (t->header ? 1 : 0);
}

int bctl_table_add(struct ctl_table *t, const char *const *cells)
{
	size_t row = stored_rows(t);

	if (row == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 8;
		char **nc = realloc(t->cells, cap * t->ncols * sizeof(*nc));
		if (!nc)
			return -ENOMEM;
		t->cells = nc;
		t->cap = cap;
	}
	for (size_t i = 0; i < t->ncols; i++) {
		char *s = strdup(cells[i] ? cells[i] : "-");
		if (!s) {
			while (i--)
				free(t->cells[row * t->ncols + i]);
			return -ENOMEM;
		}
		t->cells[row * t->ncols + i] = s;
	}
	t->nrows++;
	return 0;
}

void bctl_table_gap(struct ctl_table *t, unsigned gap)
{
	t->gap = gap;
}

size_t bctl_table_rows(const struct ctl_table *t)
{
	return t->nrows;
}

void bctl_table_print(const struct ctl_table *t, FILE *f)
{
	size_t rows = stored_rows(t);
	size_t *w = calloc(t->ncols ? t->ncols : 1, sizeof(*w));

	if (!w)
		return;
	for (size_t r = 0; r < rows; r++)
		for (size_t c = 0; c < t->ncols; c++) {
			size_t n = strlen(t->cells[r * t->ncols + c]);
			if (n > w[c])
				w[c] = n;
		}
	for (size_t r = 0; r < rows; r++) {
		for (size_t c = 0; c < t->ncols; c++) {
			const char *s = t->cells[r * t->ncols + c];
			bool last = c + 1 == t->ncols;
			int pad = (int)w[c];
			if (c)
				fprintf(f, "%*s", (int)t->gap, "");
			if (t->right & (1u << c))
				fprintf(f, "%*s", pad, s);
			else if (last)
				fputs(s, f); /* no trailing blanks */
			else
				fprintf(f, "%-*s", pad, s);
		}
		fputc('\n', f);
	}
	free(w);
}

void bctl_table_free(struct ctl_table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < stored_rows(t) * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t);
}

bool bctl_json_u64(struct json_object *o, const char *key, uint64_t *v)
{
	struct json_object *x;

	if (!o || !json_object_object_get_ex(o, key, &x) ||
	    !json_object_is_type(x, json_type_int))
		return false;
	if (json_object_get_int64(x) < 0)
		return false; /* QEMU's "not reported" is -1 */
	*v = json_object_get_uint64(x);
	return true;
}

const char *bctl_json_str(struct json_object *o, const char *key,
                          const char *dflt)
{
	struct json_object *x;

	if (o && json_object_object_get_ex(o, key, &x) &&
	    json_object_is_type(x, json_type_string))
		return json_object_get_string(x);
	return dflt;
}

const char *bctl_size_field(struct json_object *o, const char *key, char *buf,
                            size_t len)
{
	uint64_t v;

	if (!bctl_json_u64(o, key, &v))
		return "-";
	return bc_format_size(v, buf, len);
}

void bctl_print_json(FILE *f, struct json_object *o, bool pretty)
{
	int fl = JSON_C_TO_STRING_NOSLASHESCAPE |
	         (pretty ? JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED
	                 : JSON_C_TO_STRING_PLAIN);

	fprintf(f, "%s\n", json_object_to_json_string_ext(o, fl));
}

void bctl_print_error(const struct ctl_io *io, const struct ctl_err *e)
{
	fprintf(io->err, "balloonctl: %s\n", e->message);
	if (!io->json)
		return;
	struct json_object *o = json_object_new_object();
	struct json_object *eo = json_object_new_object();
	json_object_object_add(eo, "code", json_object_new_string(e->code));
	json_object_object_add(eo, "message",
	                       json_object_new_string(e->message));
	json_object_object_add(o, "ok", json_object_new_boolean(0));
	json_object_object_add(o, "error", eo);
	bctl_print_json(io->out, o, true);
	json_object_put(o);
}

char *bctl_format_time(double t, double now, char *buf, size_t len)
{
	time_t secs = (time_t)t;
	struct tm tm;
	char when[32];
	double age = now - t;

	if (t <= 0 || !localtime_r(&secs, &tm)) {
		snprintf(buf, len, "never");
		return buf;
	}
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
	if (age < 0)
		age = 0;
	if (age < 100)
		snprintf(buf, len, "%s (%.1f s ago)", when, age);
	else
		snprintf(buf, len, "%s (%.0f min ago)", when, age / 60);
	return buf;
}

/* A key: value block is a header-less two-column table, one blank after
 * the longest "key:". */
static struct ctl_table *kv_new(void)
{
	struct ctl_table *t = bctl_table_new(2, NULL, 0);

	if (t)
		bctl_table_gap(t, 1);
	return t;
}

static void kv_add(struct ctl_table *t, const char *key, const char *val)
{
	char k[64];

	snprintf(k, sizeof(k), "%s:", key);
	const char *row[2] = {k, val};
	bctl_table_add(t, row);
}

static void kv_size(struct ctl_table *t, struct json_object *o, const char *key)
{
	char buf[32];

	kv_add(t, key, bctl_size_field(o, key, buf, sizeof(buf)));
}

/* A scalar as text: numbers plain, strings bare, booleans yes/no. */
static const char *scalar(struct json_object *x, char *buf, size_t len)
{
	switch (json_object_get_type(x)) {
	case json_type_null:
		return "-";
	case json_type_boolean:
		return json_object_get_boolean(x) ? "yes" : "no";
	case json_type_double:
		snprintf(buf, len, "%g", json_object_get_double(x));
		return buf;
	case json_type_int:
		snprintf(buf, len, "%lld", (long long)json_object_get_int64(x));
		return buf;
	case json_type_string:
		return json_object_get_string(x);
	default:
		return json_object_to_json_string_ext(x,
		                                      JSON_C_TO_STRING_PLAIN);
	}
}

static void kv_raw(struct ctl_table *t, struct json_object *o, const char *key)
{
	struct json_object *x;
	char buf[64];

	if (!json_object_object_get_ex(o, key, &x))
		kv_add(t, key, "-");
	else
		kv_add(t, key, scalar(x, buf, sizeof(buf)));
}

static void print_kv(struct ctl_table *t, FILE *f)
{
	if (t)
		bctl_table_print(t, f);
	bctl_table_free(t);
}

void bctl_print_vms(FILE *f, struct json_object *vms)
{
	static const char *const hdr[] = {"NAME", "STATE", "ACTUAL", "TARGET",
	                                  "MIN",  "MAX",   "AVAIL",  "SHARES",
	                                  "MODE", "REASON"};
	struct ctl_table *t = bctl_table_new(10, hdr, 0xfc);
	size_t n = json_object_is_type(vms, json_type_array)
	                   ? json_object_array_length(vms)
	                   : 0;

	if (!t)
		return;
	for (size_t i = 0; i < n; i++) {
		struct json_object *vm = json_object_array_get_idx(vms, i);
		struct json_object *st = NULL, *pin;
		char b[5][32], sh[16] = "-";
		uint64_t v;
		json_object_object_get_ex(vm, "stats", &st);
		if (bctl_json_u64(vm, "shares", &v))
			snprintf(sh, sizeof(sh), "%llu", (unsigned long long)v);
		bool pinned = json_object_object_get_ex(vm, "pinned", &pin) &&
		              json_object_get_boolean(pin);
		const char *row[10] = {
		        bctl_json_str(vm, "name", "?"),
		        bctl_json_str(vm, "state", "-"),
		        bctl_size_field(vm, "actual", b[0], 32),
		        bctl_size_field(vm, "target", b[1], 32),
		        bctl_size_field(vm, "min", b[2], 32),
		        bctl_size_field(vm, "max", b[3], 32),
		        bctl_size_field(st, "stat-available-memory", b[4], 32),
		        sh,
		        pinned ? "pinned" : "auto",
		        bctl_json_str(vm, "reason", "-")};
		bctl_table_add(t, row);
	}
	bctl_table_print(t, f);
	bctl_table_free(t);
}

void bctl_print_vm(FILE *f, struct json_object *vm, double now)
{
	struct ctl_table *t = kv_new();
	struct json_object *x;
	uint64_t max, actual;
	char buf[64];
	double up = 0;

	if (!t)
		return;
	kv_add(t, "name", bctl_json_str(vm, "name", "?"));
	kv_add(t, "state", bctl_json_str(vm, "state", "-"));
	kv_add(t, "qmp", bctl_json_str(vm, "qmp", "-"));
	kv_size(t, vm, "actual");
	kv_size(t, vm, "target");
	kv_size(t, vm, "min");
	kv_size(t, vm, "max");
	kv_size(t, vm, "boot");
	/* The balloon holds boot - actual; max stands in for an unknown boot.
	 */
	if ((bctl_json_u64(vm, "boot", &max) ||
	     bctl_json_u64(vm, "max", &max)) &&
	    bctl_json_u64(vm, "actual", &actual) && max >= actual)
		kv_add(t, "balloon", bc_format_size(max - actual, buf, 32));
	else
		kv_add(t, "balloon", "-");
	kv_raw(t, vm, "shares");
	kv_raw(t, vm, "pinned");
	kv_add(t, "reason", bctl_json_str(vm, "reason", "-"));
	kv_raw(t, vm, "errors");
	if (json_object_object_get_ex(vm, "stats-updated", &x))
		up = json_object_get_double(x);
	kv_add(t, "stats-updated", bctl_format_time(up, now, buf, sizeof(buf)));
	print_kv(t, f);
}

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static bool in_list(const char *name, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(name, list[i]))
			return true;
	return false;
}

/* QEMU stats that are amounts of memory (bytes); the rest are counters. */
static const char *const byte_stats[] = {
        "stat-swap-in",      "stat-swap-out",         "stat-free-memory",
        "stat-total-memory", "stat-available-memory", "stat-disk-caches"};

/* The order of balloonctl(1): virtio-balloon stat tags 0-9 as QEMU names
 * them, then the extended counters Linux reports (tags 10-15). */
static const char *const stat_order[] = {
        "stat-swap-in",          "stat-swap-out",     "stat-major-faults",
        "stat-minor-faults",     "stat-free-memory",  "stat-total-memory",
        "stat-available-memory", "stat-disk-caches",  "stat-htlb-pgalloc",
        "stat-htlb-pgfail",      "stat-oom-kills",    "stat-alloc-stalls",
        "stat-async-scans",      "stat-direct-scans", "stat-async-reclaims",
        "stat-direct-reclaims"};

static void stat_row(struct ctl_table *t, struct json_object *st,
                     const char *key, struct json_object *val)
{
	char buf[64];

	if (in_list(key, byte_stats, NELEM(byte_stats)))
		kv_size(t, st, key);
	else if (json_object_is_type(val, json_type_int) &&
	         json_object_get_int64(val) < 0)
		kv_add(t, key, "-");
	else
		kv_add(t, key, scalar(val, buf, sizeof(buf)));
}

void bctl_print_stats(FILE *f, struct json_object *res, double now)
{
	struct ctl_table *t = kv_new();
	struct json_object *st = NULL, *x;
	char buf[64];
	double up = 0;

	if (!t)
		return;
	kv_add(t, "vm", bctl_json_str(res, "vm", "?"));
	if (json_object_object_get_ex(res, "last-update", &x))
		up = json_object_get_double(x);
	kv_add(t, "last-update", bctl_format_time(up, now, buf, sizeof(buf)));
	json_object_object_get_ex(res, "stats", &st);
	if (json_object_is_type(st, json_type_object)) {
		/* The documented order first (virtio tag order), whatever the
		 * peer's JSON order was; then anything else it reported. */
		for (size_t i = 0; i < NELEM(stat_order); i++)
			if (json_object_object_get_ex(st, stat_order[i], &x))
				stat_row(t, st, stat_order[i], x);
		json_object_object_foreach(st, key, val)
		{
			if (!in_list(key, stat_order, NELEM(stat_order)))
				stat_row(t, st, key, val);
		}
	}
	print_kv(t, f);
}

void bctl_print_host(FILE *f, struct json_object *host)
{
	struct ctl_table *t = kv_new();
	struct json_object *x;
	char buf[32];

	if (!t)
		return;
	kv_size(t, host, "total");
	kv_size(t, host, "free");
	kv_size(t, host, "available");
	static const char *const psi[] = {"psi-some-avg10", "psi-full-avg10"};
	for (int i = 0; i < 2; i++) {
		if (json_object_object_get_ex(host, psi[i], &x)) {
			snprintf(buf, sizeof(buf), "%.2f %%",
			         json_object_get_double(x));
			kv_add(t, psi[i], buf);
		} else {
			kv_add(t, psi[i], "-");
		}
	}
	kv_add(t, "state", bctl_json_str(host, "state", "-"));
	print_kv(t, f);
}

/* Policy parameters that are sizes in bytes. */
static bool size_param(const char *key)
{
	static const char *const sizes[] = {"margin", "max_shrink",
	                                    "budget", "host_reserve",
	                                    "step",   "proxmox_step"};
	size_t n = strlen(key);

	if (n > 6 && !strcmp(key + n - 6, "_bytes"))
		return true;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		if (!strcmp(key, sizes[i]))
			return true;
	return false;
}

void bctl_print_policy(FILE *f, struct json_object *pol)
{
	struct ctl_table *t = kv_new();
	char buf[64];

	if (!t)
		return;
	if (json_object_is_type(pol, json_type_object)) {
		json_object_object_foreach(pol, key, val)
		{
			if (size_param(key) &&
			    json_object_is_type(val, json_type_int))
				kv_size(t, pol, key);
			else if (json_object_is_type(val, json_type_boolean))
				kv_add(t, key,
				       json_object_get_boolean(val) ? "true"
				                                    : "false");
			else
				kv_add(t, key, scalar(val, buf, sizeof(buf)));
		}
	}
	print_kv(t, f);
}

void bctl_print_version(FILE *f, struct json_object *res)
{
	struct json_object *p;

	fprintf(f, "balloond %s (control protocol %d)\n",
	        bctl_json_str(res, "version", "?"),
	        json_object_object_get_ex(res, "protocol", &p)
	                ? json_object_get_int(p)
	                : 0);
}
