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
