/* cmd_create.c: ferry create CFG — check the config here, then start it on the agent. */
#include "cli/cli.h"
#include "config/vmcfg.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

int cmd_create(struct cli *cli, int argc, char **argv)
{
	struct vm_config *cfg;
	struct ferr err = {0};
	json_t *res;
	char *text;

	if (cli_getopt(cli, argc, argv, NULL, NULL) != -1 || cli_args_done(argc, argv, 1) < 0)
		return 2;
	const char *path = argv[optind];
	/* Check here first: the user gets file:line before anything is sent. */
	if (vmcfg_load(path, &cfg, &err) < 0) {
		fprintf(stderr, "ferry: %s\n", err.msg);
		return 1;
	}
	text = vmcfg_format(cfg);
	vmcfg_free(cfg);
	int r = cli_call(cli, "create", json_pack("{s:s, s:s}", "config", text, "source", path), &res);
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
