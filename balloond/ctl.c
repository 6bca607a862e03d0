/* SPDX-License-Identifier: MIT */
/*
 * ctl.c - control socket transport: accept + peer check, per-connection
 * JSON-lines reader and output queue, request envelope (v, id, cmd, args),
 * replies in order, waits.  The verbs are in ctl_cmds.c.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bc_jsonl.h>
#include <bc_util.h>

#include "ctl.h"
#include "daemon.h"

struct ctl_conn {
	struct bd_ctl *ctl;
	struct bd_watch w;
	struct bc_jsonl rd;
	struct bc_buf out;
	struct ctl_call *call; /* the request being answered */
	bool eof, busy, dead;  /* busy: inside process(); dead: free later */
	struct ctl_conn *next;
};

struct ctl_call {
	struct ctl_conn *conn; /* NULL once the client left */
	struct json_object *id;
	/* waits */
	char vm[BD_NAME_MAX + 1];
	uint64_t deadline_ms, failures0;
	struct ctl_call *next_wait;
};

struct bd_ctl {
	struct bd *bd;
	struct bd_watch lw;
	char *path;
	struct bc_file_id id; /* the socket file we created */
	bool has_group;
	gid_t group;
	struct ctl_conn *conns;
	struct ctl_call *waits;
	bool closing; /* shutting down: answer, read nothing more */
};

bool bd_ctl_peer_allowed(uid_t uid, gid_t gid, bool has_group, gid_t group)
{
	struct passwd pw, *res = NULL;
	gid_t groups[256];
	int n = 256;
	char buf[4096];

	if (uid == 0 || uid == getuid())
		return true;
	if (!has_group)
		return false;
	if (gid == group)
		return true;
	if (getpwuid_r(uid, &pw, buf, sizeof(buf), &res) || !res)
		return false;
	if (getgrouplist(pw.pw_name, pw.pw_gid, groups, &n) < 0)
		return false;
	for (int i = 0; i < n; i++)
		if (groups[i] == group)
			return true;
	return false;
}

static void conn_free(struct ctl_conn *c)
{
	struct ctl_conn **pp;

	for (pp = &c->ctl->conns; *pp && *pp != c; pp = &(*pp)->next)
		;
	if (*pp)
		*pp = c->next;
	if (c->call)
		c->call->conn = NULL;
	bc_jsonl_free(&c->rd);
	bc_buf_free(&c->out);
	free(c);
}

static void conn_close(struct ctl_conn *c)
{
	if (c->w.fd >= 0) {
		int fd = c->w.fd;
		bd_loop_del(&c->ctl->bd->loop, &c->w);
		close(fd);
	}
	if (c->busy)
		c->dead = true;
	else
		conn_free(c);
}

static void rearm(struct ctl_conn *c)
{
	/* no reading while a request is answered: backpressure, in order */
	uint32_t ev =
	        (c->eof || c->call ? 0 : EPOLLIN) | (c->out.len ? EPOLLOUT : 0);

	bd_loop_mod(&c->ctl->bd->loop, &c->w, ev);
}

/* Queue a reply and write what the socket takes.  False if the connection
 * was closed (write error or over the output bound). */
static bool conn_send(struct ctl_conn *c, struct json_object *msg)
{
	int ret = bd_obuf_put_json(&c->out, msg);

	if (!ret)
		ret = bc_buf_send(&c->out, c->w.fd);
	if (ret < 0) {
		conn_close(c);
		return false;
	}
	rearm(c);
	return true;
}

static struct json_object *envelope(struct json_object *id, bool ok)
{
	struct json_object *o = json_object_new_object();

	if (!o)
		return NULL;
	json_object_object_add(o, "v", json_object_new_int(CTL_PROTOCOL));
	if (id)
		json_object_object_add(o, "id", json_object_get(id));
	json_object_object_add(o, "ok", json_object_new_boolean(ok));
	return o;
}

static struct json_object *error_msg(struct json_object *id, const char *code,
                                     const char *msg)
{
	struct json_object *o = envelope(id, false), *e;

	if (!o)
		return NULL;
	e = json_object_new_object();
	json_object_object_add(e, "code", json_object_new_string(code));
	json_object_object_add(e, "message", json_object_new_string(msg));
	json_object_object_add(o, "error", e);
	return o;
}

static void process(struct ctl_conn *c);

/* Send @msg (consumed) for @call, free the call, resume its connection. */
static void finish(struct ctl_call *call, struct json_object *msg)
{
	struct ctl_conn *c = call->conn;

	json_object_put(call->id);
	free(call);
	if (!c) {
		json_object_put(msg);
		return;
	}
	c->call = NULL;
	if (!msg) {
		conn_close(c);
		return;
	}
	bool alive = conn_send(c, msg);
	json_object_put(msg);
	if (alive && !c->busy && !c->ctl->closing)
		process(c);
}

void bd_ctl_ok(struct ctl_call *call, struct json_object *result)
{
	struct json_object *o = envelope(call->id, true);

	if (o)
		json_object_object_add(o, "result",
		                       result ? result
		                              : json_object_new_object());
	else
		json_object_put(result);
	finish(call, o);
}

void bd_ctl_fail(struct ctl_call *call, const char *code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	bc_debug("control: %s: %s", code, msg);
	finish(call, error_msg(call->id, code, msg));
}

void bd_ctl_wait_vm(struct ctl_call *call, struct bd *bd, const char *vm,
                    uint64_t deadline_ms)
{
	snprintf(call->vm, sizeof(call->vm), "%s", vm);
	call->deadline_ms = deadline_ms;
	call->failures0 = 0; /* a new VM: its first failed attempt counts */
	call->next_wait = bd->ctl->waits;
	bd->ctl->waits = call;
}

void bd_ctl_poll(struct bd *bd, uint64_t now_ms)
{
	struct ctl_call **pp = &bd->ctl->waits;

	while (*pp) {
		struct ctl_call *call = *pp;
		struct vm *vm = bd_vm_find(bd, call->vm);
		if (vm && !vm->ready && vm->failures == call->failures0 &&
		    now_ms < call->deadline_ms) {
			pp = &call->next_wait;
			continue;
		}
		*pp = call->next_wait;
		if (vm)
			bd_ctl_ok(call, bd_vm_to_json(vm));
		else
			bd_ctl_fail(call, "unknown-vm", "vm %s was removed",
			            call->vm);
		pp = &bd->ctl->waits; /* replies may have resumed others */
	}
}

uint64_t bd_ctl_deadline(const struct bd *bd)
{
	uint64_t due = 0;

	if (!bd->ctl)
		return 0;
	for (struct ctl_call *c = bd->ctl->waits; c; c = c->next_wait)
		if (!due || c->deadline_ms < due)
			due = c->deadline_ms;
	return due;
}

static void request(struct ctl_conn *c, struct json_object *req)
{
	struct ctl_call *call = calloc(1, sizeof(*call));
	struct json_object *v, *args = NULL;

	if (!call) {
		conn_close(c);
		return;
	}
	call->conn = c;
	c->call = call;
	if (!json_object_is_type(req, json_type_object)) {
		bd_ctl_fail(call, "bad-request", "a request is a JSON object");
		return;
	}
	if (json_object_object_get_ex(req, "id", &v))
		call->id = json_object_get(v);
	if (json_object_object_get_ex(req, "v", &v) &&
	    (!json_object_is_type(v, json_type_int) ||
	     json_object_get_int64(v) != CTL_PROTOCOL)) {
		bd_ctl_fail(call, "version",
		            "protocol version %s not supported "
		            "(this daemon speaks %d)",
		            json_object_to_json_string(v), CTL_PROTOCOL);
		return;
	}
	if (!json_object_object_get_ex(req, "cmd", &v) ||
	    !json_object_is_type(v, json_type_string)) {
		bd_ctl_fail(call, "bad-request", "missing \"cmd\" string");
		return;
	}
	if (json_object_object_get_ex(req, "args", &args) && args &&
	    !json_object_is_type(args, json_type_object)) {
		bd_ctl_fail(call, "bad-request", "\"args\" must be an object");
		return;
	}
	bd_ctl_dispatch(c->ctl->bd, json_object_get_string(v), args, call);
}

/* Handle buffered requests, one at a time, until one is left waiting. */
static void process(struct ctl_conn *c)
{
	c->busy = true;
	while (!c->call && !c->dead) {
		struct json_object *req = NULL;
		int ret = bc_jsonl_next(&c->rd, &req);
		if (ret == 0)
			break;
		if (ret < 0) {
			struct ctl_call *call = calloc(1, sizeof(*call));
			if (!call) {
				c->dead = true;
				break;
			}
			call->conn = c;
			c->call = call;
			bd_ctl_fail(call, "bad-request",
			            ret == -EMSGSIZE
			                    ? "request line longer than 64 KiB"
			                    : "request is not valid JSON");
			continue;
		}
		request(c, req);
		json_object_put(req);
	}
	c->busy = false;
	if (c->dead) {
		conn_free(c);
		return;
	}
	if (c->eof && !c->call && !c->out.len)
		conn_close(c);
	else
		rearm(c);
}

static void on_conn(struct bd_watch *w, uint32_t events)
{
	struct ctl_conn *c = bd_container_of(w, struct ctl_conn, w);

	if (events & (EPOLLHUP | EPOLLERR)) {
		conn_close(c); /* the peer can no longer read replies */
		return;
	}
	if (events & EPOLLOUT) {
		if (bc_buf_send(&c->out, c->w.fd) < 0) {
			conn_close(c);
			return;
		}
	}
	while ((events & EPOLLIN) && !c->eof &&
	       c->rd.in.len <= 2 * CTL_MAX_LINE) {
		ssize_t n = bc_jsonl_read(&c->rd, c->w.fd);
		if (n == -EAGAIN)
			break;
		if (n <= 0)
			c->eof = true; /* half-closed: answer what came */
	}
	if (!c->call)
		process(c); /* may free c */
	else
		rearm(c);
}

/* Refuse a client: uid @uid, or @uid NULL if its credentials are unknown. */
static void refuse(int fd, const uid_t *uid)
{
	int why = errno; /* of getsockopt, when @uid is NULL */
	struct json_object *o;
	char msg[128];

	if (uid) {
		snprintf(msg, sizeof(msg),
		         "uid %u may not use balloond (root, the daemon's uid "
		         "or socket_group only)",
		         (unsigned)*uid);
		bc_warn("control: refused a client with uid %u",
		        (unsigned)*uid);
	} else {
		snprintf(msg, sizeof(msg),
		         "balloond could not read the client's credentials "
		         "(SO_PEERCRED)");
		bc_warn("control: refused a client: SO_PEERCRED: %s",
		        strerror(why));
	}
	o = error_msg(NULL, "permission", msg);
	if (o)
		bc_jsonl_send(fd, o); /* one short line into an empty socket */
	json_object_put(o);
	close(fd);
}

static void on_accept(struct bd_watch *w, uint32_t events)
{
	struct bd_ctl *ctl = bd_container_of(w, struct bd_ctl, lw);
	struct ucred cr;
	socklen_t len = sizeof(cr);

	(void)events;
	for (;;) {
		int fd = accept4(ctl->lw.fd, NULL, NULL,
		                 SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		len = sizeof(cr);
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0) {
			refuse(fd, NULL);
			continue;
		}
		if (!bd_ctl_peer_allowed(cr.uid, cr.gid, ctl->has_group,
		                         ctl->group)) {
			refuse(fd, &cr.uid);
			continue;
		}
		struct ctl_conn *c = calloc(1, sizeof(*c));
		if (!c || bc_jsonl_init(&c->rd, CTL_MAX_LINE)) {
			free(c);
			close(fd);
			continue;
		}
		c->ctl = ctl;
		if (bd_loop_add(&ctl->bd->loop, &c->w, fd, EPOLLIN, on_conn)) {
			bc_jsonl_free(&c->rd);
			free(c);
			close(fd);
			continue;
		}
		c->next = ctl->conns;
		ctl->conns = c;
	}
}

/* Remember the file we bound; with a group, chown then chmod @mode. */
static int own_socket(struct bd_ctl *ctl, unsigned mode)
{
	int ret = bc_file_id_get(ctl->path, &ctl->id);

	if (ret || !ctl->has_group)
		return ret;
	if (chown(ctl->path, (uid_t)-1, ctl->group) < 0 ||
	    chmod(ctl->path, mode) < 0)
		return -errno;
	return 0;
}

static int socket_group(const char *name, gid_t *gid)
{
	struct group gr, *res = NULL;
	char buf[4096];

	if (getgrnam_r(name, &gr, buf, sizeof(buf), &res) || !res)
		return -ENOENT;
	*gid = gr.gr_gid;
	return 0;
}

int bd_ctl_init(struct bd *bd, char *err, size_t errlen)
{
	const struct bd_conf *conf = bd->conf;
	struct bd_ctl *ctl = calloc(1, sizeof(*ctl));
	unsigned mode = 0600;
	int fd, ret;

	if (!ctl)
		return -ENOMEM;
	ctl->bd = bd;
	ctl->lw.fd = -1;
	if (conf->socket_group) {
		ret = socket_group(conf->socket_group, &ctl->group);
		if (ret) {
			snprintf(err, errlen, "socket_group: no group '%s'",
			         conf->socket_group);
			goto err_free;
		}
		ctl->has_group = true;
		mode = 0660;
	}
	ctl->path = strdup(conf->socket_path);
	if (!ctl->path) {
		ret = -ENOMEM;
		goto err_free;
	}
	bd_mkdir_parent(ctl->path, 0755);
	/* 0600 first; the group gets in only once the file is its own */
	fd = bc_unix_listen(ctl->path, 0600);
	if (fd < 0) {
		ret = fd;
		if (ret == -EADDRINUSE)
			snprintf(err, errlen,
			         "another balloond is running on %s",
			         ctl->path);
		else if (ret == -EEXIST)
			snprintf(
			        err, errlen,
			        "control socket %s: exists and is not a socket "
			        "(left alone)",
			        ctl->path);
		else
			snprintf(err, errlen, "control socket %s: %s",
			         ctl->path, strerror(-ret));
		goto err_path;
	}
	ret = own_socket(ctl, mode);
	if (ret) {
		snprintf(err, errlen, "control socket %s: %s", ctl->path,
		         strerror(-ret));
		goto err_close;
	}
	ret = bd_loop_add(&bd->loop, &ctl->lw, fd, EPOLLIN, on_accept);
	if (ret)
		goto err_close;
	bd->ctl = ctl;
	bc_info("control socket %s (mode %04o)", ctl->path, mode);
	return 0;
err_close:
	close(fd);
	bc_unlink_own(ctl->path, &ctl->id);
err_path:
	free(ctl->path);
err_free:
	free(ctl);
	return ret;
}

void bd_ctl_fini(struct bd *bd)
{
	struct bd_ctl *ctl = bd->ctl;

	if (!ctl)
		return;
	ctl->closing = true;
	while (ctl->waits) {
		struct ctl_call *call = ctl->waits;
		ctl->waits = call->next_wait;
		bd_ctl_fail(call, "internal", "balloond is shutting down");
	}
	while (ctl->conns)
		conn_close(ctl->conns);
	if (ctl->lw.fd >= 0) {
		int fd = ctl->lw.fd;
		bd_loop_del(&bd->loop, &ctl->lw);
		close(fd);
		bc_unlink_own(ctl->path, &ctl->id);
	}
	free(ctl->path);
	free(ctl);
	bd->ctl = NULL;
}
