/* cmd_convert.c: ferry convert pv2hvm IN OUT: a Xen PV guest's disk into a
 * disk a PC BIOS (or a cloud) boots (docs/convert.md). Runs here, on files
 * here: no agent, nothing mounted. */
#include "cli/cli.h"
#include "convert/pv2hvm.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void progress(const char *step, void *opaque)
{
	(void)opaque;
	fprintf(stderr, "convert: %s ...\n", step);
}

/* "6500M", "8G", "1073741824": bytes; 0 if not a size. */
static unsigned long long parse_size(const char *s)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	int shift = !*end ? 0 : (*end == 'K' || *end == 'k') ? 10 : (*end == 'M' || *end == 'm') ? 20 :
		    (*end == 'G' || *end == 'g') ? 30 : (*end == 'T' || *end == 't') ? 40 : -1;

	if (end == s || shift < 0 || (*end && end[1] && strcmp(end + 1, "iB") && strcmp(end + 1, "B")) ||
	    v > (1ULL << 44) >> shift)
		return 0;
	return v << shift;
}

int cmd_convert(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "size", required_argument, NULL, 's' },
		{ "format", required_argument, NULL, 'f' },
		{ "cloud", required_argument, NULL, 'c' },
		{ 0 }
	};
	struct pv2hvm_opts o = { .format = "raw" };
	struct ferr err = {0};
	json_t *rep = NULL;
	int c;

	while ((c = cli_getopt(cli, argc, argv, "", opts)) != -1) {
		switch (c) {
		case 's':
			if (!(o.size = parse_size(optarg))) {
				fprintf(stderr, "ferry: --size takes a size such as 8G or 7000M\n");
				return 2;
			}
			break;
		case 'f': o.format = optarg; break;
		case 'c':
			if (strcmp(optarg, "aws")) {
				fprintf(stderr, "ferry: --cloud knows aws\n");
				return 2;
			}
			o.cloud_aws = true;
			break;
		default: return 2;
		}
	}
	if (cli_args_done(argc, argv, 3) < 0)
		return 2;
	if (strcmp(argv[optind], "pv2hvm")) {
		fprintf(stderr, "ferry: convert knows pv2hvm (ferry convert pv2hvm IN.img OUT)\n");
		return 2;
	}
	o.in = argv[optind + 1];
	o.out = argv[optind + 2];
	if (!cli->json && isatty(2))
		o.progress = progress;
	if (pv2hvm_convert(&o, &rep, &err) < 0) {
		fprintf(stderr, "ferry: %s\n", err.msg);
		return 1;
	}
	if (cli->json) {
		cli_print_json(rep);
	} else {
		json_t *d = json_object_get(rep, "drivers"), *v;
		const char *k;
		size_t i;
		printf("%s -> %s (%s, %.0f MB): kernel %s, root UUID=%s, GRUB for BIOS boot; %.1f s\n", o.in, o.out,
		       json_string_value(json_object_get(rep, "format")), json_integer_value(json_object_get(rep, "size")) / 1e6,
		       json_string_value(json_object_get(rep, "kernel")), json_string_value(json_object_get(rep, "uuid")),
		       json_real_value(json_object_get(rep, "seconds")));
		printf("drivers in the initramfs:");
		json_object_foreach(d, k, v)
			printf(" %s %s", k, json_is_true(v) ? "yes" : "no");
		printf("\n");
		json_array_foreach(json_object_get(rep, "warnings"), i, v)
			printf("warning: %s\n", json_string_value(v));
	}
	json_decref(rep);
	return 0;
}
