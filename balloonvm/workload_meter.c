/* SPDX-License-Identifier: MIT */
/*
 * workload_meter.c - throughput over a sliding one-second window (ten 100 ms
 * slots) and latency histograms (log-linear, <= 6.25 % bucket width).
 */
#include "workload_int.h"

#include <string.h>

static unsigned hist_bucket(uint64_t v)
{
	unsigned msb;

	if (v < 8)
		return (unsigned)v;
	msb = 63u - (unsigned)__builtin_clzll(v);
	return (msb - 2) * 8 + (unsigned)((v >> (msb - 3)) & 7);
}

/* Middle of bucket @b, ns. */
static uint64_t hist_value(unsigned b)
{
	unsigned msb, sub;
	uint64_t lo, width;

	if (b < 8)
		return b;
	msb = b / 8 + 2;
	sub = b % 8;
	lo = (uint64_t)(8 + sub) << (msb - 3);
	width = UINT64_C(1) << (msb - 3);
	return lo + width / 2;
}

static void hist_add(struct wl_hist *h, uint64_t v)
{
	h->b[hist_bucket(v)]++;
	h->n++;
	if (v > h->max)
		h->max = v;
}

uint64_t wl_hist_pct(const struct wl_hist *h, double p)
{
	uint64_t want, seen = 0;

	if (!h->n)
		return 0;
	want = (uint64_t)(p * (double)h->n);
	if (want >= h->n)
		want = h->n - 1;
	for (unsigned b = 0; b < WL_HIST_N; b++) {
		seen += h->b[b];
		if (seen > want) {
			uint64_t v = hist_value(b);

			return v < h->max ? v : h->max;
		}
	}
	return h->max;
}

void wl_meter_init(struct wl_meter *m, uint64_t now)
{
	memset(m, 0, sizeof(*m));
	m->start_ns = now;
	m->cur_t0 = now;
}

/* Roll the per-second histogram over when its second is up. */
static void roll(struct wl_meter *m, uint64_t now)
{
	if (now - m->cur_t0 < WL_HWIN_NS)
		return;
	if (now - m->cur_t0 < 2 * WL_HWIN_NS) {
		m->prev = m->cur;
		m->have_prev = true;
	} else { /* a whole idle second went by: that window was empty */
		memset(&m->prev, 0, sizeof(m->prev));
		m->have_prev = true;
	}
	memset(&m->cur, 0, sizeof(m->cur));
	m->cur_t0 = now;
}

void wl_meter_op(struct wl_meter *m, uint64_t lat_ns, uint64_t now)
{
	uint64_t slot = now / WL_WIN_SLOT_NS;
	unsigned i = (unsigned)(slot % WL_WIN_SLOTS);

	if (m->slot_id[i] != slot + 1) {
		m->slot_id[i] = slot + 1;
		m->slot_ops[i] = 0;
	}
	m->slot_ops[i]++;
	m->ops++;
	roll(m, now);
	hist_add(&m->all, lat_ns);
	hist_add(&m->cur, lat_ns);
}

double wl_meter_rate(struct wl_meter *m, uint64_t now)
{
	uint64_t slot = now / WL_WIN_SLOT_NS, sum = 0, span;

	for (unsigned i = 0; i < WL_WIN_SLOTS; i++)
		if (m->slot_id[i] && m->slot_id[i] - 1 + WL_WIN_SLOTS > slot &&
		    m->slot_id[i] - 1 <= slot)
			sum += m->slot_ops[i];
	/* the window: nine full slots plus the current partial one */
	span = (WL_WIN_SLOTS - 1) * WL_WIN_SLOT_NS + now % WL_WIN_SLOT_NS;
	if (now - m->start_ns < span)
		span = now - m->start_ns;
	if (!span)
		return 0.0;
	return (double)sum * 1e9 / (double)span;
}

const struct wl_hist *wl_meter_window(struct wl_meter *m, uint64_t now)
{
	roll(m, now);
	return m->have_prev ? &m->prev : &m->cur;
}
