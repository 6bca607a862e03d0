/* SPDX-License-Identifier: MIT */
/*
 * test_qmp_stream.c - QMP input framing on its own: a stream of JSON texts
 * gives the same texts however it is split into reads; the size limit is
 * exact (leading whitespace not counted) and is enforced even when more
 * bytes are at hand; invalid JSON and over-long texts are reported once
 * and the stream resumes where QEMU's would (the next '{' or line after
 * an error, the end of an over-long text found through its brackets,
 * quotes and escapes).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "qmp_stream.h"

#define MAXR 16

/* What next() gave, in order: texts as compact JSON, errors as "E:BADMSG"
 * or "E:MSGSIZE". */
struct results {
	char *r[MAXR];
	int n;
};

static void drain(struct qmp_stream *s, struct results *res)
{
	for (;;) {
		struct json_object *o = NULL;
		int ret = bvm_qmp_stream_next(s, &o);
		if (!ret)
			return;
		assert_true(res->n < MAXR);
		if (ret == 1) {
			res->r[res->n++] =
			        strdup(json_object_to_json_string_ext(
			                o, JSON_C_TO_STRING_PLAIN));
			json_object_put(o);
		} else {
			assert_true(ret == -EBADMSG || ret == -EMSGSIZE);
			res->r[res->n++] = strdup(
			        ret == -EBADMSG ? "E:BADMSG" : "E:MSGSIZE");
		}
	}
}

static void results_free(struct results *res)
{
	for (int i = 0; i < res->n; i++)
		free(res->r[i]);
	res->n = 0;
}

/* Feed @in in pieces cut at @cuts (ascending offsets), draining after
 * each, and compare with @want (NULL-terminated). */
static void run_cuts(size_t max, const char *in, size_t len, const size_t *cuts,
                     int ncuts, const char *const *want)
{
	struct qmp_stream s;
	struct results res = {0};
	size_t at = 0;
	int i;

	assert_int_equal(bvm_qmp_stream_init(&s, max), 0);
	for (i = 0; i <= ncuts; i++) {
		size_t to = i < ncuts ? cuts[i] : len;
		assert_int_equal(bvm_qmp_stream_feed(&s, in + at, to - at), 0);
		drain(&s, &res);
		at = to;
	}
	for (i = 0; want[i]; i++) {
		assert_true(i < res.n);
		assert_string_equal(res.r[i], want[i]);
	}
	assert_int_equal(res.n, i);
	results_free(&res);
	bvm_qmp_stream_free(&s);
}

static void run(size_t max, const char *in, const char *const *want)
{
	run_cuts(max, in, strlen(in), NULL, 0, want);
}

static const char stream[] = "{\"a\":1}{\"b\":[1,{\"c\":\"}{\"}]}\n"
                             "  \t{\"d\":\"x\\\"}\"}\r\n\"s\" [3]\n"
                             "{\"e\":true}";
static const char *const stream_want[] = {
        "{\"a\":1}",
        "{\"b\":[1,{\"c\":\"}{\"}]}",
        "{\"d\":\"x\\\"}\"}",
        "\"s\"",
        "[3]",
        "{\"e\":true}",
        NULL,
};

static void test_whole(void **state)
{
	(void)state;
	run(1024, stream, stream_want);
}

/* Every way of cutting the stream in two, and byte by byte. */
static void test_split_everywhere(void **state)
{
	size_t len = strlen(stream), cuts[sizeof(stream)];

	(void)state;
	for (size_t i = 1; i < len; i++)
		run_cuts(1024, stream, len, &i, 1, stream_want);
	for (size_t i = 0; i + 1 < len; i++)
		cuts[i] = i + 1;
	run_cuts(1024, stream, len, cuts, (int)len - 1, stream_want);
}

static void test_limit(void **state)
{
	/* 32 bytes exactly, after whitespace, with more input at hand */
	const char *ok[] = {"{\"k\":\"012345678901234567890123\"}", "{\"z\":1}",
	                    NULL};
	const char *big[] = {"E:MSGSIZE", "{\"z\":1}", NULL};

	(void)state;
	assert_int_equal(strlen(ok[0]), 32);
	run(32,
	    "\n\n   \r\n{\"k\":\"012345678901234567890123\"}"
	    "{\"z\":1}",
	    ok);
	/* one byte more: rejected although it is complete in the buffer */
	run(32, "{\"k\":\"0123456789012345678901234\"}{\"z\":1}", big);
	run(32, "  {\"k\":\"0123456789012345678901234\"}\n{\"z\":1}", big);
}

static void test_resync(void **state)
{
	const char *w1[] = {"E:BADMSG", "{\"a\":1}", NULL};
	const char *w2[] = {"E:BADMSG", "{\"b\":2}", NULL};
	const char *w3[] = {"E:BADMSG", "E:BADMSG", "{\"c\":3}", NULL};

	(void)state;
	run(1024, "garbage{\"a\":1}", w1);     /* to the next '{' */
	run(1024, "]]] x 1 2\n{\"a\":1}", w1); /* to the newline */
	run(1024, "{\"a\" 1, 2, 3}\n{\"b\":2}", w2);
	run(1024, "{\"a\":1\n{\"b\":2}", w2); /* '{' rejected: starts anew */
	run_cuts(1024, "{\"a\":\0}{\"b\":2}", 14, NULL, 0, w2); /* NUL */
	run(1024, "{{\"c\":3}", w3 + 1);
	run(1024, "}}}}\n]]]\n{\"c\":3}", w3);
}

static void test_error_text(void **state)
{
	struct qmp_stream s;
	struct json_object *o = NULL;

	(void)state;
	assert_int_equal(bvm_qmp_stream_init(&s, 64), 0);
	assert_string_equal(bvm_qmp_stream_error(&s), "");
	assert_int_equal(bvm_qmp_stream_feed(&s, "{\"a\" 1}", 7), 0);
	assert_int_equal(bvm_qmp_stream_next(&s, &o), -EBADMSG);
	assert_non_null(strstr(bvm_qmp_stream_error(&s), "':' expected"));
	assert_int_equal(bvm_qmp_stream_next(&s, &o), 0);
	bvm_qmp_stream_free(&s);
}

/* The end of an over-long text is found through its structure. */
static void test_skip(void **state)
{
	const char *w[] = {"E:MSGSIZE", "{\"z\":1}", NULL};
	const char *w2[] = {"E:MSGSIZE", "{\"z\":2}", NULL};

	(void)state;
	run(16, "{\"k\":\"]}'\\\"{\",\"l\":['}{',\"\\\\\"],\"m\":{}}{\"z\":1}",
	    w);
	run(16, "\"a string longer than sixteen bytes {\" {\"z\":2}", w2);
	run(16, "[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]{\"z\":2}", w2);
}

static void test_read_eof(void **state)
{
	struct qmp_stream s;
	struct json_object *o = NULL;
	int sv[2];

	(void)state;
	assert_int_equal(
	        socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	assert_int_equal(bvm_qmp_stream_init(&s, 64), 0);
	assert_int_equal(bvm_qmp_stream_read(&s, sv[0]), -EAGAIN);
	assert_int_equal(write(sv[1], "{\"a\":", 5), 5);
	assert_int_equal(bvm_qmp_stream_read(&s, sv[0]), 5);
	assert_int_equal(bvm_qmp_stream_next(&s, &o), 0);
	assert_int_equal(write(sv[1], "1}", 2), 2);
	close(sv[1]);
	assert_int_equal(bvm_qmp_stream_read(&s, sv[0]), 2);
	assert_int_equal(bvm_qmp_stream_next(&s, &o), 1);
	assert_string_equal(
	        json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN),
	        "{\"a\":1}");
	json_object_put(o);
	assert_int_equal(bvm_qmp_stream_read(&s, sv[0]), 0);
	assert_true(s.eof);
	close(sv[0]);
	bvm_qmp_stream_free(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_whole),
	        cmocka_unit_test(test_split_everywhere),
	        cmocka_unit_test(test_limit),
	        cmocka_unit_test(test_resync),
	        cmocka_unit_test(test_error_text),
	        cmocka_unit_test(test_skip),
	        cmocka_unit_test(test_read_eof),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
