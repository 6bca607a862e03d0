/* SPDX-License-Identifier: MIT */
/*
 * qmp_stream.h - QMP input framing as QEMU's monitor does it: what a client
 * sends is one continuous stream of JSON texts.  A text needs no newline
 * after it, several may share a line, whitespace (newlines included)
 * between texts is ignored, and a text may arrive split over any number of
 * reads.  json-c's incremental tokener does the parsing.
 *
 * Errors, and how the stream resynchronises after one:
 *  - invalid JSON: the text is dropped up to the byte the tokener rejected;
 *    input is then skipped up to the next '{' (kept: it may start the next
 *    command) or the next newline (dropped).
 *  - a text longer than the limit: reported as soon as the limit is
 *    crossed; the rest of it is skipped by following its brackets and
 *    strings to its end, then parsing resumes after it.
 * Memory stays bounded: the buffer holds what one read returned and has
 * not been parsed yet; the tokener holds at most the limit of one text.
 *
 * Return contract: 0 / positive counts on success, -errno on failure.
 */
#ifndef BVM_QMP_STREAM_H
#define BVM_QMP_STREAM_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <bc_buf.h>

/* Nesting QEMU's JSON parser accepts (json-c's default is 32). */
#define QMP_MAX_DEPTH 1024

/* Where a text being skipped stands: open brackets, inside a string. */
struct qmp_scan {
	unsigned depth; /* open '{' and '[' */
	char quote;     /* '"' or '\'' inside a string, else 0 */
	bool esc;       /* after a backslash inside a string */
};

enum qmp_stream_mode {
	QS_PARSE,   /* feeding the tokener */
	QS_RECOVER, /* after invalid JSON: skipping to '{' or a newline */
	QS_SKIP,    /* after an over-long text: skipping to its end */
};

struct qmp_stream {
	struct json_tokener *tok;
	struct bc_buf in; /* received; not parsed yet: in.data[pos, in.len) */
	size_t pos;
	size_t max_msg;   /* bytes per JSON text */
	size_t msg_bytes; /* bytes of the current text fed to tok so far */
	enum qmp_stream_mode mode;
	struct qmp_scan scan; /* over the current text's bytes */
	const char *why;      /* what the last error was (static text) */
	bool eof;
};

/* Initialise with a limit in bytes per JSON text (e.g. 64 KiB).
 * Returns 0 or -ENOMEM. */
int bvm_qmp_stream_init(struct qmp_stream *s, size_t max_msg);
void bvm_qmp_stream_free(struct qmp_stream *s);

/* Read what @fd has (up to 16 KiB).  Returns bytes read (> 0), 0 at end of
 * file, -EAGAIN if nothing is available, or -errno. */
ssize_t bvm_qmp_stream_read(struct qmp_stream *s, int fd);

/* Append raw bytes (for tests and for callers that read themselves).
 * Returns 0 or -ENOMEM. */
int bvm_qmp_stream_feed(struct qmp_stream *s, const void *data, size_t n);

/*
 * Take the next complete JSON text.  Returns 1 and stores a new reference
 * in *out (the caller puts it); 0 if no complete text is buffered;
 * -EBADMSG for invalid JSON or -EMSGSIZE for a text over the limit (the
 * stream resynchronises as described above; call again for what follows;
 * bvm_qmp_stream_error() says what was wrong).
 */
int bvm_qmp_stream_next(struct qmp_stream *s, struct json_object **out);

/* What the last -EBADMSG / -EMSGSIZE was about, e.g. "unexpected
 * character" (a static string; "" before any error). */
const char *bvm_qmp_stream_error(const struct qmp_stream *s);

#endif
