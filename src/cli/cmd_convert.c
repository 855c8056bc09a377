/* cmd_convert.c: ferry convert pv2hvm IN OUT: a Xen PV guest's disk into a
 * disk a PC BIOS (or a cloud) boots (docs/convert.md). Runs here, on files
 * here: no agent, nothing mounted. */
#include "cli/cli.h"
#include "convert/aws.h"
#include "convert/pv2hvm.h"
#include "convert/verify.h"

#include <getopt.h>
#include <limits.h>
#include <sys/stat.h>
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

/* The guest's network as the conversion read it. */
static struct guestnet report_net(const json_t *rep)
{
	const json_t *n = json_object_get(json_object_get(rep, "guest"), "network");
	const char *m = json_string_value(json_object_get(n, "method")), *a = json_string_value(json_object_get(n, "address"));
	struct guestnet g = {0};

	if (m && !strcmp(m, "dhcp"))
		g.method = GUESTNET_DHCP;
	if (m && !strcmp(m, "static") && a && strlen(a) < sizeof(g.addr)) {
		g.method = GUESTNET_STATIC;
		snprintf(g.addr, sizeof(g.addr), "%s", a);
		g.prefix = (int)json_integer_value(json_object_get(n, "prefix"));
	}
	return g;
}

static void print_report(const struct pv2hvm_opts *o, const json_t *rep)
{
	json_t *d = json_object_get(rep, "drivers"), *v, *aws = json_object_get(rep, "aws"), *vr = json_object_get(rep, "verify");
	const char *k;
	size_t i;

	printf("%s -> %s (%s, %.0f MB): kernel %s, root UUID=%s, GRUB for BIOS boot; %.1f s\n", o->in, o->out,
	       json_string_value(json_object_get(rep, "format")), json_integer_value(json_object_get(rep, "size")) / 1e6,
	       json_string_value(json_object_get(rep, "kernel")), json_string_value(json_object_get(rep, "uuid")),
	       json_real_value(json_object_get(rep, "seconds")));
	printf("drivers in the initramfs:");
	json_object_foreach(d, k, v)
		printf(" %s %s", k, json_is_true(v) ? "yes" : "no");
	printf("\n");
	json_array_foreach(json_object_get(rep, "warnings"), i, v)
		printf("warning: %s\n", json_string_value(v));
	if (aws) {
		printf("Amazon VM Import, checked here:\n");
		json_array_foreach(json_object_get(aws, "checks"), i, v)
			printf("  %-8s %s: %s\n", json_string_value(json_object_get(v, "status")),
			       json_string_value(json_object_get(v, "requirement")),
			       json_string_value(json_object_get(v, "detail")));
		printf("files for the import: %s/{containers.json,snapshot.json,import.sh}%s\n",
		       json_string_value(json_object_get(aws, "dir")),
		       json_is_true(json_object_get(aws, "placeholder")) ? " (the bucket is a placeholder: give --s3 "
		       "s3://BUCKET/PREFIX/)" : "");
	}
	if (vr)
		printf("verified: booted from the disk alone (%s, %s) and served its page at %s after %.1f s (console "
		       "after %.1f s)\n", json_string_value(json_object_get(vr, "accel")),
		       json_string_value(json_object_get(vr, "bus")), json_string_value(json_object_get(vr, "address")),
		       json_real_value(json_object_get(vr, "page_s")), json_real_value(json_object_get(vr, "console_s")));
}

int cmd_convert(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "size", required_argument, NULL, 's' },
		{ "format", required_argument, NULL, 'f' },
		{ "cloud", required_argument, NULL, 'c' },
		{ "s3", required_argument, NULL, '3' },
		{ "verify", no_argument, NULL, 'v' },
		{ "verify-timeout", required_argument, NULL, 't' },
		{ 0 }
	};
	struct pv2hvm_opts o = { .format = "raw" };
	struct ferr err = {0};
	json_t *rep = NULL;
	bool cloud_aws = false, verify = false;
	const char *s3 = NULL;
	char bucket[64], prefix[256], awsdir[PATH_MAX];
	int c, timeout = 300;

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
			cloud_aws = true;
			break;
		case '3': s3 = optarg; break;
		case 'v': verify = true; break;
		case 't': {
			char *end;
			long t = strtol(optarg, &end, 10);
			if (end == optarg || *end || t < 1 || t > 3600) {
				fprintf(stderr, "ferry: --verify-timeout takes seconds (1 to 3600)\n");
				return 2;
			}
			timeout = (int)t;
			break;
		}
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
	/* Everything that can be refused is refused before the conversion. */
	if (s3 && !cloud_aws) {
		fprintf(stderr, "ferry: --s3 goes with --cloud aws\n");
		return 2;
	}
	if (cloud_aws) {
		struct stat st;
		if (!aws_format_ok(o.format)) {
			fprintf(stderr, "ferry: --cloud aws takes --format vmdk, vhd or raw (VM Import does not take %s)\n",
				o.format);
			return 2;
		}
		if (s3 && aws_parse_s3(s3, bucket, prefix, &err) < 0) {
			fprintf(stderr, "ferry: %s\n", err.msg);
			return 2;
		}
		snprintf(awsdir, sizeof(awsdir), "%s.aws", o.out);
		if (lstat(awsdir, &st) == 0) {
			fprintf(stderr, "ferry: %s exists: the import's files go to a new folder\n", awsdir);
			return 1;
		}
	}
	if (verify && geteuid() != 0) {
		fprintf(stderr, "ferry: --verify runs the guest in a network namespace of its own: run as root\n");
		return 2;
	}
	if (!cli->json && isatty(2))
		o.progress = progress;
	if (pv2hvm_convert(&o, &rep, &err) < 0) {
		fprintf(stderr, "ferry: %s\n", err.msg);
		return 1;
	}
	int rc = 0;
	if (cloud_aws) {
		char abs[PATH_MAX];
		json_t *checks = aws_checks(rep);
		if (!realpath(o.out, abs))
			snprintf(abs, sizeof(abs), "%s", o.out);
		if (aws_write(awsdir, abs, rep, checks, s3 ? bucket : NULL, s3 ? prefix : NULL, &err) < 0) {
			fprintf(stderr, "ferry: %s (the disk %s is written)\n", err.msg, o.out);
			rc = 1;
		}
		json_object_set_new(rep, "aws", json_pack("{s:s, s:o, s:b}", "dir", awsdir, "checks", checks, "placeholder",
							  !s3));
	}
	if (verify && rc == 0) {
		struct verify_opts vo = { .disk = o.out, .format = o.format, .net = report_net(rep), .timeout_s = timeout,
					  .progress = o.progress };
		json_t *d = json_object_get(rep, "drivers"), *vr = NULL;
		vo.bus = json_is_true(json_object_get(d, "virtio_blk")) || !json_is_true(json_object_get(d, "ahci")) ?
			 "virtio" : "ahci";
		if (convert_verify(&vo, &vr, &err) < 0) {
			fprintf(stderr, "ferry: %s converted, but the verification failed: %s\n", o.out, err.msg);
			const char *tail = json_string_value(json_object_get(vr, "console_tail"));
			if (tail && !cli->json)
				fprintf(stderr, "its console ended with:\n%s\n", tail);
			rc = 1;
		}
		if (vr) {
			json_object_set_new(vr, "ok", json_boolean(rc == 0));
			json_object_set_new(rep, "verify", vr);
		}
	}
	if (cli->json)
		cli_print_json(rep);
	else if (rc == 0)
		print_report(&o, rep);
	json_decref(rep);
	return rc;
}
