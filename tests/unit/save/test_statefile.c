/* test_statefile.c: the saved-guest file's header and trailer: a round trip;
 * a short read asks for more; another magic, a length past the limit, a
 * header without the guest's config or with a control character, are
 * refused; QEMU versions order as numbers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "save/statefile.h"

static struct statefile_header sample(void)
{
	struct statefile_header h;
	memset(&h, 0, sizeof(h));
	strcpy(h.host, "a");
	strcpy(h.qemu, "7.2.11");
	strcpy(h.machine, "pc-i440fx-7.2");
	strcpy(h.accel, "tcg");
	strcpy(h.name, "web1");
	h.config = (char *)"name = \"web1\"\nmemory = 256\n";
	h.ram_bytes = 256 << 20;
	h.saved_us = 1796014414073614LL;
	h.running = true;
	return h;
}

static void round_trip(void **state)
{
	struct statefile_header h = sample(), g;
	struct ferr err = {0};
	size_t len, used;

	(void)state;
	uint8_t *b = statefile_header_encode(&h, &len);
	assert_non_null(b);
	assert_memory_equal(b, STATEFILE_MAGIC, STATEFILE_MAGIC_LEN);
	assert_int_equal(statefile_header_parse(b, len, &g, &used, &err), 0);
	assert_int_equal(used, len);
	assert_string_equal(g.machine, "pc-i440fx-7.2");
	assert_string_equal(g.qemu, "7.2.11");
	assert_string_equal(g.config, h.config);
	assert_true(g.running && g.ram_bytes == 256 << 20 && g.saved_us == h.saved_us);
	statefile_header_free(&g);
	/* Short: more is needed, whatever the cut. */
	assert_int_equal(statefile_header_parse(b, 10, &g, &used, &err), -EAGAIN);
	assert_int_equal(statefile_header_parse(b, len - 1, &g, &used, &err), -EAGAIN);
	free(b);
}

static void refusals(void **state)
{
	struct statefile_header h = sample(), g;
	struct ferr err = {0};
	size_t len, used;

	(void)state;
	uint8_t *b = statefile_header_encode(&h, &len);
	b[0] = 'X';
	assert_int_equal(statefile_header_parse(b, len, &g, &used, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "not a ferry state file"));
	b[0] = 'F';
	b[STATEFILE_MAGIC_LEN + 2] = 0x7f;   /* a length of megabytes */
	assert_int_equal(statefile_header_parse(b, len, &g, &used, &err), -EINVAL);
	free(b);
	h.config = (char *)"";
	b = statefile_header_encode(&h, &len);
	assert_int_equal(statefile_header_parse(b, len, &g, &used, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "config"));
	free(b);
	h = sample();
	strcpy(h.machine, "pc\x01");
	b = statefile_header_encode(&h, &len);
	assert_int_equal(statefile_header_parse(b, len, &g, &used, &err), -EINVAL);
	free(b);
	h = sample();
	strcpy(h.qemu, "seven");
	b = statefile_header_encode(&h, &len);
	assert_int_equal(statefile_header_parse(b, len, &g, &used, &err), -EINVAL);
	free(b);
}

static void trailer_and_versions(void **state)
{
	uint8_t t[STATEFILE_TRAILER];
	uint64_t n, x;

	(void)state;
	statefile_trailer_encode(12345, 0xfeedULL, t);
	assert_int_equal(statefile_trailer_parse(t, &n, &x), 0);
	assert_true(n == 12345 && x == 0xfeed);
	t[0] = 'X';
	assert_int_equal(statefile_trailer_parse(t, &n, &x), -EINVAL);
	assert_int_equal(statefile_version_cmp("7.2.11", "7.2.11"), 0);
	assert_int_equal(statefile_version_cmp("7.2.11", "7.10.0"), -1);
	assert_int_equal(statefile_version_cmp("8.0", "7.2.11"), 1);
	assert_int_equal(statefile_version_cmp("7", "7.0"), -2);
	assert_int_equal(statefile_version_cmp("7.2.x", "7.2"), -2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(round_trip),
		cmocka_unit_test(refusals),
		cmocka_unit_test(trailer_and_versions),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
