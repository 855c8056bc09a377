/* cmd_pool.c: ferry pool define|list|info|undefine and ferry vol
 * create|list|delete: an agent's storage pools and their volumes
 * (docs/storage.md). */
#include "cli/cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "64M", "10G", "1048576": bytes (K, M, G, T: powers of 1024). */
static int parse_size(const char *s, long long *out)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	int shift = 0;

	if (end == s || errno || v <= 0)
		goto bad;
	switch (*end) {
	case 'K': case 'k': shift = 10; end++; break;
	case 'M': case 'm': shift = 20; end++; break;
	case 'G': case 'g': shift = 30; end++; break;
	case 'T': case 't': shift = 40; end++; break;
	}
	if (*end == 'i' || *end == 'B')
		end += *end == 'i' && end[1] == 'B' ? 2 : 1;
	if (*end || v > (1LL << 44) >> shift)
		goto bad;
	*out = v << shift;
	return 0;
bad:
	fprintf(stderr, "ferry: size '%s' is not a size such as 64M, 10G or 1048576 (at most 16T)\n", s);
	return -1;
}

static void print_size(long long b)
{
	if (b >= 1LL << 30)
		printf("%9.1f GiB", b / (double)(1LL << 30));
	else
		printf("%9.1f MiB", b / (double)(1LL << 20));
}

static void print_volumes(json_t *vols)
{
	json_t *v;
	size_t i;

	printf("%-32s %13s %13s\n", "VOLUME", "SIZE", "ALLOCATED");
	json_array_foreach(vols, i, v) {
		printf("%-32s ", json_string_value(json_object_get(v, "name")));
		print_size(json_integer_value(json_object_get(v, "size_bytes")));
		printf(" ");
		print_size(json_integer_value(json_object_get(v, "allocated_bytes")));
		printf("\n");
	}
}

static int show(struct cli *cli, json_t *res, const char *what)
{
	if (cli->json)
		cli_print_json(res);
	else if (!strcmp(what, "pools")) {
		json_t *p;
		size_t i;
		printf("%-16s %-5s %-8s %s\n", "POOL", "TYPE", "SHARED", "LOCATION");
		json_array_foreach(json_object_get(res, "pools"), i, p)
			printf("%-16s %-5s %-8s %s\n", json_string_value(json_object_get(p, "name")),
			       json_string_value(json_object_get(p, "type")),
			       json_is_true(json_object_get(p, "shareable")) ? "yes" : "no",
			       json_string_value(json_object_get(p, "location")));
	} else if (!strcmp(what, "info")) {
		printf("pool %s: %s %s", json_string_value(json_object_get(res, "name")),
		       json_string_value(json_object_get(res, "type")), json_string_value(json_object_get(res, "location")));
		printf(", capacity");
		print_size(json_integer_value(json_object_get(res, "capacity_bytes")));
		printf(", free");
		print_size(json_integer_value(json_object_get(res, "free_bytes")));
		printf("\n");
		print_volumes(json_object_get(res, "volumes"));
	} else if (!strcmp(what, "volumes")) {
		print_volumes(json_object_get(res, "volumes"));
	} else {
		printf("%s\n", what);
	}
	json_decref(res);
	return 0;
}

static int call_show(struct cli *cli, const char *op, json_t *args, const char *what)
{
	json_t *res;

	if (cli_call(cli, op, args, &res))
		return 1;
	return show(cli, res, what);
}

int cmd_pool(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "uid", required_argument, NULL, 'u' },
		{ "gid", required_argument, NULL, 'g' },
		{ "credentials", required_argument, NULL, 'c' },
		{ "ceph-conf", required_argument, NULL, 'C' },
		{ "ceph-user", required_argument, NULL, 'U' },
		{ 0 }
	};
	json_t *args = json_object();
	long long v;
	int c;

	while ((c = cli_getopt(cli, argc, argv, "", opts)) != -1) {
		if (c == 'C') {
			char real[4096];
			json_object_set_new(args, "ceph_conf", json_string(optarg[0] == '/' || !realpath(optarg, real) ? optarg : real));
			continue;
		}
		if (c == 'U') {
			/* "client.ferry" or "ferry": the user's name */
			json_object_set_new(args, "ceph_user", json_string(strncmp(optarg, "client.", 7) ? optarg : optarg + 7));
			continue;
		}
		if (c == 'c') {
			char real[4096];
			/* The agent reads it: an absolute path, as this host sees it. */
			json_object_set_new(args, "credentials", json_string(optarg[0] == '/' || !realpath(optarg, real) ? optarg : real));
			continue;
		}
		if ((c != 'u' && c != 'g') ||
		    cli_parse_num(c == 'u' ? "--uid" : "--gid", optarg, -1, 2147483647, &v) < 0) {
			json_decref(args);
			return 2;
		}
		json_object_set_new(args, c == 'u' ? "uid" : "gid", json_integer(v));
	}
	const char *sub = optind < argc ? argv[optind] : "";
	char msg[512];
	if (!strcmp(sub, "define") && argc - optind == 4) {
		json_object_set_new(args, "name", json_string(argv[optind + 1]));
		json_object_set_new(args, "type", json_string(argv[optind + 2]));
		json_object_set_new(args, "location", json_string(argv[optind + 3]));
		snprintf(msg, sizeof(msg), "pool %s defined", argv[optind + 1]);
		return call_show(cli, "pool-define", args, msg);
	}
	if (json_object_size(args)) {
		fprintf(stderr, "ferry: --uid, --gid, --credentials, --ceph-conf and --ceph-user are options of pool define\n");
		json_decref(args);
		return 2;
	}
	if (!strcmp(sub, "list") && argc - optind == 1)
		return call_show(cli, "pool-list", args, "pools");
	if (!strcmp(sub, "info") && argc - optind == 2) {
		json_object_set_new(args, "name", json_string(argv[optind + 1]));
		return call_show(cli, "pool-info", args, "info");
	}
	if (!strcmp(sub, "undefine") && argc - optind == 2) {
		json_object_set_new(args, "name", json_string(argv[optind + 1]));
		snprintf(msg, sizeof(msg), "pool %s undefined (its volumes stay where they are)", argv[optind + 1]);
		return call_show(cli, "pool-undefine", args, msg);
	}
	json_decref(args);
	return cli_usage(argv[0], true);
}

int cmd_vol(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "format", required_argument, NULL, 'f' },
		{ 0 }
	};
	const char *format = NULL;
	json_t *args;
	long long size;
	char msg[512];
	int c;

	while ((c = cli_getopt(cli, argc, argv, "", opts)) != -1) {
		if (c != 'f')
			return 2;
		format = optarg;
	}
	const char *sub = optind < argc ? argv[optind] : "";
	int n = argc - optind;
	if (!strcmp(sub, "create") && n == 4) {
		if (parse_size(argv[optind + 3], &size) < 0)
			return 2;
		/* No --format: the pool's kind of volume (qcow2; raw for RBD). */
		args = json_pack("{s:s, s:s, s:I}", "pool", argv[optind + 1], "name", argv[optind + 2], "size",
				 (json_int_t)size);
		if (format)
			json_object_set_new(args, "format", json_string(format));
		snprintf(msg, sizeof(msg), "volume %s created in pool %s", argv[optind + 2], argv[optind + 1]);
		return call_show(cli, "vol-create", args, msg);
	}
	if ((!strcmp(sub, "import") || !strcmp(sub, "export")) && n == 4) {
		char real[4096];
		const char *file = argv[optind + 3];
		/* The agent opens it: an absolute path, as this host sees it
		 * (export: its folder must exist). */
		if (file[0] != '/') {
			char *slash = strrchr(file, '/');
			char dir[4096];
			snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - file) : 1, slash ? file : ".");
			if (realpath(!strcmp(sub, "import") ? file : dir, real)) {
				if (!strcmp(sub, "export"))
					snprintf(real + strlen(real), sizeof(real) - strlen(real), "/%s", slash ? slash + 1 : file);
				file = real;
			}
		}
		args = json_pack("{s:s, s:s, s:s}", "pool", argv[optind + 1], "name", argv[optind + 2], "file", file);
		if (format)
			json_object_set_new(args, "format", json_string(format));
		if (!strcmp(sub, "import"))
			snprintf(msg, sizeof(msg), "%.200s imported into pool %.32s as %.64s", file, argv[optind + 1],
				 argv[optind + 2]);
		else
			snprintf(msg, sizeof(msg), "%.64s of pool %.32s exported to %.160s", argv[optind + 2], argv[optind + 1],
				 file);
		return call_show(cli, !strcmp(sub, "import") ? "vol-import" : "vol-export", args, msg);
	}
	if (format) {
		fprintf(stderr, "ferry: --format is an option of vol create, import and export\n");
		return 2;
	}
	if (!strcmp(sub, "list") && n == 2)
		return call_show(cli, "vol-list", json_pack("{s:s}", "pool", argv[optind + 1]), "volumes");
	if (!strcmp(sub, "delete") && n == 3) {
		snprintf(msg, sizeof(msg), "volume %s deleted from pool %s", argv[optind + 2], argv[optind + 1]);
		return call_show(cli, "vol-delete", json_pack("{s:s, s:s}", "pool", argv[optind + 1], "name", argv[optind + 2]),
				 msg);
	}
	return cli_usage(argv[0], true);
}
