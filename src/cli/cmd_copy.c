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
#include <unistd.h>

/* On a terminal: sent, speed, and a rough ETA from how far the walk got. */
static void on_progress(json_t *p, void *opaque)
{
	int64_t *t0 = opaque;
	double s = (double)(time_mono_us() - *t0) / 1e6;
	double sent = (double)json_integer_value(json_object_get(p, "sent_bytes")) / 1048576;
	double pos = (double)json_integer_value(json_object_get(p, "pos"));
	double size = (double)json_integer_value(json_object_get(p, "size"));

	if (s <= 0 || size <= 0)
		return;
	double eta = pos > 0 ? (size - pos) / (pos / s) : 0;
	fprintf(stderr, "\r  copying: %.1f MiB sent, %.1f MiB/s, %3.0f%% of the image walked, ETA %.0f s   ", sent,
		sent / s, 100 * pos / size, eta);
}

int cmd_copy(struct cli *cli, int argc, char **argv)
{
	struct host_entry h;
	struct ferr err = {0};
	json_t *res;
	struct agent_conn *conn = NULL;

	static const struct option opts[] = { { "streams", required_argument, NULL, 's' }, { 0 } };
	long long streams = 0;
	int c;

	while ((c = cli_getopt(cli, argc, argv, "", opts)) != -1) {
		if (c != 's' || cli_parse_num("--streams", optarg, 1, 8, &streams) < 0)
			return 2;
	}
	if (cli_args_done(argc, argv, 2) < 0)
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
	int64_t t0 = time_mono_us();
	bool tty = isatty(2) && !cli->json;
	json_t *args = json_pack("{s:s, s:s, s:{s:s, s:s, s:i}}", "source", src, "target", colon + 1, "dest", "host", host,
				 "addr", h.addr, "port", h.port);
	if (streams)
		json_object_set_new(args, "streams", json_integer(streams));
	/* The agent bounds the transfer (6 h); no shorter limit here. */
	if (agent_connect(cli, cli->host, &conn, &err) < 0 ||
	    agent_call_progress(conn, "copy", args, 6 * 3600 * 1000 + 60000, &res, &err, tty ? on_progress : NULL, &t0) < 0) {
		if (tty)
			fputc('\n', stderr);
		fprintf(stderr, "ferry: %s\n", err.msg);
		if (conn)
			agent_close(conn);
		return 1;
	}
	if (tty)
		fputc('\n', stderr);
	agent_close(conn);
	if (cli->json) {
		cli_print_json(res);
	} else {
		double s = json_number_value(json_object_get(res, "seconds"));
		double data = (double)json_integer_value(json_object_get(res, "data_bytes")) / 1048576;
		double sent = (double)json_integer_value(json_object_get(res, "sent_bytes")) / 1048576;
		double wire = (double)json_integer_value(json_object_get(res, "wire_bytes")) / 1048576;
		printf("copied %s to %s: %.1f MiB of data (%.1f MiB sent, %.1f MiB on the wire) in %.2f s, %.1f MiB/s, "
		       "%lld stream%s%s\n",
		       json_string_value(json_object_get(res, "source")), to, data, sent, wire, s, s > 0 ? sent / s : 0,
		       (long long)json_integer_value(json_object_get(res, "streams")),
		       json_integer_value(json_object_get(res, "streams")) == 1 ? "" : "s",
		       json_integer_value(json_object_get(res, "skipped_blocks")) ? " (resumed: the rest was there)" : "");
	}
	json_decref(res);
	return 0;
}
