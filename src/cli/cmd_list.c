/* cmd_list.c: ferry list — the agent's VMs. */
#include "cli/cli.h"

#include <getopt.h>
#include <stdio.h>

int cmd_list(struct cli *cli, int argc, char **argv)
{
	json_t *res, *vm;
	size_t i;

	if (cli_getopt(cli, argc, argv, NULL, NULL) != -1 || cli_args_done(argc, argv, 0) < 0)
		return 2;
	if (cli_call(cli, "list", NULL, &res))
		return 1;
	if (cli->json) {
		cli_print_json(res);
		json_decref(res);
		return 0;
	}
	printf("%-16s %-8s %-14s %7s %5s %-5s %8s %8s\n", "NAME", "HOST", "STATE", "MEM(MB)", "VCPUS", "ACCEL", "PID", "UPTIME");
	json_array_foreach(json_object_get(res, "vms"), i, vm) {
		char up[32];
		cli_format_uptime(json_integer_value(json_object_get(vm, "started_us")), up, sizeof(up));
		printf("%-16s %-8s %-14s %7lld %5lld %-5s %8lld %8s\n",
		       json_string_value(json_object_get(vm, "name")),
		       json_string_value(json_object_get(vm, "host")),
		       json_string_value(json_object_get(vm, "state")),
		       (long long)json_integer_value(json_object_get(vm, "memory_mb")),
		       (long long)json_integer_value(json_object_get(vm, "vcpus")),
		       json_string_value(json_object_get(vm, "accel")),
		       (long long)json_integer_value(json_object_get(vm, "pid")), up);
	}
	json_decref(res);
	return 0;
}
