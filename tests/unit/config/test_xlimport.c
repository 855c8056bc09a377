/* test_xlimport.c: xl configs in the styles found in the wild (xen-tools'
 * PV guests with legacy disks and partition devices, HVM with a CD-ROM and
 * display keys, pygrub, PVH with key=value disks) each give the expected
 * ferry config and the expected notes (tests/unit/config/xl/NAME.out and
 * NAME.notes); configs ferry cannot use at all give the expected error
 * (bad-NAME.err); every config written parses as a ferry config. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/cfgfile.h"
#include "config/vmcfg.h"
#include "config/xlimport.h"

#define DIR "tests/unit/config/xl/"

static char *slurp(const char *path)
{
	char *t = NULL;

	if (file_read_all(path, 1 << 20, &t, NULL) < 0)
		fail_msg("cannot read %s", path);
	return t;
}

static void golden(const char *name)
{
	char path[256], *text, *config = NULL;
	struct ferr err = {0};
	json_t *notes = NULL, *n;
	struct buf got = {0};
	size_t i;

	snprintf(path, sizeof(path), DIR "%s.cfg", name);
	text = slurp(path);
	if (xl_import(text, strlen(text), path, &config, &notes, &err) < 0)
		fail_msg("%s: %s", name, err.msg);
	snprintf(path, sizeof(path), DIR "%s.out", name);
	char *want = slurp(path);
	if (strcmp(config, want))
		fail_msg("%s: config\n%s\nwanted\n%s", name, config, want);
	json_array_foreach(notes, i, n)
		buf_printf(&got, "%lld %s: %s\n", (long long)json_integer_value(json_object_get(n, "line")),
			   json_string_value(json_object_get(n, "key")), json_string_value(json_object_get(n, "why")));
	snprintf(path, sizeof(path), DIR "%s.notes", name);
	char *want_notes = slurp(path);
	if (strcmp(got.data ?: "", want_notes))
		fail_msg("%s: notes\n%s\nwanted\n%s", name, got.data ?: "", want_notes);
	/* What it wrote is a config ferry takes. */
	struct vm_config *c = NULL;
	assert_int_equal(vmcfg_parse(config, strlen(config), "out", "/", &c, &err), 0);
	vmcfg_free(c);
	buf_free(&got);
	free(want_notes);
	free(want);
	free(text);
	free(config);
	json_decref(notes);
}

static void refused(const char *name)
{
	char path[256], *text, *config = NULL;
	struct ferr err = {0};
	json_t *notes = NULL;

	snprintf(path, sizeof(path), DIR "bad-%s.cfg", name);
	text = slurp(path);
	assert_int_equal(xl_import(text, strlen(text), path, &config, &notes, &err), -EINVAL);
	assert_null(config);
	snprintf(path, sizeof(path), DIR "bad-%s.err", name);
	char *want = slurp(path);
	want[strcspn(want, "\n")] = 0;
	if (!strstr(err.msg, want))
		fail_msg("bad-%s: error \"%s\", wanted \"%s\"", name, err.msg, want);
	free(want);
	free(text);
}

static void pv_debian(void **state) { (void)state; golden("pv-debian"); }
static void hvm(void **state) { (void)state; golden("hvm"); }
static void pygrub(void **state) { (void)state; golden("pygrub"); }
static void pvh(void **state) { (void)state; golden("pvh"); }

static void unusable(void **state)
{
	(void)state;
	refused("noname");
	refused("nothing");
	refused("memory");
	refused("syntax");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(pv_debian),
		cmocka_unit_test(hvm),
		cmocka_unit_test(pygrub),
		cmocka_unit_test(pvh),
		cmocka_unit_test(unusable),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
