/* SPDX-License-Identifier: MIT */
/*
 * vm_memory.c - x-bvm-query-memory: the same memory seen four ways.
 *   guest:  the memory manager's last published snapshot (what the guest
 *           OS believes: free, anon, cache, balloon, swap, reclaim counters)
 *   driver: the balloon driver's counters (published by the vCPU thread)
 *   device: the balloon device's counters, including bytes released to
 *           the host kernel
 *   host:   this process's RSS from /proc/self/status - the ground truth
 * Sizes are bytes; counts are counts.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vm_int.h"

int vm_read_rss(struct vm_rss *out)
{
	char line[256];
	unsigned long long kb;
	FILE *f = fopen("/proc/self/status", "re");

	memset(out, 0, sizeof(*out));
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "RssAnon: %llu kB", &kb) == 1)
			out->anon = kb * 1024;
		else if (sscanf(line, "RssFile: %llu kB", &kb) == 1)
			out->file = kb * 1024;
		else if (sscanf(line, "RssShmem: %llu kB", &kb) == 1)
			out->shmem = kb * 1024;
	}
	fclose(f);
	return 0;
}

static void put(struct json_object *o, const char *k, uint64_t v)
{
	json_object_object_add(o, k, json_object_new_int64((int64_t)v));
}

#define PG(x) ((x)*GMM_PAGE_SIZE)

static struct json_object *guest_json(struct vm *vm)
{
	struct json_object *o = json_object_new_object();
	struct gmm_stats s;

	if (!o)
		return NULL;
	gmm_stats_snapshot(vm->cpu.gmm, &s);
	put(o, "total", PG(s.total));
	put(o, "free", PG(s.free));
	put(o, "free-discarded", PG(s.free_clean));
	put(o, "reported", PG(s.reported));
	put(o, "anon", PG(s.anon));
	put(o, "cache", PG(s.cache));
	put(o, "balloon", PG(s.balloon));
	put(o, "kernel", PG(s.kernel));
	put(o, "swap-total", PG(s.swap_total));
	put(o, "swap-used", PG(s.swap_used));
	put(o, "watermark-min", PG(s.wmark_min));
	put(o, "watermark-low", PG(s.wmark_low));
	put(o, "watermark-high", PG(s.wmark_high));
	put(o, "floor", PG(s.floor));
	put(o, "mem-total", s.memtotal_bytes);
	put(o, "mem-free", s.memfree_bytes);
	put(o, "mem-available", s.avail_bytes);
	put(o, "disk-caches", s.caches_bytes);
	put(o, "swap-in", s.swap_in_bytes);
	put(o, "swap-out", s.swap_out_bytes);
	put(o, "major-faults", s.major_faults);
	put(o, "minor-faults", s.minor_faults);
	put(o, "oom-kills", s.oom_kills);
	put(o, "alloc-stalls", s.alloc_stalls);
	put(o, "async-scans", s.async_scan);
	put(o, "direct-scans", s.direct_scan);
	put(o, "async-reclaims", s.async_reclaim);
	put(o, "direct-reclaims", s.direct_reclaim);
	put(o, "cache-hits", s.cache_hits);
	put(o, "cache-misses", s.cache_misses);
	put(o, "io-errors", s.io_errors);
	put(o, "oom-notified", PG(s.oom_notified));
	put(o, "balloon-allocs", s.balloon_allocs);
	put(o, "balloon-frees", s.balloon_frees);
	return o;
}

static struct json_object *driver_json(struct vm *vm)
{
	struct json_object *o = json_object_new_object();
	struct vm_snap sn;

	if (!o)
		return NULL;
	pthread_mutex_lock(&vm->lock);
	sn = vm->snap;
	pthread_mutex_unlock(&vm->lock);
	put(o, "features", sn.drv_features);
	put(o, "balloon", PG(sn.balloon_pages));
	put(o, "inflate-reqs", sn.drv.inflate_reqs);
	put(o, "deflate-reqs", sn.drv.deflate_reqs);
	put(o, "pages-inflated", sn.drv.pages_inflated);
	put(o, "pages-deflated", sn.drv.pages_deflated);
	put(o, "oom-deflated", sn.drv.oom_deflated);
	put(o, "reported-pages", sn.drv.reported_pages);
	put(o, "stats-sent", sn.drv.stats_sent);
	put(o, "alloc-failures", sn.drv.alloc_failures);
	if (sn.drv_err)
		json_object_object_add(
		        o, "error",
		        json_object_new_string(strerror(-sn.drv_err)));
	return o;
}

static const char *const rej_names[BLN_REJ_NR] = {
        "chain",   "length",        "oversize", "range",   "duplicate",
        "already", "not-ballooned", "writable", "release", "stats",
};

static struct json_object *device_json(struct vm *vm)
{
	struct json_object *o = json_object_new_object();
	struct json_object *rej = json_object_new_object();
	struct bln_device_counters c;

	if (!o || !rej) {
		json_object_put(o);
		json_object_put(rej);
		return NULL;
	}
	bln_device_counters(vm->dev, &c);
	put(o, "features", bln_device_features(vm->dev));
	json_object_object_add(
	        o, "ready", json_object_new_boolean(bln_device_ready(vm->dev)));
	put(o, "target", PG((uint64_t)bln_device_target(vm->dev)));
	put(o, "actual", PG((uint64_t)bln_device_actual(vm->dev)));
	put(o, "ballooned", PG(bln_device_ballooned(vm->dev)));
	put(o, "inflate-reqs", c.inflate_reqs);
	put(o, "deflate-reqs", c.deflate_reqs);
	put(o, "pages-inflated", c.pages_inflated);
	put(o, "pages-deflated", c.pages_deflated);
	put(o, "ranges-released", c.ranges_released);
	put(o, "bytes-released", c.bytes_released);
	put(o, "reported-pages", c.reported_pages);
	put(o, "stats-updates", c.stats_updates);
	for (unsigned i = 0; i < BLN_REJ_NR; i++)
		put(rej, rej_names[i], c.rejected[i]);
	json_object_object_add(o, "rejected", rej);
	return o;
}

static struct json_object *host_json(void)
{
	struct json_object *o = json_object_new_object();
	struct vm_rss r;

	if (!o)
		return NULL;
	vm_read_rss(&r);
	put(o, "rss-anon", r.anon);
	put(o, "rss-file", r.file);
	put(o, "rss-shmem", r.shmem);
	put(o, "rss", r.anon + r.shmem);
	return o;
}

struct json_object *vm_query_memory(void *ctx)
{
	struct vm *vm = ctx;
	struct json_object *o = json_object_new_object();
	struct json_object *parts[4] = {guest_json(vm), driver_json(vm),
	                                device_json(vm), host_json()};
	static const char *const names[4] = {"guest", "driver", "device",
	                                     "host"};
	bool ok = o != NULL;

	for (unsigned i = 0; i < 4; i++)
		ok = ok && parts[i];
	if (!ok) {
		json_object_put(o);
		for (unsigned i = 0; i < 4; i++)
			json_object_put(parts[i]);
		return NULL;
	}
	put(o, "ram", vm->cfg.memory);
	put(o, "firmware", vm->fw_bytes);
	for (unsigned i = 0; i < 4; i++)
		json_object_object_add(o, names[i], parts[i]);
	return o;
}
