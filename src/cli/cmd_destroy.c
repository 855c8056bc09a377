/* cmd_destroy.c: ferry destroy NAME — end the VM's QEMU at once. */
#include "cli/cli.h"

#include <stdio.h>

int cmd_destroy(struct cli *cli, int argc, char **argv)
{
	const char *name = cli_one_name(cli, argc, argv);
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
