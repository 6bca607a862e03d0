/* SPDX-License-Identifier: MIT */
/*
 * bc_buf.h - a growable byte buffer: input read in pieces (the JSON-lines
 * reader, balloonvm's QMP stream) and output queued for a non-blocking
 * socket (balloond's QMP and control connections, balloonvm's QMP server).
 * Bytes are appended at the end and consumed from the front.  A zeroed
 * struct bc_buf is a valid empty buffer that allocates on first use.
 *
 * Return contract: 0 or -ENOMEM, except bc_buf_send (below).
 */
#ifndef BC_BUF_H
#define BC_BUF_H

#include <stddef.h>

struct bc_buf {
	char *data;
	size_t len; /* bytes held: data[0, len) */
	size_t cap; /* bytes allocated */
};

/* Allocate @cap bytes (> 0) up front. */
int bc_buf_init(struct bc_buf *b, size_t cap);
void bc_buf_free(struct bc_buf *b);

/* Make room for @extra more bytes after data[len) (doubling the capacity). */
int bc_buf_reserve(struct bc_buf *b, size_t extra);

/* Append @n bytes. */
int bc_buf_append(struct bc_buf *b, const void *p, size_t n);

/* Drop the first @n (<= len) bytes; the rest moves to the front. */
void bc_buf_consume(struct bc_buf *b, size_t n);

/* Send what the (non-blocking) socket @fd takes and drop it from the front.
 * Returns 0 when the buffer is empty, 1 when bytes remain (wait for
 * EPOLLOUT), or -errno (the peer is gone).  Never raises SIGPIPE. */
int bc_buf_send(struct bc_buf *b, int fd);

#endif
