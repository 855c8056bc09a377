/* stats.h: summary statistics for repeated measurements (downtime trials). */
#ifndef FERRY_STATS_H
#define FERRY_STATS_H

#include <stddef.h>
#include <stdint.h>

struct stats {
	size_t n;
	double mean, median, stddev;   /* stddev: sample (n-1); 0 when n < 2 */
	double min, max, p95;
	double median_ci_lo, median_ci_hi;   /* 95% bootstrap interval of the median */
};

/* Percentile p (0..100) of sorted v[0..n-1], linear interpolation between
 * closest ranks (numpy's default). n must be > 0. */
double stats_percentile_sorted(const double *v, size_t n, double p);
/* Fills s from v[0..n-1] (v is not changed). -EINVAL when n == 0.
 * The bootstrap draws `resamples` samples with a fixed seed: the same data
 * gives the same interval. */
int stats_compute(const double *v, size_t n, unsigned resamples, uint64_t seed, struct stats *s);

#endif
