/* fuzz_facts: a destination agent's answer to host-facts, as a hostile peer
 * could send it: whatever passes the schema is judged without a crash, and
 * every judgment is one of the four verdicts with its sentences. */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "preflight/preflight.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static json_t *src;
	struct ferr err = {0};

	if (!src) {
		/* A source's own facts (the lab's host a, web1 on it). */
		src = json_loads("{\"host\":\"a\",\"protocol\":6,\"version\":\"0.1.0\",\"time_us\":1,"
				 "\"qemu\":{\"version\":702,\"pc\":\"pc-i440fx-7.2\"},\"kvm\":{\"usable\":false,\"why\":\"x\"},"
				 "\"accel\":\"tcg\",\"cpu\":{\"model\":\"qemu64\",\"offered\":true,\"limit\":\"\",\"flags\":[\"fpu\"]},"
				 "\"memory\":{\"available_mb\":2000,\"total_mb\":4000,\"limit_mb\":-1,\"guests_mb\":256,"
				 "\"hugepages_free\":0,\"hugepage_kb\":2048},\"name_taken\":false,\"macs_taken\":[],"
				 "\"bridges\":[{\"name\":\"br-vm\",\"exists\":true}],\"disks\":[{\"vdev\":\"vda\",\"pool\":\"\","
				 "\"shared\":true,\"visible\":true,\"used_by\":\"\",\"cache\":\"none\",\"direct\":true}],"
				 "\"disk_room_bytes\":1000000,\"allow_insecure\":false,\"guest\":{\"name\":\"web1\",\"memory_mb\":256,"
				 "\"ram_bytes\":268443648,\"machine\":\"pc-i440fx-7.2\",\"dirty_mb_s\":3.5,\"disks\":[{\"vdev\":\"vda\","
				 "\"shared\":true,\"data_bytes\":100,\"size_bytes\":1000}],\"vifs\":[{\"mac\":\"52:54:00:77:00:02\","
				 "\"bridge\":\"br-vm\"}]}}", 0, NULL);
		if (!src || pf_facts_check(src, true, &err) < 0)
			abort();
	}
	json_t *dst = json_loadb((const char *)data, size, 0, NULL);
	if (!dst)
		return 0;
	if (pf_facts_check(dst, false, &err) == 0) {
		json_t *net = json_pack("{s:f, s:f, s:f, s:f, s:[]}", "rtt_ms", 0.1, "clock_offset_ms", 0.2, "clock_error_ms",
					0.05, "bandwidth_mb_s", 100.0, "l2");
		for (int kind = PF_LIVE; kind <= PF_COLD_REBOOT; kind++) {
			struct pf_mode m = { .kind = (enum pf_kind)kind, .downtime_ms = 1 };
			json_t *checks = pf_evaluate(src, dst, net, &m), *c;
			size_t i;
			json_array_foreach(checks, i, c) {
				const char *v = json_string_value(json_object_get(c, "verdict"));
				if (!v || (strcmp(v, "ok") && strcmp(v, "warning") && strcmp(v, "blocking") && strcmp(v, "not-needed")) ||
				    !json_string_value(json_object_get(c, "destination")))
					abort();
			}
			char why[800];
			pf_refusal(checks, false, why, sizeof(why));
			json_decref(checks);
		}
		json_decref(net);
	}
	json_decref(dst);
	return 0;
}
