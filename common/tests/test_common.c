/* SPDX-License-Identifier: MIT */
/* Unit tests for common/: size parsing/formatting and JSON-lines framing. */
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

#include "bc_buf.h"
#include "bc_jsonl.h"
#include "bc_util.h"

static void test_parse_size(void **state)
{
	uint64_t b;
	(void)state;

	assert_int_equal(bc_parse_size("4096", &b), 0);
	assert_int_equal(b, 4096);
	assert_int_equal(bc_parse_size("512M", &b), 0);
	assert_int_equal(b, 512ull << 20);
	assert_int_equal(bc_parse_size("512MiB", &b), 0);
	assert_int_equal(b, 512ull << 20);
	assert_int_equal(bc_parse_size("1g", &b), 0);
	assert_int_equal(b, 1ull << 30);
	assert_int_equal(bc_parse_size("64KiB", &b), 0);
	assert_int_equal(b, 64ull << 10);
	assert_int_equal(bc_parse_size("1.5G", &b), 0);
	assert_int_equal(b, 3ull << 29);
	assert_int_equal(bc_parse_size("2T", &b), 0);
	assert_int_equal(b, 2ull << 40);
	assert_int_equal(bc_parse_size("", &b), -EINVAL);
	assert_int_equal(bc_parse_size("-1G", &b), -EINVAL);
	assert_int_equal(bc_parse_size("12X", &b), -EINVAL);
	assert_int_equal(bc_parse_size("1.5", &b), -EINVAL);
	assert_int_equal(bc_parse_size("1 G", &b), -EINVAL);
	assert_int_equal(bc_parse_size("99999999999T", &b), -ERANGE);
	assert_int_equal(bc_parse_size("99999999999999999999999", &b), -ERANGE);
}

static void test_format_size(void **state)
{
	char buf[32];
	(void)state;

	assert_string_equal(bc_format_size(4096, buf, sizeof(buf)), "4 KiB");
	assert_string_equal(bc_format_size(512ull << 20, buf, sizeof(buf)),
	                    "512 MiB");
	assert_string_equal(bc_format_size(3ull << 29, buf, sizeof(buf)),
	                    "1.50 GiB");
	assert_string_equal(bc_format_size(100, buf, sizeof(buf)), "100 B");
	assert_string_equal(bc_format_size(0, buf, sizeof(buf)), "0 B");
}

static void test_jsonl_lines(void **state)
{
	struct bc_jsonl r;
	struct json_object *o = NULL;
	(void)state;

	assert_int_equal(bc_jsonl_init(&r, 64), 0);
	const char *in = "{\"a\":1}\n\n  \n{\"b\":";
	assert_int_equal(bc_jsonl_feed(&r, in, strlen(in)), 0);
	assert_int_equal(bc_jsonl_next(&r, &o), 1);
	assert_int_equal(json_object_get_int(json_object_object_get(o, "a")),
	                 1);
	json_object_put(o);
	assert_int_equal(bc_jsonl_next(&r, &o), 0); /* partial line */
	assert_int_equal(bc_jsonl_feed(&r, "2}\nnot json\n", 12), 0);
	assert_int_equal(bc_jsonl_next(&r, &o), 1);
	json_object_put(o);
	assert_int_equal(bc_jsonl_next(&r, &o), -EBADMSG);
	assert_int_equal(bc_jsonl_next(&r, &o), 0);
	/* trailing garbage after a value is not accepted */
	assert_int_equal(bc_jsonl_feed(&r, "{} x\n", 5), 0);
	assert_int_equal(bc_jsonl_next(&r, &o), -EBADMSG);
	bc_jsonl_free(&r);
}

static void test_jsonl_oversize(void **state)
{
	struct bc_jsonl r;
	struct json_object *o = NULL;
	char big[200];
	(void)state;

	memset(big, 'x', sizeof(big));
	assert_int_equal(bc_jsonl_init(&r, 64), 0);
	assert_int_equal(bc_jsonl_feed(&r, big, sizeof(big)), 0);
	assert_int_equal(bc_jsonl_next(&r, &o), -EMSGSIZE);
	/* the rest of the long line is dropped, the next line survives */
	assert_int_equal(bc_jsonl_feed(&r, big, sizeof(big)), 0);
	assert_int_equal(bc_jsonl_feed(&r, "\n[1]\n", 5), 0);
	assert_int_equal(bc_jsonl_next(&r, &o), 1);
	assert_true(json_object_is_type(o, json_type_array));
	json_object_put(o);
	bc_jsonl_free(&r);
}

static void test_jsonl_pipe(void **state)
{
	struct bc_jsonl r;
	struct json_object *o = json_object_new_object(), *back = NULL;
	int p[2];
	(void)state;

	assert_int_equal(pipe(p), 0);
	json_object_object_add(o, "path", json_object_new_string("/a/b"));
	assert_int_equal(bc_jsonl_send(p[1], o), 0);
	close(p[1]);
	assert_int_equal(bc_jsonl_init(&r, 1024), 0);
	assert_true(bc_jsonl_read(&r, p[0]) > 0);
	assert_int_equal(bc_jsonl_next(&r, &back), 1);
	assert_string_equal(
	        json_object_get_string(json_object_object_get(back, "path")),
	        "/a/b");
	assert_int_equal(bc_jsonl_read(&r, p[0]), 0);
	assert_true(r.eof);
	json_object_put(o);
	json_object_put(back);
	bc_jsonl_free(&r);
	close(p[0]);
}

static void test_buf(void **state)
{
	char big[10000];
	struct bc_buf b;
	(void)state;

	memset(big, 'x', sizeof(big));
	assert_int_equal(bc_buf_init(&b, 16), 0);
	assert_int_equal(bc_buf_append(&b, "hello ", 6), 0);
	assert_int_equal(bc_buf_append(&b, "world", 5), 0);
	assert_int_equal(b.len, 11);
	assert_int_equal(b.cap, 16);
	assert_memory_equal(b.data, "hello world", 11);
	/* growing doubles until it fits, keeping what is held */
	assert_int_equal(bc_buf_append(&b, big, sizeof(big)), 0);
	assert_int_equal(b.cap, 16384);
	assert_int_equal(b.len, 11 + sizeof(big));
	assert_memory_equal(b.data, "hello world", 11);
	/* consuming moves the rest to the front; 0 changes nothing */
	bc_buf_consume(&b, 0);
	assert_int_equal(b.len, 11 + sizeof(big));
	bc_buf_consume(&b, 6);
	assert_memory_equal(b.data, "worldxx", 7);
	bc_buf_consume(&b, b.len);
	assert_int_equal(b.len, 0);
	/* reserving room that exists does not reallocate */
	assert_int_equal(bc_buf_reserve(&b, 16384), 0);
	assert_int_equal(b.cap, 16384);
	assert_int_equal(bc_buf_reserve(&b, 16385), 0);
	assert_int_equal(b.cap, 32768);
	bc_buf_free(&b);
	assert_null(b.data);
}

/* A zeroed buffer allocates on first use; bc_buf_send sends what a
 * non-blocking socket takes, keeps the rest, and reports a gone peer. */
static void test_buf_send(void **state)
{
	static char chunk[65536], rx[65536];
	struct bc_buf b = {0};
	size_t queued = 0, got = 0;
	int sv[2];
	(void)state;

	memset(chunk, 'q', sizeof(chunk));
	assert_int_equal(bc_buf_send(&b, -1), 0); /* empty: nothing to do */
	assert_int_equal(
	        socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	/* more than the socket buffer holds: some stays queued */
	for (int i = 0; i < 64; i++) {
		assert_int_equal(bc_buf_append(&b, chunk, sizeof(chunk)), 0);
		queued += sizeof(chunk);
	}
	assert_int_equal(bc_buf_send(&b, sv[0]), 1);
	assert_true(b.len > 0 && b.len < queued);
	/* drain the peer while sending the rest */
	for (int i = 0; i < 100000 && got < queued; i++) {
		ssize_t n = read(sv[1], rx, sizeof(rx));
		if (n > 0)
			got += (size_t)n;
		assert_true(bc_buf_send(&b, sv[0]) >= 0);
	}
	assert_int_equal(got, queued);
	assert_int_equal(b.len, 0);
	/* the peer is gone: an error, no SIGPIPE */
	close(sv[1]);
	assert_int_equal(bc_buf_append(&b, "x", 1), 0);
	assert_int_equal(bc_buf_send(&b, sv[0]), -EPIPE);
	close(sv[0]);
	bc_buf_free(&b);
}

static void test_atomic_file(void **state)
{
	char dir[] = "/tmp/bc-test-XXXXXX", path[64], *data;
	size_t len;
	(void)state;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/state.json", dir);
	assert_int_equal(bc_write_file_atomic(path, "one", 3, 0600), 0);
	assert_int_equal(bc_write_file_atomic(path, "second", 6, 0600), 0);
	assert_int_equal(bc_read_file(path, 1024, &data, &len), 0);
	assert_int_equal(len, 6);
	assert_string_equal(data, "second");
	free(data);
	assert_int_equal(bc_read_file(path, 3, &data, &len), -EFBIG);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_parse_size),
	        cmocka_unit_test(test_format_size),
	        cmocka_unit_test(test_jsonl_lines),
	        cmocka_unit_test(test_jsonl_oversize),
	        cmocka_unit_test(test_jsonl_pipe),
	        cmocka_unit_test(test_buf),
	        cmocka_unit_test(test_buf_send),
	        cmocka_unit_test(test_atomic_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
