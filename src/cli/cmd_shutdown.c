/* cmd_shutdown.c: ferry shutdown NAME [--timeout S] — ACPI power-off, bounded. */
#include "cli/cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

int cmd_shutdown(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = { { "timeout", required_argument, NULL, 't' }, { 0 } };
	int timeout = 60, c;
	json_t *res;

	while ((c = cli_getopt(cli, argc, argv, "t:", opts)) != -1) {
		long long v;
		if (c != 't' || cli_parse_num("--timeout", optarg, 1, 3600, &v) < 0)
			return 2;
		timeout = (int)v;
	}
	if (cli_args_done(argc, argv, 1) < 0)
		return 2;
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
