/* test_preflight.c: the requirements judged on facts alone (preflight.c):
 * a healthy pair passes; each fact that makes a move impossible blocks the
 * kinds of move it concerns and no other; the estimate's model; a hostile
 * peer's facts are refused by the schema; --force skips only what may be
 * skipped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "preflight/preflight.h"

#define HOST(name, extra) \
	"{\"host\":\"" name "\",\"protocol\":6,\"version\":\"0.1.0\",\"time_us\":1," \
	"\"qemu\":{\"version\":702,\"pc\":\"pc-i440fx-7.2\"},\"kvm\":{\"usable\":false,\"why\":\"no VMX\"}," \
	"\"accel\":\"tcg\",\"cpu\":{\"model\":\"qemu64\",\"offered\":true,\"limit\":\"\",\"flags\":[\"fpu\",\"sse2\"]}," \
	"\"memory\":{\"available_mb\":2000,\"total_mb\":4000,\"limit_mb\":-1,\"guests_mb\":0,\"hugepages_free\":0," \
	"\"hugepage_kb\":2048},\"name_taken\":false,\"macs_taken\":[],\"bridges\":[{\"name\":\"br-vm\",\"exists\":true}]," \
	"\"disks\":[{\"vdev\":\"vda\",\"pool\":\"lab-nfs\",\"shared\":true,\"visible\":true,\"used_by\":\"\",\"cache\":\"none\"," \
	"\"direct\":true}],\"disk_room_bytes\":1000000000,\"allow_insecure\":false" extra "}"
#define GUEST ",\"guest\":{\"name\":\"web1\",\"memory_mb\":256,\"ram_bytes\":268435456,\"machine\":\"pc-i440fx-7.2\"," \
	"\"dirty_mb_s\":2.0,\"disks\":[{\"vdev\":\"vda\",\"shared\":true,\"data_bytes\":100,\"size_bytes\":1000}]," \
	"\"vifs\":[{\"mac\":\"52:54:00:77:00:02\",\"bridge\":\"br-vm\"}]}"

static json_t *facts(const char *text, const char *path, json_t *value)
{
	json_t *f = json_loads(text, 0, NULL), *o = f;
	char key[64];

	assert_non_null(f);
	while (path && strchr(path, '.')) {
		size_t n = strcspn(path, ".");
		snprintf(key, sizeof(key), "%.*s", (int)n, path);
		o = json_object_get(o, key);
		path += n + 1;
	}
	if (path)
		json_object_set_new(o, path, value);
	return f;
}

/* The verdict of check id (the first with that id). */
static const char *verdict(json_t *checks, const char *id)
{
	size_t i;
	json_t *c;

	json_array_foreach(checks, i, c)
		if (!strcmp(json_string_value(json_object_get(c, "id")), id))
			return json_string_value(json_object_get(c, "verdict"));
	return "(none)";
}

static json_t *judge(json_t *src, json_t *dst, enum pf_kind kind)
{
	struct pf_mode m = { .kind = kind, .downtime_ms = 1 };
	json_t *net = json_pack("{s:f, s:f, s:f, s:f, s:[{s:s, s:b}]}", "rtt_ms", 0.05, "clock_offset_ms", 0.01,
				"clock_error_ms", 0.02, "bandwidth_mb_s", 1000.0, "l2", "bridge", "br-vm", "seen", 1);
	struct ferr err = {0};

	assert_int_equal(pf_facts_check(src, true, &err), 0);
	assert_int_equal(pf_facts_check(dst, false, &err), 0);
	json_t *c = pf_evaluate(src, dst, net, &m);
	json_decref(net);
	return c;
}

static void healthy_pair_passes(void **state)
{
	(void)state;
	json_t *src = facts(HOST("a", GUEST), NULL, NULL), *dst = facts(HOST("b", ""), NULL, NULL);
	for (int k = PF_LIVE; k <= PF_COLD_REBOOT; k++) {
		json_t *c = judge(src, dst, (enum pf_kind)k);
		size_t i;
		json_t *e;
		json_array_foreach(c, i, e) {
			const char *v = json_string_value(json_object_get(e, "verdict"));
			if (strcmp(v, "ok") && strcmp(v, "not-needed"))
				fail_msg("kind %d: %s is %s: %s", k, json_string_value(json_object_get(e, "id")), v,
					 json_string_value(json_object_get(e, "destination")));
		}
		assert_int_equal(pf_blocking(c, false, NULL, 0), 0);
		json_decref(c);
	}
	json_decref(src);
	json_decref(dst);
}

/* An older QEMU and another machine type block a move of the running state,
 * not a reboot move (the guest boots afresh). */
static void state_needs_same_qemu_and_machine(void **state)
{
	(void)state;
	json_t *src = facts(HOST("a", GUEST), "qemu.version", json_integer(800));
	json_t *dst = facts(HOST("b", ""), "qemu.pc", json_string("pc-i440fx-7.1"));
	json_t *live = judge(src, dst, PF_LIVE), *reboot = judge(src, dst, PF_COLD_REBOOT);
	json_t *susp = judge(src, dst, PF_COLD_SUSPEND);

	assert_string_equal(verdict(live, "qemu"), "blocking");
	assert_string_equal(verdict(live, "machine"), "blocking");
	assert_string_equal(verdict(susp, "qemu"), "blocking");
	assert_string_equal(verdict(reboot, "qemu"), "not-needed");
	assert_string_equal(verdict(reboot, "machine"), "not-needed");
	json_decref(live);
	json_decref(susp);
	json_decref(reboot);
	json_decref(src);
	json_decref(dst);
}

/* -cpu host under KVM: a feature the destination lacks blocks a live move;
 * a model the destination does not offer blocks every move. */
static void cpu_features_and_models(void **state)
{
	(void)state;
	json_t *src = facts(HOST("a", GUEST), "cpu.model", json_string("host"));
	json_object_set_new(src, "accel", json_string("kvm"));
	json_object_set_new(json_object_get(src, "cpu"), "flags", json_pack("[s, s, s]", "fpu", "sse2", "avx512f"));
	json_t *dst = facts(HOST("b", ""), "accel", json_string("kvm"));
	json_t *live = judge(src, dst, PF_LIVE), *reboot = judge(src, dst, PF_COLD_REBOOT);
	assert_string_equal(verdict(live, "cpu"), "blocking");
	assert_non_null(strstr(json_string_value(json_object_get(json_array_get(live, 4), "destination")), "avx512f"));
	assert_string_equal(verdict(reboot, "cpu"), "ok");
	json_decref(live);
	json_decref(reboot);
	json_object_set_new(json_object_get(dst, "cpu"), "offered", json_false());
	reboot = judge(src, dst, PF_COLD_REBOOT);
	assert_string_equal(verdict(reboot, "cpu"), "blocking");
	json_decref(reboot);
	json_decref(src);
	json_decref(dst);
}

/* The agent's guest memory limit binds before the host's free memory. */
static void memory_limit(void **state)
{
	(void)state;
	json_t *src = facts(HOST("a", GUEST), NULL, NULL), *dst = facts(HOST("b", ""), "memory.limit_mb", json_integer(512));
	json_object_set_new(json_object_get(dst, "memory"), "guests_mb", json_integer(300));
	json_t *c = judge(src, dst, PF_COLD_REBOOT);
	assert_string_equal(verdict(c, "memory"), "blocking");
	json_decref(c);
	json_object_set_new(json_object_get(dst, "memory"), "guests_mb", json_integer(0));
	c = judge(src, dst, PF_LIVE);
	assert_string_equal(verdict(c, "memory"), "ok");
	json_decref(c);
	json_decref(src);
	json_decref(dst);
}

/* An unshared disk: live without --copy-storage blocks; cold, the mover
 * takes it if the destination has the room. */
static void unshared_disk(void **state)
{
	(void)state;
	json_t *src = facts(HOST("a", GUEST), NULL, NULL), *dst = facts(HOST("b", ""), NULL, NULL);
	json_t *gd = json_array_get(json_object_get(json_object_get(src, "guest"), "disks"), 0);
	json_object_set_new(gd, "shared", json_false());
	json_object_set_new(gd, "data_bytes", json_integer(500000000));
	json_object_set_new(json_array_get(json_object_get(dst, "disks"), 0), "shared", json_false());
	json_t *live = judge(src, dst, PF_LIVE), *cold = judge(src, dst, PF_COLD_SUSPEND);
	assert_string_equal(verdict(live, "storage"), "blocking");
	assert_string_equal(verdict(cold, "storage"), "ok");
	json_decref(live);
	json_decref(cold);
	json_object_set_new(dst, "disk_room_bytes", json_integer(100000000));
	cold = judge(src, dst, PF_COLD_SUSPEND);
	assert_string_equal(verdict(cold, "storage"), "blocking");
	json_decref(cold);
	json_decref(src);
	json_decref(dst);
}

static void precopy_model(void **state)
{
	(void)state;
	int rounds;
	/* Nothing dirtied: one round, RAM / rate. */
	assert_true(pf_precopy_seconds(1e9, 1e9, 0, 0.001, &rounds) == 1.0);
	assert_int_equal(rounds, 1);
	/* Dirtying at a tenth of the rate: rounds of 1, 0.1, 0.01 s, then the
	 * last 1 MB fits the 1 ms pause: 1.111 s. */
	double t = pf_precopy_seconds(1e9, 1e9, 1e8, 0.001, &rounds);
	assert_true(t > 1.1105 && t < 1.1115);
	assert_int_equal(rounds, 3);
	/* Dirtying as fast as the link: never. */
	assert_true(pf_precopy_seconds(1e9, 1e9, 1e9, 0.001, &rounds) < 0);
	assert_true(pf_precopy_seconds(1e9, 0, 0, 0.001, &rounds) < 0);
}

/* What a hostile peer may answer: each is refused by the schema. */
static void hostile_facts_refused(void **state)
{
	(void)state;
	struct ferr err = {0};
	const char *bad[][2] = {
		{ "memory.available_mb", "\"lots\"" },
		{ "qemu.version", "-5" },
		{ "macs_taken", "[{\"mac\":\"x\",\"vm\":\"y\"}]" },
		{ "host", "\"b\\u0000c\"" },
		{ "evil", "1" },
		{ "cpu.flags", "[1]" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *f = facts(HOST("b", ""), bad[i][0], json_loads(bad[i][1], JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL));
		memset(&err, 0, sizeof(err));
		if (pf_facts_check(f, false, &err) == 0)
			fail_msg("facts with %s = %s were accepted", bad[i][0], bad[i][1]);
		json_decref(f);
	}
	/* Too many flags. */
	json_t *f = facts(HOST("b", ""), NULL, NULL), *flags = json_array();
	for (int i = 0; i <= PF_MAX_FLAGS; i++)
		json_array_append_new(flags, json_string("x"));
	json_object_set_new(json_object_get(f, "cpu"), "flags", flags);
	assert_int_equal(pf_facts_check(f, false, &err), -EPROTO);
	json_decref(f);
}

/* --force skips the overridable checks (another accelerator), not the rest. */
static void force_skips_only_overridable(void **state)
{
	(void)state;
	char forced[100];
	json_t *src = facts(HOST("a", GUEST), NULL, NULL), *dst = facts(HOST("b", ""), "accel", json_string("kvm"));
	json_t *c = judge(src, dst, PF_LIVE);
	assert_int_equal(pf_blocking(c, false, NULL, 0), 1);
	assert_int_equal(pf_blocking(c, true, forced, sizeof(forced)), 0);
	assert_string_equal(forced, "accel");
	json_decref(c);
	json_object_set_new(dst, "name_taken", json_true());
	c = judge(src, dst, PF_LIVE);
	assert_int_equal(pf_blocking(c, true, forced, sizeof(forced)), 1);
	char why[300];
	pf_refusal(c, true, why, sizeof(why));
	assert_non_null(strstr(why, "b already has a guest named web1"));
	json_decref(c);
	json_decref(src);
	json_decref(dst);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(healthy_pair_passes),
		cmocka_unit_test(state_needs_same_qemu_and_machine),
		cmocka_unit_test(cpu_features_and_models),
		cmocka_unit_test(memory_limit),
		cmocka_unit_test(unshared_disk),
		cmocka_unit_test(precopy_model),
		cmocka_unit_test(hostile_facts_refused),
		cmocka_unit_test(force_skips_only_overridable),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
