/* test_mig.c: migration options and the capabilities/parameters ferry sets
 * on every migration. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "ferryd/mig.h"
#include "ferryd/mig_src.h"

static json_t *cap(json_t *cmd, const char *name)
{
	json_t *c;
	size_t i;

	json_array_foreach(json_object_get(json_object_get(cmd, "arguments"), "capabilities"), i, c)
		if (!strcmp(json_string_value(json_object_get(c, "capability")), name))
			return json_object_get(c, "state");
	return NULL;
}

static void test_defaults_and_roundtrip(void **state)
{
	(void)state;
	struct mig_opts o, back;
	char err[256] = "";

	mig_opts_default(&o);
	assert_int_equal(o.downtime_ms, MIG_DOWNTIME_DEFAULT_MS);
	assert_false(o.downtime_given);
	assert_int_equal(o.postcopy, POSTCOPY_OFF);
	assert_false(o.insecure);          /* TLS unless asked otherwise */
	o.postcopy = POSTCOPY_AUTO;
	o.parallel = 4;
	o.copy_storage = true;
	json_t *j = mig_opts_to_json(&o);
	assert_int_equal(mig_opts_from_json(j, &back, err, sizeof(err)), 0);
	assert_int_equal(back.postcopy, POSTCOPY_AUTO);
	assert_int_equal(back.parallel, 4);
	assert_true(back.copy_storage);
	/* ferry's own default target stays relaxable on the other side too. */
	assert_false(back.downtime_given);
	assert_int_equal(back.cold, COLD_NONE);
	json_decref(j);
	/* A cold move keeps ferry's own (unused) default target: no clash. */
	mig_opts_default(&o);
	o.cold = COLD_SUSPEND;
	j = mig_opts_to_json(&o);
	assert_int_equal(mig_opts_from_json(j, &back, err, sizeof(err)), 0);
	assert_int_equal(back.cold, COLD_SUSPEND);
	json_decref(j);
	o.cold = COLD_REBOOT;
	j = mig_opts_to_json(&o);
	assert_string_equal(json_string_value(json_object_get(j, "cold")), "reboot");
	assert_int_equal(mig_opts_from_json(j, &back, err, sizeof(err)), 0);
	assert_int_equal(back.cold, COLD_REBOOT);
	json_decref(j);
	j = json_pack("{s:i}", "downtime_ms", 40);
	assert_int_equal(mig_opts_from_json(j, &back, err, sizeof(err)), 0);
	assert_true(back.downtime_given);
	assert_int_equal(back.downtime_ms, 40);
	json_decref(j);
}

/* A guest that does not converge at the default 1 ms target goes to 10 ms
 * at once (not 2, 4, 8: three stuck rounds each), then doubles to 1 s. */
static void test_relaxed_downtime(void **state)
{
	(void)state;
	int ms = MIG_DOWNTIME_DEFAULT_MS, seen[16], n = 0;

	while (n < 16 && (seen[n++] = ms = mig_relaxed_downtime(ms)) < MIG_DOWNTIME_MAX_MS)
		;
	assert_int_equal(MIG_DOWNTIME_DEFAULT_MS, 1);
	assert_int_equal(seen[0], 10);
	assert_int_equal(seen[1], 20);
	assert_int_equal(seen[2], 40);
	assert_int_equal(seen[n - 1], MIG_DOWNTIME_MAX_MS);
	assert_int_equal(n, 8);   /* 10 20 40 80 160 320 640 1000 */
	assert_int_equal(mig_relaxed_downtime(MIG_DOWNTIME_MAX_MS), MIG_DOWNTIME_MAX_MS);
}

/* A target is given up after 6 rounds without completing (tiny rounds of a
 * small working set otherwise look like progress for 100+ rounds); a
 * raised one only once it has been in force for 300 ms. */
static void test_target_spent(void **state)
{
	(void)state;
	assert_false(mig_target_spent(0, -1));
	assert_false(mig_target_spent(MIG_ROUNDS_PER_TARGET - 1, -1));
	assert_true(mig_target_spent(MIG_ROUNDS_PER_TARGET, -1));
	assert_false(mig_target_spent(MIG_ROUNDS_PER_TARGET + 20, MIG_TARGET_MIN_MS - 1));
	assert_true(mig_target_spent(MIG_ROUNDS_PER_TARGET, MIG_TARGET_MIN_MS));
	assert_false(mig_target_spent(MIG_ROUNDS_PER_TARGET - 1, 10 * MIG_TARGET_MIN_MS));
	assert_int_equal(MIG_ROUNDS_PER_TARGET, 6);
	assert_int_equal(MIG_TARGET_MIN_MS, 300);
}

static void test_bad_options(void **state)
{
	(void)state;
	struct mig_opts o;
	char err[256];
	static const char *bad[] = {
		"{\"downtime_ms\": 0}", "{\"downtime_ms\": \"10\"}", "{\"parallel\": 0}", "{\"parallel\": 65}",
		"{\"bandwidth_mbps\": -1}", "{\"postcopy\": \"maybe\"}", "{\"timeout_s\": -5}",
		"{\"cold\": \"later\"}", "{\"cold\": true}", "{\"cold\": \"suspend\", \"postcopy\": \"auto\"}",
		"{\"cold\": \"suspend\", \"auto_converge\": true}", "{\"cold\": \"suspend\", \"downtime_ms\": 5}",
		"{\"cold\": \"suspend\", \"copy_storage\": true}", "{\"cold\": \"reboot\", \"postcopy\": \"on\"}",
		"{\"cold\": \"reboot\", \"bandwidth_mbps\": 10}", "{\"cold\": \"reboot\", \"parallel\": 2}",
		"{\"cold\": \"reboot\", \"insecure\": true}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_error_t je;
		json_t *j = json_loads(bad[i], 0, &je);
		err[0] = 0;
		assert_int_equal(mig_opts_from_json(j, &o, err, sizeof(err)), -EINVAL);
		assert_true(err[0] != 0);
		json_decref(j);
	}
}

static void test_caps_are_explicit(void **state)
{
	(void)state;
	struct mig_opts o;

	mig_opts_default(&o);
	json_t *c = mig_any_caps(&o, true);
	assert_string_equal(json_string_value(json_object_get(c, "execute")), "migrate-set-capabilities");
	/* Off is said out loud: an earlier post-copy must not linger. */
	assert_non_null(cap(c, "postcopy-ram"));
	assert_false(json_is_true(cap(c, "postcopy-ram")));
	assert_true(json_is_true(cap(c, "events")));
	assert_false(json_is_true(cap(c, "multifd")));
	assert_false(json_is_true(cap(c, "pause-before-switchover")));
	json_decref(c);
	o.postcopy = POSTCOPY_ON;
	o.parallel = 3;
	o.copy_storage = true;
	c = mig_any_caps(&o, true);
	assert_true(json_is_true(cap(c, "postcopy-ram")));
	assert_true(json_is_true(cap(c, "multifd")));
	assert_true(json_is_true(cap(c, "pause-before-switchover")));
	json_decref(c);
	c = mig_any_caps(&o, false);   /* destination: no pause-before-switchover */
	assert_false(json_is_true(cap(c, "pause-before-switchover")));
	json_decref(c);
}

static void test_params(void **state)
{
	(void)state;
	struct mig_opts o;

	mig_opts_default(&o);
	json_t *p = mig_any_params(&o, true), *a = json_object_get(p, "arguments");
	assert_string_equal(json_string_value(json_object_get(a, "tls-creds")), "ferry-mig-tls");
	assert_int_equal(json_integer_value(json_object_get(a, "downtime-limit")), MIG_DOWNTIME_DEFAULT_MS);
	/* No cap by default: far above QEMU's 128 MiB/s. */
	assert_true(json_integer_value(json_object_get(a, "max-bandwidth")) > 10000000000LL);
	json_decref(p);
	o.bandwidth_mbps = 20;
	p = mig_any_params(&o, false);
	a = json_object_get(p, "arguments");
	assert_string_equal(json_string_value(json_object_get(a, "tls-creds")), "");
	assert_int_equal(json_integer_value(json_object_get(a, "max-bandwidth")), 20000000);
	assert_int_equal(json_integer_value(json_object_get(a, "max-postcopy-bandwidth")), 20000000);
	json_decref(p);
}

/* One query-migrate answer: round, bytes left. */
static struct mig_stats round_at(long long round, long long left)
{
	struct mig_stats m;

	memset(&m, 0, sizeof(m));
	snprintf(m.status, sizeof(m.status), "active");
	m.dirty_sync_count = round;
	m.ram_remaining_bytes = left;
	return m;
}

/* The convergence policy: ferry's own target relaxed when pre-copy stops
 * converging (never a target the user gave), post-copy when asked or stuck,
 * the timeout only without post-copy. */
static void test_policy(void **state)
{
	struct mig_policy p;
	struct mig_opts o;
	struct mig_stats m;
	const char *why = NULL;
	int64_t t0 = 1000000000;

	(void)state;
	/* Converging: nothing to do. */
	memset(&p, 0, sizeof(p));
	mig_opts_default(&o);
	for (int r = 1; r <= 5; r++) {
		m = round_at(r, 100000000 >> r);
		assert_int_equal(mig_policy_step(&p, &o, &m, t0 + r * 100000, t0, &why), POLICY_NONE);
	}
	/* Three rounds without 10% progress: relax 1 ms to 10 ms, then 20. */
	memset(&p, 0, sizeof(p));
	mig_opts_default(&o);
	int relaxed = 0;
	for (int r = 1; r <= 12; r++) {
		m = round_at(r, 50000000);
		if (mig_policy_step(&p, &o, &m, t0 + r * 400000, t0, &why) == POLICY_RELAX)
			relaxed++;
	}
	assert_true(relaxed >= 2);
	assert_true(o.downtime_ms >= 20);
	/* The user's own target is never raised. */
	memset(&p, 0, sizeof(p));
	mig_opts_default(&o);
	o.downtime_ms = 5;
	o.downtime_given = true;
	for (int r = 1; r <= 12; r++) {
		m = round_at(r, 50000000);
		assert_int_not_equal(mig_policy_step(&p, &o, &m, t0 + r * 400000, t0, &why), POLICY_RELAX);
	}
	assert_int_equal(o.downtime_ms, 5);
	/* --timeout without post-copy: give up; with post-copy auto: switch. */
	memset(&p, 0, sizeof(p));
	o.timeout_s = 5;
	m = round_at(1, 50000000);
	assert_int_equal(mig_policy_step(&p, &o, &m, t0 + 6000000, t0, &why), POLICY_TIMEOUT);
	o.postcopy = POSTCOPY_AUTO;
	assert_int_equal(mig_policy_step(&p, &o, &m, t0 + 6000000, t0, &why), POLICY_POSTCOPY);
	assert_string_equal(why, "time budget spent");
	/* post-copy on: at once, once pre-copy is active. */
	memset(&p, 0, sizeof(p));
	mig_opts_default(&o);
	o.postcopy = POSTCOPY_ON;
	assert_int_equal(mig_policy_step(&p, &o, &m, t0 + 100000, t0, &why), POLICY_POSTCOPY);
	snprintf(m.status, sizeof(m.status), "setup");
	assert_int_equal(mig_policy_step(&p, &o, &m, t0 + 100000, t0, &why), POLICY_NONE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults_and_roundtrip),
		cmocka_unit_test(test_relaxed_downtime),
		cmocka_unit_test(test_target_spent),
		cmocka_unit_test(test_bad_options),
		cmocka_unit_test(test_caps_are_explicit),
		cmocka_unit_test(test_params),
		cmocka_unit_test(test_policy),
	};
	return cmocka_run_group_tests_name("mig", tests, NULL, NULL);
}
