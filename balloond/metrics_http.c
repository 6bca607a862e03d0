/* SPDX-License-Identifier: MIT */
/*
 * metrics_http.c - serve /metrics with libmicrohttpd from balloond's own
 * loop: MHD_USE_EPOLL without an internal thread; its epoll fd is watched
 * like any other and MHD_run is called when it is ready or its timeout is
 * due.  Single-threaded, so no lock around the daemon's state.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include <bc_util.h>

#include "daemon.h"
#include "metrics.h"

struct bd_metrics {
	struct MHD_Daemon *mhd;
	struct bd_watch w;
	unsigned port;
};

int bd_metrics_parse_addr(const char *s, struct sockaddr_storage *ss,
                          socklen_t *len)
{
	char host[128] = "127.0.0.1";
	const char *colon = strrchr(s, ':'), *port_s = s;
	char *end;
	unsigned long port;

	memset(ss, 0, sizeof(*ss));
	if (colon) {
		size_t hl = (size_t)(colon - s);
		port_s = colon + 1;
		if (hl >= sizeof(host))
			return -EINVAL;
		if (hl) {
			memcpy(host, s, hl);
			host[hl] = '\0';
		}
	}
	port = strtoul(port_s, &end, 10);
	if (*port_s < '0' || *port_s > '9' || *end || port > 65535)
		return -EINVAL;
	if (host[0] == '[') {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
		size_t hl = strlen(host);
		if (hl < 3 || host[hl - 1] != ']')
			return -EINVAL;
		host[hl - 1] = '\0';
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, host + 1, &a->sin6_addr) != 1)
			return -EINVAL;
		*len = sizeof(*a);
		return 0;
	}
	struct sockaddr_in *a = (struct sockaddr_in *)ss;
	if (!strcmp(host, "localhost"))
		strcpy(host, "127.0.0.1");
	a->sin_family = AF_INET;
	a->sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
		return -EINVAL;
	*len = sizeof(*a);
	return 0;
}

static enum MHD_Result plain(struct MHD_Connection *conn, unsigned status,
                             const char *text)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(
	        strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
	enum MHD_Result ret;

	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", "text/plain");
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn,
                              const char *url, const char *method,
                              const char *version, const char *upload,
                              size_t *upload_size, void **con_cls)
{
	struct bd *bd = cls;
	struct MHD_Response *r;
	enum MHD_Result ret;
	size_t len;
	char *text;

	(void)version;
	(void)upload;
	(void)upload_size;
	(void)con_cls;
	if (strcmp(method, "GET") && strcmp(method, "HEAD"))
		return plain(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
		             "only GET /metrics\n");
	if (strcmp(url, "/metrics"))
		return plain(conn, MHD_HTTP_NOT_FOUND, "see /metrics\n");
	text = bd_metrics_text(bd, &len);
	if (!text)
		return plain(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
		             "out of memory\n");
	r = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type",
	                        "text/plain; version=0.0.4; charset=utf-8");
	ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

static void on_mhd(struct bd_watch *w, uint32_t events)
{
	struct bd_metrics *m = bd_container_of(w, struct bd_metrics, w);

	(void)events;
	MHD_run(m->mhd);
}

int bd_metrics_init(struct bd *bd, const char *addr, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	struct bd_metrics *m;
	const union MHD_DaemonInfo *info;
	socklen_t sl;
	int ret = bd_metrics_parse_addr(addr, &ss, &sl);

	if (ret) {
		snprintf(err, errlen, "metrics: bad address '%s' (ADDR:PORT)",
		         addr);
		return ret;
	}
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->w.fd = -1;
	m->mhd = MHD_start_daemon(
	        MHD_USE_EPOLL | (ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0),
	        0, NULL, NULL, handle, bd, MHD_OPTION_SOCK_ADDR, &ss,
	        MHD_OPTION_CONNECTION_LIMIT, 16u, MHD_OPTION_CONNECTION_TIMEOUT,
	        10u, MHD_OPTION_END);
	if (!m->mhd) {
		snprintf(err, errlen, "metrics: cannot listen on %s", addr);
		ret = -EADDRNOTAVAIL;
		goto err_free;
	}
	info = MHD_get_daemon_info(m->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	if (!info) {
		ret = -ENOTSUP;
		snprintf(err, errlen, "metrics: libmicrohttpd without epoll");
		goto err_stop;
	}
	ret = bd_loop_add(&bd->loop, &m->w, info->epoll_fd, EPOLLIN, on_mhd);
	if (ret)
		goto err_stop;
	info = MHD_get_daemon_info(m->mhd, MHD_DAEMON_INFO_BIND_PORT);
	m->port = info ? info->port : 0;
	bd->metrics = m;
	bc_info("metrics on http://%s/metrics (port %u)", addr, m->port);
	return 0;
err_stop:
	MHD_stop_daemon(m->mhd);
err_free:
	free(m);
	return ret;
}

void bd_metrics_fini(struct bd *bd)
{
	struct bd_metrics *m = bd->metrics;

	if (!m)
		return;
	if (m->w.fd >= 0)
		bd_loop_del(&bd->loop, &m->w);
	MHD_stop_daemon(m->mhd);
	free(m);
	bd->metrics = NULL;
}

uint64_t bd_metrics_deadline(const struct bd *bd)
{
	MHD_UNSIGNED_LONG_LONG ms;

	if (!bd->metrics || MHD_get_timeout(bd->metrics->mhd, &ms) != MHD_YES)
		return 0;
	return bc_now_ms() + ms;
}

void bd_metrics_run(struct bd *bd)
{
	MHD_UNSIGNED_LONG_LONG ms;

	if (bd->metrics && MHD_get_timeout(bd->metrics->mhd, &ms) == MHD_YES &&
	    ms == 0)
		MHD_run(bd->metrics->mhd);
}

unsigned bd_metrics_port(const struct bd *bd)
{
	return bd->metrics ? bd->metrics->port : 0;
}
