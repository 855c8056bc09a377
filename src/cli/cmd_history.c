/* cmd_history.c: ferry history [--last N] [--since T] [NAME] — the migrations an
 * agent took part in (the newest 100 unless --last says otherwise). */
#include "cli/cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int cmd_history(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "last", required_argument, NULL, 'n' },
		{ "since", required_argument, NULL, 's' },
		{ 0 }
	};
	json_t *res, *r, *args = json_object();
	size_t i;
	int c;

	while ((c = cli_getopt(cli, argc, argv, "n:", opts)) != -1) {
		long long v;
		switch (c) {
		case 'n':
			if (cli_parse_num("--last", optarg, 1, 100000, &v) < 0)
				goto bad;
			json_object_set_new(args, "last", json_integer(v));
			break;
		case 's':
			/* Seconds since the epoch (date +%s). */
			if (cli_parse_num("--since (seconds since 1970, date +%s)", optarg, 0, 1LL << 40, &v) < 0)
				goto bad;
			json_object_set_new(args, "since_us", json_integer(v * 1000000));
			break;
		default:
			goto bad;
		}
	}
	if (argc - optind > 1) {
		cli_args_done(argc, argv, 1);
		goto bad;
	}
	if (optind < argc)
		json_object_set_new(args, "name", json_string(argv[optind]));
	if (cli_call(cli, "history", args, &res))
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
bad:
	json_decref(args);
	return 2;
}
