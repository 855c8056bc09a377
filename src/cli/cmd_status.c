/* cmd_status.c: ferry status NAME — one VM in detail. */
#include "cli/cli.h"

#include <stdio.h>

int cmd_status(struct cli *cli, int argc, char **argv)
{
	const char *name = cli_one_name(cli, argc, argv);
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
	cli_format_uptime(json_integer_value(json_object_get(res, "started_us")), up, sizeof(up));
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
