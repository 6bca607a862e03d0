/* SPDX-License-Identifier: MIT */
/*
 * config.h - balloond's settings: defaults, the INI config file (libinih),
 * then command-line overrides (main.c).  Sizes accept bytes, K/M/G and
 * KiB/MiB/GiB (bc_parse_size).
 * Return contract: 0 or -errno; parse errors fill @err with "file:line: why".
 */
#ifndef BD_CONFIG_H
#define BD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <balloon/bln_policy.h>
#include <bc_util.h>

#define BD_NAME_MAX        64 /* VM name: [A-Za-z0-9_.-], 1..64 chars */
#define BD_DEFAULT_CONFIG  "/etc/balloond/balloond.conf"
#define BD_DEFAULT_SOCKET  "/run/balloond/balloond.sock"
#define BD_DEFAULT_STATE   "/var/lib/balloond/state.json"
#define BD_DEFAULT_SHARES  1000
#define BD_SHARES_MAX      1000000
#define BD_METRICS_DEFAULT "127.0.0.1:9847" /* when metrics=on */
#define BD_STATS_ALERT_MS  100 /* balloonvm stats alerts: sample period */
#define BD_STATS_ALERT_MAX 60000

struct bd_vm_conf {
	char name[BD_NAME_MAX + 1];
	char *qmp;
	uint64_t min, max; /* bytes; max 0 = learn the boot size */
	uint32_t shares;
	int line; /* of the section header, for messages */
};

struct bd_conf {
	char *socket_path;
	char *state_path;
	char *metrics; /* "ADDR:PORT", NULL = off */
	char *socket_group;
	char *proc_root; /* "/proc", or a fake one for tests */
	enum bc_log_level log_level;
	bool use_syslog;
	struct bln_policy_params policy; /* includes tick_ms */
	uint32_t
	        tick_ms_cli; /* --tick-ms: wins over the state file, 0 = none */
	bool policy_enabled;
	/* ask balloonvm peers for X_BVM_STATS_ALERT, sampling every this
	 * many ms (0 = off; QEMU peers refuse the command: polling only) */
	uint32_t stats_alert_ms;
	struct bd_vm_conf *vms;
	size_t nvms;
};

/* Fill defaults (allocates the default paths).  0 or -ENOMEM. */
int bd_conf_init(struct bd_conf *c);
void bd_conf_free(struct bd_conf *c);
/* Read @path over the current values.  0, -ENOENT if the file does not exist
 * (err filled), -EINVAL on a bad file (err = "path:line: message"). */
int bd_conf_load(struct bd_conf *c, const char *path, char *err, size_t len);
/* Replace a string setting (NULL clears).  0 or -ENOMEM. */
int bd_conf_set_str(char **slot, const char *value);
/* True if @name is a valid VM name. */
bool bd_name_valid(const char *name);

/* Policy parameters by their protocol/config names (params.c).  "enabled"
 * and "kind" included.  0, -ENOENT (unknown name) or -EINVAL (bad value). */
int bd_param_set_text(struct bln_policy_params *p, bool *enabled,
                      const char *name, const char *value);
struct json_object;
int bd_param_set_json(struct bln_policy_params *p, bool *enabled,
                      const char *name, struct json_object *value);
/* POLICY object of the control protocol (new reference, NULL on ENOMEM). */
struct json_object *bd_params_to_json(const struct bln_policy_params *p,
                                      bool enabled);

#endif
