/* SPDX-License-Identifier: MIT */
/*
 * qmp_stream.c - a continuous stream of JSON texts in, one parsed text out
 * at a time (see qmp_stream.h for the framing and the resync rules).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "qmp_stream.h"

#define READ_CHUNK 16384 /* bytes per read(2) */

int bvm_qmp_stream_init(struct qmp_stream *s, size_t max_msg)
{
	memset(s, 0, sizeof(*s));
	s->max_msg = max_msg;
	s->why = "";
	s->tok = json_tokener_new_ex(QMP_MAX_DEPTH);
	if (!s->tok)
		return -ENOMEM;
	if (bc_buf_init(&s->in, READ_CHUNK))
		goto err_tok;
	return 0;
err_tok:
	json_tokener_free(s->tok);
	s->tok = NULL;
	return -ENOMEM;
}

void bvm_qmp_stream_free(struct qmp_stream *s)
{
	if (s->tok)
		json_tokener_free(s->tok);
	bc_buf_free(&s->in);
	memset(s, 0, sizeof(*s));
}

/* Room for @extra more bytes after the unparsed ones, moved to the front. */
static int reserve(struct qmp_stream *s, size_t extra)
{
	bc_buf_consume(&s->in, s->pos);
	s->pos = 0;
	return bc_buf_reserve(&s->in, extra);
}

int bvm_qmp_stream_feed(struct qmp_stream *s, const void *data, size_t n)
{
	int ret = reserve(s, n);

	return ret ? ret : bc_buf_append(&s->in, data, n);
}

ssize_t bvm_qmp_stream_read(struct qmp_stream *s, int fd)
{
	int ret = reserve(s, READ_CHUNK);
	ssize_t n;

	if (ret)
		return ret;
	do {
		n = read(fd, s->in.data + s->in.len, READ_CHUNK);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	if (n == 0)
		s->eof = true;
	s->in.len += (size_t)n;
	return n;
}

static bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Follow one byte of a text's structure; true if it ends the text (a
 * closing bracket or quote back at the top level, or whitespace after a
 * bare scalar). */
static bool scan_byte(struct qmp_scan *sc, char c)
{
	if (sc->quote) {
		if (sc->esc)
			sc->esc = false;
		else if (c == '\\')
			sc->esc = true;
		else if (c == sc->quote)
			sc->quote = 0;
		return !sc->quote && !sc->depth;
	}
	switch (c) {
	case '"':
	case '\'':
		sc->quote = c;
		return false;
	case '{':
	case '[':
		sc->depth++;
		return false;
	case '}':
	case ']':
		if (sc->depth)
			sc->depth--;
		return !sc->depth;
	default:
		return is_ws(c) && !sc->depth;
	}
}

static void new_text(struct qmp_stream *s, enum qmp_stream_mode mode)
{
	json_tokener_reset(s->tok);
	s->msg_bytes = 0;
	memset(&s->scan, 0, sizeof(s->scan));
	s->mode = mode;
}

/* QS_SKIP: drop the rest of an over-long text. */
static void skip_text(struct qmp_stream *s)
{
	while (s->pos < s->in.len)
		if (scan_byte(&s->scan, s->in.data[s->pos++])) {
			new_text(s, QS_PARSE);
			return;
		}
}

/* QS_RECOVER: drop input up to a '{' (kept) or a newline (dropped). */
static void recover(struct qmp_stream *s)
{
	while (s->pos < s->in.len) {
		char c = s->in.data[s->pos];
		if (c == '{') {
			s->mode = QS_PARSE;
			return;
		}
		s->pos++;
		if (c == '\n') {
			s->mode = QS_PARSE;
			return;
		}
	}
}

/* Whitespace between texts is not part of either. */
static void skip_ws(struct qmp_stream *s)
{
	while (s->pos < s->in.len && is_ws(s->in.data[s->pos]))
		s->pos++;
}

/* Feed the tokener what we hold of the current text (up to the limit).
 * Returns 1 with *out, 0 if the text is still incomplete, or an error. */
static int parse_some(struct qmp_stream *s, struct json_object **out)
{
	const char *p = s->in.data + s->pos;
	size_t n = s->in.len - s->pos, end;
	struct json_object *obj;
	enum json_tokener_error err;

	if (n > s->max_msg - s->msg_bytes)
		n = s->max_msg - s->msg_bytes;
	obj = json_tokener_parse_ex(s->tok, p, (int)n);
	err = json_tokener_get_error(s->tok);
	end = json_tokener_get_parse_end(s->tok);
	if (obj) {
		s->pos += end;
		new_text(s, QS_PARSE);
		*out = obj;
		return 1;
	}
	if (err == json_tokener_continue) {
		for (size_t i = 0; i < n; i++)
			scan_byte(&s->scan, p[i]);
		s->pos += n;
		s->msg_bytes += n;
		if (s->msg_bytes < s->max_msg)
			return 0;
		s->why = "message too long";
		s->mode = QS_SKIP;
		json_tokener_reset(s->tok);
		return -EMSGSIZE;
	}
	/* The rejected byte stays for recover() (a '{' may start the next
	 * text), unless it is the text's first byte. */
	if (!s->msg_bytes && !end)
		end = 1;
	s->pos += end;
	s->why = json_tokener_error_desc(err);
	new_text(s, QS_RECOVER);
	return -EBADMSG;
}

int bvm_qmp_stream_next(struct qmp_stream *s, struct json_object **out)
{
	for (;;) {
		if (s->mode == QS_RECOVER)
			recover(s);
		if (s->mode == QS_SKIP)
			skip_text(s);
		if (s->mode != QS_PARSE)
			return 0;
		if (!s->msg_bytes)
			skip_ws(s);
		if (s->pos == s->in.len)
			return 0;
		int ret = parse_some(s, out);
		if (ret)
			return ret;
	}
}

const char *bvm_qmp_stream_error(const struct qmp_stream *s)
{
	return s->why;
}
