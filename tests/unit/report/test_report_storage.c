/* test_report_storage.c: the storage bench's report puts the pools side by
 * side (a bar per pool in each chart, the spread drawn when runs differ),
 * shows skipped jobs as missing bars, and escapes what it prints. */
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

static json_t *fig(double median, double lo, double hi)
{
	return json_pack("{s:f, s:[f, f], s:f, s:f, s:i}", "median", median, "ci95", lo, hi, "min", lo, "max", hi, "n", 3);
}

static void side_by_side(void **state)
{
	char path[] = "/tmp/ferry-sreport-XXXXXX";
	int fd = mkstemp(path);
	struct ferr err = {0};
	char *html;
	size_t len;

	(void)state;
	close(fd);
	json_t *raw = json_array(), *web = json_array();
	const char *pools[] = { "lab-nfs", "lab-smb", "<b>x" };
	for (int p = 0; p < 3; p++) {
		json_array_append_new(raw, json_pack("{s:s, s:s, s:s, s:i, s:i, s:o, s:o}", "pool", pools[p], "side", "guest",
						     "job", "rand-read", "qd", 32, "jobs", 1, "iops", fig(3000 + p, 2900, 3100),
						     "p99_ms", fig(10, 9, 11)));
		/* A job skipped in the guest: keys, no figures. */
		json_array_append_new(raw, json_pack("{s:s, s:s, s:s, s:i, s:i}", "pool", pools[p], "side", "guest", "job",
						     "seq-read", "qd", 32, "jobs", 16));
		json_array_append_new(web, json_pack("{s:s, s:s, s:o}", "pool", pools[p], "cache", "cold", "rps", fig(400, 380, 420)));
	}
	json_t *rec = json_pack("{s:i, s:[{s:s, s:s}], s:{s:o, s:o, s:[]}}", "runs", 3, "pools", "name", "<b>x", "type", "dir",
				"summary", "raw", raw, "web", web, "moves");
	assert_int_equal(report_storage_write(path, rec, &err), 0);
	assert_int_equal(file_read_all(path, 1 << 22, &html, &len), 0);
	assert_int_equal(count(html, "data-chart=\"raw-guest-rand-read\""), 1);
	assert_int_equal(count(html, "data-chart=\"web-rps\""), 1);
	assert_int_equal(count(html, "data-chart=\"move-icmp\""), 0);   /* no moves, no chart */
	/* A bar per pool where it has a figure (IOPS, p99, req/s), and the
	 * spread drawn. */
	assert_int_equal(count(html, "<g class=\"bar\" data-pool=\"lab-nfs\""), 3);
	assert_true(count(html, "class=\"spread\"") >= 3);
	/* The skipped job has a group and no bar. */
	assert_int_equal(count(html, "data-chart=\"raw-guest-seq-read\""), 1);
	/* Escaped, never raw markup. */
	assert_int_equal(count(html, "<b>x"), 0);
	assert_true(count(html, "&lt;b&gt;x") > 0);
	free(html);
	json_decref(rec);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = { cmocka_unit_test(side_by_side) };
	return cmocka_run_group_tests(tests, NULL, NULL);
}
