/* SPDX-License-Identifier: MIT */
/* fake_daemon.c - TEST CODE ONLY: see fake_daemon.h. */
#include "fake_daemon.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bc_jsonl.h"
#include "bc_util.h"

#define MiB (1024ull * 1024ull)
#define GiB (1024ull * MiB)

static struct json_object *vm_json(const struct fake_vm *v)
{
	struct json_object *o = json_object_new_object();
	struct json_object *st = json_object_new_object();

	json_object_object_add(o, "name", json_object_new_string(v->name));
	json_object_object_add(o, "qmp", json_object_new_string(v->qmp));
	json_object_object_add(o, "state", json_object_new_string(v->state));
	json_object_object_add(o, "max", json_object_new_uint64(v->max));
	json_object_object_add(o, "min", json_object_new_uint64(v->min));
	json_object_object_add(o, "shares", json_object_new_int64(v->shares));
	json_object_object_add(o, "target", json_object_new_uint64(v->target));
	json_object_object_add(o, "actual", json_object_new_uint64(v->actual));
	json_object_object_add(o, "pinned", json_object_new_boolean(v->pinned));
	json_object_object_add(
	        o, "reason",
	        json_object_new_string(v->pinned ? "pinned" : "none"));
	json_object_object_add(st, "stat-available-memory",
	                       json_object_new_uint64(v->actual / 2));
	json_object_object_add(o, "stats", st);
	json_object_object_add(o, "stats-updated",
	                       json_object_new_double(bc_wall_s()));
	json_object_object_add(o, "errors", json_object_new_int(0));
	return o;
}

static struct json_object *error(const char *code, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

static struct json_object *error(const char *code, const char *fmt, ...)
{
	struct json_object *e = json_object_new_object();
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_object_object_add(e, "code", json_object_new_string(code));
	json_object_object_add(e, "message", json_object_new_string(msg));
	return e;
}

static struct fake_vm *find_vm(struct fake_daemon *f, struct json_object *a)
{
	struct json_object *v;

	if (!json_object_object_get_ex(a, "vm", &v))
		return NULL;
	for (unsigned i = 0; i < f->nvms; i++)
		if (!strcmp(f->vms[i].name, json_object_get_string(v)))
			return &f->vms[i];
	return NULL;
}

static uint64_t arg_u64(struct json_object *a, const char *key, uint64_t d)
{
	struct json_object *v;

	return json_object_object_get_ex(a, key, &v) ? json_object_get_uint64(v)
	                                             : d;
}

/* info: one poll moves actual one step toward target (or loses the VM). */
static void poll_vm(struct fake_daemon *f, struct fake_vm *v)
{
	f->infos++;
	if (f->lose_after && f->infos >= f->lose_after) {
		snprintf(v->state, sizeof(v->state), "lost");
		return;
	}
	uint64_t goal = v->target > f->floor ? v->target : f->floor;

	if (v->actual > goal)
		v->actual -=
		        v->actual - goal < f->step ? v->actual - goal : f->step;
	else if (v->actual < v->target)
		v->actual += v->target - v->actual < f->step
		                     ? v->target - v->actual
		                     : f->step;
}

static struct json_object *do_add(struct fake_daemon *f, struct json_object *a,
                                  const char *name, struct json_object **err)
{
	struct fake_vm *v;

	if (find_vm(f, a)) {
		*err = error("exists", "vm %s is already managed", name);
		return NULL;
	}
	v = &f->vms[f->nvms++];
	memset(v, 0, sizeof(*v));
	snprintf(v->name, sizeof(v->name), "%s", name);
	snprintf(v->qmp, sizeof(v->qmp), "%s",
	         json_object_get_string(json_object_object_get(a, "qmp")));
	snprintf(v->state, sizeof(v->state), "connecting");
	v->min = arg_u64(a, "min", 0);
	v->max = arg_u64(a, "max", GiB);
	v->shares = (uint32_t)arg_u64(a, "shares", 1000);
	v->target = v->actual = v->max;
	return vm_json(v);
}

static struct json_object *do_set(struct fake_vm *v, uint64_t t,
                                  struct json_object **err)
{
	char a[32], b[32];

	if (t < v->min) {
		*err = error("below-min", "target %s is below min %s of vm %s",
		             bc_format_size(t, a, 32),
		             bc_format_size(v->min, b, 32), v->name);
		return NULL;
	}
	if (t > v->max) {
		*err = error("above-max", "target %s is above max %s of vm %s",
		             bc_format_size(t, a, 32),
		             bc_format_size(v->max, b, 32), v->name);
		return NULL;
	}
	v->target = t;
	v->pinned = true;
	return vm_json(v);
}

static struct json_object *host_json(void)
{
	return json_tokener_parse(
	        "{\"total\": 25769803776, \"free\": 12884901888, "
	        "\"available\": 19327352832, \"psi-some-avg10\": 1.25, "
	        "\"psi-full-avg10\": 0.0, \"state\": \"high\"}");
}

static struct json_object *stats_json(const struct fake_vm *v)
{
	struct json_object *o = json_tokener_parse(
	        "{\"stats\": {\"stat-swap-in\": 0, \"stat-swap-out\": 4096, "
	        "\"stat-major-faults\": 12, \"stat-minor-faults\": 3456, "
	        "\"stat-free-memory\": 268435456, "
	        "\"stat-total-memory\": 1073741824, "
	        "\"stat-available-memory\": 536870912, "
	        "\"stat-disk-caches\": 104857600, \"stat-htlb-pgalloc\": -1, "
	        "\"stat-htlb-pgfail\": -1}, \"last-update\": 1795420800.5}");

	json_object_object_add(o, "vm", json_object_new_string(v->name));
	return o;
}

static struct json_object *policy_json(void)
{
	return json_tokener_parse("{\"enabled\": true, \"kind\": \"idletax\", "
	                          "\"tax_rate\": 0.75, "
	                          "\"margin\": 67108864, \"tick_ms\": 1000}");
}

/* Verbs that need a VM. */
static struct json_object *vm_verb(struct fake_daemon *f, const char *cmd,
                                   struct json_object *a, struct fake_vm *v,
                                   struct json_object **err)
{
	if (!strcmp(cmd, "info")) {
		poll_vm(f, v);
		if (f->lose_as_error && !strcmp(v->state, "lost")) {
			*err = error("unreachable", "vm %s is not connected",
			             v->name);
			return NULL;
		}
		return vm_json(v);
	}
	if (!strcmp(cmd, "set"))
		return do_set(v, arg_u64(a, "target", 0), err);
	if (!strcmp(cmd, "min") || !strcmp(cmd, "max")) {
		uint64_t x = arg_u64(a, cmd, 0);
		if (cmd[1] == 'i' ? x > v->max : x < v->min) {
			*err = error("min-above-max", "min would exceed max");
			return NULL;
		}
		*(cmd[1] == 'i' ? &v->min : &v->max) = x;
		return vm_json(v);
	}
	if (!strcmp(cmd, "shares")) {
		v->shares = (uint32_t)arg_u64(a, "shares", 0);
		return vm_json(v);
	}
	if (!strcmp(cmd, "stats"))
		return stats_json(v);
	if (!strcmp(cmd, "policy-release")) {
		v->pinned = false;
		return vm_json(v);
	}
	if (!strcmp(cmd, "remove")) {
		*v = f->vms[--f->nvms];
		return json_object_new_object();
	}
	*err = error("unknown-cmd", "unknown command %s", cmd);
	return NULL;
}

static struct json_object *dispatch(struct fake_daemon *f, const char *cmd,
                                    struct json_object *a,
                                    struct json_object **err)
{
	struct json_object *name;
	struct fake_vm *v;

	if (!strcmp(cmd, "version"))
		return json_tokener_parse("{\"version\": \"0.1.0\", "
		                          "\"protocol\": 1}");
	if (!strcmp(cmd, "host"))
		return host_json();
	if (!strcmp(cmd, "policy-get"))
		return policy_json();
	if (!strcmp(cmd, "policy-set")) {
		struct json_object *p = policy_json();
		json_object_object_foreach(a, k, val)
		        json_object_object_add(p, k, json_object_get(val));
		return p;
	}
	if (!strcmp(cmd, "list")) {
		struct json_object *r = json_object_new_object();
		struct json_object *arr = json_object_new_array();
		for (unsigned i = 0; i < f->nvms; i++)
			json_object_array_add(arr, vm_json(&f->vms[i]));
		json_object_object_add(r, "vms", arr);
		return r;
	}
	if (!json_object_object_get_ex(a, "vm", &name)) {
		*err = error("bad-request", "missing argument vm");
		return NULL;
	}
	if (!strcmp(cmd, "add"))
		return do_add(f, a, json_object_get_string(name), err);
	v = find_vm(f, a);
	if (!v) {
		*err = error("unknown-vm", "no vm named %s",
		             json_object_get_string(name));
		return NULL;
	}
	return vm_verb(f, cmd, a, v, err);
}

static void reply(int fd, int64_t id, int v, struct json_object *result,
                  struct json_object *err)
{
	struct json_object *r = json_object_new_object();

	json_object_object_add(r, "v", json_object_new_int(v));
	if (id >= 0)
		json_object_object_add(r, "id", json_object_new_int64(id));
	json_object_object_add(r, "ok", json_object_new_boolean(!err));
	if (err)
		json_object_object_add(r, "error", err);
	else
		json_object_object_add(r, "result", result);
	bc_jsonl_send(fd, r);
	json_object_put(r);
}

/* One request.  Returns false to drop the connection. */
static bool serve_one(struct fake_daemon *f, int fd, struct json_object *req)
{
	struct json_object *id = json_object_object_get(req, "id");
	struct json_object *a = json_object_object_get(req, "args");
	const char *cmd =
	        json_object_get_string(json_object_object_get(req, "cmd"));
	struct json_object *res, *err = NULL;
	int64_t nid = id ? json_object_get_int64(id) : -1;

	pthread_mutex_lock(&f->lock);
	f->requests++;
	snprintf(f->last_cmd, sizeof(f->last_cmd), "%s", cmd ? cmd : "");
	json_object_put(f->last_args);
	f->last_args = json_object_get(a);
	if (f->hang_up || f->silent) {
		pthread_mutex_unlock(&f->lock);
		return !f->hang_up;
	}
	res = dispatch(f, cmd ? cmd : "", a, &err);
	pthread_mutex_unlock(&f->lock);
	if (f->stale_reply)
		reply(fd, nid + 1000, 1, json_object_new_object(), NULL);
	reply(fd, nid, f->bad_version ? 2 : 1, res, err);
	return true;
}

static void serve_conn(struct fake_daemon *f, int fd)
{
	struct bc_jsonl rd;
	struct json_object *req;
	bool alive = true;

	if (f->permission) {
		reply(fd, -1, 1, NULL,
		      error("permission", "permission denied: uid 1000 is "
		                          "not allowed"));
		return;
	}
	if (bc_jsonl_init(&rd, 64 * 1024))
		return;
	while (alive) {
		struct pollfd p[2] = {{.fd = fd, .events = POLLIN},
		                      {.fd = f->stop[0], .events = POLLIN}};
		if (poll(p, 2, -1) < 0 || p[1].revents)
			break;
		if (bc_jsonl_read(&rd, fd) == 0)
			break;
		while (alive && bc_jsonl_next(&rd, &req) == 1) {
			alive = serve_one(f, fd, req);
			json_object_put(req);
		}
	}
	bc_jsonl_free(&rd);
}

static void *serve(void *arg)
{
	struct fake_daemon *f = arg;

	for (;;) {
		struct pollfd p[2] = {{.fd = f->lfd, .events = POLLIN},
		                      {.fd = f->stop[0], .events = POLLIN}};
		if (poll(p, 2, -1) < 0 || p[1].revents)
			return NULL;
		int fd = accept4(f->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		f->connections++;
		serve_conn(f, fd);
		close(fd);
	}
}

int fake_start(struct fake_daemon *f)
{
	struct fake_vm *web = &f->vms[0];
	int ret;

	memset(f, 0, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/ctl-fake.XXXXXX");
	if (!mkdtemp(f->dir))
		return -errno;
	snprintf(f->path, sizeof(f->path), "%s/balloond.sock", f->dir);
	f->lfd = bc_unix_listen(f->path, 0600);
	if (f->lfd < 0) {
		ret = f->lfd;
		goto err_dir;
	}
	if (pipe(f->stop) < 0) {
		ret = -errno;
		goto err_listen;
	}
	f->nvms = 1;
	snprintf(web->name, sizeof(web->name), "web");
	snprintf(web->qmp, sizeof(web->qmp), "/run/vm/web.qmp");
	snprintf(web->state, sizeof(web->state), "connected");
	web->max = web->target = web->actual = GiB;
	web->min = 256 * MiB;
	web->shares = 1000;
	f->step = 128 * MiB;
	pthread_mutex_init(&f->lock, NULL);
	ret = -pthread_create(&f->thr, NULL, serve, f);
	if (ret)
		goto err_pipe;
	return 0;
err_pipe:
	pthread_mutex_destroy(&f->lock);
	close(f->stop[0]);
	close(f->stop[1]);
err_listen:
	close(f->lfd);
	unlink(f->path);
err_dir:
	rmdir(f->dir);
	return ret;
}

void fake_stop(struct fake_daemon *f)
{
	if (write(f->stop[1], "x", 1) != 1)
		abort();
	pthread_join(f->thr, NULL);
	pthread_mutex_destroy(&f->lock);
	close(f->stop[0]);
	close(f->stop[1]);
	close(f->lfd);
	unlink(f->path);
	rmdir(f->dir);
	json_object_put(f->last_args);
	f->last_args = NULL;
}

const char *fake_arg_str(struct fake_daemon *f, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(f->last_args, key, &v))
		return NULL;
	return json_object_get_string(v);
}

int64_t fake_arg_int(struct fake_daemon *f, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(f->last_args, key, &v) ||
	    !json_object_is_type(v, json_type_int))
		return -1;
	return json_object_get_int64(v);
}
