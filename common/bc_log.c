/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>

#include "bc_util.h"

static enum bc_log_level cur_level = BC_LOG_INFO;
static bool to_syslog;
static const char *log_ident = "balloon";

static const char *const level_names[] = {"error", "warning", "info", "debug"};
static const int syslog_prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};

void bc_log_init(const char *ident, enum bc_log_level level, bool use_syslog)
{
	log_ident = ident;
	cur_level = level;
	to_syslog = use_syslog;
	if (use_syslog)
		openlog(ident, LOG_PID, LOG_DAEMON);
}

int bc_log_level_parse(const char *s, enum bc_log_level *out)
{
	for (int i = 0; i <= BC_LOG_DEBUG; i++) {
		if (!strcasecmp(s, level_names[i]) ||
		    (i == BC_LOG_WARN && !strcasecmp(s, "warn")) ||
		    (i == BC_LOG_ERR && !strcasecmp(s, "err"))) {
			*out = (enum bc_log_level)i;
			return 0;
		}
	}
	return -1;
}

void bc_log(enum bc_log_level level, const char *fmt, ...)
{
	va_list ap;

	if (level > cur_level)
		return;
	va_start(ap, fmt);
	if (to_syslog) {
		vsyslog(syslog_prio[level], fmt, ap);
	} else {
		char ts[32];
		struct timespec now;
		struct tm tm;

		clock_gettime(CLOCK_REALTIME, &now);
		localtime_r(&now.tv_sec, &tm);
		strftime(ts, sizeof(ts), "%H:%M:%S", &tm);
		fprintf(stderr, "%s.%03ld %s[%s]: ", ts, now.tv_nsec / 1000000L,
		        log_ident, level_names[level]);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
	}
	va_end(ap);
}
