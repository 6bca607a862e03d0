/* SPDX-License-Identifier: MIT */
/*
 * zipf.h - a small PRNG (splitmix64) and a Zipf(alpha) sampler over ranks
 * 0..n-1 (rank 0 the most popular), O(1) per sample and O(1) memory whatever
 * n is (rejection-inversion, Hoermann & Derflinger 1996).  alpha = 0 is the
 * uniform distribution.  Internal to balloonvm's workloads.
 */
#ifndef BALLOONVM_ZIPF_H
#define BALLOONVM_ZIPF_H

#include <stdint.h>

/* splitmix64: a full-period 64-bit generator; *s is the state. */
static inline uint64_t zipf_rand(uint64_t *s)
{
	uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* Uniform in [0, n) (n > 0), by a 64x64->128 multiply. */
static inline uint64_t zipf_rand_below(uint64_t *s, uint64_t n)
{
	return (uint64_t)(((unsigned __int128)zipf_rand(s) * n) >> 64);
}

/* Uniform double in [0, 1). */
static inline double zipf_rand_unit(uint64_t *s)
{
	return (double)(zipf_rand(s) >> 11) * 0x1.0p-53;
}

struct zipf {
	uint64_t n;
	double q;    /* exponent alpha */
	double h_x1; /* H(1.5) - h(1) */
	double h_n;  /* H(n + 0.5) */
	double s;    /* squeeze bound */
};

/* Set up for ranks 0..@n-1 with exponent @alpha (0 <= alpha <= 10).
 * Returns 0 or -EINVAL. */
int bvm_zipf_init(struct zipf *z, uint64_t n, double alpha);

/* One rank in [0, n). */
uint64_t bvm_zipf_next(const struct zipf *z, uint64_t *rng);

#endif
