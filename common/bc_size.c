/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bc_util.h"

struct unit {
	const char *name;
	unsigned shift;
};

/* virsh and xl read K/M/G as binary units; so do we, with or without "iB". */
static const struct unit units[] = {
        {"", 0},     {"b", 0},   {"k", 10},   {"kb", 10},  {"kib", 10},
        {"m", 20},   {"mb", 20}, {"mib", 20}, {"g", 30},   {"gb", 30},
        {"gib", 30}, {"t", 40},  {"tb", 40},  {"tib", 40},
};

static int unit_shift(const char *suffix, unsigned *shift)
{
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (!strcasecmp(suffix, units[i].name)) {
			*shift = units[i].shift;
			return 0;
		}
	}
	return -EINVAL;
}

int bc_parse_size(const char *s, uint64_t *bytes)
{
	const char *p = s;
	char *end;
	unsigned shift;

	if (!s || !isdigit((unsigned char)*p))
		return -EINVAL;
	errno = 0;
	unsigned long long whole = strtoull(p, &end, 10);
	if (errno)
		return -ERANGE;
	if (*end == '.') {
		double v = strtod(p, &end);
		if (unit_shift(end, &shift) || shift == 0 || !isfinite(v))
			return -EINVAL;
		double b = v * (double)(UINT64_C(1) << shift);
		if (b >= 18446744073709551615.0)
			return -ERANGE;
		*bytes = (uint64_t)b;
		return 0;
	}
	if (unit_shift(end, &shift))
		return -EINVAL;
	if (shift && whole > (UINT64_MAX >> shift))
		return -ERANGE;
	*bytes = (uint64_t)whole << shift;
	return 0;
}

char *bc_format_size(uint64_t bytes, char *buf, size_t len)
{
	static const char *const names[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	unsigned i = 0;
	uint64_t unit = 1;

	while (i < 4 && bytes / 1024 >= unit) {
		unit *= 1024;
		i++;
	}
	if (bytes % unit == 0)
		snprintf(buf, len, "%llu %s",
		         (unsigned long long)(bytes / unit), names[i]);
	else
		snprintf(buf, len, "%.2f %s", (double)bytes / (double)unit,
		         names[i]);
	return buf;
}
