/* SPDX-License-Identifier: MIT */
/* Config file parsing: a full good file, and bad files that must be refused
 * with "file:line: reason" naming the right line. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"

static char path[] = "/tmp/bdconf.XXXXXX";

static int load(struct bd_conf *c, const char *text, char *err, size_t len)
{
	int fd, ret;

	strcpy(path, "/tmp/bdconf.XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	assert_int_equal(bd_conf_init(c), 0);
	ret = bd_conf_load(c, path, err, len);
	unlink(path);
	return ret;
}

static void test_good(void **state)
{
	struct bd_conf c;
	char err[256] = "";
	(void)state;

	assert_int_equal(load(&c,
	                      "# balloond\n"
	                      "[daemon]\n"
	                      "socket = /tmp/x.sock\n"
	                      "state = /tmp/x.json\n"
	                      "metrics = 127.0.0.1:9100\n"
	                      "tick_ms = 250\n"
	                      "log_level = debug\n"
	                      "socket_group = kvm\n"
	                      "\n"
	                      "[policy]\n"
	                      "kind = proxmox\n"
	                      "enabled = no\n"
	                      "tax_rate = 0.5\n"
	                      "margin = 32M\n"
	                      "budget = 8GiB\n"
	                      "\n"
	                      "[vm web]\n"
	                      "qmp = /run/vm/web.qmp\n"
	                      "min = 256MiB\n"
	                      "max = 2G\n"
	                      "shares = 2000\n"
	                      "[vm db.1]\n"
	                      "qmp = /run/vm/db.qmp ; inline comment\n",
	                      err, sizeof(err)),
	                 0);
	assert_string_equal(c.socket_path, "/tmp/x.sock");
	assert_string_equal(c.state_path, "/tmp/x.json");
	assert_string_equal(c.metrics, "127.0.0.1:9100");
	assert_string_equal(c.socket_group, "kvm");
	assert_int_equal(c.log_level, BC_LOG_DEBUG);
	assert_int_equal(c.policy.tick_ms, 250);
	assert_int_equal(c.policy.kind, BLN_POLICY_PROXMOX);
	assert_false(c.policy_enabled);
	assert_true(c.policy.tax_rate == 0.5);
	assert_int_equal(c.policy.margin_bytes, 32ull << 20);
	assert_int_equal(c.policy.budget_bytes, 8ull << 30);
	assert_int_equal(c.nvms, 2);
	assert_string_equal(c.vms[0].name, "web");
	assert_string_equal(c.vms[0].qmp, "/run/vm/web.qmp");
	assert_int_equal(c.vms[0].min, 256ull << 20);
	assert_int_equal(c.vms[0].max, 2ull << 30);
	assert_int_equal(c.vms[0].shares, 2000);
	assert_string_equal(c.vms[1].name, "db.1");
	assert_string_equal(c.vms[1].qmp, "/run/vm/db.qmp");
	assert_int_equal(c.vms[1].max, 0); /* learned from QMP */
	assert_int_equal(c.vms[1].shares, BD_DEFAULT_SHARES);
	bd_conf_free(&c);
}

static void test_defaults_and_off(void **state)
{
	struct bd_conf c;
	char err[256];
	(void)state;

	assert_int_equal(
	        load(&c, "[daemon]\nmetrics = off\n", err, sizeof(err)), 0);
	assert_null(c.metrics);
	assert_string_equal(c.socket_path, BD_DEFAULT_SOCKET);
	assert_true(c.policy_enabled);
	assert_int_equal(c.policy.kind, BLN_POLICY_IDLETAX);
	assert_int_equal(c.policy.tick_ms, 1000);
	bd_conf_free(&c);
	assert_int_equal(load(&c, "[daemon]\nmetrics = on\n", err, sizeof(err)),
	                 0);
	assert_string_equal(c.metrics, BD_METRICS_DEFAULT);
	bd_conf_free(&c);
}

/* Each bad file, the line blamed, and a word the message must contain. */
static const struct {
	const char *text;
	int line;
	const char *word;
} bad[] = {
        {"[daemon]\nsocket = /x\nbogus = 1\n", 3, "unknown key 'bogus'"},
        {"[vm a]\nqmp = /x\nmin = 12X\n", 3, "not a size"},
        {"[vm a]\nqmp = /x\nmax = -1G\n", 3, "not a size"},
        {"[daemon]\n\n[weird]\nx = 1\n", 4, "unknown section"},
        {"[daemon]\nthis line has no equals sign\n", 2, "syntax error"},
        {"[daemon]\n[broken\n", 2, "syntax error"},
        {"key = 1\n", 1, "outside any section"},
        {"\n\n[vm a]\nmin = 1G\n", 3, "needs qmp"},
        {"[vm a]\nqmp = /x\nmin = 2G\nmax = 1G\n", 1, "min is above max"},
        {"[vm a]\nqmp = /x\nshares = 0\n", 3, "shares"},
        {"[vm a]\nqmp = /x\nshares = lots\n", 3, "shares"},
        {"[vm bad/name]\nqmp = /x\n", 2, "invalid VM name"},
        {"[daemon]\ntick_ms = 0\n", 2, "tick_ms"},
        {"[daemon]\ntick_ms = fast\n", 2, "tick_ms"},
        {"[daemon]\nlog_level = loud\n", 2, "log_level"},
        {"[policy]\nkind = magic\n", 2, "kind"},
        {"[policy]\ntax_rate = much\n", 2, "tax_rate"},
        {"[policy]\nnope = 1\n", 2, "unknown key 'nope'"},
        {"[vm a]\nqmp = /x\n[daemon]\nx = 1\n[daemon]\ny = 2\n", 4,
         "unknown key 'x'"},
};

static void test_bad(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct bd_conf c;
		char err[256] = "", want[64];
		int ret = load(&c, bad[i].text, err, sizeof(err));
		snprintf(want, sizeof(want), "%s:%d: ", path, bad[i].line);
		if (ret != -EINVAL || strncmp(err, want, strlen(want)) ||
		    !strstr(err, bad[i].word))
			fail_msg("case %zu: ret %d, message '%s', want "
			         "'%s...%s'",
			         i, ret, err, want, bad[i].word);
		bd_conf_free(&c);
	}
}

static void test_inconsistent_policy(void **state)
{
	struct bd_conf c;
	char err[256] = "";
	(void)state;

	/* each value parses, together they violate low <= hard <= soft */
	assert_int_equal(load(&c, "[policy]\nsoft_pct = 1\nhard_pct = 3\n", err,
	                      sizeof(err)),
	                 -EINVAL);
	assert_non_null(strstr(err, "[policy]"));
	bd_conf_free(&c);
}

static void test_long_line(void **state)
{
	struct bd_conf c;
	char err[256] = "", text[1024];
	(void)state;

	snprintf(text, sizeof(text), "[vm a]\nqmp = /%0600d\n", 0);
	assert_int_equal(load(&c, text, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, ":2: line too long"));
	bd_conf_free(&c);
}

static void test_missing(void **state)
{
	struct bd_conf c;
	char err[256] = "";
	(void)state;

	assert_int_equal(bd_conf_init(&c), 0);
	assert_int_equal(bd_conf_load(&c, "/nonexistent/balloond.conf", err,
	                              sizeof(err)),
	                 -ENOENT);
	assert_non_null(strstr(err, "/nonexistent/balloond.conf"));
	bd_conf_free(&c);
}

static void test_names(void **state)
{
	(void)state;
	assert_true(bd_name_valid("web-1.prod_x"));
	assert_false(bd_name_valid(""));
	assert_false(bd_name_valid("a b"));
	assert_false(bd_name_valid("a\"b"));
	assert_false(bd_name_valid("x{y}"));
	char longname[BD_NAME_MAX + 2];
	memset(longname, 'a', sizeof(longname) - 1);
	longname[BD_NAME_MAX + 1] = '\0';
	assert_false(bd_name_valid(longname));
	longname[BD_NAME_MAX] = '\0';
	assert_true(bd_name_valid(longname));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_good),
	        cmocka_unit_test(test_defaults_and_off),
	        cmocka_unit_test(test_bad),
	        cmocka_unit_test(test_inconsistent_policy),
	        cmocka_unit_test(test_long_line),
	        cmocka_unit_test(test_missing),
	        cmocka_unit_test(test_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
