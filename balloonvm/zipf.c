/* SPDX-License-Identifier: MIT */
/*
 * zipf.c - Zipf sampling by rejection-inversion.  With h(x) = x^-q and H its
 * antiderivative, a continuous x is drawn by inverting H over
 * [H(1.5) - h(1), H(n + 0.5)], rounded to the nearest integer k, and
 * accepted when it falls in the part of the hat that lies under h(k); the
 * acceptance rate is high for every q, so this is O(1) per sample.
 */
#include "zipf.h"

#include <errno.h>
#include <math.h>

/* expm1(t) / t, and log1p(t) / t, continuous at t = 0. */
static double expm1_over(double t)
{
	return fabs(t) > 1e-8 ? expm1(t) / t : 1.0 + t / 2.0;
}

static double log1p_over(double t)
{
	return fabs(t) > 1e-8 ? log1p(t) / t : 1.0 - t / 2.0;
}

static double h(const struct zipf *z, double x)
{
	return exp(-z->q * log(x));
}

/* H(x) = (x^(1-q) - 1) / (1-q), log(x) when q = 1. */
static double H(const struct zipf *z, double x)
{
	double lx = log(x);

	return expm1_over((1.0 - z->q) * lx) * lx;
}

static double H_inv(const struct zipf *z, double y)
{
	double t = (1.0 - z->q) * y;

	if (t < -1.0) /* numerical edge: clamp into the domain */
		t = -1.0;
	return exp(log1p_over(t) * y);
}

int bvm_zipf_init(struct zipf *z, uint64_t n, double alpha)
{
	if (!z || !n || !(alpha >= 0.0) || alpha > 10.0)
		return -EINVAL;
	z->n = n;
	z->q = alpha;
	z->h_x1 = H(z, 1.5) - 1.0;
	z->h_n = H(z, (double)n + 0.5);
	z->s = 2.0 - H_inv(z, H(z, 2.5) - h(z, 2.0));
	return 0;
}

uint64_t bvm_zipf_next(const struct zipf *z, uint64_t *rng)
{
	if (z->q == 0.0 || z->n == 1)
		return zipf_rand_below(rng, z->n);
	for (;;) {
		double u = z->h_n + zipf_rand_unit(rng) * (z->h_x1 - z->h_n);
		double x = H_inv(z, u);
		double kd = floor(x + 0.5);
		uint64_t k;

		if (kd < 1.0)
			kd = 1.0;
		if (kd > (double)z->n)
			kd = (double)z->n;
		k = (uint64_t)kd;
		if (kd - x <= z->s || u >= H(z, kd + 0.5) - h(z, kd))
			return k - 1;
	}
}
