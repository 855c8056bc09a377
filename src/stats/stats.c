/* stats.c: mean, median, spread, p95 and a bootstrap interval of the median. */
#include "stats/stats.h"
#include "util/util.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

double stats_percentile_sorted(const double *v, size_t n, double p)
{
	double rank = p / 100.0 * (double)(n - 1);
	size_t lo = (size_t)floor(rank), hi = lo + 1 < n ? lo + 1 : lo;

	return v[lo] + (v[hi] - v[lo]) * (rank - (double)lo);
}

/* xorshift64*: small, fast, and reproducible across machines. */
static uint64_t next_rand(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

int stats_compute(const double *v, size_t n, unsigned resamples, uint64_t seed, struct stats *out)
{
	struct stats s = {0};
	double *sorted, *sample, *medians, sum = 0, sq = 0;

	if (n == 0)
		return -EINVAL;
	sorted = xmalloc(n * sizeof(double));
	memcpy(sorted, v, n * sizeof(double));
	qsort(sorted, n, sizeof(double), cmp_double);
	for (size_t i = 0; i < n; i++)
		sum += v[i];
	s.n = n;
	s.mean = sum / (double)n;
	for (size_t i = 0; i < n; i++)
		sq += (v[i] - s.mean) * (v[i] - s.mean);
	s.stddev = n > 1 ? sqrt(sq / (double)(n - 1)) : 0;
	s.min = sorted[0];
	s.max = sorted[n - 1];
	s.median = stats_percentile_sorted(sorted, n, 50);
	s.p95 = stats_percentile_sorted(sorted, n, 95);
	if (resamples == 0 || n == 1) {
		s.median_ci_lo = s.median_ci_hi = s.median;
	} else {
		uint64_t state = seed ? seed : 0x9e3779b97f4a7c15ULL;
		sample = xmalloc(n * sizeof(double));
		medians = xmalloc(resamples * sizeof(double));
		for (unsigned r = 0; r < resamples; r++) {
			for (size_t i = 0; i < n; i++)
				sample[i] = v[next_rand(&state) % n];
			qsort(sample, n, sizeof(double), cmp_double);
			medians[r] = stats_percentile_sorted(sample, n, 50);
		}
		qsort(medians, resamples, sizeof(double), cmp_double);
		s.median_ci_lo = stats_percentile_sorted(medians, resamples, 2.5);
		s.median_ci_hi = stats_percentile_sorted(medians, resamples, 97.5);
		free(sample);
		free(medians);
	}
	free(sorted);
	*out = s;
	return 0;
}
