/* SPDX-License-Identifier: MIT */
/*
 * fake_qmp.h - a small scripted QMP server for balloond's tests, in a thread
 * of the test (or a forked child, to test a peer process that dies).  It
 * greets, accepts qmp_capabilities and answers query-balloon, balloon,
 * qom-set, qom-get guest-stats and query-memory-size-summary like QEMU,
 * x-bvm-stats-alert like balloonvm (if @alerts), sends events the test
 * queues, and records every command it receives.
 */
#ifndef FAKE_QMP_H
#define FAKE_QMP_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define FAKE_LOG_MAX 256

struct fake_qmp {
	char path[108];
	int lfd;
	pthread_t thread;
	pthread_mutex_t lock;
	volatile bool stop;
	/* behaviour (set before start or under lock) */
	uint64_t actual;           /* reported by query-balloon */
	uint64_t boot;             /* base-memory; 0: command not found */
	bool follow;               /* balloon moves actual at once + event */
	bool mute_query;           /* query-balloon logged, never answered */
	const char *balloon_error; /* balloon fails with this desc */
	char stats[512];           /* JSON object of guest stats */
	double last_update;        /* 0: qom-get fails like QEMU before any */
	bool alerts;               /* x-bvm-stats-alert exists (balloonvm) */
	char event[1024];          /* sent (then cleared) by the session */
	/* observed */
	int connections;
	int ncmds;
	/* "balloon 536870912", "query-balloon", "x-bvm-stats-alert 100 4096" */
	char cmds[FAKE_LOG_MAX][64];
	int drop_now; /* set: close the current connection */
};

/* Listen on @path with @actual as the VM size, without serving yet. */
int fake_qmp_init(struct fake_qmp *f, const char *path, uint64_t actual);
/* Listen on @path (in a test's temp dir) and serve from a thread. */
int fake_qmp_start(struct fake_qmp *f, const char *path, uint64_t actual);
/* Serve in the calling process until stop (for a forked child). */
void fake_qmp_serve(struct fake_qmp *f);
void fake_qmp_stop(struct fake_qmp *f);
/* How many received commands start with @prefix. */
int fake_qmp_count(struct fake_qmp *f, const char *prefix);
uint64_t fake_qmp_actual(struct fake_qmp *f);
/* Queue one event line (a JSON object) for the current connection. */
void fake_qmp_event(struct fake_qmp *f, const char *json);

#endif
