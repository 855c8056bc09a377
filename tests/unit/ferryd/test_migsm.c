/* test_migsm.c: the migration state machines of both sides, driven through
 * their failure paths in seconds: the source's and destination's jobs run in
 * a real agent (loop, vm.c, qmp.c) whose QEMU is tests/tools/fake_qemu
 * (answering from QEMU 7.2 transcripts recorded on the lab, and a scenario's
 * rules), with a fake peer agent and a clock the test moves forward. Each
 * test asserts the states the job went through, the QMP commands sent, the
 * client's answer and where the guest is at the end. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "ferryd/mig_dst.h"
#include "ferryd/mig.h"
#include "ferryd/request.h"

/* What every move asks the destination first (preflight_job.c). */
#define PREFLIGHT_OPS "host-facts,ping,ping,"
#define PREPARED "{\"uri\": \"tcp:10.9.0.2:4444\", \"host\": \"b\"}"
#define FINISHED "{\"host\": \"b\", \"resume_us\": 1700000000000000, \"pid\": 4242}"
/* query-migrate answers (QEMU 7.2's shape; numbers from a lab move). */
#define Q_ACTIVE(sent) "{\"return\": {\"status\": \"active\", \"setup-time\": 2, \"total-time\": 150, " \
	"\"ram\": {\"total\": 68288512, \"transferred\": " #sent ", \"remaining\": 30000000, " \
	"\"dirty-sync-count\": 1, \"mbps\": 800.5, \"pages-per-second\": 24000, \"page-size\": 4096}}}"
#define Q_POSTCOPY(st, sent) "{\"return\": {\"status\": \"" st "\", \"setup-time\": 2, \"total-time\": 900, " \
	"\"ram\": {\"total\": 68288512, \"transferred\": " #sent ", \"remaining\": 1000000, " \
	"\"dirty-sync-count\": 3, \"postcopy-requests\": 12, \"page-size\": 4096}}}"
#define Q_DONE "{\"return\": {\"status\": \"completed\", \"setup-time\": 2, \"downtime\": 9, \"total-time\": 420, " \
	"\"ram\": {\"total\": 68288512, \"transferred\": 69000000, \"remaining\": 0, \"dirty-sync-count\": 4, " \
	"\"page-size\": 4096}}}"
#define Q_FAILED "{\"return\": {\"status\": \"failed\", \"error-desc\": " \
	"\"Unable to write to socket: Connection reset by peer\", \"setup-time\": 3, \"total-time\": 812}}"

static int setup(void **state)
{
	(void)state;
	harness_setup();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	harness_teardown();
	return 0;
}

/* Runs one "migrate" of web1 with opts as request id; returns the final
 * answer. */
static json_t *migrate_id(const char *opts, long id)
{
	struct vm *vm = vm_find(ag, "web1");
	json_t *args = migrate_args(opts);

	assert_non_null(vm);
	mig_src_start(client_request(id), args, vm);
	json_decref(args);
	json_t *r = wait_reply(id, 20000);
	assert_non_null(r);
	return r;
}

static json_t *migrate(const char *opts)
{
	return migrate_id(opts, 7);
}


static const char *error_of(json_t *r)
{
	const char *e = json_string_value(json_object_get(r, "error"));
	if (!e)
		fail_msg("expected an error, got %s", json_dumps(r, 0));
	return e;
}

static void expect_phases(const char *want)
{
	json_t *rec = last_record();

	assert_non_null(rec);
	if (strcmp(phases_of(rec), want))
		fail_msg("phases %s, want %s", phases_of(rec), want);
	json_decref(rec);
}

static void expect_sent(const char *cmds_in_order)
{
	const char *sent = qmp_sent(), *at = sent;
	char want[512], *tok, *save = NULL;

	snprintf(want, sizeof(want), "%s", cmds_in_order);
	for (tok = strtok_r(want, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char needle[80];
		snprintf(needle, sizeof(needle), "%s", tok);
		const char *p = at;
		size_t n = strlen(needle);
		while ((p = strstr(p, needle)) && ((p != sent && p[-1] != ',') || (p[n] && p[n] != ',')))
			p += n;
		if (!p)
			fail_msg("QMP %s not sent (in order) in: %s", tok, sent);
		at = p + n;
	}
}

static void expect_not_sent(const char *cmd)
{
	char a[80], b[8300];
	const char *sent = qmp_sent();

	snprintf(a, sizeof(a), ",%s,", cmd);
	snprintf(b, sizeof(b), ",%s", sent);
	strcat(b, ",");
	if (strstr(b, a))
		fail_msg("QMP %s sent: %s", cmd, sent);
}

/* The guest runs here, untouched. */
static void expect_running_here(void)
{
	run_for(50);
	struct vm *vm = vm_find(ag, "web1");
	assert_non_null(vm);
	assert_int_equal(vm->state, VM_RUNNING);
	assert_false(vm_busy(vm));
}

/* ---- source ------------------------------------------------------------- */

static void test_success(void **state)
{
	(void)state;
	qemu_script("src-precopy.jsonl", "[]");
	peer_rule("mig-prepare", 1, PREPARED, NULL, false);
	peer_rule("mig-finish", 1, FINISHED, NULL, false);
	boot_web1();
	json_t *r = migrate("{\"insecure\": true}");
	json_t *res = json_object_get(r, "result");
	if (!res)
		fail_msg("migrate failed: %s", json_dumps(r, 0));
	assert_string_equal(json_string_value(json_object_get(res, "status")), "completed");
	assert_string_equal(json_string_value(json_object_get(res, "mode")), "precopy");
	expect_phases("connecting>preflight>preparing>migrating>finishing>done");
	expect_sent("query-memory-size-summary,object-del,migrate-set-capabilities,migrate-set-parameters,migrate,"
		    "query-migrate,quit");
	json_t *a = qmp_args("migrate", 0);
	assert_string_equal(json_string_value(json_object_get(a, "uri")), "tcp:10.9.0.2:4444");
	assert_string_equal(peer_ops(), PREFLIGHT_OPS "mig-prepare,mig-finish,history-add");
	run_for(100);
	assert_null(vm_find(ag, "web1"));   /* the guest runs on b only */
}

static void test_destination_refuses(void **state)
{
	(void)state;
	peer_rule("mig-prepare", 1, NULL, "host b refused web1: a VM named web1 already exists on host b", false);
	peer_rule("mig-abort", 1, "{\"running\": false}", NULL, false);
	boot_web1();
	json_t *r = migrate("{\"insecure\": true}");
	const char *e = error_of(r);
	assert_non_null(strstr(e, "already exists on host b"));
	assert_non_null(strstr(e, "keeps running on host a"));
	expect_phases("connecting>preflight>preparing>failing>failed");
	expect_not_sent("migrate");
	assert_string_equal(peer_ops(), PREFLIGHT_OPS "mig-prepare,mig-abort");
	expect_running_here();
}

/* b's recorded facts with one member changed (a JSON fragment replacing
 * `from`), as the destination's answer to host-facts. */
static void facts_rule(const char *from, const char *to)
{
	char *text = NULL;

	assert_int_equal(file_read_all("tests/unit/ferryd/migsm/b-host-facts.json", 1 << 20, &text, NULL), 0);
	char *at = strstr(text, from);
	assert_non_null(at);
	size_t n = strlen(text) - strlen(from) + strlen(to) + 1;
	char *out = malloc(n);
	snprintf(out, n, "%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
	peer_rule("host-facts", 1, out, NULL, false);
	free(out);
	free(text);
}

/* A guest of the same name there: the preflight refuses before the
 * destination is asked to prepare anything. */
static void test_preflight_refuses(void **state)
{
	(void)state;
	facts_rule("\"name_taken\":false", "\"name_taken\":true");
	boot_web1();
	json_t *r = migrate("{\"insecure\": true}");
	const char *e = error_of(r);
	assert_non_null(strstr(e, "guest name free: b already has a guest named web1"));
	assert_non_null(strstr(e, "keeps running on host a"));
	expect_phases("connecting>preflight>failing>failed");
	expect_not_sent("migrate");
	assert_string_equal(peer_ops(), "host-facts,ping,ping");
	expect_running_here();
}

/* A hostile destination's facts (a member of the wrong type) are refused
 * as such, and nothing moves. */
static void test_preflight_hostile_facts(void **state)
{
	(void)state;
	facts_rule("\"disk_room_bytes\":", "\"disk_room_bytes\":\"lots\",\"x\":");
	boot_web1();
	json_t *r = migrate("{\"insecure\": true}");
	assert_non_null(strstr(error_of(r), "the host's facts are malformed"));
	expect_phases("connecting>preflight>failing>failed");
	assert_string_equal(peer_ops(), "host-facts");
	expect_running_here();
}

/* An overridable check (another accelerator there) blocks a move, and
 * --force moves anyway, the record naming the check overridden. */
static void test_preflight_force(void **state)
{
	(void)state;
	facts_rule("\"accel\":\"tcg\"", "\"accel\":\"kvm\"");
	qemu_script("src-precopy.jsonl", "[]");
	peer_rule("mig-prepare", 1, PREPARED, NULL, false);
	peer_rule("mig-finish", 1, FINISHED, NULL, false);
	boot_web1();
	json_t *r = migrate("{\"insecure\": true}");
	assert_non_null(strstr(error_of(r), "accelerator: b would run it under kvm"));
	expect_not_sent("migrate");
	run_for(50);
	r = migrate_id("{\"insecure\": true, \"force\": true}", 8);
	json_t *res = json_object_get(r, "result");
	if (!res)
		fail_msg("migrate --force failed: %s", json_dumps(r, 0));
	assert_string_equal(json_string_value(json_object_get(json_object_get(res, "preflight"), "forced")), "accel");
}

static void test_hostile_uri(void **state)
{
	(void)state;
	peer_rule("mig-prepare", 1, "{\"uri\": \"exec:touch /tmp/marker\", \"host\": \"b\"}", NULL, false);
	boot_web1();
	json_t *r = migrate("{\"insecure\": true}");
	assert_non_null(strstr(error_of(r), "keeps running on host a"));
	expect_not_sent("migrate");
	expect_running_here();
}

static void test_destination_dies_precopy(void **state)
{
	(void)state;
	qemu_script(NULL, "[{\"cmd\": \"query-migrate\", \"reply\": " Q_ACTIVE(5000000) "},"
			  " {\"cmd\": \"query-migrate\", \"from\": 3, \"reply\": " Q_FAILED "}]");
	peer_rule("mig-prepare", 1, PREPARED, NULL, false);
	peer_rule("mig-abort", 1, NULL, "connection closed", false);
	boot_web1();
	json_t *r = migrate("{\"insecure\": true}");
	const char *e = error_of(r);
	assert_non_null(strstr(e, "Connection reset by peer"));
	assert_non_null(strstr(e, "keeps running on host a"));
	expect_phases("connecting>preflight>preparing>migrating>failing>failed");
	expect_sent("migrate,query-migrate,migrate_cancel,query-status");
	expect_running_here();
}

static void test_precopy_stall(void **state)
{
	(void)state;
	/* Nothing more is ever sent: after 10 s (of the test's clock) it fails. */
	qemu_script(NULL, "[{\"cmd\": \"query-migrate\", \"reply\": " Q_ACTIVE(5000000) "}]");
	peer_rule("mig-prepare", 1, PREPARED, NULL, false);
	peer_rule("mig-abort", 1, "{\"running\": false}", NULL, false);
	boot_web1();
	clock_jump_after(400, 11000);
	json_t *r = migrate("{\"insecure\": true, \"downtime_ms\": 300}");
	assert_non_null(strstr(error_of(r), "stalled (nothing sent for 10 s)"));
	expect_phases("connecting>preflight>preparing>migrating>failing>failed");
	expect_sent("migrate,query-migrate,migrate_cancel");
	assert_non_null(strstr(peer_ops(), "mig-abort"));
	expect_running_here();
}

static void test_timeout(void **state)
{
	(void)state;
	/* Progress, but no end: --timeout 5 without post-copy gives up. */
	qemu_script(NULL, "[{\"cmd\": \"query-migrate\", \"reply\": " Q_ACTIVE(5000000) "},"
			  " {\"cmd\": \"query-migrate\", \"from\": 2, \"reply\": " Q_ACTIVE(6000000) "},"
			  " {\"cmd\": \"query-migrate\", \"from\": 3, \"reply\": " Q_ACTIVE(7000000) "},"
			  " {\"cmd\": \"query-migrate\", \"from\": 4, \"reply\": " Q_ACTIVE(8000000) "}]");
	peer_rule("mig-prepare", 1, PREPARED, NULL, false);
	peer_rule("mig-abort", 1, "{\"running\": false}", NULL, false);
	boot_web1();
	clock_jump_after(250, 6000);
	json_t *r = migrate("{\"insecure\": true, \"timeout_s\": 5, \"downtime_ms\": 300}");
	assert_non_null(strstr(error_of(r), "did not complete within 5 s"));
	expect_phases("connecting>preflight>preparing>migrating>failing>failed");
	expect_sent("migrate,migrate_cancel");
	expect_running_here();
}

static void test_cancel(void **state)
{
	(void)state;
	qemu_script(NULL, "[{\"cmd\": \"query-migrate\", \"reply\": " Q_ACTIVE(5000000) "},"
			  " {\"cmd\": \"query-migrate\", \"after\": \"migrate_cancel\", \"reply\": "
			  "{\"return\": {\"status\": \"cancelled\"}}}]");
	peer_rule("mig-prepare", 1, PREPARED, NULL, false);
	peer_rule("mig-abort", 1, "{\"running\": false}", NULL, false);
	struct vm *vm = boot_web1();
	json_t *args = migrate_args("{\"insecure\": true, \"downtime_ms\": 300}");
	mig_src_start(client_request(7), args, vm);
	json_decref(args);
	run_for(350);   /* pre-copy runs */
	mig_src_cancel(client_request(8), NULL, vm);
	json_t *c = wait_reply(8, 5000);
	assert_non_null(c);
	assert_string_equal(json_string_value(json_object_get(json_object_get(c, "result"), "status")), "cancelling");
	json_t *r = wait_reply(7, 10000);
	assert_non_null(r);
	assert_non_null(strstr(error_of(r), "cancelled by the user"));
	expect_phases("connecting>preflight>preparing>migrating>failing>failed");
	expect_running_here();
}

/* Post-copy: the link stalls once the guest runs there (3 s rule): our side
 * pauses, reconnects (a new peer), and resumes to the URI the destination
 * gives; then the move completes. */
static void test_postcopy_stall_recover(void **state)
{
	(void)state;
	qemu_script(NULL, "[{\"cmd\": \"query-migrate\", \"reply\": " Q_ACTIVE(5000000) "},"
			  " {\"cmd\": \"query-migrate\", \"after\": \"migrate-start-postcopy\", \"reply\": "
			  Q_POSTCOPY("postcopy-active", 20000000) "},"
			  " {\"cmd\": \"query-migrate\", \"after\": \"migrate-pause\", \"reply\": "
			  Q_POSTCOPY("postcopy-paused", 20000000) "},"
			  " {\"cmd\": \"query-migrate\", \"after\": \"migrate\", \"after_count\": 2, \"reply\": " Q_DONE "},"
			  " {\"cmd\": \"query-migrate\", \"after\": \"migrate\", \"after_count\": 2, \"times\": 2, \"reply\": "
			  Q_POSTCOPY("postcopy-active", 30000000) "}]");
	peer_rule("mig-prepare", 1, PREPARED, NULL, false);
	peer_rule("mig-postcopy", 1, "{}", NULL, false);
	peer_rule("mig-resumed", 1, "{\"resume_us\": 1700000000000000}", NULL, false);
	peer_rule("mig-recover", 1, "{\"uri\": \"tcp:10.9.0.2:4445\"}", NULL, false);
	peer_rule("mig-finish", 1, FINISHED, NULL, false);
	boot_web1();
	clock_jump_after(800, 4000);
	json_t *r = migrate("{\"insecure\": true, \"postcopy\": \"on\"}");
	json_t *res = json_object_get(r, "result");
	if (!res)
		fail_msg("migrate failed: %s", json_dumps(r, 0));
	assert_string_equal(json_string_value(json_object_get(res, "mode")), "postcopy");
	expect_phases("connecting>preflight>preparing>migrating>postcopy-asked>postcopy>recovering>postcopy>finishing>done");
	expect_sent("migrate,migrate-start-postcopy,migrate-pause,migrate,quit");
	json_t *a = qmp_args("migrate", 1);
	assert_true(json_is_true(json_object_get(a, "resume")));
	assert_string_equal(json_string_value(json_object_get(a, "uri")), "tcp:10.9.0.2:4445");
	assert_non_null(strstr(peer_ops(), "mig-postcopy,"));
	assert_non_null(strstr(peer_ops(), "mig-recover"));
	run_for(100);
	assert_null(vm_find(ag, "web1"));
}

/* Post-copy asked for, but the destination QEMU ends before the guest ran
 * there: the source takes it back (cont), or says it stays paused when QEMU
 * refuses (as 7.2 does once its post-copy paused). */
static void postcopy_dst_dies(bool cont_refused)
{
	char rules[2048];
	snprintf(rules, sizeof(rules),
		 "[{\"cmd\": \"query-migrate\", \"reply\": " Q_ACTIVE(5000000) "},"
		 " {\"cmd\": \"query-migrate\", \"after\": \"migrate-start-postcopy\", \"reply\": "
		 Q_POSTCOPY("postcopy-active", 20000000) ", \"events\": [{\"event\": \"STOP\"}]},"
		 " {\"cmd\": \"query-status\", \"after\": \"migrate_cancel\", \"reply\": "
		 "{\"return\": {\"status\": \"finish-migrate\", \"running\": false}}}%s]",
		 cont_refused ? ", {\"cmd\": \"cont\", \"after\": \"migrate_cancel\", \"reply\": {\"error\": {\"class\": \"GenericError\", \"desc\": "
				"\"Migration is not finalized yet\"}}}" : "");
	qemu_script(NULL, rules);
	peer_rule("mig-prepare", 1, PREPARED, NULL, false);
	peer_rule("mig-postcopy", 1, "{}", NULL, false);
	peer_rule("mig-resumed", 1, "{\"ended\": true}", NULL, false);
	peer_rule("mig-abort", 1, NULL, "no VM named web1 on host b", false);
	boot_web1();
	json_t *r = migrate("{\"insecure\": true, \"postcopy\": \"on\"}");
	const char *e = error_of(r);
	assert_non_null(strstr(e, "ended before the guest resumed there"));
	expect_phases("connecting>preflight>preparing>migrating>postcopy-asked>postcopy>failing>failed");
	expect_sent("migrate-start-postcopy,migrate_cancel,query-status,cont");
	if (cont_refused) {
		assert_non_null(strstr(e, "stays paused on host a"));
		run_for(50);
		assert_non_null(vm_find(ag, "web1"));   /* kept, paused: never lost */
	} else {
		assert_non_null(strstr(e, "keeps running on host a"));
		expect_running_here();
	}
}

static void test_postcopy_dst_dies_taken_back(void **state)
{
	(void)state;
	postcopy_dst_dies(false);
}

static void test_postcopy_dst_dies_stays_paused(void **state)
{
	(void)state;
	postcopy_dst_dies(true);
}

/* The destination QEMU dies right as post-copy begins: QEMU announced
 * postcopy-active (an event), but the next poll already says failed. The
 * destination is asked whether the guest ran there; it did not: the guest
 * is taken back, and the answer says why (a race seen once in CI). */
static void test_postcopy_fails_between_polls(void **state)
{
	(void)state;
	qemu_script(NULL, "[{\"cmd\": \"query-migrate\", \"reply\": " Q_ACTIVE(5000000) "},"
			  " {\"cmd\": \"migrate-start-postcopy\", \"events\": [{\"event\": \"MIGRATION\", \"data\": "
			  "{\"status\": \"postcopy-active\"}}]},"
			  " {\"cmd\": \"query-migrate\", \"after\": \"migrate-start-postcopy\", \"reply\": " Q_FAILED "},"
			  " {\"cmd\": \"query-status\", \"after\": \"migrate_cancel\", \"reply\": "
			  "{\"return\": {\"status\": \"postmigrate\", \"running\": false}}}]");
	peer_rule("mig-prepare", 1, PREPARED, NULL, false);
	peer_rule("mig-postcopy", 1, "{}", NULL, false);
	peer_rule("mig-resumed", 1, "{\"ended\": true}", NULL, false);
	peer_rule("mig-abort", 1, NULL, "no VM named web1 on host b", false);
	boot_web1();
	json_t *r = migrate("{\"insecure\": true, \"postcopy\": \"on\"}");
	const char *e = error_of(r);
	assert_non_null(strstr(e, "ended before the guest resumed there"));
	assert_non_null(strstr(peer_ops(), "mig-resumed"));
	expect_running_here();
}

static void test_cold_suspend_fails(void **state)
{
	(void)state;
	qemu_script(NULL, "[{\"cmd\": \"stop\", \"reply\": {\"error\": {\"class\": \"GenericError\", "
			  "\"desc\": \"cannot stop now\"}}}]");
	peer_rule("mig-prepare", 1, PREPARED, NULL, false);
	peer_rule("mig-abort", 1, "{\"running\": false}", NULL, false);
	boot_web1();
	json_t *r = migrate("{\"insecure\": true, \"cold\": \"suspend\"}");
	const char *e = error_of(r);
	assert_non_null(strstr(e, "cannot pause web1"));
	assert_non_null(strstr(e, "keeps running on host a"));
	expect_phases("connecting>preflight>preparing>suspending>failing>failed");
	expect_not_sent("migrate");
	expect_running_here();
}

/* --cold reboot, the destination gone once the guest powered off: it boots
 * here again (a new QEMU), nothing lost. */
static void test_cold_reboot_destination_gone(void **state)
{
	(void)state;
	qemu_script(NULL, "[{\"cmd\": \"system_powerdown\", \"exit\": true, \"events\": "
			  "[{\"event\": \"SHUTDOWN\", \"data\": {\"guest\": true, \"reason\": \"guest-shutdown\"}}]}]");
	peer_rule("mig-check", 1, "{}", NULL, false);
	peer_rule("create", 1, NULL, "connection closed", false);
	struct vm *vm = boot_web1();
	pid_t first = vm->pid;
	json_t *r = migrate("{\"cold\": \"reboot\"}");
	const char *e = error_of(r);
	assert_non_null(strstr(e, "could not boot web1"));
	assert_non_null(strstr(e, "was booted again on host a"));
	expect_phases("connecting>preflight>preparing>powering-off>booting-there>booting-here>failed");
	assert_string_equal(peer_ops(), PREFLIGHT_OPS "mig-check,create");
	expect_running_here();
	assert_int_not_equal(vm_find(ag, "web1")->pid, first);
}

/* Cold moves of a disk that is not shared: the destination cannot take
 * the disk (copy-in refused). Two passes: it fails before the pause, the
 * guest never stopped; the destination is told to drop what it got. */
static void test_cold_disk_copy_fails(void **state)
{
	char disk[300];

	(void)state;
	snprintf(disk, sizeof(disk), "%s/data.img", tmp);
	peer_rule("mig-check", 1, "{}", NULL, false);
	peer_rule("copy-in", 1, NULL, "host b has 1 MB free", false);
	peer_rule("mig-disks-drop", 1, "{}", NULL, false);
	peer_rule("mig-abort", 1, "{\"running\": false}", NULL, false);
	boot_web1_disk(disk);
	json_t *r = migrate("{\"insecure\": true, \"cold\": \"suspend\"}");
	const char *e = error_of(r);
	assert_non_null(strstr(e, "copying disk vda"));
	assert_non_null(strstr(e, "1 MB free"));
	assert_non_null(strstr(e, "keeps running on host a"));
	expect_phases("connecting>preflight>checking>copying-disks>failing>failed");
	assert_string_equal(peer_ops(), PREFLIGHT_OPS "mig-check,copy-in,mig-disks-drop,mig-abort");
	expect_not_sent("stop");
	expect_running_here();
	assert_int_equal(access(disk, F_OK), 0);   /* the source keeps its disk */
}

/* One pass: the copy comes after the pause; it fails, the guest runs again. */
static void test_cold_disk_one_pass_fails(void **state)
{
	char disk[300];

	(void)state;
	snprintf(disk, sizeof(disk), "%s/data.img", tmp);
	peer_rule("mig-check", 1, "{}", NULL, false);
	peer_rule("copy-in", 1, NULL, "the link is down", false);
	peer_rule("mig-disks-drop", 1, "{}", NULL, false);
	peer_rule("mig-abort", 1, NULL, "no VM named web1 on host b", false);
	boot_web1_disk(disk);
	json_t *r = migrate("{\"insecure\": true, \"cold\": \"suspend\", \"disk_passes\": 1}");
	const char *e = error_of(r);
	assert_non_null(strstr(e, "the link is down"));
	assert_non_null(strstr(e, "keeps running on host a"));
	expect_phases("connecting>preflight>checking>suspending>copying-disks-final>failing>failed");
	expect_sent("stop,query-status,cont");
	expect_running_here();
}

/* Reboot: the final pass fails once the guest is off: it boots here again
 * from its own disk. */
static void test_cold_disk_reboot_fails(void **state)
{
	char disk[300];

	(void)state;
	snprintf(disk, sizeof(disk), "%s/data.img", tmp);
	qemu_script(NULL, "[{\"cmd\": \"system_powerdown\", \"exit\": true, \"events\": "
			  "[{\"event\": \"SHUTDOWN\", \"data\": {\"guest\": true, \"reason\": \"guest-shutdown\"}}]}]");
	peer_rule("mig-check", 1, "{}", NULL, false);
	peer_rule("copy-in", 1, NULL, "host b has 1 MB free", false);
	peer_rule("mig-disks-drop", 1, "{}", NULL, false);
	boot_web1_disk(disk);
	json_t *r = migrate("{\"cold\": \"reboot\", \"disk_passes\": 1}");
	const char *e = error_of(r);
	assert_non_null(strstr(e, "copying disk vda"));
	assert_non_null(strstr(e, "was booted again on host a"));
	expect_phases("connecting>preflight>preparing>powering-off>copying-disks-final>booting-here>failed");
	assert_string_equal(peer_ops(), PREFLIGHT_OPS "mig-check,copy-in,mig-disks-drop");
	expect_running_here();
}

static void test_postcopy_success(void **state)
{
	(void)state;
	qemu_script("src-postcopy.jsonl", "[]");
	peer_rule("mig-prepare", 1, PREPARED, NULL, false);
	peer_rule("mig-postcopy", 1, "{}", NULL, false);
	peer_rule("mig-resumed", 1, "{\"resume_us\": 1700000000000000}", NULL, false);
	peer_rule("mig-finish", 1, FINISHED, NULL, false);
	boot_web1();
	json_t *r = migrate("{\"insecure\": true, \"postcopy\": \"on\"}");
	json_t *res = json_object_get(r, "result");
	if (!res)
		fail_msg("migrate failed: %s", json_dumps(r, 0));
	assert_string_equal(json_string_value(json_object_get(res, "mode")), "postcopy");
	expect_phases("connecting>preflight>preparing>migrating>postcopy-asked>postcopy>finishing>done");
	expect_sent("migrate,query-migrate,migrate-start-postcopy,query-migrate,quit");
	/* The destination learned of post-copy before QEMU switched. */
	assert_non_null(strstr(peer_ops(), "mig-prepare,mig-postcopy,"));
	run_for(100);
	assert_null(vm_find(ag, "web1"));
}

static void test_cold_suspend_success(void **state)
{
	(void)state;
	qemu_script("src-suspend.jsonl", "[]");
	peer_rule("mig-prepare", 1, PREPARED, NULL, false);
	peer_rule("mig-finish", 1, FINISHED, NULL, false);
	boot_web1();
	json_t *r = migrate("{\"insecure\": true, \"cold\": \"suspend\"}");
	json_t *res = json_object_get(r, "result");
	if (!res)
		fail_msg("migrate failed: %s", json_dumps(r, 0));
	assert_string_equal(json_string_value(json_object_get(res, "mode")), "suspend");
	expect_phases("connecting>preflight>preparing>suspending>migrating>finishing>done");
	expect_sent("stop,migrate,query-migrate,quit");
	run_for(100);
	assert_null(vm_find(ag, "web1"));
}

static void test_refusals(void **state)
{
	(void)state;
	struct vm *vm = boot_web1();
	/* A move while one runs, to itself, of a paused guest: refused, nothing starts. */
	json_t *args = migrate_args("{\"insecure\": true}");
	json_object_set_new(json_object_get(args, "dest"), "host", json_string("a"));
	mig_src_start(client_request(9), args, vm);
	json_decref(args);
	assert_non_null(strstr(error_of(wait_reply(9, 1000)), "already runs on host a"));
	mig_src_cancel(client_request(10), NULL, vm);
	assert_non_null(strstr(error_of(wait_reply(10, 1000)), "is not migrating"));
	mig_src_recover(client_request(11), NULL, vm);
	assert_non_null(strstr(error_of(wait_reply(11, 1000)), "no post-copy migration"));
	assert_string_equal(peer_ops(), "");
	expect_running_here();
}

/* ---- destination -------------------------------------------------------- */

static void prepare(long id, const char *opts)
{
	char text[512];
	snprintf(text, sizeof(text), "name = \"web1\"\nmemory = 64\nkernel = \"%s/vmlinuz\"\naccel = \"tcg\"\n", tmp);
	json_t *args = json_pack("{s:s, s:s, s:o, s:I}", "config", text, "src_host", "b", "opts",
				 json_loads(opts, 0, NULL), "ram_bytes", (json_int_t)(64 << 20) + 8192);
	mig_dst_prepare(client_request(id), args, NULL);
	json_decref(args);
}

static const char *uri_of(json_t *r)
{
	const char *u = json_string_value(json_object_get(json_object_get(r, "result"), "uri"));
	if (!u)
		fail_msg("prepare failed: %s", json_dumps(r, 0));
	return u;
}

static void test_dst_success(void **state)
{
	(void)state;
	qemu_script("dst-precopy.jsonl", "[]");
	prepare(20, "{\"insecure\": true}");
	json_t *r = wait_reply(20, 10000);
	assert_non_null(r);
	assert_int_equal(strncmp(uri_of(r), "tcp:127.0.0.1:", 14), 0);
	expect_sent("migrate-set-capabilities,migrate-set-parameters,migrate-incoming");
	struct vm *vm = vm_find(ag, "web1");
	assert_non_null(vm);
	assert_true(vm_busy(vm));
	json_t *args = json_pack("{s:s}", "name", "web1");
	mig_dst_finish(client_request(21), args, vm);   /* RESUME came with the stream */
	json_t *f = wait_reply(21, 5000);
	assert_non_null(f);
	assert_string_equal(json_string_value(json_object_get(json_object_get(f, "result"), "host")), "a");
	assert_true(json_integer_value(json_object_get(json_object_get(f, "result"), "resume_us")) > 0);
	/* An ordinary VM of this agent now: an abort cannot touch it. */
	assert_false(vm_busy(vm));
	mig_dst_abort(client_request(22), args, vm);
	assert_non_null(strstr(error_of(wait_reply(22, 1000)), "is not migrating to host a"));
	json_decref(args);
	expect_running_here();
}

/* Before the guest runs here, it is the source's: abort, a closed or a
 * silent source connection all drop the incoming VM; a post-copy source
 * asking later learns it ended ("ended"), so it can take its guest back. */
static void dst_dropped(int how)
{
	qemu_script(NULL, "[{\"cmd\": \"migrate-incoming\", \"events\": [{\"event\": \"MIGRATION\", \"data\": {\"status\": \"setup\"}}]}]");
	prepare(20, "{\"insecure\": true}");
	uri_of(wait_reply(20, 10000));
	struct vm *vm = vm_find(ag, "web1");
	json_t *args = json_pack("{s:s}", "name", "web1");
	if (how == 0) {
		mig_dst_abort(client_request(23), args, vm);
		json_t *a = wait_reply(23, 5000);
		assert_non_null(a);
		assert_false(json_is_true(json_object_get(json_object_get(a, "result"), "running")));
	} else if (how == 1) {
		source_connection_closes(1);
	} else {
		source_idle_us = 11000000;   /* it pings every second */
		dst_of(vm)->listening_us -= 11000000;   /* 11 s after our answer */
		mig_dst_cron(ag);
	}
	run_for(300);
	assert_null(vm_find(ag, "web1"));
	mig_dst_resumed(client_request(24), args, NULL);
	json_t *e = wait_reply(24, 1000);
	assert_true(json_is_true(json_object_get(json_object_get(e, "result"), "ended")));
	json_decref(args);
}

static void test_dst_abort(void **state)
{
	(void)state;
	dst_dropped(0);
}

static void test_dst_source_gone(void **state)
{
	(void)state;
	dst_dropped(1);
}

static void test_dst_source_silent(void **state)
{
	(void)state;
	dst_dropped(2);
}

/* A QEMU slow to start here (its disks slow to open) keeps the source
 * waiting for our answer, silent: that silence is not the source gone. */
static void test_dst_slow_start_not_silent(void **state)
{
	(void)state;
	qemu_script(NULL, "[{\"cmd\": \"migrate-incoming\", \"events\": [{\"event\": \"MIGRATION\", \"data\": {\"status\": \"setup\"}}]}]");
	prepare(20, "{\"insecure\": true}");
	uri_of(wait_reply(20, 10000));
	source_idle_us = 11000000;   /* silent since mig-prepare, 11 s ago */
	mig_dst_cron(ag);
	run_for(300);
	assert_non_null(vm_find(ag, "web1"));
	assert_true(vm_busy(vm_find(ag, "web1")));
}

/* Once post-copy began, the guest is split: the incoming VM is never dropped
 * for a source that goes away (recovery, or a human, decides). */
static void test_dst_postcopy_kept(void **state)
{
	(void)state;
	qemu_script(NULL, "[{\"cmd\": \"migrate-incoming\", \"events\": [{\"event\": \"MIGRATION\", \"data\": {\"status\": \"active\"}}]}]");
	prepare(20, "{\"insecure\": true, \"postcopy\": \"on\"}");
	uri_of(wait_reply(20, 10000));
	struct vm *vm = vm_find(ag, "web1");
	json_t *args = json_pack("{s:s}", "name", "web1");
	mig_dst_postcopy(client_request(25), args, vm);
	assert_non_null(json_object_get(wait_reply(25, 1000), "result"));
	source_connection_closes(1);
	source_idle_us = 60000000;
	mig_dst_cron(ag);
	run_for(300);
	assert_non_null(vm_find(ag, "web1"));
	assert_true(vm_busy(vm));
	/* Nothing to recover before it runs here: QEMU 7.2 would end it. */
	mig_dst_recover(client_request(26), args, vm);
	assert_non_null(strstr(error_of(wait_reply(26, 1000)), "has not resumed on host a yet"));
	json_decref(args);
}

static void test_dst_refusals(void **state)
{
	(void)state;
	ag->cfg->allow_insecure = false;
	prepare(27, "{\"insecure\": true}");
	assert_non_null(strstr(error_of(wait_reply(27, 1000)), "allow_insecure = 0"));
	ag->cfg->allow_insecure = true;
	char text[512];
	snprintf(text, sizeof(text), "name = \"web1\"\nmemory = 64\nkernel = \"%s/vmlinuz\"\n", tmp);
	json_t *args = json_pack("{s:s, s:s, s:{}, s:I}", "config", text, "src_host", "b", "opts", "ram_bytes",
				 (json_int_t)1 << 30);
	mig_dst_prepare(client_request(28), args, NULL);
	assert_non_null(strstr(error_of(wait_reply(28, 1000)), "does not match the config's 64 MiB"));
	json_decref(args);
	assert_string_equal(qmp_sent(), "");   /* no QEMU ever started */
	assert_null(ag->vms);
}

/* ---- the tables --------------------------------------------------------- */

static void test_tables(void **state)
{
	(void)state;
	/* Never back, except post-copy asked -> pre-copy and the recovery loop. */
	assert_true(mig_src_transition_ok(MIG_POSTCOPY_ASKED, MIG_MIGRATING));
	assert_true(mig_src_transition_ok(MIG_RECOVERING, MIG_POSTCOPY));
	assert_false(mig_src_transition_ok(MIG_POSTCOPY, MIG_MIGRATING));
	assert_false(mig_src_transition_ok(MIG_DONE, MIG_FAILING));
	assert_false(mig_src_transition_ok(MIG_FAILED, MIG_CONNECTING));
	assert_false(mig_src_transition_ok(MIG_FAILING, MIG_DONE));
	for (int s = 0; s < MIG_N_STATES; s++) {
		assert_string_not_equal(mig_state_name(s), "?");
		/* Every state that runs can fail; the ends cannot move. */
		bool end = s == MIG_DONE || s == MIG_FAILED;
		assert_int_equal(mig_src_transition_ok(s, MIG_FAILING) || s == MIG_FAILING || end, true);
		for (int t = 0; end && t < MIG_N_STATES; t++)
			assert_false(mig_src_transition_ok(s, t));
	}
	assert_false(mig_dst_transition_ok(DST_RESUMED, DST_LISTENING));
	assert_false(mig_dst_transition_ok(DST_POSTCOPY, DST_LISTENING));
	assert_true(mig_dst_transition_ok(DST_LISTENING, DST_RESUMED));
	for (int s = 0; s < DST_N_STATES; s++)
		assert_int_equal(mig_dst_transition_ok(s, DST_ENDED), s != DST_ENDED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tables),
		cmocka_unit_test_setup_teardown(test_success, setup, teardown),
		cmocka_unit_test_setup_teardown(test_postcopy_success, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cold_suspend_success, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_preflight_refuses, setup, teardown),
		cmocka_unit_test_setup_teardown(test_preflight_hostile_facts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_preflight_force, setup, teardown),
		cmocka_unit_test_setup_teardown(test_destination_refuses, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_uri, setup, teardown),
		cmocka_unit_test_setup_teardown(test_destination_dies_precopy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_precopy_stall, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_postcopy_stall_recover, setup, teardown),
		cmocka_unit_test_setup_teardown(test_postcopy_dst_dies_taken_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_postcopy_dst_dies_stays_paused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cold_suspend_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(test_postcopy_fails_between_polls, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cold_reboot_destination_gone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cold_disk_copy_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cold_disk_one_pass_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cold_disk_reboot_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dst_success, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dst_abort, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dst_source_gone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dst_source_silent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dst_slow_start_not_silent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dst_postcopy_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dst_refusals, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
