/* cmd_save.c: ferry [-H HOST] save NAME FILE [--keep-running] [--with-disks] and
 * ferry [-H HOST] restore FILE [--paused] (xl save / xl save -c / xl restore
 * [-p]; docs/save.md). FILE is on the agent's host, inside its vm_dirs; a
 * relative FILE is taken from this folder (the lab's hosts share it). */
#include "cli/cli.h"

#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* FILE as the agent needs it: absolute. */
static void absolute(const char *file, char *out, size_t n)
{
	char cwd[PATH_MAX];

	if (file[0] == '/' || !getcwd(cwd, sizeof(cwd)))
		snprintf(out, n, "%s", file);
	else
		snprintf(out, n, "%s/%s", cwd, file);
}

int cmd_save(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "keep-running", no_argument, NULL, 'k' },
		{ "with-disks", no_argument, NULL, 'w' },
		{ 0 }
	};
	bool keep = false, disks = false;
	char path[PATH_MAX + 256];
	json_t *res;
	int c;

	while ((c = cli_getopt(cli, argc, argv, "c", opts)) != -1) {
		if (c == 'k' || c == 'c')
			keep = true;
		else if (c == 'w')
			disks = true;
		else
			return 2;
	}
	if (cli_args_done(argc, argv, 2) < 0)
		return 2;
	absolute(argv[optind + 1], path, sizeof(path));
	if (isatty(2) && !cli->json)
		fprintf(stderr, "saving %s to %s ...", argv[optind], path);
	int r = cli_call(cli, "save", json_pack("{s:s, s:s, s:b, s:b}", "name", argv[optind], "file", path, "keep_running",
						 keep, "with_disks", disks), &res);
	if (isatty(2) && !cli->json)
		fputc('\n', stderr);
	if (r)
		return 1;
	if (cli->json)
		cli_print_json(res);
	else
		printf("saved %s to %s on host %s: %.1f MB in %.2f s (QEMU %s, machine %s)%s\n",
		       json_string_value(json_object_get(res, "name")), json_string_value(json_object_get(res, "file")),
		       json_string_value(json_object_get(res, "host")),
		       json_integer_value(json_object_get(res, "bytes")) / 1e6,
		       json_number_value(json_object_get(res, "seconds")), json_string_value(json_object_get(res, "qemu")),
		       json_string_value(json_object_get(res, "machine")),
		       json_is_true(json_object_get(res, "kept_running")) ? "; it keeps running" : "; it is off now");
	for (size_t i = 0; i < json_array_size(json_object_get(res, "disks")); i++) {
		json_t *d = json_array_get(json_object_get(res, "disks"), i);
		printf("  and its disk in %s: %.1f MB of data in %.1f MB\n", json_string_value(json_object_get(d, "file")),
		       json_integer_value(json_object_get(d, "data_bytes")) / 1e6,
		       json_integer_value(json_object_get(d, "bytes")) / 1e6);
	}
	json_decref(res);
	return 0;
}

int cmd_restore(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = { { "paused", no_argument, NULL, 'p' }, { 0 } };
	bool paused = false;
	char path[PATH_MAX + 256];
	json_t *res;
	int c;

	while ((c = cli_getopt(cli, argc, argv, "p", opts)) != -1) {
		if (c == 'p')
			paused = true;
		else
			return 2;
	}
	if (cli_args_done(argc, argv, 1) < 0)
		return 2;
	absolute(argv[optind], path, sizeof(path));
	if (isatty(2) && !cli->json)
		fprintf(stderr, "restoring from %s ...", path);
	int r = cli_call(cli, "restore", json_pack("{s:s, s:b}", "file", path, "paused", paused), &res);
	if (isatty(2) && !cli->json)
		fputc('\n', stderr);
	if (r)
		return 1;
	if (cli->json)
		cli_print_json(res);
	else
		printf("restored %s on host %s from %s in %.2f s: %s\n", json_string_value(json_object_get(res, "name")),
		       json_string_value(json_object_get(res, "host")), json_string_value(json_object_get(res, "file")),
		       json_number_value(json_object_get(res, "seconds")), json_string_value(json_object_get(res, "state")));
	json_decref(res);
	return 0;
}
