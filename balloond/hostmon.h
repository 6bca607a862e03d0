/* SPDX-License-Identifier: MIT */
/*
 * hostmon.h - host memory monitor: /proc/meminfo (MemTotal, MemFree,
 * MemAvailable) and /proc/pressure/memory (PSI "some"/"full" avg10), read
 * under a configurable root so tests can inject fake files.
 * Return contract: 0 or -errno.
 */
#ifndef BD_HOSTMON_H
#define BD_HOSTMON_H

#include <stdbool.h>
#include <stdint.h>

struct bd_host {
	uint64_t total, free, avail;   /* bytes */
	double psi_some10, psi_full10; /* percent, avg10 */
	bool psi_valid;                /* the kernel has PSI (CONFIG_PSI) */
	bool valid;                    /* meminfo was read */
};

/* Parse meminfo text.  0, or -EINVAL if MemTotal/MemFree are missing
 * (MemAvailable missing: avail = free). */
int bd_host_parse_meminfo(const char *text, struct bd_host *h);
/* Parse PSI text ("some avg10=..", "full avg10=..").  0 or -EINVAL. */
int bd_host_parse_psi(const char *text, struct bd_host *h);
/* Read both files under @proc_root (normally "/proc").  A missing PSI file is
 * not an error (psi_valid = false); 0 or the meminfo error. */
int bd_host_read(const char *proc_root, struct bd_host *h);

#endif
