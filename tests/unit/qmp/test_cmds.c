/* test_cmds.c: the exact JSON of each QMP command ferry sends (the forms
 * QEMU 7.2 accepted on the lab: docs/migration.md, FIELD-NOTES). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "ferryd/mig.h"
#include "qmp/cmds.h"

static void same(json_t *got, const char *want)
{
	json_error_t je;
	json_t *w = json_loads(want, 0, &je);

	assert_non_null(w);
	if (!json_equal(got, w)) {
		char *g = json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS);
		fail_msg("got %s\nwant %s", g, want);
	}
	json_decref(w);
	json_decref(got);
}

static void test_cmds(void **state)
{
	(void)state;
	same(qmp_cmd("cont", NULL), "{\"execute\":\"cont\"}");
	same(qmp_cmd_tls_creds_psk("/st/vms/w/tls", true, "ferry"),
	     "{\"execute\":\"object-add\",\"arguments\":{\"qom-type\":\"tls-creds-psk\",\"id\":\"ferry-mig-tls\","
	     "\"endpoint\":\"server\",\"dir\":\"/st/vms/w/tls\",\"priority\":\"NORMAL:-CHACHA20-POLY1305\"}}");
	same(qmp_cmd_tls_creds_psk("/d", false, "ferry"),
	     "{\"execute\":\"object-add\",\"arguments\":{\"qom-type\":\"tls-creds-psk\",\"id\":\"ferry-mig-tls\","
	     "\"endpoint\":\"client\",\"dir\":\"/d\",\"priority\":\"NORMAL:-CHACHA20-POLY1305\",\"username\":\"ferry\"}}");
	same(qmp_cmd_nbd_server_start("10.78.0.2", 10809, QMP_TLS_CREDS_ID),
	     "{\"execute\":\"nbd-server-start\",\"arguments\":{\"addr\":{\"type\":\"inet\",\"data\":{\"host\":\"10.78.0.2\","
	     "\"port\":\"10809\"}},\"tls-creds\":\"ferry-mig-tls\"}}");
	same(qmp_cmd_nbd_server_start("fd00::2", 1, NULL),
	     "{\"execute\":\"nbd-server-start\",\"arguments\":{\"addr\":{\"type\":\"inet\",\"data\":{\"host\":\"fd00::2\","
	     "\"port\":\"1\"}}}}");
	same(qmp_cmd_nbd_server_add("vda", true),
	     "{\"execute\":\"nbd-server-add\",\"arguments\":{\"device\":\"vda\",\"name\":\"vda\",\"writable\":true}}");
	same(qmp_cmd_blockdev_add_nbd("mig-nbd-vda", "10.78.0.2", 10809, "vda", QMP_TLS_CREDS_ID),
	     "{\"execute\":\"blockdev-add\",\"arguments\":{\"driver\":\"nbd\",\"node-name\":\"mig-nbd-vda\",\"server\":"
	     "{\"type\":\"inet\",\"host\":\"10.78.0.2\",\"port\":\"10809\"},\"export\":\"vda\",\"tls-creds\":\"ferry-mig-tls\"}}");
	same(qmp_cmd_blockdev_mirror("mig-vda", "vda", "mig-nbd-vda"),
	     "{\"execute\":\"blockdev-mirror\",\"arguments\":{\"job-id\":\"mig-vda\",\"device\":\"vda\",\"target\":"
	     "\"mig-nbd-vda\",\"sync\":\"full\"}}");
	same(qmp_cmd_migrate("unix:/st/vms/w/mig-out.sock", false),
	     "{\"execute\":\"migrate\",\"arguments\":{\"uri\":\"unix:/st/vms/w/mig-out.sock\"}}");
	same(qmp_cmd_migrate("tcp:10.78.0.2:4444", true),
	     "{\"execute\":\"migrate\",\"arguments\":{\"uri\":\"tcp:10.78.0.2:4444\",\"resume\":true}}");
	same(qmp_cmd_migrate_incoming("unix:/st/vms/w/mig-in.sock"),
	     "{\"execute\":\"migrate-incoming\",\"arguments\":{\"uri\":\"unix:/st/vms/w/mig-in.sock\"}}");
}

/* What every migration sets on both sides, whatever an earlier one left. */
static void test_mig_caps_params(void **state)
{
	struct mig_opts o;
	json_t *c, *caps;
	size_t i;
	json_t *e;
	int on = 0, n = 0;

	(void)state;
	mig_opts_default(&o);
	o.postcopy = POSTCOPY_AUTO;
	o.copy_storage = true;
	c = mig_any_caps(&o, true);
	assert_string_equal(json_string_value(json_object_get(c, "execute")), "migrate-set-capabilities");
	caps = json_object_get(json_object_get(c, "arguments"), "capabilities");
	json_array_foreach(caps, i, e) {
		const char *name = json_string_value(json_object_get(e, "capability"));
		bool st = json_is_true(json_object_get(e, "state"));
		n++;
		on += st;
		if (!strcmp(name, "postcopy-ram") || !strcmp(name, "pause-before-switchover") || !strcmp(name, "events") ||
		    !strcmp(name, "return-path") || !strcmp(name, "postcopy-blocktime"))
			assert_true(st);
		else
			assert_false(st);
	}
	assert_int_equal(n, 18);
	assert_int_equal(on, 5);
	json_decref(c);
	/* The destination never pauses before switchover. */
	c = mig_any_caps(&o, false);
	json_array_foreach(json_object_get(json_object_get(c, "arguments"), "capabilities"), i, e)
		if (!strcmp(json_string_value(json_object_get(e, "capability")), "pause-before-switchover"))
			assert_false(json_is_true(json_object_get(e, "state")));
	json_decref(c);

	mig_opts_default(&o);
	same(mig_any_params(&o, false),
	     "{\"execute\":\"migrate-set-parameters\",\"arguments\":{\"downtime-limit\":1,\"max-bandwidth\":100000000000,"
	     "\"multifd-channels\":2,\"tls-creds\":\"\",\"tls-hostname\":\"\",\"max-postcopy-bandwidth\":0}}");
	o.bandwidth_mbps = 20;
	o.parallel = 4;
	same(mig_any_params(&o, true),
	     "{\"execute\":\"migrate-set-parameters\",\"arguments\":{\"downtime-limit\":1,\"max-bandwidth\":20000000,"
	     "\"multifd-channels\":4,\"tls-creds\":\"ferry-mig-tls\",\"tls-hostname\":\"\",\"max-postcopy-bandwidth\":20000000}}");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cmds),
		cmocka_unit_test(test_mig_caps_params),
	};
	return cmocka_run_group_tests_name("qmp-cmds", tests, NULL, NULL);
}
