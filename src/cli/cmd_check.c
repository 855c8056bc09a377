/* cmd_check.c: ferry check NAME DEST: the requirements of a move, checked
 * on both hosts and explained (docs/requirements.md). */
#include "cli/cli.h"
#include "config/hosts.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *verdict_word(const char *v, bool tty)
{
	if (!tty)
		return v;
	if (!strcmp(v, "ok"))
		return "\033[32mok\033[0m      ";
	if (!strcmp(v, "warning"))
		return "\033[33mwarning\033[0m ";
	if (!strcmp(v, "blocking"))
		return "\033[31mblocking\033[0m";
	return "not-needed";
}

static void print_report(json_t *res, const char *name, const char *src, const char *dest, const char *kind)
{
	json_t *checks = json_object_get(res, "checks"), *c;
	bool tty = isatty(1);
	int warn = 0, block = 0;
	size_t i;

	json_array_foreach(checks, i, c) {
		const char *v = json_string_value(json_object_get(c, "verdict"));
		warn += !strcmp(v, "warning");
		block += !strcmp(v, "blocking");
	}
	printf("%s: %s -> %s, %s move: %d blocking, %d warning(s) (checked in %.2f s)\n", name, src, dest, kind, block,
	       warn, json_integer_value(json_object_get(res, "took_ms")) / 1000.0);
	printf("%-22s %-10s %s\n", "REQUIREMENT", "VERDICT", "FACTS (source / destination) AND WHY");
	json_array_foreach(checks, i, c) {
		const char *v = json_string_value(json_object_get(c, "verdict"));
		printf("%-22s %s%s %s\n", json_string_value(json_object_get(c, "title")), verdict_word(v, tty),
		       tty || strlen(v) >= 10 ? "" : &"          "[strlen(v)], json_string_value(json_object_get(c, "source")));
		printf("%-33s %s\n", "", json_string_value(json_object_get(c, "destination")));
		if (!strcmp(v, "blocking") && json_is_true(json_object_get(c, "overridable")))
			printf("%-33s (--force moves anyway)\n", "");
		printf("%-33s why: %s\n", "", json_string_value(json_object_get(c, "why")));
	}
}

int cmd_check(struct cli *cli, int argc, char **argv)
{
	struct migrate_args m = { .opts = json_object() };
	struct host_entry h;
	struct ferr err = {0};
	json_t *res;
	int rc = migrate_parse_opts(cli, argc, argv, &m);

	if (!rc && (m.special || m.probe)) {
		fprintf(stderr, "ferry: check takes the options of a move, not --cancel, --recover or --probe\n");
		rc = 2;
	}
	if (rc || cli_args_done(argc, argv, 2) < 0) {
		json_decref(m.opts);
		return rc ? rc : 2;
	}
	const char *name = argv[optind], *dest = argv[optind + 1];
	const char *hosts = cli->hosts ? cli->hosts : hosts_default_path();
	const char *cold = json_string_value(json_object_get(m.opts, "cold"));
	char kind[32];
	snprintf(kind, sizeof(kind), "%s%s", cold ? "cold " : "live", cold ? cold : "");
	if (cli->host && !strcmp(cli->host, dest))
		ferr_set(&err, "%s is on host %s already (source and destination are the same)", name, dest);
	if (err.msg[0] || hosts_lookup(hosts, dest, &h, &err) < 0) {
		fprintf(stderr, "ferry: %s\n", err.msg);
		json_decref(m.opts);
		return 1;
	}
	if (isatty(2) && !cli->json)
		fprintf(stderr, "checking %s for a %s move to %s (about 2 s) ...\r", name, kind, dest);
	json_t *args = migrate_request(name, &h, m.opts);
	json_decref(m.opts);
	rc = cli_call(cli, "vm-check", args, &res);
	if (isatty(2) && !cli->json)
		fprintf(stderr, "\033[K");
	if (rc)
		return rc;
	if (cli->json)
		cli_print_json(res);
	else
		print_report(res, name, json_string_value(json_object_get(json_object_get(json_object_get(res, "facts"),
											   "source"), "host")) ?: "?",
			     dest, kind);
	rc = json_integer_value(json_object_get(res, "blocking")) > 0 ? 1 : 0;
	json_decref(res);
	return rc;
}
