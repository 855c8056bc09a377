/* cmd_copy.c: ferry [-H SRC] copy PATH|POOL/VOL HOST:PATH|HOST:POOL/VOL —
 * the disk mover on its own (docs/mover.md): the source agent sends the image
 * to HOST's agent, TLS-PSK, only the blocks that hold data, every block
 * checked on arrival; a run after an interruption sends only what is
 * missing. */
#include "cli/cli.h"
#include "config/hosts.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

int cmd_copy(struct cli *cli, int argc, char **argv)
{
	struct host_entry h;
	struct ferr err = {0};
	json_t *res;

	if (cli_getopt(cli, argc, argv, "", NULL) != -1 || cli_args_done(argc, argv, 2) < 0)
		return 2;
	const char *src = argv[optind], *to = argv[optind + 1], *colon = strchr(to, ':');
	char host[64];
	if (!colon || colon == to || (size_t)(colon - to) >= sizeof(host) || !colon[1]) {
		fprintf(stderr, "ferry: the target is HOST:PATH or HOST:POOL/VOLUME, not '%s'\n", to);
		return 2;
	}
	snprintf(host, sizeof(host), "%.*s", (int)(colon - to), to);
	if (cli->host && !strcmp(cli->host, host)) {
		fprintf(stderr, "ferry: source and target are both on host %s (use vol import or cp there)\n", host);
		return 2;
	}
	if (hosts_lookup(cli->hosts ? cli->hosts : hosts_default_path(), host, &h, &err) < 0) {
		fprintf(stderr, "ferry: %s\n", err.msg);
		return 1;
	}
	struct cli c = *cli;
	c.timeout_ms = 6 * 3600 * 1000;   /* the agent bounds the transfer */
	json_t *args = json_pack("{s:s, s:s, s:{s:s, s:s, s:i}}", "source", src, "target", colon + 1, "dest", "host", host,
				 "addr", h.addr, "port", h.port);
	if (cli_call(&c, "copy", args, &res))
		return 1;
	if (cli->json) {
		cli_print_json(res);
	} else {
		double s = json_number_value(json_object_get(res, "seconds"));
		double data = (double)json_integer_value(json_object_get(res, "data_bytes")) / 1048576;
		double sent = (double)json_integer_value(json_object_get(res, "sent_bytes")) / 1048576;
		double wire = (double)json_integer_value(json_object_get(res, "wire_bytes")) / 1048576;
		printf("copied %s to %s: %.1f MiB of data (%.1f MiB sent, %.1f MiB on the wire) in %.2f s, %.1f MiB/s%s\n",
		       json_string_value(json_object_get(res, "source")), to, data, sent, wire, s, s > 0 ? sent / s : 0,
		       json_integer_value(json_object_get(res, "skipped_blocks")) ? " (resumed: the rest was there)" : "");
	}
	json_decref(res);
	return 0;
}
