/* test_stats.c: statistics against values worked out by hand. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <math.h>

#include "stats/stats.h"

#define NEAR(a, b) assert_true(fabs((a) - (b)) < 1e-9)

static void test_odd(void **state)
{
	(void)state;
	double v[] = { 5, 1, 4, 2, 3 };
	struct stats s;

	assert_int_equal(stats_compute(v, 5, 0, 1, &s), 0);
	assert_int_equal(s.n, 5);
	NEAR(s.mean, 3);
	NEAR(s.median, 3);
	NEAR(s.min, 1);
	NEAR(s.max, 5);
	NEAR(s.stddev, sqrt(2.5));         /* sum of squares 10, n-1 = 4 */
	NEAR(s.p95, 4.8);                  /* rank 3.8 between 4 and 5 */
	NEAR(v[0], 5);                     /* input untouched */
}

static void test_even_and_ties(void **state)
{
	(void)state;
	double v[] = { 10, 2, 2, 8 };
	struct stats s;

	assert_int_equal(stats_compute(v, 4, 0, 1, &s), 0);
	NEAR(s.median, 5);                 /* (2 + 8) / 2 */
	NEAR(s.mean, 5.5);
	NEAR(s.p95, 9.7);                  /* rank 2.85: 8 + 0.85 * 2 */
	double t[] = { 7, 7, 7 };
	assert_int_equal(stats_compute(t, 3, 1000, 1, &s), 0);
	NEAR(s.median, 7);
	NEAR(s.stddev, 0);
	NEAR(s.median_ci_lo, 7);
	NEAR(s.median_ci_hi, 7);
}

static void test_single_and_empty(void **state)
{
	(void)state;
	double v[] = { 42 };
	struct stats s;

	assert_int_equal(stats_compute(v, 1, 1000, 1, &s), 0);
	NEAR(s.median, 42);
	NEAR(s.p95, 42);
	NEAR(s.stddev, 0);
	NEAR(s.median_ci_lo, 42);
	NEAR(s.median_ci_hi, 42);
	assert_int_equal(stats_compute(v, 0, 1000, 1, &s), -EINVAL);
}

static void test_bootstrap(void **state)
{
	(void)state;
	double v[31];
	struct stats a, b;

	for (int i = 0; i < 31; i++)
		v[i] = i;                  /* median 15 */
	assert_int_equal(stats_compute(v, 31, 2000, 7, &a), 0);
	assert_int_equal(stats_compute(v, 31, 2000, 7, &b), 0);
	/* Same data, same seed: same interval. */
	NEAR(a.median_ci_lo, b.median_ci_lo);
	NEAR(a.median_ci_hi, b.median_ci_hi);
	/* It holds the median, is not degenerate, and stays well inside the range. */
	assert_true(a.median_ci_lo <= 15 && a.median_ci_hi >= 15);
	assert_true(a.median_ci_hi - a.median_ci_lo >= 2);
	assert_true(a.median_ci_lo >= 5 && a.median_ci_hi <= 25);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_odd),
		cmocka_unit_test(test_even_and_ties),
		cmocka_unit_test(test_single_and_empty),
		cmocka_unit_test(test_bootstrap),
	};
	return cmocka_run_group_tests_name("stats", tests, NULL, NULL);
}
