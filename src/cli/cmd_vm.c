/* cmd_vm.c: the VM verbs that are one request each: create, list, status,
 * shutdown, destroy. */
#include "cli/cli.h"
#include "config/vmcfg.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Parses "VERB NAME" with no options; prints usage on a mismatch. */
static const char *one_name(int argc, char **argv)
{
	if (argc != 2 || argv[1][0] == '-') {
		cli_usage(argv[0], true);
		return NULL;
	}
	return argv[1];
}

int cmd_create(struct cli *cli, int argc, char **argv)
{
	struct vm_config *cfg;
	struct ferr err = {0};
	json_t *res;
	char *text;

	if (argc != 2 || argv[1][0] == '-')
		return cli_usage(argv[0], true);
	/* Check here first: the user gets file:line before anything is sent. */
	if (vmcfg_load(argv[1], &cfg, &err) < 0) {
		fprintf(stderr, "ferry: %s\n", err.msg);
		return 1;
	}
	text = vmcfg_format(cfg);
	vmcfg_free(cfg);
	int r = cli_call(cli, "create", json_pack("{s:s, s:s}", "config", text, "source", argv[1]), &res);
	free(text);
	if (r)
		return r;
	if (cli->json)
		cli_print_json(res);
	else
		printf("%s started on host %s (accel %s, QEMU pid %lld)\n",
		       json_string_value(json_object_get(res, "name")),
		       json_string_value(json_object_get(res, "host")),
		       json_string_value(json_object_get(res, "accel")),
		       (long long)json_integer_value(json_object_get(res, "pid")));
	json_decref(res);
	return 0;
}

static void format_uptime(long long started_us, char *out, size_t n)
{
	long long s = started_us ? (time_real_us() - started_us) / 1000000 : 0;

	if (s < 0)
		s = 0;
	if (s >= 86400)
		snprintf(out, n, "%lldd%02lldh", s / 86400, s % 86400 / 3600);
	else if (s >= 3600)
		snprintf(out, n, "%lldh%02lldm", s / 3600, s % 3600 / 60);
	else
		snprintf(out, n, "%lldm%02llds", s / 60, s % 60);
}

int cmd_list(struct cli *cli, int argc, char **argv)
{
	json_t *res, *vm;
	size_t i;

	if (argc != 1)
		return cli_usage(argv[0], true);
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
		format_uptime(json_integer_value(json_object_get(vm, "started_us")), up, sizeof(up));
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

int cmd_status(struct cli *cli, int argc, char **argv)
{
	const char *name = one_name(argc, argv);
	json_t *res, *vif;
	size_t i;
	char up[32];

	if (!name)
		return 2;
	if (cli_call(cli, "status", json_pack("{s:s}", "name", name), &res))
		return 1;
	if (cli->json) {
		cli_print_json(res);
		json_decref(res);
		return 0;
	}
	format_uptime(json_integer_value(json_object_get(res, "started_us")), up, sizeof(up));
	printf("name:      %s\nhost:      %s\nstate:     %s\naccel:     %s\nqemu pid:  %lld\nuptime:    %s\nstate dir: %s\n",
	       json_string_value(json_object_get(res, "name")), json_string_value(json_object_get(res, "host")),
	       json_string_value(json_object_get(res, "state")), json_string_value(json_object_get(res, "accel")),
	       (long long)json_integer_value(json_object_get(res, "pid")), up,
	       json_string_value(json_object_get(res, "state_dir")));
	json_array_foreach(json_object_get(res, "vifs"), i, vif)
		printf("vif %zu:     %s on %s (TAP %s)\n", i, json_string_value(json_object_get(vif, "mac")),
		       json_string_value(json_object_get(vif, "bridge")), json_string_value(json_object_get(vif, "tap")));
	printf("config:\n%s", json_string_value(json_object_get(res, "config")));
	json_decref(res);
	return 0;
}

int cmd_shutdown(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = { { "timeout", required_argument, NULL, 't' }, { 0 } };
	int timeout = 60, c;
	json_t *res;

	optind = 0;
	while ((c = getopt_long(argc, argv, "t:", opts, NULL)) != -1) {
		if (c != 't')
			return cli_usage(argv[0], true);
		char *end;
		timeout = (int)strtol(optarg, &end, 10);
		if (*end || timeout < 1 || timeout > 3600) {
			fprintf(stderr, "ferry: --timeout must be 1 to 3600 seconds\n");
			return 2;
		}
	}
	if (optind != argc - 1)
		return cli_usage(argv[0], true);
	if (cli->timeout_ms < (timeout + 10) * 1000)
		cli->timeout_ms = (timeout + 10) * 1000;
	if (cli_call(cli, "shutdown", json_pack("{s:s, s:i}", "name", argv[optind], "timeout_s", timeout), &res))
		return 1;
	if (cli->json)
		cli_print_json(res);
	else
		printf("%s shut down\n", argv[optind]);
	json_decref(res);
	return 0;
}

int cmd_destroy(struct cli *cli, int argc, char **argv)
{
	const char *name = one_name(argc, argv);
	json_t *res;

	if (!name)
		return 2;
	if (cli_call(cli, "destroy", json_pack("{s:s}", "name", name), &res))
		return 1;
	if (cli->json)
		cli_print_json(res);
	else
		printf("%s destroyed\n", name);
	json_decref(res);
	return 0;
}
