/* SPDX-License-Identifier: MIT */
#include "bc_buf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

int bc_buf_init(struct bc_buf *b, size_t cap)
{
	b->len = 0;
	b->cap = cap;
	b->data = malloc(cap);
	return b->data ? 0 : -ENOMEM;
}

void bc_buf_free(struct bc_buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

int bc_buf_reserve(struct bc_buf *b, size_t extra)
{
	size_t need = b->len + extra, cap = b->cap ? b->cap : 4096;
	char *nd;

	if (need <= b->cap)
		return 0;
	while (cap < need)
		cap *= 2;
	nd = realloc(b->data, cap);
	if (!nd)
		return -ENOMEM;
	b->data = nd;
	b->cap = cap;
	return 0;
}

int bc_buf_append(struct bc_buf *b, const void *p, size_t n)
{
	int ret = bc_buf_reserve(b, n);

	if (ret)
		return ret;
	memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

void bc_buf_consume(struct bc_buf *b, size_t n)
{
	if (!n)
		return;
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
}

int bc_buf_send(struct bc_buf *b, int fd)
{
	size_t off = 0;
	int ret = 0;

	while (off < b->len) {
		ssize_t w = send(fd, b->data + off, b->len - off,
		                 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			ret = 1;
			break;
		}
		if (w < 0) {
			ret = -errno;
			break;
		}
		off += (size_t)w;
	}
	bc_buf_consume(b, off);
	return ret;
}
