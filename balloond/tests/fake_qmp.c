/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <json-c/json.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "fake_qmp.h"

static void say(int fd, const char *s)
{
	size_t n = strlen(s);
	ssize_t w;

	while (n && (w = send(fd, s, n, MSG_NOSIGNAL)) > 0) {
		s += w;
		n -= (size_t)w;
	}
}

static void reply(int fd, struct json_object *id, const char *ret)
{
	char buf[1024];

	snprintf(buf, sizeof(buf), "{\"return\": %s, \"id\": %s}\n", ret,
	         id ? json_object_to_json_string(id) : "null");
	say(fd, buf);
}

static void error(int fd, struct json_object *id, const char *cls,
                  const char *desc)
{
	char buf[512];

	snprintf(buf, sizeof(buf),
	         "{\"error\": {\"class\": \"%s\", \"desc\": \"%s\"}, "
	         "\"id\": %s}\n",
	         cls, desc, id ? json_object_to_json_string(id) : "null");
	say(fd, buf);
}

static void log_cmd(struct fake_qmp *f, const char *cmd, uint64_t arg)
{
	if (f->ncmds >= FAKE_LOG_MAX)
		return;
	if (!strcmp(cmd, "balloon"))
		snprintf(f->cmds[f->ncmds++], 64, "%s %llu", cmd,
		         (unsigned long long)arg);
	else
		snprintf(f->cmds[f->ncmds++], 64, "%s", cmd);
}

static void alert_cmd(struct fake_qmp *f, int fd, struct json_object *id,
                      struct json_object *args)
{
	struct json_object *p = NULL, *d = NULL;

	if (!f->alerts) {
		error(fd, id, "CommandNotFound",
		      "The command x-bvm-stats-alert has not been found");
		return;
	}
	json_object_object_get_ex(args, "period-ms", &p);
	json_object_object_get_ex(args, "drop", &d);
	if (f->ncmds > 0)
		snprintf(f->cmds[f->ncmds - 1], 64,
		         "x-bvm-stats-alert %lld %lld",
		         (long long)json_object_get_int64(p),
		         (long long)json_object_get_int64(d));
	reply(fd, id, "{}");
}

static void command(struct fake_qmp *f, int fd, struct json_object *req)
{
	struct json_object *ex, *id = NULL, *args = NULL, *v;
	char buf[1024];
	uint64_t value = 0;
	const char *cmd;

	json_object_object_get_ex(req, "id", &id);
	json_object_object_get_ex(req, "arguments", &args);
	if (!json_object_object_get_ex(req, "execute", &ex)) {
		error(fd, id, "GenericError", "no execute");
		return;
	}
	cmd = json_object_get_string(ex);
	if (args && json_object_object_get_ex(args, "value", &v))
		value = (uint64_t)json_object_get_int64(v);
	pthread_mutex_lock(&f->lock);
	log_cmd(f, cmd, value);
	if (!strcmp(cmd, "qmp_capabilities") || !strcmp(cmd, "qom-set")) {
		reply(fd, id, "{}");
	} else if (!strcmp(cmd, "query-balloon")) {
		if (f->mute_query) {
			pthread_mutex_unlock(&f->lock);
			return; /* a poll that never comes back */
		}
		snprintf(buf, sizeof(buf), "{\"actual\": %llu}",
		         (unsigned long long)f->actual);
		reply(fd, id, buf);
	} else if (!strcmp(cmd, "query-status")) {
		reply(fd, id, "{\"status\": \"running\", \"running\": true}");
	} else if (!strcmp(cmd, "query-memory-size-summary")) {
		if (!f->boot) {
			error(fd, id, "CommandNotFound",
			      "The command query-memory-size-summary has not "
			      "been found");
		} else {
			snprintf(buf, sizeof(buf), "{\"base-memory\": %llu}",
			         (unsigned long long)f->boot);
			reply(fd, id, buf);
		}
	} else if (!strcmp(cmd, "balloon")) {
		if (f->balloon_error) {
			error(fd, id, "GenericError", f->balloon_error);
		} else {
			reply(fd, id, "{}");
			if (f->follow) {
				f->actual = value;
				snprintf(buf, sizeof(buf),
				         "{\"event\": \"BALLOON_CHANGE\", "
				         "\"data\": {\"actual\": %llu}}\n",
				         (unsigned long long)value);
				say(fd, buf);
			}
		}
	} else if (!strcmp(cmd, "x-bvm-stats-alert")) {
		alert_cmd(f, fd, id, args);
	} else if (!strcmp(cmd, "qom-get")) {
		if (f->last_update <= 0) {
			error(fd, id, "GenericError",
			      "guest hasn't updated any stats yet");
		} else {
			snprintf(buf, sizeof(buf),
			         "{\"stats\": %s, \"last-update\": %.0f}",
			         f->stats[0] ? f->stats : "{}", f->last_update);
			reply(fd, id, buf);
		}
	} else {
		error(fd, id, "CommandNotFound", "no such command");
	}
	pthread_mutex_unlock(&f->lock);
}

/* One connection until EOF, stop or drop_now. */
static void session(struct fake_qmp *f, int fd)
{
	struct json_tokener *tok = json_tokener_new();
	char buf[4096], line[8192];
	size_t len = 0;

	say(fd, "{\"QMP\": {\"version\": {\"qemu\": {\"major\": 8}}, "
	        "\"capabilities\": []}}\n");
	while (!f->stop && !f->drop_now) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		pthread_mutex_lock(&f->lock);
		if (f->event[0]) {
			say(fd, f->event);
			say(fd, "\n");
			f->event[0] = '\0';
		}
		pthread_mutex_unlock(&f->lock);
		if (poll(&p, 1, 20) <= 0)
			continue;
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n <= 0)
			break;
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] != '\n') {
				if (len < sizeof(line) - 1)
					line[len++] = buf[i];
				continue;
			}
			line[len] = '\0';
			json_tokener_reset(tok);
			struct json_object *req =
			        json_tokener_parse_ex(tok, line, (int)len);
			if (req)
				command(f, fd, req);
			json_object_put(req);
			len = 0;
		}
	}
	f->drop_now = 0;
	json_tokener_free(tok);
	close(fd);
}

void fake_qmp_serve(struct fake_qmp *f)
{
	while (!f->stop) {
		struct pollfd p = {.fd = f->lfd, .events = POLLIN};
		if (poll(&p, 1, 20) <= 0)
			continue;
		int fd = accept(f->lfd, NULL, NULL);
		if (fd < 0)
			continue;
		pthread_mutex_lock(&f->lock);
		f->connections++;
		pthread_mutex_unlock(&f->lock);
		session(f, fd);
	}
}

static void *thread_main(void *arg)
{
	fake_qmp_serve(arg);
	return NULL;
}

static int listen_on(struct fake_qmp *f, const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	snprintf(f->path, sizeof(f->path), "%s", path);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	f->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (f->lfd < 0)
		return -errno;
	unlink(path);
	if (bind(f->lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(f->lfd, 8) < 0)
		return -errno;
	return 0;
}

int fake_qmp_init(struct fake_qmp *f, const char *path, uint64_t actual)
{
	memset(f, 0, sizeof(*f));
	pthread_mutex_init(&f->lock, NULL);
	f->actual = actual;
	f->follow = true;
	return listen_on(f, path);
}

int fake_qmp_start(struct fake_qmp *f, const char *path, uint64_t actual)
{
	int ret = fake_qmp_init(f, path, actual);

	if (ret)
		return ret;
	return -pthread_create(&f->thread, NULL, thread_main, f);
}

void fake_qmp_stop(struct fake_qmp *f)
{
	f->stop = true;
	pthread_join(f->thread, NULL);
	close(f->lfd);
	unlink(f->path);
	pthread_mutex_destroy(&f->lock);
}

int fake_qmp_count(struct fake_qmp *f, const char *prefix)
{
	int n = 0;

	pthread_mutex_lock(&f->lock);
	for (int i = 0; i < f->ncmds; i++)
		n += !strncmp(f->cmds[i], prefix, strlen(prefix));
	pthread_mutex_unlock(&f->lock);
	return n;
}

void fake_qmp_event(struct fake_qmp *f, const char *json)
{
	pthread_mutex_lock(&f->lock);
	snprintf(f->event, sizeof(f->event), "%s", json);
	pthread_mutex_unlock(&f->lock);
}

uint64_t fake_qmp_actual(struct fake_qmp *f)
{
	uint64_t v;

	pthread_mutex_lock(&f->lock);
	v = f->actual;
	pthread_mutex_unlock(&f->lock);
	return v;
}
