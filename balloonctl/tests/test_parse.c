/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for balloonctl's command line: every verb with good and bad
 * arguments, aliases, global flags anywhere, size handling, policy KEY=VALUE
 * typing and the one-line usage errors.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ctl.h"

#define MiB (1024ull * 1024ull)
#define GiB (1024ull * MiB)

static char msg[512];

/* Parse "balloonctl WORDS..." (NULL-terminated). */
static int parse_v(struct ctl_cmd *cmd, va_list ap)
{
	char *argv[32] = {"balloonctl"};
	int argc = 1;
	const char *w;

	while ((w = va_arg(ap, const char *)) && argc < 31)
		argv[argc++] = (char *)w;
	return bctl_parse(argc, argv, cmd, msg, sizeof(msg));
}

static int parse(struct ctl_cmd *cmd, ...)
{
	va_list ap;
	int ret;

	va_start(ap, cmd);
	ret = parse_v(cmd, ap);
	va_end(ap);
	return ret;
}

/* Expect a usage error whose message contains @want. */
static void bad(const char *want, ...)
{
	struct ctl_cmd cmd;
	va_list ap;
	int ret;

	va_start(ap, want);
	ret = parse_v(&cmd, ap);
	va_end(ap);
	if (ret != -EINVAL || !strstr(msg, want))
		fail_msg("expected error containing '%s', got %d '%s'", want,
		         ret, msg);
	assert_null(strchr(msg, '\n')); /* one line */
	assert_null(cmd.policy_args);   /* nothing leaks on failure */
}

static void test_list_info_remove_stats(void **state)
{
	struct ctl_cmd c;
	(void)state;

	assert_int_equal(parse(&c, "list", NULL), 0);
	assert_string_equal(c.verb->name, "list");
	assert_false(c.json);
	assert_null(c.socket);
	assert_int_equal(parse(&c, "info", "web", NULL), 0);
	assert_string_equal(c.verb->name, "info");
	assert_string_equal(c.vm, "web");
	assert_ptr_equal(c.verb->run, bctl_run_info);
	assert_int_equal(parse(&c, "remove", "db", NULL), 0);
	assert_string_equal(c.vm, "db");
	assert_ptr_equal(c.verb->run, bctl_run_remove);
	assert_int_equal(parse(&c, "stats", "web", NULL), 0);
	assert_ptr_equal(c.verb->run, bctl_run_stats);
	assert_int_equal(parse(&c, "host", NULL), 0);
	assert_ptr_equal(c.verb->run, bctl_run_host);
	assert_int_equal(parse(&c, "version", NULL), 0);
	assert_ptr_equal(c.verb->run, bctl_run_version);

	bad("list: unexpected argument 'web'", "list", "web", NULL);
	bad("info: missing VM (usage: balloonctl info VM)", "info", NULL);
	bad("unexpected argument 'x'", "info", "web", "x", NULL);
	bad("remove: missing VM", "remove", NULL);
	bad("stats: missing VM", "stats", NULL);
	bad("host: unexpected argument", "host", "now", NULL);
	bad("empty VM name", "info", "", NULL);
	bad("unknown option '--wait'", "list", "--wait", NULL);
	bad("unknown option '-x'", "info", "-x", "web", NULL);
}

static void test_add(void **state)
{
	struct ctl_cmd c;
	(void)state;

	assert_int_equal(
	        parse(&c, "add", "web", "--qmp", "/run/vm/web.qmp", NULL), 0);
	assert_string_equal(c.vm, "web");
	assert_string_equal(c.qmp, "/run/vm/web.qmp");
	assert_false(c.has_min || c.has_max || c.has_shares);
	assert_int_equal(parse(&c, "add", "--qmp=/q", "--min", "256M",
	                       "--max=2GiB", "--shares", "2000", "db", NULL),
	                 0);
	assert_string_equal(c.vm, "db");
	assert_string_equal(c.qmp, "/q");
	assert_true(c.has_min && c.has_max && c.has_shares);
	assert_int_equal(c.min, 256 * MiB);
	assert_int_equal(c.max, 2 * GiB);
	assert_int_equal(c.shares, 2000);

	bad("add: missing --qmp PATH", "add", "web", NULL);
	bad("option --qmp needs a value", "add", "web", "--qmp", NULL);
	bad("empty --qmp path", "add", "web", "--qmp=", NULL);
	bad("invalid --min size '1X'", "add", "web", "--qmp", "/q", "--min",
	    "1X", NULL);
	bad("invalid --shares '0'", "add", "web", "--qmp", "/q", "--shares",
	    "0", NULL);
	bad("invalid --shares 'many'", "add", "web", "--qmp", "/q", "--shares",
	    "many", NULL);
	bad("add: missing VM", "add", "--qmp", "/q", NULL);
	bad("unknown option '--wait'", "add", "web", "--qmp", "/q", "--wait",
	    NULL);
}

static void test_set_and_aliases(void **state)
{
	static const char *const names[] = {"set", "setmem", "mem-set"};
	struct ctl_cmd c;
	(void)state;

	for (int i = 0; i < 3; i++) {
		assert_int_equal(parse(&c, names[i], "web", "512M", NULL), 0);
		assert_ptr_equal(c.verb->run, bctl_run_set);
		assert_string_equal(c.verb->name, "set");
		assert_int_equal(c.size, 512 * MiB);
		assert_false(c.wait);
		assert_true(c.timeout_s == CTL_WAIT_TIMEOUT_S);
	}
	assert_int_equal(parse(&c, "set", "web", "1.5GiB", "--wait",
	                       "--timeout", "2.5", NULL),
	                 0);
	assert_int_equal(c.size, 3 * GiB / 2);
	assert_true(c.wait);
	assert_true(c.timeout_s == 2.5);
	assert_int_equal(
	        parse(&c, "set", "--wait", "--timeout=7", "web", "4096", NULL),
	        0);
	assert_int_equal(c.size, 4096);
	assert_true(c.timeout_s == 7.0);

	bad("set: missing VM SIZE", "set", NULL);
	bad("set: missing SIZE (usage: balloonctl set VM SIZE [--wait] "
	    "[--timeout SECONDS])",
	    "set", "web", NULL);
	bad("unexpected argument '1G'", "set", "web", "512M", "1G", NULL);
	bad("--timeout only applies with --wait", "set", "web", "1G",
	    "--timeout", "5", NULL);
	bad("invalid --timeout '0'", "set", "web", "1G", "--wait", "--timeout",
	    "0", NULL);
	bad("invalid --timeout 'soon'", "set", "web", "1G", "--wait",
	    "--timeout", "soon", NULL);
	bad("option --wait takes no value", "set", "web", "1G", "--wait=yes",
	    NULL);
	bad("option --timeout needs a value", "set", "web", "1G", "--wait",
	    "--timeout", NULL);
}

static void test_sizes(void **state)
{
	static const struct {
		const char *text;
		uint64_t bytes;
	} good[] = {
	        {"4096", 4096},
	        {"4096B", 4096},
	        {"64K", 64 << 10},
	        {"64KiB", 64 << 10},
	        {"512M", 512 * MiB},
	        {"512m", 512 * MiB},
	        {"512MiB", 512 * MiB},
	        {"512MB", 512 * MiB},
	        {"1G", GiB},
	        {"1GiB", GiB},
	        {"1.5G", 3 * GiB / 2},
	        {"2T", 2048 * GiB},
	        {"0", 0},
	};
	struct ctl_cmd c;
	(void)state;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(parse(&c, "min", "web", good[i].text, NULL),
		                 0);
		assert_int_equal(c.size, good[i].bytes);
	}
	bad("min: invalid size '12X': use bytes or a number with K, M, G, T",
	    "min", "web", "12X", NULL);
	bad("invalid size '1 G'", "max", "web", "1 G", NULL);
	bad("invalid size '1.5'", "max", "web", "1.5", NULL);
	bad("invalid size ''", "max", "web", "", NULL);
	bad("invalid size 'G'", "max", "web", "G", NULL);
	bad("size '99999999999T' is too large", "max", "web", "99999999999T",
	    NULL);
	bad("unknown option '-1G'", "set", "web", "-1G", NULL);
	/* a bad value needs no usage suffix: the line says it all */
	bad("e.g. 512M or 1.5GiB", "set", "web", "lots", NULL);
	assert_null(strstr(msg, "usage:"));
}

static void test_min_max_shares(void **state)
{
	struct ctl_cmd c;
	(void)state;

	assert_int_equal(parse(&c, "min", "web", "256M", NULL), 0);
	assert_ptr_equal(c.verb->run, bctl_run_min);
	assert_int_equal(parse(&c, "mem-min", "web", "256M", NULL), 0);
	assert_ptr_equal(c.verb->run, bctl_run_min);
	assert_int_equal(c.size, 256 * MiB);
	static const char *const maxes[] = {"max", "mem-max", "setmaxmem"};
	for (int i = 0; i < 3; i++) {
		assert_int_equal(parse(&c, maxes[i], "web", "2G", NULL), 0);
		assert_ptr_equal(c.verb->run, bctl_run_max);
		assert_int_equal(c.size, 2 * GiB);
	}
	assert_int_equal(parse(&c, "shares", "web", "2000", NULL), 0);
	assert_ptr_equal(c.verb->run, bctl_run_shares);
	assert_int_equal(c.count, 2000);
	assert_int_equal(parse(&c, "shares", "web", "4294967295", NULL), 0);
	assert_int_equal(c.count, UINT32_MAX);

	bad("min: missing SIZE", "min", "web", NULL);
	bad("max: missing VM SIZE", "max", NULL);
	bad("shares: missing N", "shares", "web", NULL);
	bad("invalid shares '4294967296'", "shares", "web", "4294967296", NULL);
	bad("invalid shares '1.5'", "shares", "web", "1.5", NULL);
	bad("invalid shares '0'", "shares", "web", "0", NULL);
	bad("unknown option '--wait'", "min", "web", "1G", "--wait", NULL);
}

static void test_top(void **state)
{
	struct ctl_cmd c;
	(void)state;

	assert_int_equal(parse(&c, "top", NULL), 0);
	assert_ptr_equal(c.verb->run, bctl_run_top);
	assert_true(c.interval_s == 1.0);
	assert_int_equal(c.iterations, 0);
	assert_int_equal(
	        parse(&c, "top", "--interval", "0.25", "--iterations=3", NULL),
	        0);
	assert_true(c.interval_s == 0.25);
	assert_int_equal(c.iterations, 3);

	bad("invalid --interval '-1'", "top", "--interval", "-1", NULL);
	bad("invalid --interval 'nan'", "top", "--interval", "nan", NULL);
	bad("invalid --iterations '0'", "top", "--iterations", "0", NULL);
	bad("invalid --iterations 'x'", "top", "--iterations", "x", NULL);
	bad("top: unexpected argument 'web'", "top", "web", NULL);
	bad("unknown option '--wait'", "top", "--wait", NULL);
}

static void test_policy(void **state)
{
	struct ctl_cmd c;
	struct json_object *v;
	(void)state;

	assert_int_equal(parse(&c, "policy", NULL), 0);
	assert_ptr_equal(c.verb->run, bctl_run_policy);
	assert_int_equal(parse(&c, "policy", "show", NULL), 0);
	assert_ptr_equal(c.verb->run, bctl_run_policy);
	assert_int_equal(parse(&c, "policy", "release", "web", NULL), 0);
	assert_ptr_equal(c.verb->run, bctl_run_policy_release);
	assert_string_equal(c.vm, "web");

	assert_int_equal(parse(&c, "policy", "set", "kind=mom", "enabled=false",
	                       "tax_rate=0.5", "tick_ms=500", "margin=64M",
	                       "budget=8GiB", "high_pct=6", NULL),
	                 0);
	assert_ptr_equal(c.verb->run, bctl_run_policy_set);
	v = c.policy_args;
	assert_string_equal(
	        json_object_get_string(json_object_object_get(v, "kind")),
	        "mom");
	assert_true(json_object_is_type(json_object_object_get(v, "enabled"),
	                                json_type_boolean));
	assert_false(
	        json_object_get_boolean(json_object_object_get(v, "enabled")));
	assert_true(json_object_get_double(
	                    json_object_object_get(v, "tax_rate")) == 0.5);
	assert_int_equal(
	        json_object_get_int64(json_object_object_get(v, "tick_ms")),
	        500);
	assert_int_equal(
	        json_object_get_uint64(json_object_object_get(v, "margin")),
	        64 * MiB);
	assert_int_equal(
	        json_object_get_uint64(json_object_object_get(v, "budget")),
	        8 * GiB);
	assert_int_equal(json_object_object_length(v), 7);
	bctl_cmd_free(&c);
	assert_null(c.policy_args);

	bad("policy set: missing KEY=VALUE", "policy", "set", NULL);
	bad("unknown policy key 'foo'", "policy", "set", "foo=1", NULL);
	bad("expected KEY=VALUE, got 'kind'", "policy", "set", "kind", NULL);
	bad("expected KEY=VALUE, got 'kind='", "policy", "set", "kind=", NULL);
	bad("expected KEY=VALUE, got '=1'", "policy", "set", "=1", NULL);
	bad("kind needs one of idletax, static, proxmox, mom, got 'best'",
	    "policy", "set", "kind=best", NULL);
	bad("enabled needs true or false, got 'maybe'", "policy", "set",
	    "kind=mom", "enabled=maybe", NULL);
	bad("tax_rate needs a number, got 'high'", "policy", "set",
	    "tax_rate=high", NULL);
	bad("tick_ms needs a whole number, got '1.5'", "policy", "set",
	    "tick_ms=1.5", NULL);
	bad("margin needs a size such as 64M or 1G, got '64Q'", "policy", "set",
	    "margin=64Q", NULL);
	bad("policy release: missing VM", "policy", "release", NULL);
	bad("policy: unexpected argument 'frobnicate'", "policy", "frobnicate",
	    NULL);
}

static void test_globals_anywhere(void **state)
{
	struct ctl_cmd c;
	(void)state;

	assert_int_equal(parse(&c, "set", "web", "1G", "--json", NULL), 0);
	assert_true(c.json);
	assert_int_equal(
	        parse(&c, "--json", "--socket", "/tmp/s", "list", NULL), 0);
	assert_true(c.json);
	assert_string_equal(c.socket, "/tmp/s");
	assert_int_equal(parse(&c, "info", "--socket=/x/y", "web", NULL), 0);
	assert_string_equal(c.socket, "/x/y");
	assert_string_equal(c.vm, "web");
	/* "--" ends options: a VM may be named like one */
	assert_int_equal(parse(&c, "info", "--json", "--", "--odd", NULL), 0);
	assert_string_equal(c.vm, "--odd");
	assert_true(c.json);

	bad("option --socket needs a value", "list", "--socket", NULL);
	bad("empty --socket path", "list", "--socket=", NULL);
	bad("no command given (try 'balloonctl --help')", NULL);
	bad("no command given", "--json", NULL);
	bad("unknown command 'frob' (try 'balloonctl --help')", "frob", NULL);
	bad("unknown option '--frob'", "list", "--frob", NULL);
	/* --json is known even when the line is bad (errors as JSON) */
	assert_int_equal(parse(&c, "frob", "--json", NULL), -EINVAL);
	assert_true(c.json);
}

static void test_help(void **state)
{
	struct ctl_cmd c;
	(void)state;

	assert_int_equal(parse(&c, "--help", NULL), 0);
	assert_true(c.help);
	assert_null(c.verb);
	assert_int_equal(parse(&c, "-h", NULL), 0);
	assert_true(c.help);
	assert_int_equal(parse(&c, "help", NULL), 0);
	assert_true(c.help);
	assert_null(c.verb);
	assert_int_equal(parse(&c, "set", "--help", NULL), 0);
	assert_true(c.help);
	assert_string_equal(c.verb->name, "set");
	assert_int_equal(parse(&c, "setmaxmem", "-h", NULL), 0);
	assert_string_equal(c.verb->name, "max");
	assert_int_equal(parse(&c, "help", "policy", "set", NULL), 0);
	assert_string_equal(c.verb->name, "policy set");
	/* help does not insist on the verb's arguments */
	assert_int_equal(parse(&c, "add", "--help", NULL), 0);
	bad("unknown command 'frob'", "help", "frob", NULL);
}

/* Usage text: every verb's usage line is in the general help, and a verb's
 * own help names its aliases and options. */
static void test_usage_text(void **state)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	(void)state;

	bctl_usage(f, NULL);
	fclose(f);
	for (size_t i = 0; i < bctl_nverbs; i++) {
		char line[128];
		snprintf(line, sizeof(line), "  %s%s%s", bctl_verbs[i].name,
		         *bctl_verbs[i].args ? " " : "", bctl_verbs[i].args);
		if (!strstr(buf, line))
			fail_msg("general usage lacks '%s'", line);
	}
	assert_non_null(strstr(buf, "--socket PATH"));
	assert_non_null(strstr(buf, "BALLOOND_SOCKET"));
	assert_non_null(strstr(buf, "Exit status: 0 success, 1 refused or "
	                            "failed, 2 usage error"));
	free(buf);

	f = open_memstream(&buf, &len);
	bctl_usage(f, bctl_verb_find("mem-set"));
	fclose(f);
	assert_non_null(strstr(buf, "usage: balloonctl [--socket PATH] "
	                            "[--json] set VM SIZE [--wait] "
	                            "[--timeout SECONDS]\n"));
	assert_non_null(strstr(buf, "Aliases: setmem, mem-set."));
	assert_non_null(strstr(buf, "max(1 MiB, 1%)"));
	free(buf);

	f = open_memstream(&buf, &len);
	bctl_usage(f, bctl_verb_find("policy"));
	fclose(f);
	assert_non_null(strstr(buf, "  policy set KEY=VALUE..."));
	assert_non_null(strstr(buf, "  policy release VM"));
	free(buf);
}

static void test_verb_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < bctl_nverbs; i++) {
		assert_non_null(bctl_verbs[i].run);
		assert_ptr_equal(bctl_verb_find(bctl_verbs[i].name),
		                 &bctl_verbs[i]);
	}
	assert_null(bctl_verb_find("setmem,"));
	assert_null(bctl_verb_find("mem"));
	assert_null(bctl_verb_find(""));
	assert_ptr_equal(bctl_verb_find("policy show"),
	                 bctl_verb_find("policy"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_list_info_remove_stats),
	        cmocka_unit_test(test_add),
	        cmocka_unit_test(test_set_and_aliases),
	        cmocka_unit_test(test_sizes),
	        cmocka_unit_test(test_min_max_shares),
	        cmocka_unit_test(test_top),
	        cmocka_unit_test(test_policy),
	        cmocka_unit_test(test_globals_anywhere),
	        cmocka_unit_test(test_help),
	        cmocka_unit_test(test_usage_text),
	        cmocka_unit_test(test_verb_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
