/* test_util.c: running a program and capturing its output. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "util/util.h"

static void test_run_capture(void **state)
{
	(void)state;
	struct buf out = {0};
	char *echo[] = { "sh", "-c", "printf 'hello\\n'; exit 3", NULL };

	assert_int_equal(run_capture("sh", echo, &out), 3);      /* exit status, PATH lookup */
	assert_string_equal(out.data, "hello\n");
	assert_int_equal(out.len, 6);
	buf_free(&out);

	/* More than a pipe holds: all of it, in order. */
	char *big[] = { "sh", "-c", "seq 1 50000", NULL };
	assert_int_equal(run_capture("/bin/sh", big, &out), 0);   /* a path: no lookup */
	assert_true(out.len > 200000);
	assert_non_null(strstr(out.data, "\n49999\n50000\n"));
	assert_int_equal(strncmp(out.data, "1\n2\n3\n", 6), 0);
	buf_free(&out);

	char *none[] = { "ferry-no-such-program", NULL };
	assert_int_equal(run_capture("ferry-no-such-program", none, &out), -ENOENT);
	buf_free(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_run_capture),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
