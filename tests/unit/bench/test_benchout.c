/* test_benchout.c: fio terse lines and wrk reports (captured from the real
 * tools) read into numbers; damaged ones refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/benchout.h"
#include "util/util.h"

static char *slurp(const char *name, size_t *len)
{
	char path[256], *text;
	size_t n;

	snprintf(path, sizeof(path), "tests/unit/bench/%s", name);
	assert_int_equal(file_read_all(path, 1 << 20, &text, &n), 0);
	if (len)
		*len = n;
	return text;
}

static void fio_read_job(void **state)
{
	struct fio_result r;
	char *t = slurp("fio-read.terse", NULL);

	(void)state;
	assert_int_equal(fio_terse_parse(t, &r), 0);
	assert_false(r.write);
	assert_true(r.kib > 0 && r.bw_kibs > 0 && r.iops > 0);
	assert_true(r.runtime_ms > 900 && r.runtime_ms < 1200);
	assert_true(r.clat_p50_us > 0 && r.clat_p99_us >= r.clat_p50_us);
	free(t);
}

static void fio_write_job(void **state)
{
	struct fio_result r;
	char *t = slurp("fio-randwrite.terse", NULL);

	(void)state;
	assert_int_equal(fio_terse_parse(t, &r), 0);
	assert_true(r.write);
	assert_true(r.iops > 0);
	/* 4 KiB blocks: bandwidth and IOPS agree. */
	assert_true(r.bw_kibs / r.iops > 3.5 && r.bw_kibs / r.iops < 4.5);
	assert_true(r.clat_p99_us >= r.clat_p50_us);
	free(t);
}

static void fio_damaged(void **state)
{
	struct fio_result r;
	char *t = slurp("fio-read.terse", NULL);
	size_t semi;

	(void)state;
	assert_int_equal(fio_terse_parse("", &r), -1);
	assert_int_equal(fio_terse_parse("3;fio-3.33;t", &r), -1);
	t[0] = '2';   /* another terse version */
	assert_int_equal(fio_terse_parse(t, &r), -1);
	t[0] = '3';
	semi = strcspn(t + 20, ";") + 20;   /* a number that is not one */
	t[semi + 1] = 'x';
	assert_int_equal(fio_terse_parse(t, &r), -1);
	free(t);
}

static void wrk_report(void **state)
{
	struct wrk_result r;
	size_t n;
	char *t = slurp("wrk-ok.txt", &n);

	(void)state;
	assert_int_equal(wrk_parse(t, n, &r), 0);
	assert_true(r.rps > 1143.0 && r.rps < 1143.1);
	assert_true(r.requests == 1149 && r.duration_s > 1.0 && r.duration_s < 1.02);
	assert_true(r.lat_p50_ms > 4.46 && r.lat_p50_ms < 4.48);
	assert_true(r.lat_p99_ms > 17.91 && r.lat_p99_ms < 17.93);
	assert_true(r.lat_max_ms > 31.97 && r.lat_max_ms < 31.99);
	assert_true(r.errors == 0);
	assert_true(r.bytes > 209 * 1024 && r.bytes < 210 * 1024);
	free(t);
}

static void wrk_errors_and_units(void **state)
{
	struct wrk_result r;
	size_t n;
	char *t = slurp("wrk-errors.txt", &n);

	(void)state;
	assert_int_equal(wrk_parse(t, n, &r), 0);
	assert_true(r.errors == 10);   /* read 2 + timeout 3 + 5 non-2xx */
	assert_true(r.lat_p50_ms > 0.59 && r.lat_p50_ms < 0.61);   /* us */
	assert_true(r.lat_max_ms > 1019 && r.lat_max_ms < 1021);     /* s */
	free(t);
}

static void wrk_damaged(void **state)
{
	struct wrk_result r;
	const char *refused = "unable to connect to 10.77.0.20:80 Connection refused\n";

	(void)state;
	assert_int_equal(wrk_parse(refused, strlen(refused), &r), -1);
	const char *bad = "    Latency  5.29xx  3.24ms  31.98ms  88%\n     50%  1ms\n     99%  2ms\nRequests/sec: 1\n";
	assert_int_equal(wrk_parse(bad, strlen(bad), &r), -1);
	const char *neg = "     50%  -1ms\n     99%  2ms\nRequests/sec: 1\n";
	assert_int_equal(wrk_parse(neg, strlen(neg), &r), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(fio_read_job),      cmocka_unit_test(fio_write_job), cmocka_unit_test(fio_damaged),
		cmocka_unit_test(wrk_report),        cmocka_unit_test(wrk_errors_and_units),
		cmocka_unit_test(wrk_damaged),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
