/* cmd_history.c: ferry history [NAME] — the migrations an agent took part in. */
#include "cli/cli.h"

#include <stdio.h>
#include <time.h>

int cmd_history(struct cli *cli, int argc, char **argv)
{
	json_t *res, *r;
	size_t i;

	if (argc > 2 || (argc == 2 && argv[1][0] == '-'))
		return cli_usage(argv[0], true);
	if (cli_call(cli, "history", argc == 2 ? json_pack("{s:s}", "name", argv[1]) : NULL, &res))
		return 1;
	if (cli->json) {
		cli_print_json(res);
		json_decref(res);
		return 0;
	}
	printf("%-20s %-12s %-6s %-6s %-9s %-10s %9s %9s %9s %10s\n", "WHEN (UTC)", "NAME", "FROM", "TO", "MODE",
	       "STATUS", "TOTAL_MS", "PAUSE_MS", "QEMU_DT", "MB");
	json_array_foreach(json_object_get(res, "migrations"), i, r) {
		time_t t = json_integer_value(json_object_get(r, "started_us")) / 1000000;
		struct tm tm;
		char when[32];
		gmtime_r(&t, &tm);
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
		json_t *pause = json_object_get(r, "pause_ms");
		printf("%-20s %-12s %-6s %-6s %-9s %-10s %9lld %9.1f %9lld %10.1f\n", when,
		       json_string_value(json_object_get(r, "name")), json_string_value(json_object_get(r, "src")),
		       json_string_value(json_object_get(r, "dst")), json_string_value(json_object_get(r, "mode")),
		       json_string_value(json_object_get(r, "status")),
		       (long long)json_integer_value(json_object_get(r, "total_ms")),
		       json_is_number(pause) ? json_number_value(pause) : -1.0,
		       (long long)json_integer_value(json_object_get(r, "qemu_downtime_ms")),
		       json_integer_value(json_object_get(r, "bytes")) / 1e6);
	}
	json_decref(res);
	return 0;
}
