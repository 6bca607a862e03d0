/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bc_util.h>

#include "hostmon.h"

/* "Key:   12345 kB" -> bytes.  True if found. */
static bool meminfo_field(const char *text, const char *key, uint64_t *out)
{
	size_t klen = strlen(key);

	for (const char *p = text; p && *p;
	     p = strchr(p, '\n'), p = p ? p + 1 : p) {
		if (strncmp(p, key, klen) || p[klen] != ':')
			continue;
		char *end;
		errno = 0;
		unsigned long long v = strtoull(p + klen + 1, &end, 10);
		if (errno || end == p + klen + 1)
			return false;
		while (*end == ' ')
			end++;
		if (!strncmp(end, "kB", 2)) {
			if (v > UINT64_MAX / 1024)
				return false;
			v *= 1024;
		}
		*out = v;
		return true;
	}
	return false;
}

int bd_host_parse_meminfo(const char *text, struct bd_host *h)
{
	if (!meminfo_field(text, "MemTotal", &h->total) ||
	    !meminfo_field(text, "MemFree", &h->free))
		return -EINVAL;
	if (!meminfo_field(text, "MemAvailable", &h->avail))
		h->avail = h->free;
	return 0;
}

static bool psi_avg10(const char *text, const char *kind, double *out)
{
	size_t klen = strlen(kind);

	for (const char *p = text; p && *p;
	     p = strchr(p, '\n'), p = p ? p + 1 : p) {
		if (strncmp(p, kind, klen) || p[klen] != ' ')
			continue;
		const char *a = strstr(p, "avg10=");
		const char *nl = strchr(p, '\n');
		if (!a || (nl && a > nl))
			return false;
		char *end;
		double v = strtod(a + 6, &end);
		if (end == a + 6 || !isfinite(v) || v < 0)
			return false;
		*out = v;
		return true;
	}
	return false;
}

int bd_host_parse_psi(const char *text, struct bd_host *h)
{
	if (!psi_avg10(text, "some", &h->psi_some10))
		return -EINVAL;
	/* "full" appeared with Linux 5.13 for memory; absent means 0 */
	if (!psi_avg10(text, "full", &h->psi_full10))
		h->psi_full10 = 0;
	return 0;
}

static int read_under(const char *root, const char *rel, char **text)
{
	char path[PATH_MAX];

	if (snprintf(path, sizeof(path), "%s/%s", root, rel) >=
	    (int)sizeof(path))
		return -ENAMETOOLONG;
	return bc_read_file(path, 1 << 20, text, NULL);
}

int bd_host_read(const char *proc_root, struct bd_host *h)
{
	char *text = NULL;
	int ret = read_under(proc_root, "meminfo", &text);

	h->valid = false;
	if (ret)
		return ret;
	ret = bd_host_parse_meminfo(text, h);
	free(text);
	if (ret)
		return ret;
	h->valid = true;
	h->psi_valid = false;
	h->psi_some10 = h->psi_full10 = 0;
	if (read_under(proc_root, "pressure/memory", &text) == 0) {
		h->psi_valid = bd_host_parse_psi(text, h) == 0;
		free(text);
	}
	return 0;
}
