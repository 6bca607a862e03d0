/* SPDX-License-Identifier: MIT */
/*
 * state.c - the state file: VM list with settings, pins, last targets and
 * the QMP peer pid they were sent to, plus the policy parameters.  Written
 * atomically on every change (skipped when the text is unchanged); read at
 * start, where it wins over the config file for what it records.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include <bc_util.h>

#include "bd_json.h"
#include "daemon.h"

#define STATE_VERSION 1
#define STATE_MAX     (16u << 20)

static struct json_object *vm_state(const struct vm *vm)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "name", json_object_new_string(vm->name));
	json_object_object_add(o, "qmp", json_object_new_string(vm->qmp_path));
	json_object_object_add(o, "min", json_object_new_uint64(vm->min));
	json_object_object_add(o, "max", json_object_new_uint64(vm->max));
	json_object_object_add(o, "boot", json_object_new_uint64(vm->boot));
	json_object_object_add(o, "shares", json_object_new_int64(vm->shares));
	json_object_object_add(
	        o, "target",
	        vm->target_known ? json_object_new_uint64(vm->target) : NULL);
	json_object_object_add(o, "pinned",
	                       json_object_new_boolean(vm->pinned));
	json_object_object_add(
	        o, "reason",
	        json_object_new_string(bln_reason_name(vm->reason)));
	json_object_object_add(o, "pid", json_object_new_int64(vm->pid));
	return o;
}

struct json_object *bd_state_to_json(const struct bd *bd)
{
	struct json_object *o = json_object_new_object();
	struct json_object *vms = json_object_new_array();

	json_object_object_add(o, "version",
	                       json_object_new_int(STATE_VERSION));
	json_object_object_add(
	        o, "policy",
	        bd_params_to_json(&bd->params, bd->policy_enabled));
	for (size_t i = 0; i < bd->nvms; i++)
		json_object_array_add(vms, vm_state(bd->vms[i]));
	json_object_object_add(o, "vms", vms);
	return o;
}

int bd_state_save(struct bd *bd)
{
	struct json_object *o = bd_state_to_json(bd);
	const char *text;
	size_t len;
	int ret = 0;

	if (!o)
		return -ENOMEM;
	text = json_object_to_json_string_length(
	        o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE,
	        &len);
	if (bd->saved && !strcmp(bd->saved, text))
		goto out;
	ret = bc_write_file_atomic(bd->conf->state_path, text, len, 0600);
	if (ret) {
		bd->cnt.state_errors++;
		bc_err("state: cannot write %s: %s", bd->conf->state_path,
		       strerror(-ret));
		goto out;
	}
	bd->cnt.state_writes++;
	free(bd->saved);
	bd->saved = strdup(text);
out:
	json_object_put(o);
	return ret;
}

static int apply_policy(struct bd *bd, struct json_object *pol, char *err,
                        size_t errlen)
{
	struct bln_policy_params p = bd->params;
	bool enabled = bd->policy_enabled;

	if (!json_object_is_type(pol, json_type_object))
		goto bad;
	json_object_object_foreach(pol, k, v)
	{
		int ret = bd_param_set_json(&p, &enabled, k, v);
		if (ret == -ENOENT)
			continue; /* from a newer version: keep ours */
		if (ret)
			goto bad;
	}
	if (bln_policy_validate(&p))
		goto bad;
	bd->params = p;
	bd->policy_enabled = enabled;
	return 0;
bad:
	snprintf(err, errlen, "bad \"policy\" object");
	return -EINVAL;
}

static int apply_vm(struct bd *bd, struct json_object *o, char *err,
                    size_t errlen)
{
	const char *name = bd_json_str(o, "name"), *qmp = bd_json_str(o, "qmp");
	uint64_t min = 0, max = 0, boot = 0, shares = 0, target = 0, pid = 0;
	struct json_object *v;
	struct vm *vm;

	if (!name || !bd_name_valid(name) || !qmp ||
	    !bd_json_u64(o, "min", &min) || !bd_json_u64(o, "max", &max) ||
	    !bd_json_u64(o, "shares", &shares) || shares == 0 ||
	    shares > BD_SHARES_MAX || (max && min > max)) {
		snprintf(err, errlen, "bad vm entry %s",
		         json_object_to_json_string(o));
		return -EINVAL;
	}
	bd_json_u64(o, "boot", &boot);
	bd_json_u64(o, "pid", &pid);
	vm = bd_vm_find(bd, name);
	if (vm && strcmp(vm->qmp_path, qmp)) {
		char *p = strdup(qmp);
		if (!p)
			return -ENOMEM;
		free(vm->qmp_path);
		vm->qmp_path = p;
	}
	if (!vm) {
		vm = bd_vm_new(bd, name, qmp);
		if (!vm)
			return -ENOMEM;
		if (bd_vm_append(bd, vm)) {
			bd_vm_free(vm);
			return -ENOMEM;
		}
	}
	vm->min = min;
	vm->max = max;
	vm->boot = boot;
	vm->shares = (uint32_t)shares;
	vm->pid = (pid_t)pid;
	vm->target_known = bd_json_u64(o, "target", &target);
	vm->target = target;
	vm->pinned = json_object_object_get_ex(o, "pinned", &v) &&
	             json_object_get_boolean(v);
	if (bln_reason_parse(bd_json_str(o, "reason"), &vm->reason))
		vm->reason = BLN_REASON_NONE;
	return 0;
}

int bd_state_apply(struct bd *bd, struct json_object *root, char *err,
                   size_t errlen)
{
	struct json_object *v, *vms;
	int ret;

	if (!json_object_is_type(root, json_type_object) ||
	    !json_object_object_get_ex(root, "version", &v) ||
	    json_object_get_int(v) != STATE_VERSION ||
	    !json_object_object_get_ex(root, "vms", &vms) ||
	    !json_object_is_type(vms, json_type_array)) {
		snprintf(err, errlen, "not a balloond state file (version %d)",
		         STATE_VERSION);
		return -EINVAL;
	}
	if (json_object_object_get_ex(root, "policy", &v)) {
		ret = apply_policy(bd, v, err, errlen);
		if (ret)
			return ret;
	}
	for (size_t i = 0; i < json_object_array_length(vms); i++) {
		ret = apply_vm(bd, json_object_array_get_idx(vms, i), err,
		               errlen);
		if (ret)
			return ret;
	}
	return 0;
}

int bd_state_load(struct bd *bd, char *err, size_t errlen)
{
	const char *path = bd->conf->state_path;
	struct json_object *root;
	char *text = NULL, why[256];
	size_t len;
	int ret = bc_read_file(path, STATE_MAX, &text, &len);

	if (ret) {
		snprintf(err, errlen, "state %s: %s", path, strerror(-ret));
		return ret;
	}
	root = json_tokener_parse(text);
	free(text);
	if (!root) {
		snprintf(err, errlen, "state %s: not valid JSON", path);
		return -EINVAL;
	}
	ret = bd_state_apply(bd, root, why, sizeof(why));
	json_object_put(root);
	if (ret)
		snprintf(err, errlen, "state %s: %s", path, why);
	if (!ret)
		bc_info("state: loaded %s", path);
	return ret;
}

/* The pid the holder of lock file @fd wrote into it, 0 if none (yet). */
static long lock_holder(int fd)
{
	char buf[32];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	char *end;
	long pid;

	if (n <= 0)
		return 0;
	buf[n] = '\0';
	pid = strtol(buf, &end, 10);
	return end != buf && *end == '\n' && pid > 0 ? pid : 0;
}

int bd_state_lock(struct bd *bd, char *err, size_t errlen)
{
	const char *state = bd->conf->state_path;
	char path[PATH_MAX], pid[32];
	int fd, ret, n;
	long holder;

	if (snprintf(path, sizeof(path), "%s.lock", state) >=
	    (int)sizeof(path)) {
		snprintf(err, errlen, "state file %s: name too long", state);
		return -ENAMETOOLONG;
	}
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "state lock %s: %s", path,
		         strerror(-ret));
		return ret;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		ret = -errno;
		holder = ret == -EWOULDBLOCK ? lock_holder(fd) : 0;
		if (holder)
			snprintf(err, errlen,
			         "state file %s is locked by pid %ld (another "
			         "balloond is running)",
			         state, holder);
		else if (ret == -EWOULDBLOCK)
			snprintf(err, errlen,
			         "state file %s is locked by another balloond",
			         state);
		else
			snprintf(err, errlen, "state lock %s: %s", path,
			         strerror(-ret));
		goto err_close;
	}
	/* for the message of the next one; a failed write only loses that */
	n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)n, 0) != n)
		bc_warn("state lock %s: cannot write our pid: %s", path,
		        strerror(errno));
	bd->lockfd = fd;
	return 0;
err_close:
	close(fd);
	return ret;
}

void bd_state_unlock(struct bd *bd)
{
	/* the file stays: removing it would let two processes lock two
	 * different files of the same name */
	if (bd->lockfd >= 0)
		close(bd->lockfd);
	bd->lockfd = -1;
}
