/* test_fault.c: the fault bench's series (the client's wrk loop, the guest
 * writer's log) read and turned into figures; damaged text refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/fault.h"
#include "util/util.h"

#define T0 1796000000000.0   /* a Unix time in ms */

static char *slurp(const char *name)
{
	char path[256], *text;
	size_t n;

	snprintf(path, sizeof(path), "tests/unit/bench/%s", name);
	assert_int_equal(file_read_all(path, 1 << 20, &text, &n), 0);
	return text;
}

/* The client's loop: 40 windows of a second; the server answers (a real wrk
 * report) except from 10 to 25 s (a real report of a stalled server), and
 * one window with nothing printed (wrk could not connect). */
static char *loop_text(void)
{
	char *ok = slurp("wrk-errors.txt"), *stalled = slurp("wrk-stalled.txt");
	size_t cap = 40 * (strlen(ok) + strlen(stalled) + 64), n = 0;
	char *t = malloc(cap);

	for (int k = 0; k < 40; k++) {
		n += (size_t)snprintf(t + n, cap - n, "@ %.0f\n", T0 + k * 1000.0 + (k % 3));
		if (k == 12)
			n += (size_t)snprintf(t + n, cap - n, "unable to connect to 10.77.0.20:80 Connection refused\n");
		else
			n += (size_t)snprintf(t + n, cap - n, "%s", k >= 10 && k < 25 ? stalled : ok);
	}
	free(ok);
	free(stalled);
	return t;
}

static void windows_read(void **state)
{
	struct fault_window *w;
	size_t n;
	char *t = loop_text();

	(void)state;
	assert_int_equal(fault_windows_parse(t, strlen(t), &w, &n), 0);
	assert_int_equal(n, 40);
	assert_true(w[0].parsed && w[0].rps == 200 && w[0].requests == 400 && w[0].errors == 10);
	assert_true(w[11].parsed && w[11].requests == 0 && w[11].rps == 0);
	assert_false(w[12].parsed);
	assert_true(w[12].requests == 0);
	assert_true(w[39].t_ms == T0 + 39000);
	free(w);
	free(t);
}

static void windows_damaged(void **state)
{
	struct fault_window *w;
	size_t n;
	const char *bad[] = {
		"Running 1s test\n@ 1796000000000\n",     /* text before the first window */
		"@ 1796000000000\n@ 1795000000000\n",     /* time going back */
		"@ 17960000000000000000\n",               /* not a time */
		"@ 12\n",                                 /* nor this */
		"@ 1796000000000x\n",
		"@ -1796000000000\n",
	};
	(void)state;
	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		assert_int_equal(fault_windows_parse(bad[k], strlen(bad[k]), &w, &n), -1);
		assert_null(w);
	}
	/* More windows than the bound. */
	size_t cap = (FAULT_MAX_WINDOWS + 2) * 20, len = 0;
	char *t = malloc(cap);
	for (int k = 0; k < FAULT_MAX_WINDOWS + 1; k++)
		len += (size_t)snprintf(t + len, cap - len, "@ %.0f\n", T0 + k);
	assert_int_equal(fault_windows_parse(t, len, &w, &n), -1);
	free(t);
	assert_int_equal(fault_windows_parse("", 0, &w, &n), 0);
	assert_int_equal(n, 0);
	free(w);
}

static void ios_read(void **state)
{
	struct fault_io *io;
	size_t n;
	const char *t = "1796000000050 530\n1796000000100 21000000\r\n\n1796000000150 264\n";

	(void)state;
	assert_int_equal(fault_ios_parse(t, strlen(t), -50, &io, &n), 0);
	assert_int_equal(n, 3);
	assert_true(io[0].t_ms == T0 && fabs(io[0].lat_ms - 0.53) < 1e-9);
	assert_true(io[1].lat_ms == 21000);
	free(io);
	const char *bad[] = { "1796000000050\n", "1796000000050 x\n", "1796000000050 5 6\n", "12 5\n",
			      "1796000000050 99999999999999\n", "1796000000050  5\n" };
	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		assert_int_equal(fault_ios_parse(bad[k], strlen(bad[k]), 0, &io, &n), -1);
		assert_null(io);
	}
}

/* A writer completing every 50 ms but for the gap [from, to) (ms from T0),
 * one write stuck through it (its latency the gap). */
static struct fault_io *writer(double from, double to, double end, size_t *n)
{
	struct fault_io *io = calloc((size_t)(end / 50) + 2, sizeof(*io));

	*n = 0;
	for (double t = 50; t <= end; t += 50) {
		if (t > from && t < to)
			continue;
		io[*n].t_ms = T0 + t;
		io[*n].lat_ms = t >= to && t < to + 50 ? to - from : 0.4;
		(*n)++;
	}
	return io;
}

static void figures_of_an_outage(void **state)
{
	struct fault_window *w;
	struct fault_io *io;
	size_t nw, nio;
	char *t = loop_text();
	struct fault_result r;
	/* Fault at 10 s, server back at 25 s, end at 40 s; the writer stalls
	 * from 10.2 s to 27.5 s. */
	struct fault_times ft = { T0, T0 + 10000, T0 + 25000, T0 + 40000 };

	(void)state;
	assert_int_equal(fault_windows_parse(t, strlen(t), &w, &nw), 0);
	io = writer(10200, 27500, 40000, &nio);
	fault_analyze(w, nw, io, nio, &ft, &r);
	/* 400 answers a window of about a second. */
	assert_true(fabs(r.baseline_rps - 400) < 2);
	assert_true(r.fault_rps == 0);
	/* Windows 10..24 answered nothing: 15 s (the spans are 1000 +- 2 ms). */
	assert_true(fabs(r.zero_rps_s - 15) < 0.05);
	assert_true(fabs(r.web_gap_s - 15) < 0.05);
	assert_true(r.errors == 15 * 10);   /* windows 25..39 printed 10 errors each */
	assert_true(fabs(r.io_stall_ms - 17300) < 60);
	assert_true(fabs(r.io_stall_at_s - 0.2) < 0.06);
	assert_true(fabs(r.io_recovery_s - 2.5) < 0.06);
	assert_true(r.web_recovery_s >= 0 && r.web_recovery_s < 0.01);   /* window 25 starts at the return */
	int counts[40];
	double lat[40];
	fault_io_bins(io, nio, T0, 40, counts, lat);
	assert_int_equal(counts[5], 20);
	assert_int_equal(counts[15], 0);
	assert_true(lat[27] >= 17000);
	free(io);
	free(w);
	free(t);
}

static void figures_of_a_shrug(void **state)
{
	struct fault_io *io;
	size_t nio;
	struct fault_result r;
	struct fault_times ft = { T0, T0 + 10000, T0 + 25000, T0 + 40000 };

	(void)state;
	/* A 1.5 s hiccup at 10 s, nothing at the return: recovery 0. */
	io = writer(10000, 11500, 40000, &nio);
	fault_analyze(NULL, 0, io, nio, &ft, &r);
	assert_true(fabs(r.io_stall_ms - 1500) < 60);
	assert_true(r.io_recovery_s == 0);
	assert_true(isnan(r.baseline_rps) && isnan(r.web_recovery_s));
	/* The writer's ordinary 50 ms pace across the return is no stall. */
	struct fault_times mid = { T0, T0 + 10000, T0 + 25025, T0 + 40000 };
	fault_analyze(NULL, 0, io, nio, &mid, &r);
	assert_true(r.io_recovery_s == 0);
	/* A writer whose first write came 5 s after the start: that wait is a
	 * stall too (it could be the fault's). */
	struct fault_times late = { T0 - 5000, T0 + 10000, T0 + 25000, T0 + 40000 };
	fault_analyze(NULL, 0, io, nio, &late, &r);
	assert_true(fabs(r.io_stall_ms - 5050) < 1);
	assert_true(fabs(r.io_first_s - 5.05) < 0.001);
	free(io);
	/* The writer froze at 12 s for good: a stall to the end, no recovery. */
	io = writer(12000, 1e9, 40000, &nio);
	fault_analyze(NULL, 0, io, nio, &ft, &r);
	assert_true(fabs(r.io_stall_ms - 28000) < 60);
	assert_true(isnan(r.io_recovery_s));
	free(io);
	/* No log at all (the guest died): nothing to say. */
	fault_analyze(NULL, 0, NULL, 0, &ft, &r);
	assert_true(isnan(r.io_stall_ms) && r.writes == 0);
}

/* A minimal wrk report: n requests in d seconds. */
static int report(char *out, size_t cap, int n, double d)
{
	return snprintf(out, cap,
			"Running 1s test @ http://10.77.0.20/\n  1 threads and 16 connections\n  Latency Distribution\n"
			"     50%%    2.00ms\n     75%%    3.00ms\n     90%%    4.00ms\n     99%%   10.00ms\n"
			"  %d requests in %.2fs, 1.00MB read\nRequests/sec: %10.2f\nTransfer/sec:      1.00MB\n",
			n, d, n / d);
}

/* wrk's first connect waited from 10 s until the guest answered again at
 * 24 s (the server came back at 23 s): its run, 24-25 s, is after the
 * return; the stretch without an answer is 10-24 s. */
static void figures_of_a_blocked_connect(void **state)
{
	char *t = malloc(1 << 16);
	size_t n = 0, nw;
	struct fault_window *w;
	struct fault_result r;
	struct fault_times ft = { T0, T0 + 10000, T0 + 23000, T0 + 30000 };
	double starts[] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 25, 26, 27, 28, 29 };

	(void)state;
	for (size_t k = 0; k < sizeof(starts) / sizeof(starts[0]); k++) {
		n += (size_t)snprintf(t + n, (1 << 16) - n, "@ %.0f\n", T0 + starts[k] * 1000);
		n += (size_t)report(t + n, (1 << 16) - n, starts[k] == 10 ? 300 : 500, 1.0);
	}
	assert_int_equal(fault_windows_parse(t, n, &w, &nw), 0);
	assert_int_equal(nw, 16);
	assert_true(fault_window_run_from(w, nw, 10) == T0 + 24000);
	assert_true(fabs(fault_window_rate(w, nw, 10) - 300) < 1e-6);
	fault_analyze(w, nw, NULL, 0, &ft, &r);
	assert_true(fabs(r.baseline_rps - 500) < 1e-6);
	assert_true(r.fault_rps == 0);
	assert_true(fabs(r.web_gap_s - 14) < 1e-6);
	assert_true(fabs(r.zero_rps_s - 14) < 1e-6);
	assert_true(fabs(r.web_recovery_s - 1) < 1e-6);
	free(w);
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(windows_read),         cmocka_unit_test(windows_damaged),
		cmocka_unit_test(ios_read),             cmocka_unit_test(figures_of_an_outage),
		cmocka_unit_test(figures_of_a_shrug),   cmocka_unit_test(figures_of_a_blocked_connect),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
