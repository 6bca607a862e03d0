/* SPDX-License-Identifier: MIT */
/*
 * --json for min, max, shares and host: stdout is exactly one JSON object
 * (nothing before or after it) with the keys of the daemon's reply; a
 * refusal, a usage error or a daemon that is not running gives exit 1 or 2,
 * one line on stderr and {"ok": false, "error": {"code", "message"}} on
 * stdout.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ctl.h"
#include "run_ctl.h"

/* stdout as one JSON object, with only white space after it. */
static struct json_object *strict_json(const struct run *r)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *o;
	size_t len = strlen(r->out), end;

	o = json_tokener_parse_ex(tok, r->out, (int)len);
	end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (!o || !json_object_is_type(o, json_type_object))
		fail_msg("not a JSON object: '%s'", r->out);
	if (strspn(r->out + end, " \n") != len - end)
		fail_msg("trailing text after the JSON: '%s'", r->out + end);
	return o;
}

static void has_keys(struct json_object *o, const char *const *keys)
{
	for (; *keys; keys++)
		if (!json_object_object_get_ex(o, *keys, NULL))
			fail_msg("no key '%s' in %s", *keys,
			         json_object_to_json_string(o));
}

static int64_t i64(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_int))
		fail_msg("'%s' is not an integer in %s", key,
		         json_object_to_json_string(o));
	return json_object_get_int64(v);
}

static const char *const vm_keys[] = {"name",   "qmp",    "state",  "max",
                                      "min",    "shares", "target", "actual",
                                      "pinned", "reason", NULL};

/* A VM verb's JSON: the VM object, and @key now @want. */
static void vm_ok(struct run *r, const char *key, int64_t want)
{
	struct json_object *o;

	assert_int_equal(r->rc, 0);
	assert_string_equal(r->err, "");
	o = strict_json(r);
	has_keys(o, vm_keys);
	assert_string_equal(
	        json_object_get_string(json_object_object_get(o, "name")),
	        "web");
	assert_int_equal(i64(o, key), want);
	json_object_put(o);
	run_free(r);
}

/* The error object: exit @rc, stdout {"ok": false, "error": {code,
 * message}} with @code, and one line on stderr. */
static void error_is(struct run *r, int rc, const char *code)
{
	static const char *const top[] = {"ok", "error", NULL};
	static const char *const err[] = {"code", "message", NULL};
	struct json_object *o, *e;
	const char *nl = strchr(r->err, '\n');

	assert_int_equal(r->rc, rc);
	assert_true(nl && !nl[1]);
	o = strict_json(r);
	has_keys(o, top);
	assert_int_equal(json_object_object_length(o), 2);
	assert_false(json_object_get_boolean(json_object_object_get(o, "ok")));
	e = json_object_object_get(o, "error");
	has_keys(e, err);
	assert_string_equal(
	        json_object_get_string(json_object_object_get(e, "code")),
	        code);
	assert_true(strlen(json_object_get_string(
	                    json_object_object_get(e, "message"))) > 0);
	json_object_put(o);
	run_free(r);
}

static void test_min(void **state)
{
	struct fake_daemon *f = *state;
	struct run r = ctl(f->path, "--json", "min", "web", "128M", NULL);

	vm_ok(&r, "min", 128 * MiB);
	assert_string_equal(f->last_cmd, "min");
	r = ctl(f->path, "min", "web", "192MiB", "--json", NULL);
	vm_ok(&r, "min", 192 * MiB);
	r = ctl(f->path, "--json", "min", "web", "2G", NULL);
	error_is(&r, 1, "min-above-max");
	r = ctl(f->path, "--json", "min", "web", "lots", NULL);
	error_is(&r, 2, "usage");
}

static void test_max(void **state)
{
	struct fake_daemon *f = *state;
	struct run r = ctl(f->path, "--json", "max", "web", "2G", NULL);

	vm_ok(&r, "max", 2 * GiB);
	assert_string_equal(f->last_cmd, "max");
	r = ctl(f->path, "--json", "max", "web", "64M", NULL);
	error_is(&r, 1, "min-above-max");
	r = ctl(f->path, "--json", "max", "nope", "1G", NULL);
	error_is(&r, 1, "unknown-vm");
}

static void test_shares(void **state)
{
	struct fake_daemon *f = *state;
	struct run r = ctl(f->path, "--json", "shares", "web", "3000", NULL);

	vm_ok(&r, "shares", 3000);
	assert_string_equal(f->last_cmd, "shares");
	r = ctl(f->path, "--json", "shares", "nope", "5", NULL);
	error_is(&r, 1, "unknown-vm");
	r = ctl(f->path, "--json", "shares", "web", "many", NULL);
	error_is(&r, 2, "usage");
}

static void test_host(void **state)
{
	static const char *const keys[] = {
	        "total",          "free",  "available", "psi-some-avg10",
	        "psi-full-avg10", "state", NULL};
	struct fake_daemon *f = *state;
	struct run r = ctl(f->path, "--json", "host", NULL);
	struct json_object *o;
	char path[128];

	assert_int_equal(r.rc, 0);
	assert_string_equal(r.err, "");
	assert_string_equal(f->last_cmd, "host");
	o = strict_json(&r);
	has_keys(o, keys);
	assert_int_equal(i64(o, "total"), 24 * GiB);
	assert_int_equal(i64(o, "available"), 18 * GiB);
	assert_true(json_object_get_double(json_object_object_get(
	                    o, "psi-some-avg10")) == 1.25);
	assert_string_equal(
	        json_object_get_string(json_object_object_get(o, "state")),
	        "high");
	json_object_put(o);
	run_free(&r);

	/* balloond not running */
	snprintf(path, sizeof(path), "%s/absent.sock", f->dir);
	r = ctl(path, "--json", "host", NULL);
	error_is(&r, 1, "connect");
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fake_setup, fake_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	        T(test_min),
	        T(test_max),
	        T(test_shares),
	        T(test_host),
	};
	unsetenv(CTL_SOCKET_ENV);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
