/* SPDX-License-Identifier: MIT */
/*
 * QMP client against a fake peer on a socketpair, driven step by step from
 * the test: greeting and capabilities, ids matched out of order, events,
 * QEMU-shaped errors, garbage that must not kill the link, timeouts, EOF.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include <bc_util.h>

#include "qmp.h"

struct t {
	struct bd_loop loop;
	struct qmp q;
	int peer; /* the fake server's end */
	int ready, closed, closed_err, nevents;
	char last_event[64];
	int64_t event_actual;
};

struct reply {
	int calls;
	int64_t value; /* "actual" or -1 */
	char cls[64], desc[128];
};

static void on_ready(void *ctx)
{
	((struct t *)ctx)->ready++;
}

static void on_event(void *ctx, const char *name, struct json_object *data)
{
	struct t *t = ctx;
	struct json_object *v;

	t->nevents++;
	snprintf(t->last_event, sizeof(t->last_event), "%s", name);
	t->event_actual = data && json_object_object_get_ex(data, "actual", &v)
	                          ? json_object_get_int64(v)
	                          : -1;
}

static void on_closed(void *ctx, int err)
{
	struct t *t = ctx;

	t->closed++;
	t->closed_err = err;
}

static const struct qmp_callbacks cbs = {on_ready, on_event, on_closed};

static void on_reply(void *ctx, struct json_object *ret, const char *cls,
                     const char *desc)
{
	struct reply *r = ctx;
	struct json_object *v;

	r->calls++;
	r->value = ret && json_object_object_get_ex(ret, "actual", &v)
	                   ? json_object_get_int64(v)
	                   : -1;
	snprintf(r->cls, sizeof(r->cls), "%s", cls ? cls : "");
	snprintf(r->desc, sizeof(r->desc), "%s", desc ? desc : "");
}

static void pump(struct t *t)
{
	for (int i = 0; i < 5; i++)
		bd_loop_wait(&t->loop, 5);
}

static void peer_say(struct t *t, const char *s)
{
	assert_int_equal(write(t->peer, s, strlen(s)), (ssize_t)strlen(s));
	pump(t);
}

/* Read one request line from the peer side and return its "id". */
static int64_t peer_read(struct t *t, char *cmd, size_t len)
{
	char line[4096];
	size_t n = 0;
	struct json_object *o, *v;
	int64_t id;

	pump(t);
	while (n < sizeof(line) - 1 && read(t->peer, line + n, 1) == 1 &&
	       line[n] != '\n')
		n++;
	line[n] = '\0';
	o = json_tokener_parse(line);
	assert_non_null(o);
	assert_true(json_object_object_get_ex(o, "execute", &v));
	snprintf(cmd, len, "%s", json_object_get_string(v));
	assert_true(json_object_object_get_ex(o, "id", &v));
	id = json_object_get_int64(v);
	json_object_put(o);
	return id;
}

static int setup(void **state)
{
	struct t *t = calloc(1, sizeof(*t));
	int sv[2];

	assert_int_equal(bd_loop_init(&t->loop), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	bd_qmp_init(&t->q, &t->loop, &cbs, t);
	assert_int_equal(bd_qmp_open_fd(&t->q, sv[0]), 0);
	t->peer = sv[1];
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct t *t = *state;

	bd_qmp_close(&t->q);
	close(t->peer);
	bd_loop_fini(&t->loop);
	free(t);
	return 0;
}

/* Greeting, then qmp_capabilities with an id, then ready. */
static void handshake(struct t *t)
{
	char cmd[64], buf[128];
	int64_t id;

	assert_int_equal(t->q.phase, QMP_GREETING);
	peer_say(t, "{\"QMP\": {\"version\": {}, \"capabilities\": []}}\n");
	assert_int_equal(t->q.phase, QMP_CAPS);
	id = peer_read(t, cmd, sizeof(cmd));
	assert_string_equal(cmd, "qmp_capabilities");
	assert_int_equal(t->ready, 0);
	snprintf(buf, sizeof(buf), "{\"return\": {}, \"id\": %lld}\n",
	         (long long)id);
	peer_say(t, buf);
	assert_int_equal(t->ready, 1);
	assert_true(qmp_is_ready(&t->q));
}

static void test_handshake(void **state)
{
	struct t *t = *state;
	struct reply r = {0};

	/* nothing can be sent before the handshake */
	assert_int_equal(
	        bd_qmp_command(&t->q, "query-balloon", NULL, on_reply, &r),
	        -ENOTCONN);
	handshake(t);
	assert_int_equal(t->q.peer_pid, getpid());
	assert_int_equal(t->q.protocol_errors, 0);
}

static void test_ids_out_of_order(void **state)
{
	struct t *t = *state;
	struct reply a = {0}, b = {0};
	char cmd[64], buf[256];
	int64_t ida, idb;

	handshake(t);
	assert_int_equal(
	        bd_qmp_command(&t->q, "query-balloon", NULL, on_reply, &a), 0);
	assert_int_equal(
	        bd_qmp_command(&t->q, "query-balloon", NULL, on_reply, &b), 0);
	ida = peer_read(t, cmd, sizeof(cmd));
	idb = peer_read(t, cmd, sizeof(cmd));
	assert_int_not_equal(ida, idb);
	/* answer the second first */
	snprintf(buf, sizeof(buf),
	         "{\"return\": {\"actual\": 222}, \"id\": %lld}\n"
	         "{\"return\": {\"actual\": 111}, \"id\": %lld}\n",
	         (long long)idb, (long long)ida);
	peer_say(t, buf);
	assert_int_equal(a.calls, 1);
	assert_int_equal(b.calls, 1);
	assert_int_equal(a.value, 111);
	assert_int_equal(b.value, 222);
	assert_null(t->q.pend);
}

static void test_error_shape(void **state)
{
	struct t *t = *state;
	struct reply r = {0};
	char cmd[64], buf[256];
	int64_t id;

	handshake(t);
	assert_int_equal(bd_qmp_command(&t->q, "balloon",
	                                json_tokener_parse("{\"value\": 1}"),
	                                on_reply, &r),
	                 0);
	id = peer_read(t, cmd, sizeof(cmd));
	assert_string_equal(cmd, "balloon");
	snprintf(buf, sizeof(buf),
	         "{\"error\": {\"class\": \"DeviceNotActive\", \"desc\": "
	         "\"No balloon device has been activated\"}, \"id\": %lld}\n",
	         (long long)id);
	peer_say(t, buf);
	assert_int_equal(r.calls, 1);
	assert_string_equal(r.cls, "DeviceNotActive");
	assert_string_equal(r.desc, "No balloon device has been activated");
	assert_int_equal(t->closed, 0);
}

static void test_events(void **state)
{
	struct t *t = *state;

	/* an event before the handshake completes is not delivered */
	peer_say(t, "{\"QMP\": {\"version\": {}, \"capabilities\": []}}\n");
	peer_say(t, "{\"event\": \"BALLOON_CHANGE\", \"data\": {\"actual\": "
	            "5}}\n");
	assert_int_equal(t->nevents, 0);
	bd_qmp_close(&t->q);
	close(t->peer);
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(bd_qmp_open_fd(&t->q, sv[0]), 0);
	t->peer = sv[1];
	t->ready = 0;
	handshake(t);
	peer_say(t, "{\"event\": \"BALLOON_CHANGE\", \"data\": {\"actual\": "
	            "536870912}, \"timestamp\": {\"seconds\": 1, "
	            "\"microseconds\": 2}}\n");
	assert_int_equal(t->nevents, 1);
	assert_string_equal(t->last_event, "BALLOON_CHANGE");
	assert_int_equal(t->event_actual, 536870912);
	peer_say(t, "{\"event\": \"SHUTDOWN\"}\n");
	assert_int_equal(t->nevents, 2);
	assert_string_equal(t->last_event, "SHUTDOWN");
	assert_int_equal(t->event_actual, -1);
}

static void test_garbage_keeps_link(void **state)
{
	struct t *t = *state;
	struct reply r = {0};
	char cmd[64], buf[256];
	int64_t id;

	handshake(t);
	peer_say(t, "this is not json\n");
	assert_int_equal(t->q.protocol_errors, 1);
	peer_say(t, "[1, 2, 3]\n");
	assert_int_equal(t->q.protocol_errors, 2);
	peer_say(t, "{\"return\": {}, \"id\": 99999}\n"); /* nobody asked */
	assert_int_equal(t->q.protocol_errors, 3);
	peer_say(t, "{\"return\": {}}\n"); /* no id */
	assert_int_equal(t->q.protocol_errors, 4);
	peer_say(t, "{\"hello\": 1}\n");
	assert_int_equal(t->q.protocol_errors, 5);
	peer_say(t, "{\"return\": {}, \"id\": 1} trailing\n");
	assert_int_equal(t->q.protocol_errors, 6);
	assert_int_equal(t->closed, 0);
	/* still usable */
	assert_int_equal(
	        bd_qmp_command(&t->q, "query-balloon", NULL, on_reply, &r), 0);
	id = peer_read(t, cmd, sizeof(cmd));
	snprintf(buf, sizeof(buf),
	         "{\"return\": {\"actual\": 7}, \"id\": %lld}\n",
	         (long long)id);
	peer_say(t, buf);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.value, 7);
}

static void test_overlong_line(void **state)
{
	struct t *t = *state;
	size_t total = QMP_MAX_LINE + 4096, sent = 0;
	char chunk[8192];

	handshake(t);
	memset(chunk, 'x', sizeof(chunk));
	bc_set_nonblock(t->peer);
	while (sent < total) {
		ssize_t w = write(t->peer, chunk, sizeof(chunk));
		if (w > 0)
			sent += (size_t)w;
		bd_loop_wait(&t->loop, 1);
	}
	peer_say(t, "\n{\"event\": \"SHUTDOWN\"}\n");
	pump(t);
	assert_int_equal(t->q.protocol_errors, 1);
	assert_int_equal(t->nevents, 1); /* the next line came through */
	assert_int_equal(t->closed, 0);
}

static void test_bad_greeting(void **state)
{
	struct t *t = *state;

	peer_say(t, "{\"hello\": \"not qmp\"}\n");
	assert_int_equal(t->closed, 1);
	assert_int_equal(t->closed_err, -EPROTO);
	assert_false(qmp_is_open(&t->q));
}

static void test_caps_refused(void **state)
{
	struct t *t = *state;
	char cmd[64], buf[256];
	int64_t id;

	peer_say(t, "{\"QMP\": {}}\n");
	id = peer_read(t, cmd, sizeof(cmd));
	snprintf(buf, sizeof(buf),
	         "{\"error\": {\"class\": \"GenericError\", \"desc\": \"no\"}, "
	         "\"id\": %lld}\n",
	         (long long)id);
	peer_say(t, buf);
	assert_int_equal(t->ready, 0);
	assert_int_equal(t->closed, 1);
	assert_int_equal(t->closed_err, -EPROTO);
}

static void test_eof_fails_pending(void **state)
{
	struct t *t = *state;
	struct reply a = {0}, b = {0};

	handshake(t);
	assert_int_equal(bd_qmp_command(&t->q, "balloon", NULL, on_reply, &a),
	                 0);
	assert_int_equal(
	        bd_qmp_command(&t->q, "query-balloon", NULL, on_reply, &b), 0);
	close(t->peer);
	t->peer = -1;
	pump(t);
	assert_int_equal(t->closed, 1);
	assert_int_equal(t->closed_err, -ECONNRESET);
	assert_int_equal(a.calls, 1);
	assert_int_equal(b.calls, 1);
	assert_string_equal(a.cls, QMP_ERR_DISCONNECTED);
	assert_string_equal(b.cls, QMP_ERR_DISCONNECTED);
	assert_false(qmp_is_open(&t->q));
	t->peer = dup(0); /* for teardown's close */
}

static void test_timeouts(void **state)
{
	struct t *t = *state;
	struct reply r = {0};

	handshake(t);
	assert_int_equal(
	        bd_qmp_command(&t->q, "query-balloon", NULL, on_reply, &r), 0);
	bd_qmp_expire(&t->q, bc_now_ms() + 10);
	assert_int_equal(r.calls, 0);
	bd_qmp_expire(&t->q, bc_now_ms() + QMP_CMD_TIMEOUT_MS + 10);
	assert_int_equal(r.calls, 1);
	assert_string_equal(r.cls, QMP_ERR_TIMEOUT);
	assert_int_equal(t->closed, 0);
}

static void test_handshake_timeout(void **state)
{
	struct t *t = *state;

	bd_qmp_expire(&t->q, bc_now_ms() + QMP_HANDSHAKE_MS + 10);
	assert_int_equal(t->closed, 1);
	assert_int_equal(t->closed_err, -ETIMEDOUT);
}

static void test_open_path(void **state)
{
	struct bd_loop loop;
	struct qmp q;
	struct t t = {0};

	(void)state;
	assert_int_equal(bd_loop_init(&loop), 0);
	bd_qmp_init(&q, &loop, &cbs, &t);
	assert_int_equal(bd_qmp_open(&q, "/nonexistent/balloond-test.qmp"),
	                 -ENOENT);
	assert_false(qmp_is_open(&q));
	bd_loop_fini(&loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_handshake, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_ids_out_of_order, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_error_shape, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_events, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_garbage_keeps_link, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_overlong_line, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_bad_greeting, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_caps_refused, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_eof_fails_pending, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_timeouts, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_handshake_timeout, setup,
	                                        teardown),
	        cmocka_unit_test(test_open_path),
	};
	bc_log_init("test_qmp", BC_LOG_ERR, false);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
