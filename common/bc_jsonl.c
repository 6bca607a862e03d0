/* SPDX-License-Identifier: MIT */
#include "bc_jsonl.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int bc_jsonl_init(struct bc_jsonl *r, size_t max_line)
{
	memset(r, 0, sizeof(*r));
	r->max_line = max_line;
	return bc_buf_init(&r->in, 4096);
}

void bc_jsonl_free(struct bc_jsonl *r)
{
	bc_buf_free(&r->in);
	memset(r, 0, sizeof(*r));
}

int bc_jsonl_feed(struct bc_jsonl *r, const char *data, size_t n)
{
	return bc_buf_append(&r->in, data, n);
}

ssize_t bc_jsonl_read(struct bc_jsonl *r, int fd)
{
	char tmp[16384];
	ssize_t n;

	do {
		n = read(fd, tmp, sizeof(tmp));
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	if (n == 0) {
		r->eof = true;
		return 0;
	}
	int ret = bc_jsonl_feed(r, tmp, (size_t)n);
	return ret ? ret : n;
}

/* Drop buffered bytes of an over-long line; true once its newline is seen. */
static bool discard_long(struct bc_jsonl *r)
{
	char *nl = memchr(r->in.data, '\n', r->in.len);

	if (!nl) {
		r->in.len = 0;
		return false;
	}
	bc_buf_consume(&r->in, (size_t)(nl - r->in.data) + 1);
	r->discarding = false;
	return true;
}

static int parse_line(const char *line, size_t n, struct json_object **out)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *obj;
	int ret = -EBADMSG;

	if (!tok)
		return -ENOMEM;
	obj = json_tokener_parse_ex(tok, line, (int)n);
	if (obj && json_tokener_get_parse_end(tok) == n) {
		*out = obj;
		ret = 1;
	} else if (obj) {
		json_object_put(obj); /* trailing garbage after the value */
	}
	json_tokener_free(tok);
	return ret;
}

static bool blank(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
			return false;
	return true;
}

int bc_jsonl_next(struct bc_jsonl *r, struct json_object **out)
{
	for (;;) {
		if (r->discarding && !discard_long(r))
			return 0;
		char *nl = memchr(r->in.data, '\n', r->in.len);
		if (!nl) {
			if (r->in.len > r->max_line) {
				r->discarding = true;
				r->in.len = 0;
				return -EMSGSIZE;
			}
			return 0;
		}
		size_t n = (size_t)(nl - r->in.data);
		if (n > r->max_line) {
			bc_buf_consume(&r->in, n + 1);
			return -EMSGSIZE;
		}
		if (blank(r->in.data, n)) {
			bc_buf_consume(&r->in, n + 1);
			continue;
		}
		int ret = parse_line(r->in.data, n, out);
		bc_buf_consume(&r->in, n + 1);
		return ret;
	}
}

int bc_write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;

	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN) {
			struct pollfd pfd = {.fd = fd, .events = POLLOUT};
			if (poll(&pfd, 1, 5000) <= 0)
				return -ETIMEDOUT;
			continue;
		}
		if (w < 0)
			return -errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int bc_jsonl_send(int fd, struct json_object *obj)
{
	size_t len;
	const char *s = json_object_to_json_string_length(
	        obj, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE,
	        &len);
	char *line = malloc(len + 1);
	int ret;

	if (!line)
		return -ENOMEM;
	memcpy(line, s, len);
	line[len] = '\n';
	ret = bc_write_all(fd, line, len + 1);
	free(line);
	return ret;
}
