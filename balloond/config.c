/* SPDX-License-Identifier: MIT */
/*
 * config.c - balloond's INI config file via libinih.  inih does not tell a
 * handler its line number (Debian builds it without INI_HANDLER_LINENO), so
 * the file is fed through ini_parse_stream with a reader that counts lines.
 */
#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int bd_conf_set_str(char **slot, const char *value)
{
	char *dup = NULL;

	if (value) {
		dup = strdup(value);
		if (!dup)
			return -ENOMEM;
	}
	free(*slot);
	*slot = dup;
	return 0;
}

int bd_conf_init(struct bd_conf *c)
{
	memset(c, 0, sizeof(*c));
	c->log_level = BC_LOG_INFO;
	c->policy_enabled = true;
	c->stats_alert_ms = BD_STATS_ALERT_MS;
	bln_policy_defaults(&c->policy, BLN_POLICY_IDLETAX);
	if (bd_conf_set_str(&c->socket_path, BD_DEFAULT_SOCKET) ||
	    bd_conf_set_str(&c->state_path, BD_DEFAULT_STATE) ||
	    bd_conf_set_str(&c->proc_root, "/proc")) {
		bd_conf_free(c);
		return -ENOMEM;
	}
	return 0;
}

void bd_conf_free(struct bd_conf *c)
{
	free(c->socket_path);
	free(c->state_path);
	free(c->metrics);
	free(c->socket_group);
	free(c->proc_root);
	for (size_t i = 0; i < c->nvms; i++)
		free(c->vms[i].qmp);
	free(c->vms);
	memset(c, 0, sizeof(*c));
}

bool bd_name_valid(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > BD_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = name[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '_' || ch == '-' ||
		      ch == '.'))
			return false;
	}
	return true;
}

struct parse_ctx {
	struct bd_conf *c;
	FILE *f;
	const char *path;
	int line;         /* of the line inih is handling */
	int section_line; /* of the last [section] header */
	int err_line;     /* first error, 0 = none */
	char *err;
	size_t errlen;
};

static int fail(struct parse_ctx *x, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

static int fail(struct parse_ctx *x, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (x->err_line)
		return 0;
	x->err_line = x->line ? x->line : -1;
	if (x->line)
		n = snprintf(x->err, x->errlen, "%s:%d: ", x->path, x->line);
	else
		n = snprintf(x->err, x->errlen, "%s: ", x->path);
	if (n < 0 || (size_t)n >= x->errlen)
		return 0;
	va_start(ap, fmt);
	vsnprintf(x->err + n, x->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return 0;
}

static char *reader(char *str, int num, void *stream)
{
	struct parse_ctx *x = stream;
	char *s = fgets(str, num, x->f);
	size_t n;

	if (!s)
		return NULL;
	x->line++;
	n = strspn(s, " \t");
	if (s[n] == '[')
		x->section_line = x->line;
	n = strlen(s);
	if (n == (size_t)num - 1 && s[n - 1] != '\n' && !feof(x->f)) {
		int ch;
		fail(x, "line too long (limit %d bytes)", num - 3);
		while ((ch = fgetc(x->f)) != EOF && ch != '\n')
			;
	}
	return s;
}

static int daemon_key(struct parse_ctx *x, const char *k, const char *v)
{
	struct bd_conf *c = x->c;

	if (!strcmp(k, "socket"))
		return bd_conf_set_str(&c->socket_path, v) ? 0 : 1;
	if (!strcmp(k, "state"))
		return bd_conf_set_str(&c->state_path, v) ? 0 : 1;
	if (!strcmp(k, "socket_group"))
		return bd_conf_set_str(&c->socket_group, v) ? 0 : 1;
	if (!strcmp(k, "metrics")) {
		if (!strcmp(v, "off") || !*v)
			v = NULL;
		else if (!strcmp(v, "on"))
			v = BD_METRICS_DEFAULT;
		return bd_conf_set_str(&c->metrics, v) ? 0 : 1;
	}
	if (!strcmp(k, "log_level")) {
		if (bc_log_level_parse(v, &c->log_level))
			return fail(x,
			            "log_level: '%s' is not one of error, "
			            "warning, info, debug",
			            v);
		return 1;
	}
	if (!strcmp(k, "tick_ms")) {
		if (bd_param_set_text(&c->policy, &c->policy_enabled, k, v) ||
		    c->policy.tick_ms == 0)
			return fail(x,
			            "tick_ms: '%s' is not a positive integer",
			            v);
		return 1;
	}
	if (!strcmp(k, "stats_alert_ms")) {
		char *end;
		unsigned long n = strtoul(v, &end, 10);
		if (*v < '0' || *v > '9' || *end ||
		    (n && (n < 10 || n > BD_STATS_ALERT_MAX)))
			return fail(x,
			            "stats_alert_ms: '%s' is not 0 (off) or "
			            "10..%d",
			            v, BD_STATS_ALERT_MAX);
		c->stats_alert_ms = (uint32_t)n;
		return 1;
	}
	return fail(x, "unknown key '%s' in [daemon]", k);
}

static struct bd_vm_conf *vm_section(struct parse_ctx *x, const char *name)
{
	struct bd_conf *c = x->c;
	struct bd_vm_conf *v;

	for (size_t i = 0; i < c->nvms; i++)
		if (!strcmp(c->vms[i].name, name))
			return &c->vms[i];
	v = realloc(c->vms, (c->nvms + 1) * sizeof(*v));
	if (!v)
		return NULL;
	c->vms = v;
	v = &c->vms[c->nvms++];
	memset(v, 0, sizeof(*v));
	strcpy(v->name, name);
	v->shares = BD_DEFAULT_SHARES;
	v->line = x->section_line;
	return v;
}

static int vm_key(struct parse_ctx *x, const char *name, const char *k,
                  const char *v)
{
	struct bd_vm_conf *vm;
	uint64_t n;

	if (!bd_name_valid(name))
		return fail(x,
		            "invalid VM name '%s' (use 1-%d of A-Z a-z 0-9 "
		            "_ . -)",
		            name, BD_NAME_MAX);
	vm = vm_section(x, name);
	if (!vm)
		return fail(x, "out of memory");
	if (!strcmp(k, "qmp"))
		return bd_conf_set_str(&vm->qmp, v) ? 0 : 1;
	if (!strcmp(k, "min") || !strcmp(k, "max")) {
		if (bc_parse_size(v, &n))
			return fail(x, "%s: '%s' is not a size", k, v);
		*(k[1] == 'i' ? &vm->min : &vm->max) = n;
		return 1;
	}
	if (!strcmp(k, "shares")) {
		char *end;
		unsigned long s = strtoul(v, &end, 10);
		if (*v < '0' || *v > '9' || *end || s == 0 || s > BD_SHARES_MAX)
			return fail(x,
			            "shares: '%s' is not an integer in 1..%d",
			            v, BD_SHARES_MAX);
		vm->shares = (uint32_t)s;
		return 1;
	}
	return fail(x, "unknown key '%s' in [vm %s]", k, name);
}

static int handler(void *user, const char *section, const char *k,
                   const char *v)
{
	struct parse_ctx *x = user;
	int ret;

	if (!strcmp(section, "daemon"))
		return daemon_key(x, k, v);
	if (!strcmp(section, "policy")) {
		ret = bd_param_set_text(&x->c->policy, &x->c->policy_enabled, k,
		                        v);
		if (ret == -ENOENT)
			return fail(x, "unknown key '%s' in [policy]", k);
		if (ret)
			return fail(x, "%s: bad value '%s'", k, v);
		return 1;
	}
	if (!strncmp(section, "vm ", 3))
		return vm_key(x, section + 3, k, v);
	if (!*section)
		return fail(x, "key '%s' outside any section", k);
	return fail(x, "unknown section [%s]", section);
}

/* Checks that need the whole file; blame the VM's section header. */
static void check_vms(struct parse_ctx *x)
{
	struct bd_conf *c = x->c;

	for (size_t i = 0; i < c->nvms && !x->err_line; i++) {
		struct bd_vm_conf *v = &c->vms[i];
		x->line = v->line;
		if (!v->qmp || !*v->qmp)
			fail(x, "[vm %s] needs qmp=PATH", v->name);
		else if (v->max && v->min > v->max)
			fail(x, "[vm %s] min is above max", v->name);
	}
	if (!x->err_line && bln_policy_validate(&c->policy)) {
		x->line = 0;
		fail(x, "[policy] parameters are inconsistent (see "
		        "balloond(8): thresholds must satisfy "
		        "low <= hard <= soft <= high, rates in range)");
	}
}

int bd_conf_load(struct bd_conf *c, const char *path, char *err, size_t len)
{
	struct parse_ctx x = {.c = c, .path = path, .err = err, .errlen = len};
	int ret;

	x.f = fopen(path, "re");
	if (!x.f) {
		ret = -errno;
		snprintf(err, len, "%s: %s", path, strerror(-ret));
		return ret;
	}
	ret = ini_parse_stream(reader, &x, handler, &x);
	fclose(x.f);
	if (ret > 0 && (!x.err_line || x.err_line < 0 || ret < x.err_line)) {
		/* inih reports its first error: a syntax error before ours */
		x.err_line = 0;
		x.line = ret;
		fail(&x, "syntax error (expected [section] or key = value)");
	} else if (ret < 0 && !x.err_line) {
		snprintf(err, len, "%s: cannot parse (%d)", path, ret);
		return -EINVAL;
	}
	if (!x.err_line)
		check_vms(&x);
	return x.err_line ? -EINVAL : 0;
}
