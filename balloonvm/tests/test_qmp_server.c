/* SPDX-License-Identifier: MIT */
/*
 * test_qmp_server.c - the QMP socket end to end in one thread: real Unix
 * socket clients against qmp_server on a vm_loop, pumped by the test.
 * Several clients with separate sessions, QEMU's framing (a stream of JSON
 * texts: no newline needed, several per line, split over writes), malformed
 * and oversized input (answered, the stream resyncs), event delivery and
 * BALLOON_CHANGE throttling, the client limit, a client that stops reading, and
 * a command that waits for the guest (run on the server's worker) holding up
 * only its client.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sys/stat.h>

#include <cmocka.h>

#include <bc_jsonl.h>
#include <bc_util.h>

#include "qmp_server.h"
#include "test_qmp_backend.h"

struct cli {
	int fd;
	struct bc_jsonl rd;
	bool eof;
};

struct fix {
	char dir[64], path[96];
	struct vm_loop loop;
	struct qmp_server srv;
	struct fake_vm vm;
};

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));

	strcpy(f->dir, "/tmp/test_qmp_server.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/qmp.sock", f->dir);
	f->vm.ram = UINT64_C(1) << 30;
	f->vm.actual = f->vm.ram;
	assert_int_equal(bvm_vm_loop_init(&f->loop), 0);
	assert_int_equal(bvm_qmp_server_init(&f->srv, &f->loop, f->path,
	                                     &fake_backend, &f->vm),
	                 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;

	bvm_qmp_server_fini(&f->srv);
	assert_int_equal(access(f->path, F_OK), -1); /* unlinked */
	bvm_vm_loop_fini(&f->loop);
	rmdir(f->dir);
	free(f);
	return 0;
}

static void pump(struct fix *f, int timeout_ms)
{
	assert_true(bvm_vm_loop_run_once(&f->loop, timeout_ms) >= 0);
	bvm_qmp_server_tick(&f->srv, bc_now_ms());
}

static void cli_open(struct fix *f, struct cli *c)
{
	c->fd = bc_unix_connect(f->path);
	assert_true(c->fd >= 0);
	assert_int_equal(bc_set_nonblock(c->fd), 0);
	assert_int_equal(bc_jsonl_init(&c->rd, 16u << 20), 0);
	c->eof = false;
}

static void cli_close(struct cli *c)
{
	close(c->fd);
	bc_jsonl_free(&c->rd);
}

/* The next message for @c, pumping the server meanwhile; NULL if none
 * arrives within @ms (or the server closed the connection). */
static struct json_object *recv_within(struct fix *f, struct cli *c, int ms)
{
	uint64_t end = bc_now_ms() + (uint64_t)ms;

	for (;;) {
		struct json_object *o = NULL;
		int ret = bc_jsonl_next(&c->rd, &o);
		assert_true(ret >= 0);
		if (ret == 1)
			return o;
		if (c->eof || bc_now_ms() > end)
			return NULL;
		pump(f, 5);
		ssize_t n = bc_jsonl_read(&c->rd, c->fd);
		if (n == 0 || (n < 0 && n != -EAGAIN))
			c->eof = true;
	}
}

static struct json_object *recv_msg(struct fix *f, struct cli *c)
{
	struct json_object *o = recv_within(f, c, 2000);

	assert_non_null(o);
	return o;
}

/* Write everything, pumping the server whenever the socket is full. */
static void send_raw(struct fix *f, struct cli *c, const char *s, size_t n)
{
	while (n) {
		ssize_t w = send(c->fd, s, n, MSG_NOSIGNAL);
		if (w < 0) {
			assert_int_equal(errno, EAGAIN);
			pump(f, 5);
			continue;
		}
		s += w;
		n -= (size_t)w;
	}
}

static void send_str(struct fix *f, struct cli *c, const char *s)
{
	send_raw(f, c, s, strlen(s));
}

static struct json_object *get(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	assert_true(json_object_object_get_ex(o, key, &v));
	return v;
}

static const char *err_class(struct json_object *o)
{
	return json_object_get_string(get(get(o, "error"), "class"));
}

/* Connect, check the greeting, optionally negotiate. */
static void cli_start(struct fix *f, struct cli *c, bool negotiate)
{
	struct json_object *o;

	cli_open(f, c);
	o = recv_msg(f, c);
	assert_true(json_object_object_get_ex(o, "QMP", NULL));
	json_object_put(o);
	if (!negotiate)
		return;
	send_str(f, c, "{\"execute\":\"qmp_capabilities\"}\n");
	o = recv_msg(f, c);
	assert_true(json_object_object_get_ex(o, "return", NULL));
	json_object_put(o);
}

/* Run @cmd and check the reply is a success carrying @id. */
static void expect_ok(struct fix *f, struct cli *c, int id)
{
	char buf[96];
	struct json_object *o;

	snprintf(buf, sizeof(buf),
	         "{\"execute\":\"query-status\",\"id\":%d}\r\n", id);
	send_str(f, c, buf);
	o = recv_msg(f, c);
	assert_true(json_object_object_get_ex(o, "return", NULL));
	assert_int_equal(json_object_get_int(get(o, "id")), id);
	json_object_put(o);
}

static void test_two_sessions(void **state)
{
	struct fix *f = *state;
	struct cli a, b;
	struct json_object *o;

	cli_start(f, &a, true);
	cli_start(f, &b, false);
	assert_int_equal(bvm_qmp_server_clients(&f->srv), 2);
	send_str(f, &b, "{\"execute\":\"query-status\",\"id\":1}\n");
	o = recv_msg(f, &b);
	assert_string_equal(err_class(o), "CommandNotFound");
	json_object_put(o);
	expect_ok(f, &a, 2);
	/* two commands in one write, answered in order */
	send_str(f, &a,
	         "{\"execute\":\"balloon\",\"arguments\":{\"value\":536870912},"
	         "\"id\":3}\n{\"execute\":\"query-balloon\",\"id\":4}\n");
	o = recv_msg(f, &a);
	assert_int_equal(json_object_get_int(get(o, "id")), 3);
	json_object_put(o);
	o = recv_msg(f, &a);
	assert_int_equal(json_object_get_int(get(o, "id")), 4);
	json_object_put(o);
	assert_int_equal(f->vm.target, (1u << 30) / 2 / 4096);
	/* a client that goes away does not disturb the other */
	cli_close(&b);
	for (int i = 0; i < 20 && bvm_qmp_server_clients(&f->srv) != 1; i++)
		pump(f, 5);
	assert_int_equal(bvm_qmp_server_clients(&f->srv), 1);
	expect_ok(f, &a, 5);
	cli_close(&a);
}

/* The next message must be a GenericError parse error (no id). */
static void expect_parse_error(struct fix *f, struct cli *c, const char *what)
{
	struct json_object *o = recv_msg(f, c);
	const char *desc;

	assert_string_equal(err_class(o), "GenericError");
	desc = json_object_get_string(get(get(o, "error"), "desc"));
	assert_non_null(strstr(desc, "JSON parse error, "));
	if (what)
		assert_non_null(strstr(desc, what));
	assert_false(json_object_object_get_ex(o, "id", NULL));
	json_object_put(o);
}

/* The next message must be the reply to request @id (success or error
 * class @cls). */
static void expect_reply(struct fix *f, struct cli *c, int id, const char *cls)
{
	struct json_object *o = recv_msg(f, c);

	assert_int_equal(json_object_get_int(get(o, "id")), id);
	if (cls)
		assert_string_equal(err_class(o), cls);
	else
		assert_true(json_object_object_get_ex(o, "return", NULL));
	json_object_put(o);
}

/* Nothing more is queued for @c. */
static void expect_nothing(struct fix *f, struct cli *c)
{
	struct json_object *o = recv_within(f, c, 50);

	assert_null(o);
}

/* QEMU's framing: a stream of JSON texts, newlines optional. */
static void test_stream(void **state)
{
	struct fix *f = *state;
	const char split[] = "{\"execute\":\"query-status\",\"id\":3}";
	struct json_object *o;
	struct cli a;

	cli_start(f, &a, true);
	/* no newline after the command (QEMU's old Python client) */
	send_str(f, &a, "{\"execute\":\"query-status\",\"id\":1}");
	expect_reply(f, &a, 1, NULL);
	/* two objects on one line, no separator: two replies, in order */
	send_str(f, &a,
	         "{\"execute\":\"query-balloon\",\"id\":2}"
	         "{\"execute\":\"nosuch\",\"id\":\"x\"}  {\"a\":1}\r\n");
	expect_reply(f, &a, 2, NULL);
	o = recv_msg(f, &a);
	assert_string_equal(err_class(o), "CommandNotFound");
	assert_string_equal(json_object_get_string(get(o, "id")), "x");
	json_object_put(o);
	o = recv_msg(f, &a);
	assert_string_equal(err_class(o), "GenericError"); /* no 'execute' */
	json_object_put(o);
	expect_nothing(f, &a);
	/* one object split over many writes, the server pumped in between;
	 * blank lines and whitespace around it are ignored */
	send_str(f, &a, "\n\n  \t\r\n");
	for (size_t i = 0; i < sizeof(split) - 1; i++) {
		send_raw(f, &a, split + i, 1);
		pump(f, 1);
		if (i + 1 < sizeof(split) - 1)
			assert_null(recv_within(f, &a, 0));
	}
	expect_reply(f, &a, 3, NULL);
	send_str(f, &a, "\n\n   \n");
	expect_nothing(f, &a);
	cli_close(&a);
}

/* Invalid JSON: one error, the stream resynchronises, the VM lives. */
static void test_malformed(void **state)
{
	struct fix *f = *state;
	struct cli a;

	cli_start(f, &a, true);
	/* garbage then a command on the same line: error, then its reply */
	send_str(f, &a,
	         "\x01\x02\xff garbage ]]] "
	         "{\"execute\":\"query-status\",\"id\":1}");
	expect_parse_error(f, &a, NULL);
	expect_reply(f, &a, 1, NULL);
	expect_nothing(f, &a);
	/* the rest of a bad line is dropped with it */
	send_str(f, &a,
	         "]]] x \"a\" 1 2 3\n{\"execute\":\"query-status\","
	         "\"id\":2}\n");
	expect_parse_error(f, &a, "unexpected character");
	expect_reply(f, &a, 2, NULL);
	expect_nothing(f, &a);
	/* an unterminated object: the next '{' starts over (QEMU would keep
	 * collecting until the braces balance; docs/balloonvm.md) */
	send_str(f, &a, "{\"execute\": \"query-status\"\n");
	expect_nothing(f, &a); /* still waiting for the rest */
	send_str(f, &a, "{\"execute\":\"query-status\",\"id\":3}");
	expect_parse_error(f, &a, NULL);
	expect_reply(f, &a, 3, NULL);
	/* QEMU's parity case: a missing ':' */
	send_str(f, &a, "{\"execute\" \"query-status\"}\n");
	expect_parse_error(f, &a, "':' expected");
	/* a NUL byte inside an object */
	send_raw(f, &a, "{\"a\"\0:1}\n", 9);
	expect_parse_error(f, &a, NULL);
	expect_nothing(f, &a);
	expect_ok(f, &a, 4);
	cli_close(&a);
}

static void test_oversized(void **state)
{
	struct fix *f = *state;
	size_t big = QMP_MAX_MSG + 1000, huge = 4u << 20;
	char *buf = malloc(huge + 1);
	struct cli a;
	int n;

	cli_start(f, &a, true);
	/* a well-formed request padded past the limit */
	n = sprintf(buf, "{\"execute\":\"query-status\",\"id\":\"");
	memset(buf + n, 'x', big - (size_t)n);
	strcpy(buf + big, "\"}\n");
	send_raw(f, &a, buf, big + 3);
	expect_parse_error(f, &a, "65536");
	expect_nothing(f, &a);
	expect_ok(f, &a, 1);
	/* over the limit, with brackets, quotes and escapes inside strings,
	 * and a command right after it: skipped to its very end */
	n = sprintf(buf, "{\"arguments\":{\"s\":[\"}]\\\"{\",'}'],\"p\":\"");
	memset(buf + n, '{', big - (size_t)n);
	strcpy(buf + big, "\"},\"execute\":\"query-status\"}"
	                  "{\"execute\":\"query-status\",\"id\":2}");
	send_str(f, &a, buf);
	expect_parse_error(f, &a, "65536");
	expect_reply(f, &a, 2, NULL);
	expect_nothing(f, &a);
	/* 4 MiB without a newline, then one: one error, never buffered */
	memset(buf, '[', huge);
	send_raw(f, &a, buf, huge);
	send_str(f, &a, "\n");
	expect_parse_error(f, &a, "nesting too deep");
	expect_ok(f, &a, 3);
	/* nothing else was queued for us */
	expect_nothing(f, &a);
	free(buf);
	cli_close(&a);
}

static int64_t actual_of(struct json_object *ev)
{
	assert_string_equal(json_object_get_string(get(ev, "event")),
	                    "BALLOON_CHANGE");
	return json_object_get_int64(get(get(ev, "data"), "actual"));
}

static struct json_object *actual_data(int64_t v)
{
	struct json_object *d = json_object_new_object();

	json_object_object_add(d, "actual", json_object_new_int64(v));
	return d;
}

static void test_events(void **state)
{
	struct fix *f = *state;
	struct cli a, b;
	struct json_object *o;

	cli_start(f, &a, true);
	cli_start(f, &b, false);
	bvm_qmp_server_emit(&f->srv, "BALLOON_CHANGE", actual_data(1));
	bvm_qmp_server_emit(&f->srv, "BALLOON_CHANGE", actual_data(2));
	bvm_qmp_server_emit(&f->srv, "BALLOON_CHANGE", actual_data(3));
	o = recv_msg(f, &a);
	assert_int_equal(actual_of(o), 1);
	json_object_put(o);
	/* the rest is held until the period ends; then only the latest */
	assert_null(recv_within(f, &a, 100));
	assert_int_equal(bvm_qmp_server_tick(&f->srv, bc_now_ms() + 1500),
	                 1000);
	o = recv_msg(f, &a);
	assert_int_equal(actual_of(o), 3);
	json_object_put(o);
	assert_null(recv_within(f, &a, 50));
	/* other events are not throttled */
	bvm_qmp_server_emit(&f->srv, "SHUTDOWN", NULL);
	bvm_qmp_server_emit(&f->srv, "SHUTDOWN", NULL);
	for (int i = 0; i < 2; i++) {
		o = recv_msg(f, &a);
		assert_string_equal(json_object_get_string(get(o, "event")),
		                    "SHUTDOWN");
		json_object_put(o);
	}
	/* the client that never negotiated got no event at all */
	send_str(f, &b, "{\"execute\":\"qmp_capabilities\",\"id\":9}\n");
	o = recv_msg(f, &b);
	assert_int_equal(json_object_get_int(get(o, "id")), 9);
	json_object_put(o);
	cli_close(&a);
	cli_close(&b);
}

static void test_client_limit(void **state)
{
	struct fix *f = *state;
	struct cli c[QMP_MAX_CLIENTS + 1];

	for (int i = 0; i < QMP_MAX_CLIENTS; i++)
		cli_start(f, &c[i], false);
	cli_open(f, &c[QMP_MAX_CLIENTS]);
	assert_null(recv_within(f, &c[QMP_MAX_CLIENTS], 500));
	assert_true(c[QMP_MAX_CLIENTS].eof);
	assert_int_equal(f->srv.rejected, 1);
	assert_int_equal(bvm_qmp_server_clients(&f->srv), QMP_MAX_CLIENTS);
	for (int i = 0; i <= QMP_MAX_CLIENTS; i++)
		cli_close(&c[i]);
}

static void test_slow_reader(void **state)
{
	struct fix *f = *state;
	struct cli a, slow;
	char req[] = "{\"execute\":\"x-bvm-query-memory\"}\n";

	cli_start(f, &a, true);
	cli_start(f, &slow, true);
	f->vm.memory_blob = 1u << 20;
	/* 16 MiB of replies nobody reads: the server gives up on it */
	for (int i = 0; i < 16; i++)
		send_str(f, &slow, req);
	for (int i = 0; i < 100 && bvm_qmp_server_clients(&f->srv) == 2; i++)
		pump(f, 5);
	assert_int_equal(bvm_qmp_server_clients(&f->srv), 1);
	f->vm.memory_blob = 0;
	expect_ok(f, &a, 1);
	cli_close(&slow);
	cli_close(&a);
}

static void test_quit_and_drain(void **state)
{
	struct fix *f = *state;
	struct cli a;
	struct json_object *o;

	cli_start(f, &a, true);
	send_str(f, &a, "{\"execute\":\"quit\",\"id\":1}\n");
	o = recv_msg(f, &a);
	assert_int_equal(json_object_get_int(get(o, "id")), 1);
	json_object_put(o);
	assert_int_equal(f->vm.quits, 1);
	bvm_qmp_server_emit(&f->srv, "SHUTDOWN", NULL);
	bvm_qmp_server_drain(&f->srv, 100);
	assert_int_equal(bc_jsonl_read(&a.rd, a.fd) > 0, 1);
	assert_int_equal(bc_jsonl_next(&a.rd, &o), 1);
	assert_string_equal(json_object_get_string(get(o, "event")),
	                    "SHUTDOWN");
	json_object_put(o);
	cli_close(&a);
}

/* Workloads the fake guest has added: written by the server's worker. */
static int64_t worker_added(struct fix *f)
{
	return __atomic_load_n(&f->vm.next_id, __ATOMIC_ACQUIRE);
}

static void release(int fd)
{
	uint64_t one = 1;

	assert_int_equal(write(fd, &one, sizeof(one)), sizeof(one));
}

/* x-bvm-workload-add waits for the guest: its client's next command waits
 * behind it, every other client is served meanwhile. */
static void test_guest_wait(void **state)
{
	struct fix *f = *state;
	struct cli a, b, c;
	struct json_object *o;

	f->vm.gate_fd = eventfd(0, EFD_CLOEXEC);
	assert_true(f->vm.gate_fd >= 0);
	f->vm.gated = true;
	cli_start(f, &a, true);
	cli_start(f, &b, true);
	send_str(f, &a,
	         "{\"execute\":\"x-bvm-workload-add\",\"arguments\":"
	         "{\"spec\":\"steady:ws=1M\"},\"id\":1}\n"
	         "{\"execute\":\"query-status\",\"id\":2}\n");
	for (int i = 3; i < 8; i++)
		expect_ok(f, &b, i);          /* not held up by a's command */
	assert_null(recv_within(f, &a, 100)); /* neither 1 nor 2 yet */
	release(f->vm.gate_fd);
	o = recv_msg(f, &a);
	assert_int_equal(json_object_get_int(get(o, "id")), 1);
	assert_int_equal(json_object_get_int(get(get(o, "return"), "id")), 1);
	json_object_put(o);
	o = recv_msg(f, &a);
	assert_int_equal(json_object_get_int(get(o, "id")), 2);
	json_object_put(o);
	/* a client that leaves while the worker has its request */
	cli_start(f, &c, true);
	send_str(f, &c,
	         "{\"execute\":\"x-bvm-workload-add\",\"arguments\":"
	         "{\"spec\":\"idle:size=1M\"},\"id\":9}\n");
	pump(f, 20);
	cli_close(&c);
	for (int i = 0; i < 10; i++)
		pump(f, 5);
	release(f->vm.gate_fd);
	expect_ok(f, &a, 10);
	/* c is gone at once; its request still runs on the worker (which
	 * writes next_id), and the client's memory goes with the reply. */
	assert_int_equal(bvm_qmp_server_clients(&f->srv), 2);
	for (int i = 0; i < 100 && worker_added(f) != 2; i++)
		pump(f, 20);
	assert_int_equal(worker_added(f), 2);
	expect_ok(f, &b, 11);
	f->vm.gated = false;
	close(f->vm.gate_fd);
	cli_close(&a);
	cli_close(&b);
}

/* The QMP path belongs to one VM: a second server on it is refused, and a
 * server whose socket file was replaced leaves the new one at exit. */
static void test_path_owner(void **state)
{
	struct fix *f = *state;
	struct qmp_server other, later;
	struct stat st;

	assert_int_equal(bvm_qmp_server_init(&other, &f->loop, f->path,
	                                     &fake_backend, &f->vm),
	                 -EADDRINUSE);
	assert_int_equal(stat(f->path, &st), 0); /* ours is still there */
	/* Someone removes our file and starts another server on the path. */
	assert_int_equal(unlink(f->path), 0);
	assert_int_equal(bvm_qmp_server_init(&later, &f->loop, f->path,
	                                     &fake_backend, &f->vm),
	                 0);
	bvm_qmp_server_fini(&f->srv);
	assert_int_equal(stat(f->path, &st), 0); /* the later one's file */
	bvm_qmp_server_fini(&later);
	assert_int_equal(access(f->path, F_OK), -1);
	/* A fresh server for teardown. */
	assert_int_equal(bvm_qmp_server_init(&f->srv, &f->loop, f->path,
	                                     &fake_backend, &f->vm),
	                 0);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
	        T(test_two_sessions), T(test_stream),
	        T(test_malformed),    T(test_oversized),
	        T(test_events),       T(test_client_limit),
	        T(test_slow_reader),  T(test_quit_and_drain),
	        T(test_guest_wait),   T(test_path_owner),
	};
#undef T
	bc_log_init("test_qmp_server", BC_LOG_ERR, false);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
