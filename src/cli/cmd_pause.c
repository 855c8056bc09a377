/* cmd_pause.c: ferry pause|unpause NAME — QMP stop / cont. */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

int cmd_pause(struct cli *cli, int argc, char **argv)
{
	const char *name = cli_one_name(cli, argc, argv);
	json_t *res;

	if (!name)
		return 2;
	if (cli_call(cli, argv[0], json_pack("{s:s}", "name", name), &res))
		return 1;
	if (cli->json)
		cli_print_json(res);
	else
		printf("%s %s\n", name, strcmp(argv[0], "pause") ? "resumed" : "paused");
	json_decref(res);
	return 0;
}
