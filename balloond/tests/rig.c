/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bc_jsonl.h>
#include <bc_util.h>

#include "rig.h"

static void die(const char *what)
{
	fprintf(stderr, "rig: %s: %s\n", what, strerror(errno));
	abort();
}

const char *rig_path(struct rig *r, const char *name)
{
	snprintf(r->path, sizeof(r->path), "%s/%s", r->dir, name);
	return r->path;
}

void rig_write(struct rig *r, const char *name, const char *text)
{
	FILE *f = fopen(rig_path(r, name), "w");

	if (!f || fputs(text, f) < 0 || fclose(f))
		die(name);
}

void rig_setup(struct rig *r, uint32_t tick_ms)
{
	memset(r, 0, sizeof(*r));
	r->cfd = -1;
	snprintf(r->dir, sizeof(r->dir), "/tmp/bdtest.XXXXXX");
	if (!mkdtemp(r->dir))
		die("mkdtemp");
	if (mkdir(rig_path(r, "proc"), 0755) ||
	    mkdir(rig_path(r, "proc/pressure"), 0755))
		die("mkdir");
	rig_write(r, "proc/meminfo",
	          "MemTotal:       16777216 kB\nMemFree:        8388608 kB\n"
	          "MemAvailable:   12582912 kB\nBuffers:          1024 kB\n");
	rig_write(r, "proc/pressure/memory",
	          "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"
	          "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n");
	if (bd_conf_init(&r->conf))
		die("conf");
	bd_conf_set_str(&r->conf.socket_path, rig_path(r, "ctl.sock"));
	bd_conf_set_str(&r->conf.state_path, rig_path(r, "state.json"));
	bd_conf_set_str(&r->conf.proc_root, rig_path(r, "proc"));
	r->conf.policy_enabled = false;
	r->conf.policy.tick_ms = tick_ms;
	bc_log_init("test", getenv("BD_TEST_DEBUG") ? BC_LOG_DEBUG : BC_LOG_ERR,
	            false);
}

void rig_start(struct rig *r)
{
	char err[512];

	if (bd_init(&r->bd, &r->conf, false, err, sizeof(err))) {
		fprintf(stderr, "rig: bd_init: %s\n", err);
		abort();
	}
	r->up = true;
	r->cfd = bc_unix_connect(r->conf.socket_path);
	if (r->cfd < 0)
		die("connect");
	bc_set_nonblock(r->cfd);
}

void rig_stop(struct rig *r)
{
	if (r->cfd >= 0)
		close(r->cfd);
	r->cfd = -1;
	if (r->up)
		bd_fini(&r->bd);
	r->up = false;
}

void rig_teardown(struct rig *r)
{
	char cmd[128];

	rig_stop(r);
	bd_conf_free(&r->conf);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", r->dir);
	if (system(cmd))
		fprintf(stderr, "rig: could not remove %s\n", r->dir);
}

void rig_pump(struct rig *r, int ms)
{
	uint64_t end = bc_now_ms() + (uint64_t)ms;

	while (bc_now_ms() < end)
		bd_run_once(&r->bd, (int)(end - bc_now_ms()));
}

bool rig_until(struct rig *r, bool (*cond)(void *), void *arg, int ms)
{
	uint64_t end = bc_now_ms() + (uint64_t)ms;

	while (!cond(arg) && bc_now_ms() < end)
		bd_run_once(&r->bd, 10);
	return cond(arg);
}

struct json_object *rig_rpc(struct rig *r, const char *line)
{
	struct bc_jsonl rd;
	struct json_object *reply = NULL;
	uint64_t end = bc_now_ms() + 5000;

	if (bc_write_all(r->cfd, line, strlen(line)) ||
	    bc_write_all(r->cfd, "\n", 1))
		return NULL;
	bc_jsonl_init(&rd, 1 << 20);
	while (bc_now_ms() < end) {
		bd_run_once(&r->bd, 5);
		/* read one byte at a time: never consume a later reply */
		char ch;
		while (read(r->cfd, &ch, 1) == 1) {
			bc_jsonl_feed(&rd, &ch, 1);
			if (ch == '\n')
				break;
		}
		if (bc_jsonl_next(&rd, &reply) == 1)
			break;
	}
	bc_jsonl_free(&rd);
	return reply;
}

struct json_object *rig_rpcf(struct rig *r, const char *fmt, ...)
{
	char line[8192];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	return rig_rpc(r, line);
}

const char *rig_code(struct json_object *reply)
{
	struct json_object *e, *c, *ok;

	if (!reply)
		return "(no reply)";
	if (json_object_object_get_ex(reply, "ok", &ok) &&
	    json_object_get_boolean(ok))
		return "";
	if (json_object_object_get_ex(reply, "error", &e) &&
	    json_object_object_get_ex(e, "code", &c))
		return json_object_get_string(c);
	return "(malformed)";
}

struct json_object *rig_result(struct json_object *reply, const char *key)
{
	struct json_object *res, *v;

	if (!reply || !json_object_object_get_ex(reply, "result", &res))
		return NULL;
	if (!key)
		return res;
	return json_object_object_get_ex(res, key, &v) ? v : NULL;
}

uint64_t rig_u64(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v))
		return UINT64_MAX;
	return json_object_get_uint64(v);
}

char *rig_state_text(struct rig *r)
{
	struct json_object *o = bd_state_to_json(&r->bd);
	char *s = strdup(json_object_to_json_string(o));

	json_object_put(o);
	return s;
}

bool rig_vm_ready(void *vm)
{
	return ((struct vm *)vm)->ready;
}
