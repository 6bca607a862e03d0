/* SPDX-License-Identifier: MIT */
/*
 * main.c - balloond(8): options, config, then the loop until SIGTERM/SIGINT.
 * Exit status: 0 after a signal (state saved), 1 if start-up failed, 2 on a
 * usage or config error.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bc_util.h>

#include "daemon.h"

enum { O_STATE = 256, O_METRICS, O_TICK, O_ALERT, O_SYSLOG, O_PROC };

static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"socket", required_argument, NULL, 's'},
        {"state", required_argument, NULL, O_STATE},
        {"metrics", required_argument, NULL, O_METRICS},
        {"tick-ms", required_argument, NULL, O_TICK},
        {"stats-alert-ms", required_argument, NULL, O_ALERT},
        {"log-level", required_argument, NULL, 'l'},
        {"syslog", no_argument, NULL, O_SYSLOG},
        {"proc-root", required_argument, NULL, O_PROC},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
};

static void usage(FILE *f)
{
	fprintf(f,
	        "Usage: balloond [OPTION]...\n"
	        "Host daemon that moves VM memory balloons over QMP.\n\n"
	        "  -c, --config FILE     INI config (default %s;\n"
	        "                        a missing default file is fine)\n"
	        "  -s, --socket PATH     control socket (default %s)\n"
	        "      --state PATH      state file (default %s)\n"
	        "      --metrics ADDR:PORT  serve /metrics (\"off\": no; "
	        "default off)\n"
	        "      --tick-ms MS      policy/monitor interval (default "
	        "1000)\n"
	        "      --stats-alert-ms MS  balloonvm stats alerts: sample "
	        "period,\n"
	        "                        0 = off (default %d)\n"
	        "  -l, --log-level LEVEL error, warning, info (default), "
	        "debug\n"
	        "      --syslog          log to syslog instead of stderr\n"
	        "      --proc-root DIR   read meminfo and pressure/memory "
	        "under DIR\n"
	        "                        instead of /proc (tests)\n"
	        "  -h, --help            this text\n"
	        "  -V, --version         print the version\n\n"
	        "Runs in the foreground; SIGTERM or SIGINT saves state and "
	        "exits 0.\nSee balloond(8).\n",
	        BD_DEFAULT_CONFIG, BD_DEFAULT_SOCKET, BD_DEFAULT_STATE,
	        BD_STATS_ALERT_MS);
}

struct cli {
	const char *config, *socket, *state, *metrics, *log_level, *proc;
	uint32_t tick_ms;
	long alert_ms; /* -1 = not given */
	bool syslog;
};

/* 0 to go on, 1 to exit 0 (help/version), 2 on a usage error. */
static int parse_cli(int argc, char **argv, struct cli *c)
{
	int opt;

	while ((opt = getopt_long(argc, argv, "c:s:l:hV", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			c->config = optarg;
			break;
		case 's':
			c->socket = optarg;
			break;
		case O_STATE:
			c->state = optarg;
			break;
		case O_METRICS:
			c->metrics = optarg;
			break;
		case 'l':
			c->log_level = optarg;
			break;
		case O_SYSLOG:
			c->syslog = true;
			break;
		case O_PROC:
			c->proc = optarg;
			break;
		case O_TICK: {
			char *end;
			unsigned long v = strtoul(optarg, &end, 10);
			if (*optarg < '0' || *optarg > '9' || *end || !v ||
			    v > 3600000) {
				fprintf(stderr,
				        "balloond: --tick-ms: '%s' is "
				        "not in 1..3600000\n",
				        optarg);
				return 2;
			}
			c->tick_ms = (uint32_t)v;
			break;
		}
		case O_ALERT: {
			char *end;
			long v = strtol(optarg, &end, 10);
			if (*optarg < '0' || *optarg > '9' || *end ||
			    (v && (v < 10 || v > BD_STATS_ALERT_MAX))) {
				fprintf(stderr,
				        "balloond: --stats-alert-ms: '%s' is "
				        "not 0 (off) or 10..%d\n",
				        optarg, BD_STATS_ALERT_MAX);
				return 2;
			}
			c->alert_ms = v;
			break;
		}
		case 'h':
			usage(stdout);
			return 1;
		case 'V':
			printf("balloond %s\n", BALLOOND_VERSION);
			return 1;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "balloond: unexpected argument '%s'\n",
		        argv[optind]);
		return 2;
	}
	return 0;
}

/* Config file, then the command line over it.  0 or 2 (message printed). */
static int build_conf(const struct cli *cli, struct bd_conf *conf)
{
	char err[512];
	int ret;

	if (bd_conf_init(conf))
		return 2;
	ret = bd_conf_load(conf, cli->config ? cli->config : BD_DEFAULT_CONFIG,
	                   err, sizeof(err));
	if (ret && !(ret == -ENOENT && !cli->config)) {
		fprintf(stderr, "balloond: %s\n", err);
		return 2;
	}
	if (cli->log_level &&
	    bc_log_level_parse(cli->log_level, &conf->log_level)) {
		fprintf(stderr, "balloond: bad --log-level '%s'\n",
		        cli->log_level);
		return 2;
	}
	if (cli->metrics && !strcmp(cli->metrics, "off"))
		bd_conf_set_str(&conf->metrics, NULL);
	else if (cli->metrics)
		bd_conf_set_str(&conf->metrics, cli->metrics);
	if ((cli->socket && bd_conf_set_str(&conf->socket_path, cli->socket)) ||
	    (cli->state && bd_conf_set_str(&conf->state_path, cli->state)) ||
	    (cli->proc && bd_conf_set_str(&conf->proc_root, cli->proc)))
		return 2;
	if (cli->tick_ms) {
		conf->tick_ms_cli = cli->tick_ms;
		conf->policy.tick_ms = cli->tick_ms;
	}
	if (cli->alert_ms >= 0)
		conf->stats_alert_ms = (uint32_t)cli->alert_ms;
	conf->use_syslog = cli->syslog;
	return 0;
}

int main(int argc, char **argv)
{
	struct cli cli = {.alert_ms = -1};
	struct bd_conf conf;
	struct bd bd;
	char err[512];
	int ret;

	ret = parse_cli(argc, argv, &cli);
	if (ret)
		return ret == 1 ? 0 : 2;
	ret = build_conf(&cli, &conf);
	if (ret) {
		bd_conf_free(&conf);
		return ret;
	}
	bc_log_init("balloond", conf.log_level, conf.use_syslog);
	signal(SIGPIPE, SIG_IGN);
	if (bd_init(&bd, &conf, true, err, sizeof(err))) {
		bc_err("%s", err);
		bd_conf_free(&conf);
		return 1;
	}
	while (!bd.stop) {
		ret = bd_run_once(&bd, -1);
		if (ret) {
			bc_err("event loop: %s", strerror(-ret));
			break;
		}
	}
	bd_fini(&bd);
	bd_conf_free(&conf);
	return ret ? 1 : 0;
}
