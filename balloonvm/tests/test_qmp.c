/* SPDX-License-Identifier: MIT */
/*
 * test_qmp.c - the QMP dispatcher: every command, QEMU's error classes and
 * messages, request-shape errors, id echo, capabilities negotiation.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "test_qmp_backend.h"

#define MiB (UINT64_C(1) << 20)
#define GiB (UINT64_C(1) << 30)

struct fix {
	struct fake_vm vm;
	struct qmp_session s;
	struct json_object *last;
};

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));

	f->vm.ram = GiB;
	f->vm.actual = GiB;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;

	json_object_put(f->last);
	free(f);
	return 0;
}

/* Dispatch @text (one JSON request); keep the reply in f->last. */
static struct json_object *req(struct fix *f, const char *text)
{
	struct json_object *r = json_tokener_parse(text);

	assert_non_null(r);
	json_object_put(f->last);
	f->last = bvm_qmp_dispatch(&f->s, &fake_backend, &f->vm, r);
	json_object_put(r);
	assert_non_null(f->last);
	return f->last;
}

static struct json_object *get(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	assert_true(json_object_object_get_ex(o, key, &v));
	return v;
}

static bool has(struct json_object *o, const char *key)
{
	return json_object_object_get_ex(o, key, NULL);
}

static void expect_error(struct json_object *rsp, const char *cls,
                         const char *desc)
{
	struct json_object *e = get(rsp, "error");

	assert_false(has(rsp, "return"));
	assert_string_equal(json_object_get_string(get(e, "class")), cls);
	if (desc)
		assert_string_equal(json_object_get_string(get(e, "desc")),
		                    desc);
	assert_int_equal(json_object_object_length(e), 2);
}

static struct json_object *expect_ok(struct json_object *rsp)
{
	assert_false(has(rsp, "error"));
	return get(rsp, "return");
}

static void negotiate(struct fix *f)
{
	expect_ok(req(f, "{\"execute\":\"qmp_capabilities\"}"));
	assert_true(f->s.negotiated);
}

static void test_greeting(void **state)
{
	struct json_object *g = bvm_qmp_greeting(), *qmp, *ver, *q;

	(void)state;
	qmp = get(g, "QMP");
	ver = get(qmp, "version");
	q = get(ver, "qemu");
	assert_int_equal(json_object_get_int(get(q, "major")), BVM_QEMU_MAJOR);
	assert_int_equal(json_object_get_int(get(q, "minor")), BVM_QEMU_MINOR);
	assert_int_equal(json_object_get_int(get(q, "micro")), BVM_QEMU_MICRO);
	assert_string_equal(json_object_get_string(get(ver, "package")),
	                    "balloonvm");
	assert_true(
	        json_object_is_type(get(qmp, "capabilities"), json_type_array));
	assert_int_equal(json_object_array_length(get(qmp, "capabilities")), 0);
	json_object_put(g);
}

static void test_before_capabilities(void **state)
{
	struct fix *f = *state;
	struct json_object *r;

	r = req(f, "{\"execute\":\"query-status\",\"id\":7}");
	expect_error(r, "CommandNotFound",
	             "Expecting capabilities negotiation with "
	             "'qmp_capabilities'");
	assert_int_equal(json_object_get_int(get(r, "id")), 7);
	/* even a real balloon command does nothing before negotiation */
	expect_error(req(f, "{\"execute\":\"balloon\",\"arguments\":"
	                    "{\"value\":1}}"),
	             "CommandNotFound", NULL);
	assert_int_equal(f->vm.set_calls, 0);
	/* shape errors stay GenericError */
	expect_error(req(f, "[1]"), "GenericError",
	             "QMP input must be a JSON object");
	negotiate(f);
	r = req(f, "{\"execute\":\"qmp_capabilities\",\"id\":\"x\"}");
	expect_error(r, "CommandNotFound",
	             "Capabilities negotiation is already complete, command "
	             "ignored");
	assert_string_equal(json_object_get_string(get(r, "id")), "x");
}

static void test_capabilities_args(void **state)
{
	struct fix *f = *state;

	expect_error(req(f, "{\"execute\":\"qmp_capabilities\",\"arguments\":"
	                    "{\"enable\":[\"oob\"]}}"),
	             "GenericError", "Capability oob not available");
	assert_false(f->s.negotiated);
	expect_error(req(f, "{\"execute\":\"qmp_capabilities\",\"arguments\":"
	                    "{\"enable\":[\"fast\"]}}"),
	             "GenericError",
	             "Parameter 'enable[0]' does not accept value 'fast'");
	expect_error(req(f, "{\"execute\":\"qmp_capabilities\",\"arguments\":"
	                    "{\"enable\":\"oob\"}}"),
	             "GenericError",
	             "Invalid parameter type for 'enable', expected: array");
	expect_ok(req(f, "{\"execute\":\"qmp_capabilities\",\"arguments\":"
	                 "{\"enable\":[]}}"));
	assert_true(f->s.negotiated);
}

static void test_request_shape(void **state)
{
	struct fix *f = *state;
	struct json_object *r;

	negotiate(f);
	expect_error(req(f, "42"), "GenericError",
	             "QMP input must be a JSON object");
	expect_error(req(f, "\"query-status\""), "GenericError",
	             "QMP input must be a JSON object");
	r = req(f, "{\"id\":1}");
	expect_error(r, "GenericError", "QMP input lacks member 'execute'");
	assert_int_equal(json_object_get_int(get(r, "id")), 1);
	expect_error(req(f, "{\"execute\":3}"), "GenericError",
	             "QMP input member 'execute' must be a string");
	expect_error(req(f, "{\"execute\":\"query-status\",\"arguments\":[]}"),
	             "GenericError",
	             "QMP input member 'arguments' must be an object");
	expect_error(req(f, "{\"execute\":\"query-status\",\"foo\":1}"),
	             "GenericError", "QMP input member 'foo' is unexpected");
	expect_error(req(f, "{\"exec-oob\":\"query-status\"}"), "GenericError",
	             "QMP input member 'exec-oob' is unexpected");
	r = req(f, "{\"execute\":\"no-such\",\"id\":{\"a\":[1,2]}}");
	expect_error(r, "CommandNotFound",
	             "The command no-such has not been found");
	assert_int_equal(json_object_array_length(get(get(r, "id"), "a")), 2);
	/* a null id is echoed as null */
	r = req(f, "{\"execute\":\"query-status\",\"id\":null}");
	expect_ok(r);
	assert_true(has(r, "id"));
	assert_null(get(r, "id"));
	/* no id, no id in the reply */
	assert_false(has(req(f, "{\"execute\":\"query-status\"}"), "id"));
}

static void test_query_status_version_commands(void **state)
{
	struct fix *f = *state;
	struct json_object *r;
	const char *const *names = bvm_qmp_command_names();
	size_t n = 0;

	negotiate(f);
	r = expect_ok(req(f, "{\"execute\":\"query-status\"}"));
	assert_true(json_object_get_boolean(get(r, "running")));
	assert_string_equal(json_object_get_string(get(r, "status")),
	                    "running");
	r = expect_ok(req(f, "{\"execute\":\"query-version\"}"));
	assert_int_equal(json_object_get_int(get(get(r, "qemu"), "major")),
	                 BVM_QEMU_MAJOR);
	expect_error(req(f, "{\"execute\":\"query-status\",\"arguments\":"
	                    "{\"x\":1}}"),
	             "GenericError", "Parameter 'x' is unexpected");
	r = json_object_get(
	        expect_ok(req(f, "{\"execute\":\"query-commands\"}")));
	while (names[n])
		n++;
	assert_true(n >= 15);
	assert_int_equal(json_object_array_length(r), n);
	for (size_t i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(r, i);
		assert_string_equal(json_object_get_string(get(e, "name")),
		                    names[i]);
		/* every listed command exists */
		char buf[128];
		snprintf(buf, sizeof(buf), "{\"execute\":\"%s\"}", names[i]);
		struct json_object *x = req(f, buf);
		if (has(x, "error"))
			assert_null(strstr(json_object_get_string(get(
			                           get(x, "error"), "desc")),
			                   "has not been found"));
		if (!strcmp(names[i], "quit"))
			assert_int_equal(f->vm.quits, 1);
		if (!strcmp(names[i], "qmp_capabilities"))
			assert_true(has(x, "error"));
	}
	json_object_put(r);
}

static void test_balloon(void **state)
{
	struct fix *f = *state;

	negotiate(f);
	expect_ok(req(f, "{\"execute\":\"balloon\",\"arguments\":"
	                 "{\"value\":268435456}}"));
	assert_int_equal(f->vm.set_calls, 1);
	assert_int_equal(f->vm.target, (GiB - 256 * MiB) / 4096);
	/* a size above RAM is clamped to RAM (no balloon), as in QEMU */
	expect_ok(req(f, "{\"execute\":\"balloon\",\"arguments\":"
	                 "{\"value\":4294967296}}"));
	assert_int_equal(f->vm.target, 0);
	/* unaligned values round the balloon down */
	expect_ok(req(f, "{\"execute\":\"balloon\",\"arguments\":"
	                 "{\"value\":1073737727}}"));
	assert_int_equal(f->vm.target, 1);
	expect_ok(req(f, "{\"execute\":\"balloon\",\"arguments\":"
	                 "{\"value\":1}}"));
	assert_int_equal(f->vm.target, GiB / 4096 - 1);
	assert_int_equal(f->vm.set_calls, 4);
	expect_error(req(f, "{\"execute\":\"balloon\",\"arguments\":"
	                    "{\"value\":0}}"),
	             "GenericError", "Parameter 'value' expects a size");
	expect_error(req(f, "{\"execute\":\"balloon\",\"arguments\":"
	                    "{\"value\":-4096}}"),
	             "GenericError", "Parameter 'value' expects a size");
	expect_error(req(f, "{\"execute\":\"balloon\",\"arguments\":"
	                    "{\"value\":\"1G\"}}"),
	             "GenericError",
	             "Invalid parameter type for 'value', expected: integer");
	expect_error(req(f, "{\"execute\":\"balloon\",\"arguments\":"
	                    "{\"value\":1.5e9}}"),
	             "GenericError",
	             "Invalid parameter type for 'value', expected: integer");
	expect_error(req(f, "{\"execute\":\"balloon\"}"), "GenericError",
	             "Parameter 'value' is missing");
	expect_error(req(f, "{\"execute\":\"balloon\",\"arguments\":"
	                    "{\"value\":4096,\"force\":true}}"),
	             "GenericError", "Parameter 'force' is unexpected");
	assert_int_equal(f->vm.set_calls, 4);
	f->vm.fail_set = -EIO;
	expect_error(req(f, "{\"execute\":\"balloon\",\"arguments\":"
	                    "{\"value\":4096}}"),
	             "GenericError", "balloon refused");
}

static void test_query_balloon(void **state)
{
	struct fix *f = *state;
	struct json_object *r;

	negotiate(f);
	f->vm.actual = 256 * MiB;
	r = expect_ok(req(f, "{\"execute\":\"query-balloon\",\"id\":3}"));
	assert_int_equal(json_object_get_int64(get(r, "actual")), 256 * MiB);
	assert_int_equal(json_object_object_length(r), 1);
	r = expect_ok(req(f, "{\"execute\":\"query-memory-size-summary\"}"));
	assert_int_equal(json_object_get_int64(get(r, "base-memory")), GiB);
	assert_int_equal(json_object_get_int64(get(r, "plugged-memory")), 0);
}

static void test_qom_stats(void **state)
{
	struct fix *f = *state;
	struct json_object *r, *st;

	negotiate(f);
	/* never reported: last-update 0 and every stat -1 */
	r = expect_ok(req(f, "{\"execute\":\"qom-get\",\"arguments\":{\"path\":"
	                     "\"/machine/peripheral/balloon0\",\"property\":"
	                     "\"guest-stats\"}}"));
	assert_int_equal(json_object_get_int64(get(r, "last-update")), 0);
	st = get(r, "stats");
	assert_int_equal(json_object_object_length(st), VIRTIO_BALLOON_S_NR);
	json_object_object_foreach(st, k, v)
	{
		(void)k;
		assert_int_equal(json_object_get_int64(v), -1);
	}
	f->vm.gs.valid = (1u << VIRTIO_BALLOON_S_MEMFREE) |
	                 (1u << VIRTIO_BALLOON_S_OOM_KILL) |
	                 (1u << VIRTIO_BALLOON_S_SWAP_OUT);
	f->vm.gs.val[VIRTIO_BALLOON_S_MEMFREE] = 123 * MiB;
	f->vm.gs.val[VIRTIO_BALLOON_S_OOM_KILL] = 2;
	f->vm.gs.val[VIRTIO_BALLOON_S_SWAP_OUT] = 0;
	f->vm.gs.val[VIRTIO_BALLOON_S_MAJFLT] = 99; /* not valid: -1 */
	f->vm.gs.last_update = 1700000000;
	r = expect_ok(req(f, "{\"execute\":\"qom-get\",\"arguments\":{\"path\":"
	                     "\"balloon0\",\"property\":\"guest-stats\"}}"));
	assert_int_equal(json_object_get_int64(get(r, "last-update")),
	                 1700000000);
	st = get(r, "stats");
	assert_int_equal(json_object_get_int64(get(st, "stat-free-memory")),
	                 123 * MiB);
	assert_int_equal(json_object_get_int64(get(st, "stat-oom-kills")), 2);
	assert_int_equal(json_object_get_int64(get(st, "stat-swap-out")), 0);
	assert_int_equal(json_object_get_int64(get(st, "stat-major-faults")),
	                 -1);
	for (unsigned t = 0; t < VIRTIO_BALLOON_S_NR; t++)
		assert_true(has(st, bvm_qmp_stat_name(t)));
	assert_string_equal(bvm_qmp_stat_name(VIRTIO_BALLOON_S_DIRECT_RECLAIM),
	                    "stat-direct-reclaims");
	assert_null(bvm_qmp_stat_name(VIRTIO_BALLOON_S_NR));
}

static void test_qom_interval(void **state)
{
	struct fix *f = *state;
	const char *get_iv = "{\"execute\":\"qom-get\",\"arguments\":{\"path\":"
	                     "\"/machine/peripheral/balloon0\",\"property\":"
	                     "\"guest-stats-polling-interval\"}}";

	negotiate(f);
	assert_int_equal(json_object_get_int(expect_ok(req(f, get_iv))), 0);
	expect_ok(req(f, "{\"execute\":\"qom-set\",\"arguments\":{\"path\":"
	                 "\"/machine/peripheral/balloon0\",\"property\":"
	                 "\"guest-stats-polling-interval\",\"value\":2}}"));
	assert_int_equal(f->vm.interval, 2);
	assert_int_equal(json_object_get_int(expect_ok(req(f, get_iv))), 2);
	expect_error(req(f, "{\"execute\":\"qom-set\",\"arguments\":{\"path\":"
	                    "\"/machine/peripheral/balloon0\",\"property\":"
	                    "\"guest-stats-polling-interval\",\"value\":-1}}"),
	             "GenericError", "timer value must be greater than zero");
	expect_error(req(f, "{\"execute\":\"qom-set\",\"arguments\":{\"path\":"
	                    "\"/machine/peripheral/balloon0\",\"property\":"
	                    "\"guest-stats-polling-interval\",\"value\":"
	                    "4294967296}}"),
	             "GenericError", "timer value is too big");
	expect_error(req(f, "{\"execute\":\"qom-set\",\"arguments\":{\"path\":"
	                    "\"/machine/peripheral/balloon0\",\"property\":"
	                    "\"guest-stats-polling-interval\",\"value\":"
	                    "\"5\"}}"),
	             "GenericError", NULL);
	assert_int_equal(f->vm.interval, 2);
	expect_ok(req(f, "{\"execute\":\"qom-set\",\"arguments\":{\"path\":"
	                 "\"//machine//peripheral/balloon0/\",\"property\":"
	                 "\"guest-stats-polling-interval\",\"value\":0}}"));
	assert_int_equal(f->vm.interval, 0);
}

static void test_qom_errors(void **state)
{
	struct fix *f = *state;
	struct json_object *r;

	negotiate(f);
	expect_error(req(f, "{\"execute\":\"qom-get\",\"arguments\":{\"path\":"
	                    "\"/machine/peripheral/balloon1\",\"property\":"
	                    "\"guest-stats\"}}"),
	             "DeviceNotFound",
	             "Device '/machine/peripheral/balloon1' not found");
	expect_error(req(f, "{\"execute\":\"qom-get\",\"arguments\":{\"path\":"
	                    "\"/machine/peripheral/balloon0\",\"property\":"
	                    "\"foo\"}}"),
	             "GenericError",
	             "Property 'virtio-balloon-pci.foo' not found");
	expect_error(req(f, "{\"execute\":\"qom-set\",\"arguments\":{\"path\":"
	                    "\"/machine/peripheral/balloon0\",\"property\":"
	                    "\"guest-stats\",\"value\":{}}}"),
	             "GenericError",
	             "Property 'virtio-balloon-pci.guest-stats' is not "
	             "writable");
	expect_error(req(f, "{\"execute\":\"qom-set\",\"arguments\":{\"path\":"
	                    "\"/machine\",\"property\":\"bar\",\"value\":1}}"),
	             "GenericError",
	             "Property 'balloonvm-machine.bar' not found");
	expect_error(req(f, "{\"execute\":\"qom-get\",\"arguments\":{\"path\":"
	                    "\"/machine/peripheral/balloon0\"}}"),
	             "GenericError", "Parameter 'property' is missing");
	expect_error(req(f, "{\"execute\":\"qom-set\",\"arguments\":{\"path\":"
	                    "\"/machine/peripheral/balloon0\",\"property\":"
	                    "\"guest-stats-polling-interval\"}}"),
	             "GenericError", "Parameter 'value' is missing");
	r = expect_ok(req(f,
	                  "{\"execute\":\"qom-get\",\"arguments\":{\"path\":"
	                  "\"peripheral/balloon0\",\"property\":\"type\"}}"));
	assert_string_equal(json_object_get_string(r), "virtio-balloon-pci");
	r = expect_ok(req(f, "{\"execute\":\"qom-get\",\"arguments\":{\"path\":"
	                     "\"/machine/peripheral\",\"property\":"
	                     "\"balloon0\"}}"));
	assert_string_equal(json_object_get_string(r), BVM_BALLOON_PATH);
	r = expect_ok(req(f,
	                  "{\"execute\":\"qom-list\",\"arguments\":{\"path\":"
	                  "\"/machine/peripheral/balloon0\"}}"));
	assert_int_equal(json_object_array_length(r), 3);
	r = expect_ok(req(f,
	                  "{\"execute\":\"qom-list\",\"arguments\":{\"path\":"
	                  "\"/\"}}"));
	assert_string_equal(json_object_get_string(get(
	                            json_object_array_get_idx(r, 1), "type")),
	                    "child<balloonvm-machine>");
	expect_error(req(f, "{\"execute\":\"qom-list\",\"arguments\":{\"path\":"
	                    "\"nowhere\"}}"),
	             "DeviceNotFound", NULL);
}

static void test_workloads(void **state)
{
	struct fix *f = *state;
	struct json_object *r;

	negotiate(f);
	r = expect_ok(req(f,
	                  "{\"execute\":\"x-bvm-workload-add\",\"arguments\":"
	                  "{\"spec\":\"kv:size=100M\"}}"));
	assert_int_equal(json_object_get_int(get(r, "id")), 1);
	assert_string_equal(f->vm.last_spec, "kv:size=100M");
	expect_error(req(f, "{\"execute\":\"x-bvm-workload-add\",\"arguments\":"
	                    "{\"spec\":\"bad:x\"}}"),
	             "GenericError", "unknown workload kind 'bad:x'");
	expect_error(req(f, "{\"execute\":\"x-bvm-workload-add\"}"),
	             "GenericError", "Parameter 'spec' is missing");
	expect_ok(req(f, "{\"execute\":\"x-bvm-workload-set\",\"arguments\":"
	                 "{\"id\":1,\"spec\":\"alpha=0.5\"}}"));
	assert_int_equal(f->vm.last_id, 1);
	assert_string_equal(f->vm.last_spec, "alpha=0.5");
	expect_error(req(f, "{\"execute\":\"x-bvm-workload-set\",\"arguments\":"
	                    "{\"id\":9,\"spec\":\"alpha=0.5\"}}"),
	             "GenericError", "no workload 9");
	expect_error(req(f,
	                 "{\"execute\":\"x-bvm-workload-stop\",\"arguments\":"
	                 "{\"id\":9}}"),
	             "GenericError", strerror(ENOENT));
	expect_ok(req(f, "{\"execute\":\"x-bvm-workload-stop\",\"arguments\":"
	                 "{\"id\":1}}"));
	r = expect_ok(req(f, "{\"execute\":\"x-bvm-query-workloads\"}"));
	assert_int_equal(json_object_array_length(r), 1);
	r = expect_ok(req(f, "{\"execute\":\"x-bvm-query-memory\"}"));
	assert_int_equal(json_object_get_int64(get(r, "ram")), GiB);
}

/* x-bvm-stats-alert: checked arguments, the default drop, off again. */
static void test_stats_alert_cmd(void **state)
{
	struct fix *f = *state;

	negotiate(f);
	expect_ok(req(f, "{\"execute\":\"x-bvm-stats-alert\",\"arguments\":"
	                 "{\"period-ms\":100}}"));
	assert_int_equal(f->vm.alert_ms, 100);
	assert_int_equal(f->vm.alert_drop, 16 << 20);
	expect_ok(req(f, "{\"execute\":\"x-bvm-stats-alert\",\"arguments\":"
	                 "{\"period-ms\":250,\"drop\":4194304}}"));
	assert_int_equal(f->vm.alert_ms, 250);
	assert_int_equal(f->vm.alert_drop, 4 << 20);
	expect_error(req(f, "{\"execute\":\"x-bvm-stats-alert\",\"arguments\":"
	                    "{\"period-ms\":5}}"),
	             "GenericError",
	             "'period-ms' must be 0 (off) or 10..60000");
	expect_error(req(f, "{\"execute\":\"x-bvm-stats-alert\",\"arguments\":"
	                    "{\"period-ms\":100,\"drop\":0}}"),
	             "GenericError",
	             "'drop' must be 4096..1099511627776 bytes");
	assert_int_equal(f->vm.alert_ms, 250); /* refused: unchanged */
	expect_error(req(f, "{\"execute\":\"x-bvm-stats-alert\"}"),
	             "GenericError", "Parameter 'period-ms' is missing");
	expect_ok(req(f, "{\"execute\":\"x-bvm-stats-alert\",\"arguments\":"
	                 "{\"period-ms\":0}}"));
	assert_int_equal(f->vm.alert_ms, 0);
}

static void test_quit(void **state)
{
	struct fix *f = *state;

	negotiate(f);
	expect_ok(req(f, "{\"execute\":\"quit\"}"));
	assert_int_equal(f->vm.quits, 1);
}

static void test_event_shape(void **state)
{
	struct json_object *d = json_object_new_object(), *e, *ts;

	(void)state;
	json_object_object_add(d, "actual", json_object_new_int64(42));
	e = bvm_qmp_event("BALLOON_CHANGE", d);
	assert_string_equal(json_object_get_string(get(e, "event")),
	                    "BALLOON_CHANGE");
	assert_int_equal(json_object_get_int64(get(get(e, "data"), "actual")),
	                 42);
	ts = get(e, "timestamp");
	assert_true(json_object_get_int64(get(ts, "seconds")) > 1600000000);
	assert_in_range(json_object_get_int64(get(ts, "microseconds")), 0,
	                999999);
	json_object_put(e);
	e = bvm_qmp_event("SHUTDOWN", NULL);
	assert_false(has(e, "data"));
	json_object_put(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_greeting),
	        cmocka_unit_test(test_event_shape),
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	        T(test_before_capabilities),
	        T(test_capabilities_args),
	        T(test_request_shape),
	        T(test_query_status_version_commands),
	        T(test_balloon),
	        T(test_query_balloon),
	        T(test_qom_stats),
	        T(test_qom_interval),
	        T(test_qom_errors),
	        T(test_workloads),
	        T(test_stats_alert_cmd),
	        T(test_quit),
#undef T
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
