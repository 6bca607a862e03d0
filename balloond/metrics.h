/* SPDX-License-Identifier: MIT */
/*
 * metrics.h - /metrics in Prometheus text format 0.0.4 over HTTP
 * (libmicrohttpd).  MHD runs without threads in its epoll mode: its epoll fd
 * sits in balloond's loop and MHD_run is called from there, so the page is
 * built from the daemon's state with no locking.
 * Return contract: 0 or -errno.
 */
#ifndef BD_METRICS_H
#define BD_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct bd;

/* The page text (malloc'd, NUL-terminated), or NULL on ENOMEM. */
char *bd_metrics_text(const struct bd *bd, size_t *len);
/* "ADDR:PORT", ":PORT" or "PORT" (address 127.0.0.1), "[V6ADDR]:PORT".
 * 0 or -EINVAL. */
int bd_metrics_parse_addr(const char *s, struct sockaddr_storage *ss,
                          socklen_t *len);
/* Metric-safe name of a QEMU stat: "stat-swap-in" -> "swap_in". */
void bd_metrics_stat_name(const char *stat, char *out, size_t len);

int bd_metrics_init(struct bd *bd, const char *addr, char *err, size_t errlen);
void bd_metrics_fini(struct bd *bd);
/* Let MHD handle timeouts that are due (called every loop iteration). */
void bd_metrics_run(struct bd *bd);
uint64_t bd_metrics_deadline(const struct bd *bd);
/* The bound TCP port (useful with port 0), 0 if off. */
unsigned bd_metrics_port(const struct bd *bd);

#endif
