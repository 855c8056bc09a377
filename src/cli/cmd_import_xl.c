/* cmd_import_xl.c: ferry import-xl XL.cfg [-o OUT.cfg]: a Xen xl guest
 * config as a ferry config, with what could not be translated and why. */
#include "cli/cli.h"
#include "config/cfgfile.h"
#include "config/xlimport.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int cmd_import_xl(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = { { "output", required_argument, NULL, 'o' }, { 0 } };
	const char *out = NULL;
	struct ferr err = {0};
	char *text = NULL, *config = NULL;
	size_t len = 0;
	json_t *notes = NULL, *n;
	size_t i;
	int c;

	while ((c = cli_getopt(cli, argc, argv, "o:", opts)) != -1) {
		if (c != 'o')
			return 2;
		out = optarg;
	}
	if (cli_args_done(argc, argv, 1) < 0)
		return 2;
	const char *in = argv[optind];
	if (cfg_read_file(in, &text, &len, &err) < 0 || xl_import(text, len, in, &config, &notes, &err) < 0) {
		fprintf(stderr, "ferry: %s\n", err.msg);
		free(text);
		return 1;
	}
	free(text);
	int rc = 0;
	if (out) {
		/* A new file only: an existing config is not overwritten. */
		int fd = open(out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd < 0 || write_all(fd, config, strlen(config)) < 0 || close(fd) < 0) {
			fprintf(stderr, "ferry: cannot write %s: %s\n", out, strerror(errno));
			if (fd >= 0 && errno != EEXIST)
				unlink(out);
			rc = 1;
		}
	}
	if (cli->json) {
		json_t *res = json_pack("{s:s, s:O, s:s?}", "config", config, "notes", notes, "output", out);
		cli_print_json(res);
		json_decref(res);
	} else {
		if (!out)
			fputs(config, stdout);
		json_array_foreach(notes, i, n)
			fprintf(stderr, "import-xl: %s:%lld: %s: %s\n", in, (long long)json_integer_value(json_object_get(n, "line")),
				json_string_value(json_object_get(n, "key")), json_string_value(json_object_get(n, "why")));
		if (out && !rc)
			fprintf(stderr, "import-xl: wrote %s (%zu note%s above)\n", out, json_array_size(notes),
				json_array_size(notes) == 1 ? "" : "s");
	}
	free(config);
	json_decref(notes);
	return rc;
}
