/* SPDX-License-Identifier: MIT */
/*
 * workload_spec.c - workload spec strings: parse, validate, format, and
 * run-time changes.  Table-driven: each kind lists its parameters, their
 * types, and whether they may change while the workload runs.
 */
#include "workload_int.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bc_util.h"

#define MAX_SIZE (UINT64_C(1) << 40)  /* 1 TiB per workload */
#define MAX_MS   (UINT64_C(86400000)) /* durations up to a day */

enum ptype { T_SIZE, T_FRAC, T_ALPHA, T_COUNT, T_DUR, T_REPEAT };

struct param {
	const char *key;
	enum ptype t;
	size_t off;
	bool runtime; /* may change while running */
};

#define P(k, t, f, rt)                                                         \
	{                                                                      \
		k, t, offsetof(struct wl_spec, f), rt                          \
	}

static const struct param p_steady[] = {
        P("ws", T_SIZE, size, true),
        P("write", T_FRAC, write, true),
        P("rate", T_COUNT, rate, true),
        {0},
};
static const struct param p_kv[] = {
        P("size", T_SIZE, size, false),  P("alpha", T_ALPHA, alpha, true),
        P("keys", T_COUNT, keys, false), P("write", T_FRAC, write, true),
        P("rate", T_COUNT, rate, true),  {0},
};
static const struct param p_phased[] = {
        P("peak", T_SIZE, size, false),
        P("grow", T_DUR, grow_ms, true),
        P("hold", T_DUR, hold_ms, true),
        P("release", T_DUR, release_ms, true),
        P("idle", T_DUR, idle_ms, true),
        P("repeat", T_REPEAT, repeat, true),
        P("write", T_FRAC, write, true),
        P("rate", T_COUNT, rate, true),
        {0},
};
static const struct param p_filecache[] = {
        P("file", T_SIZE, size, false),
        P("alpha", T_ALPHA, alpha, true),
        P("rate", T_COUNT, rate, true),
        {0},
};
static const struct param p_idle[] = {
        P("size", T_SIZE, size, true),
        {0},
};

/* Per kind: parameters (the first one is the required size) and defaults. */
static const struct {
	const char *name;
	const struct param *p;
	struct wl_spec def;
} kinds[WL_NR_KINDS] = {
        [WL_STEADY] = {"steady", p_steady, {.kind = WL_STEADY, .write = 0.3}},
        [WL_KV] = {"kv", p_kv, {.kind = WL_KV, .alpha = 0.99}},
        [WL_PHASED] = {"phased",
                       p_phased,
                       {.kind = WL_PHASED,
                        .grow_ms = 5000,
                        .hold_ms = 10000,
                        .release_ms = 2000,
                        .idle_ms = 10000,
                        .repeat = 1,
                        .write = 0.3}},
        [WL_FILECACHE] = {"filecache", p_filecache, {.kind = WL_FILECACHE}},
        [WL_IDLE] = {"idle", p_idle, {.kind = WL_IDLE}},
};

void wl_errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

const char *wl_kind_name(enum wl_kind k)
{
	return (unsigned)k < WL_NR_KINDS ? kinds[k].name : "?";
}

const char *wl_state_name(enum wl_state s)
{
	static const char *const n[] = {"running", "done", "stopped", "killed",
	                                "failed"};

	return (unsigned)s <= WL_FAILED ? n[s] : "?";
}

static void expected(const struct param *p, char *buf, size_t len)
{
	size_t o = 0;

	buf[0] = 0;
	for (; p->key && o < len; p++)
		o += (size_t)snprintf(buf + o, len - o, "%s%s", o ? ", " : "",
		                      p->key);
}

static int parse_double(const char *v, double lo, double hi, double *out)
{
	char *end;
	double d;

	errno = 0;
	d = strtod(v, &end);
	if (errno || end == v || *end || !(d >= lo && d <= hi))
		return -EINVAL;
	*out = d;
	return 0;
}

static int parse_u64(const char *v, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long n;

	if (!isdigit((unsigned char)*v))
		return -EINVAL;
	errno = 0;
	n = strtoull(v, &end, 10);
	if (errno || *end || n > max)
		return -EINVAL;
	*out = n;
	return 0;
}

/* "1.5s", "500ms", "2m", "1h", "10" (seconds) -> ms */
static int parse_dur(const char *v, uint64_t *ms)
{
	static const struct {
		const char *u;
		double mul;
	} units[] = {
	        {"ms", 1}, {"s", 1e3}, {"", 1e3}, {"m", 6e4}, {"h", 3.6e6}};
	char *end;
	double d;

	errno = 0;
	d = strtod(v, &end);
	if (errno || end == v || !(d >= 0))
		return -EINVAL;
	for (unsigned i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(end, units[i].u))
			continue;
		d *= units[i].mul;
		if (d > (double)MAX_MS)
			return -EINVAL;
		*ms = (uint64_t)(d + 0.5);
		return 0;
	}
	return -EINVAL;
}

static int set_value(const char *kind, const struct param *p, const char *v,
                     struct wl_spec *s, char *err, size_t errlen)
{
	void *f = (char *)s + p->off;
	uint64_t u;
	int ret = 0;

	switch (p->t) {
	case T_SIZE:
		ret = bc_parse_size(v, &u);
		if (!ret && (u < GMM_PAGE_SIZE || u > MAX_SIZE))
			ret = -ERANGE;
		if (!ret)
			*(uint64_t *)f = u;
		break;
	case T_FRAC:
		ret = parse_double(v, 0.0, 1.0, (double *)f);
		break;
	case T_ALPHA:
		ret = parse_double(v, 0.0, 10.0, (double *)f);
		break;
	case T_COUNT:
		ret = parse_u64(v, UINT64_C(1) << 40, (uint64_t *)f);
		break;
	case T_DUR:
		ret = parse_dur(v, (uint64_t *)f);
		break;
	case T_REPEAT:
		ret = parse_u64(v, UINT32_MAX, &u);
		if (!ret)
			*(uint32_t *)f = (uint32_t)u;
		break;
	}
	if (ret) {
		static const char *const what[] = {
		        "a size from 4K to 1T (e.g. 512M)",
		        "a fraction from 0 to 1",
		        "a number from 0 to 10",
		        "a whole number",
		        "a duration such as 500ms, 5s, 2m",
		        "a whole number"};
		wl_errf(err, errlen, "%s: bad value '%s' for %s: expected %s",
		        kind, v, p->key, what[p->t]);
		return -EINVAL;
	}
	return 0;
}

static int check(struct wl_spec *s, char *err, size_t errlen)
{
	uint64_t pages = (s->size + GMM_PAGE_SIZE - 1) / GMM_PAGE_SIZE;

	if (s->kind == WL_KV) {
		if (!s->keys)
			s->keys = pages;
		if (s->size / s->keys < 64) {
			wl_errf(err, errlen,
			        "kv: %llu keys in %llu bytes make values "
			        "smaller than 64 bytes",
			        (unsigned long long)s->keys,
			        (unsigned long long)s->size);
			return -EINVAL;
		}
	}
	return 0;
}

/* Parse "k=v,k=v" of kind @k onto @s.  @base != NULL: run-time change. */
static int parse_list(enum wl_kind k, char *list, struct wl_spec *s,
                      const struct wl_spec *base, char *err, size_t errlen)
{
	const char *kn = kinds[k].name;
	char *item, exp[96];
	unsigned seen = 0;

	while ((item = strsep(&list, ",")) != NULL) {
		char *eq = strchr(item, '=');
		const struct param *p = kinds[k].p;
		unsigned i;

		if (!eq || eq == item || !eq[1]) {
			wl_errf(err, errlen, "%s: expected key=value, got '%s'",
			        kn, item);
			return -EINVAL;
		}
		*eq = 0;
		for (i = 0; p[i].key && strcmp(p[i].key, item); i++)
			;
		if (!p[i].key) {
			expected(kinds[k].p, exp, sizeof(exp));
			wl_errf(err, errlen,
			        "%s: unknown parameter '%s' (expected %s)", kn,
			        item, exp);
			return -EINVAL;
		}
		if (seen & (1u << i)) {
			wl_errf(err, errlen, "%s: %s given twice", kn, item);
			return -EINVAL;
		}
		seen |= 1u << i;
		if (set_value(kn, &p[i], eq + 1, s, err, errlen))
			return -EINVAL;
		if (base && !p[i].runtime &&
		    memcmp((const char *)s + p[i].off,
		           (const char *)base + p[i].off, sizeof(uint64_t))) {
			wl_errf(err, errlen,
			        "%s: %s cannot change at run time (stop the "
			        "workload and add a new one)",
			        kn, item);
			return -EINVAL;
		}
	}
	if (!base && !(seen & 1u)) {
		wl_errf(err, errlen, "%s: %s=SIZE is required", kn,
		        kinds[k].p[0].key);
		return -EINVAL;
	}
	return check(s, err, errlen);
}

/* Split "kind:rest" in @buf; returns the kind or -1 with a message. */
static int split_kind(char *buf, char **rest, char *err, size_t errlen)
{
	char *colon = strchr(buf, ':');

	if (!colon) {
		wl_errf(err, errlen,
		        "workload spec '%s' has no kind (expected "
		        "kind:key=value,"
		        "... with kind steady, kv, phased, filecache or idle)",
		        buf);
		return -1;
	}
	*colon = 0;
	*rest = colon + 1;
	for (int k = 0; k < WL_NR_KINDS; k++)
		if (!strcmp(buf, kinds[k].name))
			return k;
	wl_errf(err, errlen,
	        "unknown workload kind '%s' (expected steady, kv, phased, "
	        "filecache or idle)",
	        buf);
	return -1;
}

static int copy_text(const char *text, char *buf, size_t len, char *err,
                     size_t errlen)
{
	if (!text || !*text) {
		wl_errf(err, errlen, "empty workload spec");
		return -EINVAL;
	}
	if (strlen(text) >= len) {
		wl_errf(err, errlen, "workload spec longer than %zu bytes",
		        len - 1);
		return -EINVAL;
	}
	strcpy(buf, text);
	for (char *c = buf; *c; c++)
		if (isspace((unsigned char)*c)) {
			wl_errf(err, errlen, "workload spec contains a space");
			return -EINVAL;
		}
	return 0;
}

int wl_spec_parse(const char *text, struct wl_spec *out, char *err,
                  size_t errlen)
{
	char buf[512], *rest;
	struct wl_spec s;
	int k;

	if (!out || copy_text(text, buf, sizeof(buf), err, errlen))
		return -EINVAL;
	k = split_kind(buf, &rest, err, errlen);
	if (k < 0)
		return -EINVAL;
	s = kinds[k].def;
	if (parse_list((enum wl_kind)k, rest, &s, NULL, err, errlen))
		return -EINVAL;
	*out = s;
	return 0;
}

int wl_spec_change(const struct wl_spec *base, const char *text,
                   struct wl_spec *out, char *err, size_t errlen)
{
	char buf[512], *rest = buf;
	struct wl_spec s = *base;
	int k = base->kind;

	if (copy_text(text, buf, sizeof(buf), err, errlen))
		return -EINVAL;
	if (strchr(buf, ':')) {
		k = split_kind(buf, &rest, err, errlen);
		if (k < 0)
			return -EINVAL;
		if (k != (int)base->kind) {
			wl_errf(err, errlen,
			        "cannot turn a %s workload into %s (stop it "
			        "and "
			        "add a new one)",
			        kinds[base->kind].name, kinds[k].name);
			return -EINVAL;
		}
	}
	if (parse_list(base->kind, rest, &s, base, err, errlen))
		return -EINVAL;
	*out = s;
	return 0;
}

static int fmt_size(uint64_t b, char *buf, size_t len)
{
	static const char units[] = "TGMK";

	for (unsigned i = 0; i < 4; i++) {
		unsigned shift = 40 - 10 * i;

		if (b >= (UINT64_C(1) << shift) &&
		    !(b & ((UINT64_C(1) << shift) - 1)))
			return snprintf(buf, len, "%llu%c",
			                (unsigned long long)(b >> shift),
			                units[i]);
	}
	return snprintf(buf, len, "%llu", (unsigned long long)b);
}

static int fmt_value(const struct param *p, const struct wl_spec *s, char *buf,
                     size_t len)
{
	const void *f = (const char *)s + p->off;
	uint64_t u =
	        p->t == T_REPEAT ? *(const uint32_t *)f : *(const uint64_t *)f;

	switch (p->t) {
	case T_SIZE:
		return fmt_size(u, buf, len);
	case T_FRAC:
	case T_ALPHA:
		return snprintf(buf, len, "%g", *(const double *)f);
	case T_DUR:
		if (u % 1000)
			return snprintf(buf, len, "%llums",
			                (unsigned long long)u);
		return snprintf(buf, len, "%llus",
		                (unsigned long long)u / 1000);
	default:
		return snprintf(buf, len, "%llu", (unsigned long long)u);
	}
}

int wl_spec_format(const struct wl_spec *s, char *buf, size_t len)
{
	size_t o;
	char v[48];

	if (!s || (unsigned)s->kind >= WL_NR_KINDS || !buf || !len)
		return -EINVAL;
	o = (size_t)snprintf(buf, len, "%s:", kinds[s->kind].name);
	for (const struct param *p = kinds[s->kind].p; p->key && o < len; p++) {
		if (!strcmp(p->key, "rate") && !s->rate)
			continue; /* no cap: leave it out */
		fmt_value(p, s, v, sizeof(v));
		o += (size_t)snprintf(buf + o, len - o, "%s%s=%s",
		                      p == kinds[s->kind].p ? "" : ",", p->key,
		                      v);
	}
	return o < len ? (int)o : -ENOSPC;
}
