/* cli_opts.c: option parsing shared by every verb: the global options
 * (-H, --host, --hosts, --socket, --key, --json, --timeout) are accepted
 * after the verb too (`ferry list --json`, `ferry migrate web1 b -H a`),
 * as git, kubectl and virsh users expect; a verb's own option of the same
 * name wins (migrate --timeout). Numbers are parsed one way everywhere. */
#include "cli/cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { G_HOST = 0x1000, G_HOSTS, G_SOCKET, G_KEY, G_JSON, G_TIMEOUT };

static const struct option global_opts[] = {
	{ "host", required_argument, NULL, G_HOST },
	{ "hosts", required_argument, NULL, G_HOSTS },
	{ "socket", required_argument, NULL, G_SOCKET },
	{ "key", required_argument, NULL, G_KEY },
	{ "json", no_argument, NULL, G_JSON },
	{ "timeout", required_argument, NULL, G_TIMEOUT },
};

int cli_parse_num(const char *what, const char *s, long long lo, long long hi, long long *out)
{
	char *end;
	long long v;

	errno = 0;
	v = (s && ((*s >= '0' && *s <= '9') || (*s == '-' && s[1] >= '0' && s[1] <= '9'))) ? strtoll(s, &end, 10) : 0;
	if (!s || !((*s >= '0' && *s <= '9') || *s == '-') || errno || *end || v < lo || v > hi) {
		fprintf(stderr, "ferry: %s needs a whole number from %lld to %lld, not '%s'\n", what, lo, hi, s ? s : "");
		return -EINVAL;
	}
	*out = v;
	return 0;
}

int cli_parse_real(const char *what, const char *s, double lo, double hi, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = (s && ((*s >= '0' && *s <= '9') || *s == '.' || *s == '-')) ? strtod(s, &end) : 0;
	if (!s || !((*s >= '0' && *s <= '9') || *s == '.' || *s == '-') || errno || *end || !(v >= lo && v <= hi)) {
		fprintf(stderr, "ferry: %s needs a number from %g to %g, not '%s'\n", what, lo, hi, s ? s : "");
		return -EINVAL;
	}
	*out = v;
	return 0;
}

int cli_global_opt(struct cli *cli, int code, const char *arg)
{
	long long v;

	switch (code) {
	case 'H':
	case G_HOST: cli->host = arg; return 1;
	case G_HOSTS: cli->hosts = arg; return 1;
	case G_SOCKET: cli->socket = arg; return 1;
	case G_KEY: cli->key = arg; return 1;
	case G_JSON: cli->json = true; return 1;
	case G_TIMEOUT:
		if (cli_parse_num("--timeout", arg, 1, 86400, &v) < 0)
			return -1;
		cli->timeout_ms = (int)v * 1000;
		return 1;
	}
	return 0;
}

int cli_getopt(struct cli *cli, int argc, char **argv, const char *shortopts, const struct option *verb_opts)
{
	static struct option merged[64];
	static char shorts[64];
	static char **seen;
	int n = 0, c;
	/* A verb whose own option answers 'H' (bench --hosts) keeps it: the
	 * global host is then --host only. */
	bool verb_h = shortopts && strchr(shortopts, 'H');
	for (const struct option *o = verb_opts; o && o->name; o++)
		verb_h |= o->val == 'H';

	if (argv != seen) {
		seen = argv;
		optind = 0;   /* glibc: a fresh scan of this argv */
	}

	/* The verb's options, then the global ones it does not define itself. */
	for (const struct option *o = verb_opts; o && o->name && n < 48; o++)
		merged[n++] = *o;
	for (size_t g = 0; g < ARRAY_SIZE(global_opts); g++) {
		bool shadowed = false;
		for (int i = 0; i < n; i++)
			shadowed |= !strcmp(merged[i].name, global_opts[g].name);
		if (!shadowed)
			merged[n++] = global_opts[g];
	}
	merged[n] = (struct option){ 0 };
	snprintf(shorts, sizeof(shorts), "%s%s", shortopts ? shortopts : "", verb_h ? "" : "H:");
	for (;;) {
		/* ":": a missing value comes back as ':' so the message is ours. */
		char spec[72];
		snprintf(spec, sizeof(spec), ":%s", shorts);
		c = getopt_long(argc, argv, spec, merged, NULL);
		if (c == -1)
			return -1;
		if (c == '?' || c == ':') {
			const char *bad = argv[optind - 1];
			if (c == ':')
				fprintf(stderr, "ferry %s: option %s needs a value ('ferry %s --help')\n", argv[0], bad, argv[0]);
			else
				fprintf(stderr, "ferry %s: unknown option %s ('ferry %s --help')\n", argv[0], bad, argv[0]);
			return '?';
		}
		if (c == 'H' && verb_h)
			return c;   /* the verb's own */
		int g = cli_global_opt(cli, c, optarg);
		if (g < 0)
			return '?';
		if (g == 0)
			return c;
	}
}

int cli_args_done(int argc, char **argv, int want)
{
	if (argc - optind == want)
		return 0;
	if (argc - optind > want)
		fprintf(stderr, "ferry %s: unexpected argument '%s' ('ferry %s --help')\n", argv[0], argv[optind + want],
			argv[0]);
	else
		fprintf(stderr, "ferry %s: missing argument ('ferry %s --help')\n", argv[0], argv[0]);
	return -1;
}
