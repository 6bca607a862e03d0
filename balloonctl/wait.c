/* SPDX-License-Identifier: MIT */
/* wait.c - set --wait: poll info until the balloon reached the target. */
#include "wait.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "bc_util.h"
#include "output.h"

#define MiB (1024ull * 1024ull)

uint64_t bctl_wait_tolerance(uint64_t target)
{
	uint64_t pct = target / 100;

	return pct > MiB ? pct : MiB;
}

void bctl_wait_init(struct ctl_wait *w, const char *vm, uint64_t requested,
                    struct json_object *set_reply)
{
	memset(w, 0, sizeof(*w));
	w->vm = vm;
	if (!bctl_json_u64(set_reply, "target", &w->target))
		w->target = requested;
	if (!bctl_json_u64(set_reply, "actual", &w->start))
		w->start = w->target;
	w->tolerance = bctl_wait_tolerance(w->target);
}

static uint64_t distance(uint64_t a, uint64_t b)
{
	return a > b ? a - b : b - a;
}

unsigned bctl_wait_percent(const struct ctl_wait *w, uint64_t actual)
{
	uint64_t whole = distance(w->start, w->target);
	uint64_t left = distance(actual, w->target);

	if (whole == 0 || left == 0)
		return 100;
	if (left >= whole)
		return 0;
	/* Both are bytes below 2^64; scale in floating point. */
	return (unsigned)((double)(whole - left) * 100.0 / (double)whole);
}

char *bctl_wait_line(const struct ctl_wait *w, uint64_t actual, char *buf,
                     size_t len)
{
	char a[32], t[32];

	snprintf(buf, len, "%s: actual %s -> target %s (%u%%)", w->vm,
	         bc_format_size(actual, a, sizeof(a)),
	         bc_format_size(w->target, t, sizeof(t)),
	         bctl_wait_percent(w, actual));
	return buf;
}

enum ctl_wait_state bctl_wait_check(const struct ctl_wait *w,
                                    struct json_object *vm, struct ctl_err *err)
{
	const char *state = bctl_json_str(vm, "state", "");
	uint64_t target, actual;
	char a[32], t[32];

	if (!strcmp(state, "lost") || !strcmp(state, "error")) {
		bctl_err_set(err,
		             strcmp(state, "lost") ? "unreachable" : "lost",
		             "%s: VM %s while waiting for target %s", w->vm,
		             strcmp(state, "lost") ? "is in error state"
		                                   : "was lost",
		             bc_format_size(w->target, t, sizeof(t)));
		return CTL_WAIT_FAIL;
	}
	if (bctl_json_u64(vm, "target", &target) && target != w->target) {
		bctl_err_set(err, "target-changed",
		             "%s: target changed to %s while waiting for %s "
		             "(another set, or a policy release?)",
		             w->vm, bc_format_size(target, a, sizeof(a)),
		             bc_format_size(w->target, t, sizeof(t)));
		return CTL_WAIT_FAIL;
	}
	if (!bctl_json_u64(vm, "actual", &actual))
		return CTL_WAIT_MORE;
	return distance(actual, w->target) <= w->tolerance ? CTL_WAIT_DONE
	                                                   : CTL_WAIT_MORE;
}

/* Progress output state. */
struct progress {
	struct ctl_io *io;
	bool open;     /* a tty line is being rewritten */
	bool shown;    /* something was printed */
	uint64_t last; /* actual last printed */
};

static void progress_show(struct progress *p, const struct ctl_wait *w,
                          uint64_t actual)
{
	char line[160];

	if (p->io->json || (p->shown && actual == p->last && !p->io->tty))
		return;
	bctl_wait_line(w, actual, line, sizeof(line));
	if (p->io->tty) {
		fprintf(p->io->out, "\r\033[K%s", line);
		p->open = true;
	} else {
		fprintf(p->io->out, "%s\n", line);
	}
	fflush(p->io->out);
	p->shown = true;
	p->last = actual;
}

static void progress_end(struct progress *p)
{
	if (p->open)
		fputc('\n', p->io->out);
	p->open = false;
	fflush(p->io->out);
}

static void sleep_ms(uint64_t ms)
{
	struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int finish(struct progress *p, struct ctl_err *e, struct json_object *vm)
{
	progress_end(p);
	if (e) {
		bctl_print_error(p->io, e);
	} else if (p->io->json) {
		bctl_print_json(p->io->out, vm, true);
	}
	json_object_put(vm);
	return e ? CTL_EXIT_FAIL : CTL_EXIT_OK;
}

static void timeout_error(const struct ctl_wait *w, uint64_t actual,
                          double timeout_s, struct ctl_err *e)
{
	char a[32], t[32];

	bctl_err_set(
	        e, "timeout",
	        "timed out after %g s waiting for %s: actual %s, target %s "
	        "(%u%%)",
	        timeout_s, w->vm, bc_format_size(actual, a, sizeof(a)),
	        bc_format_size(w->target, t, sizeof(t)),
	        bctl_wait_percent(w, actual));
}

int bctl_wait_run(struct ctl_io *io, struct ctl_wait *w, double timeout_s)
{
	uint64_t deadline = bc_now_ms() + (uint64_t)(timeout_s * 1000.0);
	struct progress p = {.io = io};
	struct json_object *args, *vm = NULL;
	struct ctl_client c;
	struct ctl_err e;
	uint64_t actual = w->start;
	int ret;

	if (bctl_client_open(&c, io->socket, io->reply_timeout_ms, &e))
		return finish(&p, &e, NULL);
	args = json_object_new_object();
	json_object_object_add(args, "vm", json_object_new_string(w->vm));
	for (;;) {
		json_object_put(vm);
		ret = bctl_call(&c, "info", args, &vm, &e);
		if (ret)
			break;
		bctl_json_u64(vm, "actual", &actual);
		enum ctl_wait_state st = bctl_wait_check(w, vm, &e);
		progress_show(&p, w, actual);
		if (st != CTL_WAIT_MORE) {
			ret = st == CTL_WAIT_DONE ? 0 : -1;
			break;
		}
		uint64_t now = bc_now_ms();
		if (now >= deadline) {
			timeout_error(w, actual, timeout_s, &e);
			ret = -ETIMEDOUT;
			break;
		}
		sleep_ms(deadline - now < io->poll_ms ? deadline - now
		                                      : io->poll_ms);
	}
	json_object_put(args);
	bctl_client_close(&c);
	return finish(&p, ret ? &e : NULL, vm);
}
