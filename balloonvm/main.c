/* SPDX-License-Identifier: MIT */
/*
 * main.c - balloonvm: one built-in VM per process, managed over QMP.
 *
 *   balloonvm --name NAME --memory SIZE --qmp PATH [--swap SIZE]
 *             [--workload SPEC]... [--deflate-on-oom] [--free-page-reporting]
 *             [--stats-interval S] [--dir DIR] [--log-level LEVEL]
 *
 * See balloonvm(1) and docs/balloonvm.md.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bc_util.h>

#include "swap.h"
#include "vm.h"

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: balloonvm --name NAME --memory SIZE --qmp PATH "
	        "[--swap SIZE]\n"
	        "                 [--workload SPEC]... [--deflate-on-oom] "
	        "[--free-page-reporting]\n"
	        "                 [--stats-interval S] [--dir DIR] "
	        "[--disk-cache auto|none|writeback]\n"
	        "                 [--log-level err|warn|info|debug]\n"
	        "SIZE: bytes or K/M/G/T (binary).  SPEC: kind:key=value,...\n"
	        "kinds: steady:ws=SIZE  kv:size=SIZE  phased:peak=SIZE  "
	        "filecache:file=SIZE  idle:size=SIZE\n");
}

enum {
	OPT_DOOM = 256,
	OPT_FPR,
	OPT_STATS,
	OPT_LOG,
	OPT_CACHE,
};

static const struct option opts[] = {
        {"name", required_argument, NULL, 'n'},
        {"memory", required_argument, NULL, 'm'},
        {"qmp", required_argument, NULL, 'q'},
        {"swap", required_argument, NULL, 's'},
        {"workload", required_argument, NULL, 'w'},
        {"dir", required_argument, NULL, 'd'},
        {"deflate-on-oom", no_argument, NULL, OPT_DOOM},
        {"free-page-reporting", no_argument, NULL, OPT_FPR},
        {"stats-interval", required_argument, NULL, OPT_STATS},
        {"log-level", required_argument, NULL, OPT_LOG},
        {"disk-cache", required_argument, NULL, OPT_CACHE},
        {"help", no_argument, NULL, 'h'},
        {0},
};

static int size_arg(const char *opt, const char *s, uint64_t *out)
{
	if (bc_parse_size(s, out)) {
		fprintf(stderr, "balloonvm: --%s: bad size '%s'\n", opt, s);
		return -1;
	}
	return 0;
}

static int stats_arg(const char *s, uint32_t *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v > UINT32_MAX || s[0] == '-') {
		fprintf(stderr, "balloonvm: --stats-interval: bad '%s'\n", s);
		return -1;
	}
	*out = (uint32_t)v;
	return 0;
}

/* QEMU's cache= names: none = O_DIRECT, writeback = the host page cache. */
static int cache_arg(const char *s, int *out)
{
	if (!strcmp(s, "auto"))
		*out = GMM_IO_AUTO;
	else if (!strcmp(s, "none"))
		*out = GMM_IO_DIRECT;
	else if (!strcmp(s, "writeback"))
		*out = GMM_IO_BUFFERED;
	else {
		fprintf(stderr, "balloonvm: --disk-cache: auto, none or "
		                "writeback\n");
		return -1;
	}
	return 0;
}

/* 0 ok, 1 bad usage, 2 --help. */
static int parse(int argc, char **argv, struct vm_cfg *c,
                 enum bc_log_level *lvl)
{
	int o;

	while ((o = getopt_long(argc, argv, "n:m:q:s:w:d:h", opts, NULL)) !=
	       -1) {
		switch (o) {
		case 'n':
			c->name = optarg;
			break;
		case 'm':
			if (size_arg("memory", optarg, &c->memory))
				return 1;
			break;
		case 'q':
			c->qmp = optarg;
			break;
		case 's':
			if (size_arg("swap", optarg, &c->swap))
				return 1;
			break;
		case 'w':
			if (c->nworkloads == VM_MAX_WORKLOADS) {
				fprintf(stderr,
				        "balloonvm: at most %d "
				        "--workload options\n",
				        VM_MAX_WORKLOADS);
				return 1;
			}
			c->workloads[c->nworkloads++] = optarg;
			break;
		case 'd':
			c->dir = optarg;
			break;
		case OPT_DOOM:
			c->deflate_on_oom = true;
			break;
		case OPT_FPR:
			c->free_page_reporting = true;
			break;
		case OPT_STATS:
			if (stats_arg(optarg, &c->stats_interval))
				return 1;
			break;
		case OPT_LOG:
			if (bc_log_level_parse(optarg, lvl)) {
				fprintf(stderr, "balloonvm: bad log level\n");
				return 1;
			}
			break;
		case OPT_CACHE:
			if (cache_arg(optarg, &c->disk_io))
				return 1;
			break;
		case 'h':
			return 2;
		default:
			return 1;
		}
	}
	if (optind != argc || !c->name || !c->memory || !c->qmp) {
		fprintf(stderr, "balloonvm: --name, --memory and --qmp are "
		                "required\n");
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct vm_cfg cfg = {0};
	enum bc_log_level lvl = BC_LOG_INFO;
	char ident[64];
	struct vm *vm;
	int ret = parse(argc, argv, &cfg, &lvl);

	if (ret) {
		usage(ret == 2 ? stdout : stderr);
		return ret == 2 ? 0 : 2;
	}
	snprintf(ident, sizeof(ident), "balloonvm[%s]", cfg.name);
	bc_log_init(ident, lvl, false);
	ret = vm_create(&cfg, &vm);
	if (ret) {
		bc_err("cannot start: %s", strerror(-ret));
		return 1;
	}
	ret = vm_run(vm);
	vm_destroy(vm);
	return ret ? 1 : 0;
}
