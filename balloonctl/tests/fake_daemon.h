/* SPDX-License-Identifier: MIT */
/*
 * fake_daemon.h - TEST CODE ONLY: a small stand-in for balloond serving the
 * control protocol (docs/control-protocol.md) on a temporary Unix socket from
 * a thread, with canned but stateful behaviour: VMs whose actual size moves
 * toward the target by a fixed step on every `info`, limits that refuse with
 * below-min / above-max, a VM that gets lost after N polls, and misbehaviours
 * (stale replies, wrong protocol version, silence, hang-ups) for the client.
 */
#ifndef BALLOONCTL_FAKE_DAEMON_H
#define BALLOONCTL_FAKE_DAEMON_H

#include <json-c/json.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define FAKE_MAX_VMS 4

struct fake_vm {
	char name[32];
	char qmp[64];
	char state[16];
	uint64_t min, max, target, actual; /* bytes */
	uint32_t shares;
	bool pinned;
};

struct fake_daemon {
	char dir[64];
	char path[108];
	int lfd;
	int stop[2];
	pthread_t thr;
	pthread_mutex_t lock;

	/* Behaviour (set before the client runs). */
	struct fake_vm vms[FAKE_MAX_VMS];
	unsigned nvms;
	uint64_t step;       /* bytes actual moves per info (0: stalls) */
	uint64_t floor;      /* bytes: the guest gives no more (0: none) */
	unsigned lose_after; /* info polls until state "lost" (0: never) */
	bool lose_as_error;  /* ...until info answers "unreachable" instead */
	bool stale_reply;    /* send a reply with a wrong id first */
	bool bad_version;    /* answer with "v": 2 */
	bool silent;         /* read requests, never answer */
	bool hang_up;        /* close the connection on the first request */
	bool permission;     /* one id-less permission error, then close */

	/* Recorded (read after the client returned). */
	char last_cmd[32];
	struct json_object *last_args; /* owned */
	unsigned requests, infos, connections;
};

/* Create the socket in a fresh temp dir and start serving.  Starts with one
 * VM "web": max 1 GiB, min 256 MiB, target = actual = 1 GiB, connected. */
int fake_start(struct fake_daemon *f);
void fake_stop(struct fake_daemon *f);

/* Copy of the last request's string / integer arg (NULL / -1 if absent). */
const char *fake_arg_str(struct fake_daemon *f, const char *key);
int64_t fake_arg_int(struct fake_daemon *f, const char *key);

#endif
