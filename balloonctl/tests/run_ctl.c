/* SPDX-License-Identifier: MIT */
/* run_ctl.c - TEST CODE ONLY: see run_ctl.h. */
#include "run_ctl.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "ctl.h"

void run_free(struct run *r)
{
	free(r->out);
	free(r->err);
}

/* balloonctl [--socket SOCK] WORDS... (NULL-terminated); SOCK NULL: none. */
struct run ctl(const char *sock, ...)
{
	char *argv[40] = {"balloonctl"};
	int argc = 1;
	struct run r = {0};
	size_t lo, le;
	const char *w;
	va_list ap;

	if (sock) {
		argv[argc++] = "--socket";
		argv[argc++] = (char *)sock;
	}
	va_start(ap, sock);
	while ((w = va_arg(ap, const char *)) && argc < 39)
		argv[argc++] = (char *)w;
	va_end(ap);
	FILE *out = open_memstream(&r.out, &lo);
	FILE *err = open_memstream(&r.err, &le);
	r.rc = bctl_main(argc, argv, out, err);
	fclose(out);
	fclose(err);
	return r;
}

int fake_setup(void **state)
{
	struct fake_daemon *f = calloc(1, sizeof(*f));

	if (!f || fake_start(f))
		return -1;
	*state = f;
	return 0;
}

int fake_teardown(void **state)
{
	fake_stop(*state);
	free(*state);
	return 0;
}

struct json_object *json_out(const struct run *r)
{
	struct json_object *o = json_tokener_parse(r->out);

	if (!o)
		fail_msg("not JSON: '%s'", r->out);
	return o;
}
