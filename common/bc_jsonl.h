/* SPDX-License-Identifier: MIT */
/*
 * bc_jsonl.h - newline-delimited JSON over a stream socket, as both QMP and
 * balloond's control protocol use it.  A reader accumulates bytes from a
 * (usually non-blocking) fd and yields one parsed object per line; a line
 * longer than the limit is discarded up to its newline and reported once, so
 * a misbehaving peer can never make us buffer without bound.
 *
 * Return contract: 0 / positive counts on success, -errno on failure.
 */
#ifndef BC_JSONL_H
#define BC_JSONL_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

#include "bc_buf.h"

struct bc_jsonl {
	struct bc_buf in; /* received, not yet parsed */
	size_t max_line;  /* bytes, without the newline */
	bool discarding;  /* inside an over-long line */
	bool eof;
};

/* Initialise with a line limit in bytes (e.g. 64 KiB). Returns 0 or -ENOMEM. */
int bc_jsonl_init(struct bc_jsonl *r, size_t max_line);
void bc_jsonl_free(struct bc_jsonl *r);

/* Read what @fd has.  Returns bytes read (> 0), 0 at end of file, -EAGAIN if
 * nothing is available, or -errno. */
ssize_t bc_jsonl_read(struct bc_jsonl *r, int fd);

/* Append raw bytes (for tests and for callers that read themselves). */
int bc_jsonl_feed(struct bc_jsonl *r, const char *data, size_t n);

/*
 * Take the next complete line.  Returns 1 and stores a new reference in *out
 * (the caller puts it), 0 if no complete line is buffered, -EMSGSIZE if a line
 * over the limit was dropped, -EBADMSG if a line was not valid JSON (the line
 * is consumed either way; call again for the next).  Blank lines are skipped.
 */
int bc_jsonl_next(struct bc_jsonl *r, struct json_object **out);

/* Serialise @obj compactly plus "\n" and write it all to @fd (blocking
 * semantics: retries on EINTR/EAGAIN with poll).  Returns 0 or -errno. */
int bc_jsonl_send(int fd, struct json_object *obj);

/* Write a whole buffer, retrying as above.  Returns 0 or -errno. */
int bc_write_all(int fd, const void *buf, size_t n);

#endif
