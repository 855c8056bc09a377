/* test_migstats.c: query-migrate replies recorded from QEMU 7.2 (Debian
 * 7.2+dfsg-7+deb12u18: an active pre-copy capped at 20 kB/s, a completed
 * one; and a failed one) parsed into struct mig_stats. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qmp/migstats.h"
#include "util/util.h"

static json_t *line(int n)
{
	char *text, *save = NULL, *l;
	json_t *out = NULL;
	json_error_t je;

	assert_int_equal(file_read_all("tests/unit/qmp/transcripts/query-migrate-7.2.jsonl", 1 << 20, &text, NULL), 0);
	l = strtok_r(text, "\n", &save);
	for (int i = 0; i < n && l; i++)
		l = strtok_r(NULL, "\n", &save);
	assert_non_null(l);
	json_t *whole = json_loads(l, 0, &je);
	out = json_incref(json_object_get(whole, "return"));
	json_decref(whole);
	free(text);
	return out;
}

static void test_active(void **state)
{
	struct mig_stats s;
	json_t *r = line(0);

	(void)state;
	mig_stats_parse(r, &s);
	assert_true(mig_stats_is(&s, "active"));
	assert_int_equal(s.total_ms, 1806);
	assert_int_equal(s.ram_total_bytes, 268967936);
	assert_int_equal(s.ram_remaining_bytes, 267976704);
	assert_int_equal(s.ram_transferred_bytes, 76039);
	assert_int_equal(s.dirty_sync_count, 1);
	assert_int_equal(s.page_size_bytes, 4096);
	assert_true(s.ram_mbps > 0.3 && s.ram_mbps < 0.34);
	double pct = mig_stats_percent(&s);
	assert_true(pct > 0.36 && pct < 0.37);
	/* 267976704 bytes at 0.32976 Mbit/s: ~6501 s. */
	assert_true(mig_stats_eta_s(&s) > 6400 && mig_stats_eta_s(&s) < 6600);
	json_decref(r);
}

static void test_completed_and_failed(void **state)
{
	struct mig_stats s;
	json_t *r = line(1);

	(void)state;
	mig_stats_parse(r, &s);
	assert_true(mig_stats_is(&s, "completed"));
	assert_int_equal(s.downtime_ms, 1);
	assert_int_equal(s.setup_ms, 1);
	assert_int_equal(s.ram_remaining_bytes, 0);
	assert_true(mig_stats_percent(&s) == 100.0);
	assert_int_equal(mig_stats_dirty_bytes_per_s(&s), 0);
	json_decref(r);
	r = line(2);
	mig_stats_parse(r, &s);
	assert_true(mig_stats_is(&s, "failed"));
	assert_string_equal(s.error_desc, "Unable to write to socket: Connection reset by peer");
	assert_int_equal(s.ram_total_bytes, 0);
	assert_true(mig_stats_percent(&s) == 0);
	json_decref(r);
}

static void test_hostile(void **state)
{
	struct mig_stats s;
	json_error_t je;

	(void)state;
	/* No status yet (setup); wrong types, negatives: zeros, never garbage. */
	mig_stats_parse(NULL, &s);
	assert_true(mig_stats_is(&s, "setup"));
	json_t *r = json_loads("{\"status\": 5, \"total-time\": -7, \"ram\": {\"mbps\": \"fast\", \"remaining\": 10,"
			       " \"total\": 5, \"page-size\": 0, \"dirty-pages-rate\": 3}}", 0, &je);
	mig_stats_parse(r, &s);
	assert_true(mig_stats_is(&s, "setup"));
	assert_int_equal(s.total_ms, 0);
	assert_true(s.ram_mbps == 0);
	assert_int_equal(mig_stats_dirty_bytes_per_s(&s), 3 * 4096);
	assert_true(mig_stats_percent(&s) == 0);   /* remaining > total: clamped */
	json_decref(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_active),
		cmocka_unit_test(test_completed_and_failed),
		cmocka_unit_test(test_hostile),
	};
	return cmocka_run_group_tests_name("migstats", tests, NULL, NULL);
}
