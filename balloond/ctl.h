/* SPDX-License-Identifier: MIT */
/*
 * ctl.h - the control socket (docs/control-protocol.md): Unix stream socket,
 * SO_PEERCRED check, JSON lines, one reply per request, in order.  A request
 * is a "call" that a verb completes exactly once with bd_ctl_ok or bd_ctl_fail,
 * at once or later (set waits for QMP, add for the first connection); the
 * connection reads its next request only after that.
 * Return contract: 0 or -errno.
 */
#ifndef BD_CTL_H
#define BD_CTL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <json-c/json.h>

#define CTL_MAX_LINE    (64u << 10) /* bytes per request line */
#define CTL_ADD_WAIT_MS 3000        /* add replies once connected or this */
#define CTL_PROTOCOL    1

struct bd;
struct ctl_call;

int bd_ctl_init(struct bd *bd, char *err, size_t errlen);
void bd_ctl_fini(struct bd *bd);
/* Complete waiting calls whose condition or deadline came. */
void bd_ctl_poll(struct bd *bd, uint64_t now_ms);
/* Earliest wait deadline, 0 if none. */
uint64_t bd_ctl_deadline(const struct bd *bd);

/* Peer check: root, our own uid, or a member of @gid (if @has_group). */
bool bd_ctl_peer_allowed(uid_t uid, gid_t gid, bool has_group, gid_t group);

/* For verbs (ctl_cmds.c). @result is consumed. */
void bd_ctl_ok(struct ctl_call *c, struct json_object *result);
void bd_ctl_fail(struct ctl_call *c, const char *code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
/* Reply with the VM object once the newly added @vm is connected or has
 * failed a connection attempt, or @deadline_ms passes (unknown-vm if it was
 * removed meanwhile). */
void bd_ctl_wait_vm(struct ctl_call *c, struct bd *bd, const char *vm,
                    uint64_t deadline_ms);
/* Run verb @cmd (ctl_cmds.c).  @args may be NULL. */
void bd_ctl_dispatch(struct bd *bd, const char *cmd, struct json_object *args,
                     struct ctl_call *c);

#endif
