/* test_report.c: the bench report holds the plots the data calls for. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "report/report.h"

static int count(const char *hay, const char *needle)
{
	int n = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/* A run: pause from 1000 ms to 1000 + pause after t0, ICMP replies every
 * 1 ms except inside [1000, 1000 + gap). */
static json_t *run(const char *mode, int i, double pause, int gap)
{
	const json_int_t t0 = 1700000000000000;
	json_t *icmp = json_array();
	for (int ms = 0; ms < 2000; ms++)
		if (ms < 1000 || ms >= 1000 + gap)
			json_array_append_new(icmp, json_integer(ms * 10));
	return json_pack("{s:s, s:i, s:s, s:s, s:s, s:f, s:f, s:i, s:I, s:I, s:{s:{s:I, s:I}, s:{s:I, s:o}}}", "bench_mode", mode,
			 "bench_run", i, "status", "completed", "src", "a", "dst", "b", "pause_ms", pause, "net_gap_ms",
			 (double)gap, "total_ms", 700 + i, "stop_us", t0 + 1000000, "resume_us", t0 + 1000000 + (json_int_t)(pause * 1000),
			 "probe", "icmp", "longest_gap_from_us", t0 + 999000, "longest_gap_to_us", t0 + (1000 + gap) * 1000,
			 "timeline", "t0_us", t0, "icmp", icmp);
}

static void test_report(void **state)
{
	(void)state;
	json_t *runs = json_array();
	for (int i = 1; i <= 3; i++) {
		json_array_append_new(runs, run("live", i, 10 + i, 90 + i));
		json_array_append_new(runs, run("live-postcopy", i, 40 + i, 150 + i));
	}
	json_t *stat = json_pack("{s:f, s:f, s:f, s:f, s:f, s:f, s:I, s:[f,f]}", "mean", 12.0, "median", 12.0, "sd", 1.0,
				 "min", 11.0, "max", 13.0, "p95", 12.9, "n", (json_int_t)3, "median_ci95", 11.0, 13.0);
	json_t *bench = json_pack("{s:s, s:[s,s], s:i, s:o, s:{s:{s:O}, s:{s:O}}}", "vm", "web<1>", "hosts", "a", "b",
				  "runs_per_mode", 3, "runs", runs, "stats", "live", "pause_ms", stat, "live-postcopy",
				  "pause_ms", stat);
	json_decref(stat);
	char path[] = "/tmp/ferry-test-report-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	struct ferr err = {0};
	assert_int_equal(report_write(path, bench, &err), 0);

	char *html;
	size_t len;
	assert_int_equal(file_read_all(path, 1 << 24, &html, &len), 0);
	unlink(path);
	assert_non_null(strstr(html, "<!DOCTYPE html>"));
	assert_non_null(strstr(html, "web&lt;1&gt;"));          /* escaped */
	assert_null(strstr(html, "<script"));                 /* nothing to run */
	/* pause, net gap, total have data; QEMU downtime, service, guest gap none. */
	assert_int_equal(count(html, "<svg class=\"boxplot\""), 3);
	assert_non_null(strstr(html, "data-def=\"pause_ms\""));
	assert_null(strstr(html, "data-def=\"guest_gap_ms\""));
	assert_int_equal(count(html, "<g class=\"box\""), 6);   /* 3 plots x 2 modes */
	assert_non_null(strstr(html, "data-mode=\"live\" data-median=\"12.000\""));   /* pause median of 11, 12, 13 */
	assert_int_equal(count(html, "<svg class=\"timeline\""), 2);
	assert_int_equal(count(html, "<rect class=\"pause\""), 2);
	assert_int_equal(count(html, "<rect class=\"gap\""), 2);
	assert_int_equal(count(html, "<tr><td>live</td><td>pause_ms</td>"), 1);
	/* The timeline window is the stop -300 to +700 ms: ~900 replies drawn
	 * minus the gap of the median run (92 ms) for "live". */
	const char *p = strstr(html, "class=\"replies\" data-method=\"icmp\"");
	assert_non_null(p);
	const char *e = strstr(p, "/>");
	int ticks = 0;
	for (const char *q = p; q < e; q++)
		ticks += *q == 'M';
	assert_in_range(ticks, 1000 - 92 - 5, 1000 - 92 + 5);
	free(html);
	json_decref(bench);
}

static void test_unwritable(void **state)
{
	(void)state;
	json_t *bench = json_pack("{s:s, s:[], s:{}}", "vm", "x", "runs", "stats");
	struct ferr err = {0};
	assert_true(report_write("/nonexistent-dir/r.html", bench, &err) < 0);
	assert_non_null(strstr(err.msg, "cannot write /nonexistent-dir/r.html"));
	json_decref(bench);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_report),
		cmocka_unit_test(test_unwritable),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
