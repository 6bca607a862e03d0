/* SPDX-License-Identifier: MIT */
/*
 * ctl.h - balloonctl internals: the parsed command line, the verb table and
 * the I/O context every verb runs with.  Internal to balloonctl/.
 *
 * Exit codes (balloonctl(1)): 0 success, 1 the daemon refused or something
 * failed (connection, timeout, VM lost while waiting), 2 bad usage.
 */
#ifndef BALLOONCTL_CTL_H
#define BALLOONCTL_CTL_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CTL_DEFAULT_SOCKET   "/run/balloond/balloond.sock"
#define CTL_SOCKET_ENV       "BALLOOND_SOCKET"
#define CTL_REPLY_TIMEOUT_MS 10000 /* one request/reply round trip */
#define CTL_WAIT_TIMEOUT_S   60.0  /* set --wait default */
#define CTL_WAIT_POLL_MS     200   /* set --wait: info poll period */
#define CTL_TOP_INTERVAL_S   1.0   /* top default refresh */
#define CTL_MAX_KV           32    /* policy set KEY=VALUE pairs */

enum ctl_exit {
	CTL_EXIT_OK = 0,
	CTL_EXIT_FAIL = 1,
	CTL_EXIT_USAGE = 2,
};

/* Verb-specific options (bit mask of what a verb accepts). */
enum ctl_opt {
	CTL_OPT_QMP = 1u << 0,
	CTL_OPT_MIN = 1u << 1,
	CTL_OPT_MAX = 1u << 2,
	CTL_OPT_SHARES = 1u << 3,
	CTL_OPT_WAIT = 1u << 4,
	CTL_OPT_TIMEOUT = 1u << 5,
	CTL_OPT_INTERVAL = 1u << 6,
	CTL_OPT_ITERATIONS = 1u << 7,
};

/* Shape of a verb's positional arguments (after the verb itself). */
enum ctl_args {
	CTL_ARGS_NONE, /* no arguments */
	CTL_ARGS_VM,   /* VM */
	CTL_ARGS_SIZE, /* VM SIZE */
	CTL_ARGS_N,    /* VM N (shares) */
	CTL_ARGS_KV,   /* KEY=VALUE... (at least one) */
};

struct ctl_cmd;
struct ctl_io;

struct ctl_verb {
	const char *name;    /* "set", or "policy set" for a sub-verb */
	const char *aliases; /* space-separated, or NULL */
	const char *args;    /* usage after the name */
	const char *summary; /* one line */
	const char *details; /* more help lines for VERB --help, or NULL */
	enum ctl_args kind;
	unsigned opts; /* enum ctl_opt mask */
	int (*run)(const struct ctl_cmd *cmd, struct ctl_io *io);
};

/* A parsed command line.  Strings point into argv; policy_args is owned
 * (release with bctl_cmd_free). */
struct ctl_cmd {
	const struct ctl_verb *verb; /* NULL with help: general usage */
	bool help;
	bool json;
	const char *socket; /* --socket, or NULL */
	const char *vm;
	uint64_t size;   /* bytes: set/min/max SIZE */
	uint32_t count;  /* shares N */
	const char *qmp; /* add --qmp */
	bool has_min, has_max, has_shares;
	uint64_t min, max; /* bytes: add --min/--max */
	uint32_t shares;   /* add --shares */
	bool wait;
	double timeout_s;         /* set --wait --timeout, seconds */
	double interval_s;        /* top --interval, seconds */
	unsigned long iterations; /* top --iterations; 0 = until interrupted */
	struct json_object *policy_args; /* policy set: typed KEY=VALUEs */
};

/* Where a verb prints and how it reaches the daemon. */
struct ctl_io {
	FILE *out, *err;
	bool tty;  /* out is a terminal: in-place progress, screen clearing */
	bool json; /* --json */
	const char *socket;
	int reply_timeout_ms;
	unsigned poll_ms; /* set --wait poll period */
};

extern const struct ctl_verb bctl_verbs[];
extern const size_t bctl_nverbs;

/* Look a verb up by name or alias ("setmem", "policy set").  NULL if none. */
const struct ctl_verb *bctl_verb_find(const char *name);

/*
 * Parse argv (argv[0] is the program) into @cmd.  Global flags (--json,
 * --socket PATH, --help) may appear anywhere; "--" ends option parsing.
 * Returns 0, or -EINVAL with one line of explanation in @msg (usage error).
 * On success the caller owns cmd->policy_args (bctl_cmd_free).
 */
int bctl_parse(int argc, char **argv, struct ctl_cmd *cmd, char *msg,
               size_t msglen);
void bctl_cmd_free(struct ctl_cmd *cmd);

/* Print the general usage, or one verb's usage. */
void bctl_usage(FILE *f, const struct ctl_verb *verb);

/*
 * The whole program: parse, resolve the socket (--socket, then
 * $BALLOOND_SOCKET, then the default), run the verb, print to @out/@err.
 * Returns the exit code.
 */
int bctl_main(int argc, char **argv, FILE *out, FILE *err);

/* Verbs (verbs.c, top.c).  Each returns an exit code. */
int bctl_run_list(const struct ctl_cmd *cmd, struct ctl_io *io);
int bctl_run_info(const struct ctl_cmd *cmd, struct ctl_io *io);
int bctl_run_add(const struct ctl_cmd *cmd, struct ctl_io *io);
int bctl_run_remove(const struct ctl_cmd *cmd, struct ctl_io *io);
int bctl_run_set(const struct ctl_cmd *cmd, struct ctl_io *io);
int bctl_run_min(const struct ctl_cmd *cmd, struct ctl_io *io);
int bctl_run_max(const struct ctl_cmd *cmd, struct ctl_io *io);
int bctl_run_shares(const struct ctl_cmd *cmd, struct ctl_io *io);
int bctl_run_stats(const struct ctl_cmd *cmd, struct ctl_io *io);
int bctl_run_host(const struct ctl_cmd *cmd, struct ctl_io *io);
int bctl_run_top(const struct ctl_cmd *cmd, struct ctl_io *io);
int bctl_run_policy(const struct ctl_cmd *cmd, struct ctl_io *io);
int bctl_run_policy_set(const struct ctl_cmd *cmd, struct ctl_io *io);
int bctl_run_policy_release(const struct ctl_cmd *cmd, struct ctl_io *io);
int bctl_run_version(const struct ctl_cmd *cmd, struct ctl_io *io);

/*
 * policy set: turn "KEY=VALUE" strings into a typed args object (sizes for
 * margin/max_shrink/budget, booleans for enabled, numbers elsewhere).
 * Returns 0 and a new object in *out, or -EINVAL with a message.
 */
int bctl_policy_kv(char *const *kv, size_t n, struct json_object **out,
                   char *msg, size_t msglen);

#endif
