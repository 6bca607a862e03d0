/* SPDX-License-Identifier: MIT */
/* client.c - connect to balloond and run request/reply exchanges. */
#include "client.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bc_util.h"

void bctl_err_set(struct ctl_err *err, const char *code, const char *fmt, ...)
{
	va_list ap;

	snprintf(err->code, sizeof(err->code), "%s", code);
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
}

static const char *connect_hint(int ret)
{
	switch (ret) {
	case -ENOENT:
	case -ECONNREFUSED:
		return " (is balloond running?)";
	case -EACCES:
	case -EPERM:
		return " (are you root or in balloond's socket group?)";
	default:
		return "";
	}
}

int bctl_client_open(struct ctl_client *c, const char *path, int timeout_ms,
                     struct ctl_err *err)
{
	int ret;

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->timeout_ms = timeout_ms;
	snprintf(c->path, sizeof(c->path), "%s", path);
	ret = bc_unix_connect(path);
	if (ret < 0)
		goto err_connect;
	c->fd = ret;
	ret = bc_set_nonblock(c->fd);
	if (ret)
		goto err_close;
	ret = bc_jsonl_init(&c->rd, CTL_MAX_LINE);
	if (ret)
		goto err_close;
	return 0;
err_close:
	close(c->fd);
	c->fd = -1;
err_connect:
	bctl_err_set(err, "connect", "cannot connect to balloond at %s: %s%s",
	             path, strerror(-ret), connect_hint(ret));
	return ret;
}

void bctl_client_close(struct ctl_client *c)
{
	if (c->fd >= 0) {
		close(c->fd);
		bc_jsonl_free(&c->rd);
	}
	c->fd = -1;
}

static int remaining_ms(uint64_t deadline)
{
	uint64_t now = bc_now_ms();

	return now >= deadline ? 0 : (int)(deadline - now);
}

/* Send one line; MSG_NOSIGNAL so a daemon that went away is an error, not
 * a SIGPIPE. */
static int send_line(struct ctl_client *c, const char *s, size_t len,
                     uint64_t deadline)
{
	while (len) {
		ssize_t n = send(c->fd, s, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			struct pollfd p = {.fd = c->fd, .events = POLLOUT};
			if (poll(&p, 1, remaining_ms(deadline)) == 0)
				return -ETIMEDOUT;
			continue;
		}
		if (n < 0)
			return -errno;
		s += n;
		len -= (size_t)n;
	}
	return 0;
}

static int send_request(struct ctl_client *c, const char *cmd,
                        struct json_object *args, int64_t id, uint64_t deadline)
{
	struct json_object *req = json_object_new_object();
	const char *s;
	size_t len;
	char *line;
	int ret = -ENOMEM;

	if (!req)
		return -ENOMEM;
	json_object_object_add(req, "v",
	                       json_object_new_int(CTL_PROTOCOL_VERSION));
	json_object_object_add(req, "id", json_object_new_int64(id));
	json_object_object_add(req, "cmd", json_object_new_string(cmd));
	if (args)
		json_object_object_add(req, "args", json_object_get(args));
	s = json_object_to_json_string_length(
	        req, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE,
	        &len);
	line = s ? malloc(len + 1) : NULL;
	if (!line)
		goto out_put;
	memcpy(line, s, len);
	line[len] = '\n';
	ret = send_line(c, line, len + 1, deadline);
	free(line);
out_put:
	json_object_put(req);
	return ret;
}

/* Wait for the next complete line.  1 and *out, or -errno. */
static int read_reply(struct ctl_client *c, struct json_object **out,
                      uint64_t deadline)
{
	for (;;) {
		int ret = bc_jsonl_next(&c->rd, out);
		if (ret != 0)
			return ret;
		if (c->rd.eof)
			return -ECONNRESET;
		struct pollfd p = {.fd = c->fd, .events = POLLIN};
		int ms = remaining_ms(deadline);
		ret = ms ? poll(&p, 1, ms) : 0;
		if (ret < 0 && errno == EINTR)
			continue;
		if (ret < 0)
			return -errno;
		if (ret == 0)
			return -ETIMEDOUT;
		ssize_t n = bc_jsonl_read(&c->rd, c->fd);
		if (n < 0 && n != -EAGAIN)
			return (int)n;
	}
}

static const char *str_field(struct json_object *o, const char *key,
                             const char *dflt)
{
	struct json_object *v;

	if (json_object_object_get_ex(o, key, &v) &&
	    json_object_is_type(v, json_type_string))
		return json_object_get_string(v);
	return dflt;
}

/* Decode a reply that is ours.  0 (result), -EREMOTEIO or -EPROTO. */
static int take_reply(struct json_object *rep, struct json_object **result,
                      struct ctl_err *err)
{
	struct json_object *v, *ok, *e;

	if (json_object_object_get_ex(rep, "v", &v) &&
	    json_object_get_int(v) != CTL_PROTOCOL_VERSION) {
		bctl_err_set(err, "protocol",
		             "balloond speaks control protocol %d, balloonctl "
		             "speaks %d",
		             json_object_get_int(v), CTL_PROTOCOL_VERSION);
		return -EPROTO;
	}
	if (!json_object_object_get_ex(rep, "ok", &ok) ||
	    !json_object_is_type(ok, json_type_boolean)) {
		bctl_err_set(err, "protocol",
		             "balloond sent a reply without "
		             "\"ok\"");
		return -EPROTO;
	}
	if (json_object_get_boolean(ok)) {
		if (json_object_object_get_ex(rep, "result", &v) && v)
			*result = json_object_get(v);
		else
			*result = json_object_new_object();
		return *result ? 0 : -ENOMEM;
	}
	if (!json_object_object_get_ex(rep, "error", &e))
		e = NULL;
	const char *code = str_field(e, "code", "internal");
	bctl_err_set(err, code, "%s",
	             str_field(e, "message", "balloond refused the request"));
	return -EREMOTEIO;
}

/* Our reply: same id, or no id at all (connection-level errors). */
static bool is_ours(struct json_object *rep, int64_t id)
{
	struct json_object *v;

	if (!json_object_object_get_ex(rep, "id", &v) || !v)
		return true;
	return json_object_is_type(v, json_type_int) &&
	       json_object_get_int64(v) == id;
}

static int call_error(struct ctl_client *c, int ret, const char *cmd,
                      struct ctl_err *err)
{
	switch (ret) {
	case -ETIMEDOUT:
		bctl_err_set(
		        err, "timeout",
		        "no reply from balloond at %s to '%s' within %d ms",
		        c->path, cmd, c->timeout_ms);
		break;
	case -ECONNRESET:
	case -EPIPE:
		bctl_err_set(err, "closed",
		             "balloond at %s closed the connection during '%s'",
		             c->path, cmd);
		break;
	case -EMSGSIZE:
	case -EBADMSG:
		bctl_err_set(err, "protocol",
		             "balloond at %s sent a malformed reply to '%s'",
		             c->path, cmd);
		break;
	default:
		bctl_err_set(err, "io", "talking to balloond at %s: %s",
		             c->path, strerror(-ret));
	}
	return ret;
}

int bctl_call(struct ctl_client *c, const char *cmd, struct json_object *args,
              struct json_object **result, struct ctl_err *err)
{
	uint64_t deadline = bc_now_ms() + (uint64_t)c->timeout_ms;
	int64_t id = ++c->next_id;
	struct json_object *rep;
	int ret;

	*result = NULL;
	ret = send_request(c, cmd, args, id, deadline);
	/* A daemon that refuses the connection (permission) answers once and
	 * closes: its reply may still be waiting to be read. */
	if (ret && ret != -EPIPE && ret != -ECONNRESET)
		return call_error(c, ret, cmd, err);
	for (;;) {
		ret = read_reply(c, &rep, deadline);
		if (ret < 0)
			return call_error(c, ret, cmd, err);
		if (!json_object_is_type(rep, json_type_object)) {
			json_object_put(rep);
			return call_error(c, -EBADMSG, cmd, err);
		}
		if (is_ours(rep, id))
			break;
		json_object_put(rep); /* a stale reply: skip it */
	}
	ret = take_reply(rep, result, err);
	json_object_put(rep);
	return ret;
}

int bctl_call_once(const char *path, int timeout_ms, const char *cmd,
                   struct json_object *args, struct json_object **result,
                   struct ctl_err *err)
{
	struct ctl_client c;
	int ret = bctl_client_open(&c, path, timeout_ms, err);

	if (ret)
		return ret;
	ret = bctl_call(&c, cmd, args, result, err);
	bctl_client_close(&c);
	return ret;
}
