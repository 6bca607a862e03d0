/* SPDX-License-Identifier: MIT */
/*
 * main.c - balloonctl's command line: the verb table with its usage strings,
 * argument parsing (global flags anywhere, verb options, typed positional
 * arguments) and dispatch.  main() itself is in balloonctl.c.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bc_util.h"
#include "client.h"
#include "ctl.h"
#include "output.h"

#define SIZE_HINT                                                              \
	"use bytes or a number with K, M, G, T or KiB, MiB, GiB, TiB, e.g. "   \
	"512M or 1.5GiB"

const struct ctl_verb bctl_verbs[] = {
        {"list", NULL, "", "list the VMs balloond manages", NULL, CTL_ARGS_NONE,
         0, bctl_run_list},
        {"info", NULL, "VM", "show one VM: sizes, state, pinning", NULL,
         CTL_ARGS_VM, 0, bctl_run_info},
        {"add", NULL, "VM --qmp PATH [--min SIZE] [--max SIZE] [--shares N]",
         "manage a VM through its QMP socket",
         "  --qmp PATH    the VM's QMP Unix socket (required)\n"
         "  --min SIZE    reservation: never balloon below (default 0)\n"
         "  --max SIZE    limit (default: the VM's boot size)\n"
         "  --shares N    proportional share (default 1000)\n",
         CTL_ARGS_VM, CTL_OPT_QMP | CTL_OPT_MIN | CTL_OPT_MAX | CTL_OPT_SHARES,
         bctl_run_add},
        {"remove", NULL, "VM", "stop managing a VM (its balloon stays)", NULL,
         CTL_ARGS_VM, 0, bctl_run_remove},
        {"set", "setmem, mem-set", "VM SIZE [--wait] [--timeout SECONDS]",
         "set a VM's memory target and pin it",
         "  --wait           wait until the balloon has moved: actual within\n"
         "                   max(1 MiB, 1%) of the target (the balloon moves\n"
         "                   in 4 KiB pages; a guest may stop short of it)\n"
         "  --timeout SECS   give up waiting after SECS (default 60)\n"
         "The target stays pinned until 'balloonctl policy release VM'.\n",
         CTL_ARGS_SIZE, CTL_OPT_WAIT | CTL_OPT_TIMEOUT, bctl_run_set},
        {"min", "mem-min", "VM SIZE", "set a VM's minimum (reservation)", NULL,
         CTL_ARGS_SIZE, 0, bctl_run_min},
        {"max", "mem-max, setmaxmem", "VM SIZE", "set a VM's maximum (limit)",
         NULL, CTL_ARGS_SIZE, 0, bctl_run_max},
        {"shares", NULL, "VM N", "set a VM's proportional share", NULL,
         CTL_ARGS_N, 0, bctl_run_shares},
        {"stats", NULL, "VM", "show a guest's memory statistics", NULL,
         CTL_ARGS_VM, 0, bctl_run_stats},
        {"host", NULL, "", "show host memory, pressure and state", NULL,
         CTL_ARGS_NONE, 0, bctl_run_host},
        {"top", NULL, "[--interval SECONDS] [--iterations N]",
         "live view of the host and every VM",
         "  --interval SECS   refresh period (default 1)\n"
         "  --iterations N    stop after N screens (default: until ^C)\n"
         "On a terminal the screen is redrawn in place; otherwise (or with\n"
         "--json, one object per line) each refresh is printed after the\n"
         "last.\n",
         CTL_ARGS_NONE, CTL_OPT_INTERVAL | CTL_OPT_ITERATIONS, bctl_run_top},
        {"policy", "policy show", "", "show the policy's parameters", NULL,
         CTL_ARGS_NONE, 0, bctl_run_policy},
        {"policy set", NULL, "KEY=VALUE...", "change policy parameters",
         "Keys: kind (idletax|static|proxmox|mom), enabled (true|false),\n"
         "tax_rate, high_pct, soft_pct, hard_pct, low_pct, aggressiveness\n"
         "(numbers), tick_ms (integer), margin, max_shrink, budget (sizes).\n",
         CTL_ARGS_KV, 0, bctl_run_policy_set},
        {"policy release", NULL, "VM",
         "unpin a VM: the policy owns its target again", NULL, CTL_ARGS_VM, 0,
         bctl_run_policy_release},
        {"version", NULL, "", "show balloonctl's and balloond's versions", NULL,
         CTL_ARGS_NONE, 0, bctl_run_version},
};
const size_t bctl_nverbs = sizeof(bctl_verbs) / sizeof(bctl_verbs[0]);

/* @aliases is a ", "-separated list ("setmem, mem-set"). */
static bool has_alias(const char *aliases, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = aliases; p && *p;) {
		const char *end = strstr(p, ", ");
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (len == n && !strncmp(p, name, n))
			return true;
		p += len;
		if (*p)
			p += 2;
	}
	return false;
}

const struct ctl_verb *bctl_verb_find(const char *name)
{
	for (size_t i = 0; i < bctl_nverbs; i++)
		if (!strcmp(bctl_verbs[i].name, name) ||
		    has_alias(bctl_verbs[i].aliases, name))
			return &bctl_verbs[i];
	return NULL;
}

struct opt_def {
	const char *name;
	unsigned bit;
	bool value;
};

static const struct opt_def opt_defs[] = {
        {"qmp", CTL_OPT_QMP, true},
        {"min", CTL_OPT_MIN, true},
        {"max", CTL_OPT_MAX, true},
        {"shares", CTL_OPT_SHARES, true},
        {"wait", CTL_OPT_WAIT, false},
        {"timeout", CTL_OPT_TIMEOUT, true},
        {"interval", CTL_OPT_INTERVAL, true},
        {"iterations", CTL_OPT_ITERATIONS, true},
};

struct opt_use {
	const struct opt_def *def;
	const char *text; /* as written, for messages */
	const char *val;
};

/* Scratch state of one parse. */
struct parser {
	struct ctl_cmd *cmd;
	const char **pos;
	size_t npos;
	struct opt_use *opts;
	size_t nopts;
	bool socket_missing; /* --socket as the last word */
	char *msg;
	size_t msglen;
};

__attribute__((format(printf, 2, 3))) static int fail(struct parser *p,
                                                      const char *fmt, ...)
{
	const struct ctl_verb *v = p->cmd->verb;
	va_list ap;
	int n = 0;

	if (v)
		n = snprintf(p->msg, p->msglen, "%s: ", v->name);
	if (n < 0 || (size_t)n >= p->msglen)
		n = 0;
	va_start(ap, fmt);
	vsnprintf(p->msg + n, p->msglen - (size_t)n, fmt, ap);
	va_end(ap);
	n = (int)strlen(p->msg);
	if (v)
		snprintf(p->msg + n, p->msglen - (size_t)n,
		         " (usage: balloonctl %s%s%s)", v->name,
		         *v->args ? " " : "", v->args);
	else
		snprintf(p->msg + n, p->msglen - (size_t)n,
		         " (try 'balloonctl --help')");
	return -EINVAL;
}

/* A bad value: the message alone says what is wrong (no usage suffix). */
__attribute__((format(printf, 2, 3))) static int bad(struct parser *p,
                                                     const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(p->msg, p->msglen, "%s: ", p->cmd->verb->name);

	if (n < 0 || (size_t)n >= p->msglen)
		n = 0;
	va_start(ap, fmt);
	vsnprintf(p->msg + n, p->msglen - (size_t)n, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static int parse_size(struct parser *p, const char *what, const char *s,
                      uint64_t *v)
{
	int ret = bc_parse_size(s, v);

	if (ret == -ERANGE)
		return bad(p, "%s '%s' is too large", what, s);
	if (ret)
		return bad(p, "invalid %s '%s': " SIZE_HINT, what, s);
	return 0;
}

static int parse_u32(struct parser *p, const char *what, const char *s,
                     uint32_t *v)
{
	char *end;
	unsigned long long x;

	errno = 0;
	x = strtoull(s, &end, 10);
	if (*s < '0' || *s > '9' || *end || errno || x == 0 || x > UINT32_MAX)
		return fail(p,
		            "invalid %s '%s': expected a whole number from "
		            "1 to %u",
		            what, s, UINT32_MAX);
	*v = (uint32_t)x;
	return 0;
}

static int parse_seconds(struct parser *p, const char *what, const char *s,
                         double *v)
{
	char *end;

	errno = 0;
	*v = strtod(s, &end);
	if (end == s || *end || errno || !isfinite(*v) || *v <= 0 || *v > 1e6)
		return fail(p,
		            "invalid %s '%s': expected seconds > 0, e.g. 2.5",
		            what, s);
	return 0;
}

/* The global --socket PATH / --socket=PATH. */
static int scan_socket(struct parser *p, char **argv, int i, int argc)
{
	const char *a = argv[i];

	if (a[8] == '=') {
		p->cmd->socket = a + 9;
		return 0;
	}
	if (i + 1 >= argc) {
		p->socket_missing = true;
		return 0;
	}
	p->cmd->socket = argv[i + 1];
	return 1;
}

/* Sort one argv word into flags and options.  Returns 1 if it consumed the
 * next word too. */
static int scan_word(struct parser *p, char **argv, int i, int argc)
{
	const char *a = argv[i], *eq;
	struct opt_use u = {NULL, a, NULL};
	size_t n;

	if (!strcmp(a, "--json")) {
		p->cmd->json = true;
		return 0;
	}
	if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
		p->cmd->help = true;
		return 0;
	}
	if (!strncmp(a, "--socket", 8) && (!a[8] || a[8] == '='))
		return scan_socket(p, argv, i, argc);
	p->opts[p->nopts++] = u; /* unknown unless found below */
	if (strncmp(a, "--", 2))
		return 0;
	eq = strchr(a, '=');
	n = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
	for (size_t k = 0; k < sizeof(opt_defs) / sizeof(*opt_defs); k++)
		if (strlen(opt_defs[k].name) == n &&
		    !strncmp(a + 2, opt_defs[k].name, n))
			u.def = &opt_defs[k];
	if (eq)
		u.val = eq + 1; /* checked against def->value later */
	else if (u.def && u.def->value && i + 1 < argc)
		u.val = argv[i + 1];
	p->opts[p->nopts - 1] = u;
	return u.def && u.def->value && !eq && u.val ? 1 : 0;
}

static void scan(struct parser *p, int argc, char **argv)
{
	bool dashdash = false;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (dashdash || a[0] != '-' || !a[1])
			p->pos[p->npos++] = a;
		else if (!strcmp(a, "--"))
			dashdash = true;
		else
			i += scan_word(p, argv, i, argc);
	}
}

/* The verb from the first positional words ("policy set" takes two). */
static int find_verb(struct parser *p, size_t *used)
{
	char two[64];
	size_t first = 0;

	if (p->npos && !strcmp(p->pos[0], "help")) {
		p->cmd->help = true;
		first = 1;
	}
	*used = first;
	if (p->npos <= first)
		return p->cmd->help ? 0 : fail(p, "no command given");
	if (p->npos > first + 1 && !strcmp(p->pos[first], "policy")) {
		snprintf(two, sizeof(two), "policy %s", p->pos[first + 1]);
		p->cmd->verb = bctl_verb_find(two);
		if (p->cmd->verb) {
			*used = first + 2;
			return 0;
		}
	}
	p->cmd->verb = bctl_verb_find(p->pos[first]);
	if (!p->cmd->verb)
		return fail(p, "unknown command '%s'", p->pos[first]);
	*used = first + 1;
	return 0;
}

static int take_positionals(struct parser *p, size_t at)
{
	static const char *const need[] = {[CTL_ARGS_VM] = "VM",
	                                   [CTL_ARGS_SIZE] = "VM SIZE",
	                                   [CTL_ARGS_N] = "VM N"};
	static const size_t count[] = {
	        [CTL_ARGS_VM] = 1, [CTL_ARGS_SIZE] = 2, [CTL_ARGS_N] = 2};
	struct ctl_cmd *cmd = p->cmd;
	enum ctl_args kind = cmd->verb->kind;
	size_t n = p->npos - at;
	const char **a = p->pos + at;

	if (kind == CTL_ARGS_KV) {
		char why[256];
		if (!n)
			return fail(p, "missing KEY=VALUE");
		if (bctl_policy_kv((char *const *)a, n, &cmd->policy_args, why,
		                   sizeof(why)))
			return bad(p, "%s", why);
		return 0;
	}
	if (kind == CTL_ARGS_NONE)
		return n ? fail(p, "unexpected argument '%s'", a[0]) : 0;
	if (n < count[kind])
		return fail(p, "missing %s", need[kind] + (n ? 3 : 0));
	if (n > count[kind])
		return fail(p, "unexpected argument '%s'", a[count[kind]]);
	if (!*a[0])
		return fail(p, "empty VM name");
	cmd->vm = a[0];
	if (cmd->verb->opts & CTL_OPT_QMP && !cmd->qmp)
		return fail(p, "missing --qmp PATH");
	if (kind == CTL_ARGS_SIZE)
		return parse_size(p, "size", a[1], &cmd->size);
	if (kind == CTL_ARGS_N)
		return parse_u32(p, "shares", a[1], &cmd->count);
	return 0;
}

static int apply_option(struct parser *p, const struct opt_use *u)
{
	struct ctl_cmd *cmd = p->cmd;

	if (!u->def || !(cmd->verb->opts & u->def->bit))
		return fail(p, "unknown option '%s'", u->text);
	if (u->def->value && !u->val)
		return fail(p, "option --%s needs a value", u->def->name);
	if (!u->def->value && u->val)
		return fail(p, "option --%s takes no value", u->def->name);
	switch (u->def->bit) {
	case CTL_OPT_QMP:
		cmd->qmp = u->val;
		return *u->val ? 0 : fail(p, "empty --qmp path");
	case CTL_OPT_MIN:
		cmd->has_min = true;
		return parse_size(p, "--min size", u->val, &cmd->min);
	case CTL_OPT_MAX:
		cmd->has_max = true;
		return parse_size(p, "--max size", u->val, &cmd->max);
	case CTL_OPT_SHARES:
		cmd->has_shares = true;
		return parse_u32(p, "--shares", u->val, &cmd->shares);
	case CTL_OPT_WAIT:
		cmd->wait = true;
		return 0;
	case CTL_OPT_TIMEOUT:
		return parse_seconds(p, "--timeout", u->val, &cmd->timeout_s);
	case CTL_OPT_INTERVAL:
		return parse_seconds(p, "--interval", u->val, &cmd->interval_s);
	default: {
		uint32_t it = 0;
		int ret = parse_u32(p, "--iterations", u->val, &it);
		cmd->iterations = it;
		return ret;
	}
	}
}

static int check_options(struct parser *p)
{
	bool timeout = false;
	int ret;

	for (size_t i = 0; i < p->nopts; i++) {
		ret = apply_option(p, &p->opts[i]);
		if (ret)
			return ret;
		timeout |= p->opts[i].def->bit == CTL_OPT_TIMEOUT;
	}
	if (timeout && !p->cmd->wait)
		return fail(p, "--timeout only applies with --wait");
	return 0;
}

int bctl_parse(int argc, char **argv, struct ctl_cmd *cmd, char *msg,
               size_t msglen)
{
	struct parser p = {.cmd = cmd, .msg = msg, .msglen = msglen};
	size_t used;
	int ret = -ENOMEM;

	memset(cmd, 0, sizeof(*cmd));
	cmd->timeout_s = CTL_WAIT_TIMEOUT_S;
	cmd->interval_s = CTL_TOP_INTERVAL_S;
	msg[0] = '\0';
	p.pos = calloc((size_t)argc + 1, sizeof(*p.pos));
	p.opts = calloc((size_t)argc + 1, sizeof(*p.opts));
	if (!p.pos || !p.opts) {
		snprintf(msg, msglen, "out of memory");
		goto out;
	}
	scan(&p, argc, argv);
	ret = find_verb(&p, &used);
	if (ret || cmd->help)
		goto out;
	ret = check_options(&p);
	if (!ret)
		ret = take_positionals(&p, used);
	if (!ret && p.socket_missing)
		ret = fail(&p, "option --socket needs a value");
	if (!ret && cmd->socket && !*cmd->socket)
		ret = fail(&p, "empty --socket path");
out:
	if (ret)
		bctl_cmd_free(cmd);
	free(p.pos);
	free(p.opts);
	return ret;
}

void bctl_cmd_free(struct ctl_cmd *cmd)
{
	if (cmd->policy_args)
		json_object_put(cmd->policy_args);
	cmd->policy_args = NULL;
}

static void verb_line(FILE *f, const struct ctl_verb *v)
{
	char left[96];

	snprintf(left, sizeof(left), "%s%s%s", v->name, *v->args ? " " : "",
	         v->args);
	if (strlen(left) > 30)
		fprintf(f, "  %s\n  %-30s  %s", left, "", v->summary);
	else
		fprintf(f, "  %-30s  %s", left, v->summary);
	if (v->aliases &&
	    34 + strlen(v->summary) + strlen(v->aliases) + 8 <= 80)
		fprintf(f, " (%s)", v->aliases);
	else if (v->aliases)
		fprintf(f, "\n  %-30s  (%s)", "", v->aliases);
	fputc('\n', f);
}

/* Sub-verbs of @v ("policy set" for "policy"). */
static void sub_verbs(FILE *f, const struct ctl_verb *v)
{
	size_t n = strlen(v->name);
	bool first = true;

	for (size_t i = 0; i < bctl_nverbs; i++) {
		const struct ctl_verb *s = &bctl_verbs[i];
		if (strncmp(s->name, v->name, n) || s->name[n] != ' ')
			continue;
		if (first)
			fprintf(f, "\nRelated:\n");
		first = false;
		verb_line(f, s);
	}
}

void bctl_usage(FILE *f, const struct ctl_verb *v)
{
	if (v) {
		fprintf(f,
		        "usage: balloonctl [--socket PATH] [--json] %s%s%s\n",
		        v->name, *v->args ? " " : "", v->args);
		fprintf(f, "%c%s.\n", toupper((unsigned char)v->summary[0]),
		        v->summary + 1);
		if (v->aliases)
			fprintf(f, "Aliases: %s.\n", v->aliases);
		if (v->details)
			fprintf(f, "\n%s", v->details);
		if (v->kind == CTL_ARGS_SIZE)
			fprintf(f, "\nSIZE: " SIZE_HINT ".\n");
		sub_verbs(f, v);
		return;
	}
	fprintf(f, "usage: balloonctl [--socket PATH] [--json] COMMAND "
	           "[ARGS...]\n\nControl balloond, the memory balloon "
	           "daemon.\n\nCommands:\n");
	for (size_t i = 0; i < bctl_nverbs; i++)
		verb_line(f, &bctl_verbs[i]);
	fprintf(f,
	        "  help [COMMAND]                  this text, or one "
	        "command's\n\nGlobal options (anywhere on the line):\n"
	        "  --socket PATH   balloond's control socket (default: "
	        "$" CTL_SOCKET_ENV ",\n"
	        "                  then " CTL_DEFAULT_SOCKET ")\n"
	        "  --json          print the daemon's result (or the error) "
	        "as JSON\n"
	        "  -h, --help      help; 'balloonctl COMMAND --help' for one "
	        "command\n\nSIZE: " SIZE_HINT ".\n"
	        "Exit status: 0 success, 1 refused or failed, 2 usage "
	        "error.\n");
}

int bctl_main(int argc, char **argv, FILE *out, FILE *err)
{
	struct ctl_io io = {.out = out,
	                    .err = err,
	                    .reply_timeout_ms = CTL_REPLY_TIMEOUT_MS,
	                    .poll_ms = CTL_WAIT_POLL_MS};
	struct ctl_err e = {"usage", ""};
	struct ctl_cmd cmd;
	const char *env;
	int ret, fd;

	ret = bctl_parse(argc, argv, &cmd, e.message, sizeof(e.message));
	io.json = cmd.json;
	if (ret) {
		bctl_print_error(&io, &e);
		return CTL_EXIT_USAGE;
	}
	if (cmd.help) {
		bctl_usage(out, cmd.verb);
		return CTL_EXIT_OK;
	}
	env = getenv(CTL_SOCKET_ENV);
	io.socket = cmd.socket    ? cmd.socket
	            : env && *env ? env
	                          : CTL_DEFAULT_SOCKET;
	fd = fileno(out);
	io.tty = fd >= 0 && isatty(fd);
	ret = cmd.verb->run(&cmd, &io);
	fflush(out);
	bctl_cmd_free(&cmd);
	return ret;
}
