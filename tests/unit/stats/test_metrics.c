/* test_metrics.c: an agent's migration metrics: records counted by mode and
 * outcome, completed moves' pause and duration in the right buckets, a
 * client's gaps taken once per recent move, damaged records not counted,
 * and the exposition in Prometheus text (each histogram cumulative). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stats/metrics.h"

static json_t *record(const char *name, const char *mode, const char *status, long long started, double pause_ms,
		      long long total_ms)
{
	return json_pack("{s:s, s:s, s:s, s:I, s:f, s:I}", "name", name, "mode", mode, "status", status, "started_us",
			 started, "pause_ms", pause_ms, "total_ms", total_ms);
}

/* The value of the line that starts with "series " in text. */
static double value(const char *text, const char *series)
{
	char want[256];
	snprintf(want, sizeof(want), "\n%s ", series);
	const char *p = strstr(text, want);
	assert_non_null(p);
	return strtod(p + strlen(want), NULL);
}

static void counts_and_buckets(void **state)
{
	struct metrics m;
	struct buf b = {0};

	(void)state;
	metrics_init(&m, 1796000000);
	json_t *r1 = record("web1", "precopy", "completed", 100, 4.2, 1300);
	json_t *r2 = record("web1", "precopy", "completed", 200, 30.0, 2500);
	json_t *r3 = record("web2", "postcopy", "failed", 300, 0, 900);
	json_t *bad = json_pack("{s:s, s:s, s:s}", "name", "web1", "mode", "teleport", "status", "completed");
	assert_int_equal(metrics_observe_move(&m, r1), 0);
	assert_int_equal(metrics_observe_move(&m, r2), 0);
	assert_int_equal(metrics_observe_move(&m, r3), 0);
	assert_int_equal(metrics_observe_move(&m, bad), -EINVAL);
	metrics_render(&m, &b);
	const char *t = b.data;
	assert_true(value(t, "ferry_migrations_total{mode=\"precopy\",outcome=\"completed\"}") == 2);
	assert_true(value(t, "ferry_migrations_total{mode=\"postcopy\",outcome=\"failed\"}") == 1);
	assert_true(value(t, "ferry_migrations_total{mode=\"suspend\",outcome=\"completed\"}") == 0);
	/* 4.2 ms and 30 ms: cumulative buckets */
	assert_true(value(t, "ferry_migration_pause_seconds_bucket{mode=\"precopy\",le=\"0.002\"}") == 0);
	assert_true(value(t, "ferry_migration_pause_seconds_bucket{mode=\"precopy\",le=\"0.005\"}") == 1);
	assert_true(value(t, "ferry_migration_pause_seconds_bucket{mode=\"precopy\",le=\"0.02\"}") == 1);
	assert_true(value(t, "ferry_migration_pause_seconds_bucket{mode=\"precopy\",le=\"0.05\"}") == 2);
	assert_true(value(t, "ferry_migration_pause_seconds_bucket{mode=\"precopy\",le=\"+Inf\"}") == 2);
	assert_true(value(t, "ferry_migration_pause_seconds_count{mode=\"precopy\"}") == 2);
	assert_true(value(t, "ferry_migration_pause_seconds_sum{mode=\"precopy\"}") > 0.0341 &&
		    value(t, "ferry_migration_pause_seconds_sum{mode=\"precopy\"}") < 0.0343);
	/* the failed move's times are not downtime figures */
	assert_true(value(t, "ferry_migration_duration_seconds_count{mode=\"postcopy\"}") == 0);
	assert_true(value(t, "ferry_migration_duration_seconds_bucket{mode=\"precopy\",le=\"2\"}") == 1);
	assert_true(value(t, "ferry_migration_duration_seconds_bucket{mode=\"precopy\",le=\"5\"}") == 2);
	assert_true(value(t, "ferry_metrics_start_time_seconds") == 1796000000);
	assert_non_null(strstr(t, "# TYPE ferry_migration_client_gap_seconds histogram\n"));
	assert_int_equal(t[b.len - 1], '\n');
	buf_free(&b);
	json_decref(r1);
	json_decref(r2);
	json_decref(r3);
	json_decref(bad);
}

static void gaps_once_per_recent_move(void **state)
{
	struct metrics m;
	struct buf b = {0};
	double gaps[MG_N] = { 150.0, 320.0, -1 };

	(void)state;
	metrics_init(&m, 0);
	json_t *r = record("web1", "precopy", "completed", 12345, 5, 1000);
	assert_int_equal(metrics_observe_move(&m, r), 0);
	assert_int_equal(metrics_observe_gaps(&m, "web1", 999, gaps), -ENOENT);     /* no such move */
	assert_int_equal(metrics_observe_gaps(&m, "web2", 12345, gaps), -ENOENT);
	assert_int_equal(metrics_observe_gaps(&m, "web1", 12345, gaps), 0);
	assert_int_equal(metrics_observe_gaps(&m, "web1", 12345, gaps), -EALREADY); /* once */
	metrics_render(&m, &b);
	assert_true(value(b.data, "ferry_migration_client_gap_seconds_count{mode=\"precopy\",probe=\"icmp\"}") == 1);
	assert_true(value(b.data, "ferry_migration_client_gap_seconds_bucket{mode=\"precopy\",probe=\"icmp\",le=\"0.1\"}") == 0);
	assert_true(value(b.data, "ferry_migration_client_gap_seconds_bucket{mode=\"precopy\",probe=\"icmp\",le=\"0.2\"}") == 1);
	assert_true(value(b.data, "ferry_migration_client_gap_seconds_count{mode=\"precopy\",probe=\"service\"}") == 1);
	assert_true(value(b.data, "ferry_migration_client_gap_seconds_count{mode=\"precopy\",probe=\"guest\"}") == 0);
	buf_free(&b);
	/* a failed move takes no gaps; only the newest METRICS_RECENT do */
	json_t *f = record("web3", "precopy", "failed", 7, 0, 10);
	metrics_observe_move(&m, f);
	assert_int_equal(metrics_observe_gaps(&m, "web3", 7, gaps), -ENOENT);
	for (int i = 0; i < METRICS_RECENT; i++) {
		json_t *x = record("web4", "precopy", "completed", 1000 + i, 5, 1000);
		metrics_observe_move(&m, x);
		json_decref(x);
	}
	/* web1@12345 was pushed out by the 32 newer ones; they all take gaps */
	assert_int_equal(metrics_observe_gaps(&m, "web1", 12345, gaps), -ENOENT);
	assert_int_equal(metrics_observe_gaps(&m, "web4", 1000, gaps), 0);
	assert_int_equal(metrics_observe_gaps(&m, "web4", 1000 + METRICS_RECENT - 1, gaps), 0);
	json_decref(f);
	json_decref(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(counts_and_buckets),
		cmocka_unit_test(gaps_once_per_recent_move),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
