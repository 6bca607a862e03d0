/* SPDX-License-Identifier: MIT */
/* top.c - balloonctl top: host and VMs, redrawn every interval. */
#include "top.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <time.h>

#include "bc_util.h"
#include "client.h"
#include "ctl.h"
#include "output.h"

static volatile sig_atomic_t top_stop;

static void on_signal(int sig)
{
	(void)sig;
	top_stop = 1;
}

static void render_host(FILE *f, struct json_object *host)
{
	struct json_object *x;
	char t[32], a[32], fr[32];
	double some = 0, full = 0;

	if (json_object_object_get_ex(host, "psi-some-avg10", &x))
		some = json_object_get_double(x);
	if (json_object_object_get_ex(host, "psi-full-avg10", &x))
		full = json_object_get_double(x);
	fprintf(f,
	        "host: total %s, available %s, free %s, state %s, "
	        "psi some %.2f%% full %.2f%%\n",
	        bctl_size_field(host, "total", t, sizeof(t)),
	        bctl_size_field(host, "available", a, sizeof(a)),
	        bctl_size_field(host, "free", fr, sizeof(fr)),
	        bctl_json_str(host, "state", "-"), some, full);
}

static void render_summary(FILE *f, struct json_object *vms)
{
	size_t n = json_object_is_type(vms, json_type_array)
	                   ? json_object_array_length(vms)
	                   : 0;
	size_t connected = 0, pinned = 0;
	uint64_t actual = 0, max = 0, balloon = 0;
	char a[32], m[32], b[32];

	for (size_t i = 0; i < n; i++) {
		struct json_object *vm = json_object_array_get_idx(vms, i), *p;
		uint64_t va = 0, vmax = 0;
		bool has_a = bctl_json_u64(vm, "actual", &va);
		bool has_m = bctl_json_u64(vm, "max", &vmax);
		connected +=
		        !strcmp(bctl_json_str(vm, "state", ""), "connected");
		pinned += json_object_object_get_ex(vm, "pinned", &p) &&
		          json_object_get_boolean(p);
		if (!has_a || !has_m)
			continue; /* not connected yet: nothing to add up */
		actual += va;
		max += vmax;
		balloon += vmax > va ? vmax - va : 0;
	}
	fprintf(f,
	        "vms: %zu (%zu connected, %zu pinned), actual %s of max %s, "
	        "ballooned %s\n",
	        n, connected, pinned, bc_format_size(actual, a, sizeof(a)),
	        bc_format_size(max, m, sizeof(m)),
	        bc_format_size(balloon, b, sizeof(b)));
}

void bctl_top_render(FILE *f, struct json_object *host, struct json_object *vms,
                     bool tty, double interval_s, double now)
{
	time_t secs = (time_t)now;
	struct tm tm;
	char when[16] = "--:--:--";

	if (localtime_r(&secs, &tm))
		strftime(when, sizeof(when), "%H:%M:%S", &tm);
	if (tty)
		fputs("\033[H\033[2J", f);
	fprintf(f, "balloonctl top - %s - every %g s%s\n", when, interval_s,
	        tty ? " - ^C quits" : "");
	render_host(f, host);
	render_summary(f, vms);
	fputc('\n', f);
	bctl_print_vms(f, vms);
	if (!tty)
		fputc('\n', f);
	fflush(f);
}

/* Sleep @s seconds unless a signal asks us to stop. */
static void pause_s(double s)
{
	uint64_t end = bc_now_ns() + (uint64_t)(s * 1e9);

	while (!top_stop) {
		uint64_t now = bc_now_ns();
		if (now >= end)
			return;
		uint64_t left = end - now;
		struct timespec ts = {(time_t)(left / 1000000000u),
		                      (long)(left % 1000000000u)};
		if (nanosleep(&ts, NULL) == 0)
			return;
	}
}

/* One refresh: fetch host and list, print.  0 or -errno (err filled). */
static int frame(struct ctl_client *c, struct ctl_io *io, double interval_s,
                 struct ctl_err *e)
{
	struct json_object *host = NULL, *list = NULL, *vms = NULL;
	int ret = bctl_call(c, "host", NULL, &host, e);

	if (ret)
		goto out;
	ret = bctl_call(c, "list", NULL, &list, e);
	if (ret)
		goto out;
	json_object_object_get_ex(list, "vms", &vms);
	if (io->json) {
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "time",
		                       json_object_new_double(bc_wall_s()));
		json_object_object_add(o, "host", json_object_get(host));
		json_object_object_add(o, "vms", json_object_get(vms));
		bctl_print_json(io->out, o, false);
		fflush(io->out);
		json_object_put(o);
	} else {
		bctl_top_render(io->out, host, vms, io->tty, interval_s,
		                bc_wall_s());
	}
out:
	json_object_put(list);
	json_object_put(host);
	return ret;
}

int bctl_run_top(const struct ctl_cmd *cmd, struct ctl_io *io)
{
	struct sigaction sa, old_int, old_term;
	struct ctl_client c;
	struct ctl_err e;
	int ret;

	ret = bctl_client_open(&c, io->socket, io->reply_timeout_ms, &e);
	if (ret)
		goto err_print;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal; /* no SA_RESTART: wake the sleep */
	sigemptyset(&sa.sa_mask);
	top_stop = 0;
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	for (unsigned long i = 0; !ret && !top_stop; i++) {
		ret = frame(&c, io, cmd->interval_s, &e);
		if (cmd->iterations && i + 1 >= cmd->iterations)
			break;
		if (!ret)
			pause_s(cmd->interval_s);
	}
	sigaction(SIGTERM, &old_term, NULL);
	sigaction(SIGINT, &old_int, NULL);
	bctl_client_close(&c);
	if (ret)
		goto err_print;
	return CTL_EXIT_OK;
err_print:
	bctl_print_error(io, &e);
	return CTL_EXIT_FAIL;
}
