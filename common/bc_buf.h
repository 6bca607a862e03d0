/* SPDX-License-Identifier: MIT */
/*
 * bc_buf.h - a growable byte buffer for input read in pieces (the JSON-lines
 * reader and balloonvm's QMP stream).  Bytes are appended at the end and
 * consumed from the front.
 *
 * Return contract: 0 or -ENOMEM.
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

#endif
